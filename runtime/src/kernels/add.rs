//! Elementwise addition of two same-shape tensors (residual connections), without the
//! reference kernel's general broadcasting index walk, using the 32-bit requantization.

use crate::ops::add::AddParams;
use crate::quant::requantize_nonneg;
use crate::tensor::{TensorMut, TensorRef};

#[cfg(mote_arm32_neon)]
mod armv7;

/// Whether [`eval_same_shape`] covers these operands.
pub fn covers(ins: &[TensorRef<'_>], outs: &[TensorMut<'_>]) -> bool {
    let y = outs[0].info.shape();
    ins[0].info.shape() == y && ins[1].info.shape() == y
}

/// Same contract and results as [`crate::ops::add::eval`] for operands [`covers`] accepts.
pub fn eval_same_shape(
    path: super::KernelPath,
    p: &AddParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let (a, b) = (&ins[0], &ins[1]);
    let (a_zp, b_zp) = (a.info.zero_point, b.info.zero_point);
    let y = &mut outs[0];
    let y_zp = y.info.zero_point;
    let ls = p.left_shift as u32;
    let (lo, hi) = (p.act_min as i32, p.act_max as i32);
    let finish = |ra: i32, rb: i32| {
        let v = requantize_nonneg(ra.saturating_add(rb), p.out.0, p.out.1).saturating_add(y_zp);
        v.clamp(lo, hi) as i8
    };
    let rescale_a = |v: i8| requantize_nonneg((v as i32 - a_zp) << ls, p.a.0, p.a.1);
    let rescale_b = |v: i8| requantize_nonneg((v as i32 - b_zp) << ls, p.b.0, p.b.1);
    let (ad, bd, yd) = (a.as_i8(), b.as_i8(), y.as_i8_mut());
    if let Some(done) = vector_prefix(path, p, (ad, a_zp), (bd, b_zp), y_zp, yd) {
        let (ad, bd, yd) = (&ad[done..], &bd[done..], &mut yd[done..]);
        for ((o, &va), &vb) in yd.iter_mut().zip(ad).zip(bd) {
            *o = finish(rescale_a(va), rescale_b(vb));
        }
        return;
    }
    if yd.len() < 1024 {
        for ((o, &va), &vb) in yd.iter_mut().zip(ad).zip(bd) {
            *o = finish(rescale_a(va), rescale_b(vb));
        }
        return;
    }
    // Each input's rescaling depends on its 256 possible values only: tabulate both (2 KiB of
    // stack) once instead of rescaling every element.
    let mut ta = [0i32; 256];
    let mut tb = [0i32; 256];
    for v in i8::MIN..=i8::MAX {
        ta[(v as u8) as usize] = rescale_a(v);
        tb[(v as u8) as usize] = rescale_b(v);
    }
    for ((o, &va), &vb) in yd.iter_mut().zip(ad).zip(bd) {
        *o = finish(ta[(va as u8) as usize], tb[(vb as u8) as usize]);
    }
}

/// The vector kernel of `path`, if it has one: the leading elements it wrote (the caller
/// finishes the rest with the scalar form), else `None`.
fn vector_prefix(
    path: super::KernelPath,
    p: &AddParams,
    a: (&[i8], i32),
    b: (&[i8], i32),
    y_zp: i32,
    y: &mut [i8],
) -> Option<usize> {
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        // SAFETY: NEON is part of every AArch64 core.
        return Some(unsafe { neon::same_shape(p, a, b, y_zp, y) });
    }
    #[cfg(target_arch = "x86_64")]
    if path == super::KernelPath::Avx512 {
        // SAFETY: the AVX-512 path is only selected on CPUs that have it.
        return Some(unsafe { avx512::same_shape(p, a, b, y_zp, y) });
    }
    #[cfg(target_arch = "x86_64")]
    if path.has_avx2() {
        // SAFETY: the AVX2 path is only selected on CPUs that have it.
        return Some(unsafe { avx2::same_shape(p, a, b, y_zp, y) });
    }
    #[cfg(mote_arm32_neon)]
    if path == super::KernelPath::Neon {
        // SAFETY: the build targets NEON.
        return Some(unsafe { armv7::same_shape(p, a, b, y_zp, y) });
    }
    let _ = (path, p, a, b, y_zp, y);
    None
}

/// NEON: sixteen elements a step; both rescalings and the output requantization are the
/// `SQSHL`/`SQRDMULH`/`SRSHL` sequence (equal to the scalar 32-bit form), the sum saturates like
/// the reference's `saturating_add`.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use crate::kernels::neon::{Requant16, Scale4};
    use core::arch::aarch64::*;

    /// Elements `0..returned` of `y` (a multiple of 16); the caller finishes the rest.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn same_shape(
        p: &AddParams,
        (a, za): (&[i8], i32),
        (b, zb): (&[i8], i32),
        y_zp: i32,
        y: &mut [i8],
    ) -> usize {
        let n = y.len().min(a.len()).min(b.len());
        let (sa, sb) = (Scale4::new(p.a), Scale4::new(p.b));
        let out = Requant16::uniform(p.out, y_zp, (p.act_min, p.act_max));
        let shift = vdupq_n_s32(p.left_shift as i32);
        // (v − zero point) << left_shift as four int32 vectors (|v − zp| ≤ 255, shift ≤ 20)
        let lanes = |v: int8x16_t, zp: int16x8_t| -> [int32x4_t; 4] {
            let lo = vsubq_s16(vmovl_s8(vget_low_s8(v)), zp);
            let hi = vsubq_s16(vmovl_high_s8(v), zp);
            [
                vshlq_s32(vmovl_s16(vget_low_s16(lo)), shift),
                vshlq_s32(vmovl_high_s16(lo), shift),
                vshlq_s32(vmovl_s16(vget_low_s16(hi)), shift),
                vshlq_s32(vmovl_high_s16(hi), shift),
            ]
        };
        let (vza, vzb) = (vdupq_n_s16(za as i16), vdupq_n_s16(zb as i16));
        let mut i = 0;
        while i + 16 <= n {
            let va = lanes(vld1q_s8(a.as_ptr().add(i)), vza);
            let vb = lanes(vld1q_s8(b.as_ptr().add(i)), vzb);
            let sum: [int32x4_t; 4] =
                core::array::from_fn(|q| vqaddq_s32(sa.apply(va[q]), sb.apply(vb[q])));
            vst1q_s8(y.as_mut_ptr().add(i), out.apply(sum));
            i += 16;
        }
        i
    }
}

/// AVX2: eight elements a step, the same arithmetic as the scalar form lane by lane.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::kernels::avx2::{narrow8, saturating_add32, Requant8};
    use core::arch::x86_64::*;

    /// Elements `0..returned` of `y` (a multiple of 8); the caller finishes the rest.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn same_shape(
        p: &AddParams,
        (a, za): (&[i8], i32),
        (b, zb): (&[i8], i32),
        y_zp: i32,
        y: &mut [i8],
    ) -> usize {
        let n = y.len().min(a.len()).min(b.len());
        let (lo, hi) = (p.act_min, p.act_max);
        let sa = Requant8::new([p.a.0; 8], [p.a.1; 8], 0, lo, hi);
        let sb = Requant8::new([p.b.0; 8], [p.b.1; 8], 0, lo, hi);
        let out = Requant8::new([p.out.0; 8], [p.out.1; 8], y_zp, lo, hi);
        let shift = _mm_cvtsi32_si128(p.left_shift as i32);
        let (vza, vzb) = (_mm256_set1_epi32(za), _mm256_set1_epi32(zb));
        let mut i = 0;
        while i + 8 <= n {
            let load = |src: *const i8, zp: __m256i| {
                let v = _mm256_cvtepi8_epi32(_mm_loadl_epi64(src as *const __m128i));
                _mm256_sll_epi32(_mm256_sub_epi32(v, zp), shift)
            };
            let ra = sa.rescale(load(a.as_ptr().add(i), vza));
            let rb = sb.rescale(load(b.as_ptr().add(i), vzb));
            let (lo4, hi4) = narrow8(out.apply(saturating_add32(ra, rb)));
            core::ptr::write_unaligned(y.as_mut_ptr().add(i) as *mut u32, lo4);
            core::ptr::write_unaligned(y.as_mut_ptr().add(i + 4) as *mut u32, hi4);
            i += 8;
        }
        i
    }
}

/// AVX-512 (`avx512` path): 64 elements a step (the last one masked, so every element is done
/// here), the AVX2 kernel's arithmetic on sixteen lanes per vector, requantized 64 at once.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use crate::kernels::avx512::{first_lanes, Requant16};
    use core::arch::x86_64::*;

    const STEP: usize = 64;

    /// Every element of `y` (returns its length).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn same_shape(
        p: &AddParams,
        (a, za): (&[i8], i32),
        (b, zb): (&[i8], i32),
        y_zp: i32,
        y: &mut [i8],
    ) -> usize {
        let n = y.len().min(a.len()).min(b.len());
        let (lo, hi) = (p.act_min, p.act_max);
        let (sa, sb, out) = (
            Requant16::uniform(p.a, 0, (lo, hi)),
            Requant16::uniform(p.b, 0, (lo, hi)),
            Requant16::uniform(p.out, y_zp, (lo, hi)),
        );
        let shift = _mm_cvtsi32_si128(p.left_shift as i32);
        let (vza, vzb) = (_mm512_set1_epi32(za), _mm512_set1_epi32(zb));
        let mut i = 0;
        while i < n {
            let mask: __mmask64 = first_lanes(n - i);
            let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
            // (not an array `map`: its closure would not get the target features)
            let sum = |q: usize| [pa, pb].map(|p| p.add(16 * q));
            let part = |q: usize| (mask >> (16 * q)) as __mmask16;
            let sums = [
                rescaled_sum((&sa, &sb), sum(0), part(0), (vza, vzb), shift),
                rescaled_sum((&sa, &sb), sum(1), part(1), (vza, vzb), shift),
                rescaled_sum((&sa, &sb), sum(2), part(2), (vza, vzb), shift),
                rescaled_sum((&sa, &sb), sum(3), part(3), (vza, vzb), shift),
            ];
            _mm512_mask_storeu_epi8(y.as_mut_ptr().add(i), mask, out.apply4(sums));
            i += STEP;
        }
        n
    }

    /// Sixteen lanes of the saturating sum of both inputs' rescaled offsets (bytes at `at`).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    unsafe fn rescaled_sum(
        (sa, sb): (&Requant16, &Requant16),
        at: [*const i8; 2],
        part: __mmask16,
        (za, zb): (__m512i, __m512i),
        shift: __m128i,
    ) -> __m512i {
        let ra = sa.rescale(offsets(at[0], part, za, shift));
        let rb = sb.rescale(offsets(at[1], part, zb, shift));
        saturating_add32(ra, rb)
    }

    /// `(v − zp) << shift` of the sixteen bytes at `src` that `part` selects (|v − zp| ≤ 255,
    /// shift ≤ 20: no overflow).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    unsafe fn offsets(src: *const i8, part: __mmask16, zp: __m512i, shift: __m128i) -> __m512i {
        let v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(part, src));
        _mm512_sll_epi32(_mm512_sub_epi32(v, zp), shift)
    }

    /// `a + b` per lane, saturating like `i32::saturating_add`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn saturating_add32(a: __m512i, b: __m512i) -> __m512i {
        let sum = _mm512_add_epi32(a, b);
        // overflow: both operands have the sign the sum lacks
        let both = _mm512_and_si512(_mm512_xor_si512(a, sum), _mm512_xor_si512(b, sum));
        let overflow = _mm512_cmplt_epi32_mask(both, _mm512_setzero_si512());
        let limit = _mm512_xor_si512(_mm512_srai_epi32::<31>(a), _mm512_set1_epi32(i32::MAX));
        _mm512_mask_blend_epi32(overflow, sum, limit)
    }
}
