//! Fully connected layer on the optimised paths: the channel-vector matrix product on AVX2 and
//! NEON (rows read in place, as a 1×1 convolution's), otherwise rows two at a time through
//! `RowBlock`.

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
    let _ = path; // only the vector paths' matrix product distinguishes paths
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (m, k) = (w.info.dims[0] as usize, w.info.dims[1] as usize);
    let requant = ChannelRequant {
        table: rq,
        zero_point: outs[0].info.zero_point,
        min: p.act_min,
        max: p.act_max,
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
    {
        let rows = x.as_i8().len() / k.max(1);
        let geometry = super::conv::Geometry {
            h: rows,
            w: 1,
            c: k,
            kh: 1,
            kw: 1,
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            ow: 1,
            zero: x.info.zero_point as i8,
        };
        let shape = super::gemm::GemmShape {
            images: 1,
            pixels: rows,
            co: m,
            k,
        };
        let clamp = (p.act_min, p.act_max);
        if super::gemm::eval(path, ins, outs, (&geometry, true), shape, clamp) {
            return;
        }
    }
    let y = &mut outs[0];
    let block = RowBlock {
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
