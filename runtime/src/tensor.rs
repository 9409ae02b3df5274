//! Tensor descriptions and borrowed tensor views.

use crate::format::{MAX_RANK, NO_NAME, TENSOR_RECORD_LEN};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    /// Quantized 8-bit activations and weights.
    I8 = 1,
    /// Quantized 16-bit values (LSTM cell state, int16 activations).
    I16 = 2,
    /// Biases, requantization multipliers and shifts, lookup tables.
    I32 = 3,
    /// Graph-edge float tensors.
    F32 = 4,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 | DType::F32 => 4,
        }
    }
    /// Decode the on-disk tag.
    pub fn from_u8(v: u8) -> Option<DType> {
        Some(match v {
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F32,
            _ => return None,
        })
    }
    /// Lower-case name (`i8`, `f32`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::F32 => "f32",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TensorKind {
    /// In the caller's arena, at an offset planned offline.
    Arena = 0,
    /// In the model's constant data (flash on MCUs).
    Constant = 1,
}

/// How a tensor's bytes are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Layout {
    /// Row-major in the order of the dims.
    Dense = 0,
    /// Blocked weights of Conv2d (`groups == 1`) and FullyConnected: dim 0 is the output
    /// channel, the rest one row; see [`crate::blocked`].
    Blocked = 1,
}

impl Layout {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Layout::Dense => "dense",
            Layout::Blocked => "blocked",
        }
    }
}

/// A decoded tensor record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Arena or constant.
    pub kind: TensorKind,
    /// Number of dimensions (0..=6).
    pub rank: u8,
    /// Dimensions; entries past `rank` are 1.
    pub dims: [u32; MAX_RANK],
    /// Quantization scale (`real = scale * (q - zero_point)`).
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
    /// Byte offset in the arena or in the constant data.
    pub offset: u32,
    /// Length in bytes.
    pub byte_len: u32,
    /// Offset of the name in the name table, or `u32::MAX`.
    pub name_off: u32,
    /// Byte order of the data.
    pub layout: Layout,
}

impl TensorInfo {
    /// A placeholder (rank 0, no bytes).
    pub const EMPTY: TensorInfo = TensorInfo {
        dtype: DType::I8,
        kind: TensorKind::Arena,
        rank: 0,
        dims: [1; MAX_RANK],
        scale: 0.0,
        zero_point: 0,
        offset: 0,
        byte_len: 0,
        name_off: NO_NAME,
        layout: Layout::Dense,
    };

    /// The shape as a slice.
    pub fn shape(&self) -> &[u32] {
        &self.dims[..self.rank as usize]
    }

    /// The blocked shape of a [`Layout::Blocked`] tensor: dim 0 rows, the rest one row.
    pub fn blocked(&self) -> crate::blocked::Blocked {
        let rows = self.dims[0] as usize;
        crate::blocked::Blocked {
            rows,
            k: self.num_elements() / rows.max(1),
        }
    }

    /// Bytes the data must have: elements × element size, or the blocked size.
    pub fn expected_byte_len(&self) -> Option<usize> {
        match self.layout {
            Layout::Dense => Some(self.num_elements() * self.dtype.size()),
            Layout::Blocked => self.blocked().byte_len(),
        }
    }

    /// Number of elements (product of dims; 1 for a scalar).
    pub fn num_elements(&self) -> usize {
        self.dims.iter().map(|&d| d as usize).product()
    }

    /// Decode a record; the caller checks placement.
    pub fn decode(rec: &[u8]) -> Result<TensorInfo, &'static str> {
        if rec.len() < TENSOR_RECORD_LEN {
            return Err("record truncated");
        }
        let u32_at =
            |at: usize| u32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]]);
        let dtype = DType::from_u8(rec[0]).ok_or("unknown dtype")?;
        let kind = match rec[1] {
            0 => TensorKind::Arena,
            1 => TensorKind::Constant,
            _ => return Err("unknown tensor kind"),
        };
        let rank = rec[2];
        if rank as usize > MAX_RANK {
            return Err("rank above 6");
        }
        let layout = match rec[3] {
            0 => Layout::Dense,
            1 => Layout::Blocked,
            _ => return Err("unknown layout"),
        };
        let mut dims = [1u32; MAX_RANK];
        let mut elems: u64 = 1;
        for (i, d) in dims.iter_mut().enumerate() {
            *d = u32_at(4 + 4 * i);
            if i >= rank as usize && *d != 1 {
                return Err("unused dimension is not 1");
            }
            elems = elems.saturating_mul(*d as u64);
        }
        if elems > u32::MAX as u64 / 4 {
            return Err("too many elements");
        }
        Ok(TensorInfo {
            dtype,
            kind,
            rank,
            dims,
            scale: f32::from_bits(u32_at(28)),
            zero_point: u32_at(32) as i32,
            offset: u32_at(36),
            byte_len: u32_at(40),
            name_off: u32_at(44),
            layout,
        })
    }

    /// Encode as a record (the inverse of [`TensorInfo::decode`]).
    pub fn encode(&self) -> [u8; TENSOR_RECORD_LEN] {
        let mut r = [0u8; TENSOR_RECORD_LEN];
        r[0] = self.dtype as u8;
        r[1] = self.kind as u8;
        r[2] = self.rank;
        r[3] = self.layout as u8;
        for (i, d) in self.dims.iter().enumerate() {
            r[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        r[28..32].copy_from_slice(&self.scale.to_bits().to_le_bytes());
        r[32..36].copy_from_slice(&self.zero_point.to_le_bytes());
        r[36..40].copy_from_slice(&self.offset.to_le_bytes());
        r[40..44].copy_from_slice(&self.byte_len.to_le_bytes());
        r[44..48].copy_from_slice(&self.name_off.to_le_bytes());
        r
    }
}

/// A read-only view of a tensor's bytes.
#[derive(Clone, Copy)]
pub struct TensorRef<'a> {
    /// The tensor's record.
    pub info: TensorInfo,
    /// Its bytes (`info.byte_len` long).
    pub data: &'a [u8],
}

impl<'a> TensorRef<'a> {
    /// Elements as int8.
    pub fn as_i8(&self) -> &'a [i8] {
        bytes_as_i8(self.data)
    }
    /// Element `i` of an int32 tensor (little-endian, any alignment).
    pub fn i32_at(&self, i: usize) -> i32 {
        let b = &self.data[4 * i..4 * i + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Element `i` of an f32 tensor in native byte order (arena tensors).
    pub fn f32_at(&self, i: usize) -> f32 {
        let b = &self.data[4 * i..4 * i + 4];
        f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// A writable view of a tensor's bytes in the arena.
pub struct TensorMut<'a> {
    /// The tensor's record.
    pub info: TensorInfo,
    /// Its bytes (`info.byte_len` long).
    pub data: &'a mut [u8],
}

impl<'a> TensorMut<'a> {
    /// Elements as int8.
    pub fn as_i8_mut(&mut self) -> &mut [i8] {
        bytes_as_i8_mut(self.data)
    }
}

/// Reinterpret bytes as int8 (same size and alignment, every bit pattern valid).
pub fn bytes_as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have identical size and alignment and no invalid bit patterns.
    unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

/// Reinterpret bytes as int8, mutably.
pub fn bytes_as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `bytes_as_i8`; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i8, b.len()) }
}

/// Reinterpret int8 as bytes.
pub fn i8_as_bytes(b: &[i8]) -> &[u8] {
    // SAFETY: as in `bytes_as_i8`.
    unsafe { core::slice::from_raw_parts(b.as_ptr() as *const u8, b.len()) }
}
