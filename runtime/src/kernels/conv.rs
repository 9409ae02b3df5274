//! Convolution on the optimised paths (DSP, AVX2): im2col of two output pixels at a time into the op's scratch,
//! then `RowBlock` against every output channel.
//!
//! A 1×1 convolution without padding reads its input rows in place (no copy). Padded taps are
//! filled with the input zero point, which the activation offset turns into exactly 0, as the
//! reference kernel's skipped taps. Grouped and depthwise convolutions run the reference kernel.

use super::dot::RowBlock;
use crate::ops::conv::ConvParams;
use crate::ops::ChannelRequant;
use crate::tensor::{TensorInfo, TensorMut, TensorRef};

/// Scratch bytes [`eval`] needs: two im2col rows, unless the convolution reads its input in
/// place (1×1, no padding) or is grouped (reference kernel).
pub fn scratch_size(p: &ConvParams, x: &TensorInfo, w: &TensorInfo) -> usize {
    if p.groups != 1 || reads_in_place(p, w) {
        return 0;
    }
    let _ = x;
    2 * (w.dims[1] as usize * w.dims[2] as usize * w.dims[3] as usize)
}

/// A 1×1 convolution with stride 1 and no padding reads consecutive pixels, already back to back.
fn reads_in_place(p: &ConvParams, w: &TensorInfo) -> bool {
    w.dims[1] == 1 && w.dims[2] == 1 && p.pad == [0; 4] && p.stride == [1, 1]
}

/// Whether [`eval`] covers this convolution with the scratch it was given.
pub fn covers(p: &ConvParams, x: &TensorInfo, w: &TensorInfo, scratch_len: usize) -> bool {
    p.groups == 1 && scratch_len >= scratch_size(p, x, w)
}

/// Same contract and results as [`crate::ops::conv::eval`], for convolutions [`covers`] accepts.
pub fn eval(
    path: super::KernelPath,
    p: &ConvParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    scratch: &mut [u8],
) {
    let _ = path; // only the vector paths' matrix product distinguishes paths
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let xd = x.as_i8();
    let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
    let [co, kh, kw, _] = [0, 1, 2, 3].map(|i| w.info.dims[i] as usize);
    let k = kh * kw * c;
    let y = &mut outs[0];
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let requant = ChannelRequant {
        table: rq,
        zero_point: y.info.zero_point,
        min: p.act_min,
        max: p.act_max,
    };
    let block = RowBlock {
        w: w.as_i8(),
        m: co,
        k,
        bias,
        requant: &requant,
    };
    let geometry = Geometry {
        h,
        w: wi,
        c,
        kh,
        kw,
        stride: p.stride.map(|v| v as usize),
        dilation: p.dilation.map(|v| v as usize),
        pad: [p.pad[0] as usize, p.pad[1] as usize],
        ow,
        zero: x.info.zero_point as i8,
    };
    let in_place = reads_in_place(p, &w.info);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
    {
        let shape = super::gemm::GemmShape {
            images: n,
            pixels: oh * ow,
            co,
            k,
        };
        let clamp = (p.act_min, p.act_max);
        if super::gemm::eval(path, ins, outs, (&geometry, in_place), shape, clamp) {
            return;
        }
    }
    let y = &mut outs[0];
    let cols = &mut crate::tensor::bytes_as_i8_mut(scratch)[..if in_place { 0 } else { 2 * k }];
    let pixels = oh * ow;
    let yd = y.as_i8_mut();
    for b in 0..n {
        let image = &xd[b * h * wi * c..(b + 1) * h * wi * c];
        let out = &mut yd[b * pixels * co..(b + 1) * pixels * co];
        for (pair, ys) in out.chunks_mut(2 * co).enumerate() {
            let px = 2 * pair;
            let rows = ys.len() / co;
            if in_place {
                block.run(&image[px * c..(px + rows) * c], ys);
            } else {
                for r in 0..rows {
                    geometry.im2col(image, px + r, &mut cols[r * k..(r + 1) * k]);
                }
                block.run(&cols[..rows * k], ys);
            }
        }
    }
}

/// Where output pixels read their input.
pub(super) struct Geometry {
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) pad: [usize; 2],
    pub(super) ow: usize,
    pub(super) zero: i8,
}

impl Geometry {
    /// Gather the receptive field of output pixel `px` as one `kh·kw·c` row (weights' order),
    /// padding with the zero point.
    #[cfg_attr(
        any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon),
        inline(never)
    )]
    pub(super) fn im2col(&self, image: &[i8], px: usize, col: &mut [i8]) {
        // (hosts only: microcontrollers keep the general loop, for code size)
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
        if self.im2col_interior(image, px, col) {
            return;
        }
        self.im2col_general(image, px, col)
    }

    /// When output pixel `px`'s window lies inside the image with dilation 1 along a row, where
    /// its kernel rows' runs (`kw·c` bytes each) start: the first at byte `first` of the image,
    /// the next ones `step` bytes apart.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
    #[inline(always)]
    pub(super) fn inside_runs(&self, px: usize) -> Option<(usize, usize)> {
        let (oy, ox) = (px / self.ow, px % self.ow);
        let x0 = (ox * self.stride[1]).wrapping_sub(self.pad[1]);
        let y0 = (oy * self.stride[0]).wrapping_sub(self.pad[0]);
        let inside = self.dilation[1] == 1
            && x0 < self.w
            && x0 + self.kw <= self.w
            && y0 < self.h
            && y0 + (self.kh - 1) * self.dilation[0] < self.h;
        inside.then(|| {
            (
                (y0 * self.w + x0) * self.c,
                self.dilation[0] * self.w * self.c,
            )
        })
    }

    /// [`Geometry::im2col`] for a pixel whose window lies inside the image (with dilation 1
    /// along a row): each kernel row is one contiguous run of an input row. Inlined into the
    /// caller's loop, without the general case's set-up. `false`: not such a pixel (nothing
    /// written).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
    #[inline(always)]
    fn im2col_interior(&self, image: &[i8], px: usize, col: &mut [i8]) -> bool {
        let run = self.kw * self.c;
        let Some((first, step)) = self.inside_runs(px) else {
            return false;
        };
        if col.len() < self.kh * run {
            return false;
        }
        let end = first + (self.kh - 1) * step + run;
        assert!(end <= image.len());
        for ky in 0..self.kh {
            // SAFETY: rows `first + ky·step .. + run` lie below `end` (asserted) and the
            // destination run inside `col` (checked above)
            unsafe {
                copy_run(
                    col.as_mut_ptr().add(ky * run),
                    image.as_ptr().add(first + ky * step),
                    run,
                )
            };
        }
        true
    }

    #[cfg_attr(
        any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon),
        inline(never)
    )]
    fn im2col_general(&self, image: &[i8], px: usize, col: &mut [i8]) {
        let (oy, ox) = (px / self.ow, px % self.ow);
        let (c, kw) = (self.c, self.kw);
        let x0 = (ox * self.stride[1]).wrapping_sub(self.pad[1]);
        // taps kx0..kx1 of a row lie inside; with dilation 1 they are one contiguous run
        let (kx0, kx1) = if self.dilation[1] == 1 {
            let first = self.pad[1].saturating_sub(ox * self.stride[1]).min(kw);
            let last = (self.w + self.pad[1])
                .saturating_sub(ox * self.stride[1])
                .min(kw);
            (first, last.max(first))
        } else {
            (0, 0)
        };
        let zero = self.zero;
        for (ky, dst) in col.chunks_exact_mut(kw * c).take(self.kh).enumerate() {
            let iy = (oy * self.stride[0] + ky * self.dilation[0]).wrapping_sub(self.pad[0]);
            if iy >= self.h {
                fill_small(dst, zero);
                continue;
            }
            let row = &image[iy * self.w * c..(iy + 1) * self.w * c];
            if self.dilation[1] == 1 {
                let (pad_left, rest) = dst.split_at_mut(kx0 * c);
                let (inside, pad_right) = rest.split_at_mut((kx1 - kx0) * c);
                fill_small(pad_left, zero);
                let from = x0.wrapping_add(kx0) * c;
                copy_small(inside, row.get(from..).unwrap_or(&[]));
                fill_small(pad_right, zero);
                continue;
            }
            for (kx, d) in dst.chunks_exact_mut(c).enumerate() {
                let ix = x0.wrapping_add(kx * self.dilation[1]);
                if ix < self.w {
                    copy_small(d, &row[ix * c..ix * c + c]);
                } else {
                    fill_small(d, zero);
                }
            }
        }
    }
}

/// Copy `n` bytes as two overlapping words of the largest size that fits (16, 8 or 4 bytes;
/// longer runs in 16-byte steps, ending with an overlapping one): a short run costs a few
/// instructions, no call and no loop set-up.
///
/// # Safety
/// `dst` and `src` must address `n` bytes each, not overlapping.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
#[inline(always)]
unsafe fn copy_run(dst: *mut i8, src: *const i8, n: usize) {
    #[inline(always)]
    unsafe fn word<T>(dst: *mut i8, src: *const i8, at: usize) {
        (dst.add(at) as *mut T).write_unaligned((src.add(at) as *const T).read_unaligned());
    }
    if n >= 16 {
        let mut i = 0;
        while i + 16 < n {
            word::<u128>(dst, src, i);
            i += 16;
        }
        word::<u128>(dst, src, n - 16);
    } else if n >= 8 {
        word::<u64>(dst, src, 0);
        word::<u64>(dst, src, n - 8);
    } else if n >= 4 {
        word::<u32>(dst, src, 0);
        word::<u32>(dst, src, n - 4);
    } else {
        for i in 0..n {
            *dst.add(i) = *src.add(i);
        }
    }
}

/// Fill a few bytes (usually none or one pixel's channels) without a `memset` call.
#[inline(always)]
fn fill_small(dst: &mut [i8], v: i8) {
    for d in dst {
        *d = v;
    }
}

/// Copy a few bytes; channel counts are small, so a word loop beats a `memcpy` call.
#[inline(always)]
fn copy_small(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: `i + 4 <= n` bytes are in bounds of both slices.
        unsafe {
            let v = core::ptr::read_unaligned(src.as_ptr().add(i) as *const u32);
            core::ptr::write_unaligned(dst.as_mut_ptr().add(i) as *mut u32, v);
        }
        i += 4;
    }
    // at most three bytes left: explicit steps, which the compiler cannot turn into a call
    if i + 2 <= n {
        dst[i] = src[i];
        dst[i + 1] = src[i + 1];
        i += 2;
    }
    if i < n {
        dst[i] = src[i];
    }
}
