//! Blocked int8 dot products on the SIMD32 primitives: the inner loops of convolution and
//! fully-connected kernels on the DSP path.
//!
//! Activations are widened with their zero point subtracted (`SXTAB16` with `-x_zp` in both
//! lanes: `x - x_zp` lies in −255..=255, so it fits an int16 lane exactly); weights are
//! symmetric and widened with `SXTB16`. `SMLAD` then adds two products at a time. Both operands
//! are split into even and odd bytes the same way, so no reordering is needed. Sums wrap at 32
//! bits like the reference kernels' `wrapping_add`.

use super::simd32::{load4, smlad, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8};

/// `Σ (a[i] + offset) · w[i]` for one scalar, used for the last `k % 4` elements.
#[inline(always)]
unsafe fn tail(a: *const i8, w: *const i8, from: usize, k: usize, offset: i32, acc: i32) -> i32 {
    let mut acc = acc;
    for i in from..k {
        acc = acc.wrapping_add((*a.add(i) as i32 + offset) * *w.add(i) as i32);
    }
    acc
}

/// Two activation rows times two weight rows: `[a0·w0, a0·w1, a1·w0, a1·w1]` added to `acc`.
///
/// `offset` is `-x_zp`.
///
/// # Safety
/// Each pointer must address `k` readable bytes.
#[inline(always)]
pub unsafe fn dot_2x2(
    a: [*const i8; 2],
    w: [*const i8; 2],
    k: usize,
    offset: i32,
    acc: [i32; 4],
) -> [i32; 4] {
    let off = super::simd32::splat16(offset);
    let [mut c00, mut c01, mut c10, mut c11] = acc;
    let mut i = 0;
    while i + 4 <= k {
        let x0 = load4(a[0].add(i));
        let x1 = load4(a[1].add(i));
        let v0 = load4(w[0].add(i));
        let v1 = load4(w[1].add(i));
        let (x0e, x0o) = (sxtab16(off, x0), sxtab16_ror8(off, x0));
        let (x1e, x1o) = (sxtab16(off, x1), sxtab16_ror8(off, x1));
        let (v0e, v0o) = (sxtb16(v0), sxtb16_ror8(v0));
        c00 = smlad(x0o, v0o, smlad(x0e, v0e, c00));
        c10 = smlad(x1o, v0o, smlad(x1e, v0e, c10));
        let (v1e, v1o) = (sxtb16(v1), sxtb16_ror8(v1));
        c01 = smlad(x0o, v1o, smlad(x0e, v1e, c01));
        c11 = smlad(x1o, v1o, smlad(x1e, v1e, c11));
        i += 4;
    }
    [
        tail(a[0], w[0], i, k, offset, c00),
        tail(a[0], w[1], i, k, offset, c01),
        tail(a[1], w[0], i, k, offset, c10),
        tail(a[1], w[1], i, k, offset, c11),
    ]
}

/// One activation row times two weight rows: `[a·w0, a·w1]` added to `acc`.
///
/// # Safety
/// Each pointer must address `k` readable bytes.
#[inline(always)]
pub unsafe fn dot_1x2(
    a: *const i8,
    w: [*const i8; 2],
    k: usize,
    offset: i32,
    acc: [i32; 2],
) -> [i32; 2] {
    let off = super::simd32::splat16(offset);
    let [mut c0, mut c1] = acc;
    let mut i = 0;
    while i + 4 <= k {
        let x = load4(a.add(i));
        let (xe, xo) = (sxtab16(off, x), sxtab16_ror8(off, x));
        let v0 = load4(w[0].add(i));
        c0 = smlad(xo, sxtb16_ror8(v0), smlad(xe, sxtb16(v0), c0));
        let v1 = load4(w[1].add(i));
        c1 = smlad(xo, sxtb16_ror8(v1), smlad(xe, sxtb16(v1), c1));
        i += 4;
    }
    [
        tail(a, w[0], i, k, offset, c0),
        tail(a, w[1], i, k, offset, c1),
    ]
}

/// One activation row times one weight row.
///
/// # Safety
/// Both pointers must address `k` readable bytes.
#[inline(always)]
pub unsafe fn dot_1x1(a: *const i8, w: *const i8, k: usize, offset: i32, acc: i32) -> i32 {
    let off = super::simd32::splat16(offset);
    let mut c = acc;
    let mut i = 0;
    while i + 4 <= k {
        let x = load4(a.add(i));
        let v = load4(w.add(i));
        c = smlad(sxtab16_ror8(off, x), sxtb16_ror8(v), smlad(sxtab16(off, x), sxtb16(v), c));
        i += 4;
    }
    tail(a, w, i, k, offset, c)
}

/// One or two activation rows against every weight row, requantized into output rows.
pub(crate) struct RowBlock<'a, 'b> {
    /// Weights `[m, k]`.
    pub w: &'a [i8],
    /// Output channels.
    pub m: usize,
    /// Inner length.
    pub k: usize,
    /// `-x_zp`.
    pub offset: i32,
    /// Bias constant `[m]`.
    pub bias: &'b crate::tensor::TensorRef<'a>,
    /// Per-channel requantization.
    pub requant: &'b crate::ops::ChannelRequant<'a, 'b>,
}

impl RowBlock<'_, '_> {
    /// Compute `out[r][o]` for the rows given (`rows.len()` is 1 or 2, each `k` bytes; each
    /// output row `m` bytes).
    pub(crate) fn run(&self, rows: &[&[i8]], out: &mut [&mut [i8]]) {
        let (m, k) = (self.m, self.k);
        debug_assert!(self.w.len() >= m * k && rows.iter().all(|r| r.len() >= k));
        debug_assert!(out.iter().all(|o| o.len() >= m));
        let wp = self.w.as_ptr();
        let mut o = 0;
        // SAFETY (all blocks below): `w` holds `m` rows of `k` bytes and every activation row
        // holds `k` bytes (checked above in debug builds and guaranteed by op validation and
        // the callers' slicing); `o + 1 < m` inside the pair loop.
        if rows.len() == 2 {
            while o + 2 <= m {
                let b = [self.bias.i32_at(o), self.bias.i32_at(o + 1)];
                let [c00, c01, c10, c11] = unsafe {
                    dot_2x2(
                        [rows[0].as_ptr(), rows[1].as_ptr()],
                        [wp.add(o * k), wp.add((o + 1) * k)],
                        k,
                        self.offset,
                        [b[0], b[1], b[0], b[1]],
                    )
                };
                out[0][o] = self.requant.apply(c00, o);
                out[0][o + 1] = self.requant.apply(c01, o + 1);
                out[1][o] = self.requant.apply(c10, o);
                out[1][o + 1] = self.requant.apply(c11, o + 1);
                o += 2;
            }
        } else {
            while o + 2 <= m {
                let b = [self.bias.i32_at(o), self.bias.i32_at(o + 1)];
                let [c0, c1] = unsafe {
                    dot_1x2(
                        rows[0].as_ptr(),
                        [wp.add(o * k), wp.add((o + 1) * k)],
                        k,
                        self.offset,
                        b,
                    )
                };
                out[0][o] = self.requant.apply(c0, o);
                out[0][o + 1] = self.requant.apply(c1, o + 1);
                o += 2;
            }
        }
        if o < m {
            for (row, dst) in rows.iter().zip(out.iter_mut()) {
                let acc = unsafe {
                    dot_1x1(row.as_ptr(), wp.add(o * k), k, self.offset, self.bias.i32_at(o))
                };
                dst[o] = self.requant.apply(acc, o);
            }
        }
    }
}
