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
pub fn eval(
    path: super::KernelPath,
    p: &PoolParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    max: bool,
) {
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
            sum_pixels(path, image, c, &mut acc[..c]);
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
fn sum_pixels(path: super::KernelPath, image: &[i8], c: usize, acc: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if path.has_avx2() {
        // SAFETY: the AVX2 paths are only selected on CPUs that have it.
        return unsafe { avx2::sum_pixels(image, c, acc) };
    }
    let _ = path;
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

/// AVX2: sixteen channels at a time, int16 sums of up to 256 pixels in a register, widened per
/// run. A channel count that is not a multiple of 16 reads past a pixel's channels into the
/// next pixel's (those lanes are dropped); the last pixels, whose reads would pass the end of
/// the image, are added one by one.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sum_pixels(image: &[i8], c: usize, acc: &mut [i32]) {
        let pixels = image.len() / c;
        let last_chunk = (c - 1) / 16 * 16;
        let over = last_chunk + 16 - c;
        // pixels whose every 16-byte read ends inside the image
        let vector = pixels.saturating_sub(over.div_ceil(c));
        let base = image.as_ptr();
        let mut c0 = 0;
        while c0 < c {
            let (mut low, mut high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut px = 0;
            while px < vector {
                let end = vector.min(px + 256);
                let mut short = _mm256_setzero_si256();
                while px < end {
                    let v = _mm_loadu_si128(base.add(px * c + c0) as *const __m128i);
                    short = _mm256_add_epi16(short, _mm256_cvtepi8_epi16(v));
                    px += 1;
                }
                low = _mm256_add_epi32(low, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(short)));
                high = _mm256_add_epi32(
                    high,
                    _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(short)),
                );
            }
            let mut lanes = [0i32; 16];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, low);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(8) as *mut __m256i, high);
            let live = (c - c0).min(16);
            acc[c0..c0 + live].copy_from_slice(&lanes[..live]);
            c0 += 16;
        }
        for px in image.chunks_exact(c).skip(vector) {
            for (s, &x) in acc.iter_mut().zip(px) {
                *s += x as i32;
            }
        }
    }
}
