//! Concatenation along one axis. All inputs share the output's dtype, scale and zero point (the
//! quantizer gives them one range), so this is pure data movement.

use super::{ensure, same_quant, Check, OpShapes};
use crate::tensor::{TensorMut, TensorRef};

/// Concat parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcatParams {
    /// The axis to join along.
    pub axis: u8,
}

impl ConcatParams {
    /// Encoded length.
    pub const LEN: usize = 4;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        ensure(b.len() == Self::LEN, "parameter block has the wrong length")?;
        Ok(ConcatParams { axis: b[0] })
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        [self.axis, 0, 0, 0]
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = ConcatParams::decode(params)?;
    ensure(
        !s.inputs.is_empty() && s.outputs.len() == 1,
        "concat needs inputs and one output",
    )?;
    let y = &s.outputs[0];
    let ax = p.axis as usize;
    ensure(ax < y.rank as usize, "axis out of range")?;
    let mut total = 0u64;
    for i in 0..s.inputs.len() {
        let x = s.input(i)?;
        ensure(
            x.rank == y.rank && x.dtype == y.dtype && same_quant(x, y),
            "inputs must match the output's rank, dtype and quantization",
        )?;
        for d in 0..y.rank as usize {
            ensure(
                d == ax || x.dims[d] == y.dims[d],
                "inputs differ outside the concat axis",
            )?;
        }
        total += x.dims[ax] as u64;
    }
    ensure(
        total == y.dims[ax] as u64,
        "output axis is not the sum of the inputs'",
    )
}

/// Reference evaluation.
pub fn eval(p: &ConcatParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let y = &mut outs[0];
    let ax = p.axis as usize;
    let es = y.info.dtype.size();
    let outer: usize = y.info.dims[..ax].iter().map(|&d| d as usize).product();
    let inner: usize = y.info.dims[ax + 1..y.info.rank as usize]
        .iter()
        .map(|&d| d as usize)
        .product::<usize>()
        * es;
    let mut pos = 0usize;
    for o in 0..outer {
        for x in ins {
            let chunk = x.info.dims[ax] as usize * inner;
            y.data[pos..pos + chunk].copy_from_slice(&x.data[o * chunk..o * chunk + chunk]);
            pos += chunk;
        }
    }
}
