//! x86-64 AVX2 building blocks: requantization of eight lanes ([`Requant8`]), saturating adds and
//! narrowing (the matrix product itself is in [`super::gemm`]).

use core::arch::x86_64::*;

/// Eight lanes of [`crate::quant::requantize_nonneg`], output zero point and clamp, each lane
/// with its own multiplier and shift; bit-exact with the scalar form.
pub struct Requant8 {
    mult: __m256i,
    mult_odd: __m256i,
    left: __m256i,
    right: __m256i,
    right_m1: __m256i,
    round: __m256i,
    zp: __m256i,
    lo: __m256i,
    hi: __m256i,
    zp16: __m256i,
    lo8: __m256i,
    hi8: __m256i,
    any_left: bool,
}

impl Requant8 {
    /// Lanes' `(multiplier ≥ 0, shift)`, output zero point (int8 range) and clamp range.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn new(m: [i32; 8], s: [i32; 8], zp: i32, lo: i8, hi: i8) -> Requant8 {
        let left = s.map(|v| v.max(0));
        let right = s.map(|v| (-v).max(0));
        let ld = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr() as *const __m256i);
        Requant8 {
            mult: ld(&m),
            mult_odd: _mm256_shuffle_epi32::<0xF5>(ld(&m)),
            left: ld(&left),
            right: ld(&right),
            right_m1: ld(&right.map(|r| (r - 1).max(0))),
            round: ld(&right.map(|r| (r > 0) as i32)),
            zp: _mm256_set1_epi32(zp),
            lo: _mm256_set1_epi32(lo as i32),
            hi: _mm256_set1_epi32(hi as i32),
            zp16: _mm256_set1_epi16(zp as i16),
            lo8: _mm256_set1_epi8(lo),
            hi8: _mm256_set1_epi8(hi),
            any_left: left.iter().any(|&l| l > 0),
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
        let zero = _mm256_setzero_si256();
        let left = _mm256_max_epi32(shift, zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
        let one = _mm256_set1_epi32(1);
        Requant8 {
            mult,
            mult_odd: _mm256_shuffle_epi32::<0xF5>(mult),
            left,
            right,
            right_m1: _mm256_max_epi32(_mm256_sub_epi32(right, one), zero),
            round: _mm256_min_epi32(right, one),
            zp: _mm256_set1_epi32(zp),
            lo: _mm256_set1_epi32(lo as i32),
            hi: _mm256_set1_epi32(hi as i32),
            zp16: _mm256_set1_epi16(zp as i16),
            lo8: _mm256_set1_epi8(lo),
            hi8: _mm256_set1_epi8(hi),
            any_left: _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) != 0,
        }
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
        // (x·m + 2^30) >> 31 in 64 bits, even and odd lanes apart; fits 32 bits as m ≥ 0
        // (`VPMULDQ` multiplies the even lanes; the odd ones are moved down by a shuffle, and
        // their result moved up by a left shift of 1, which puts bits 31..63 in the top half)
        let half = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, self.mult), half);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_shuffle_epi32::<0xF5>(x), self.mult_odd),
            half,
        );
        let p = _mm256_blend_epi32::<0b1010_1010>(
            _mm256_srli_epi64::<31>(even),
            _mm256_slli_epi64::<1>(odd),
        );
        // rounding right shift: (p >> r) + bit r-1 of p
        let bit = _mm256_and_si256(_mm256_srav_epi32(p, self.right_m1), self.round);
        _mm256_add_epi32(_mm256_srav_epi32(p, self.right), bit)
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

/// Sixteen in-range int32 lanes (`a` then `b`, each −128..=127) as sixteen bytes in order.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
pub unsafe fn narrow16(a: __m256i, b: __m256i) -> __m128i {
    // packs works within 128-bit halves: [a0-3, b0-3 | a4-7, b4-7] → reorder the quads
    let words = _mm256_permute4x64_epi64::<0xD8>(_mm256_packs_epi32(a, b));
    _mm_packs_epi16(
        _mm256_castsi256_si128(words),
        _mm256_extracti128_si256::<1>(words),
    )
}
