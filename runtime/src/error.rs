//! Typed errors: every way a model, a tensor or an arena can be wrong.

use core::fmt;

/// Everything that can go wrong when loading or running a model. No input makes the runtime
/// panic: it answers with one of these instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The byte slice is shorter than the header or than the length the header states.
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The file does not start with the `MOTE` magic bytes.
    BadMagic,
    /// The file was written by a newer (or unknown) format version.
    UnsupportedVersion(u16),
    /// The CRC32 of the file does not match the header: the file is corrupted.
    ChecksumMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A section, tensor or op points outside the file or is misaligned.
    BadLayout(&'static str),
    /// A tensor record is invalid (dtype, rank, dims, byte size, location).
    BadTensor {
        /// Tensor index.
        tensor: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// An op record is invalid (unknown opcode, wrong arity, params, shapes, dtypes).
    BadOp {
        /// Op index in execution order.
        op: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller's arena is smaller than the model's memory plan.
    ArenaTooSmall {
        /// Bytes the plan needs.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// An input/output index or a tensor given by the caller does not fit the model.
    BadArgument(&'static str),
    /// A kernel path was requested that this CPU or build does not have.
    UnsupportedIsa(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { needed, available } => {
                write!(f, "model is truncated: needs {needed} bytes, has {available}")
            }
            Error::BadMagic => write!(f, "not a mote model (bad magic bytes)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported model format version {v}"),
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "model checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupted"
            ),
            Error::BadLayout(why) => write!(f, "invalid model layout: {why}"),
            Error::BadTensor { tensor, reason } => write!(f, "invalid tensor #{tensor}: {reason}"),
            Error::BadOp { op, reason } => write!(f, "invalid op #{op}: {reason}"),
            Error::ArenaTooSmall { needed, available } => write!(
                f,
                "arena too small: the model needs {needed} bytes, the arena has {available}"
            ),
            Error::BadArgument(why) => write!(f, "bad argument: {why}"),
            Error::UnsupportedIsa(why) => write!(f, "unsupported kernel path: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Result with the runtime's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
