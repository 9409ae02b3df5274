//! x86-64 AVX-512 building blocks: requantization of sixteen lanes ([`Requant16`]), the
//! `avx512` path's 512-bit form of [`super::avx2::Requant8`].

use super::avx2::Requant8;
use core::arch::x86_64::*;

/// Sixteen lanes of [`crate::quant::requantize_nonneg`], output zero point and clamp: the
/// same steps as [`Requant8`] (whose constants it joins, so there is one derivation of them)
/// on 512-bit vectors, with mask blends and the AVX-512 narrowing instructions.
pub struct Requant16 {
    mult: __m512i,
    mult_odd: __m512i,
    left: __m512i,
    even_add: __m512i,
    even_shift: __m512i,
    odd_add: __m512i,
    odd_shift: __m512i,
    odd_left: __m512i,
    zp16: __m512i,
    lo8: __m512i,
    hi8: __m512i,
    any_unshifted: bool,
    any_left: bool,
}

impl Requant16 {
    /// Lanes 0..8 from `low`, 8..16 from `high`; the zero point and clamp are `low`'s.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    pub unsafe fn join(low: &Requant8, high: &Requant8) -> Requant16 {
        // (functions, not closures: a closure would not get the target feature)
        #[target_feature(enable = "avx2,avx512f")]
        unsafe fn cat(a: __m256i, b: __m256i) -> __m512i {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
        }
        #[target_feature(enable = "avx2,avx512f")]
        unsafe fn both(a: __m256i) -> __m512i {
            cat(a, a)
        }
        // AVX-512 has the arithmetic 64-bit shift: no 2^62 offset (nor its trace to remove)
        let offset = _mm512_set1_epi64(1 << 62);
        Requant16 {
            mult: cat(low.mult, high.mult),
            mult_odd: cat(low.mult_odd, high.mult_odd),
            left: cat(low.left, high.left),
            even_add: _mm512_sub_epi64(cat(low.even_add, high.even_add), offset),
            even_shift: cat(low.even_shift, high.even_shift),
            odd_add: _mm512_sub_epi64(cat(low.odd_add, high.odd_add), offset),
            odd_shift: cat(low.odd_shift, high.odd_shift),
            odd_left: cat(low.odd_left, high.odd_left),
            zp16: both(low.zp16),
            lo8: both(low.lo8),
            hi8: both(low.hi8),
            any_unshifted: low.any_unshifted || high.any_unshifted,
            any_left: low.any_left || high.any_left,
        }
    }

    /// One `(multiplier, shift)` for every lane (elementwise ops), output zero point and clamp.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    pub unsafe fn uniform((m, s): (i32, i32), zp: i32, (lo, hi): (i8, i8)) -> Requant16 {
        let eight = Requant8::new([m; 8], [s; 8], zp, lo, hi);
        Requant16::join(&eight, &eight)
    }

    /// [`crate::quant::requantize_nonneg`] of sixteen lanes: no zero point, no clamp
    /// ([`Requant8::rescale`]'s steps and reasoning, with arithmetic shifts of the signed
    /// 64-bit sums instead of the offset and logical shifts).
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    pub unsafe fn rescale(&self, acc: __m512i) -> __m512i {
        let mut x = acc;
        if self.any_left {
            let shifted = _mm512_sllv_epi32(x, self.left);
            let exact = _mm512_cmpeq_epi32_mask(_mm512_srav_epi32(shifted, self.left), x);
            let sat = _mm512_xor_si512(_mm512_srai_epi32::<31>(x), _mm512_set1_epi32(i32::MAX));
            x = _mm512_mask_blend_epi32(exact, sat, shifted);
        }
        let even = _mm512_srav_epi64(
            _mm512_add_epi64(_mm512_mul_epi32(x, self.mult), self.even_add),
            self.even_shift,
        );
        let mut odd = _mm512_srav_epi64(
            _mm512_add_epi64(
                _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.mult_odd),
                self.odd_add,
            ),
            self.odd_shift,
        );
        if self.any_unshifted {
            odd = _mm512_sllv_epi64(odd, self.odd_left);
        }
        _mm512_mask_blend_epi32(0xAAAA, even, odd)
    }

    /// Requantize four vectors of the same sixteen channels (say four pixels) to 64 bytes in
    /// order (`acc[0]`'s sixteen, then `acc[1]`'s, …), narrowing before the zero point as
    /// [`Requant8::apply4`] does (the same bytes as the reference, for the same reason).
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW; the zero point must lie in the int8 range.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    pub unsafe fn apply4(&self, acc: [__m512i; 4]) -> __m512i {
        let r = [
            self.rescale(acc[0]),
            self.rescale(acc[1]),
            self.rescale(acc[2]),
            self.rescale(acc[3]),
        ];
        let w01 = _mm512_adds_epi16(_mm512_packs_epi32(r[0], r[1]), self.zp16);
        let w23 = _mm512_adds_epi16(_mm512_packs_epi32(r[2], r[3]), self.zp16);
        // 128-bit lane l holds channels 4l .. 4l + 4 of acc[0], [1], [2], [3] (a dword each):
        // a 4 × 4 transposition of dwords puts each vector's sixteen in one lane
        let b = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
            _mm512_packs_epi16(w01, w23),
        );
        _mm512_min_epi8(_mm512_max_epi8(b, self.lo8), self.hi8)
    }

    /// Requantize one vector of sixteen channels to sixteen bytes.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW and VL; the zero point must lie in the int8 range.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub unsafe fn apply(&self, acc: __m512i) -> __m128i {
        let words = _mm512_cvtsepi32_epi16(self.rescale(acc));
        let w = _mm256_adds_epi16(words, _mm512_castsi512_si256(self.zp16));
        let bytes = _mm256_cvtsepi16_epi8(w);
        _mm_min_epi8(
            _mm_max_epi8(bytes, _mm512_castsi512_si128(self.lo8)),
            _mm512_castsi512_si128(self.hi8),
        )
    }
}

/// The mask of the first `n` byte lanes of a 512-bit vector (all 64 for `n ≥ 64`): the
/// masked last step of a stream, or a short row.
#[inline]
pub fn first_lanes(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{requantize_to_i8, MAX_SHIFT, MIN_SHIFT};

    fn supported() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
    }

    /// Every shift, extreme and random accumulators, multipliers, zero points and clamps,
    /// byte by byte against the scalar definition, through both narrowing forms.
    #[test]
    fn requantization_matches_the_scalar_form() {
        if !supported() {
            return;
        }
        let mut rng = crate::kernels::check::Rng::new(11);
        let accs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -1,
            0,
            1,
            1 << 30,
            i32::MAX,
        ];
        let mults = [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX];
        for round in 0..400 {
            let pick = |rng: &mut crate::kernels::check::Rng, from: &[i32]| {
                if rng.int(0, 1) == 0 {
                    from[rng.int(0, from.len() as i32 - 1) as usize]
                } else {
                    rng.next_u64() as i32
                }
            };
            let m: [i32; 16] = core::array::from_fn(|_| pick(&mut rng, &mults).max(0));
            let s: [i32; 16] = core::array::from_fn(|i| {
                if round < 62 && i == round as usize % 16 {
                    MIN_SHIFT + round
                } else if round % 3 == 0 && i < 8 {
                    // only the high half shifts left (the joined flags must say so)
                    rng.int(MIN_SHIFT, 0)
                } else {
                    rng.int(MIN_SHIFT, MAX_SHIFT)
                }
            });
            let zp = rng.int(-128, 127);
            let (a, b) = (rng.int(-128, 127) as i8, rng.int(-128, 127) as i8);
            let (lo, hi) = (a.min(b), a.max(b));
            let x: [[i32; 16]; 4] =
                core::array::from_fn(|_| core::array::from_fn(|_| pick(&mut rng, &accs)));
            let (mut four, mut one) = ([0i8; 64], [0i8; 16]);
            // SAFETY: the features were detected above.
            unsafe {
                let half = |from: usize| {
                    let m8: [i32; 8] = core::array::from_fn(|i| m[from + i]);
                    let s8: [i32; 8] = core::array::from_fn(|i| s[from + i]);
                    Requant8::new(m8, s8, zp, lo, hi)
                };
                let r = Requant16::join(&half(0), &half(8));
                let v = x.map(|lanes| _mm512_loadu_si512(lanes.as_ptr() as *const __m512i));
                _mm512_storeu_si512(four.as_mut_ptr() as *mut __m512i, r.apply4(v));
                _mm_storeu_si128(one.as_mut_ptr() as *mut __m128i, r.apply(v[2]));
            }
            for (p, lanes) in x.iter().enumerate() {
                for i in 0..16 {
                    let want = requantize_to_i8(lanes[i], m[i], s[i], zp, lo, hi);
                    let why = format!("acc {} mult {} shift {} zp {zp}", lanes[i], m[i], s[i]);
                    assert_eq!(four[16 * p + i], want, "apply4: {why}");
                    if p == 2 {
                        assert_eq!(one[i], want, "apply: {why}");
                    }
                }
            }
        }
    }
}
