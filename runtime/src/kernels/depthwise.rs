//! Depthwise convolution (one filter per channel, `groups == C == Co`) on the optimised paths:
//! per output pixel, the valid tap window is computed once and each channel sums its taps with
//! plain loads and multiply-adds; padding taps add `x_zp · w` as the reference kernel's
//! padded reads do (the input zero point is folded into the bias).

use crate::ops::conv::ConvParams;
use crate::ops::ChannelRequant;
use crate::quant::requantize_nonneg;
use crate::tensor::{TensorInfo, TensorMut, TensorRef};

/// Whether [`eval`] covers this convolution (depthwise, channel multiplier 1).
pub fn covers(p: &ConvParams, x: &TensorInfo, w: &TensorInfo) -> bool {
    let c = x.dims[3];
    p.groups as u32 == c && w.dims[0] == c && w.dims[3] == 1
}

/// Same contract and results as [`crate::ops::conv::eval`] for convolutions [`covers`] accepts.
pub fn eval(
    path: super::KernelPath,
    p: &ConvParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let _ = path;
    #[cfg(target_arch = "x86_64")]
    if path == super::KernelPath::Avx2 {
        // SAFETY: the AVX2 path is only selected on CPUs that have it.
        let done = unsafe { avx2::eval(p, ins, outs) };
        if done {
            return;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        // SAFETY: NEON is part of every AArch64 core.
        let done = unsafe { neon::eval(p, ins, outs) };
        if done {
            return;
        }
    }
    eval_scalar(p, ins, outs)
}

fn eval_scalar(p: &ConvParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    eval_channels(p, ins, outs, 0)
}

/// The scalar kernel for channels `first..C`.
fn eval_channels(p: &ConvParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>], first: usize) {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (xd, wd) = (x.as_i8(), w.as_i8());
    let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
    let [kh, kw] = [w.info.dims[1] as usize, w.info.dims[2] as usize];
    let taps = kh * kw;
    let zp = x.info.zero_point;
    let y = &mut outs[0];
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let requant = ChannelRequant {
        table: rq,
        zero_point: y.info.zero_point,
        min: p.act_min,
        max: p.act_max,
    };
    let (lo, hi, y_zp) = (p.act_min as i32, p.act_max as i32, y.info.zero_point);
    let [sh, sw] = p.stride.map(|v| v as usize);
    let [dh, dw] = p.dilation.map(|v| v as usize);
    let (pt, pl) = (p.pad[0] as usize, p.pad[1] as usize);
    let yd = y.as_i8_mut();
    // Valid tap range along one axis for output coordinate `o`.
    let range = |o: usize, stride: usize, dil: usize, pad: usize, k: usize, size: usize| {
        let first = (0..k).find(|&t| (o * stride + t * dil).wrapping_sub(pad) < size);
        match first {
            None => (0, 0),
            Some(f) => {
                let last = (f..k)
                    .rev()
                    .find(|&t| (o * stride + t * dil).wrapping_sub(pad) < size);
                (f, last.map_or(f, |l| l + 1))
            }
        }
    };
    for b in 0..n {
        let image = &xd[b * h * wi * c..(b + 1) * h * wi * c];
        for oy in 0..oh {
            let (ky0, ky1) = range(oy, sh, dh, pt, kh, h);
            for ox in 0..ow {
                let (kx0, kx1) = range(ox, sw, dw, pl, kw, wi);
                let full = ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw;
                let out = &mut yd[((b * oh + oy) * ow + ox) * c..][..c];
                for (ch, dst) in out.iter_mut().enumerate().skip(first) {
                    let filt = &wd[ch * taps..(ch + 1) * taps];
                    let mut acc = bias.i32_at(ch);
                    if !full {
                        // padding taps read the zero point: add x_zp · w for all taps, then
                        // replace the valid ones' contribution below
                        let all: i32 = filt.iter().map(|&v| v as i32).sum();
                        let mut valid = 0i32;
                        for ky in ky0..ky1 {
                            let frow = &filt[ky * kw + kx0..ky * kw + kx1];
                            valid += frow.iter().map(|&v| v as i32).sum::<i32>();
                        }
                        acc = acc.wrapping_add(zp.wrapping_mul(all - valid));
                    }
                    for ky in ky0..ky1 {
                        let iy = oy * sh + ky * dh - pt;
                        let row = &image[(iy * wi) * c..(iy + 1) * wi * c];
                        let frow = &filt[ky * kw..(ky + 1) * kw];
                        for (kx, &wv) in frow.iter().enumerate().take(kx1).skip(kx0) {
                            let ix = ox * sw + kx * dw - pl;
                            acc = acc.wrapping_add(row[ix * c + ch] as i32 * wv as i32);
                        }
                    }
                    let (m, s) = requant.factors(ch);
                    let v = requantize_nonneg(acc, m, s).saturating_add(y_zp);
                    *dst = v.clamp(lo, hi) as i8;
                }
            }
        }
    }
}

/// AVX2: eight channels at a time, one tap after another (`VPMULLW` is exact: |x·w| ≤ 2^14),
/// requantized eight lanes at once; padding taps multiply the zero point, as the reference
/// kernel's padded reads do.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::kernels::avx2::{narrow8, Requant8};
    use core::arch::x86_64::*;

    /// Largest kernel (taps) handled here; larger ones run the scalar kernel.
    const MAX_TAPS: usize = 64;

    /// Returns `false` (nothing written) when the shape is not covered.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
        let [kh, kw] = [w.info.dims[1] as usize, w.info.dims[2] as usize];
        let taps = kh * kw;
        if taps > MAX_TAPS || c < 8 || bias.data.len() < 4 * c || rq.data.len() < 8 * c {
            return false;
        }
        let (xd, wd) = (x.as_i8(), w.as_i8());
        let y = &mut outs[0];
        let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
        let y_zp = y.info.zero_point;
        let [sh, sw] = p.stride.map(|v| v as usize);
        let [dh, dw] = p.dilation.map(|v| v as usize);
        let (pt, pl) = (p.pad[0] as usize, p.pad[1] as usize);
        let zp = _mm_set1_epi16(x.info.zero_point as i16);
        let yd = y.as_i8_mut();
        let mut filt = [_mm_setzero_si128(); MAX_TAPS];
        let blocks = c / 8;
        for cb in 0..blocks {
            let c0 = cb * 8;
            for (t, f) in filt.iter_mut().enumerate().take(taps) {
                let lane: [i16; 8] = core::array::from_fn(|j| wd[(c0 + j) * taps + t] as i16);
                *f = _mm_loadu_si128(lane.as_ptr() as *const __m128i);
            }
            let b = _mm256_loadu_si256(bias.data.as_ptr().add(4 * c0) as *const __m256i);
            let requant = Requant8::from_table(
                rq.data.as_ptr().add(8 * c0),
                false,
                y_zp,
                p.act_min,
                p.act_max,
            );
            for bi in 0..n {
                let image = &xd[bi * h * wi * c..(bi + 1) * h * wi * c];
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b;
                        let interior = oy * sh >= pt
                            && (oy * sh - pt) + (kh - 1) * dh < h
                            && ox * sw >= pl
                            && (ox * sw - pl) + (kw - 1) * dw < wi;
                        if interior {
                            // the whole window is inside: no per-tap bounds tests
                            let base = image
                                .as_ptr()
                                .add(((oy * sh - pt) * wi + (ox * sw - pl)) * c + c0);
                            for ky in 0..kh {
                                let row = base.add(ky * dh * wi * c);
                                for kx in 0..kw {
                                    let src = row.add(kx * dw * c);
                                    let xv =
                                        _mm_cvtepi8_epi16(_mm_loadl_epi64(src as *const __m128i));
                                    let prod = _mm_mullo_epi16(xv, filt[ky * kw + kx]);
                                    acc = _mm256_add_epi32(acc, _mm256_cvtepi16_epi32(prod));
                                }
                            }
                        } else {
                            for ky in 0..kh {
                                let iy = (oy * sh + ky * dh).wrapping_sub(pt);
                                for kx in 0..kw {
                                    let ix = (ox * sw + kx * dw).wrapping_sub(pl);
                                    let xv = if iy < h && ix < wi {
                                        let at = (iy * wi + ix) * c + c0;
                                        let src = &image[at..at + 8];
                                        _mm_cvtepi8_epi16(_mm_loadl_epi64(
                                            src.as_ptr() as *const __m128i
                                        ))
                                    } else {
                                        zp
                                    };
                                    let prod = _mm_mullo_epi16(xv, filt[ky * kw + kx]);
                                    acc = _mm256_add_epi32(acc, _mm256_cvtepi16_epi32(prod));
                                }
                            }
                        }
                        let (lo4, hi4) = narrow8(requant.apply(acc));
                        let at = ((bi * oh + oy) * ow + ox) * c + c0;
                        let out = &mut yd[at..at + 8];
                        core::ptr::write_unaligned(out.as_mut_ptr() as *mut u32, lo4);
                        core::ptr::write_unaligned(out.as_mut_ptr().add(4) as *mut u32, hi4);
                    }
                }
            }
        }
        if blocks * 8 < c {
            super::eval_channels(p, ins, outs, blocks * 8);
        }
        true
    }
}

/// NEON: eight channels at a time, one tap after another (`SMLAL`/`SMLAL2` of int16-widened
/// values into int32 lanes), requantized four lanes at a time; padding taps multiply the zero
/// point, as the reference kernel's padded reads do.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use crate::kernels::neon::RequantNeon;
    use core::arch::aarch64::*;

    /// Largest kernel (taps) handled here; larger ones run the scalar kernel.
    const MAX_TAPS: usize = 64;

    /// Channels `c0..c0 + 8·halves` (1 or 2 halves of eight) of every output pixel.
    #[target_feature(enable = "neon")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        y: &mut TensorMut<'_>,
        c0: usize,
        halves: usize,
        filt: &mut [[int16x8_t; MAX_TAPS]; 2],
    ) {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
        let [kh, kw] = [w.info.dims[1] as usize, w.info.dims[2] as usize];
        let taps = kh * kw;
        let (xd, wd) = (x.as_i8(), w.as_i8());
        let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
        let y_zp = y.info.zero_point;
        let [sh, sw] = p.stride.map(|v| v as usize);
        let [dh, dw] = p.dilation.map(|v| v as usize);
        let (pt, pl) = (p.pad[0] as usize, p.pad[1] as usize);
        let zp = vdupq_n_s16(x.info.zero_point as i16);
        for (half, f) in filt.iter_mut().enumerate().take(halves) {
            for (t, ft) in f.iter_mut().enumerate().take(taps) {
                let lane: [i16; 8] =
                    core::array::from_fn(|j| wd[(c0 + 8 * half + j) * taps + t] as i16);
                *ft = vld1q_s16(lane.as_ptr());
            }
        }
        let ld_bias = |q: usize| vld1q_s32(bias.data.as_ptr().add(4 * (c0 + 4 * q)) as *const i32);
        let b = [ld_bias(0), ld_bias(1), ld_bias(2), ld_bias(3)];
        let table = rq.data.as_ptr().add(8 * c0);
        let q: [RequantNeon; 4] = core::array::from_fn(|k| {
            RequantNeon::from_table(
                table.add(32 * k.min(2 * halves - 1)),
                y_zp,
                p.act_min,
                p.act_max,
            )
        });
        let yd = y.as_i8_mut();
        for bi in 0..n {
            let image = &xd[bi * h * wi * c..(bi + 1) * h * wi * c];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b;
                    let interior = oy * sh >= pt
                        && (oy * sh - pt) + (kh - 1) * dh < h
                        && ox * sw >= pl
                        && (ox * sw - pl) + (kw - 1) * dw < wi;
                    for ky in 0..kh {
                        let iy = (oy * sh + ky * dh).wrapping_sub(pt);
                        for kx in 0..kw {
                            let ix = (ox * sw + kx * dw).wrapping_sub(pl);
                            let inside = interior || (iy < h && ix < wi);
                            let src = if inside {
                                image.as_ptr().add((iy * wi + ix) * c + c0)
                            } else {
                                image.as_ptr()
                            };
                            let t = ky * kw + kx;
                            for half in 0..halves {
                                let xv = if inside {
                                    vmovl_s8(vld1_s8(src.add(8 * half)))
                                } else {
                                    zp
                                };
                                let f = filt[half][t];
                                acc[2 * half] =
                                    vmlal_s16(acc[2 * half], vget_low_s16(xv), vget_low_s16(f));
                                acc[2 * half + 1] = vmlal_high_s16(acc[2 * half + 1], xv, f);
                            }
                        }
                    }
                    let at = ((bi * oh + oy) * ow + ox) * c + c0;
                    for half in 0..halves {
                        let v = vcombine_s16(
                            vqmovn_s32(q[2 * half].apply(acc[2 * half])),
                            vqmovn_s32(q[2 * half + 1].apply(acc[2 * half + 1])),
                        );
                        vst1_s8(yd.as_mut_ptr().add(at + 8 * half), vqmovn_s16(v));
                    }
                }
            }
        }
    }

    /// Returns `false` (nothing written) when the shape is not covered.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let c = x.info.dims[3] as usize;
        let taps = (w.info.dims[1] * w.info.dims[2]) as usize;
        if taps > MAX_TAPS || c < 8 || bias.data.len() < 4 * c || rq.data.len() < 8 * c {
            return false;
        }
        let mut filt = [[vdupq_n_s16(0); MAX_TAPS]; 2];
        let mut c0 = 0;
        while c0 + 8 <= c {
            let halves = if c0 + 16 <= c { 2 } else { 1 };
            block(p, ins, &mut outs[0], c0, halves, &mut filt);
            c0 += 8 * halves;
        }
        if c0 < c {
            super::eval_channels(p, ins, outs, c0);
        }
        true
    }
}
