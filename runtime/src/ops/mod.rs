//! Operators. Each file holds one op: its parameters (with their byte encoding), its validation,
//! its scratch size and its scalar reference evaluation, which *defines* its integer semantics.

use crate::error::{Error, Result};
use crate::format::{Model, OpRecord};
use crate::kernels::{self, KernelPath};
use crate::tensor::{DType, TensorInfo, TensorKind, TensorMut, TensorRef};

pub mod add;
pub mod broadcast;
pub mod concat;
pub mod conv;
pub mod dequantize;
pub mod fully_connected;
pub mod lut;
pub mod mul;
pub mod pool;
pub mod quantize;
pub mod reshape;
pub mod softmax;
pub mod transpose;

/// What an op computes; the on-disk opcode is the discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// f32 → int8 at a graph input.
    Quantize = 1,
    /// int8 → f32 at a graph output.
    Dequantize = 2,
    /// 2-D convolution, NHWC, with groups (depthwise when groups = channels).
    Conv2d = 3,
    /// Fully connected layer / MatMul with constant weights.
    FullyConnected = 4,
    /// Elementwise addition with broadcasting.
    Add = 5,
    /// Elementwise multiplication with broadcasting.
    Mul = 6,
    /// Any int8 → int8 elementwise function, as a 256-entry table.
    Lut = 7,
    /// Max pooling, NHWC.
    MaxPool = 8,
    /// Average pooling, NHWC (global average pooling is a full-size kernel).
    AvgPool = 9,
    /// Shape change without data movement (the planner usually aliases it away).
    Reshape = 10,
    /// Axis permutation.
    Transpose = 11,
    /// Concatenation along one axis.
    Concat = 12,
    /// Softmax over the last axis.
    Softmax = 13,
}

impl OpCode {
    /// Decode an on-disk opcode.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        use OpCode::*;
        Some(match v {
            1 => Quantize,
            2 => Dequantize,
            3 => Conv2d,
            4 => FullyConnected,
            5 => Add,
            6 => Mul,
            7 => Lut,
            8 => MaxPool,
            9 => AvgPool,
            10 => Reshape,
            11 => Transpose,
            12 => Concat,
            13 => Softmax,
            _ => return None,
        })
    }

    /// Human-readable name.
    pub fn name(self) -> &'static str {
        use OpCode::*;
        match self {
            Quantize => "Quantize",
            Dequantize => "Dequantize",
            Conv2d => "Conv2d",
            FullyConnected => "FullyConnected",
            Add => "Add",
            Mul => "Mul",
            Lut => "Lut",
            MaxPool => "MaxPool",
            AvgPool => "AvgPool",
            Reshape => "Reshape",
            Transpose => "Transpose",
            Concat => "Concat",
            Softmax => "Softmax",
        }
    }
}

/// Validation failure reason (turned into [`Error::BadOp`] by the caller).
pub type Check = core::result::Result<(), &'static str>;

pub(crate) fn ensure(cond: bool, why: &'static str) -> Check {
    if cond {
        Ok(())
    } else {
        Err(why)
    }
}

/// What an op's validation sees: its inputs (absent optional ones are `None`), outputs,
/// scratch length and the model (to read constant parameters such as requantization factors).
pub struct OpShapes<'m, 'a> {
    /// Input tensor records.
    pub inputs: &'m [Option<TensorInfo>],
    /// Output tensor records.
    pub outputs: &'m [TensorInfo],
    /// Scratch bytes the plan gives this op.
    pub scratch_len: usize,
    /// The model, for constant data.
    pub model: &'m Model<'a>,
    /// Whether the op is an average pool (pooling shares one validation).
    pub opcode_is_avg: bool,
}

impl OpShapes<'_, '_> {
    pub(crate) fn arity(&self, n_in: usize, n_out: usize) -> Check {
        ensure(
            self.inputs.len() == n_in && self.outputs.len() == n_out,
            "wrong number of inputs or outputs",
        )
    }
    pub(crate) fn input(&self, i: usize) -> core::result::Result<&TensorInfo, &'static str> {
        self.inputs
            .get(i)
            .and_then(|t| t.as_ref())
            .ok_or("missing required input")
    }
    pub(crate) fn constant(
        &self,
        i: usize,
        dtype: DType,
    ) -> core::result::Result<(&TensorInfo, &[u8]), &'static str> {
        let t = self.input(i)?;
        ensure(
            t.kind == TensorKind::Constant && t.dtype == dtype,
            "parameter input must be a constant of the right dtype",
        )?;
        ensure(
            t.layout == crate::tensor::Layout::Dense,
            "only Conv2d (one group) and FullyConnected weights are blocked",
        )?;
        Ok((t, self.model.constant_data(t)))
    }

    /// Input `i` as blocked int8 weights ([`crate::blocked`]).
    pub(crate) fn blocked_weights(
        &self,
        i: usize,
    ) -> core::result::Result<&TensorInfo, &'static str> {
        let t = self.input(i)?;
        ensure(
            t.kind == TensorKind::Constant
                && t.dtype == DType::I8
                && t.layout == crate::tensor::Layout::Blocked,
            "weights must be a blocked int8 constant",
        )?;
        Ok(t)
    }
}

/// Validate a per-channel requantization table: `[channels, 2]` int32 pairs of
/// (multiplier ≥ 0, shift in `MIN_SHIFT..=MAX_SHIFT`).
pub(crate) fn check_requant_table(info: &TensorInfo, data: &[u8], channels: usize) -> Check {
    ensure(
        info.shape() == [channels as u32, 2],
        "requantization table must be [channels, 2]",
    )?;
    for c in 0..channels {
        let m = crate::format::rd_i32(data, 8 * c).ok_or("requantization table truncated")?;
        let s = crate::format::rd_i32(data, 8 * c + 4).ok_or("requantization table truncated")?;
        check_multiplier(m, s)?;
    }
    Ok(())
}

/// Per-output-channel requantization: the `[channels, 2]` int32 (multiplier, shift) constant of
/// Conv2d and FullyConnected, applied with the output's zero point and fused clamp.
pub struct ChannelRequant<'a, 'b> {
    /// The table tensor.
    pub table: &'b TensorRef<'a>,
    /// Output zero point.
    pub zero_point: i32,
    /// Lower end of the fused activation clamp.
    pub min: i8,
    /// Upper end of the fused activation clamp.
    pub max: i8,
}

impl ChannelRequant<'_, '_> {
    /// `(multiplier, shift)` of output channel `channel` (validated: multiplier ≥ 0).
    #[inline(always)]
    pub fn factors(&self, channel: usize) -> (i32, i32) {
        (
            self.table.i32_at(2 * channel),
            self.table.i32_at(2 * channel + 1),
        )
    }

    /// Requantize the accumulator of output channel `channel`.
    #[inline(always)]
    pub fn apply(&self, acc: i32, channel: usize) -> i8 {
        crate::quant::requantize_to_i8(
            acc,
            self.table.i32_at(2 * channel),
            self.table.i32_at(2 * channel + 1),
            self.zero_point,
            self.min,
            self.max,
        )
    }
}

pub(crate) fn check_multiplier(m: i32, s: i32) -> Check {
    ensure(
        m >= 0 && (crate::quant::MIN_SHIFT..=crate::quant::MAX_SHIFT).contains(&s),
        "requantization multiplier or shift out of range",
    )
}

pub(crate) fn same_quant(a: &TensorInfo, b: &TensorInfo) -> bool {
    a.scale == b.scale && a.zero_point == b.zero_point
}

/// Validate an op record against its tensors.
pub(crate) fn validate(op: &OpRecord<'_>, s: &OpShapes<'_, '_>) -> Check {
    use OpCode::*;
    match op.opcode {
        Quantize => quantize::validate(op.params, s),
        Dequantize => dequantize::validate(op.params, s),
        Conv2d => conv::validate(op.params, s),
        FullyConnected => fully_connected::validate(op.params, s),
        Add => add::validate(op.params, s),
        Mul => mul::validate(op.params, s),
        Lut => lut::validate(op.params, s),
        MaxPool | AvgPool => pool::validate(op.params, s),
        Reshape => reshape::validate(op.params, s),
        Transpose => transpose::validate(op.params, s),
        Concat => concat::validate(op.params, s),
        Softmax => softmax::validate(op.params, s),
    }
}

/// Scratch bytes an op needs, given its validated tensors (used by the planner).
pub fn scratch_size(
    opcode: OpCode,
    params: &[u8],
    inputs: &[Option<TensorInfo>],
    outputs: &[TensorInfo],
) -> usize {
    match opcode {
        OpCode::Conv2d => conv::scratch_size(params, inputs, outputs),
        _ => 0,
    }
}

/// Run one op with already-validated views.
pub(crate) fn eval(
    op: &OpRecord<'_>,
    path: KernelPath,
    inputs: &[TensorRef<'_>],
    outputs: &mut [TensorMut<'_>],
    scratch: &mut [u8],
) -> Result<()> {
    use OpCode::*;
    let bad = |reason| Error::BadOp {
        op: op.index,
        reason,
    };
    match op.opcode {
        Quantize if path != KernelPath::Reference => kernels::quantize::eval(path, inputs, outputs),
        Quantize => quantize::eval(inputs, outputs),
        Dequantize => dequantize::eval(inputs, outputs),
        Conv2d => {
            let p = conv::ConvParams::decode(op.params).map_err(bad)?;
            let fast = path != KernelPath::Reference
                && kernels::conv::covers(&p, &inputs[0].info, &inputs[1].info, scratch.len());
            if fast {
                kernels::conv::eval(path, &p, inputs, outputs, scratch)
            } else if path != KernelPath::Reference
                && kernels::depthwise::covers(&p, &inputs[0].info, &inputs[1].info)
            {
                kernels::depthwise::eval(path, &p, inputs, outputs)
            } else {
                conv::eval(&p, inputs, outputs, scratch)
            }
        }
        FullyConnected => {
            let p = fully_connected::FcParams::decode(op.params).map_err(bad)?;
            if path != KernelPath::Reference {
                kernels::fully_connected::eval(path, &p, inputs, outputs)
            } else {
                fully_connected::eval(&p, inputs, outputs)
            }
        }
        Add => {
            let p = add::AddParams::decode(op.params).map_err(bad)?;
            if path != KernelPath::Reference && kernels::add::covers(inputs, outputs) {
                kernels::add::eval_same_shape(path, &p, inputs, outputs)
            } else {
                add::eval(&p, inputs, outputs)
            }
        }
        Mul => {
            let p = mul::MulParams::decode(op.params).map_err(bad)?;
            if path != KernelPath::Reference && kernels::mul::covers(inputs, outputs) {
                kernels::mul::eval(path, &p, inputs, outputs)
            } else {
                mul::eval(&p, inputs, outputs)
            }
        }
        Lut => {
            if path != KernelPath::Reference {
                kernels::lut::eval(path, op.params, inputs, outputs)
            } else {
                lut::eval(op.params, inputs, outputs)
            }
        }
        MaxPool | AvgPool => {
            let p = pool::PoolParams::decode(op.params).map_err(bad)?;
            let max = op.opcode == MaxPool;
            match (path, max) {
                (KernelPath::Reference, true) => pool::eval_max(&p, inputs, outputs),
                (KernelPath::Reference, false) => pool::eval_avg(&p, inputs, outputs),
                _ => kernels::pool::eval(path, &p, inputs, outputs, max),
            }
        }
        Reshape => reshape::eval(inputs, outputs),
        Transpose => transpose::eval_on(
            path,
            &transpose::TransposeParams::decode(op.params).map_err(bad)?,
            inputs,
            outputs,
        ),
        Concat => concat::eval(
            &concat::ConcatParams::decode(op.params).map_err(bad)?,
            inputs,
            outputs,
        ),
        Softmax => softmax::eval(inputs, outputs),
    }
    Ok(())
}

/// Little helpers for fixed-size parameter encodings.
pub(crate) struct ParamReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(b: &'a [u8], len: usize) -> core::result::Result<Self, &'static str> {
        ensure(b.len() == len, "parameter block has the wrong length")?;
        Ok(ParamReader { b, pos: 0 })
    }
    pub(crate) fn u8(&mut self) -> u8 {
        let v = self.b[self.pos];
        self.pos += 1;
        v
    }
    pub(crate) fn i8(&mut self) -> i8 {
        self.u8() as i8
    }
    pub(crate) fn u16(&mut self) -> u16 {
        let v = u16::from_le_bytes([self.b[self.pos], self.b[self.pos + 1]]);
        self.pos += 2;
        v
    }
    pub(crate) fn i32(&mut self) -> i32 {
        let p = self.pos;
        self.pos += 4;
        i32::from_le_bytes([self.b[p], self.b[p + 1], self.b[p + 2], self.b[p + 3]])
    }
}

pub(crate) struct ParamWriter<const N: usize> {
    b: [u8; N],
    pos: usize,
}

impl<const N: usize> ParamWriter<N> {
    pub(crate) fn new() -> Self {
        ParamWriter { b: [0; N], pos: 0 }
    }
    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.b[self.pos] = v;
        self.pos += 1;
        self
    }
    pub(crate) fn i8(self, v: i8) -> Self {
        self.u8(v as u8)
    }
    pub(crate) fn u16(mut self, v: u16) -> Self {
        self.b[self.pos..self.pos + 2].copy_from_slice(&v.to_le_bytes());
        self.pos += 2;
        self
    }
    pub(crate) fn i32(mut self, v: i32) -> Self {
        self.b[self.pos..self.pos + 4].copy_from_slice(&v.to_le_bytes());
        self.pos += 4;
        self
    }
    pub(crate) fn finish(self) -> [u8; N] {
        self.b
    }
}
