//! Max and average pooling on the optimised paths: each window pixel's channels are read as one
//! contiguous run into per-channel accumulators (256 channels at a time), instead of the
//! reference kernel's per-channel walk over the window. Results are those of
//! [`crate::ops::pool`]: the same window clipping, padding rules, rounding and clamp.

use crate::ops::pool::PoolParams;
use crate::quant::{div_round_half_away, requantize};
use crate::tensor::{TensorMut, TensorRef};

const CHUNK: usize = 256;

/// Same contract and results as [`crate::ops::pool::eval_max`] (`max`) or
/// [`crate::ops::pool::eval_avg`].
pub fn eval(p: &PoolParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>], max: bool) {
    let x = &ins[0];
    let xd = x.as_i8();
    let zp = x.info.zero_point;
    let [n, h, w, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
    let y = &mut outs[0];
    let y_zp = y.info.zero_point;
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let yd = y.as_i8_mut();
    let [kh, kw] = p.kernel.map(|v| v as isize);
    let full = p.kernel[0] as i32 * p.kernel[1] as i32;
    let (lo, hi) = (p.act_min as i32, p.act_max as i32);
    let finish = |acc: i32, count: usize| -> i32 {
        if max {
            if count == 0 {
                -128
            } else {
                acc
            }
        } else if p.rescale != (0, 0) {
            // Σ (x - zp) over the valid pixels, as the reference sums it
            let centred = acc.wrapping_sub(zp.wrapping_mul(count as i32));
            requantize(centred, p.rescale.0, p.rescale.1).saturating_add(y_zp)
        } else if p.count_include_pad {
            div_round_half_away(acc + (full - count as i32) * zp, full)
        } else if count == 0 {
            zp
        } else {
            div_round_half_away(acc, count as i32)
        }
    };
    let mut acc = [0i32; CHUNK];
    let global = oh == 1 && ow == 1 && p.pad == [0; 4] && kh as usize == h && kw as usize == w;
    // (vector hosts only: the sixteen-lane loop costs microcontrollers code, not time)
    if cfg!(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        mote_arm32_neon
    )) && global
        && !max
        && c <= CHUNK
    {
        // global average pooling: sixteen channels at a time summed over every pixel in
        // registers (a fixed-size inner loop the compiler vectorises)
        for b in 0..n {
            let image = &xd[b * h * w * c..(b + 1) * h * w * c];
            sum_pixels(image, c, &mut acc[..c]);
            for (o, &a) in yd[b * c..(b + 1) * c].iter_mut().zip(acc.iter()) {
                *o = finish(a, h * w).clamp(lo, hi) as i8;
            }
        }
        return;
    }
    if max
        && cfg!(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            mote_arm32_neon
        ))
    {
        max_pool(p, (xd, [n, h, w, c]), (yd, [oh, ow]));
        return;
    }
    for b in 0..n {
        let image = &xd[b * h * w * c..(b + 1) * h * w * c];
        for oy in 0..oh {
            let y0 = oy as isize * p.stride[0] as isize - p.pad[0] as isize;
            let (ys, ye) = (
                y0.max(0) as usize,
                (y0 + kh).min(h as isize).max(0) as usize,
            );
            for ox in 0..ow {
                let x0 = ox as isize * p.stride[1] as isize - p.pad[1] as isize;
                let (xs, xe) = (
                    x0.max(0) as usize,
                    (x0 + kw).min(w as isize).max(0) as usize,
                );
                let count = ye.saturating_sub(ys) * xe.saturating_sub(xs);
                let out = &mut yd[((b * oh + oy) * ow + ox) * c..][..c];
                for c0 in (0..c).step_by(CHUNK) {
                    let len = CHUNK.min(c - c0);
                    let acc = &mut acc[..len];
                    acc.fill(if max { i32::MIN } else { 0 });
                    for iy in ys..ye {
                        for ix in xs..xe {
                            let at = (iy * w + ix) * c + c0;
                            let px = &image[at..at + len];
                            if max {
                                for (a, &v) in acc.iter_mut().zip(px) {
                                    *a = (*a).max(v as i32);
                                }
                            } else {
                                for (a, &v) in acc.iter_mut().zip(px) {
                                    *a += v as i32;
                                }
                            }
                        }
                    }
                    for (o, &a) in out[c0..c0 + len].iter_mut().zip(acc.iter()) {
                        *o = finish(a, count).clamp(lo, hi) as i8;
                    }
                }
            }
        }
    }
}

/// `acc[ch] = Σ image[px·c + ch]` over every pixel (`acc.len() == c`).
fn sum_pixels(image: &[i8], c: usize, acc: &mut [i32]) {
    let mut c0 = 0;
    while c0 + 16 <= c {
        acc[c0..c0 + 16].copy_from_slice(&sum16(image, c, c0));
        c0 += 16;
    }
    if c0 < c {
        acc[c0..].fill(0);
        for px in image.chunks_exact(c) {
            for (s, &x) in acc[c0..].iter_mut().zip(&px[c0..]) {
                *s += x as i32;
            }
        }
    }
}

/// Σ over the pixels of channels `c0 .. c0 + 16` (`c0 + 16 ≤ c`): int16 sums of up to 256
/// pixels (within −32768..=32512), widened per run, one widening add per eight channels and
/// pixel instead of two.
#[cfg(not(target_arch = "aarch64"))]
fn sum16(image: &[i8], c: usize, c0: usize) -> [i32; 16] {
    let mut a = [0i32; 16];
    for run in image.chunks(256 * c) {
        let mut short = [0i16; 16];
        for px in run.chunks_exact(c) {
            let v: &[i8; 16] = px[c0..c0 + 16].try_into().expect("16 channels");
            for (s, &x) in short.iter_mut().zip(v) {
                *s = s.wrapping_add(x as i16);
            }
        }
        for (s, &x) in a.iter_mut().zip(&short) {
            *s += x as i32;
        }
    }
    a
}

/// [`sum16`] with `SADDW`/`SADDW2`.
#[cfg(target_arch = "aarch64")]
fn sum16(image: &[i8], c: usize, c0: usize) -> [i32; 16] {
    // SAFETY: NEON is part of every AArch64 core
    unsafe { neon::sum16(image, c, c0) }
}

/// Max pooling straight in int8: each output pixel's channels start at the first valid window
/// pixel and take the elementwise maximum of the others (a loop the compiler vectorises), then
/// the clamp; an empty window gives −128, as in the reference.
fn max_pool(
    p: &PoolParams,
    (x, [n, h, w, c]): (&[i8], [usize; 4]),
    (y, [oh, ow]): (&mut [i8], [usize; 2]),
) {
    let (lo, hi) = (p.act_min, p.act_max);
    let [kh, kw] = p.kernel.map(|v| v as usize);
    let [sh, sw] = p.stride.map(|v| v as usize);
    let (pt, pl) = (p.pad[0] as usize, p.pad[1] as usize);
    // valid window range along one axis: input coordinates o·stride − pad + 0..k inside 0..size
    let span = |o: usize, stride: usize, pad: usize, k: usize, size: usize| {
        let start = o * stride;
        (
            start.saturating_sub(pad).min(size),
            (start + k).saturating_sub(pad).min(size),
        )
    };
    for b in 0..n {
        let image = &x[b * h * w * c..(b + 1) * h * w * c];
        for oy in 0..oh {
            let (ys, ye) = span(oy, sh, pt, kh, h);
            for ox in 0..ow {
                let (xs, xe) = span(ox, sw, pl, kw, w);
                let out = &mut y[((b * oh + oy) * ow + ox) * c..][..c];
                out.fill(i8::MIN);
                for iy in ys..ye {
                    for ix in xs..xe {
                        let px = &image[(iy * w + ix) * c..][..c];
                        for (o, &v) in out.iter_mut().zip(px) {
                            *o = (*o).max(v);
                        }
                    }
                }
                for o in out.iter_mut() {
                    *o = (*o).clamp(lo, hi);
                }
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use core::arch::aarch64::*;

    /// `super::sum16` by `SADDW`/`SADDW2`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn sum16(image: &[i8], c: usize, c0: usize) -> [i32; 16] {
        let mut a = [vdupq_n_s32(0); 4];
        for run in image.chunks(256 * c) {
            let (mut lo, mut hi) = (vdupq_n_s16(0), vdupq_n_s16(0));
            for px in run.chunks_exact(c) {
                let v = vld1q_s8(px[c0..c0 + 16].as_ptr());
                lo = vaddw_s8(lo, vget_low_s8(v));
                hi = vaddw_high_s8(hi, v);
            }
            a[0] = vaddw_s16(a[0], vget_low_s16(lo));
            a[1] = vaddw_high_s16(a[1], lo);
            a[2] = vaddw_s16(a[2], vget_low_s16(hi));
            a[3] = vaddw_high_s16(a[3], hi);
        }
        core::mem::transmute::<[int32x4_t; 4], [i32; 16]>(a)
    }
}
