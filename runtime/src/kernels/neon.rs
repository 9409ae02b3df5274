//! AArch64 NEON building blocks: requantization with exactly the reference arithmetic —
//! `SQSHL` (saturating left shift), `SQRDMULH` (doubling high multiply, rounding half up),
//! `SRSHL` by a negative amount (rounding right shift, half up), `SQADD` of the zero point —
//! for four lanes ([`RequantNeon`]) or sixteen ([`Requant16`]), and rescaling ([`Scale4`]). The
//! matrix products of the three AArch64 paths are in [`super::gemm`].

use core::arch::aarch64::*;

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

    /// The bias as starting sums (sixteen lanes, in memory so that kernels can load them
    /// straight into their accumulators).
    #[inline(always)]
    pub fn bias(&self) -> &[int32x4_t; 4] {
        &self.bias
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

/// Sixteen accumulators in `v16`–`v31`, each run of four a copy of `sums`: four `LD1`s
/// instead of sixteen register moves. For kernels whose assembly keeps its accumulators in
/// those registers.
///
/// # Safety
/// NEON (every AArch64 core).
#[inline(always)]
pub(crate) unsafe fn splat_sums(sums: &[int32x4_t; 4]) -> [int32x4_t; 16] {
    let mut a = [vdupq_n_s32(0); 16];
    core::arch::asm!(
        "ld1 {{v16.4s, v17.4s, v18.4s, v19.4s}}, [{s}]",
        "ld1 {{v20.4s, v21.4s, v22.4s, v23.4s}}, [{s}]",
        "ld1 {{v24.4s, v25.4s, v26.4s, v27.4s}}, [{s}]",
        "ld1 {{v28.4s, v29.4s, v30.4s, v31.4s}}, [{s}]",
        s = in(reg) sums.as_ptr(),
        out("v16") a[0], out("v17") a[1], out("v18") a[2], out("v19") a[3],
        out("v20") a[4], out("v21") a[5], out("v22") a[6], out("v23") a[7],
        out("v24") a[8], out("v25") a[9], out("v26") a[10], out("v27") a[11],
        out("v28") a[12], out("v29") a[13], out("v30") a[14], out("v31") a[15],
        options(pure, readonly, nostack, preserves_flags),
    );
    a
}

/// Whether `weights` hold −128, outside the TFLite int8 weight range −127..=127 that kernels
/// summing two products in int16 rely on (such layers take their widening fallbacks).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn holds_min(weights: &[i8]) -> bool {
    let mut chunks = weights.chunks_exact(16);
    let mut low = vdupq_n_s8(0);
    for c in &mut chunks {
        low = vminq_s8(low, vld1q_s8(c.as_ptr()));
    }
    vminvq_s8(low) == i8::MIN || chunks.remainder().contains(&i8::MIN)
}
