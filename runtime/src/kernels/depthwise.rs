//! Depthwise convolution (one filter per channel, `groups == C == Co`) on the optimised paths:
//! per output pixel, the valid tap window is computed once and each channel sums its taps with
//! plain loads and multiply-adds; padding taps add `x_zp · w` as the reference kernel's
//! padded reads do (the input zero point is folded into the bias). With `SDOT` or `VPDPBUSD`,
//! input columns are transposed once per output row instead (`neon_sdot`, `vnni_rows`).

use crate::ops::conv::ConvParams;
use crate::ops::ChannelRequant;
use crate::quant::requantize_nonneg;
use crate::tensor::{TensorInfo, TensorMut, TensorRef};

#[cfg(mote_arm32_neon)]
mod armv7;

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
    if path.has_avx2() {
        let vnni = path.has_avxvnni();
        // SAFETY: the AVX2 paths are only selected on CPUs that have them; the VNNI kernel
        // only runs on the path that requires AVX-VNNI.
        let done = unsafe {
            (path == super::KernelPath::Avx512
                && (vnni_rows::eval_wide(p, ins, outs) || eight512::eval(p, ins, outs)))
                || (vnni && vnni_rows::eval(p, ins, outs))
                || avx2_wide::eval(p, ins, outs)
                || avx2::eval(p, ins, outs)
        };
        if done {
            return;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        let dotprod = matches!(path, super::KernelPath::Dotprod | super::KernelPath::I8mm);
        // SAFETY: NEON is part of every AArch64 core; the dot-product kernel only runs on the
        // paths that require the extension.
        let done = unsafe {
            (dotprod && neon_sdot::eval(p, ins, outs))
                || neon_wide::eval(p, ins, outs)
                || neon::eval(p, ins, outs)
        };
        if done {
            return;
        }
    }
    #[cfg(mote_arm32_neon)]
    // SAFETY: the build targets NEON.
    if path == super::KernelPath::Neon && unsafe { armv7::eval(p, ins, outs) } {
        return;
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

/// Where the taps of one output pixel read: per tap, the byte offset of its input pixel from the
/// image start, or `usize::MAX` for a padding tap.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon)),
    allow(dead_code)
)]
struct TapWindow {
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon)),
    allow(dead_code)
)]
impl TapWindow {
    fn new(p: &ConvParams, x: &TensorInfo, w: &TensorInfo) -> TapWindow {
        TapWindow {
            h: x.dims[1] as usize,
            w: x.dims[2] as usize,
            c: x.dims[3] as usize,
            kh: w.dims[1] as usize,
            kw: w.dims[2] as usize,
            stride: p.stride.map(|v| v as usize),
            dilation: p.dilation.map(|v| v as usize),
            pad: [p.pad[0] as usize, p.pad[1] as usize],
        }
    }

    /// The kernel rows that read the image for output row `oy` (the others read only padding;
    /// with stride and dilation ≥ 1 they are one run).
    fn live_rows(&self, oy: usize) -> core::ops::Range<usize> {
        let inside = |ky: usize| {
            let iy = (oy * self.stride[0] + ky * self.dilation[0]).wrapping_sub(self.pad[0]);
            iy < self.h
        };
        let first = (0..self.kh).find(|&ky| inside(ky)).unwrap_or(self.kh);
        let end = (first..self.kh).find(|&ky| !inside(ky)).unwrap_or(self.kh);
        first..end
    }

    /// Point `sources[t]` at the input pixel tap `t` of output pixel (`oy`, `ox`) reads in
    /// `image` (one image, `h·w·c` bytes), or at `zero_row` (the zero point, `c` bytes) for a
    /// padding tap.
    fn fill(
        &self,
        image: &[i8],
        zero_row: *const i8,
        (oy, ox): (usize, usize),
        sources: &mut [*const i8],
    ) {
        let mut t = 0;
        for ky in 0..self.kh {
            let iy = (oy * self.stride[0] + ky * self.dilation[0]).wrapping_sub(self.pad[0]);
            let row = image
                .as_ptr()
                .wrapping_add(iy.wrapping_mul(self.w * self.c));
            for kx in 0..self.kw {
                let ix = (ox * self.stride[1] + kx * self.dilation[1]).wrapping_sub(self.pad[1]);
                sources[t] = if iy < self.h && ix < self.w {
                    row.wrapping_add(ix * self.c)
                } else {
                    zero_row
                };
                t += 1;
            }
        }
    }
}

/// Largest tap count and channel count of the sixteen-channel kernels (`avx2_wide`,
/// `neon_wide`); larger layers take the 8-lane kernels.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
const WIDE_MAX_TAPS: usize = 64;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
const WIDE_MAX_CHANNELS: usize = 512;

/// First channel of block `b` of the sixteen-channel kernels; the last block overlaps the one
/// before it when `c` is not a multiple of 16 (those channels are computed twice, identically).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
fn wide_block_start(c: usize, b: usize) -> usize {
    (16 * b).min(c - 16)
}

/// What a sixteen-channel kernel (`neon_wide`, `avx2_wide`) does at each step of
/// [`walk_pixels`]; `at` is the index of the (first) pixel's first output byte in the
/// `[n, oh, ow, c]` output and `live` the taps of the kernel rows that read the image.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
trait WideKernel {
    /// A new output row: the taps outside `live` read only padding (zero points).
    unsafe fn start_row(&mut self, live: core::ops::Range<usize>);
    /// Two neighbouring pixels whose every tap lies in the image: live tap `t` of the first
    /// reads `px + offsets[t]`, of the second `px + second + offsets[t]` (`c` bytes each).
    unsafe fn pair(&mut self, px: *const i8, second: usize, offsets: &[usize], at: usize);
    /// One pixel: tap `t` reads `sources[t]` (`c` bytes; the zero row for padding).
    unsafe fn single(&mut self, sources: &[*const i8], at: usize);
}

/// The output walk the sixteen-channel kernels share: every output row of the `n` images in
/// `x` (NHWC, back to back) starts with [`WideKernel::start_row`]; pixels whose every tap
/// column lies in the image go in pairs (no per-tap source table, each weight load serves
/// two pixels), the others (edges, an odd last one) one at a time with their taps' sources
/// (padding taps pointing at a row of the zero point `zp`).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
fn walk_pixels(
    window: &TapWindow,
    x: &[i8],
    (n, oh, ow): (usize, usize, usize),
    zp: i8,
    kernel: &mut impl WideKernel,
) {
    let (h, w, c, kw, taps) = (
        window.h,
        window.w,
        window.c,
        window.kw,
        window.kh * window.kw,
    );
    let [sw, dw] = [window.stride[1], window.dilation[1]];
    let image_len = h * w * c;
    let inside = |ox: usize| {
        let x0 = (ox * sw).wrapping_sub(window.pad[1]);
        x0 < w && x0 + (kw - 1) * dw < w
    };
    let zero_row = [zp; WIDE_MAX_CHANNELS];
    let mut sources = [zero_row.as_ptr(); WIDE_MAX_TAPS];
    let mut offsets = [0usize; WIDE_MAX_TAPS];
    for img in 0..n {
        let image = &x[img * image_len..(img + 1) * image_len];
        for oy in 0..oh {
            let rows = window.live_rows(oy);
            let live = rows.start * kw..rows.end * kw;
            // SAFETY (all calls): the kernels read `c` bytes at each source, and at
            // `px + offsets[t]` (+ `second`) for live taps of inside pixels, which lie in the
            // image (asserted below)
            unsafe { kernel.start_row(live.clone()) };
            let row0 = (oy * window.stride[0]).wrapping_sub(window.pad[0]);
            for t in live.clone() {
                let iy = row0.wrapping_add((t / kw) * window.dilation[0]);
                offsets[t] = (iy * w + (t % kw) * dw) * c;
            }
            let reach = offsets[live.clone()].iter().max().map_or(0, |&o| o + c);
            let at = |ox: usize| ((img * oh + oy) * ow + ox) * c;
            let mut ox = 0;
            while ox < ow {
                if ox + 1 < ow && inside(ox) && inside(ox + 1) {
                    let first = (ox * sw - window.pad[1]) * c;
                    assert!(first + sw * c + reach <= image.len());
                    let px = image.as_ptr().wrapping_add(first);
                    unsafe { kernel.pair(px, sw * c, &offsets[..taps], at(ox)) };
                    ox += 2;
                } else {
                    window.fill(image, zero_row.as_ptr(), (oy, ox), &mut sources[..taps]);
                    unsafe { kernel.single(&sources[..taps], at(ox)) };
                    ox += 1;
                }
            }
        }
    }
}

/// The geometry the transposed-column kernels (`neon_sdot`, `vnni_rows`) share: kernel rows
/// taken four at a time, and per output row the input columns it reads, each column's four
/// rows of one channel block handed to the kernel to transpose.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct ColumnPlan {
    /// Input, kernel, stride, dilation and padding.
    window: TapWindow,
    n: usize,
    oh: usize,
    ow: usize,
    /// Groups of four kernel rows.
    groups: usize,
    /// Input columns one output row reads (`(ow − 1)·sw + (kw − 1)·dw + 1`).
    columns: usize,
    /// Channels per block.
    lanes: usize,
}

/// Per group and kernel row: where the input row starts and how far a column steps (0 for rows
/// outside the image or past the kernel: they read the zero row).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type RowSources = (
    [[*const i8; COLUMN_ROWS]; COLUMN_MAX_GROUPS],
    [[usize; COLUMN_ROWS]; COLUMN_MAX_GROUPS],
);

/// Kernel rows per group (the four bytes of an `SDOT`/`VPDPBUSD` lane).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLUMN_ROWS: usize = 4;
/// Row groups handled (kernel height ≤ 8).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLUMN_MAX_GROUPS: usize = 2;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLUMN_MAX_KW: usize = 8;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLUMN_MAX_COLUMNS: usize = 256;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLUMN_MAX_BLOCKS: usize = WIDE_MAX_CHANNELS / 16;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl ColumnPlan {
    /// The plan for blocks of `lanes` channels, or `None` when the shape (or a tensor's length)
    /// is outside what the kernels handle.
    fn new(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &[TensorMut<'_>],
        lanes: usize,
    ) -> Option<ColumnPlan> {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let window = TapWindow::new(p, &x.info, &w.info);
        let (c, kh, kw) = (window.c, window.kh, window.kw);
        let [oh, ow] = [outs[0].info.dims[1] as usize, outs[0].info.dims[2] as usize];
        let groups = kh.div_ceil(COLUMN_ROWS);
        let columns = (ow.max(1) - 1) * window.stride[1] + (kw.max(1) - 1) * window.dilation[1] + 1;
        let fits = c >= lanes
            && kh > 0
            && kw > 0
            && ow > 0
            && groups <= COLUMN_MAX_GROUPS
            && kw <= COLUMN_MAX_KW
            && columns <= COLUMN_MAX_COLUMNS
            && c.div_ceil(lanes) <= COLUMN_MAX_BLOCKS
            && c <= WIDE_MAX_CHANNELS
            && w.data.len() >= c * kh * kw
            && bias.data.len() >= 4 * c
            && rq.data.len() >= 8 * c;
        fits.then_some(ColumnPlan {
            window,
            n: x.info.dims[0] as usize,
            oh,
            ow,
            groups,
            columns,
            lanes,
        })
    }

    fn blocks(&self) -> usize {
        self.window.c.div_ceil(self.lanes)
    }

    /// The kernel rows output row `oy` multiplies: four-row groups from its first kernel row
    /// that reads the image, as many as cover the last one (`(first row, groups)`). The rows
    /// before and after read only padding (zero points), whose products the kernels add per
    /// output row instead.
    fn live_window(&self, oy: usize) -> (usize, usize) {
        let rows = self.window.live_rows(oy);
        (rows.start, rows.len().div_ceil(COLUMN_ROWS))
    }

    /// First channel of block `b`; the last block overlaps the one before it when `c` is not a
    /// multiple of `lanes` (those channels are computed twice, identically).
    fn block_start(&self, b: usize) -> usize {
        (self.lanes * b).min(self.window.c - self.lanes)
    }

    /// The kernel rows' sources for output row `oy` of `image`.
    /// The sources of kernel rows `first + 4g + r`.
    fn row_sources(
        &self,
        image: *const i8,
        (oy, first): (usize, usize),
        zero_row: *const i8,
    ) -> RowSources {
        let win = &self.window;
        let mut row_at = [[zero_row; COLUMN_ROWS]; COLUMN_MAX_GROUPS];
        let mut row_step = [[0usize; COLUMN_ROWS]; COLUMN_MAX_GROUPS];
        for g in 0..self.groups {
            for r in 0..COLUMN_ROWS {
                let ky = first + COLUMN_ROWS * g + r;
                let iy = (oy * win.stride[0] + ky * win.dilation[0]).wrapping_sub(win.pad[0]);
                if ky < win.kh && iy < win.h {
                    row_at[g][r] = image.wrapping_add(iy * win.w * win.c);
                    row_step[g][r] = win.c;
                }
            }
        }
        (row_at, row_step)
    }

    /// `visit(col, sources)` for every input column of group `g`: the four kernel rows' bytes
    /// of channel `c0` onward, or the zero row for columns left and right of the image.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn for_each_column(
        &self,
        (row_at, row_step): &RowSources,
        g: usize,
        c0: usize,
        zero_row: *const i8,
        mut visit: impl FnMut(usize, [*const i8; COLUMN_ROWS]),
    ) {
        let (inside, outside) = self.column_ranges();
        for col in outside {
            visit(col, [zero_row; COLUMN_ROWS]);
        }
        // the first inside column is input column 0
        let mut src: [*const i8; COLUMN_ROWS] = row_at[g].map(|row| row.wrapping_add(c0));
        let step = row_step[g];
        for col in inside {
            visit(col, src);
            for r in 0..COLUMN_ROWS {
                src[r] = src[r].wrapping_add(step[r]);
            }
        }
    }

    /// The columns an output row reads inside the image (the first is input column 0), and
    /// those left and right of it (padding).
    fn column_ranges(
        &self,
    ) -> (
        core::ops::Range<usize>,
        core::iter::Chain<core::ops::Range<usize>, core::ops::Range<usize>>,
    ) {
        let (pl, columns) = (self.window.pad[1], self.columns);
        let inside = pl.min(columns)..(pl + self.window.w).min(columns);
        let outside = (0..inside.start).chain(inside.end..columns);
        (inside, outside)
    }
}

/// `SDOT` (dot-product extension), sixteen channels at a time: kernel rows are taken four at a
/// time, and for each input column of an output row the four rows' sixteen channels are
/// transposed once (one `ST4`, interleaving the rows byte by byte) into four vectors of
/// `[channel][row]` words. Every output pixel of that row then adds, per kernel column, four
/// `SDOT`s of a transposed input column with the same layout of weights: 64 multiply-adds per
/// four instructions, and the transposition is shared by all pixels whose windows cover the
/// column. Four output pixels share each weight load. Rows past the kernel get zero weights;
/// padding rows and columns read a row of zero points (the reference's padded reads).
#[cfg(target_arch = "aarch64")]
mod neon_sdot {
    use super::*;
    use crate::kernels::neon::Requant16;
    use core::arch::aarch64::*;
    use core::mem::MaybeUninit;

    use super::COLUMN_MAX_BLOCKS as MAX_BLOCKS;
    use super::COLUMN_MAX_COLUMNS as MAX_COLUMNS;
    use super::COLUMN_MAX_GROUPS as MAX_GROUPS;
    use super::COLUMN_MAX_KW as MAX_KW;
    use super::COLUMN_ROWS as ROWS;
    /// Output pixels per step.
    const STEP: usize = 4;

    /// Returns `false` (nothing written) when the shape is not covered. Eight to fifteen
    /// channels run in blocks of eight (the upper half of each vector idles).
    #[target_feature(enable = "neon,dotprod")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        if ins[0].info.dims[3] >= 16 {
            run::<false>(p, ins, outs)
        } else {
            run::<true>(p, ins, outs)
        }
    }

    /// Sixteen channels of a pixel, or eight and zeros (`HALF`).
    #[inline(always)]
    unsafe fn load<const HALF: bool>(at: *const i8) -> int8x16_t {
        if HALF {
            vcombine_s8(vld1_s8(at), vdup_n_s8(0))
        } else {
            vld1q_s8(at)
        }
    }

    /// Store sixteen channels, or the lower eight (`HALF`).
    #[inline(always)]
    unsafe fn store<const HALF: bool>(at: *mut i8, v: int8x16_t) {
        if HALF {
            vst1_s8(at, vget_low_s8(v))
        } else {
            vst1q_s8(at, v)
        }
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn run<const HALF: bool>(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let lanes = if HALF { 8 } else { 16 };
        let Some(plan) = ColumnPlan::new(p, ins, outs, lanes) else {
            return false;
        };
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let y = &mut outs[0];
        let win = &plan.window;
        let [n, h, wi, c] = [plan.n, win.h, win.w, win.c];
        let [kh, kw, oh, ow] = [win.kh, win.kw, plan.oh, plan.ow];
        let (groups, blocks, taps) = (plan.groups, plan.blocks(), kh * kw);
        let wd = w.as_i8();
        let block_start = |b: usize| plan.block_start(b);
        // weights[((b·groups + g)·kw + kx)·4 + j]: channels block_start(b) + 4j .. + 4, each
        // channel's word its kernel rows 4g .. 4g + 4 at column kx (zero past the kernel)
        let per_block = groups * kw * 4;
        let mut weights: MaybeUninit<[int8x16_t; MAX_BLOCKS * MAX_GROUPS * MAX_KW * 4]> =
            MaybeUninit::uninit();
        let weights = weights.as_mut_ptr() as *mut int8x16_t;
        for b in 0..blocks {
            let c0 = block_start(b);
            for g in 0..groups {
                for kx in 0..kw {
                    for j in 0..4 {
                        let bytes: [i8; 16] = core::array::from_fn(|at| {
                            let (lane, r) = (4 * j + at / ROWS, ROWS * g + at % ROWS);
                            let ch = c0 + lane;
                            if r < kh && lane < lanes {
                                wd[ch * taps + r * kw + kx]
                            } else {
                                0
                            }
                        });
                        let at = b * per_block + (g * kw + kx) * 4 + j;
                        weights.add(at).write(vld1q_s8(bytes.as_ptr()));
                    }
                }
            }
        }
        let requant: [Requant16; MAX_BLOCKS] = core::array::from_fn(|b| {
            let c0 = block_start(b.min(blocks - 1));
            // a half block's entries padded with zeros to sixteen lanes
            let (mut table, mut biases) = ([0u8; 128], [0u8; 64]);
            let (mut table_at, mut bias_at) = (rq.data.as_ptr(), bias.data.as_ptr());
            if HALF {
                table[..8 * lanes].copy_from_slice(&rq.data[8 * c0..8 * (c0 + lanes)]);
                biases[..4 * lanes].copy_from_slice(&bias.data[4 * c0..4 * (c0 + lanes)]);
                (table_at, bias_at) = (table.as_ptr(), biases.as_ptr());
            } else {
                (table_at, bias_at) = (table_at.add(8 * c0), bias_at.add(4 * c0));
            }
            Requant16::from_table(table_at, bias_at, y.info.zero_point, p.act_min, p.act_max)
        });
        let zero_row = [x.info.zero_point as i8; super::WIDE_MAX_CHANNELS];
        let zero_points = vdupq_n_s8(x.info.zero_point as i8);
        // per block, every kernel row's products with zero points (the sums' start when no row
        // reads the image)
        let mut all_padding = [[vdupq_n_s32(0); 4]; MAX_BLOCKS];
        for (b, sums) in all_padding.iter_mut().enumerate().take(blocks) {
            let wb = weights.add(b * per_block) as *const int8x16_t;
            *sums = zero_point_sums(wb, groups * kw, zero_points, *requant[b].bias());
        }
        // a block's weights for a window starting at a kernel row that is not a multiple of 4
        let mut shifted: MaybeUninit<[int8x16_t; MAX_GROUPS * MAX_KW * 4]> = MaybeUninit::uninit();
        let shifted = shifted.as_mut_ptr() as *mut int8x16_t;
        // columns[(g·MAX_COLUMNS + col)·4 + j]: the transposed input column col of group g
        let mut columns_buf: MaybeUninit<[int8x16_t; MAX_GROUPS * MAX_COLUMNS * 4]> =
            MaybeUninit::uninit();
        let cols = columns_buf.as_mut_ptr() as *mut int8x16_t;
        let xd = x.as_i8();
        let yd = y.as_i8_mut();
        let image_len = h * wi * c;
        for img in 0..n {
            let image = xd[img * image_len..(img + 1) * image_len].as_ptr();
            for oy in 0..oh {
                let (first, live) = plan.live_window(oy);
                let rows = plan.row_sources(image, (oy, first), zero_row.as_ptr());
                for (b, rq) in requant.iter().enumerate().take(blocks) {
                    let c0 = block_start(b);
                    for g in 0..live {
                        let dst = cols.add(g * MAX_COLUMNS * 4);
                        // one kernel row in this group: the other three bytes of each word meet
                        // zero weights, so that row spread over them will do
                        let single = kh - (first + ROWS * g) == 1;
                        let (inside, outside) = plan.column_ranges();
                        let padding = load::<HALF>(zero_row.as_ptr());
                        for col in outside {
                            // `ST4` interleaves the rows byte by byte: each channel's four
                            // rows become one word, channels 4j..4j + 4 vector j
                            let p = padding;
                            vst4q_s8(dst.add(4 * col) as *mut i8, int8x16x4_t(p, p, p, p));
                        }
                        let (mut src, mut step) = (rows.0[g], rows.1[g]);
                        if single {
                            (src, step) = ([src[0]; ROWS], [step[0]; ROWS]);
                        }
                        transpose_columns::<HALF>(
                            src.map(|s| s.wrapping_add(c0)),
                            step,
                            dst.add(4 * inside.start),
                            inside.len(),
                        );
                    }
                    let mut wb = weights.add(b * per_block) as *const int8x16_t;
                    if first % ROWS != 0 {
                        shift_rows(wb, (first, live, groups * kw * 4), kw, shifted);
                        wb = shifted;
                    } else {
                        wb = wb.add(first / ROWS * kw * 4);
                    }
                    let out = yd.as_mut_ptr().add(((img * oh + oy) * ow) * c + c0);
                    let window = Window {
                        cols,
                        weights: wb,
                        groups: live,
                        kw,
                        sw: win.stride[1],
                        dw: win.dilation[1],
                    };
                    // rows outside the window read only padding: every row's zero-point
                    // products less the window's
                    let start = {
                        let inside =
                            zero_point_sums(wb, live * kw, zero_points, [vdupq_n_s32(0); 4]);
                        let all = all_padding[b];
                        core::array::from_fn(|j| vsubq_s32(all[j], inside[j]))
                    };
                    let mut ox = 0;
                    while ox + STEP <= ow {
                        // every pixel requantized before the first store (which could alias
                        // the constants, reloaded otherwise)
                        let bytes = window.step_sums(ox, &start).map(|s| rq.apply(s));
                        let mut dst = out.add(ox * c);
                        for v in bytes {
                            store::<HALF>(dst, v);
                            dst = dst.add(c);
                        }
                        ox += STEP;
                    }
                    while ox < ow {
                        let s = window.sums(ox, start);
                        store::<HALF>(out.add(ox * c), rq.apply(s));
                        ox += 1;
                    }
                }
            }
        }
        true
    }

    /// One output row's transposed input columns and one channel block's weights.
    struct Window {
        cols: *const int8x16_t,
        weights: *const int8x16_t,
        /// Row groups of the window.
        groups: usize,
        kw: usize,
        sw: usize,
        dw: usize,
    }

    impl Window {
        /// The sums of output pixel `ox` (sixteen channels, from `bias`): the pixels a
        /// [`Window::step_sums`] step leaves at the end of a row.
        #[inline(always)]
        unsafe fn sums(&self, ox: usize, bias: [int32x4_t; 4]) -> [int32x4_t; 4] {
            let mut acc = bias;
            for g in 0..self.groups {
                let cols = self.cols.add(g * MAX_COLUMNS * 4);
                for kx in 0..self.kw {
                    let w = self.weights.add((g * self.kw + kx) * 4);
                    let t = cols.add((ox * self.sw + kx * self.dw) * 4);
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = sdot(*a, *t.add(j), *w.add(j));
                    }
                }
            }
            acc
        }

        /// The sums of the [`STEP`] pixels from `ox`, in assembly: per kernel column one
        /// `LD1` of the four weight vectors and per pixel one `LD1` of its transposed column
        /// (four vectors), post-incremented (the last one on to the next tap's first column),
        /// against four `SDOT`s each. (The compiler's loop spent ten `LDP`s and four address
        /// adds on what five loads do.) The accumulators start from `bias` by four `LD1`s.
        #[inline(always)]
        unsafe fn step_sums(&self, ox: usize, bias: &[int32x4_t; 4]) -> [[int32x4_t; 4]; STEP] {
            let a = crate::kernels::neon::splat_sums(bias);
            let [mut a0, mut a1, mut a2, mut a3]: [[int32x4_t; 4]; STEP] =
                core::array::from_fn(|q| core::array::from_fn(|j| a[4 * q + j]));
            let column = 64 * self.sw;
            // from the last pixel's column at one tap to the first pixel's at the next
            let next_tap = (64 * self.dw).wrapping_sub((STEP - 1) * column);
            let mut weights = self.weights;
            for g in 0..self.groups {
                let cols = self.cols.add(g * MAX_COLUMNS * 4 + ox * self.sw * 4);
                core::arch::asm!(
                    "2:",
                    "ld1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{w}], #64",
                    "ld1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{c}], {step}",
                    "ld1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{c}], {step}",
                    "sdot v16.4s, v4.16b, v0.16b",
                    "sdot v17.4s, v5.16b, v1.16b",
                    "sdot v18.4s, v6.16b, v2.16b",
                    "sdot v19.4s, v7.16b, v3.16b",
                    "ld1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{c}], {step}",
                    "sdot v20.4s, v8.16b, v0.16b",
                    "sdot v21.4s, v9.16b, v1.16b",
                    "sdot v22.4s, v10.16b, v2.16b",
                    "sdot v23.4s, v11.16b, v3.16b",
                    "ld1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [{c}], {next}",
                    "sdot v24.4s, v4.16b, v0.16b",
                    "sdot v25.4s, v5.16b, v1.16b",
                    "sdot v26.4s, v6.16b, v2.16b",
                    "sdot v27.4s, v7.16b, v3.16b",
                    "subs {n}, {n}, #1",
                    "sdot v28.4s, v8.16b, v0.16b",
                    "sdot v29.4s, v9.16b, v1.16b",
                    "sdot v30.4s, v10.16b, v2.16b",
                    "sdot v31.4s, v11.16b, v3.16b",
                    "b.ne 2b",
                    w = inout(reg) weights,
                    c = inout(reg) cols => _,
                    n = inout(reg) self.kw => _,
                    step = in(reg) column,
                    next = in(reg) next_tap,
                    out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                    out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                    out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                    inout("v16") a0[0], inout("v17") a0[1], inout("v18") a0[2], inout("v19") a0[3],
                    inout("v20") a1[0], inout("v21") a1[1], inout("v22") a1[2], inout("v23") a1[3],
                    inout("v24") a2[0], inout("v25") a2[1], inout("v26") a2[2], inout("v27") a2[3],
                    inout("v28") a3[0], inout("v29") a3[1], inout("v30") a3[2], inout("v31") a3[3],
                    options(nostack, readonly),
                );
            }
            [a0, a1, a2, a3]
        }
    }

    /// `start` plus the products of `columns` weight columns (four vectors each) at `weights`
    /// with zero points.
    #[inline(always)]
    unsafe fn zero_point_sums(
        weights: *const int8x16_t,
        columns: usize,
        zero_points: int8x16_t,
        start: [int32x4_t; 4],
    ) -> [int32x4_t; 4] {
        let mut sums = start;
        for col in 0..columns {
            for (j, s) in sums.iter_mut().enumerate() {
                *s = sdot(*s, zero_points, *weights.add(4 * col + j));
            }
        }
        sums
    }

    /// A block's weights (`weights`: groups of rows 4g .. 4g + 4, `len` vectors) rearranged
    /// into `groups` groups of rows `first + 4g ..` at `dst`: each 32-bit lane (one channel's
    /// four rows) takes the upper bytes of its group's lane and the lower ones of the next
    /// group's (zero past the kernel).
    #[inline(always)]
    unsafe fn shift_rows(
        weights: *const int8x16_t,
        (first, groups, len): (usize, usize, usize),
        kw: usize,
        dst: *mut int8x16_t,
    ) {
        let bits = 8 * (first % ROWS) as i32;
        let (down, up) = (vdupq_n_s32(-bits), vdupq_n_s32(32 - bits));
        let base = first / ROWS * kw * 4;
        for i in 0..groups * kw * 4 {
            let at = |i: usize| {
                if i < len {
                    vreinterpretq_u32_s8(*weights.add(i))
                } else {
                    vdupq_n_u32(0)
                }
            };
            let (low, high) = (at(base + i), at(base + i + kw * 4));
            let v = vorrq_u32(vshlq_u32(low, down), vshlq_u32(high, up));
            dst.add(i).write(vreinterpretq_s8_u32(v));
        }
    }

    /// `count` input columns from `src` (one pointer per kernel row, moving on by `step`)
    /// transposed to `dst`: per column, the four rows' sixteen channels (eight and zeros for
    /// `HALF`) interleaved byte by byte by one `ST4`, so that each channel's four rows form one
    /// word, channels 4j..4j + 4 vector j. Post-incremented loads: the compiler adds each
    /// pointer's step separately.
    ///
    /// # Safety
    /// Each `src[r] + i·step[r]` (`i < count`) must address 16 readable bytes (8 for `HALF`),
    /// `dst` 64·`count` writable ones.
    #[inline(always)]
    unsafe fn transpose_columns<const HALF: bool>(
        src: [*const i8; ROWS],
        step: [usize; ROWS],
        dst: *mut int8x16_t,
        count: usize,
    ) {
        if count == 0 {
            return;
        }
        macro_rules! transpose_loop {
            ($size:literal) => {
                core::arch::asm!(
                    "2:",
                    concat!("ld1 {{v4.", $size, "}}, [{s0}], {t0}"),
                    concat!("ld1 {{v5.", $size, "}}, [{s1}], {t1}"),
                    concat!("ld1 {{v6.", $size, "}}, [{s2}], {t2}"),
                    concat!("ld1 {{v7.", $size, "}}, [{s3}], {t3}"),
                    "subs {n}, {n}, #1",
                    "st4 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{d}], #64",
                    "b.ne 2b",
                    s0 = inout(reg) src[0] => _, s1 = inout(reg) src[1] => _,
                    s2 = inout(reg) src[2] => _, s3 = inout(reg) src[3] => _,
                    t0 = in(reg) step[0], t1 = in(reg) step[1],
                    t2 = in(reg) step[2], t3 = in(reg) step[3],
                    d = inout(reg) dst => _,
                    n = inout(reg) count => _,
                    out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                    options(nostack),
                )
            };
        }
        // an eight-byte load clears the upper half of its register
        if HALF {
            transpose_loop!("8b")
        } else {
            transpose_loop!("16b")
        }
    }

    /// `acc + SDOT(x, w)`: per int32 lane, the dot product of its four bytes.
    #[inline(always)]
    unsafe fn sdot(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
        let mut a = acc;
        core::arch::asm!(
            "sdot {a:v}.4s, {x:v}.16b, {w:v}.16b",
            a = inout(vreg) a,
            x = in(vreg) x,
            w = in(vreg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
        a
    }
}

/// AVX-VNNI, sixteen channels at a time: the `SDOT` kernel's arrangement (kernel rows in fours,
/// each input column of an output row transposed once into `[channel][4 rows]` words) with
/// `VPDPBUSD`, which multiplies unsigned by signed bytes: the transposed activations have their
/// sign bit flipped (`x + 128`) and each channel's bias takes `−128·Σw`, which leaves the same
/// int32 sums modulo 2^32 as the reference.
#[cfg(target_arch = "x86_64")]
mod vnni_rows {
    use super::*;
    use crate::kernels::avx2::Requant8;
    use crate::kernels::avx512::Requant16;
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    use super::COLUMN_MAX_BLOCKS as MAX_BLOCKS;
    use super::COLUMN_MAX_COLUMNS as MAX_COLUMNS;
    use super::COLUMN_MAX_GROUPS as MAX_GROUPS;
    use super::COLUMN_MAX_KW as MAX_KW;
    use super::COLUMN_ROWS as ROWS;
    const STEP: usize = 4;

    /// Returns `false` (nothing written) when the shape is not covered.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        run::<false>(p, ins, outs)
    }

    /// [`eval`] with each pixel's sixteen channels in one 512-bit vector (the two halves of a
    /// transposed column or of a weight column are consecutive, so each is one load): one
    /// `VPDPBUSD` per tap and pixel, and one [`Requant16`] step per four pixels.
    ///
    /// [`Requant16`]: crate::kernels::avx512::Requant16
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
    pub(super) unsafe fn eval_wide(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        run::<true>(p, ins, outs)
    }

    /// The kernel; `WIDE` chooses the 512-bit sums and requantization.
    #[inline(always)]
    unsafe fn run<const WIDE: bool>(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let Some(plan) = ColumnPlan::new(p, ins, outs, 16) else {
            return false;
        };
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let y = &mut outs[0];
        let win = &plan.window;
        let [n, h, wi, c] = [plan.n, win.h, win.w, win.c];
        let [kh, kw, oh, ow] = [win.kh, win.kw, plan.oh, plan.ow];
        let (groups, blocks, taps) = (plan.groups, plan.blocks(), kh * kw);
        let wd = w.as_i8();
        let block_start = |b: usize| plan.block_start(b);
        // weights[(((b·groups + g)·kw + kx)·2 + half]: channels block_start(b) + 8·half .. + 8,
        // each channel's word its kernel rows 4g .. 4g + 4 at column kx (zero past the kernel)
        let per_block = groups * kw * 2;
        let mut weights: MaybeUninit<[__m256i; MAX_BLOCKS * MAX_GROUPS * MAX_KW * 2]> =
            MaybeUninit::uninit();
        let weights = weights.as_mut_ptr() as *mut __m256i;
        for b in 0..blocks {
            let c0 = block_start(b);
            for g in 0..groups {
                for kx in 0..kw {
                    for half in 0..2 {
                        let bytes: [i8; 32] = core::array::from_fn(|at| {
                            let (ch, r) = (c0 + 8 * half + at / ROWS, ROWS * g + at % ROWS);
                            if r < kh {
                                wd[ch * taps + r * kw + kx]
                            } else {
                                0
                            }
                        });
                        let at = b * per_block + (g * kw + kx) * 2 + half;
                        weights
                            .add(at)
                            .write(_mm256_loadu_si256(bytes.as_ptr() as *const __m256i));
                    }
                }
            }
        }
        // per block and half: requantization and the compensated bias
        let (zp, lo, hi) = (y.info.zero_point, p.act_min, p.act_max);
        let mut constants: MaybeUninit<[(Requant8, __m256i); 2 * MAX_BLOCKS]> =
            MaybeUninit::uninit();
        let constants = constants.as_mut_ptr() as *mut (Requant8, __m256i);
        for b in 0..blocks {
            for half in 0..2 {
                let c0 = block_start(b) + 8 * half;
                let lanes: [i32; 8] = core::array::from_fn(|j| {
                    let ch = c0 + j;
                    let sum: i32 = wd[ch * taps..(ch + 1) * taps]
                        .iter()
                        .map(|&v| v as i32)
                        .sum();
                    bias.i32_at(ch).wrapping_sub(sum.wrapping_mul(128))
                });
                constants.add(2 * b + half).write((
                    Requant8::from_table(rq.data.as_ptr().add(8 * c0), zp, lo, hi),
                    _mm256_loadu_si256(lanes.as_ptr() as *const __m256i),
                ));
            }
        }
        let zero_row = [x.info.zero_point as i8; super::WIDE_MAX_CHANNELS];
        let zero_points = _mm256_set1_epi8((x.info.zero_point as i8 as u8 ^ 0x80) as i8);
        // per block, the compensated bias plus every kernel row's products with (unsigned)
        // zero points (the sums' start when no row reads the image)
        let mut all_padding = [[_mm256_setzero_si256(); 2]; MAX_BLOCKS];
        for (b, sums) in all_padding.iter_mut().enumerate().take(blocks) {
            let wb = weights.add(b * per_block) as *const __m256i;
            let start = [(*constants.add(2 * b)).1, (*constants.add(2 * b + 1)).1];
            *sums = if WIDE {
                // SAFETY: `WIDE` is only instantiated on the path that requires AVX-512
                zero_point_sums_wide(wb, groups * kw, zero_points, start)
            } else {
                zero_point_sums(wb, groups * kw, zero_points, start)
            };
        }
        // a block's weights for a window starting at a kernel row that is not a multiple of 4
        let mut shifted: MaybeUninit<[__m256i; MAX_GROUPS * MAX_KW * 2]> = MaybeUninit::uninit();
        let shifted = shifted.as_mut_ptr() as *mut __m256i;
        // cols[(g·MAX_COLUMNS + col)·2 + half]: transposed, unsigned input column col of group g
        let mut columns_buf: MaybeUninit<[__m256i; MAX_GROUPS * MAX_COLUMNS * 2]> =
            MaybeUninit::uninit();
        let cols = columns_buf.as_mut_ptr() as *mut __m256i;
        let xd = x.as_i8();
        let yd = y.as_i8_mut();
        let image_len = h * wi * c;
        for img in 0..n {
            let image = xd[img * image_len..(img + 1) * image_len].as_ptr();
            for oy in 0..oh {
                let (first, live) = plan.live_window(oy);
                let rows = plan.row_sources(image, (oy, first), zero_row.as_ptr());
                for (b, all) in all_padding.iter().enumerate().take(blocks) {
                    let c0 = block_start(b);
                    for g in 0..live {
                        let dst = cols.add(g * MAX_COLUMNS * 2);
                        if WIDE {
                            // SAFETY: `WIDE` is only instantiated on the path that requires
                            // AVX-512
                            transpose_columns_wide(&plan, (&rows, g, c0), zero_points, dst);
                            continue;
                        }
                        plan.for_each_column(&rows, g, c0, zero_row.as_ptr(), |col, src| {
                            let t = transpose4(src);
                            dst.add(2 * col).write(t[0]);
                            dst.add(2 * col + 1).write(t[1]);
                        });
                    }
                    let mut wb = weights.add(b * per_block) as *const __m256i;
                    if first % ROWS != 0 {
                        shift_rows(wb, (first, live, groups * kw * 2), kw, shifted);
                        wb = shifted;
                    } else {
                        wb = wb.add(first / ROWS * kw * 2);
                    }
                    let requant = (&(*constants.add(2 * b)).0, &(*constants.add(2 * b + 1)).0);
                    let out = yd.as_mut_ptr().add(((img * oh + oy) * ow) * c + c0);
                    let window = Window {
                        cols,
                        weights: wb,
                        groups: live,
                        kw,
                        sw: win.stride[1],
                        dw: win.dilation[1],
                    };
                    // rows outside the window read only padding: every row's zero-point
                    // products less the window's
                    let start = {
                        let zero = _mm256_setzero_si256();
                        let inside = if WIDE {
                            zero_point_sums_wide(wb, live * kw, zero_points, [zero; 2])
                        } else {
                            zero_point_sums(wb, live * kw, zero_points, [zero; 2])
                        };
                        [
                            _mm256_sub_epi32(all[0], inside[0]),
                            _mm256_sub_epi32(all[1], inside[1]),
                        ]
                    };
                    if WIDE {
                        // SAFETY: `WIDE` is only instantiated on the path that requires AVX-512
                        window.row_wide(start, requant, out, (ow, c));
                    } else {
                        window.row(start, requant, out, (ow, c));
                    }
                }
            }
        }
        true
    }

    /// One output row's transposed input columns and one channel block's weights.
    struct Window {
        cols: *const __m256i,
        weights: *const __m256i,
        /// Row groups of the window.
        groups: usize,
        kw: usize,
        sw: usize,
        dw: usize,
    }

    impl Window {
        /// The output row's `ow` pixels of this block (sixteen channels from `out`, `c` bytes
        /// apart), from the sums' `start` (two vectors of eight channels).
        #[inline]
        #[target_feature(enable = "avx2,avxvnni")]
        unsafe fn row(
            &self,
            start: [__m256i; 2],
            (rq0, rq1): (&Requant8, &Requant8),
            out: *mut i8,
            (ow, c): (usize, usize),
        ) {
            let mut ox = 0;
            while ox + STEP <= ow {
                let sums = self.sums::<STEP>(ox, start);
                for (q, s) in sums.into_iter().enumerate() {
                    let bytes = rq0.apply_pair(rq1, s[0], s[1]);
                    _mm_storeu_si128(out.add((ox + q) * c) as *mut __m128i, bytes);
                }
                ox += STEP;
            }
            while ox < ow {
                let [s] = self.sums::<1>(ox, start);
                let bytes = rq0.apply_pair(rq1, s[0], s[1]);
                _mm_storeu_si128(out.add(ox * c) as *mut __m128i, bytes);
                ox += 1;
            }
        }

        /// [`Window::row`] on 512-bit vectors.
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
        unsafe fn row_wide(
            &self,
            start: [__m256i; 2],
            (rq0, rq1): (&Requant8, &Requant8),
            out: *mut i8,
            (ow, c): (usize, usize),
        ) {
            let requant = Requant16::join(rq0, rq1);
            let start = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(start[0]), start[1]);
            let mut ox = 0;
            while ox + STEP <= ow {
                let bytes = requant.apply4(self.sums_wide::<STEP>(ox, start));
                let at = out.add(ox * c) as *mut __m128i;
                _mm_storeu_si128(at, _mm512_castsi512_si128(bytes));
                _mm_storeu_si128(at.byte_add(c), _mm512_extracti32x4_epi32::<1>(bytes));
                _mm_storeu_si128(at.byte_add(2 * c), _mm512_extracti32x4_epi32::<2>(bytes));
                _mm_storeu_si128(at.byte_add(3 * c), _mm512_extracti32x4_epi32::<3>(bytes));
                ox += STEP;
            }
            while ox < ow {
                let [s] = self.sums_wide::<1>(ox, start);
                _mm_storeu_si128(out.add(ox * c) as *mut __m128i, requant.apply(s));
                ox += 1;
            }
        }

        /// [`Window::sums`] with each pixel's sixteen channels in one vector.
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vnni")]
        unsafe fn sums_wide<const P: usize>(&self, ox: usize, bias: __m512i) -> [__m512i; P] {
            let mut acc = [bias; P];
            for g in 0..self.groups {
                let cols = self.cols.add(g * MAX_COLUMNS * 2);
                for kx in 0..self.kw {
                    let w = self.weights.add((g * self.kw + kx) * 2) as *const __m512i;
                    let w = _mm512_loadu_si512(w);
                    for (q, a) in acc.iter_mut().enumerate() {
                        let t = cols.add(((ox + q) * self.sw + kx * self.dw) * 2);
                        *a = _mm512_dpbusd_epi32(*a, _mm512_loadu_si512(t as *const __m512i), w);
                    }
                }
            }
            acc
        }

        /// The sums of output pixels `ox .. ox + P` (two vectors of eight channels each, from
        /// the compensated `bias`).
        #[inline]
        #[target_feature(enable = "avx2,avxvnni")]
        unsafe fn sums<const P: usize>(&self, ox: usize, bias: [__m256i; 2]) -> [[__m256i; 2]; P] {
            let mut acc = [bias; P];
            for g in 0..self.groups {
                let cols = self.cols.add(g * MAX_COLUMNS * 2);
                for kx in 0..self.kw {
                    let w = self.weights.add((g * self.kw + kx) * 2);
                    let (w0, w1) = (*w, *w.add(1));
                    for (q, a) in acc.iter_mut().enumerate() {
                        let t = cols.add(((ox + q) * self.sw + kx * self.dw) * 2);
                        a[0] = _mm256_dpbusd_avx_epi32(a[0], *t, w0);
                        a[1] = _mm256_dpbusd_avx_epi32(a[1], *t.add(1), w1);
                    }
                }
            }
            acc
        }
    }

    /// `start` plus the products of `columns` weight columns (two vectors each) at `weights`
    /// with the unsigned zero points.
    #[inline]
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn zero_point_sums(
        weights: *const __m256i,
        columns: usize,
        zero_points: __m256i,
        start: [__m256i; 2],
    ) -> [__m256i; 2] {
        let mut sums = start;
        for col in 0..columns {
            sums[0] = _mm256_dpbusd_avx_epi32(sums[0], zero_points, *weights.add(2 * col));
            sums[1] = _mm256_dpbusd_avx_epi32(sums[1], zero_points, *weights.add(2 * col + 1));
        }
        sums
    }

    /// [`zero_point_sums`] with the 512-bit `VPDPBUSD` of AVX-512 VNNI (the `avx512` path does
    /// not require AVX-VNNI's 256-bit form).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vnni")]
    unsafe fn zero_point_sums_wide(
        weights: *const __m256i,
        columns: usize,
        zero_points: __m256i,
        start: [__m256i; 2],
    ) -> [__m256i; 2] {
        #[target_feature(enable = "avx2,avx512f")]
        unsafe fn both(low: __m256i, high: __m256i) -> __m512i {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high)
        }
        let zero_points = both(zero_points, zero_points);
        let mut sums = both(start[0], start[1]);
        for col in 0..columns {
            let w = _mm512_loadu_si512(weights.add(2 * col) as *const __m512i);
            sums = _mm512_dpbusd_epi32(sums, zero_points, w);
        }
        [
            _mm512_castsi512_si256(sums),
            _mm512_extracti64x4_epi64::<1>(sums),
        ]
    }

    /// A block's weights (`weights`: groups of rows 4g .. 4g + 4, `len` vectors) rearranged
    /// into `groups` groups of rows `first + 4g ..` at `dst`, as in the `SDOT` kernel.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn shift_rows(
        weights: *const __m256i,
        (first, groups, len): (usize, usize, usize),
        kw: usize,
        dst: *mut __m256i,
    ) {
        let bits = 8 * (first % ROWS) as i64;
        let (down, up) = (_mm_set_epi64x(0, bits), _mm_set_epi64x(0, 32 - bits));
        let base = first / ROWS * kw * 2;
        for i in 0..groups * kw * 2 {
            let at = |i: usize| {
                if i < len {
                    *weights.add(i)
                } else {
                    _mm256_setzero_si256()
                }
            };
            let (low, high) = (at(base + i), at(base + i + kw * 2));
            let v = _mm256_or_si256(_mm256_srl_epi32(low, down), _mm256_sll_epi32(high, up));
            dst.add(i).write(v);
        }
    }

    /// Group `g`'s transposed columns of channel block `c0` into `dst` as one 512-bit vector
    /// each (what [`ColumnPlan::for_each_column`] with [`transpose4`] writes, in a function
    /// with the target features: a closure would not inline them). Padding columns are the
    /// unsigned zero points.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vbmi")]
    unsafe fn transpose_columns_wide(
        plan: &ColumnPlan,
        ((row_at, row_step), g, c0): (&RowSources, usize, usize),
        zero_points: __m256i,
        dst: *mut __m256i,
    ) {
        let dst = dst as *mut __m512i;
        let padding = _mm512_broadcast_i64x4(zero_points);
        let (inside, outside) = plan.column_ranges();
        for col in outside {
            dst.add(col).write_unaligned(padding);
        }
        // byte 4·channel + row of the result: from the first pair of rows (row·16 + channel)
        // or the second (64 + (row − 2)·16 + channel)
        let index: [u8; 64] = core::array::from_fn(|j| {
            let (channel, row) = (j / 4, j % 4);
            (if row < 2 { 0 } else { 64 } + 16 * (row % 2) + channel) as u8
        });
        let index = _mm512_loadu_si512(index.as_ptr() as *const __m512i);
        let sign = _mm512_set1_epi8(i8::MIN);
        let step = row_step[g];
        let mut src = [0, 1, 2, 3].map(|r| row_at[g][r].wrapping_add(c0) as *const __m128i);
        for col in inside {
            let low = _mm256_loadu2_m128i(src[1], src[0]);
            let high = _mm256_loadu2_m128i(src[3], src[2]);
            let t = _mm512_permutex2var_epi8(
                _mm512_castsi256_si512(low),
                index,
                _mm512_castsi256_si512(high),
            );
            dst.add(col).write_unaligned(_mm512_xor_si512(t, sign));
            for r in 0..ROWS {
                src[r] = src[r].byte_add(step[r]);
            }
        }
    }

    /// Four rows of sixteen channels (at `src`) to two vectors of eight channels × four rows,
    /// sign bits flipped.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn transpose4(src: [*const i8; ROWS]) -> [__m256i; 2] {
        let r = src.map(|s| _mm_loadu_si128(s as *const __m128i));
        let a = _mm_unpacklo_epi8(r[0], r[1]);
        let b = _mm_unpackhi_epi8(r[0], r[1]);
        let cc = _mm_unpacklo_epi8(r[2], r[3]);
        let d = _mm_unpackhi_epi8(r[2], r[3]);
        let flip = _mm256_set1_epi8(i8::MIN);
        let low = _mm256_set_m128i(_mm_unpackhi_epi16(a, cc), _mm_unpacklo_epi16(a, cc));
        let high = _mm256_set_m128i(_mm_unpackhi_epi16(b, d), _mm_unpacklo_epi16(b, d));
        [_mm256_xor_si256(low, flip), _mm256_xor_si256(high, flip)]
    }
}

/// AVX2, sixteen channels at a time and two taps per `VPMADDWD`: each pair of taps' int16
/// activations and weights are interleaved so one instruction adds both products of eight
/// channels. Weights (interleaved pairs) and requantization constants of every channel block are
/// prepared once per op on the stack; per output pixel the tap offsets are computed once and
/// shared by all channel blocks. A channel count that is not a multiple of 16 ends with a block
/// overlapping the previous one (same results written twice).
#[cfg(target_arch = "x86_64")]
mod avx2_wide {
    use super::*;
    use crate::kernels::avx2::Requant8;
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    use super::WIDE_MAX_TAPS as MAX_TAPS;
    const MAX_BLOCKS: usize = super::WIDE_MAX_CHANNELS / 16;
    /// Bytes of stack for the interleaved weights (channel blocks × tap pairs × 64).
    const MAX_WEIGHT_VECTORS: usize = 512;

    /// Returns `false` (nothing written) when the shape is not covered.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let (n, c) = (x.info.dims[0] as usize, x.info.dims[3] as usize);
        let taps = (w.info.dims[1] * w.info.dims[2]) as usize;
        let pairs = taps.div_ceil(2);
        let blocks = c.div_ceil(16);
        if c < 16
            || taps > MAX_TAPS
            || blocks > MAX_BLOCKS
            || 2 * blocks * pairs > MAX_WEIGHT_VECTORS
            || bias.data.len() < 4 * c
            || rq.data.len() < 8 * c
        {
            return false;
        }
        let (xd, wd) = (x.as_i8(), w.as_i8());
        let block_start = |b: usize| wide_block_start(c, b);
        // weights[2·(b·pairs + q) + half]: taps 2q and 2q+1 of channels block_start(b)..+16,
        // as int16 pairs in VPUNPCK{L,H}WD order (half 0: channels 0-3 and 8-11, 1: 4-7, 12-15)
        let mut weights = [_mm256_setzero_si256(); MAX_WEIGHT_VECTORS];
        for b in 0..blocks {
            let c0 = block_start(b);
            for q in 0..pairs {
                let tap = |t: usize| -> __m256i {
                    let lane: [i16; 16] = core::array::from_fn(|j| {
                        if t < taps {
                            wd[(c0 + j) * taps + t] as i16
                        } else {
                            0
                        }
                    });
                    _mm256_loadu_si256(lane.as_ptr() as *const __m256i)
                };
                let (a, bb) = (tap(2 * q), tap(2 * q + 1));
                weights[2 * (b * pairs + q)] = _mm256_unpacklo_epi16(a, bb);
                weights[2 * (b * pairs + q) + 1] = _mm256_unpackhi_epi16(a, bb);
            }
        }
        let y = &mut outs[0];
        let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
        let (y_zp, lo, hi) = (y.info.zero_point, p.act_min, p.act_max);
        let window = TapWindow::new(p, &x.info, &w.info);
        // requant[2b + h]: channels block_start(b) + 8h .. + 8
        let mut requant: MaybeUninit<[Requant8; 2 * MAX_BLOCKS]> = MaybeUninit::uninit();
        let requant_at = requant.as_mut_ptr() as *mut Requant8;
        for b in 0..blocks {
            let table = rq.data.as_ptr().add(8 * block_start(b));
            for h in 0..2 {
                requant_at.add(2 * b + h).write(Requant8::from_table(
                    table.add(64 * h),
                    y_zp,
                    lo,
                    hi,
                ));
            }
        }
        let requant = core::slice::from_raw_parts(requant_at, 2 * blocks);
        let zp = x.info.zero_point as i8;
        let mut kernel = Kernel {
            weights: weights.as_ptr(),
            pairs,
            c,
            blocks,
            bias: bias.data,
            requant,
            zp16: _mm256_set1_epi16(zp as i16),
            live_taps: 0..0,
            live: 0..0,
            row_start: [[_mm256_setzero_si256(); 2]; MAX_BLOCKS],
            y: y.as_i8_mut(),
        };
        walk_pixels(&window, xd, (n, oh, ow), zp, &mut kernel);
        true
    }

    /// The per-op constants and the current output row's state of the walk.
    struct Kernel<'a> {
        /// `weights[2·(b·pairs + q) + half]`: see `eval`.
        weights: *const __m256i,
        pairs: usize,
        c: usize,
        blocks: usize,
        bias: &'a [u8],
        requant: &'a [Requant8],
        zp16: __m256i,
        /// The current row's live taps, and the tap pairs holding them.
        live_taps: core::ops::Range<usize>,
        live: core::ops::Range<usize>,
        /// Per block, the current row's starting sums (`VPUNPCK` lane order): the bias and the
        /// dead tap pairs' products.
        row_start: [[__m256i; 2]; MAX_BLOCKS],
        y: &'a mut [i8],
    }

    impl Kernel<'_> {
        fn block_start(&self, b: usize) -> usize {
            wide_block_start(self.c, b)
        }

        /// Block `b`'s sums for `P` pixels over the live tap pairs, `load(k, t)` giving pixel
        /// `k`'s live tap `t`, sixteen inputs widened to int16 (a dead tap sharing a pair with a
        /// live one reads zero points, as does the missing tap after an odd last one). The
        /// pixels share each weight load.
        #[inline(always)]
        unsafe fn sums<const P: usize>(
            &self,
            b: usize,
            load: impl Fn(usize, usize) -> __m256i,
        ) -> [[__m256i; 2]; P] {
            let fw = self.weights.add(2 * b * self.pairs);
            let mut acc = [self.row_start[b]; P];
            // the pairs holding a dead tap (at most one at each end) check their taps
            let live = self.live.clone();
            let first = self.live_taps.start.div_ceil(2).clamp(live.start, live.end);
            let last = (self.live_taps.end / 2).clamp(first, live.end);
            for q in live.start..first {
                self.step::<P, true>(&mut acc, fw, q, &load);
            }
            for q in first..last {
                self.step::<P, false>(&mut acc, fw, q, &load);
            }
            for q in last..live.end {
                self.step::<P, true>(&mut acc, fw, q, &load);
            }
            acc
        }

        /// Tap pair `q` of [`Kernel::sums`] (`EDGE`: taps outside the live ones read zero
        /// points).
        #[inline(always)]
        unsafe fn step<const P: usize, const EDGE: bool>(
            &self,
            acc: &mut [[__m256i; 2]; P],
            fw: *const __m256i,
            q: usize,
            load: &impl Fn(usize, usize) -> __m256i,
        ) {
            let (w0, w1) = (*fw.add(2 * q), *fw.add(2 * q + 1));
            for (k, [lo, hi]) in acc.iter_mut().enumerate() {
                let tap = |t: usize| {
                    if !EDGE || self.live_taps.contains(&t) {
                        load(k, t)
                    } else {
                        self.zp16
                    }
                };
                let (xa, xb) = (tap(2 * q), tap(2 * q + 1));
                let (il, ih) = (_mm256_unpacklo_epi16(xa, xb), _mm256_unpackhi_epi16(xa, xb));
                *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(il, w0));
                *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(ih, w1));
            }
        }

        /// Requantize block `b`'s sums and store its sixteen outputs at `at`.
        #[inline(always)]
        unsafe fn finish(&mut self, b: usize, [acc_lo, acc_hi]: [__m256i; 2], at: usize) {
            let bytes = self.requant[2 * b].apply_pair(
                &self.requant[2 * b + 1],
                _mm256_permute2x128_si256::<0x20>(acc_lo, acc_hi),
                _mm256_permute2x128_si256::<0x31>(acc_lo, acc_hi),
            );
            let out = &mut self.y[at..at + 16];
            _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, bytes);
        }
    }

    impl WideKernel for Kernel<'_> {
        // Tap pairs wholly in padding rows (a 5×5 kernel over a 3-row image has two such rows
        // per output row) are not multiplied: they would add zp·(wa + wb) per channel for the
        // whole output row, which goes into the row's starting sums instead.
        #[target_feature(enable = "avx2")]
        unsafe fn start_row(&mut self, live: core::ops::Range<usize>) {
            self.live = if live.is_empty() {
                0..0
            } else {
                live.start / 2..live.end.div_ceil(2)
            };
            self.live_taps = live;
            for b in 0..self.blocks {
                let c0 = self.block_start(b);
                let bias = self.bias.as_ptr().add(4 * c0);
                let b0 = _mm256_loadu_si256(bias as *const _);
                let b1 = _mm256_loadu_si256(bias.add(32) as *const _);
                let mut acc_lo = _mm256_permute2x128_si256::<0x20>(b0, b1);
                let mut acc_hi = _mm256_permute2x128_si256::<0x31>(b0, b1);
                let fw = self.weights.add(2 * b * self.pairs);
                for q in (0..self.live.start).chain(self.live.end..self.pairs) {
                    acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(self.zp16, *fw.add(2 * q)));
                    acc_hi =
                        _mm256_add_epi32(acc_hi, _mm256_madd_epi16(self.zp16, *fw.add(2 * q + 1)));
                }
                self.row_start[b] = [acc_lo, acc_hi];
            }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn pair(&mut self, px: *const i8, second: usize, offsets: &[usize], at: usize) {
            let offsets = offsets.as_ptr();
            for b in 0..self.blocks {
                let c0 = self.block_start(b);
                let p = [px.add(c0), px.add(second + c0)];
                let load = |k: usize, t: usize| {
                    let at = p[k].add(*offsets.add(t));
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at as *const __m128i))
                };
                let [a0, a1] = self.sums::<2>(b, load);
                self.finish(b, a0, at + c0);
                self.finish(b, a1, at + self.c + c0);
            }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn single(&mut self, sources: &[*const i8], at: usize) {
            let sources = sources.as_ptr();
            for b in 0..self.blocks {
                let c0 = self.block_start(b);
                let load = |_: usize, t: usize| {
                    let at = (*sources.add(t)).add(c0);
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(at as *const __m128i))
                };
                let [acc] = self.sums::<1>(b, load);
                self.finish(b, acc, at + c0);
            }
        }
    }
}

/// NEON, sixteen channels at a time, two taps per int16 accumulation: with weights in
/// −127..=127 (the int8 weight range of the TFLite spec; a layer holding −128 takes the 8-lane
/// kernel) two products sum to at most 2·128·127 < 2^15, so `SMULL` + `SMLAL` of two taps stay
/// exact in int16 before `SADDW` widens them into the int32 sums. Tap offsets per output pixel,
/// weights and requantization constants per op are prepared as in the AVX2 kernel, and the
/// requantized int32 lanes narrow with saturation before the zero point is added, which gives
/// the reference's saturating add and clamp (see [`crate::kernels::neon::Requant16`]).
#[cfg(target_arch = "aarch64")]
mod neon_wide {
    use super::*;
    use crate::kernels::neon::{holds_min, Requant16};
    use core::arch::aarch64::*;

    use super::WIDE_MAX_TAPS as MAX_TAPS;
    const MAX_BLOCKS: usize = super::WIDE_MAX_CHANNELS / 16;
    /// Stack bytes for the reordered weights (channel blocks × taps × 16).
    const MAX_WEIGHT_BYTES: usize = 16384;

    /// Returns `false` (nothing written) when the shape or the weights are not covered.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let (n, c) = (x.info.dims[0] as usize, x.info.dims[3] as usize);
        let taps = (w.info.dims[1] * w.info.dims[2]) as usize;
        let pairs = taps.div_ceil(2);
        let blocks = c.div_ceil(16);
        let wd = w.as_i8();
        if c < 16
            || taps > MAX_TAPS
            || blocks > MAX_BLOCKS
            || 16 * blocks * 2 * pairs > MAX_WEIGHT_BYTES
            || bias.data.len() < 4 * c
            || rq.data.len() < 8 * c
            || wd.len() < c * taps
            || holds_min(&wd[..c * taps])
        {
            return false;
        }
        let block_start = |b: usize| wide_block_start(c, b);
        // weights[(b·2·pairs + t)]: tap t of channels block_start(b)..+16 (t = taps is zero)
        let mut weights = [vdupq_n_s8(0); MAX_WEIGHT_BYTES / 16];
        for b in 0..blocks {
            let c0 = block_start(b);
            for t in 0..taps {
                let lane: [i8; 16] = core::array::from_fn(|j| wd[(c0 + j) * taps + t]);
                weights[b * 2 * pairs + t] = vld1q_s8(lane.as_ptr());
            }
        }
        let y = &mut outs[0];
        let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
        let requant: [Requant16; MAX_BLOCKS] = core::array::from_fn(|b| {
            let c0 = block_start(b.min(blocks - 1));
            Requant16::from_table(
                rq.data.as_ptr().add(8 * c0),
                bias.data.as_ptr().add(4 * c0),
                y.info.zero_point,
                p.act_min,
                p.act_max,
            )
        });
        let window = TapWindow::new(p, &x.info, &w.info);
        let zp = x.info.zero_point as i8;
        let mut kernel = Kernel {
            weights: weights.as_ptr(),
            per_block: 2 * pairs,
            taps,
            c,
            blocks,
            requant: &requant,
            zp,
            live: 0..0,
            row_start: [[vdupq_n_s32(0); 4]; MAX_BLOCKS],
            y: y.as_i8_mut(),
        };
        walk_pixels(&window, x.as_i8(), (n, oh, ow), zp, &mut kernel);
        true
    }

    /// The per-op constants and the current output row's state of the walk.
    struct Kernel<'a> {
        /// `weights[b·per_block + t]`: tap `t` of block `b`'s sixteen channels.
        weights: *const int8x16_t,
        per_block: usize,
        taps: usize,
        c: usize,
        blocks: usize,
        requant: &'a [Requant16; MAX_BLOCKS],
        zp: i8,
        /// The current row's live taps.
        live: core::ops::Range<usize>,
        /// Per block, the current row's starting sums: the bias and the dead taps' products.
        row_start: [[int32x4_t; 4]; MAX_BLOCKS],
        y: &'a mut [i8],
    }

    impl Kernel<'_> {
        fn block_start(&self, b: usize) -> usize {
            wide_block_start(self.c, b)
        }

        /// Block `b`'s sums for `P` pixels over the live taps, `load(k, t)` giving pixel `k`'s
        /// tap `t`, sixteen inputs. The pixels share each weight load.
        #[inline(always)]
        unsafe fn sums<const P: usize>(
            &self,
            b: usize,
            load: impl Fn(usize, usize) -> int8x16_t,
        ) -> [[int32x4_t; 4]; P] {
            let fw = self.weights.add(b * self.per_block);
            let mut acc = [self.row_start[b]; P];
            let mut t = self.live.start;
            while t + 2 <= self.live.end {
                let (wa, wb) = (*fw.add(t), *fw.add(t + 1));
                for (k, a) in acc.iter_mut().enumerate() {
                    tap_pair(a, load(k, t), load(k, t + 1), wa, wb);
                }
                t += 2;
            }
            if t < self.live.end {
                let wa = *fw.add(t);
                for (k, a) in acc.iter_mut().enumerate() {
                    let xa = load(k, t);
                    tap_pair(a, xa, xa, wa, vdupq_n_s8(0));
                }
            }
            acc
        }

        #[inline(always)]
        unsafe fn store(&mut self, at: usize, v: int8x16_t) {
            vst1q_s8(self.y[at..at + 16].as_mut_ptr(), v);
        }
    }

    impl WideKernel for Kernel<'_> {
        // Kernel rows wholly in the padding (a 5×5 kernel over a 3-row image reads two per
        // output row) are not multiplied: their taps add zp·Σw per channel, the same for the
        // whole output row, which goes into the row's starting sums instead.
        #[target_feature(enable = "neon")]
        unsafe fn start_row(&mut self, live: core::ops::Range<usize>) {
            for b in 0..self.blocks {
                let fw = self.weights.add(b * self.per_block);
                // Σw over the dead taps fits int16 (≤ 64 taps of |w| ≤ 127)
                let (mut lo, mut hi) = (vdupq_n_s16(0), vdupq_n_s16(0));
                for t in (0..live.start).chain(live.end..self.taps) {
                    lo = vaddw_s8(lo, vget_low_s8(*fw.add(t)));
                    hi = vaddw_high_s8(hi, *fw.add(t));
                }
                let zp = self.zp as i16;
                let bias = *self.requant[b].bias();
                self.row_start[b] = [
                    vmlal_n_s16(bias[0], vget_low_s16(lo), zp),
                    vmlal_high_n_s16(bias[1], lo, zp),
                    vmlal_n_s16(bias[2], vget_low_s16(hi), zp),
                    vmlal_high_n_s16(bias[3], hi, zp),
                ];
            }
            self.live = live;
        }

        #[target_feature(enable = "neon")]
        unsafe fn pair(&mut self, px: *const i8, second: usize, offsets: &[usize], at: usize) {
            // `live` lies inside `0..taps` (the length of `offsets`)
            let offsets = offsets.as_ptr();
            for b in 0..self.blocks {
                let c0 = self.block_start(b);
                let p = [px.add(c0), px.add(second + c0)];
                let [a0, a1] = self.sums::<2>(b, |k, t| vld1q_s8(p[k].add(*offsets.add(t))));
                let rq = &self.requant[b];
                self.store(at + c0, rq.apply(a0));
                self.store(at + self.c + c0, rq.apply(a1));
            }
        }

        #[target_feature(enable = "neon")]
        unsafe fn single(&mut self, sources: &[*const i8], at: usize) {
            let sources = sources.as_ptr();
            for b in 0..self.blocks {
                let c0 = self.block_start(b);
                let [acc] = self.sums::<1>(b, |_, t| vld1q_s8((*sources.add(t)).add(c0)));
                let v = self.requant[b].apply(acc);
                self.store(at + c0, v);
            }
        }
    }
}

/// Sixteen channels' products of two taps summed in int16 (exact: see `neon_wide`), widened
/// into the four int32 sums.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn tap_pair(
    acc: &mut [core::arch::aarch64::int32x4_t; 4],
    xa: core::arch::aarch64::int8x16_t,
    xb: core::arch::aarch64::int8x16_t,
    wa: core::arch::aarch64::int8x16_t,
    wb: core::arch::aarch64::int8x16_t,
) {
    use core::arch::aarch64::*;
    let lo = vmlal_s8(
        vmull_s8(vget_low_s8(xa), vget_low_s8(wa)),
        vget_low_s8(xb),
        vget_low_s8(wb),
    );
    let hi = vmlal_high_s8(vmull_high_s8(xa, wa), xb, wb);
    acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
    acc[1] = vaddw_high_s16(acc[1], lo);
    acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
    acc[3] = vaddw_high_s16(acc[3], hi);
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
            let requant =
                Requant8::from_table(rq.data.as_ptr().add(8 * c0), y_zp, p.act_min, p.act_max);
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

/// AVX-512, layers of exactly eight channels (the sixteen-channel kernels need sixteen): two
/// neighbouring pixels per 512-bit vector. Per tap both pixels' eight bytes are widened to int32
/// together and multiplied by the tap's weights zero-extended from int16 (`VPMADDWD`: each
/// lane's high word meets zero), and each pair is requantized by one [`Requant16`] step into
/// sixteen consecutive output bytes. Pixels whose window leaves the image go one at a time, their
/// padding taps reading the zero point, as in the reference.
///
/// [`Requant16`]: crate::kernels::avx512::Requant16
#[cfg(target_arch = "x86_64")]
mod eight512 {
    use super::*;
    use crate::kernels::avx2::Requant8;
    use crate::kernels::avx512::Requant16;
    use core::arch::x86_64::*;

    /// Largest kernel (taps) handled here.
    const MAX_TAPS: usize = 64;
    const C: usize = 8;

    /// Returns `false` (nothing written) when the shape is not covered.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn eval(
        p: &ConvParams,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let [n, h, wi, c] = [0, 1, 2, 3].map(|i| x.info.dims[i] as usize);
        let [kh, kw] = [w.info.dims[1] as usize, w.info.dims[2] as usize];
        let taps = kh * kw;
        let y = &mut outs[0];
        let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
        let fits = c == C
            && taps > 0
            && taps <= MAX_TAPS
            && w.data.len() >= C * taps
            && bias.data.len() >= 4 * C
            && rq.data.len() >= 8 * C
            && x.data.len() >= n * h * wi * C
            && y.data.len() >= n * oh * ow * C;
        if !fits {
            return false;
        }
        let wd = w.as_i8();
        // per tap, the eight channels' weights zero-extended from int16, for both pixels
        let mut weights = [_mm512_setzero_si512(); MAX_TAPS];
        for (t, v) in weights.iter_mut().enumerate().take(taps) {
            let lanes: [i32; 16] =
                core::array::from_fn(|j| wd[(j % C) * taps + t] as i16 as u16 as i32);
            *v = _mm512_loadu_si512(lanes.as_ptr() as *const __m512i);
        }
        let b = _mm256_loadu_si256(bias.data.as_ptr() as *const __m256i);
        let bias2 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(b), b);
        let eight = Requant8::from_table(rq.data.as_ptr(), y.info.zero_point, p.act_min, p.act_max);
        let requant = Requant16::join(&eight, &eight);
        let window = TapWindow::new(p, &x.info, &w.info);
        let zero_row = [x.info.zero_point as i8; C];
        let mut sources = [zero_row.as_ptr(); MAX_TAPS];
        let (xd, yd) = (x.as_i8(), y.as_i8_mut());
        for img in 0..n {
            let image = &xd[img * h * wi * C..(img + 1) * h * wi * C];
            let out = yd[img * oh * ow * C..(img + 1) * oh * ow * C].as_mut_ptr();
            for oy in 0..oh {
                let mut ox = 0;
                while ox < ow {
                    let at = out.add((oy * ow + ox) * C);
                    if ox + 1 < ow && inside(&window, oy, ox) && inside(&window, oy, ox + 1) {
                        let sums = pair_sums(&window, image, (oy, ox), &weights, bias2);
                        _mm_storeu_si128(at as *mut __m128i, requant.apply(sums));
                        ox += 2;
                    } else {
                        window.fill(image, zero_row.as_ptr(), (oy, ox), &mut sources[..taps]);
                        let sums = edge_sums(&sources[..taps], &weights, b);
                        let bytes = requant.apply(_mm512_castsi256_si512(sums));
                        (at as *mut u64).write_unaligned(_mm_cvtsi128_si64(bytes) as u64);
                        ox += 1;
                    }
                }
            }
        }
        true
    }

    /// Whether output pixel (`oy`, `ox`)'s every tap lies in the image.
    fn inside(win: &TapWindow, oy: usize, ox: usize) -> bool {
        let y0 = (oy * win.stride[0]).wrapping_sub(win.pad[0]);
        let x0 = (ox * win.stride[1]).wrapping_sub(win.pad[1]);
        y0 < win.h
            && y0 + (win.kh - 1) * win.dilation[0] < win.h
            && x0 < win.w
            && x0 + (win.kw - 1) * win.dilation[1] < win.w
    }

    /// The sums of pixels (`oy`, `ox`) and (`oy`, `ox + 1`), both inside, eight lanes each.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    unsafe fn pair_sums(
        win: &TapWindow,
        image: &[i8],
        (oy, ox): (usize, usize),
        weights: &[__m512i; MAX_TAPS],
        bias: __m512i,
    ) -> __m512i {
        let first =
            ((oy * win.stride[0] - win.pad[0]) * win.w + (ox * win.stride[1] - win.pad[1])) * C;
        let second = win.stride[1] * C;
        let last =
            first + ((win.kh - 1) * win.dilation[0] * win.w + (win.kw - 1) * win.dilation[1]) * C;
        assert!(last + second + C <= image.len());
        let base = image.as_ptr().add(first);
        let mut acc = bias;
        for ky in 0..win.kh {
            let row = base.add(ky * win.dilation[0] * win.w * C);
            for kx in 0..win.kw {
                let src = row.add(kx * win.dilation[1] * C);
                let a = (src as *const i64).read_unaligned();
                let b = (src.add(second) as *const i64).read_unaligned();
                let x = _mm512_cvtepi8_epi32(_mm_set_epi64x(b, a));
                let prod = _mm512_madd_epi16(x, weights[ky * win.kw + kx]);
                acc = _mm512_add_epi32(acc, prod);
            }
        }
        acc
    }

    /// The sums of one pixel whose tap `t` reads the eight bytes at `sources[t]` (the zero
    /// point row for padding taps, as [`TapWindow::fill`] points them).
    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn edge_sums(
        sources: &[*const i8],
        weights: &[__m512i; MAX_TAPS],
        bias: __m256i,
    ) -> __m256i {
        let mut acc = bias;
        for (&src, &w) in sources.iter().zip(weights) {
            let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(src as *const __m128i));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm512_castsi512_si256(w)));
        }
        acc
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
