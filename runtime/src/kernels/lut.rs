//! 256-entry table lookup (`Lut` ops: hard-swish, sigmoid, … precomputed by the quantizer) on
//! the optimised paths. AArch64 looks up sixteen bytes with one `TBL` and three `TBX` over the
//! four 64-byte quarters of the table; AVX2 with sixteen `VPSHUFB`s per 32 bytes, AVX-512 with
//! two `VPERMI2B`s per 64; 32-bit NEON with `VTBL`/`VTBX` over eight 32-byte chunks (`armv7`);
//! other paths run the reference loop.

use crate::tensor::{TensorMut, TensorRef};

#[cfg(mote_arm32_neon)]
mod armv7;

/// Same contract and results as [`crate::ops::lut::eval`].
pub fn eval(
    path: super::KernelPath,
    table: &[u8],
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let _ = path;
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        if let Ok(table) = <&[u8; 256]>::try_from(table) {
            // SAFETY: NEON is part of every AArch64 core.
            unsafe { neon(table, ins[0].data, outs[0].data) };
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if path == super::KernelPath::Avx512 {
        if let Ok(table) = <&[u8; 256]>::try_from(table) {
            // SAFETY: the AVX-512 path is only selected on CPUs with AVX-512 F, BW and VBMI.
            unsafe { avx512(table, ins[0].data, outs[0].data) };
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if path.has_avx2() {
        if let Ok(table) = <&[u8; 256]>::try_from(table) {
            // SAFETY: the AVX2 path is only selected on CPUs that have it.
            unsafe { avx2(table, ins[0].data, outs[0].data) };
            return;
        }
    }
    #[cfg(mote_arm32_neon)]
    if path == super::KernelPath::Neon {
        if let Ok(table) = <&[u8; 256]>::try_from(table) {
            // SAFETY: the build targets NEON.
            unsafe { armv7::lookup(table, ins[0].data, outs[0].data) };
            return;
        }
    }
    crate::ops::lut::eval(table, ins, outs)
}

/// AVX2: the table as sixteen 16-byte rows, each looked up by `VPSHUFB` with the low nibble
/// and kept only where the high nibble names the row: the index less 16 per row, plus `0x70`
/// with unsigned saturation, has its top bit clear (which `VPSHUFB` keeps) exactly in row
/// 0 and keeps the low nibble, so the rows' results are ORed together. Four single-cycle
/// instructions per row and no blends (a chain of blends through one register was a third
/// slower).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(table: &[u8; 256], x: &[u8], y: &mut [u8]) {
    use core::arch::x86_64::*;
    let rows: [__m256i; 16] = core::array::from_fn(|r| {
        _mm256_broadcastsi128_si256(_mm_loadu_si128(table.as_ptr().add(16 * r) as *const __m128i))
    });
    let (flip, row_step, keep) = (
        _mm256_set1_epi8(-128),
        _mm256_set1_epi8(16),
        _mm256_set1_epi8(0x70),
    );
    let n = x.len().min(y.len());
    let mut i = 0;
    while i + 32 <= n {
        // int8 value v sits at table index v + 128
        let mut idx = _mm256_xor_si256(
            _mm256_loadu_si256(x.as_ptr().add(i) as *const __m256i),
            flip,
        );
        let mut r = _mm256_setzero_si256();
        for &t in &rows {
            let pick = _mm256_adds_epu8(idx, keep);
            r = _mm256_or_si256(r, _mm256_shuffle_epi8(t, pick));
            idx = _mm256_sub_epi8(idx, row_step);
        }
        _mm256_storeu_si256(y.as_mut_ptr().add(i) as *mut __m256i, r);
        i += 32;
    }
    while i < n {
        y[i] = table[(x[i] ^ 0x80) as usize];
        i += 1;
    }
}

/// AVX-512 (VBMI): `VPERMI2B` looks up 64 bytes in 128 table entries (two registers), once
/// in each half of the table; the index's top bit picks the half. Three instructions per 64
/// bytes where AVX2 needs 64 per 32; the last partial vector by masked loads and stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn avx512(table: &[u8; 256], x: &[u8], y: &mut [u8]) {
    use core::arch::x86_64::*;
    let t = table.as_ptr() as *const i8;
    let quarters = [
        _mm512_loadu_epi8(t),
        _mm512_loadu_epi8(t.add(64)),
        _mm512_loadu_epi8(t.add(128)),
        _mm512_loadu_epi8(t.add(192)),
    ];
    // a function with the target features (a closure would not have them)
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn lookup(v: __m512i, quarters: &[__m512i; 4]) -> __m512i {
        // int8 value v sits at table index v + 128
        let idx = _mm512_xor_si512(v, _mm512_set1_epi8(-128));
        let low = _mm512_permutex2var_epi8(quarters[0], idx, quarters[1]);
        let high = _mm512_permutex2var_epi8(quarters[2], idx, quarters[3]);
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high)
    }
    let n = x.len().min(y.len());
    let (src, dst) = (x.as_ptr() as *const i8, y.as_mut_ptr() as *mut i8);
    let mut i = 0;
    while i + 64 <= n {
        _mm512_storeu_epi8(dst.add(i), lookup(_mm512_loadu_epi8(src.add(i)), &quarters));
        i += 64;
    }
    if i < n {
        let live: __mmask64 = (1u64 << (n - i)) - 1;
        let v = _mm512_maskz_loadu_epi8(live, src.add(i));
        _mm512_mask_storeu_epi8(dst.add(i), live, lookup(v, &quarters));
    }
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn neon(table: &[u8; 256], x: &[u8], y: &mut [u8]) {
    use core::arch::aarch64::*;
    let t = table.as_ptr();
    let quarters = [
        vld1q_u8_x4(t),
        vld1q_u8_x4(t.add(64)),
        vld1q_u8_x4(t.add(128)),
        vld1q_u8_x4(t.add(192)),
    ];
    let (flip, step) = (vdupq_n_u8(0x80), vdupq_n_u8(64));
    let n = x.len().min(y.len());
    let mut i = 0;
    while i + 16 <= n {
        // int8 value v sits at table index v + 128; indices past a quarter leave TBX lanes alone
        let idx = veorq_u8(vld1q_u8(x.as_ptr().add(i)), flip);
        let mut r = vqtbl4q_u8(quarters[0], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[1], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[2], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[3], idx);
        vst1q_u8(y.as_mut_ptr().add(i), r);
        i += 16;
    }
    while i < n {
        y[i] = table[(x[i] ^ 0x80) as usize];
        i += 1;
    }
}
