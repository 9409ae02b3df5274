//! AArch64 NEON building blocks for three kernel paths.
//!
//! * `neon` (every AArch64 core): `SMULL`/`SMULL2` products of int8 pairs (|x·w| ≤ 2^14 fits an
//!   int16 lane) pair-added into int32 lanes by `SADALP`: 16 multiply-adds in four instructions.
//! * `dotprod` (Armv8.2 `SDOT`, e.g. Cortex-A76): four-way int8 dot products into int32 lanes,
//!   16 multiply-adds per instruction.
//! * `i8mm` (Armv8.6 `SMMLA`): a 2×8 by 8×2 int8 matrix product into a 2×2 int32 tile, 32
//!   multiply-adds per instruction.
//!
//! All three compute a 2-row × 4-channel tile of int32 sums (wrapping, like the reference
//! kernels), and [`RequantNeon`] requantizes four lanes with exactly the reference arithmetic:
//! `SQSHL` (saturating left shift), `SQRDMULH` (doubling high multiply, rounding half up),
//! `SRSHL` by a negative amount (rounding right shift, half up), `SQADD` of the zero point.
//! `SDOT` and `SMMLA` are written with `asm!` (their intrinsics are not stable).

use super::KernelPath;
use core::arch::aarch64::*;

/// `(row 0, row 1)` sums of rows `a`, `a + k` with weight rows `w + j·k`, j < 4.
///
/// # Safety
/// `a` must address `2k` readable bytes and `w` `4k`.
#[target_feature(enable = "neon")]
unsafe fn dot_2x4_neon(a: *const i8, w: *const i8, k: usize) -> (int32x4_t, int32x4_t) {
    let mut s = [vdupq_n_s32(0); 8];
    let mut i = 0;
    while i + 16 <= k {
        let (x0, x1) = (vld1q_s8(a.add(i)), vld1q_s8(a.add(k + i)));
        for j in 0..4 {
            let v = vld1q_s8(w.add(j * k + i));
            s[j] = vpadalq_s16(s[j], vmull_s8(vget_low_s8(x0), vget_low_s8(v)));
            s[j] = vpadalq_s16(s[j], vmull_high_s8(x0, v));
            s[4 + j] = vpadalq_s16(s[4 + j], vmull_s8(vget_low_s8(x1), vget_low_s8(v)));
            s[4 + j] = vpadalq_s16(s[4 + j], vmull_high_s8(x1, v));
        }
        i += 16;
    }
    if i + 8 <= k {
        let (x0, x1) = (vld1_s8(a.add(i)), vld1_s8(a.add(k + i)));
        for j in 0..4 {
            let v = vld1_s8(w.add(j * k + i));
            s[j] = vpadalq_s16(s[j], vmull_s8(x0, v));
            s[4 + j] = vpadalq_s16(s[4 + j], vmull_s8(x1, v));
        }
        i += 8;
    }
    finish_rows(s, a, w, i, k)
}

/// The `SDOT` tile.
///
/// # Safety
/// The CPU must have the dot-product extension; `a` must address `2k` bytes and `w` `4k`.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_2x4_dotprod(a: *const i8, w: *const i8, k: usize) -> (int32x4_t, int32x4_t) {
    let mut s = [vdupq_n_s32(0); 8];
    let mut i = 0;
    while i + 16 <= k {
        let (x0, x1) = (vld1q_s8(a.add(i)), vld1q_s8(a.add(k + i)));
        for j in 0..4 {
            let v = vld1q_s8(w.add(j * k + i));
            core::arch::asm!(
                "sdot {s0:v}.4s, {x0:v}.16b, {v:v}.16b",
                "sdot {s1:v}.4s, {x1:v}.16b, {v:v}.16b",
                s0 = inout(vreg) s[j], s1 = inout(vreg) s[4 + j],
                x0 = in(vreg) x0, x1 = in(vreg) x1, v = in(vreg) v,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        i += 16;
    }
    if i + 8 <= k {
        // 64-bit SDOT: two int32 lanes per row, the upper two stay as they are
        let (x0, x1) = (vld1_s8(a.add(i)), vld1_s8(a.add(k + i)));
        for j in 0..4 {
            let v = vld1_s8(w.add(j * k + i));
            let (mut t0, mut t1) = (vdup_n_s32(0), vdup_n_s32(0));
            core::arch::asm!(
                "sdot {t0:v}.2s, {x0:v}.8b, {v:v}.8b",
                "sdot {t1:v}.2s, {x1:v}.8b, {v:v}.8b",
                t0 = inout(vreg) t0, t1 = inout(vreg) t1,
                x0 = in(vreg) x0, x1 = in(vreg) x1, v = in(vreg) v,
                options(pure, nomem, nostack, preserves_flags),
            );
            s[j] = vaddq_s32(s[j], vcombine_s32(t0, vdup_n_s32(0)));
            s[4 + j] = vaddq_s32(s[4 + j], vcombine_s32(t1, vdup_n_s32(0)));
        }
        i += 8;
    }
    finish_rows(s, a, w, i, k)
}

/// The `SMMLA` tile: rows and weight rows interleaved by 8-byte halves into 2×8 operands.
///
/// # Safety
/// The CPU must have the int8 matrix-multiply extension; `a` must address `2k` bytes and `w` `4k`.
#[target_feature(enable = "neon,i8mm")]
unsafe fn dot_2x4_i8mm(a: *const i8, w: *const i8, k: usize) -> (int32x4_t, int32x4_t) {
    // acc01 = [r0·w0, r0·w1, r1·w0, r1·w1], acc23 likewise for w2, w3
    let (mut acc01, mut acc23) = (vdupq_n_s32(0), vdupq_n_s32(0));
    let pair = |p: *const i8, q: *const i8| {
        let (u, v) = (
            vreinterpretq_s64_s8(vld1q_s8(p)),
            vreinterpretq_s64_s8(vld1q_s8(q)),
        );
        (
            vreinterpretq_s8_s64(vzip1q_s64(u, v)),
            vreinterpretq_s8_s64(vzip2q_s64(u, v)),
        )
    };
    let mut i = 0;
    while i + 16 <= k {
        let (a_lo, a_hi) = pair(a.add(i), a.add(k + i));
        let (b01_lo, b01_hi) = pair(w.add(i), w.add(k + i));
        let (b23_lo, b23_hi) = pair(w.add(2 * k + i), w.add(3 * k + i));
        core::arch::asm!(
            "smmla {c01:v}.4s, {alo:v}.16b, {b01lo:v}.16b",
            "smmla {c23:v}.4s, {alo:v}.16b, {b23lo:v}.16b",
            "smmla {c01:v}.4s, {ahi:v}.16b, {b01hi:v}.16b",
            "smmla {c23:v}.4s, {ahi:v}.16b, {b23hi:v}.16b",
            c01 = inout(vreg) acc01, c23 = inout(vreg) acc23,
            alo = in(vreg) a_lo, ahi = in(vreg) a_hi,
            b01lo = in(vreg) b01_lo, b01hi = in(vreg) b01_hi,
            b23lo = in(vreg) b23_lo, b23hi = in(vreg) b23_hi,
            options(pure, nomem, nostack, preserves_flags),
        );
        i += 16;
    }
    if i + 8 <= k {
        let a8 = vcombine_s8(vld1_s8(a.add(i)), vld1_s8(a.add(k + i)));
        let b01 = vcombine_s8(vld1_s8(w.add(i)), vld1_s8(w.add(k + i)));
        let b23 = vcombine_s8(vld1_s8(w.add(2 * k + i)), vld1_s8(w.add(3 * k + i)));
        core::arch::asm!(
            "smmla {c01:v}.4s, {a:v}.16b, {b01:v}.16b",
            "smmla {c23:v}.4s, {a:v}.16b, {b23:v}.16b",
            c01 = inout(vreg) acc01, c23 = inout(vreg) acc23,
            a = in(vreg) a8, b01 = in(vreg) b01, b23 = in(vreg) b23,
            options(pure, nomem, nostack, preserves_flags),
        );
        i += 8;
    }
    let (r0, r1) = (
        vreinterpretq_s32_s64(vzip1q_s64(
            vreinterpretq_s64_s32(acc01),
            vreinterpretq_s64_s32(acc23),
        )),
        vreinterpretq_s32_s64(vzip2q_s64(
            vreinterpretq_s64_s32(acc01),
            vreinterpretq_s64_s32(acc23),
        )),
    );
    add_tail((r0, r1), a, w, i, k)
}

/// Reduce the eight per-(row, channel) accumulators to two rows of four sums, plus the tail.
#[inline(always)]
unsafe fn finish_rows(
    s: [int32x4_t; 8],
    a: *const i8,
    w: *const i8,
    from: usize,
    k: usize,
) -> (int32x4_t, int32x4_t) {
    let row = |s: &[int32x4_t]| vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
    add_tail((row(&s[..4]), row(&s[4..])), a, w, from, k)
}

/// Add the last `k - from` products of every (row, channel) pair.
#[inline(always)]
unsafe fn add_tail(
    rows: (int32x4_t, int32x4_t),
    a: *const i8,
    w: *const i8,
    from: usize,
    k: usize,
) -> (int32x4_t, int32x4_t) {
    if from == k {
        return rows;
    }
    let mut t = [0i32; 8];
    for (lane, v) in t.iter_mut().enumerate() {
        let (r, j) = (lane / 4, lane % 4);
        for q in from..k {
            *v = v.wrapping_add(*a.add(r * k + q) as i32 * *w.add(j * k + q) as i32);
        }
    }
    (
        vaddq_s32(rows.0, vld1q_s32(t.as_ptr())),
        vaddq_s32(rows.1, vld1q_s32(t.as_ptr().add(4))),
    )
}

/// Four lanes of requantization with per-lane (multiplier, shift), bit-exact with
/// [`crate::quant::requantize`] + saturating zero point + clamp.
#[derive(Clone, Copy)]
pub struct RequantNeon {
    mult: int32x4_t,
    left: int32x4_t,
    neg_right: int32x4_t,
    zp: int32x4_t,
    lo: int32x4_t,
    hi: int32x4_t,
}

impl RequantNeon {
    /// From four `(multiplier, shift)` entries of a `[channels, 2]` table (8 little-endian int32).
    ///
    /// # Safety
    /// `table` must address 32 readable bytes.
    #[target_feature(enable = "neon")]
    pub unsafe fn from_table(table: *const u8, zp: i32, lo: i8, hi: i8) -> RequantNeon {
        let t = vld2q_s32(table as *const i32); // de-interleave: .0 = multipliers, .1 = shifts
        let zero = vdupq_n_s32(0);
        RequantNeon {
            mult: t.0,
            left: vmaxq_s32(t.1, zero),
            neg_right: vminq_s32(t.1, zero),
            zp: vdupq_n_s32(zp),
            lo: vdupq_n_s32(lo as i32),
            hi: vdupq_n_s32(hi as i32),
        }
    }

    /// Requantize four accumulators (results in the clamp range).
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn apply(&self, acc: int32x4_t) -> int32x4_t {
        let x = vqshlq_s32(acc, self.left);
        let p = vqrdmulhq_s32(x, self.mult);
        let v = vqaddq_s32(vrshlq_s32(p, self.neg_right), self.zp);
        vminq_s32(vmaxq_s32(v, self.lo), self.hi)
    }
}

/// Sixteen channels' bias and requantization, applied to four vectors of int32 sums at once.
///
/// After `SQSHL`/`SQRDMULH`/`SRSHL` (as [`RequantNeon`]) the lanes narrow with saturation to
/// int16, take the zero point with a saturating int16 add, narrow with saturation to int8 and
/// are clamped there. Same bytes as the reference's int32 saturating add and clamp: a lane
/// that saturates in int16 (|v| ≥ 2^15) or in the add lies beyond the int8 range on the same
/// side either way, and |zero point| ≤ 128.
#[derive(Clone, Copy)]
pub struct Requant16 {
    bias: [int32x4_t; 4],
    mult: [int32x4_t; 4],
    left: [int32x4_t; 4],
    neg_right: [int32x4_t; 4],
    any_left: bool,
    zp: int16x8_t,
    lo: int8x16_t,
    hi: int8x16_t,
}

impl Requant16 {
    /// Sixteen channels' `(multiplier, shift)` entries (`table`, 128 bytes) and biases (`bias`,
    /// 64 bytes), output zero point (int8 range) and clamp range.
    ///
    /// # Safety
    /// `table` and `bias` must address 128 and 64 readable bytes.
    #[target_feature(enable = "neon")]
    pub unsafe fn from_table(
        table: *const u8,
        bias: *const u8,
        zp: i32,
        lo: i8,
        hi: i8,
    ) -> Requant16 {
        let t = [table, table.add(32), table.add(64), table.add(96)];
        let b = [bias, bias.add(16), bias.add(32), bias.add(48)];
        Requant16::from_table_parts(t, b, zp, lo, hi)
    }

    /// Lanes `4q..4q + 4` from `table[q]` (32 bytes) and `bias[q]` (16 bytes); vectors 2 and 3
    /// repeat 0 and 1 when only two parts are given.
    #[target_feature(enable = "neon")]
    unsafe fn from_table_parts<const N: usize>(
        table: [*const u8; N],
        bias: [*const u8; N],
        zp: i32,
        lo: i8,
        hi: i8,
    ) -> Requant16 {
        let zero = vdupq_n_s32(0);
        let t: [int32x4x2_t; 4] = core::array::from_fn(|q| vld2q_s32(table[q % N] as *const i32));
        let left = t.map(|v| vmaxq_s32(v.1, zero));
        Requant16 {
            bias: core::array::from_fn(|q| vld1q_s32(bias[q % N] as *const i32)),
            mult: t.map(|v| v.0),
            left,
            neg_right: t.map(|v| vminq_s32(v.1, zero)),
            any_left: left.iter().any(|&l| vmaxvq_s32(l) > 0),
            zp: vdupq_n_s16(zp as i16),
            lo: vdupq_n_s8(lo),
            hi: vdupq_n_s8(hi),
        }
    }

    /// The same `(multiplier ≥ 0, shift)` for all sixteen lanes, no bias.
    #[target_feature(enable = "neon")]
    pub unsafe fn uniform((m, s): (i32, i32), zp: i32, (lo, hi): (i8, i8)) -> Requant16 {
        let zero = vdupq_n_s32(0);
        let left = vdupq_n_s32(s.max(0));
        Requant16 {
            bias: [zero; 4],
            mult: [vdupq_n_s32(m); 4],
            left: [left; 4],
            neg_right: [vdupq_n_s32(s.min(0)); 4],
            any_left: s > 0,
            zp: vdupq_n_s16(zp as i16),
            lo: vdupq_n_s8(lo),
            hi: vdupq_n_s8(hi),
        }
    }

    /// Eight channels' entries (`table`, 64 bytes; `bias`, 32 bytes) for two pixels: lanes
    /// 0–7 and 8–15 are the same channels.
    ///
    /// # Safety
    /// `table` and `bias` must address 64 and 32 readable bytes.
    #[target_feature(enable = "neon")]
    pub unsafe fn repeat8(
        table: *const u8,
        bias: *const u8,
        zp: i32,
        (lo, hi): (i8, i8),
    ) -> Requant16 {
        let mut r =
            Requant16::from_table_parts([table, table.add(32)], [bias, bias.add(16)], zp, lo, hi);
        r.bias = [r.bias[0], r.bias[1], r.bias[0], r.bias[1]];
        r
    }

    /// The bias as starting sums.
    #[inline(always)]
    pub fn bias(&self) -> [int32x4_t; 4] {
        self.bias
    }

    /// Requantize sixteen sums (bias included) to sixteen int8 outputs.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn apply(&self, acc: [int32x4_t; 4]) -> int8x16_t {
        let mut v = acc;
        if self.any_left {
            for (vi, l) in v.iter_mut().zip(self.left) {
                *vi = vqshlq_s32(*vi, l);
            }
        }
        for q in 0..4 {
            v[q] = vrshlq_s32(vqrdmulhq_s32(v[q], self.mult[q]), self.neg_right[q]);
        }
        let w0 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(v[0]), v[1]), self.zp);
        let w1 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(v[2]), v[3]), self.zp);
        let b = vqmovn_high_s16(vqmovn_s16(w0), w1);
        vminq_s8(vmaxq_s8(b, self.lo), self.hi)
    }
}

/// One `(multiplier ≥ 0, shift)` for every lane: [`crate::quant::requantize_nonneg`] of four
/// int32 lanes without zero point or clamp (the rescaling steps of Add).
#[derive(Clone, Copy)]
pub struct Scale4 {
    mult: int32x4_t,
    left: int32x4_t,
    neg_right: int32x4_t,
}

impl Scale4 {
    /// Lanes all scaled by `(m, s)`.
    #[target_feature(enable = "neon")]
    pub unsafe fn new((m, s): (i32, i32)) -> Scale4 {
        Scale4 {
            mult: vdupq_n_s32(m),
            left: vdupq_n_s32(s.max(0)),
            neg_right: vdupq_n_s32(s.min(0)),
        }
    }

    /// Rescale four lanes.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn apply(&self, x: int32x4_t) -> int32x4_t {
        vrshlq_s32(
            vqrdmulhq_s32(vqshlq_s32(x, self.left), self.mult),
            self.neg_right,
        )
    }
}

/// Four in-range int32 lanes to four bytes.
#[inline(always)]
unsafe fn narrow4(v: int32x4_t) -> u32 {
    let b = vqmovn_s16(vcombine_s16(vqmovn_s32(v), vdup_n_s16(0)));
    vget_lane_u32::<0>(vreinterpret_u32_s8(b))
}

/// Rows (1 or 2, back to back) against weight rows in fours (see `avx2::rows_times_weights`);
/// returns how many channels it did. A single row uses the baseline instructions.
///
/// # Safety
/// `path` must be supported by the CPU; `rows` must address `n·k` bytes, `w` `m·k`, `bias`
/// `4m`, `table` `8m`, `out` `n·m` writable bytes; `n` is 1 or 2.
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows_times_weights(
    path: KernelPath,
    rows: *const i8,
    n: usize,
    w: *const i8,
    (m, k): (usize, usize),
    bias: *const u8,
    table: *const u8,
    (zp, lo, hi): (i32, i8, i8),
    out: *mut i8,
) -> usize {
    // a lone row is paired with itself: the tiles read rows `a` and `a + k`
    if n == 1 && k > 0 {
        let mut o = 0;
        while o + 4 <= m {
            let sums = one_row(rows, w.add(o * k), k);
            let requant = RequantNeon::from_table(table.add(8 * o), zp, lo, hi);
            let acc = vaddq_s32(sums, vld1q_s32(bias.add(4 * o) as *const i32));
            core::ptr::write_unaligned(out.add(o) as *mut u32, narrow4(requant.apply(acc)));
            o += 4;
        }
        return o;
    }
    let mut o = 0;
    while o + 4 <= m {
        let wo = w.add(o * k);
        let (r0, r1) = match path {
            KernelPath::I8mm => dot_2x4_i8mm(rows, wo, k),
            KernelPath::Dotprod => dot_2x4_dotprod(rows, wo, k),
            _ => dot_2x4_neon(rows, wo, k),
        };
        let requant = RequantNeon::from_table(table.add(8 * o), zp, lo, hi);
        let b = vld1q_s32(bias.add(4 * o) as *const i32);
        let y0 = narrow4(requant.apply(vaddq_s32(r0, b)));
        let y1 = narrow4(requant.apply(vaddq_s32(r1, b)));
        core::ptr::write_unaligned(out.add(o) as *mut u32, y0);
        core::ptr::write_unaligned(out.add(m + o) as *mut u32, y1);
        o += 4;
    }
    o
}

/// One row against four weight rows, on the baseline instructions.
#[target_feature(enable = "neon")]
unsafe fn one_row(a: *const i8, w: *const i8, k: usize) -> int32x4_t {
    let mut s = [vdupq_n_s32(0); 4];
    let mut i = 0;
    while i + 16 <= k {
        let x = vld1q_s8(a.add(i));
        for (j, sj) in s.iter_mut().enumerate() {
            let v = vld1q_s8(w.add(j * k + i));
            *sj = vpadalq_s16(*sj, vmull_s8(vget_low_s8(x), vget_low_s8(v)));
            *sj = vpadalq_s16(*sj, vmull_high_s8(x, v));
        }
        i += 16;
    }
    let mut r = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
    if i < k {
        let mut t = [0i32; 4];
        for (j, v) in t.iter_mut().enumerate() {
            for q in i..k {
                *v = v.wrapping_add(*a.add(q) as i32 * *w.add(j * k + q) as i32);
            }
        }
        r = vaddq_s32(r, vld1q_s32(t.as_ptr()));
    }
    r
}
