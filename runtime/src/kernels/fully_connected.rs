//! Fully connected layer on the optimised paths (DSP, AVX2): rows taken two at a time through `RowBlock`.

use super::dot::RowBlock;
use crate::ops::fully_connected::FcParams;
use crate::ops::ChannelRequant;
use crate::tensor::{TensorMut, TensorRef};

/// Same contract and results as [`crate::ops::fully_connected::eval`].
pub fn eval(
    path: super::KernelPath,
    p: &FcParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (m, k) = (w.info.dims[0] as usize, w.info.dims[1] as usize);
    let y = &mut outs[0];
    let requant = ChannelRequant {
        table: rq,
        zero_point: y.info.zero_point,
        min: p.act_min,
        max: p.act_max,
    };
    let block = RowBlock {
        path,
        w: w.as_i8(),
        m,
        k,
        bias,
        requant: &requant,
    };
    for (xs, ys) in x.as_i8().chunks(2 * k).zip(y.as_i8_mut().chunks_mut(2 * m)) {
        block.run(xs, ys);
    }
}
