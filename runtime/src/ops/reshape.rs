//! Reshape: same bytes, new shape. The planner aliases output onto input where the input dies
//! here, and the interpreter then skips the op entirely; otherwise it is a copy.

use super::{ensure, same_quant, Check, OpShapes};
use crate::tensor::{TensorMut, TensorRef};

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    ensure(params.is_empty(), "reshape takes no parameters")?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.dtype == y.dtype && x.byte_len == y.byte_len,
        "reshape must keep dtype and size",
    )?;
    ensure(same_quant(x, y), "reshape must keep scale and zero point")
}

/// Reference evaluation.
pub fn eval(ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    outs[0].data.copy_from_slice(ins[0].data);
}
