//! Softmax over the last axis, in integers.
//!
//! Inputs: `x` int8, `exp_table` int32 constant `[256]` with
//! `exp_table[d] = round(2^16 · exp(-x_scale · beta · d))` (so `exp_table[0] = 65536`). Output int8
//! with the fixed quantization of probabilities, scale 1/256 and zero point -128.
//! Per row: `m = max(x)`, `e_i = exp_table[m - x_i]`, `S = Σ e_i`,
//! `y_i = clamp(floor((256 · e_i + S / 2) / S) - 128, -128, 127)`.

use super::{ensure, Check, OpShapes};
use crate::tensor::{DType, TensorMut, TensorRef};

/// The output scale every softmax uses.
pub const OUTPUT_SCALE: f32 = 1.0 / 256.0;
/// The output zero point every softmax uses.
pub const OUTPUT_ZERO_POINT: i32 = -128;

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    ensure(params.is_empty(), "softmax takes no parameters")?;
    s.arity(2, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    let (t, tdata) = s.constant(1, DType::I32)?;
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::I8 && x.shape() == y.shape() && x.rank >= 1,
        "softmax maps int8 to int8 of the same shape",
    )?;
    ensure(
        y.scale == OUTPUT_SCALE && y.zero_point == OUTPUT_ZERO_POINT,
        "softmax output must have scale 1/256, zero point -128",
    )?;
    ensure(t.shape() == [256], "exp table must have 256 entries")?;
    for i in 0..256 {
        let v = crate::format::rd_i32(tdata, 4 * i).ok_or("exp table truncated")?;
        ensure(
            (0..=1 << 16).contains(&v) && (i > 0 || v >= 1),
            "exp table entries must lie in [0, 65536], the first one positive",
        )?;
    }
    Ok(())
}

/// Reference evaluation.
pub fn eval(ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let (x, table) = (&ins[0], &ins[1]);
    let n = x.info.dims[x.info.rank as usize - 1] as usize;
    if n == 0 {
        return;
    }
    let xd = x.as_i8();
    let yd = outs[0].as_i8_mut();
    for (xr, yr) in xd.chunks_exact(n).zip(yd.chunks_exact_mut(n)) {
        let m = xr.iter().copied().max().unwrap_or(0) as i32;
        let e = |v: i8| table.i32_at((m - v as i32) as usize) as u64;
        let sum: u64 = xr.iter().map(|&v| e(v)).sum();
        for (o, &v) in yr.iter_mut().zip(xr) {
            let q = (256 * e(v) + sum / 2) / sum;
            *o = (q as i64 - 128).clamp(-128, 127) as i8;
        }
    }
}
