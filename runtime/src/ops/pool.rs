//! Max and average pooling over NHWC int8 (global average pooling is a full-size window).
//!
//! Max pooling ignores padded positions; its output shares the input's scale and zero point.
//!
//! Average pooling has two forms:
//! * `rescale = (0, 0)`: output and input share quantization; the raw values are summed and
//!   divided, rounding half away from zero, by the number of valid positions, or by the full
//!   window when `count_include_pad` is set (padding then counts as the zero point).
//! * `rescale = (m, s)`, only for windows that never overlap padding or that count it: the
//!   output has its own quantization and `y = requantize(Σ (x - x_zp), m, s) + y_zp` with
//!   `m·2^s ≈ x_scale / (y_scale · window)`. Global average pooling uses this: the mean of a
//!   wide-range activation is far narrower than the activation, and keeping the input's scale
//!   would throw most of its precision away.
//!
//! Both clamp to the fused activation range.

use super::{check_multiplier, ensure, same_quant, Check, OpShapes, ParamReader, ParamWriter};
use crate::ops::conv::output_size;
use crate::quant::div_round_half_away;
use crate::quant::requantize;
use crate::tensor::{DType, TensorMut, TensorRef};

/// Pooling parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParams {
    /// Window (height, width).
    pub kernel: [u16; 2],
    /// Stride (height, width).
    pub stride: [u16; 2],
    /// Padding (top, left, bottom, right).
    pub pad: [u16; 4],
    /// Average pooling: divide by the full window, padding included.
    pub count_include_pad: bool,
    /// Fused activation clamp.
    pub act_min: i8,
    /// Upper end of the fused activation clamp.
    pub act_max: i8,
    /// Average pooling with its own output quantization: (multiplier, shift); (0, 0) otherwise.
    pub rescale: (i32, i32),
}

impl PoolParams {
    /// Encoded length.
    pub const LEN: usize = 28;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let mut r = ParamReader::new(b, Self::LEN)?;
        Ok(PoolParams {
            kernel: [r.u16(), r.u16()],
            stride: [r.u16(), r.u16()],
            pad: [r.u16(), r.u16(), r.u16(), r.u16()],
            count_include_pad: r.u8() != 0,
            act_min: r.i8(),
            act_max: r.i8(),
            rescale: {
                r.u8();
                (r.i32(), r.i32())
            },
        })
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        ParamWriter::<{ Self::LEN }>::new()
            .u16(self.kernel[0])
            .u16(self.kernel[1])
            .u16(self.stride[0])
            .u16(self.stride[1])
            .u16(self.pad[0])
            .u16(self.pad[1])
            .u16(self.pad[2])
            .u16(self.pad[3])
            .u8(self.count_include_pad as u8)
            .i8(self.act_min)
            .i8(self.act_max)
            .u8(0)
            .i32(self.rescale.0)
            .i32(self.rescale.1)
            .finish()
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = PoolParams::decode(params)?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::I8 && x.rank == 4 && y.rank == 4,
        "pooling takes int8 NHWC",
    )?;
    let rescaled = p.rescale != (0, 0);
    if rescaled {
        ensure(s.opcode_is_avg, "only average pooling rescales")?;
        check_multiplier(p.rescale.0, p.rescale.1)?;
        ensure(
            p.count_include_pad || p.pad == [0; 4],
            "a rescaling average pool needs a fixed window count",
        )?;
    } else {
        ensure(
            same_quant(x, y),
            "pooling input and output must share scale and zero point",
        )?;
    }
    ensure(p.act_min <= p.act_max, "activation range is empty")?;
    ensure(
        p.pad[0] < p.kernel[0]
            && p.pad[2] < p.kernel[0]
            && p.pad[1] < p.kernel[1]
            && p.pad[3] < p.kernel[1],
        "padding must be smaller than the window",
    )?;
    ensure(
        (p.kernel[0] as u32) * (p.kernel[1] as u32) < (1 << 23),
        "window too large",
    )?;
    let oh = output_size(
        x.dims[1],
        p.kernel[0] as u32,
        p.stride[0],
        1,
        p.pad[0],
        p.pad[2],
    )
    .ok_or("window does not fit")?;
    let ow = output_size(
        x.dims[2],
        p.kernel[1] as u32,
        p.stride[1],
        1,
        p.pad[1],
        p.pad[3],
    )
    .ok_or("window does not fit")?;
    ensure(
        y.shape() == [x.dims[0], oh, ow, x.dims[3]],
        "output shape does not match the pooling",
    )
}

fn pool(
    p: &PoolParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    mut reduce: impl FnMut(&mut dyn Iterator<Item = i8>, usize) -> i32,
) {
    let x = &ins[0];
    let xd = x.as_i8();
    let [n, h, w, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
    let y = &mut outs[0];
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let yd = y.as_i8_mut();
    let [kh, kw] = p.kernel.map(|v| v as isize);
    let mut oi = 0usize;
    for b in 0..n {
        for oy in 0..oh {
            let y0 = oy as isize * p.stride[0] as isize - p.pad[0] as isize;
            let (ys, ye) = (y0.max(0) as usize, ((y0 + kh).min(h as isize)) as usize);
            for ox in 0..ow {
                let x0 = ox as isize * p.stride[1] as isize - p.pad[1] as isize;
                let (xs, xe) = (x0.max(0) as usize, ((x0 + kw).min(w as isize)) as usize);
                for ch in 0..c {
                    let mut it = (ys..ye)
                        .flat_map(|iy| (xs..xe).map(move |ix| ((b * h + iy) * w + ix) * c + ch))
                        .map(|i| xd[i]);
                    let v = reduce(&mut it, (ye.saturating_sub(ys)) * (xe.saturating_sub(xs)));
                    yd[oi] = v.clamp(p.act_min as i32, p.act_max as i32) as i8;
                    oi += 1;
                }
            }
        }
    }
}

/// Reference max pooling.
pub fn eval_max(p: &PoolParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    pool(p, ins, outs, |it, _| {
        it.map(|v| v as i32).max().unwrap_or(-128)
    });
}

/// Reference average pooling.
pub fn eval_avg(p: &PoolParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let zp = ins[0].info.zero_point;
    let full = p.kernel[0] as i32 * p.kernel[1] as i32;
    let include = p.count_include_pad;
    let y_zp = outs[0].info.zero_point;
    if p.rescale != (0, 0) {
        pool(p, ins, outs, |it, _| {
            // padding (when counted) stands for the zero point: it adds nothing to Σ (x - zp)
            let acc: i32 = it.map(|v| v as i32 - zp).sum();
            requantize(acc, p.rescale.0, p.rescale.1).saturating_add(y_zp)
        });
        return;
    }
    pool(p, ins, outs, |it, valid| {
        let sum: i32 = it.map(|v| v as i32).sum();
        if include {
            div_round_half_away(sum + (full - valid as i32) * zp, full)
        } else if valid == 0 {
            zp
        } else {
            div_round_half_away(sum, valid as i32)
        }
    });
}
