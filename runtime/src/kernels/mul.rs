//! Elementwise multiplication on the optimised paths for the shapes models use: same shape, and
//! one operand broadcast along the last (channel) axis only, as in squeeze-and-excitation
//! gates (`[N, H, W, C] · [1, 1, 1, C]`). Results are those of [`crate::ops::mul::eval`].

use crate::ops::mul::MulParams;
use crate::quant::requantize_nonneg;
use crate::tensor::{TensorMut, TensorRef};

#[cfg(mote_arm32_neon)]
mod armv7;

/// How the operands line up with the output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Both have the output's shape.
    Same,
    /// Input `full` has the output's shape; the other is `[C]` (with leading ones) repeated.
    PerChannel { full: usize },
}

fn layout(ins: &[TensorRef<'_>], outs: &[TensorMut<'_>]) -> Option<Layout> {
    let y = outs[0].info.shape();
    let (a, b) = (ins[0].info.shape(), ins[1].info.shape());
    if a == y && b == y {
        return Some(Layout::Same);
    }
    let c = *y.last()?;
    let per_channel = |t: &[u32]| t.last() == Some(&c) && t.iter().rev().skip(1).all(|&d| d == 1);
    if a == y && per_channel(b) {
        Some(Layout::PerChannel { full: 0 })
    } else if b == y && per_channel(a) {
        Some(Layout::PerChannel { full: 1 })
    } else {
        None
    }
}

/// Whether [`eval`] covers these operands.
pub fn covers(ins: &[TensorRef<'_>], outs: &[TensorMut<'_>]) -> bool {
    layout(ins, outs).is_some()
}

/// Same contract and results as [`crate::ops::mul::eval`] for operands [`covers`] accepts.
pub fn eval(
    path: super::KernelPath,
    p: &MulParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let _ = path;
    let Some(layout) = layout(ins, outs) else {
        return crate::ops::mul::eval(p, ins, outs);
    };
    let y = &mut outs[0];
    let y_zp = y.info.zero_point;
    let yd = y.as_i8_mut();
    match layout {
        Layout::Same => {
            let (a, b) = (&ins[0], &ins[1]);
            let (za, zb) = (a.info.zero_point, b.info.zero_point);
            for ((o, &va), &vb) in yd.iter_mut().zip(a.as_i8()).zip(b.as_i8()) {
                *o = product_byte(p, (va, za), (vb, zb), y_zp);
            }
        }
        Layout::PerChannel { full } => {
            let (x, g) = (&ins[full], &ins[1 - full]);
            let (zx, zg) = (x.info.zero_point, g.info.zero_point);
            let gate = g.as_i8();
            let c = gate.len();
            #[cfg(target_arch = "x86_64")]
            if path == super::KernelPath::Avx512 && c <= avx512::MAX_GATE {
                // SAFETY: the AVX-512 path is only selected on CPUs that have it.
                unsafe { avx512::per_channel(p, (x.as_i8(), zx), (gate, zg), y_zp, yd) };
                return;
            }
            #[cfg(target_arch = "x86_64")]
            if path.has_avx2() {
                // SAFETY: the AVX2 path is only selected on CPUs that have it.
                unsafe { avx2::per_channel(p, x.as_i8(), zx, gate, zg, y_zp, yd) };
                return;
            }
            #[cfg(target_arch = "aarch64")]
            if matches!(
                path,
                super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
            ) && c <= neon::MAX_GATE
            {
                // SAFETY: NEON is part of every AArch64 core.
                unsafe { neon::per_channel(p, (x.as_i8(), zx), (gate, zg), y_zp, yd) };
                return;
            }
            #[cfg(mote_arm32_neon)]
            if path == super::KernelPath::Neon
                // SAFETY: the build targets NEON.
                && unsafe { armv7::per_channel(p, (x.as_i8(), zx), (gate, zg), y_zp, yd) }
            {
                return;
            }
            for (orow, xrow) in yd.chunks_exact_mut(c).zip(x.as_i8().chunks_exact(c)) {
                for ((o, &vx), &vg) in orow.iter_mut().zip(xrow).zip(gate) {
                    // the product commutes, so operand order does not change the result
                    *o = product_byte(p, (vx, zx), (vg, zg), y_zp);
                }
            }
        }
    }
}

/// `(x − zx)·(g − zg)` requantized by `p.out`, plus the output zero point, clamped: one output
/// byte with the reference's arithmetic (the elements the vector loops leave).
fn product_byte(p: &MulParams, (x, zx): (i8, i32), (g, zg): (i8, i32), y_zp: i32) -> i8 {
    let prod = (x as i32 - zx) * (g as i32 - zg);
    let v = requantize_nonneg(prod, p.out.0, p.out.1).saturating_add(y_zp);
    v.clamp(p.act_min as i32, p.act_max as i32) as i8
}

/// AVX2: eight products a step (`VPMULLD`; |product| ≤ 2^16), requantized eight at once.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::kernels::avx2::{narrow8, Requant8};
    use core::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn per_channel(
        p: &MulParams,
        x: &[i8],
        zx: i32,
        gate: &[i8],
        zg: i32,
        y_zp: i32,
        y: &mut [i8],
    ) {
        let c = gate.len();
        let (m, s) = p.out;
        let requant = Requant8::new([m; 8], [s; 8], y_zp, p.act_min, p.act_max);
        let (vzx, vzg) = (_mm256_set1_epi32(zx), _mm256_set1_epi32(zg));
        let load8 = |p: *const i8| _mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i));
        for (orow, xrow) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            let mut i = 0;
            while i + 32 <= c {
                // four vectors of eight products requantized and narrowed together
                let prod = |j: usize| {
                    let xv = _mm256_sub_epi32(load8(xrow.as_ptr().add(i + 8 * j)), vzx);
                    let gv = _mm256_sub_epi32(load8(gate.as_ptr().add(i + 8 * j)), vzg);
                    _mm256_mullo_epi32(xv, gv)
                };
                let bytes = requant.apply4([prod(0), prod(1), prod(2), prod(3)]);
                _mm256_storeu_si256(orow.as_mut_ptr().add(i) as *mut __m256i, bytes);
                i += 32;
            }
            while i + 8 <= c {
                let xv = _mm256_sub_epi32(load8(xrow.as_ptr().add(i)), vzx);
                let gv = _mm256_sub_epi32(load8(gate.as_ptr().add(i)), vzg);
                let (lo4, hi4) = narrow8(requant.apply(_mm256_mullo_epi32(xv, gv)));
                core::ptr::write_unaligned(orow.as_mut_ptr().add(i) as *mut u32, lo4);
                core::ptr::write_unaligned(orow.as_mut_ptr().add(i + 4) as *mut u32, hi4);
                i += 8;
            }
            for j in i..c {
                orow[j] = product_byte(p, (xrow[j], zx), (gate[j], zg), y_zp);
            }
        }
    }
}

/// AVX-512 (`avx512` path): the tensor as one stream, 64 elements a step (the last one
/// masked), so the channel count does not matter: each step's gates are read from the gate
/// repeated to `c + 64` entries, at the step's first channel. The products come from one
/// `VPMADDWD` of the int32 offsets `x − zx` with the gate offsets `g − zg` zero-extended from
/// int16 (each lane's high word then contributes nothing; both offsets lie within ±255), and
/// are requantized 64 at once.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use crate::kernels::avx512::{first_lanes, Requant16};
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    /// Longest gate repeated on the stack; longer ones take the AVX2 kernel.
    pub(super) const MAX_GATE: usize = 2048;
    const STEP: usize = 64;

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn per_channel(
        p: &MulParams,
        (x, zx): (&[i8], i32),
        (gate, zg): (&[i8], i32),
        y_zp: i32,
        y: &mut [i8],
    ) {
        let c = gate.len();
        if c == 0 {
            return;
        }
        let mut repeated: MaybeUninit<[i32; MAX_GATE + STEP]> = MaybeUninit::uninit();
        let repeated = repeated.as_mut_ptr() as *mut i32;
        for j in 0..c + STEP {
            let offset = gate[j % c] as i32 - zg;
            repeated.add(j).write(offset as u16 as i32);
        }
        let requant = Requant16::uniform(p.out, y_zp, (p.act_min, p.act_max));
        let vzx = _mm512_set1_epi32(zx);
        let n = y.len().min(x.len());
        // channel of the step's first element; each step moves it on by 64 mod c
        let (mut channel, advance) = (0, STEP % c);
        let mut i = 0;
        while i < n {
            let mask: __mmask64 = first_lanes(n - i);
            let (xs, gs) = (x.as_ptr().add(i), repeated.add(channel));
            // (not an array `map`: its closure would not get the target features)
            let products = [
                product(xs, gs, mask as __mmask16, vzx),
                product(xs.add(16), gs.add(16), (mask >> 16) as __mmask16, vzx),
                product(xs.add(32), gs.add(32), (mask >> 32) as __mmask16, vzx),
                product(xs.add(48), gs.add(48), (mask >> 48) as __mmask16, vzx),
            ];
            let bytes = requant.apply4(products);
            _mm512_mask_storeu_epi8(y.as_mut_ptr().add(i), mask, bytes);
            channel += advance;
            if channel >= c {
                channel -= c;
            }
            i += STEP;
        }
    }

    /// Sixteen products of the bytes at `x` that `part` selects, less `zx`, with the gate
    /// offsets at `gate`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    unsafe fn product(x: *const i8, gate: *const i32, part: __mmask16, zx: __m512i) -> __m512i {
        let offsets = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(part, x)), zx);
        _mm512_madd_epi16(offsets, _mm512_loadu_si512(gate as *const __m512i))
    }
}

/// NEON: sixteen products a step (`SMULL` of int16 offsets; |product| ≤ 255²), requantized
/// sixteen at once.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use crate::kernels::neon::Requant16;
    use core::arch::aarch64::*;

    /// Longest gate widened on the stack; longer ones take the scalar loop.
    pub(super) const MAX_GATE: usize = 2048;

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn per_channel(
        p: &MulParams,
        (x, zx): (&[i8], i32),
        (gate, zg): (&[i8], i32),
        y_zp: i32,
        y: &mut [i8],
    ) {
        let c = gate.len();
        let out = Requant16::uniform(p.out, y_zp, (p.act_min, p.act_max));
        let (zx8, zx16) = (vdup_n_s8(zx as i8), vdupq_n_s8(zx as i8));
        // x − zx widened by `SSUBL`/`SSUBL2`, times the widened gate
        let product = |xv: int8x16_t, (g0, g1): (int16x8_t, int16x8_t)| {
            let x0 = vsubl_s8(vget_low_s8(xv), zx8);
            let x1 = vsubl_high_s8(xv, zx16);
            let prod = [
                vmull_s16(vget_low_s16(x0), vget_low_s16(g0)),
                vmull_high_s16(x0, g0),
                vmull_s16(vget_low_s16(x1), vget_low_s16(g1)),
                vmull_high_s16(x1, g1),
            ];
            out.apply(prod)
        };
        let scalar = |xv: i8, gv: i8| product_byte(p, (xv, zx), (gv, zg), y_zp);
        // the gate minus its zero point, widened once per op
        let mut widened = [0i16; MAX_GATE];
        for (w, &g) in widened.iter_mut().zip(gate) {
            *w = (g as i32 - zg) as i16;
        }
        let gate16 = |i: usize| {
            let g = widened.as_ptr().add(i);
            (vld1q_s16(g), vld1q_s16(g.add(8)))
        };
        let n = y.len().min(x.len());
        if c < 16 && 16 % c == 0 {
            // a few channels (an early squeeze-and-excitation block's eight): sixteen elements
            // span whole rows, so the gate repeats within one vector
            let pattern: [i16; 16] = core::array::from_fn(|i| widened[i % c]);
            let gv = (
                vld1q_s16(pattern.as_ptr()),
                vld1q_s16(pattern.as_ptr().add(8)),
            );
            let mut i = 0;
            while i + 16 <= n {
                vst1q_s8(
                    y.as_mut_ptr().add(i),
                    product(vld1q_s8(x.as_ptr().add(i)), gv),
                );
                i += 16;
            }
            for j in i..n {
                y[j] = scalar(x[j], gate[j % c]);
            }
            return;
        }
        for (orow, xrow) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            let step = |i: usize| product(vld1q_s8(xrow.as_ptr().add(i)), gate16(i));
            let mut i = 0;
            while i + 16 <= c {
                vst1q_s8(orow.as_mut_ptr().add(i), step(i));
                i += 16;
            }
            if i < c && c >= 16 {
                // the last sixteen channels again (overlap written with equal values)
                vst1q_s8(orow.as_mut_ptr().add(c - 16), step(c - 16));
                i = c;
            }
            for j in i..c {
                orow[j] = scalar(xrow[j], gate[j]);
            }
        }
    }
}
