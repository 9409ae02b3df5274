//! x86-64 AVX2 building blocks: requantization of eight lanes ([`Requant8`]), saturating adds and
//! narrowing (the matrix product itself is in [`super::gemm`]).

use core::arch::x86_64::*;

/// Eight lanes of [`crate::quant::requantize_nonneg`], output zero point and clamp, each lane
/// with its own multiplier and shift; bit-exact with the scalar form.
pub struct Requant8 {
    pub(super) mult: __m256i,
    pub(super) mult_odd: __m256i,
    pub(super) left: __m256i,
    /// Per 64-bit lane (even int32 lanes), what [`Requant8::rescale`] adds to the product and
    /// how far it then shifts; `odd_*` for the odd lanes, which shift less so that the result
    /// lands in the upper half (and for `r = 0` left by one: `odd_left`).
    pub(super) even_add: __m256i,
    pub(super) even_shift: __m256i,
    pub(super) odd_add: __m256i,
    pub(super) odd_shift: __m256i,
    pub(super) odd_left: __m256i,
    /// `2^(31 − r)` per int32 lane, the offset's trace in the shifted result.
    pub(super) offset: __m256i,
    pub(super) any_unshifted: bool,
    pub(super) zp: __m256i,
    pub(super) lo: __m256i,
    pub(super) hi: __m256i,
    pub(super) zp16: __m256i,
    pub(super) lo8: __m256i,
    pub(super) hi8: __m256i,
    pub(super) any_left: bool,
}

impl Requant8 {
    /// Lanes' `(multiplier ≥ 0, shift)`, output zero point (int8 range) and clamp range.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn new(m: [i32; 8], s: [i32; 8], zp: i32, lo: i8, hi: i8) -> Requant8 {
        let ld = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr() as *const __m256i);
        Requant8::from_vectors(ld(&m), ld(&s), zp, lo, hi)
    }

    /// From multipliers and shifts as vectors.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn from_vectors(mult: __m256i, shift: __m256i, zp: i32, lo: i8, hi: i8) -> Requant8 {
        let zero = _mm256_setzero_si256();
        let one = _mm256_set1_epi32(1);
        let left = _mm256_max_epi32(shift, zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
        // 2^62 (keeps the sum positive for the logical shifts) + 2^30 (the doubling high
        // multiply's rounding) + 2^(30 + r) for r > 0 (the right shift's rounding)
        let add = |r: __m256i| {
            let base = _mm256_set1_epi64x((1 << 62) + (1 << 30));
            let round = _mm256_sllv_epi64(_mm256_set1_epi64x(1 << 30), r);
            let shifted = _mm256_cmpgt_epi64(r, _mm256_setzero_si256());
            _mm256_add_epi64(base, _mm256_and_si256(round, shifted))
        };
        // int32 lanes 0, 2, 4, 6 and 1, 3, 5, 7 as 64-bit lanes (values ≥ 0)
        let even = |v: __m256i| _mm256_and_si256(v, _mm256_set1_epi64x(0xFFFF_FFFF));
        let odd = |v: __m256i| _mm256_srli_epi64::<32>(v);
        let unshifted = _mm256_cmpeq_epi32(right, zero);
        Requant8 {
            mult,
            mult_odd: _mm256_shuffle_epi32::<0xF5>(mult),
            left,
            even_add: add(even(right)),
            even_shift: _mm256_add_epi64(even(right), _mm256_set1_epi64x(31)),
            odd_add: add(odd(right)),
            odd_shift: odd(_mm256_max_epi32(_mm256_sub_epi32(right, one), zero)),
            odd_left: odd(_mm256_and_si256(unshifted, one)),
            offset: _mm256_sllv_epi32(one, _mm256_sub_epi32(_mm256_set1_epi32(31), right)),
            any_unshifted: _mm256_movemask_epi8(unshifted) != 0,
            zp: _mm256_set1_epi32(zp),
            lo: _mm256_set1_epi32(lo as i32),
            hi: _mm256_set1_epi32(hi as i32),
            zp16: _mm256_set1_epi16(zp as i16),
            lo8: _mm256_set1_epi8(lo),
            hi8: _mm256_set1_epi8(hi),
            any_left: _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) != 0,
        }
    }

    /// Lanes from a `[channels, 2]` (multiplier, shift) table: channels `0..8` of eight
    /// entries (16 int32) at `table`.
    ///
    /// # Safety
    /// The CPU must support AVX2; `table` must address 64 readable bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn from_table(table: *const u8, zp: i32, lo: i8, hi: i8) -> Requant8 {
        let even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let t0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(table as *const __m256i), even);
        let t1 =
            _mm256_permutevar8x32_epi32(_mm256_loadu_si256(table.add(32) as *const __m256i), even);
        let (mult, shift) = (
            _mm256_permute2x128_si256::<0x20>(t0, t1),
            _mm256_permute2x128_si256::<0x31>(t0, t1),
        );
        Requant8::from_vectors(mult, shift, zp, lo, hi)
    }

    /// Requantize eight accumulators; the results lie in the clamp range.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn apply(&self, acc: __m256i) -> __m256i {
        let v = self.rescale(acc);
        // Bound before adding the zero point so the sum cannot wrap: any |v| ≥ 2^30 clamps
        // to the same end of the int8 range as the scalar saturating add would.
        let bound = _mm256_set1_epi32(1 << 30);
        let v = _mm256_min_epi32(
            _mm256_max_epi32(v, _mm256_sub_epi32(_mm256_setzero_si256(), bound)),
            bound,
        );
        let v = _mm256_add_epi32(v, self.zp);
        _mm256_min_epi32(_mm256_max_epi32(v, self.lo), self.hi)
    }

    /// Requantize four vectors of the same eight channels (say four pixels) to 32 bytes in
    /// order (`acc[0]`'s eight, then `acc[1]`'s, …). The rescaled lanes narrow with
    /// saturation to int16, take the zero point with a saturating int16 add, narrow with
    /// saturation to int8 and are clamped there: the same bytes as the reference's int32
    /// saturating add and clamp, since a lane that saturates lies beyond the int8 range on the
    /// same side either way (|zero point| ≤ 128).
    ///
    /// # Safety
    /// The CPU must support AVX2; the zero point must lie in the int8 range.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn apply4(&self, acc: [__m256i; 4]) -> __m256i {
        let r = [
            self.rescale(acc[0]),
            self.rescale(acc[1]),
            self.rescale(acc[2]),
            self.rescale(acc[3]),
        ];
        let w01 = _mm256_adds_epi16(_mm256_packs_epi32(r[0], r[1]), self.zp16);
        let w23 = _mm256_adds_epi16(_mm256_packs_epi32(r[2], r[3]), self.zp16);
        // dwords now hold [r0 0-3, r1 0-3, r2 0-3, r3 0-3 | r0 4-7, r1 4-7, r2 4-7, r3 4-7]
        let b = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(w01, w23),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
        );
        _mm256_min_epi8(_mm256_max_epi8(b, self.lo8), self.hi8)
    }

    /// Requantize sixteen channels of one pixel, `a` (this requantization's eight channels)
    /// then `b` (`high`'s), to sixteen bytes in order, narrowing before the zero point is added
    /// as [`Requant8::apply4`] does (the zero point and clamp are this one's).
    ///
    /// # Safety
    /// The CPU must support AVX2; the zero point must lie in the int8 range.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn apply_pair(&self, high: &Requant8, a: __m256i, b: __m256i) -> __m128i {
        // words [a0-3, b0-3 | a4-7, b4-7]; the quadword permutation puts a's before b's
        let words =
            _mm256_permute4x64_epi64::<0xD8>(_mm256_packs_epi32(self.rescale(a), high.rescale(b)));
        let w = _mm256_adds_epi16(words, self.zp16);
        let bytes = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
        _mm_min_epi8(
            _mm_max_epi8(bytes, _mm256_castsi256_si128(self.lo8)),
            _mm256_castsi256_si128(self.hi8),
        )
    }

    /// [`crate::quant::requantize_nonneg`] of eight lanes: no zero point, no clamp.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn rescale(&self, acc: __m256i) -> __m256i {
        let mut x = acc;
        if self.any_left {
            // saturating left shift: keep the shifted value where shifting back restores it
            let shifted = _mm256_sllv_epi32(x, self.left);
            let exact = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, self.left), x);
            let sat = _mm256_xor_si256(_mm256_srai_epi32::<31>(x), _mm256_set1_epi32(i32::MAX));
            x = _mm256_blendv_epi8(sat, shifted, exact);
        }
        // The doubling high multiply and the rounding right shift by r in one 64-bit step:
        // floor((floor((x·m + 2^30) / 2^31) + 2^(r−1)) / 2^r) = floor((x·m + 2^30 + 2^(30+r))
        // / 2^(31+r)) for r ≥ 1 (the first floor drops less than 2^31 from a sum whose
        // multiples of 2^31 alone decide the second), both roundings half up as the reference
        // does them. 2^62 is added so that a logical shift serves (AVX2 has no 64-bit
        // arithmetic one): |x·m| < 2^62, and it leaves 2^(31−r), subtracted at the end. Odd
        // lanes shift by r − 1 (left by 1 for r = 0), which puts their result in the upper half.
        let even = _mm256_srlv_epi64(
            _mm256_add_epi64(_mm256_mul_epi32(x, self.mult), self.even_add),
            self.even_shift,
        );
        let mut odd = _mm256_srlv_epi64(
            _mm256_add_epi64(
                _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.mult_odd),
                self.odd_add,
            ),
            self.odd_shift,
        );
        if self.any_unshifted {
            odd = _mm256_sllv_epi64(odd, self.odd_left);
        }
        _mm256_sub_epi32(_mm256_blend_epi32::<0b1010_1010>(even, odd), self.offset)
    }
}

/// The low byte of each of eight in-range int32 lanes: lanes 0..4 and 4..8 as two words.
///
/// # Safety
/// The CPU must support AVX2; every lane must lie in −128..=127.
#[inline]
#[target_feature(enable = "avx2")]
pub unsafe fn narrow8(v: __m256i) -> (u32, u32) {
    let b = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
    (
        _mm_cvtsi128_si32(_mm256_castsi256_si128(b)) as u32,
        _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(b)) as u32,
    )
}

/// `a + b` per lane, saturating like `i32::saturating_add`.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
pub unsafe fn saturating_add32(a: __m256i, b: __m256i) -> __m256i {
    let sum = _mm256_add_epi32(a, b);
    // overflow: both operands have the sign the sum lacks
    let overflow = _mm256_andnot_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, sum));
    let limit = _mm256_xor_si256(_mm256_srai_epi32::<31>(a), _mm256_set1_epi32(i32::MAX));
    _mm256_blendv_ps(
        _mm256_castsi256_ps(sum),
        _mm256_castsi256_ps(limit),
        _mm256_castsi256_ps(overflow),
    )
    .to_int()
}

/// Reinterpret float lanes as integer lanes (after a `VBLENDVPS` on integer data).
trait ToInt {
    unsafe fn to_int(self) -> __m256i;
}

impl ToInt for __m256 {
    #[inline(always)]
    unsafe fn to_int(self) -> __m256i {
        _mm256_castps_si256(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{requantize_nonneg, MAX_SHIFT, MIN_SHIFT};

    /// Every shift, extreme and random accumulators and multipliers, lane by lane against the
    /// scalar definition (the kernel checks draw shifts from a narrower, realistic range).
    #[test]
    fn rescale_matches_the_scalar_form_at_the_extremes() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = crate::kernels::check::Rng::new(7);
        let accs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -1,
            0,
            1,
            1 << 30,
            i32::MAX - 1,
            i32::MAX,
        ];
        let mults = [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX - 1, i32::MAX];
        for round in 0..400 {
            let pick = |rng: &mut crate::kernels::check::Rng, from: &[i32]| {
                if rng.int(0, 1) == 0 {
                    from[rng.int(0, from.len() as i32 - 1) as usize]
                } else {
                    rng.next_u64() as i32
                }
            };
            let m: [i32; 8] = core::array::from_fn(|_| pick(&mut rng, &mults).max(0));
            let s: [i32; 8] = core::array::from_fn(|i| {
                if round < 62 && i == 0 {
                    MIN_SHIFT + round
                } else {
                    rng.int(MIN_SHIFT, MAX_SHIFT)
                }
            });
            let x: [i32; 8] = core::array::from_fn(|_| pick(&mut rng, &accs));
            let mut got = [0i32; 8];
            // SAFETY: AVX2 detected above.
            unsafe {
                let r = Requant8::new(m, s, 0, -128, 127);
                let v = r.rescale(_mm256_loadu_si256(x.as_ptr() as *const __m256i));
                _mm256_storeu_si256(got.as_mut_ptr() as *mut __m256i, v);
            }
            for i in 0..8 {
                assert_eq!(
                    got[i],
                    requantize_nonneg(x[i], m[i], s[i]),
                    "acc {} multiplier {} shift {}",
                    x[i],
                    m[i],
                    s[i]
                );
            }
        }
    }
}
