//! # mote
//!
//! An int8 neural-network inference runtime for microcontrollers and edge devices.
//!
//! * `no_std`, no heap: a [`Model`] is parsed zero-copy from a byte slice (flash on an MCU) and
//!   fully validated; an [`Interpreter`] runs it in an arena the caller owns, whose size the
//!   model file states ([`Model::arena_bytes`]). Inference never allocates.
//! * Integer semantics follow the TFLite int8 scheme; [`quant`] defines the arithmetic and the
//!   scalar reference kernels in [`ops`] define each operator.
//! * The `std` feature adds file loading helpers.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

pub mod blocked;
pub mod error;
pub mod format;
pub mod interpreter;
pub mod kernels;
pub mod ops;
pub mod quant;
pub mod tensor;

pub use error::{Error, Result};
pub use format::Model;
pub use interpreter::Interpreter;
pub use ops::OpCode;
pub use tensor::{DType, Layout, TensorInfo, TensorKind};

pub use kernels::KernelPath;

/// Name of the kernel path a new [`Interpreter`] runs by default ([`KernelPath::best`]).
pub fn kernel_path() -> &'static str {
    KernelPath::best().name()
}

/// A model file read into memory with the 16-byte alignment the format promises its constants.
#[cfg(feature = "std")]
pub struct ModelBuffer {
    words: Vec<u128>,
    len: usize,
}

#[cfg(feature = "std")]
impl ModelBuffer {
    /// Copy bytes into an aligned buffer.
    pub fn from_bytes(bytes: &[u8]) -> ModelBuffer {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(16)) {
            let mut b = [0u8; 16];
            b[..c.len()].copy_from_slice(c);
            *w = u128::from_ne_bytes(b);
        }
        ModelBuffer {
            words,
            len: bytes.len(),
        }
    }

    /// Read a model file.
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<ModelBuffer> {
        Ok(Self::from_bytes(&std::fs::read(path)?))
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: u128 storage is plain bytes; `len` never exceeds its size.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    /// Parse the model.
    pub fn model(&self) -> Result<Model<'_>> {
        Model::parse(self.bytes())
    }
}
