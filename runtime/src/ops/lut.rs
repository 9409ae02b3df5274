//! Any int8 → int8 elementwise function as a 256-entry table (sigmoid, tanh, hard-swish,
//! hard-sigmoid, and whole chains of unary float ops the quantizer collapsed into one).
//!
//! Params: the table, indexed by `x + 128`. `y[i] = table[x[i] + 128]`.

use super::{ensure, Check, OpShapes};
use crate::tensor::{DType, TensorMut, TensorRef};

/// Encoded parameter length: one byte per int8 input value.
pub const LEN: usize = 256;

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    ensure(params.len() == LEN, "lookup table must have 256 entries")?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::I8,
        "lookup tables map int8 to int8",
    )?;
    ensure(
        x.num_elements() == y.num_elements(),
        "input and output sizes differ",
    )
}

/// Reference evaluation.
pub fn eval(table: &[u8], ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let table: &[u8; 256] = match table.try_into() {
        Ok(t) => t,
        Err(_) => return,
    };
    for (o, &i) in outs[0].data.iter_mut().zip(ins[0].data) {
        *o = table[(i ^ 0x80) as usize];
    }
}
