//! 2-D convolution over NHWC int8 activations with per-output-channel int8 weights.
//!
//! Inputs: `x` int8 `[N, H, W, C]`, `w` int8 constant `[Co, KH, KW, C / groups]` (stored blocked,
//! [`crate::blocked`], with one group; dense row-major otherwise), `bias` int32
//! constant `[Co]`, `requant` int32 constant `[Co, 2]` (multiplier, shift). Output int8
//! `[N, OH, OW, Co]`. Padding stands for the real value 0: the input zero point. Groups cover
//! ordinary (1), grouped and depthwise (`groups == C`) convolutions.
//!
//! `acc = bias[co] + Σ x · w` over every tap (padding taps read `x_zp`), then
//! `y = clamp(requantize(acc) + y_zp, act_min, act_max)`. The stored bias has the input zero
//! point folded in (`bias_tflite - x_zp · Σ w[co]`, done by the quantizer), so `acc` equals
//! TFLite's `bias_tflite + Σ (x - x_zp) · w` exactly while kernels sum raw products.

use super::{
    check_requant_table, ensure, ChannelRequant, Check, OpShapes, ParamReader, ParamWriter,
};
use crate::blocked::{CELL, DEPTH};
use crate::tensor::{DType, TensorInfo, TensorMut, TensorRef};

/// Convolution parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    /// Stride (height, width).
    pub stride: [u16; 2],
    /// Dilation (height, width).
    pub dilation: [u16; 2],
    /// Padding (top, left, bottom, right).
    pub pad: [u16; 4],
    /// Number of groups.
    pub groups: u16,
    /// Fused activation clamp, in the output's quantized domain.
    pub act_min: i8,
    /// Upper end of the fused activation clamp.
    pub act_max: i8,
}

impl ConvParams {
    /// Encoded length.
    pub const LEN: usize = 20;

    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let mut r = ParamReader::new(b, Self::LEN)?;
        Ok(ConvParams {
            stride: [r.u16(), r.u16()],
            dilation: [r.u16(), r.u16()],
            pad: [r.u16(), r.u16(), r.u16(), r.u16()],
            groups: r.u16(),
            act_min: r.i8(),
            act_max: r.i8(),
        })
    }

    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        ParamWriter::<{ Self::LEN }>::new()
            .u16(self.stride[0])
            .u16(self.stride[1])
            .u16(self.dilation[0])
            .u16(self.dilation[1])
            .u16(self.pad[0])
            .u16(self.pad[1])
            .u16(self.pad[2])
            .u16(self.pad[3])
            .u16(self.groups)
            .i8(self.act_min)
            .i8(self.act_max)
            .finish()
    }
}

/// Output spatial size for one axis, or `None` when the kernel does not fit.
pub fn output_size(
    input: u32,
    kernel: u32,
    stride: u16,
    dilation: u16,
    pad_begin: u16,
    pad_end: u16,
) -> Option<u32> {
    let padded = input as u64 + pad_begin as u64 + pad_end as u64;
    let span = (dilation as u64) * (kernel as u64 - 1) + 1;
    if kernel == 0 || stride == 0 || dilation == 0 || padded < span {
        return None;
    }
    Some(((padded - span) / stride as u64 + 1) as u32)
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = ConvParams::decode(params)?;
    s.arity(4, 1)?;
    let x = s.input(0)?;
    let w = if p.groups == 1 {
        s.blocked_weights(1)?
    } else {
        s.constant(1, DType::I8)?.0
    };
    let (b, _) = s.constant(2, DType::I32)?;
    let (rq, rq_data) = s.constant(3, DType::I32)?;
    let y = &s.outputs[0];
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::I8,
        "conv input and output must be int8",
    )?;
    ensure(
        x.rank == 4 && w.rank == 4 && y.rank == 4,
        "conv tensors must be rank 4 (NHWC)",
    )?;
    let [n, h, wd, c] = [x.dims[0], x.dims[1], x.dims[2], x.dims[3]];
    let [co, kh, kw, cg] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
    let g = p.groups as u32;
    ensure(
        g >= 1 && c % g == 0 && co % g == 0 && cg == c / g,
        "groups do not divide the channels",
    )?;
    ensure(p.act_min <= p.act_max, "activation range is empty")?;
    let oh = output_size(h, kh, p.stride[0], p.dilation[0], p.pad[0], p.pad[2])
        .ok_or("kernel does not fit the input")?;
    let ow = output_size(wd, kw, p.stride[1], p.dilation[1], p.pad[1], p.pad[3])
        .ok_or("kernel does not fit the input")?;
    ensure(
        y.shape() == [n, oh, ow, co],
        "output shape does not match the convolution",
    )?;
    ensure(b.shape() == [co], "bias must be [Co]")?;
    check_requant_table(rq, rq_data, co as usize)
}

/// Scratch bytes the fastest kernel of any path needs (the reference kernel needs none; the
/// planner reserves this much so one model file serves every target).
pub fn scratch_size(
    params: &[u8],
    inputs: &[Option<TensorInfo>],
    _outputs: &[TensorInfo],
) -> usize {
    match (ConvParams::decode(params), inputs.first(), inputs.get(1)) {
        (Ok(p), Some(Some(x)), Some(Some(w))) if w.rank == 4 => {
            crate::kernels::conv::scratch_size(&p, x, w)
        }
        _ => 0,
    }
}

/// Reference evaluation.
pub fn eval(
    p: &ConvParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    _scratch: &mut [u8],
) {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let xd = x.as_i8();
    let wd = w.as_i8();
    let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
    let [co, kh, kw, cg] = [0, 1, 2, 3].map(|i| w.info.dims[i] as usize);
    let y = &mut outs[0];
    let (y_zp, x_zp) = (y.info.zero_point, x.info.zero_point);
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let co_per_group = co / p.groups as usize;
    let [sh, sw] = p.stride.map(|v| v as isize);
    let [dh, dw] = p.dilation.map(|v| v as isize);
    let (pt, pl) = (p.pad[0] as isize, p.pad[1] as isize);
    let yd = y.as_i8_mut();
    let requant = ChannelRequant {
        table: rq,
        zero_point: y_zp,
        min: p.act_min,
        max: p.act_max,
    };
    // One group: blocked weights, a row's next word CELL bytes on; several: dense
    // [co, kh, kw, cg], words back to back. Taps are visited in row order, so a cursor steps
    // through the row's bytes.
    let row_len = kh * kw * cg;
    let blocked = crate::blocked::Blocked {
        rows: co,
        k: row_len,
    };
    let word_gap = if p.groups == 1 { CELL - DEPTH } else { 0 };
    let row_start = |o: usize| {
        if p.groups == 1 {
            blocked.row_start(o)
        } else {
            o * row_len
        }
    };
    let mut out_i = 0usize;
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..co {
                    let ci0 = (o / co_per_group) * cg;
                    let mut at = row_start(o);
                    let mut next_weight = || {
                        let w = wd[at] as i32;
                        at += 1;
                        if at % DEPTH == 0 {
                            at += word_gap;
                        }
                        w
                    };
                    let mut acc = bias.i32_at(o);
                    for ky in 0..kh {
                        let iy = oy as isize * sh - pt + ky as isize * dh;
                        for kx in 0..kw {
                            let ix = ox as isize * sw - pl + kx as isize * dw;
                            if iy < 0 || iy >= h as isize || ix < 0 || ix >= wi as isize {
                                // padding reads the zero point
                                for _ in 0..cg {
                                    acc = acc.wrapping_add(x_zp * next_weight());
                                }
                                continue;
                            }
                            let xrow = ((b * h + iy as usize) * wi + ix as usize) * c + ci0;
                            for &xv in &xd[xrow..xrow + cg] {
                                acc = acc.wrapping_add(xv as i32 * next_weight());
                            }
                        }
                    }
                    yd[out_i] = requant.apply(acc, o);
                    out_i += 1;
                }
            }
        }
    }
}
