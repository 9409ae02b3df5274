//! The `.mote` model file format: layout constants, zero-copy parsing and validation.
//!
//! All integers are little-endian. A file is:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MOTE` |
//! | 4 | 2 | format version ([`VERSION`]) |
//! | 6 | 2 | header length (64) |
//! | 8 | 4 | file length in bytes |
//! | 12 | 4 | CRC-32 (ISO-HDLC, as zlib) of bytes `16..file length` |
//! | 16 | 2×4 | tensor count, op count, graph input count, graph output count |
//! | 24 | 4 | arena bytes (planned offline; activations and scratch live here) |
//! | 28 | 4 | offset of the tensor table (records of [`TENSOR_RECORD_LEN`] bytes) |
//! | 32 | 4+4 | offset and length of the op list |
//! | 40 | 4 | offset of the graph input then output tensor indices (u16 each) |
//! | 44 | 4+4 | offset (16-byte aligned) and length of the constant data |
//! | 52 | 4+4 | offset and length of the name strings (u16 length + UTF-8 each) |
//! | 60 | 4 | flags (0) |
//!
//! A tensor record: dtype u8, kind u8 (0 arena, 1 constant), rank u8, layout u8 (0 dense, 1
//! blocked: see [`crate::blocked`]; only the weights of Conv2d with one group and of
//! FullyConnected are blocked, and only they), six u32 dims (unused
//! dims are 1), scale f32, zero point i32, offset u32 (into the arena, or into the constant data,
//! 16-byte aligned), byte length u32, name offset u32 (`u32::MAX`: none).
//!
//! An op record: opcode u8, input count u8, output count u8, 0u8, params length u16, 0u16,
//! scratch offset u32 and length u32 (in the arena), the input then output tensor indices (u16,
//! [`NO_TENSOR`] for an absent optional input) padded to 4 bytes, then the params padded to 4.
//! Activations are NHWC.

use crate::error::{Error, Result};
use crate::ops::{self, OpCode};
use crate::tensor::{DType, Layout, TensorInfo, TensorKind};

/// File magic.
pub const MAGIC: [u8; 4] = *b"MOTE";
/// Current format version; files with another version are rejected. Version 2: Conv2d and
/// FullyConnected biases hold the input zero point folded in (see [`crate::ops::conv`]).
/// Version 3: their weights are stored blocked ([`crate::blocked`]).
pub const VERSION: u16 = 3;
/// Header length in bytes.
pub const HEADER_LEN: usize = 64;
/// Tensor record length in bytes.
pub const TENSOR_RECORD_LEN: usize = 48;
/// Fixed part of an op record, before the tensor indices.
pub const OP_RECORD_FIXED_LEN: usize = 16;
/// Highest tensor rank.
pub const MAX_RANK: usize = 6;
/// Alignment of constant data and of arena tensors.
pub const DATA_ALIGN: usize = 16;
/// Tensor index meaning "absent optional input".
pub const NO_TENSOR: u16 = 0xFFFF;
/// Most inputs an op may have.
pub const MAX_OP_INPUTS: usize = 8;
/// Most outputs an op may have.
pub const MAX_OP_OUTPUTS: usize = 4;
/// "No name" marker in a tensor record.
pub const NO_NAME: u32 = u32::MAX;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 over a byte slice, as stored in the header.
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

pub(crate) fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
pub(crate) fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
pub(crate) fn rd_i32(b: &[u8], at: usize) -> Option<i32> {
    rd_u32(b, at).map(|v| v as i32)
}

/// Round up to a multiple of 4.
pub const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// The parsed header.
#[derive(Debug, Clone, Copy)]
struct Header {
    n_tensors: u16,
    n_ops: u16,
    n_inputs: u16,
    n_outputs: u16,
    arena_bytes: u32,
    tensors_off: usize,
    ops_off: usize,
    ops_len: usize,
    io_off: usize,
    data_off: usize,
    data_len: usize,
    names_off: usize,
    names_len: usize,
}

/// One op record, borrowed from the model bytes.
#[derive(Debug, Clone, Copy)]
pub struct OpRecord<'a> {
    /// Position in the op list.
    pub index: u16,
    /// What the op computes.
    pub opcode: OpCode,
    inputs: &'a [u8],
    outputs: &'a [u8],
    /// Op-specific parameters.
    pub params: &'a [u8],
    /// Scratch region in the arena (offset, length).
    pub scratch: (u32, u32),
}

impl<'a> OpRecord<'a> {
    /// Number of inputs (including absent optional ones).
    pub fn num_inputs(&self) -> usize {
        self.inputs.len() / 2
    }
    /// Number of outputs.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len() / 2
    }
    /// Tensor index of input `i` ([`NO_TENSOR`] when absent).
    pub fn input(&self, i: usize) -> u16 {
        rd_u16(self.inputs, 2 * i).unwrap_or(NO_TENSOR)
    }
    /// Tensor index of output `i`.
    pub fn output(&self, i: usize) -> u16 {
        rd_u16(self.outputs, 2 * i).unwrap_or(NO_TENSOR)
    }
}

/// Iterator over the op records of a model.
pub struct OpIter<'a> {
    section: &'a [u8],
    pos: usize,
    index: u16,
    remaining: u16,
}

impl<'a> Iterator for OpIter<'a> {
    type Item = Result<OpRecord<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let r = decode_op(self.section, &mut self.pos, self.index);
        self.index = self.index.wrapping_add(1);
        if r.is_err() {
            self.remaining = 0;
        }
        Some(r)
    }
}

fn decode_op<'a>(section: &'a [u8], pos: &mut usize, index: u16) -> Result<OpRecord<'a>> {
    let bad = |reason| Error::BadOp { op: index, reason };
    let start = *pos;
    let fixed = section
        .get(start..start + OP_RECORD_FIXED_LEN)
        .ok_or(bad("record runs past the op list"))?;
    let opcode = OpCode::from_u8(fixed[0]).ok_or(bad("unknown opcode"))?;
    let (n_in, n_out) = (fixed[1] as usize, fixed[2] as usize);
    if n_in > MAX_OP_INPUTS || n_out > MAX_OP_OUTPUTS || n_out == 0 {
        return Err(bad("too many inputs or outputs"));
    }
    let params_len = u16::from_le_bytes([fixed[4], fixed[5]]) as usize;
    let scratch = (
        u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]),
    );
    let idx_start = start + OP_RECORD_FIXED_LEN;
    let idx_len = 2 * (n_in + n_out);
    let params_start = idx_start + pad4(idx_len);
    let end = params_start + pad4(params_len);
    if end > section.len() {
        return Err(bad("record runs past the op list"));
    }
    *pos = end;
    Ok(OpRecord {
        index,
        opcode,
        inputs: &section[idx_start..idx_start + 2 * n_in],
        outputs: &section[idx_start + 2 * n_in..idx_start + idx_len],
        params: &section[params_start..params_start + params_len],
        scratch,
    })
}

/// A validated model, borrowed zero-copy from its bytes (e.g. in flash).
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    header: Header,
}

fn section(file_len: usize, off: u32, len: usize, what: &'static str) -> Result<usize> {
    let off = off as usize;
    match off.checked_add(len) {
        Some(end) if off >= HEADER_LEN && end <= file_len => Ok(off),
        _ => Err(Error::BadLayout(what)),
    }
}

impl<'a> Model<'a> {
    /// Parse and fully validate a model. Nothing is copied: the model borrows `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        if bytes[0..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let h = |at| rd_u32(bytes, at).unwrap_or(0);
        let version = rd_u16(bytes, 4).unwrap_or(0);
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        if rd_u16(bytes, 6) != Some(HEADER_LEN as u16) {
            return Err(Error::BadLayout("header length"));
        }
        let file_len = h(8) as usize;
        if file_len < HEADER_LEN {
            return Err(Error::BadLayout("file length smaller than the header"));
        }
        if file_len > bytes.len() {
            return Err(Error::Truncated {
                needed: file_len,
                available: bytes.len(),
            });
        }
        let bytes = &bytes[..file_len];
        let stored = h(12);
        let computed = checksum(&bytes[16..]);
        if stored != computed {
            return Err(Error::ChecksumMismatch { stored, computed });
        }
        if h(60) != 0 {
            return Err(Error::BadLayout("unknown flags"));
        }
        let n_tensors = rd_u16(bytes, 16).unwrap_or(0);
        let n_ops = rd_u16(bytes, 18).unwrap_or(0);
        let n_inputs = rd_u16(bytes, 20).unwrap_or(0);
        let n_outputs = rd_u16(bytes, 22).unwrap_or(0);
        if n_tensors == NO_TENSOR {
            return Err(Error::BadLayout("too many tensors"));
        }
        let ops_len = h(36) as usize;
        let data_len = h(48) as usize;
        let names_len = h(56) as usize;
        let header = Header {
            n_tensors,
            n_ops,
            n_inputs,
            n_outputs,
            arena_bytes: h(24),
            tensors_off: section(
                file_len,
                h(28),
                n_tensors as usize * TENSOR_RECORD_LEN,
                "tensor table",
            )?,
            ops_off: section(file_len, h(32), ops_len, "op list")?,
            ops_len,
            io_off: section(
                file_len,
                h(40),
                2 * (n_inputs as usize + n_outputs as usize),
                "input/output list",
            )?,
            data_off: section(file_len, h(44), data_len, "constant data")?,
            data_len,
            names_off: section(file_len, h(52), names_len, "names")?,
            names_len,
        };
        if !header.data_off.is_multiple_of(DATA_ALIGN) {
            return Err(Error::BadLayout("constant data is not 16-byte aligned"));
        }
        if !header.tensors_off.is_multiple_of(4) || !header.ops_off.is_multiple_of(4) {
            return Err(Error::BadLayout("tables are not 4-byte aligned"));
        }
        let model = Model { bytes, header };
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<()> {
        for t in 0..self.header.n_tensors {
            self.validate_tensor(t)?;
        }
        let inputs = (0..self.num_inputs())
            .map(|k| (self.input_index(k), "graph input is not an arena tensor"));
        let outputs = (0..self.num_outputs())
            .map(|k| (self.output_index(k), "graph output is not an arena tensor"));
        for (t, reason) in inputs.chain(outputs) {
            let info = self
                .tensor(t)
                .map_err(|_| Error::BadLayout("graph input/output names a missing tensor"))?;
            if info.kind != TensorKind::Arena {
                return Err(Error::BadTensor { tensor: t, reason });
            }
        }
        let mut count = 0usize;
        let mut it = self.ops();
        for op in &mut it {
            let op = op?;
            self.validate_op(&op)?;
            count += 1;
        }
        if count != self.header.n_ops as usize || it.pos != self.header.ops_len {
            return Err(Error::BadLayout(
                "op list length does not match its records",
            ));
        }
        Ok(())
    }

    fn validate_tensor(&self, t: u16) -> Result<()> {
        let bad = |reason| Error::BadTensor { tensor: t, reason };
        let info = self.tensor(t)?;
        if info.expected_byte_len() != Some(info.byte_len as usize) {
            return Err(bad("byte length does not match shape, dtype and layout"));
        }
        let end = info.offset as u64 + info.byte_len as u64;
        match info.kind {
            TensorKind::Arena => {
                if info.layout != Layout::Dense {
                    return Err(bad("arena tensors are dense"));
                }
                if end > self.header.arena_bytes as u64 {
                    return Err(bad("lies outside the arena"));
                }
            }
            TensorKind::Constant => {
                if end > self.header.data_len as u64 {
                    return Err(bad("lies outside the constant data"));
                }
                if !(info.offset as usize).is_multiple_of(DATA_ALIGN) {
                    return Err(bad("constant data is not 16-byte aligned"));
                }
                if info.layout == Layout::Blocked
                    && !info.blocked().padding_is_zero(self.constant_data(&info))
                {
                    return Err(bad("blocked weights have non-zero padding"));
                }
            }
        }
        if !(info.scale.is_finite() && info.scale >= 0.0) {
            return Err(bad("scale must be finite and non-negative"));
        }
        if info.dtype == DType::I8 && !(-128..=127).contains(&info.zero_point) {
            return Err(bad("int8 zero point out of range"));
        }
        if info.name_off != NO_NAME && self.name_at(info.name_off).is_none() {
            return Err(bad("name is outside the name table or not UTF-8"));
        }
        Ok(())
    }

    fn validate_op(&self, op: &OpRecord<'_>) -> Result<()> {
        let bad = |reason| Error::BadOp {
            op: op.index,
            reason,
        };
        let mut ins: [Option<TensorInfo>; MAX_OP_INPUTS] = [None; MAX_OP_INPUTS];
        let mut outs: [TensorInfo; MAX_OP_OUTPUTS] = [TensorInfo::EMPTY; MAX_OP_OUTPUTS];
        for (i, slot) in ins.iter_mut().enumerate().take(op.num_inputs()) {
            let t = op.input(i);
            if t != NO_TENSOR {
                *slot = Some(
                    self.tensor(t)
                        .map_err(|_| bad("input names a missing tensor"))?,
                );
            }
        }
        for (i, slot) in outs.iter_mut().enumerate().take(op.num_outputs()) {
            let t = op.output(i);
            let info = self
                .tensor(t)
                .map_err(|_| bad("output names a missing tensor"))?;
            if info.kind != TensorKind::Arena {
                return Err(bad("output is not an arena tensor"));
            }
            *slot = info;
        }
        let (s_off, s_len) = op.scratch;
        if s_off as u64 + s_len as u64 > self.header.arena_bytes as u64 {
            return Err(bad("scratch lies outside the arena"));
        }
        // Kernels receive shared input views and exclusive output/scratch views of one arena:
        // the exclusive ones must not overlap anything else the op touches.
        let outs = &outs[..op.num_outputs()];
        let ins = &ins[..op.num_inputs()];
        let alias_ok = op.opcode == OpCode::Reshape;
        let range = |t: &TensorInfo| (t.offset as u64, t.offset as u64 + t.byte_len as u64);
        let overlaps = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
        let scratch = (s_off as u64, s_off as u64 + s_len as u64);
        for (k, o) in outs.iter().enumerate() {
            let ro = range(o);
            for o2 in &outs[k + 1..] {
                if overlaps(ro, range(o2)) {
                    return Err(bad("outputs overlap each other"));
                }
            }
            if overlaps(ro, scratch) {
                return Err(bad("output overlaps scratch"));
            }
            for i in ins.iter().flatten() {
                if i.kind == TensorKind::Arena
                    && overlaps(ro, range(i))
                    && !(alias_ok && ro == range(i))
                {
                    return Err(bad("output overlaps an input"));
                }
            }
        }
        for i in ins.iter().flatten() {
            if i.kind == TensorKind::Arena && overlaps(scratch, range(i)) {
                return Err(bad("scratch overlaps an input"));
            }
        }
        ops::validate(
            op,
            &ops::OpShapes {
                inputs: ins,
                outputs: outs,
                scratch_len: s_len as usize,
                model: self,
                opcode_is_avg: op.opcode == OpCode::AvgPool,
            },
        )
        .map_err(bad)
    }

    /// Arena bytes the memory plan needs.
    pub fn arena_bytes(&self) -> usize {
        self.header.arena_bytes as usize
    }
    /// The model's bytes (exactly the file length).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Number of tensors.
    pub fn num_tensors(&self) -> usize {
        self.header.n_tensors as usize
    }
    /// Number of ops.
    pub fn num_ops(&self) -> usize {
        self.header.n_ops as usize
    }
    /// Number of graph inputs.
    pub fn num_inputs(&self) -> usize {
        self.header.n_inputs as usize
    }
    /// Number of graph outputs.
    pub fn num_outputs(&self) -> usize {
        self.header.n_outputs as usize
    }
    /// Tensor index of graph input `i`.
    pub fn input_index(&self, i: usize) -> u16 {
        rd_u16(self.bytes, self.header.io_off + 2 * i).unwrap_or(NO_TENSOR)
    }
    /// Tensor index of graph output `i`.
    pub fn output_index(&self, i: usize) -> u16 {
        rd_u16(self.bytes, self.header.io_off + 2 * (self.num_inputs() + i)).unwrap_or(NO_TENSOR)
    }
    /// Total bytes of constant data (weights, biases, tables).
    pub fn constant_bytes(&self) -> usize {
        self.header.data_len
    }

    /// Decode tensor record `t`.
    pub fn tensor(&self, t: u16) -> Result<TensorInfo> {
        if t >= self.header.n_tensors {
            return Err(Error::BadArgument("tensor index out of range"));
        }
        let at = self.header.tensors_off + t as usize * TENSOR_RECORD_LEN;
        let rec = self
            .bytes
            .get(at..at + TENSOR_RECORD_LEN)
            .ok_or(Error::BadLayout("tensor table"))?;
        TensorInfo::decode(rec).map_err(|reason| Error::BadTensor { tensor: t, reason })
    }

    /// The name of tensor `t`, if the model stores one.
    pub fn tensor_name(&self, t: u16) -> Option<&'a str> {
        self.name_of(&self.tensor(t).ok()?)
    }

    /// The name a tensor record points to, if any.
    pub fn name_of(&self, info: &TensorInfo) -> Option<&'a str> {
        if info.name_off == NO_NAME {
            None
        } else {
            self.name_at(info.name_off)
        }
    }

    fn name_at(&self, off: u32) -> Option<&'a str> {
        let names = self
            .bytes
            .get(self.header.names_off..self.header.names_off + self.header.names_len)?;
        let len = rd_u16(names, off as usize)? as usize;
        let start = off as usize + 2;
        core::str::from_utf8(names.get(start..start + len)?).ok()
    }

    /// Constant bytes of a constant tensor (empty for arena tensors).
    pub fn constant_data(&self, info: &TensorInfo) -> &'a [u8] {
        if info.kind != TensorKind::Constant {
            return &[];
        }
        let start = self.header.data_off + info.offset as usize;
        self.bytes
            .get(start..start + info.byte_len as usize)
            .unwrap_or(&[])
    }

    /// Iterate the op records in execution order.
    pub fn ops(&self) -> OpIter<'a> {
        let section = &self.bytes[self.header.ops_off..self.header.ops_off + self.header.ops_len];
        OpIter {
            section,
            pos: 0,
            index: 0,
            remaining: self.header.n_ops,
        }
    }
}
