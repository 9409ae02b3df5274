//! Elementwise addition of two int8 tensors with broadcasting.
//!
//! As in TFLite: both inputs are shifted left by `left_shift` bits to keep precision, rescaled to
//! a common scale, added, then rescaled to the output:
//! `y = clamp(requantize(requantize((a - a_zp) << ls, a_m) + requantize((b - b_zp) << ls, b_m), out_m) + y_zp)`.

use super::{broadcast, check_multiplier, ensure, Check, OpShapes, ParamReader, ParamWriter};
use crate::quant::{requantize, requantize_to_i8};
use crate::tensor::{DType, TensorMut, TensorRef};

/// Addition parameters: per-input and output requantization factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Factor for input a (multiplier, shift).
    pub a: (i32, i32),
    /// Factor for input b.
    pub b: (i32, i32),
    /// Factor for the sum.
    pub out: (i32, i32),
    /// Headroom shift applied to both inputs (TFLite uses 20).
    pub left_shift: u8,
    /// Fused activation clamp, in the output's quantized domain.
    pub act_min: i8,
    /// Upper end of the fused activation clamp.
    pub act_max: i8,
}

impl AddParams {
    /// Encoded length.
    pub const LEN: usize = 28;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let mut r = ParamReader::new(b, Self::LEN)?;
        let p = AddParams {
            a: (r.i32(), r.i32()),
            b: (r.i32(), r.i32()),
            out: (r.i32(), r.i32()),
            left_shift: r.u8(),
            act_min: r.i8(),
            act_max: r.i8(),
        };
        for (m, s) in [p.a, p.b, p.out] {
            check_multiplier(m, s)?;
        }
        ensure(
            p.left_shift <= 20 && p.act_min <= p.act_max,
            "bad add parameters",
        )?;
        Ok(p)
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        ParamWriter::<{ Self::LEN }>::new()
            .i32(self.a.0)
            .i32(self.a.1)
            .i32(self.b.0)
            .i32(self.b.1)
            .i32(self.out.0)
            .i32(self.out.1)
            .u8(self.left_shift)
            .i8(self.act_min)
            .i8(self.act_max)
            .finish()
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    AddParams::decode(params)?;
    validate_binary(s)
}

pub(crate) fn validate_binary(s: &OpShapes<'_, '_>) -> Check {
    s.arity(2, 1)?;
    let (a, b, y) = (s.input(0)?, s.input(1)?, &s.outputs[0]);
    ensure(
        a.dtype == DType::I8 && b.dtype == DType::I8 && y.dtype == DType::I8,
        "operands must be int8",
    )?;
    ensure(
        broadcast::broadcasts_to(a, b, y),
        "input shapes do not broadcast to the output shape",
    )
}

/// Reference evaluation.
pub fn eval(p: &AddParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let (a, b) = (&ins[0], &ins[1]);
    let (ad, bd) = (a.as_i8(), b.as_i8());
    let (a_zp, b_zp) = (a.info.zero_point, b.info.zero_point);
    let y = &mut outs[0];
    let info = y.info;
    let y_zp = info.zero_point;
    let yd = y.as_i8_mut();
    let ls = p.left_shift as u32;
    broadcast::for_each(&a.info, &b.info, &info, |ia, ib, io| {
        let va = requantize((ad[ia] as i32 - a_zp) << ls, p.a.0, p.a.1);
        let vb = requantize((bd[ib] as i32 - b_zp) << ls, p.b.0, p.b.1);
        yd[io] = requantize_to_i8(
            va.saturating_add(vb),
            p.out.0,
            p.out.1,
            y_zp,
            p.act_min,
            p.act_max,
        );
    });
}
