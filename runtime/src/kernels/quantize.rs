//! f32 → int8 at a graph input (`Quantize`) on the vector paths: eight (AVX2) or sixteen (NEON)
//! values at a time through exactly the steps of [`crate::quant::quantize_f32`] — scale, NaN to
//! 0, bound to ±2^30, add 0.5 with the value's sign, truncate, add the zero point — and narrowed
//! with saturation, which is the int8 clamp. The network's input is the largest tensor of many
//! models (a 3×48×192 image: 27,648 values), where the compiler's loop spent 20 instructions per
//! four values on AArch64.

use crate::tensor::{TensorMut, TensorRef};

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::quant::QUANTIZE_BOUND as BOUND;

/// Same contract and results as [`crate::ops::quantize::eval`].
pub fn eval(path: super::KernelPath, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let _ = path;
    let (x, y) = (&ins[0], &mut outs[0]);
    let inv = 1.0f32 / y.info.scale;
    let zp = y.info.zero_point;
    // the zero point is added without saturation: exact while |t + zp| stays below 2^31
    let plain_add = (-(1 << 29)..1 << 29).contains(&zp);
    let n = (x.data.len() / 4).min(y.data.len());
    let done = 0;
    #[cfg(target_arch = "x86_64")]
    let done = if path.has_avx2() && plain_add {
        // SAFETY: the AVX2 paths are only selected on CPUs that have them.
        unsafe { avx2(&x.data[..4 * n], inv, zp, &mut y.data[..n]) }
    } else {
        done
    };
    #[cfg(target_arch = "aarch64")]
    let done = if plain_add
        && matches!(
            path,
            super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
        ) {
        // SAFETY: NEON is part of every AArch64 core.
        unsafe { neon(&x.data[..4 * n], inv, zp, &mut y.data[..n]) }
    } else {
        done
    };
    let _ = plain_add;
    for (o, v) in y.data[done..n]
        .iter_mut()
        .zip(x.data[4 * done..].chunks_exact(4))
    {
        let v = f32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
        *o = crate::quant::quantize_f32(v, inv, zp) as u8;
    }
}

/// Whole groups of 32 values; returns how many were done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(x: &[u8], inv: f32, zp: i32, y: &mut [u8]) -> usize {
    use core::arch::x86_64::*;
    let (scale, bound, half, sign) = (
        _mm256_set1_ps(inv),
        _mm256_set1_ps(BOUND),
        _mm256_set1_ps(0.5),
        _mm256_set1_ps(-0.0),
    );
    let zero_point = _mm256_set1_epi32(zp);
    // a function with the target feature (a closure would not have it: its intrinsics would
    // be calls)
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn one(at: *const u8, [scale, bound, half, sign, zero_point]: [__m256; 5]) -> __m256i {
        let v = _mm256_mul_ps(_mm256_loadu_ps(at as *const f32), scale);
        let v = _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
        let v = _mm256_min_ps(_mm256_max_ps(v, _mm256_xor_ps(bound, sign)), bound);
        // ±0.5 by the sign bit: −0.0 takes −0.5 where the reference adds 0.5; both truncate to 0
        let r = _mm256_add_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), half));
        _mm256_add_epi32(_mm256_cvttps_epi32(r), _mm256_castps_si256(zero_point))
    }
    let k = [scale, bound, half, sign, _mm256_castsi256_ps(zero_point)];
    let n = y.len() / 32 * 32;
    let mut i = 0;
    while i < n {
        let p = x.as_ptr().add(4 * i);
        let [a, b, c, d] = [
            one(p, k),
            one(p.add(32), k),
            one(p.add(64), k),
            one(p.add(96), k),
        ];
        // the packs work per 128-bit half: values end up in the order 0 2 4 6 1 3 5 7 (by
        // four), which the permutation undoes
        let words = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        let bytes = _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(y.as_mut_ptr().add(i) as *mut __m256i, bytes);
        i += 32;
    }
    n
}

/// Whole groups of 16 values; returns how many were done.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn neon(x: &[u8], inv: f32, zp: i32, y: &mut [u8]) -> usize {
    use core::arch::aarch64::*;
    let (bound, half, sign) = (
        vdupq_n_f32(BOUND),
        vdupq_n_f32(0.5),
        vdupq_n_u32(0x8000_0000),
    );
    let zero_point = vdupq_n_s32(zp);
    let one = |v: float32x4_t| {
        let v = vmulq_n_f32(v, inv);
        let v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vceqq_f32(v, v)));
        let v = vminq_f32(vmaxq_f32(v, vnegq_f32(bound)), bound);
        // ±0.5 by the sign bit: −0.0 takes −0.5 where the reference adds 0.5; both truncate to 0
        let r = vaddq_f32(v, vbslq_f32(sign, v, half));
        vaddq_s32(vcvtq_s32_f32(r), zero_point)
    };
    let n = y.len() / 16 * 16;
    let mut i = 0;
    while i < n {
        let v = vld1q_f32_x4(x.as_ptr().add(4 * i) as *const f32);
        let (a, b, c, d) = (one(v.0), one(v.1), one(v.2), one(v.3));
        let low = vqmovn_high_s32(vqmovn_s32(a), b);
        let high = vqmovn_high_s32(vqmovn_s32(c), d);
        vst1q_s8(
            y.as_mut_ptr().add(i) as *mut i8,
            vqmovn_high_s16(vqmovn_s16(low), high),
        );
        i += 16;
    }
    n
}
