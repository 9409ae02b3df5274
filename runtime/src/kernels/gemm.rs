//! Convolution as a matrix product on the vector paths (AVX2, NEON): four output pixels at a
//! time against every output channel, eight channels per vector.
//!
//! Why a second tiling next to [`super::dot::RowBlock`]: MobileNet-style pointwise layers have
//! few input channels (8–200), so a tile that sums along `k` spends more on its horizontal
//! reductions and per-tile requantization than on multiply-adds. Here each vector lane is an
//! output channel: an activation (or a pair) is broadcast and multiplied by the weights of eight
//! channels, the sums land in channel order and a requantization serves four pixels × eight
//! channels. The weights are reordered into that channel-vector order on the stack once per op
//! (`k × co` int16, bounded by [`MAX_WEIGHTS`]); larger layers keep the row tiles. The sums are
//! the reference kernel's (raw products, zero point folded into the bias), wrapping the same way.

use super::conv::Geometry;
use crate::tensor::{TensorMut, TensorRef};

/// Output pixels per tile.
const TILE: usize = 4;
/// Longest row (`kh·kw·cin`) handled here.
const MAX_K: usize = 2048;
/// Most weight values (`k` rounded up to even × channel blocks × 8) reordered on the stack.
const MAX_WEIGHTS: usize = 16384;
/// Most channel blocks (512 output channels).
const MAX_BLOCKS: usize = 64;

/// Run the convolution if the path has a channel-vector kernel and the layer fits its stack
/// buffers; `false` leaves the output untouched for the caller's kernel.
pub(super) fn eval(
    path: super::KernelPath,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    geometry: &Geometry,
    in_place: bool,
    clamp: (i8, i8),
) -> bool {
    let Some(layer) = Layer::new(ins, outs, geometry, in_place, clamp) else {
        return false;
    };
    let _ = (path, &layer);
    #[cfg(target_arch = "x86_64")]
    if path == super::KernelPath::Avx2 {
        // SAFETY: the AVX2 path is only selected on CPUs that have it; `Layer::new` checked
        // every length the kernel relies on.
        unsafe { avx2::eval(&layer, ins, outs) };
        return true;
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        // SAFETY: NEON is part of every AArch64 core, the dot-product path is only selected on
        // CPUs that have it; lengths checked by `Layer::new` and `neon::eval`.
        return unsafe { neon::eval(path, &layer, ins, outs) };
    }
    false
}

/// The shape facts both kernels use, checked once.
struct Layer<'g> {
    geometry: &'g Geometry,
    in_place: bool,
    /// Output channels.
    co: usize,
    /// Row length `kh·kw·cin`.
    k: usize,
    /// Output pixels per image.
    pixels: usize,
    images: usize,
    zero_point: i32,
    clamp: (i8, i8),
}

impl<'g> Layer<'g> {
    fn new(
        ins: &[TensorRef<'_>],
        outs: &[TensorMut<'_>],
        geometry: &'g Geometry,
        in_place: bool,
        clamp: (i8, i8),
    ) -> Option<Layer<'g>> {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let y = &outs[0];
        let co = w.info.dims[0] as usize;
        let k = (w.info.dims[1] * w.info.dims[2] * w.info.dims[3]) as usize;
        let pixels = (y.info.dims[1] * y.info.dims[2]) as usize;
        let images = x.info.dims[0] as usize;
        let fits = co >= 8
            && co.div_ceil(8) <= MAX_BLOCKS
            && k <= MAX_K
            && k.div_ceil(2) * 2 * co.div_ceil(8) * 8 <= MAX_WEIGHTS
            && pixels >= TILE
            && w.data.len() >= co * k
            && bias.data.len() >= 4 * co
            && rq.data.len() >= 8 * co
            && x.data.len() >= images * geometry.h * geometry.w * geometry.c
            && y.data.len() >= images * pixels * co
            && (!in_place || geometry.c == k);
        fits.then_some(Layer {
            geometry,
            in_place,
            co,
            k,
            pixels,
            images,
            zero_point: y.info.zero_point,
            clamp,
        })
    }

    /// First channel of block `b` (eight channels); the last block overlaps the one before it
    /// when `co` is not a multiple of 8 (those channels are computed twice, identically).
    fn block_start(&self, b: usize) -> usize {
        (8 * b).min(self.co - 8)
    }

    fn blocks(&self) -> usize {
        self.co.div_ceil(8)
    }

    /// The input row of output pixel `px` (its first `k` bytes; more may follow): in place,
    /// running on to the end of the image, or gathered into `buf` (all of `buf`).
    fn row<'a>(&self, image: &'a [i8], px: usize, buf: &'a mut [i8]) -> &'a [i8] {
        if self.in_place {
            &image[px * self.k..]
        } else {
            self.geometry.im2col(image, px, &mut buf[..self.k]);
            buf
        }
    }
}

/// AVX2: `VPMADDWD` of a broadcast activation pair (int16) with eight channels' weight pairs
/// adds 16 products into eight int32 lanes; four pixels share each weight vector.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::kernels::avx2::Requant8;
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn eval(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let (k, co) = (l.k, l.co);
        let pairs = k.div_ceil(2);
        let wd = w.as_i8();
        // packed[b·pairs + q]: channels block_start(b)..+8, each (w[2q], w[2q+1]) as int16
        let mut packed: MaybeUninit<[__m256i; MAX_WEIGHTS / 16]> = MaybeUninit::uninit();
        let packed = packed.as_mut_ptr() as *mut __m256i;
        let lanes = packed as *mut i16;
        for b in 0..l.blocks() {
            let c0 = l.block_start(b);
            for j in 0..8 {
                // one weight row, read in order, written to lane pair j of each vector
                let row = wd.as_ptr().add((c0 + j) * k);
                let dst = lanes.add(b * pairs * 16 + 2 * j);
                for t in 0..k {
                    dst.add((t / 2) * 16 + t % 2).write(*row.add(t) as i16);
                }
                if k % 2 == 1 {
                    dst.add((k / 2) * 16 + 1).write(0);
                }
            }
        }
        // rows widened to int16, one zero past `k` so the last pair of an odd row is whole
        let mut wide: MaybeUninit<[[i16; MAX_K + 2]; TILE]> = MaybeUninit::uninit();
        let wide = wide.as_mut_ptr() as *mut [i16; MAX_K + 2];
        let mut cols = [[0i8; MAX_K]; TILE];
        let (zp, (lo, hi)) = (l.zero_point, l.clamp);
        let table = rq.data.as_ptr();
        let mut requant: MaybeUninit<[Requant8; MAX_BLOCKS]> = MaybeUninit::uninit();
        let requant = requant.as_mut_ptr() as *mut Requant8;
        for b in 0..l.blocks() {
            let c0 = l.block_start(b);
            requant
                .add(b)
                .write(Requant8::from_table(table.add(8 * c0), false, zp, lo, hi));
        }
        let xd = x.as_i8();
        let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
        let yd = outs[0].as_i8_mut();
        for img in 0..l.images {
            let image = &xd[img * image_len..(img + 1) * image_len];
            let out = &mut yd[img * l.pixels * co..(img + 1) * l.pixels * co];
            let mut px = 0;
            while px < l.pixels {
                for (r, col) in cols.iter_mut().enumerate() {
                    // rows past the end repeat the last pixel (computed, not stored)
                    let row = &l.row(image, (px + r).min(l.pixels - 1), col)[..k];
                    let dst = wide.add(r) as *mut i16;
                    widen(row, dst);
                    dst.add(k).write(0);
                }
                let at = |r: usize| wide.add(r) as *const i32;
                let rows = [at(0), at(1), at(2), at(3)];
                let live = TILE.min(l.pixels - px);
                let store = |out: &mut [i8], b: usize, acc: [__m256i; TILE]| {
                    let c0 = l.block_start(b);
                    let mut lanes = [0u64; TILE];
                    let bytes = (*requant.add(b)).apply4(acc);
                    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, bytes);
                    for (r, &v) in lanes.iter().enumerate().take(live) {
                        let dst = &mut out[(px + r) * co + c0..(px + r) * co + c0 + 8];
                        core::ptr::write_unaligned(dst.as_mut_ptr() as *mut u64, v);
                    }
                };
                let bias_of = |b: usize| {
                    _mm256_loadu_si256(bias.data.as_ptr().add(4 * l.block_start(b)) as *const _)
                };
                let mut b = 0;
                // two channel blocks at a time: each broadcast activation pair serves 16 lanes
                while b + 2 <= l.blocks() {
                    let (mut acc0, mut acc1) = ([bias_of(b); TILE], [bias_of(b + 1); TILE]);
                    let (w0, w1) = (packed.add(b * pairs), packed.add((b + 1) * pairs));
                    for q in 0..pairs {
                        let (v0, v1) = (*w0.add(q), *w1.add(q));
                        for r in 0..TILE {
                            let xv = _mm256_set1_epi32(rows[r].add(q).read_unaligned());
                            acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(xv, v0));
                            acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(xv, v1));
                        }
                    }
                    store(out, b, acc0);
                    store(out, b + 1, acc1);
                    b += 2;
                }
                if b < l.blocks() {
                    let mut acc = [bias_of(b); TILE];
                    let wb = packed.add(b * pairs);
                    for q in 0..pairs {
                        let wv = *wb.add(q);
                        for r in 0..TILE {
                            let xv = _mm256_set1_epi32(rows[r].add(q).read_unaligned());
                            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(xv, wv));
                        }
                    }
                    store(out, b, acc);
                }
                px += TILE;
            }
        }
    }

    /// Sign-extend `row` into `dst` (16 at a time, then one by one).
    #[target_feature(enable = "avx2")]
    unsafe fn widen(row: &[i8], dst: *mut i16) {
        let mut i = 0;
        while i + 16 <= row.len() {
            let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(row.as_ptr().add(i) as *const __m128i));
            _mm256_storeu_si256(dst.add(i) as *mut __m256i, v);
            i += 16;
        }
        while i < row.len() {
            dst.add(i).write(row[i] as i16);
            i += 1;
        }
    }
}

/// NEON: on the baseline path `SMLAL`/`SMLAL2` by element multiply eight channels' int16
/// weights by one int16 activation (eight products per instruction); with the dot-product
/// extension `SDOT` by element multiplies four channels × four `k` of int8 weights by four
/// activations of one pixel (16 products per instruction). Four pixels share each weight load.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use crate::kernels::neon::Requant16;
    use crate::kernels::KernelPath;
    use core::arch::aarch64::*;
    use core::mem::MaybeUninit;

    /// Four pixels' int32 sums for eight channels (two vectors each).
    type Sums = [[int32x4_t; 2]; TILE];

    /// Returns `false` (nothing written) when the reordered weights do not fit.
    pub(super) unsafe fn eval(
        path: KernelPath,
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        if matches!(path, KernelPath::Dotprod | KernelPath::I8mm) {
            eval_dotprod(l, ins, outs)
        } else {
            eval_baseline(l, ins, outs)
        }
    }

    /// The shared loop: gather and prepare four rows (`load_row(r, row)`, where `row` holds
    /// the pixel's `k` bytes and possibly more), then per channel block `sums(b, bias)` (the
    /// sums start from the bias), requantization and stores.
    #[inline(always)]
    unsafe fn drive(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
        mut load_row: impl FnMut(usize, &[i8]),
        mut sums: impl FnMut(usize, [int32x4_t; 2]) -> Sums,
    ) {
        let (x, bias, rq) = (&ins[0], &ins[2], &ins[3]);
        let co = l.co;
        let mut requant: MaybeUninit<[Requant16; MAX_BLOCKS]> = MaybeUninit::uninit();
        let requant = requant.as_mut_ptr() as *mut Requant16;
        for b in 0..l.blocks() {
            let c0 = l.block_start(b);
            requant.add(b).write(Requant16::repeat8(
                rq.data.as_ptr().add(8 * c0),
                bias.data.as_ptr().add(4 * c0),
                l.zero_point,
                l.clamp,
            ));
        }
        let mut cols = [[0i8; MAX_K]; TILE];
        let xd = x.as_i8();
        let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
        let yd = outs[0].as_i8_mut();
        for img in 0..l.images {
            let image = &xd[img * image_len..(img + 1) * image_len];
            let out = &mut yd[img * l.pixels * co..(img + 1) * l.pixels * co];
            let mut px = 0;
            while px < l.pixels {
                for (r, col) in cols.iter_mut().enumerate() {
                    // rows past the end repeat the last pixel (computed, not stored)
                    load_row(r, l.row(image, (px + r).min(l.pixels - 1), col));
                }
                let live = TILE.min(l.pixels - px);
                for b in 0..l.blocks() {
                    let c0 = l.block_start(b);
                    let rq = &*requant.add(b);
                    let [b0, b1, _, _] = rq.bias();
                    let s = sums(b, [b0, b1]);
                    for pair in 0..TILE / 2 {
                        let (a, z) = (s[2 * pair], s[2 * pair + 1]);
                        let bytes = rq.apply([a[0], a[1], z[0], z[1]]);
                        let r = 2 * pair;
                        if r < live {
                            let dst = &mut out[(px + r) * co + c0..(px + r) * co + c0 + 8];
                            vst1_s8(dst.as_mut_ptr(), vget_low_s8(bytes));
                        }
                        if r + 1 < live {
                            let dst = &mut out[(px + r + 1) * co + c0..(px + r + 1) * co + c0 + 8];
                            vst1_s8(dst.as_mut_ptr(), vget_high_s8(bytes));
                        }
                    }
                }
                px += TILE;
            }
        }
    }

    /// Baseline: weights as int16, `[block][k rounded up to 8][8 channels]`.
    #[target_feature(enable = "neon")]
    unsafe fn eval_baseline(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let k = l.k;
        let kp = k.div_ceil(8) * 8;
        if kp * l.blocks() > MAX_WEIGHTS / 8 {
            return false;
        }
        let wd = ins[1].as_i8();
        let mut packed: MaybeUninit<[int16x8_t; MAX_WEIGHTS / 8]> = MaybeUninit::uninit();
        let packed = packed.as_mut_ptr() as *mut int16x8_t;
        let lanes = packed as *mut i16;
        for b in 0..l.blocks() {
            let c0 = l.block_start(b);
            for j in 0..8 {
                // one weight row, read in order, written to lane j of each vector
                let row = wd.as_ptr().add((c0 + j) * k);
                let dst = lanes.add(b * kp * 8 + j);
                for t in 0..kp {
                    let v = if t < k { *row.add(t) as i16 } else { 0 };
                    dst.add(t * 8).write(v);
                }
            }
        }
        let mut wide: MaybeUninit<[[i16; MAX_K + 8]; TILE]> = MaybeUninit::uninit();
        let wide = wide.as_mut_ptr() as *mut [i16; MAX_K + 8];
        let load_row = |r: usize, row: &[i8]| {
            let row = &row[..k];
            let dst = wide.add(r) as *mut i16;
            let mut i = 0;
            while i + 8 <= row.len() {
                vst1q_s16(dst.add(i), vmovl_s8(vld1_s8(row.as_ptr().add(i))));
                i += 8;
            }
            while i < kp {
                dst.add(i)
                    .write(if i < row.len() { row[i] as i16 } else { 0 });
                i += 1;
            }
        };
        let sums = |b: usize, bias: [int32x4_t; 2]| -> Sums {
            let mut acc = [bias; TILE];
            let wb = packed.add(b * kp);
            let rows: [*const i16; TILE] = core::array::from_fn(|r| wide.add(r) as *const i16);
            let mut g = 0;
            while g < kp {
                let xs: [int16x8_t; TILE] = core::array::from_fn(|r| vld1q_s16(rows[r].add(g)));
                let w = wb.add(g);
                mla_lane::<0>(&mut acc, *w, &xs);
                mla_lane::<1>(&mut acc, *w.add(1), &xs);
                mla_lane::<2>(&mut acc, *w.add(2), &xs);
                mla_lane::<3>(&mut acc, *w.add(3), &xs);
                mla_lane::<4>(&mut acc, *w.add(4), &xs);
                mla_lane::<5>(&mut acc, *w.add(5), &xs);
                mla_lane::<6>(&mut acc, *w.add(6), &xs);
                mla_lane::<7>(&mut acc, *w.add(7), &xs);
                g += 8;
            }
            acc
        };
        drive(l, ins, outs, load_row, sums);
        true
    }

    /// `acc[r] += w · xs[r][L]` for eight channels of int16 weights.
    #[inline(always)]
    unsafe fn mla_lane<const L: i32>(acc: &mut Sums, w: int16x8_t, xs: &[int16x8_t; TILE]) {
        for (a, &x) in acc.iter_mut().zip(xs) {
            a[0] = vmlal_laneq_s16::<L>(a[0], vget_low_s16(w), x);
            a[1] = vmlal_high_laneq_s16::<L>(a[1], w, x);
        }
    }

    /// `SDOT`: weights as int8, `[block][k/4 rounded up][8 channels][4]`; rows as int8 padded
    /// with zeros to a multiple of 16.
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn eval_dotprod(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) -> bool {
        let k = l.k;
        let groups = k.div_ceil(4);
        if 32 * groups * l.blocks() > 2 * MAX_WEIGHTS {
            return false;
        }
        let wd = ins[1].as_i8();
        let mut packed: MaybeUninit<[int8x16_t; MAX_WEIGHTS / 8]> = MaybeUninit::uninit();
        let packed = packed.as_mut_ptr() as *mut int8x16_t;
        for b in 0..l.blocks() {
            let c0 = l.block_start(b);
            for g in 0..groups {
                // four channels' four weights (one word each) per vector
                let word = |ch: usize| -> u32 {
                    let row = &wd[ch * k..(ch + 1) * k];
                    match row.get(4 * g..4 * g + 4) {
                        Some(w) => {
                            u32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8])
                        }
                        None => {
                            let mut w = [0u8; 4];
                            for (i, v) in w.iter_mut().enumerate() {
                                *v = row.get(4 * g + i).map_or(0, |&b| b as u8);
                            }
                            u32::from_le_bytes(w)
                        }
                    }
                };
                for half in 0..2 {
                    let words: [u32; 4] = core::array::from_fn(|j| word(c0 + 4 * half + j));
                    packed
                        .add(2 * (b * groups + g) + half)
                        .write(vreinterpretq_s8_u32(vld1q_u32(words.as_ptr())));
                }
            }
        }
        let mut rows8 = [[0i8; MAX_K + 16]; TILE];
        let padded = k.div_ceil(16) * 16;
        let rows_ptr = rows8.as_mut_ptr();
        let mut rows: [*const i8; TILE] = [core::ptr::null(); TILE];
        let rows_at = rows.as_mut_ptr();
        // Rows are read in 16-byte steps up to `padded`; bytes past `k` meet zero weights, so
        // a row with that much readable memory behind it is used where it lies.
        let load_row = |r: usize, row: &[i8]| {
            let src = if row.len() >= padded {
                row.as_ptr()
            } else {
                let dst = &mut (&mut *rows_ptr.add(r))[..padded];
                dst[..k].copy_from_slice(&row[..k]);
                dst.as_ptr()
            };
            rows_at.add(r).write(src);
        };
        let sums = |b: usize, bias: [int32x4_t; 2]| -> Sums {
            let mut acc = [bias; TILE];
            let wb = packed.add(2 * b * groups);
            let rows = *(rows_at as *const [*const i8; TILE]);
            let mut g = 0;
            while g < groups {
                let xs: [int8x16_t; TILE] = core::array::from_fn(|r| vld1q_s8(rows[r].add(4 * g)));
                let w = wb.add(2 * g);
                sdot_lane::<0>(&mut acc, *w, *w.add(1), &xs);
                if g + 1 < groups {
                    sdot_lane::<1>(&mut acc, *w.add(2), *w.add(3), &xs);
                }
                if g + 2 < groups {
                    sdot_lane::<2>(&mut acc, *w.add(4), *w.add(5), &xs);
                }
                if g + 3 < groups {
                    sdot_lane::<3>(&mut acc, *w.add(6), *w.add(7), &xs);
                }
                g += 4;
            }
            acc
        };
        drive(l, ins, outs, load_row, sums);
        true
    }

    /// `acc[r][h] += SDOT(w_h, xs[r].4b[L])`: channels 0–3 (`w0`) and 4–7 (`w1`), four `k`
    /// each, against the four activations in 32-bit lane `L` of each pixel's vector.
    #[inline(always)]
    unsafe fn sdot_lane<const L: i32>(
        acc: &mut Sums,
        w0: int8x16_t,
        w1: int8x16_t,
        xs: &[int8x16_t; TILE],
    ) {
        core::arch::asm!(
            "sdot {a00:v}.4s, {w0:v}.16b, {x0:v}.4b[{l}]",
            "sdot {a01:v}.4s, {w1:v}.16b, {x0:v}.4b[{l}]",
            "sdot {a10:v}.4s, {w0:v}.16b, {x1:v}.4b[{l}]",
            "sdot {a11:v}.4s, {w1:v}.16b, {x1:v}.4b[{l}]",
            "sdot {a20:v}.4s, {w0:v}.16b, {x2:v}.4b[{l}]",
            "sdot {a21:v}.4s, {w1:v}.16b, {x2:v}.4b[{l}]",
            "sdot {a30:v}.4s, {w0:v}.16b, {x3:v}.4b[{l}]",
            "sdot {a31:v}.4s, {w1:v}.16b, {x3:v}.4b[{l}]",
            a00 = inout(vreg) acc[0][0], a01 = inout(vreg) acc[0][1],
            a10 = inout(vreg) acc[1][0], a11 = inout(vreg) acc[1][1],
            a20 = inout(vreg) acc[2][0], a21 = inout(vreg) acc[2][1],
            a30 = inout(vreg) acc[3][0], a31 = inout(vreg) acc[3][1],
            w0 = in(vreg) w0, w1 = in(vreg) w1,
            x0 = in(vreg_low16) xs[0], x1 = in(vreg_low16) xs[1],
            x2 = in(vreg_low16) xs[2], x3 = in(vreg_low16) xs[3],
            l = const L,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
}
