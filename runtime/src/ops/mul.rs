//! Elementwise multiplication of two int8 tensors with broadcasting (e.g. squeeze-excitation).
//!
//! `y = clamp(requantize((a - a_zp) · (b - b_zp), out) + y_zp, act_min, act_max)`.

use super::{
    add::validate_binary, broadcast, check_multiplier, ensure, Check, OpShapes, ParamReader,
    ParamWriter,
};
use crate::quant::requantize_to_i8;
use crate::tensor::{TensorMut, TensorRef};

/// Multiplication parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// Factor `a_scale * b_scale / y_scale` as (multiplier, shift).
    pub out: (i32, i32),
    /// Fused activation clamp, in the output's quantized domain.
    pub act_min: i8,
    /// Upper end of the fused activation clamp.
    pub act_max: i8,
}

impl MulParams {
    /// Encoded length.
    pub const LEN: usize = 12;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let mut r = ParamReader::new(b, Self::LEN)?;
        let p = MulParams {
            out: (r.i32(), r.i32()),
            act_min: r.i8(),
            act_max: r.i8(),
        };
        check_multiplier(p.out.0, p.out.1)?;
        ensure(p.act_min <= p.act_max, "activation range is empty")?;
        Ok(p)
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        ParamWriter::<{ Self::LEN }>::new()
            .i32(self.out.0)
            .i32(self.out.1)
            .i8(self.act_min)
            .i8(self.act_max)
            .finish()
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    MulParams::decode(params)?;
    validate_binary(s)
}

/// Reference evaluation.
pub fn eval(p: &MulParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let (a, b) = (&ins[0], &ins[1]);
    let (ad, bd) = (a.as_i8(), b.as_i8());
    let (a_zp, b_zp) = (a.info.zero_point, b.info.zero_point);
    let y = &mut outs[0];
    let info = y.info;
    let yd = y.as_i8_mut();
    broadcast::for_each(&a.info, &b.info, &info, |ia, ib, io| {
        let prod = (ad[ia] as i32 - a_zp) * (bd[ib] as i32 - b_zp);
        yd[io] = requantize_to_i8(
            prod,
            p.out.0,
            p.out.1,
            info.zero_point,
            p.act_min,
            p.act_max,
        );
    });
}
