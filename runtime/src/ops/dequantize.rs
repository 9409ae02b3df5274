//! int8 → f32 at a graph output: `x = (q - zp) · scale`.

use super::{ensure, Check, OpShapes};
use crate::quant::dequantize_i8;
use crate::tensor::{DType, TensorMut, TensorRef};

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    ensure(params.is_empty(), "dequantize takes no parameters")?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::F32 && x.num_elements() == y.num_elements(),
        "dequantize maps int8 to f32 of the same size",
    )
}

/// Reference evaluation.
pub fn eval(ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let x = &ins[0];
    let (scale, zp) = (x.info.scale, x.info.zero_point);
    for (o, &q) in outs[0].data.chunks_exact_mut(4).zip(x.as_i8()) {
        o.copy_from_slice(&dequantize_i8(q, scale, zp).to_ne_bytes());
    }
}
