//! Axis permutation: `y.dims[i] = x.dims[perm[i]]`.

use super::{ensure, same_quant, Check, OpShapes};
use crate::format::MAX_RANK;
use crate::tensor::{TensorMut, TensorRef};

/// Transpose parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransposeParams {
    /// Rank of the permutation.
    pub rank: u8,
    /// Output axis `i` takes input axis `perm[i]`.
    pub perm: [u8; MAX_RANK],
}

impl TransposeParams {
    /// Encoded length.
    pub const LEN: usize = 8;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        ensure(b.len() == Self::LEN, "parameter block has the wrong length")?;
        let rank = b[0];
        ensure(rank as usize <= MAX_RANK, "rank above 6")?;
        let mut perm = [0u8; MAX_RANK];
        perm.copy_from_slice(&b[1..1 + MAX_RANK]);
        let mut seen = [false; MAX_RANK];
        for &p in &perm[..rank as usize] {
            ensure(
                (p as usize) < rank as usize && !seen[p as usize],
                "not a permutation",
            )?;
            seen[p as usize] = true;
        }
        Ok(TransposeParams { rank, perm })
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = self.rank;
        b[1..1 + MAX_RANK].copy_from_slice(&self.perm);
        b
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = TransposeParams::decode(params)?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.rank == p.rank && y.rank == p.rank && x.dtype == y.dtype,
        "rank or dtype mismatch",
    )?;
    ensure(same_quant(x, y), "transpose must keep scale and zero point")?;
    for i in 0..p.rank as usize {
        ensure(
            y.dims[i] == x.dims[p.perm[i] as usize],
            "output shape is not the permuted input shape",
        )?;
    }
    Ok(())
}

/// Reference evaluation (any element size).
pub fn eval(p: &TransposeParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let x = &ins[0];
    let es = x.info.dtype.size();
    let r = p.rank as usize;
    // Input strides in elements, then permuted to output axis order, padded to 6 dims in front.
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for i in (0..r).rev() {
        in_strides[i] = acc;
        acc *= x.info.dims[i] as usize;
    }
    let mut st = [0usize; MAX_RANK];
    let mut od = [1usize; MAX_RANK];
    let off = MAX_RANK - r;
    for i in 0..r {
        st[off + i] = in_strides[p.perm[i] as usize];
        od[off + i] = outs[0].info.dims[i] as usize;
    }
    let yd = &mut *outs[0].data;
    match es {
        1 => permute(yd, x.data, &od, &st, |y, x, o, i| y[o] = x[i]),
        4 => permute(yd, x.data, &od, &st, |y, x, o, i| {
            y[4 * o..4 * o + 4].copy_from_slice(&x[4 * i..4 * i + 4])
        }),
        _ => permute(yd, x.data, &od, &st, |y, x, o, i| {
            y[o * es..o * es + es].copy_from_slice(&x[i * es..i * es + es])
        }),
    }
}

/// Visit output elements in order (`od`: output dims, `st`: matching input strides, both
/// padded to six axes), calling `copy(y, x, output index, input index)`; the innermost axis
/// walks its stride without recomputing the index.
#[inline(always)]
fn permute(
    y: &mut [u8],
    x: &[u8],
    od: &[usize; MAX_RANK],
    st: &[usize; MAX_RANK],
    copy: impl Fn(&mut [u8], &[u8], usize, usize),
) {
    let mut oi = 0usize;
    for i0 in 0..od[0] {
        for i1 in 0..od[1] {
            for i2 in 0..od[2] {
                for i3 in 0..od[3] {
                    for i4 in 0..od[4] {
                        let mut ii = i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3] + i4 * st[4];
                        for _ in 0..od[5] {
                            copy(y, x, oi, ii);
                            ii += st[5];
                            oi += 1;
                        }
                    }
                }
            }
        }
    }
}
