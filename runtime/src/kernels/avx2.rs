//! x86-64 AVX2 tiles for the blocked dot products: int8 rows widened to int16 by `VPMOVSXBW`
//! straight from memory, multiplied and pair-summed into int32 by `VPMADDWD` (16 products per
//! instruction; |x·w| ≤ 2^14, so a pair sum cannot overflow), accumulated with wrapping
//! `VPADDD` like the reference kernels' `wrapping_add`. A 2-row × 4-channel tile reuses each
//! widened activation four times and each widened weight twice.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

/// `[a0·w0, a0·w1, a0·w2, a0·w3, a1·w0, .., a1·w3]` + `acc`, rows `a`, `a + k` and weight rows
/// `w + j·k`.
///
/// # Safety
/// The CPU must support AVX2; `a` must address `2k` readable bytes and `w` `4k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn dot_2x4(a: *const i8, w: *const i8, k: usize, acc: [i32; 8]) -> [i32; 8] {
    let wide = |p: *const i8| _mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const __m128i));
    let mut s = [_mm256_setzero_si256(); 8];
    let mut i = 0;
    while i + 16 <= k {
        let x0 = wide(a.add(i));
        let x1 = wide(a.add(k + i));
        for j in 0..4 {
            let v = wide(w.add(j * k + i));
            s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(x0, v));
            s[4 + j] = _mm256_add_epi32(s[4 + j], _mm256_madd_epi16(x1, v));
        }
        i += 16;
    }
    let mut out = [0i32; 8];
    for (r, half) in out.chunks_exact_mut(4).enumerate() {
        let h01 = _mm256_hadd_epi32(s[4 * r], s[4 * r + 1]);
        let h23 = _mm256_hadd_epi32(s[4 * r + 2], s[4 * r + 3]);
        let h = _mm256_hadd_epi32(h01, h23);
        let sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        _mm_storeu_si128(half.as_mut_ptr() as *mut __m128i, sum);
    }
    for (r, row) in out.chunks_exact_mut(4).enumerate() {
        for (j, o) in row.iter_mut().enumerate() {
            let mut t = o.wrapping_add(acc[4 * r + j]);
            for q in i..k {
                t = t.wrapping_add(*a.add(r * k + q) as i32 * *w.add(j * k + q) as i32);
            }
            *o = t;
        }
    }
    out
}

/// One row times four weight rows: `[a·w0, .., a·w3]` + `acc`.
///
/// # Safety
/// The CPU must support AVX2; `a` must address `k` readable bytes and `w` `4k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn dot_1x4(a: *const i8, w: *const i8, k: usize, acc: [i32; 4]) -> [i32; 4] {
    let wide = |p: *const i8| _mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const __m128i));
    let mut s = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i + 16 <= k {
        let x = wide(a.add(i));
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = _mm256_add_epi32(*sj, _mm256_madd_epi16(x, wide(w.add(j * k + i))));
        }
        i += 16;
    }
    let h01 = _mm256_hadd_epi32(s[0], s[1]);
    let h23 = _mm256_hadd_epi32(s[2], s[3]);
    let h = _mm256_hadd_epi32(h01, h23);
    let sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let mut out = [0i32; 4];
    _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, sum);
    for (j, o) in out.iter_mut().enumerate() {
        let mut t = o.wrapping_add(acc[j]);
        for q in i..k {
            t = t.wrapping_add(*a.add(q) as i32 * *w.add(j * k + q) as i32);
        }
        *o = t;
    }
    out
}
