//! Fully connected layer (and MatMul/Gemm with constant weights).
//!
//! Inputs: `x` int8 `[..., K]` (all leading dims are rows), `w` int8 constant `[M, K]` stored
//! blocked ([`crate::blocked`]), `bias`
//! int32 constant `[M]`, `requant` int32 constant `[M, 2]`. Output int8 `[..., M]` with the same
//! number of rows. `y[r, m] = clamp(requantize(bias[m] + Σ_k x[r, k] · w[m, k]) + y_zp)`, with the
//! input zero point folded into the stored bias as for [`super::conv`].

use super::{
    check_requant_table, ensure, ChannelRequant, Check, OpShapes, ParamReader, ParamWriter,
};
use crate::tensor::{DType, TensorMut, TensorRef};

/// Fully connected parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FcParams {
    /// Fused activation clamp, in the output's quantized domain.
    pub act_min: i8,
    /// Upper end of the fused activation clamp.
    pub act_max: i8,
}

impl FcParams {
    /// Encoded length.
    pub const LEN: usize = 4;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let mut r = ParamReader::new(b, Self::LEN)?;
        Ok(FcParams {
            act_min: r.i8(),
            act_max: r.i8(),
        })
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        ParamWriter::<{ Self::LEN }>::new()
            .i8(self.act_min)
            .i8(self.act_max)
            .finish()
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = FcParams::decode(params)?;
    s.arity(4, 1)?;
    let x = s.input(0)?;
    let w = s.blocked_weights(1)?;
    let (b, _) = s.constant(2, DType::I32)?;
    let (rq, rq_data) = s.constant(3, DType::I32)?;
    let y = &s.outputs[0];
    ensure(
        x.dtype == DType::I8 && y.dtype == DType::I8,
        "input and output must be int8",
    )?;
    ensure(
        w.rank == 2 && x.rank >= 1 && y.rank >= 1,
        "weights must be [M, K]",
    )?;
    let (m, k) = (w.dims[0], w.dims[1]);
    ensure(
        k > 0 && m > 0 && x.dims[x.rank as usize - 1] == k && y.dims[y.rank as usize - 1] == m,
        "inner dimensions do not match",
    )?;
    ensure(
        x.num_elements() / k as usize == y.num_elements() / m as usize,
        "row counts differ",
    )?;
    ensure(p.act_min <= p.act_max, "activation range is empty")?;
    ensure(b.shape() == [m], "bias must be [M]")?;
    check_requant_table(rq, rq_data, m as usize)
}

/// Reference evaluation.
pub fn eval(p: &FcParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (m, k) = (w.info.dims[0] as usize, w.info.dims[1] as usize);
    let xd = x.as_i8();
    let wd = w.as_i8();
    let y = &mut outs[0];
    let y_zp = y.info.zero_point;
    let yd = y.as_i8_mut();
    let requant = ChannelRequant {
        table: rq,
        zero_point: y_zp,
        min: p.act_min,
        max: p.act_max,
    };
    let shape = crate::blocked::Blocked { rows: m, k };
    for (xr, yr) in xd.chunks_exact(k).zip(yd.chunks_exact_mut(m)) {
        for (o, out) in yr.iter_mut().enumerate() {
            let acc = bias.i32_at(o).wrapping_add(shape.dot(wd, o, xr));
            *out = requant.apply(acc, o);
        }
    }
}
