//! f32 → int8 at a graph input: `q = clamp(round_half_away(x · (1 / scale)) + zp, -128, 127)`.

use super::{ensure, Check, OpShapes};
use crate::quant::quantize_f32;
use crate::tensor::{DType, TensorMut, TensorRef};

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    ensure(params.is_empty(), "quantize takes no parameters")?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.dtype == DType::F32 && y.dtype == DType::I8 && x.num_elements() == y.num_elements(),
        "quantize maps f32 to int8 of the same size",
    )?;
    ensure(
        y.scale > 0.0 && (1.0 / y.scale).is_finite(),
        "output scale must be positive",
    )
}

/// Reference evaluation.
pub fn eval(ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let x = &ins[0];
    let y = &mut outs[0];
    let inv = 1.0f32 / y.info.scale;
    let zp = y.info.zero_point;
    for (o, v) in y.as_i8_mut().iter_mut().zip(x.data.chunks_exact(4)) {
        *o = quantize_f32(f32::from_ne_bytes([v[0], v[1], v[2], v[3]]), inv, zp);
    }
}
