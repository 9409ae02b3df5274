//! Convolution and fully-connected layers as a matrix product on the vector paths (AVX2,
//! AVX-VNNI, NEON, SDOT, SMMLA): four rows (output pixels) at a time, or eight where one
//! instruction per pixel does a cell's multiply-adds (`SDOT`, `VPDPBUSD`), against every output
//! channel, eight channels per block of the blocked weights ([`crate::blocked`]).
//!
//! Why this tiling: MobileNet-style pointwise layers have few input channels (8–200), so a tile
//! that sums along `k` spends more on its horizontal reductions and per-tile requantization than
//! on multiply-adds. Here the lanes are output channels: activations are broadcast against a
//! cell of eight channels' weights, the sums land in channel order and one requantization
//! serves a tile's pixels × eight channels. The weights are streamed as the quantizer stored them.
//! The sums are the reference kernel's (raw products, zero point folded into the bias), wrapping
//! the same way.

use super::conv::Geometry;
use crate::blocked::{Blocked, ROWS};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::blocked::{CELL, DEPTH};
use crate::tensor::{TensorMut, TensorRef};

#[cfg(mote_arm32_neon)]
mod armv7;

/// Output pixels per tile.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const TILE: usize = 4;
/// Longest row (`kh·kw·cin` or a fully-connected `K`) handled here: rows are staged on the
/// stack. Longer ones take the row kernels. A multiple of 16.
const MAX_K: usize = 2048;
/// Channel blocks whose requantization constants are prepared once per op (512 channels);
/// further blocks prepare theirs per tile.
const CACHED_BLOCKS: usize = 64;

/// What the matrix product computes: `images` × `pixels` rows of `k` against `co` channels.
#[derive(Clone, Copy)]
pub(super) struct GemmShape {
    pub(super) images: usize,
    pub(super) pixels: usize,
    pub(super) co: usize,
    pub(super) k: usize,
}

/// Run the layer if the path has a channel-vector kernel and the rows fit the stack buffers;
/// `false` leaves the output untouched for the caller's kernel. `geometry` says where a pixel's
/// row comes from (gathered by im2col, or read in place when `in_place`).
pub(super) fn eval(
    path: super::KernelPath,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    (geometry, in_place): (&Geometry, bool),
    shape: GemmShape,
    clamp: (i8, i8),
) -> bool {
    let Some(layer) = Layer::new(ins, outs, geometry, in_place, shape, clamp) else {
        return false;
    };
    let _ = (path, &layer);
    #[cfg(target_arch = "x86_64")]
    if path.has_avx2() {
        // SAFETY: the AVX2 paths are only selected on CPUs that have them; `Layer::new`
        // checked every length the kernel relies on.
        unsafe {
            if path == super::KernelPath::Avx512 {
                avx512::eval(&layer, ins, outs)
            } else if path.has_avxvnni() {
                avx2::eval_vnni(&layer, ins, outs)
            } else {
                avx2::eval(&layer, ins, outs)
            }
        };
        return true;
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        // SAFETY: NEON is part of every AArch64 core, the dot-product path is only selected on
        // CPUs that have it; lengths checked by `Layer::new`.
        unsafe { neon::eval(path, &layer, ins, outs) };
        return true;
    }
    #[cfg(mote_arm32_neon)]
    if path == super::KernelPath::Neon {
        // SAFETY: the build targets NEON; lengths checked by `Layer::new`.
        return unsafe { armv7::eval(&layer, ins, outs) };
    }
    false
}

/// The shape facts both kernels use, checked once.
struct Layer<'g> {
    geometry: &'g Geometry,
    in_place: bool,
    /// Output channels.
    co: usize,
    /// Row length.
    k: usize,
    /// The blocked weights' shape.
    blocked: Blocked,
    /// Output pixels (rows) per image.
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
        s: GemmShape,
        clamp: (i8, i8),
    ) -> Option<Layer<'g>> {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let y = &outs[0];
        let blocked = Blocked { rows: s.co, k: s.k };
        let image_len = geometry.h * geometry.w * geometry.c;
        let fits = s.co > 0
            && s.k > 0
            && s.k <= MAX_K
            && s.pixels > 0
            && blocked.byte_len().is_some_and(|n| w.data.len() >= n)
            && bias.data.len() >= 4 * s.co
            && rq.data.len() >= 8 * s.co
            && x.data.len() >= s.images * image_len
            && y.data.len() >= s.images * s.pixels * s.co
            && (!in_place || (geometry.c == s.k && image_len >= s.pixels * s.k));
        fits.then_some(Layer {
            geometry,
            in_place,
            co: s.co,
            k: s.k,
            blocked,
            pixels: s.pixels,
            images: s.images,
            zero_point: y.info.zero_point,
            clamp,
        })
    }

    fn blocks(&self) -> usize {
        self.blocked.blocks()
    }

    /// Channels of block `b` that exist (8, or fewer in a last, padded block).
    fn live_channels(&self, b: usize) -> usize {
        (self.co - ROWS * b).min(ROWS)
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

/// The tile's buffers for gathered rows, `k` rounded up to 16 zeroed bytes each (empty when rows
/// are read in place): only what the kernels read is cleared, not `TILE × MAX_K` bytes per
/// layer, and the `SDOT` kernel reads its 16-byte steps straight from them.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
fn column_buffers<'a, const T: usize>(
    storage: &'a mut core::mem::MaybeUninit<[[i8; MAX_K]; T]>,
    l: &Layer<'_>,
) -> [&'a mut [i8]; T] {
    let len = if l.in_place { 0 } else { l.k.div_ceil(16) * 16 };
    let base = storage.as_mut_ptr() as *mut i8;
    // SAFETY: row r's first `len ≤ MAX_K` bytes are initialised here before the slice is made;
    // the rows do not overlap.
    core::array::from_fn(|r| unsafe {
        let p = base.add(r * MAX_K);
        p.write_bytes(0, len);
        core::slice::from_raw_parts_mut(p, len)
    })
}

/// Block `b`'s bias (8 int32) and requantization entries (8 pairs): pointers into the tensors,
/// or, for a last block with fewer channels, into `spare`, a copy padded with zeros (the padded
/// channels' results are computed and dropped).
///
/// # Safety
/// `bias` and `table` must hold `4·co` and `8·co` bytes.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
unsafe fn block_constants(
    l: &Layer<'_>,
    b: usize,
    (bias, table): (*const u8, *const u8),
    spare: &mut [u8; 96],
) -> (*const u8, *const u8) {
    let c0 = ROWS * b;
    let live = l.live_channels(b);
    if live == ROWS {
        return (bias.add(4 * c0), table.add(8 * c0));
    }
    spare.fill(0);
    core::ptr::copy_nonoverlapping(bias.add(4 * c0), spare.as_mut_ptr(), 4 * live);
    core::ptr::copy_nonoverlapping(table.add(8 * c0), spare.as_mut_ptr().add(32), 8 * live);
    (spare.as_ptr(), spare.as_ptr().add(32))
}

/// Store the first `live` of eight output bytes.
///
/// # Safety
/// `dst` must address `live` writable bytes.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn store8(dst: *mut i8, bytes: u64, live: usize) {
    if live == ROWS {
        (dst as *mut u64).write_unaligned(bytes);
    } else {
        let b = bytes.to_le_bytes();
        core::ptr::copy_nonoverlapping(b.as_ptr() as *const i8, dst, live);
    }
}

/// Store a tile's requantized bytes, `word(r)` holding pixel `r`'s eight channels: the first
/// `live` of the `T` pixels, `channels` bytes each, `co` bytes apart from `dst`. A whole tile
/// (every pixel, eight channels) takes one unchecked store per pixel.
///
/// # Safety
/// `dst` must address the `live` pixels' `channels` bytes, `co` apart.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn store_tile<const T: usize>(
    dst: *mut i8,
    co: usize,
    word: impl Fn(usize) -> u64,
    (live, channels): (usize, usize),
) {
    if live == T && channels == ROWS {
        let mut at = dst as *mut u64;
        for r in 0..T {
            at.write_unaligned(word(r));
            at = at.byte_add(co);
        }
        return;
    }
    for r in 0..live.min(T) {
        store8(dst.add(r * co), word(r), channels);
    }
}

/// Where a row is read from: in place when the `padded` bytes the kernels read are there
/// (bytes past `k` meet zero weights or are not used), else copied into `buf` and padded
/// with zeros.
///
/// # Safety
/// `buf` must address `padded ≥ k` writable bytes; `row` holds at least `k`.
#[cfg(any(target_arch = "aarch64", mote_arm32_neon))]
#[inline(always)]
unsafe fn staged(row: &[i8], k: usize, padded: usize, buf: *mut i8) -> *const i8 {
    if row.len() >= padded {
        row.as_ptr()
    } else {
        core::ptr::copy_nonoverlapping(row.as_ptr(), buf, k);
        buf.add(k).write_bytes(0, padded - k);
        buf
    }
}

/// AVX2: each half of a cell (four channels × four `k`) is widened to int16 and multiplied by a
/// broadcast run of the pixel's four activations with `VPMADDWD`, so a lane holds one channel's
/// sum over a pair of `k`; at the end of the row one `VPHADDD` and a lane permutation give the
/// eight channel sums in order. Four pixels share each widened cell.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::kernels::avx2::Requant8;
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    /// Pixels per tile with `VPDPBUSD`: one accumulator per pixel, so eight share a cell load.
    const VNNI_TILE: usize = 8;

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn eval(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        run::<false, TILE>(l, ins, outs)
    }

    /// AVX-VNNI: `VPDPBUSD` multiplies unsigned by signed bytes, four products per lane, so
    /// a cell (eight channels × four `k`) is one operand and a pixel's four activations,
    /// broadcast, the other: 32 multiply-adds per instruction, sums in channel order. The
    /// activations are made unsigned by flipping their sign bit (`x + 128`), and the bias of
    /// each channel takes `−128·Σw` (the weights' sums, also by `VPDPBUSD`, per op): the same
    /// int32 sums modulo 2^32 as the reference.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn eval_vnni(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) {
        run::<true, VNNI_TILE>(l, ins, outs)
    }

    /// The shared loop; `VNNI` chooses how rows are prepared and summed, `T` the tile's pixels.
    #[inline(always)]
    unsafe fn run<const VNNI: bool, const T: usize>(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let (k, co) = (l.k, l.co);
        let groups = l.blocked.groups();
        let weights = w.data.as_ptr() as *const i8;
        // rows widened to int16 (or, for VNNI, as unsigned bytes), zeros up to a whole group
        let mut prepared: MaybeUninit<[[i16; MAX_K + 4]; T]> = MaybeUninit::uninit();
        let prepared = prepared.as_mut_ptr() as *mut [i16; MAX_K + 4];
        let mut storage = MaybeUninit::uninit();
        let mut cols = column_buffers::<T>(&mut storage, l);
        let (zp, (lo, hi)) = (l.zero_point, l.clamp);
        let make = |b: usize| -> (Requant8, __m256i) {
            let mut spare = [0u8; 96];
            let (bp, tp) =
                block_constants(l, b, (bias.data.as_ptr(), rq.data.as_ptr()), &mut spare);
            let cells = weights.add(b * l.blocked.block_stride());
            (
                Requant8::from_table(tp, zp, lo, hi),
                block_bias::<VNNI>(bp, cells, groups),
            )
        };
        let cached = l.blocks().min(CACHED_BLOCKS);
        let mut constants: MaybeUninit<[(Requant8, __m256i); CACHED_BLOCKS]> =
            MaybeUninit::uninit();
        let constants = constants.as_mut_ptr() as *mut (Requant8, __m256i);
        for b in 0..cached {
            constants.add(b).write(make(b));
        }
        let xd = x.as_i8();
        let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
        let yd = outs[0].as_i8_mut();
        for img in 0..l.images {
            let image = &xd[img * image_len..(img + 1) * image_len];
            let out = yd[img * l.pixels * co..(img + 1) * l.pixels * co].as_mut_ptr();
            let mut px = 0;
            while px < l.pixels {
                for (r, col) in cols.iter_mut().enumerate() {
                    // rows past the end repeat the last pixel (computed, not stored)
                    let row = &l.row(image, (px + r).min(l.pixels - 1), col)[..k];
                    if VNNI {
                        let dst = prepared.add(r) as *mut u8;
                        to_unsigned(row, dst);
                        // the last group's 0–3 missing bytes: one word (a byte count would
                        // be a `memset` call per row; the row has room past `k`)
                        (dst.add(k) as *mut u32).write_unaligned(0);
                    } else {
                        let dst = prepared.add(r) as *mut i16;
                        widen(row, dst);
                        for i in k..DEPTH * groups {
                            dst.add(i).write(0);
                        }
                    }
                }
                let live = T.min(l.pixels - px);
                for b in 0..l.blocks() {
                    let made;
                    let (requant, bias_v) = if b < cached {
                        &*constants.add(b)
                    } else {
                        made = make(b);
                        &made
                    };
                    let cells = weights.add(b * l.blocked.block_stride());
                    let rows: [*const i16; T] =
                        core::array::from_fn(|r| prepared.add(r) as *const i16);
                    let sums: [__m256i; T] = if VNNI {
                        dpbusd_sums(cells, groups, rows.map(|r| r as *const u8), *bias_v)
                    } else {
                        madd_sums(cells, groups, rows, *bias_v)
                    };
                    let (c0, channels) = (ROWS * b, l.live_channels(b));
                    // every pixel requantized before the first store to the output (which
                    // could alias the constants, reloaded otherwise)
                    let mut lanes = [0u64; 2 * TILE];
                    for q in 0..T / TILE {
                        let quad = [
                            sums[4 * q],
                            sums[4 * q + 1],
                            sums[4 * q + 2],
                            sums[4 * q + 3],
                        ];
                        _mm256_storeu_si256(
                            lanes.as_mut_ptr().add(TILE * q) as *mut __m256i,
                            requant.apply4(quad),
                        );
                    }
                    store_tile::<T>(out.add(px * co + c0), co, |r| lanes[r], (live, channels));
                }
                px += T;
            }
        }
    }

    /// Eight channels' sums (from `bias`) of `T` widened rows: per cell half, `VPMADDWD` with a
    /// broadcast run of four activations gives (channel, `k` pair) lanes; at the end `VPHADDD`
    /// and a permutation put the channels in order.
    #[inline(always)]
    unsafe fn madd_sums<const T: usize>(
        cells: *const i8,
        groups: usize,
        rows: [*const i16; T],
        bias: __m256i,
    ) -> [__m256i; T] {
        let mut low = [_mm256_setzero_si256(); T];
        let mut high = [_mm256_setzero_si256(); T];
        for g in 0..groups {
            let cell = cells.add(g * CELL);
            let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(cell as *const __m128i));
            let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(cell.add(16) as *const __m128i));
            for r in 0..T {
                let run = rows[r].add(DEPTH * g);
                let xq = _mm256_set1_epi64x((run as *const i64).read_unaligned());
                low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(xq, w0));
                high[r] = _mm256_add_epi32(high[r], _mm256_madd_epi16(xq, w1));
            }
        }
        // hadd: [c0 c1 c4 c5 | c2 c3 c6 c7]; the permutation puts them in order
        core::array::from_fn(|r| {
            let s = _mm256_hadd_epi32(low[r], high[r]);
            _mm256_add_epi32(_mm256_permute4x64_epi64::<0xD8>(s), bias)
        })
    }

    /// Eight channels' sums (from `bias`, compensated) of `T` unsigned rows, one `VPDPBUSD`
    /// per cell and pixel.
    #[inline]
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn dpbusd_sums<const T: usize>(
        cells: *const i8,
        groups: usize,
        rows: [*const u8; T],
        bias: __m256i,
    ) -> [__m256i; T] {
        let mut acc = [bias; T];
        for g in 0..groups {
            let cell = _mm256_loadu_si256(cells.add(g * CELL) as *const __m256i);
            for r in 0..T {
                let run = (rows[r].add(DEPTH * g) as *const i32).read_unaligned();
                acc[r] = _mm256_dpbusd_avx_epi32(acc[r], _mm256_set1_epi32(run), cell);
            }
        }
        acc
    }

    /// A block's eight biases (at `bias`), for `VNNI` less 128 times each channel's weight sum
    /// (a function with the target feature: in the caller's closure the intrinsics were calls).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_bias<const VNNI: bool>(
        bias: *const u8,
        cells: *const i8,
        groups: usize,
    ) -> __m256i {
        let b = _mm256_loadu_si256(bias as *const __m256i);
        if VNNI {
            // SAFETY: `VNNI` is only instantiated on the path that requires AVX-VNNI
            _mm256_sub_epi32(b, _mm256_slli_epi32::<7>(weight_sums(cells, groups)))
        } else {
            b
        }
    }

    /// Per channel of a block, the sum of its weights.
    #[inline]
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn weight_sums(cells: *const i8, groups: usize) -> __m256i {
        let ones = _mm256_set1_epi8(1);
        let mut s = _mm256_setzero_si256();
        for g in 0..groups {
            let cell = _mm256_loadu_si256(cells.add(g * CELL) as *const __m256i);
            s = _mm256_dpbusd_avx_epi32(s, ones, cell);
        }
        s
    }

    /// `row` with each byte's sign bit flipped (`x + 128` as unsigned) into `dst`.
    #[target_feature(enable = "avx2")]
    unsafe fn to_unsigned(row: &[i8], dst: *mut u8) {
        let flip = _mm256_set1_epi8(i8::MIN);
        let mut i = 0;
        while i + 32 <= row.len() {
            let v = _mm256_loadu_si256(row.as_ptr().add(i) as *const __m256i);
            _mm256_storeu_si256(dst.add(i) as *mut __m256i, _mm256_xor_si256(v, flip));
            i += 32;
        }
        // the short rows of most pointwise layers (8–24 channels)
        if i + 16 <= row.len() {
            let v = _mm_loadu_si128(row.as_ptr().add(i) as *const __m128i);
            let flip = _mm256_castsi256_si128(flip);
            _mm_storeu_si128(dst.add(i) as *mut __m128i, _mm_xor_si128(v, flip));
            i += 16;
        }
        if i + 8 <= row.len() {
            let v = (row.as_ptr().add(i) as *const u64).read_unaligned();
            (dst.add(i) as *mut u64).write_unaligned(v ^ 0x8080_8080_8080_8080);
            i += 8;
        }
        while i < row.len() {
            dst.add(i).write(row[i] as u8 ^ 0x80);
            i += 1;
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

/// AVX-512 (`avx512` path): the AVX-VNNI kernel on 512-bit vectors with AVX-512 VNNI, two
/// blocks of channels at a time (a layer of one block keeps eight lanes, with this kernel's
/// row preparation). A cell of each block (eight channels × four `k`) makes one operand of
/// sixteen channels, so one `VPDPBUSD` does 64 multiply-adds of a pixel, and one
/// [`Requant16`] step serves sixteen channels. An odd last block is paired with itself (its
/// second half is computed and dropped). Rows read in place are made unsigned in one pass over
/// the tile's consecutive pixels: a row's last group then reads the next row's first bytes,
/// which meet the zero padding of the weights. A lone pixel (a squeeze-and-excitation layer's)
/// is summed alone.
///
/// [`Requant16`]: crate::kernels::avx512::Requant16
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use crate::kernels::avx2::{narrow8, Requant8};
    use crate::kernels::avx512::{first_lanes, Requant16};
    use crate::kernels::conv::Geometry;
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    /// Pixels per tile: one accumulator each, eight sharing a joined cell.
    const T: usize = 8;
    /// Block pairs whose constants are prepared once per op.
    const CACHED_PAIRS: usize = CACHED_BLOCKS / 2;

    /// The two blocks of pair `p` (the same block twice for an odd last one).
    fn pair_blocks(l: &Layer<'_>, p: usize) -> [usize; 2] {
        [2 * p, (2 * p + 1).min(l.blocks() - 1)]
    }

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn eval(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let (k, co) = (l.k, l.co);
        let groups = l.blocked.groups();
        let weights = w.data.as_ptr() as *const i8;
        let pairs = l.blocks().div_ceil(2);
        // the tile's rows as unsigned bytes: `T·k` consecutive ones (in place), or rows
        // `k` rounded up to a group apart; four more bytes for the last row's last group
        let mut prepared: MaybeUninit<[u8; T * (MAX_K + 4) + 4]> = MaybeUninit::uninit();
        let prepared = prepared.as_mut_ptr() as *mut u8;
        let mut storage = MaybeUninit::uninit();
        let mut cols = column_buffers::<T>(&mut storage, l);
        let constants_of = |p: usize| -> (Requant16, __m512i) {
            let [b0, b1] = pair_blocks(l, p);
            let (r0, bias0) = block(l, b0, (bias.data.as_ptr(), rq.data.as_ptr()), weights);
            let (r1, bias1) = block(l, b1, (bias.data.as_ptr(), rq.data.as_ptr()), weights);
            (Requant16::join(&r0, &r1), join(bias0, bias1))
        };
        // one block (eight channels or fewer): eight-lane sums and requantization
        let single =
            (l.blocks() == 1).then(|| block(l, 0, (bias.data.as_ptr(), rq.data.as_ptr()), weights));
        let cached = if single.is_some() {
            0
        } else {
            pairs.min(CACHED_PAIRS)
        };
        let mut constants: MaybeUninit<[(Requant16, __m512i); CACHED_PAIRS]> =
            MaybeUninit::uninit();
        let constants = constants.as_mut_ptr() as *mut (Requant16, __m512i);
        for p in 0..cached {
            constants.add(p).write(constants_of(p));
        }
        let xd = x.as_i8();
        let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
        let yd = outs[0].as_i8_mut();
        // gathered rows of up to 64 bytes (a network's first layer) are built in a register
        let short_rows = !l.in_place && k <= 64;
        for img in 0..l.images {
            let image = &xd[img * image_len..(img + 1) * image_len];
            let out = yd[img * l.pixels * co..(img + 1) * l.pixels * co].as_mut_ptr();
            let mut px = 0;
            while px < l.pixels {
                let live = T.min(l.pixels - px);
                // a lone pixel (squeeze-and-excitation layers, fully connected ones) is summed
                // alone, not as a tile of eight copies
                let prepare = if live == 1 { 1 } else { T };
                let stride = if l.in_place && live == T {
                    flip(image[px * k..(px + T) * k].as_ptr(), prepared, T * k);
                    k
                } else {
                    let stride = k.div_ceil(DEPTH) * DEPTH;
                    for (r, col) in cols.iter_mut().enumerate().take(prepare) {
                        // rows past the end repeat the last pixel (computed, not stored)
                        let at = (px + r).min(l.pixels - 1);
                        let dst = prepared.add(r * stride);
                        if !(short_rows && gather_inside(l.geometry, image, at, dst)) {
                            let row = &l.row(image, at, col)[..k];
                            flip(row.as_ptr(), dst, k);
                        }
                    }
                    stride
                };
                // the last row's missing bytes of its last group (earlier rows' are the next
                // row's first bytes, or were overwritten by them)
                (prepared.add((prepare - 1) * stride + k) as *mut u32).write_unaligned(0);
                let rows: [*const u8; T] =
                    core::array::from_fn(|r| prepared.add(r * stride) as *const u8);
                if live == 1 {
                    let at = out.add(px * co);
                    if let Some((requant, bias_v)) = &single {
                        let [sums] = dpbusd_sums8::<1>(weights, groups, [rows[0]], *bias_v);
                        let (low, high) = narrow8(requant.apply(sums));
                        store8(at, (low as u64) | (high as u64) << 32, l.live_channels(0));
                    } else {
                        for p in 0..pairs {
                            let made;
                            let (requant, bias_v) = if p < cached {
                                &*constants.add(p)
                            } else {
                                made = constants_of(p);
                                &made
                            };
                            let [b0, b1] = pair_blocks(l, p);
                            let cells = [b0, b1].map(|b| weights.add(b * l.blocked.block_stride()));
                            let [sums] = dpbusd_sums::<1>(cells, groups, [rows[0]], *bias_v);
                            let channels = pair_channels(l, [b0, b1]);
                            let mask = ((1u32 << channels) - 1) as __mmask16;
                            _mm_mask_storeu_epi8(at.add(ROWS * b0), mask, requant.apply(sums));
                        }
                    }
                    px += T;
                    continue;
                }
                if let Some((requant, bias_v)) = &single {
                    let sums = dpbusd_sums8(weights, groups, rows, *bias_v);
                    let mut lanes = [0u64; T];
                    let quads = lanes.as_mut_ptr() as *mut __m256i;
                    _mm256_storeu_si256(
                        quads,
                        requant.apply4([sums[0], sums[1], sums[2], sums[3]]),
                    );
                    _mm256_storeu_si256(
                        quads.add(1),
                        requant.apply4([sums[4], sums[5], sums[6], sums[7]]),
                    );
                    let channels = l.live_channels(0);
                    store_tile::<T>(out.add(px * co), co, |r| lanes[r], (live, channels));
                    px += T;
                    continue;
                }
                for p in 0..pairs {
                    let made;
                    let (requant, bias_v) = if p < cached {
                        &*constants.add(p)
                    } else {
                        made = constants_of(p);
                        &made
                    };
                    let [b0, b1] = pair_blocks(l, p);
                    let cells = [b0, b1].map(|b| weights.add(b * l.blocked.block_stride()));
                    let sums = dpbusd_sums(cells, groups, rows, *bias_v);
                    let channels = pair_channels(l, [b0, b1]);
                    // every pixel requantized before the first store (see the AVX2 kernel)
                    let bytes = [
                        requant.apply4([sums[0], sums[1], sums[2], sums[3]]),
                        requant.apply4([sums[4], sums[5], sums[6], sums[7]]),
                    ];
                    store(out.add(px * co + ROWS * b0), co, bytes, (live, channels));
                }
                px += T;
            }
        }
    }

    /// Channels of the pair of blocks `[b0, b1]` that exist (`b1 == b0`: an odd last block).
    fn pair_channels(l: &Layer<'_>, [b0, b1]: [usize; 2]) -> usize {
        if b1 == b0 {
            l.live_channels(b0)
        } else {
            ROWS + l.live_channels(b1)
        }
    }

    /// Block `b`'s requantization and bias less 128 times each channel's weight sum (as in
    /// the AVX-VNNI kernel, the sums by the 256-bit `VPDPBUSD` of AVX-512 VNNI: this path does
    /// not require AVX-VNNI).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    unsafe fn block(
        l: &Layer<'_>,
        b: usize,
        tensors: (*const u8, *const u8),
        weights: *const i8,
    ) -> (Requant8, __m256i) {
        let mut spare = [0u8; 96];
        let (bp, tp) = block_constants(l, b, tensors, &mut spare);
        let cells = weights.add(b * l.blocked.block_stride());
        let (lo, hi) = l.clamp;
        let ones = _mm256_set1_epi8(1);
        let mut sums = _mm256_setzero_si256();
        for g in 0..l.blocked.groups() {
            let cell = _mm256_loadu_si256(cells.add(g * CELL) as *const __m256i);
            sums = _mm256_dpbusd_epi32(sums, ones, cell);
        }
        let bias = _mm256_loadu_si256(bp as *const __m256i);
        (
            Requant8::from_table(tp, l.zero_point, lo, hi),
            _mm256_sub_epi32(bias, _mm256_slli_epi32::<7>(sums)),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f")]
    unsafe fn join(low: __m256i, high: __m256i) -> __m512i {
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high)
    }

    /// Eight channels' sums (from `bias`, compensated) of `T` unsigned rows, one 256-bit
    /// `VPDPBUSD` per cell and pixel.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    unsafe fn dpbusd_sums8<const R: usize>(
        cells: *const i8,
        groups: usize,
        rows: [*const u8; R],
        bias: __m256i,
    ) -> [__m256i; R] {
        let mut acc = [bias; R];
        for g in 0..groups {
            let cell = _mm256_loadu_si256(cells.add(g * CELL) as *const __m256i);
            for r in 0..R {
                let run = (rows[r].add(DEPTH * g) as *const i32).read_unaligned();
                acc[r] = _mm256_dpbusd_epi32(acc[r], _mm256_set1_epi32(run), cell);
            }
        }
        acc
    }

    /// Sixteen channels' sums (from `bias`, compensated) of `T` unsigned rows: per group one
    /// joined cell of the two blocks and one `VPDPBUSD` per pixel.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vnni")]
    unsafe fn dpbusd_sums<const R: usize>(
        cells: [*const i8; 2],
        groups: usize,
        rows: [*const u8; R],
        bias: __m512i,
    ) -> [__m512i; R] {
        let mut acc = [bias; R];
        for g in 0..groups {
            let cell = join(
                _mm256_loadu_si256(cells[0].add(g * CELL) as *const __m256i),
                _mm256_loadu_si256(cells[1].add(g * CELL) as *const __m256i),
            );
            for r in 0..R {
                let run = (rows[r].add(DEPTH * g) as *const i32).read_unaligned();
                acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(run), cell);
            }
        }
        acc
    }

    /// Pixel `px`'s row (`k ≤ 64` bytes) made unsigned into `dst` (64 bytes written) when its
    /// window lies inside the image, with dilation 1 along a row: each kernel row's run is
    /// merged into one register by a masked load whose lanes start at the run's place in the
    /// row, and the row is stored once. Gathered into a buffer and then loaded, the row's many
    /// small stores could not be forwarded to the loads that read it. `false`: not such a
    /// pixel (nothing written).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    unsafe fn gather_inside(g: &Geometry, image: &[i8], px: usize, dst: *mut u8) -> bool {
        let run = g.kw * g.c;
        if run == 0 || g.kh * run > 64 {
            return false;
        }
        let Some((first, step)) = g.inside_runs(px) else {
            return false;
        };
        assert!(first + (g.kh - 1) * step + run <= image.len());
        let lanes = first_lanes(run);
        let mut row = _mm512_setzero_si512();
        for ky in 0..g.kh {
            // lanes ky·run .. (ky + 1)·run read the run (only the mask's lanes are accessed)
            let src = image
                .as_ptr()
                .wrapping_add(first + ky * step)
                .wrapping_sub(ky * run);
            row = _mm512_mask_loadu_epi8(row, lanes << (ky * run), src);
        }
        let unsigned = _mm512_xor_si512(row, _mm512_set1_epi8(i8::MIN));
        _mm512_storeu_si512(dst as *mut __m512i, unsigned);
        true
    }

    /// `n` bytes from `src` with their sign bits flipped (`x + 128` as unsigned) to `dst`; the
    /// tail by masked loads and stores (bytes outside the mask are not touched).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    unsafe fn flip(src: *const i8, dst: *mut u8, n: usize) {
        let sign = _mm512_set1_epi8(i8::MIN);
        let mut i = 0;
        while i + 64 <= n {
            let v = _mm512_loadu_si512(src.add(i) as *const __m512i);
            _mm512_storeu_si512(dst.add(i) as *mut __m512i, _mm512_xor_si512(v, sign));
            i += 64;
        }
        if i < n {
            let mask: __mmask64 = first_lanes(n - i);
            let v = _mm512_maskz_loadu_epi8(mask, src.add(i));
            _mm512_mask_storeu_epi8(dst.add(i) as *mut i8, mask, _mm512_xor_si512(v, sign));
        }
    }

    /// Store the first `live` pixels' first `channels` bytes of a tile (`bytes[q]` holds
    /// pixels `4q .. 4q + 4`, sixteen bytes each), `co` bytes apart from `dst`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    unsafe fn store(
        dst: *mut i8,
        co: usize,
        bytes: [__m512i; 2],
        (live, channels): (usize, usize),
    ) {
        let mut lanes = [_mm_setzero_si128(); T];
        _mm512_storeu_si512(lanes.as_mut_ptr() as *mut __m512i, bytes[0]);
        _mm512_storeu_si512(lanes.as_mut_ptr().add(4) as *mut __m512i, bytes[1]);
        let mask: __mmask16 = ((1u32 << channels) - 1) as u16;
        for (r, v) in lanes.iter().enumerate().take(live) {
            let at = dst.add(r * co);
            if channels == 16 {
                _mm_storeu_si128(at as *mut __m128i, *v);
            } else {
                _mm_mask_storeu_epi8(at, mask, *v);
            }
        }
    }
}

/// NEON: on the baseline path `SMULL` multiplies a cell's half (two channels × four `k`) by a
/// pixel's four broadcast activations and `SMLAL` adds the next cell's products to the same
/// int16 lanes, which `SADALP` adds in pairs to the int32 sums (16 multiply-adds per three
/// instructions; layers holding a −128 weight widen everything to int16 and use `SMLAL` by
/// element instead); with the dot-product extension `SDOT` by element multiplies a cell's half
/// (four channels × four `k`) by four activations of one pixel (16 products per instruction),
/// and with I8MM `SMMLA` a 2×2 tile of rows × channels (32 per instruction). Four (eight with
/// `SDOT`) pixels share each weight load.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use crate::kernels::neon::{holds_min, splat_sums, Requant16};
    use crate::kernels::KernelPath;
    use core::arch::aarch64::*;
    use core::mem::MaybeUninit;

    /// `T` pixels' int32 sums for eight channels (two vectors each).
    type Sums<const T: usize = TILE> = [[int32x4_t; 2]; T];
    /// Pixels per tile of the `SDOT` kernel: its weight loads and loop steps serve twice as
    /// many pixels (16 accumulators, 8 activation vectors, 2 weight vectors in registers).
    const DOT_TILE: usize = 8;
    /// Shortest row for which `SMMLA` beats `SDOT`: per 16 `k` of a tile and block it takes
    /// about 70 instructions (32 `SMMLA`, 16 zips, loads) against `SDOT`'s 80, and its 2×2
    /// tiles cost about 20 more to unzip at the end of the row, repaid from two steps on.
    const SMMLA_MIN_K: usize = 32;

    pub(super) unsafe fn eval(
        path: KernelPath,
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) {
        if path == KernelPath::I8mm {
            eval_i8mm(l, ins, outs)
        } else if path == KernelPath::Dotprod {
            eval_dotprod(l, ins, outs)
        } else {
            eval_baseline(l, ins, outs)
        }
    }

    /// The shared loop: gather and prepare four rows (`load_row(r, row)`, where `row` holds
    /// the pixel's `k` bytes and possibly more), then per channel block `sums(cells, bias)`
    /// (`cells`: the block's weights; the sums start from the bias: the block's eight channels
    /// twice), requantization and stores.
    #[inline(always)]
    unsafe fn drive<const T: usize>(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
        mut load_row: impl FnMut(usize, &[i8]),
        mut sums: impl FnMut(*const i8, &[int32x4_t; 4]) -> Sums<T>,
    ) {
        let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let co = l.co;
        let make = |b: usize| -> Requant16 {
            let mut spare = [0u8; 96];
            let (bp, tp) =
                block_constants(l, b, (bias.data.as_ptr(), rq.data.as_ptr()), &mut spare);
            Requant16::repeat8(tp, bp, l.zero_point, l.clamp)
        };
        let cached = l.blocks().min(CACHED_BLOCKS);
        let mut requant: MaybeUninit<[Requant16; CACHED_BLOCKS]> = MaybeUninit::uninit();
        let requant = requant.as_mut_ptr() as *mut Requant16;
        for b in 0..cached {
            requant.add(b).write(make(b));
        }
        let weights = w.data.as_ptr() as *const i8;
        let mut storage = MaybeUninit::uninit();
        let mut cols = column_buffers::<T>(&mut storage, l);
        let xd = x.as_i8();
        let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
        let yd = outs[0].as_i8_mut();
        for img in 0..l.images {
            let image = &xd[img * image_len..(img + 1) * image_len];
            let out = yd[img * l.pixels * co..(img + 1) * l.pixels * co].as_mut_ptr();
            let mut px = 0;
            while px < l.pixels {
                for (r, col) in cols.iter_mut().enumerate() {
                    // rows past the end repeat the last pixel (computed, not stored)
                    load_row(r, l.row(image, (px + r).min(l.pixels - 1), col));
                }
                let live = T.min(l.pixels - px);
                for b in 0..l.blocks() {
                    let made;
                    let rq = if b < cached {
                        &*requant.add(b)
                    } else {
                        made = make(b);
                        &made
                    };
                    let s = sums(weights.add(b * l.blocked.block_stride()), rq.bias());
                    let (c0, channels) = (ROWS * b, l.live_channels(b));
                    // every pair requantized before the first store: the stores could alias
                    // the constants, which would then be reloaded for each pair
                    let mut all = [vdupq_n_u64(0); DOT_TILE / 2];
                    for (pair, bytes) in all.iter_mut().enumerate().take(T / 2) {
                        let (a, z) = (s[2 * pair], s[2 * pair + 1]);
                        *bytes = vreinterpretq_u64_s8(rq.apply([a[0], a[1], z[0], z[1]]));
                    }
                    let dst = out.add(px * co + c0);
                    if live == T && channels == ROWS {
                        store_pairs(dst, co, &all[..T / 2]);
                        continue;
                    }
                    // pixel r's eight bytes: lane r % 2 of pair r / 2
                    let word = |r: usize| {
                        let pair = all[r / 2];
                        if r % 2 == 0 {
                            vgetq_lane_u64::<0>(pair)
                        } else {
                            vgetq_lane_u64::<1>(pair)
                        }
                    };
                    store_tile::<T>(dst, co, word, (live, channels));
                }
                px += T;
            }
        }
    }

    /// Store whole pixels from `pairs` (two pixels' eight channels each), `co` bytes apart from
    /// `dst`: one post-incremented `ST1` per pixel (the compiler moves each half to a general
    /// register first).
    ///
    /// # Safety
    /// `dst` must address `2·pairs.len()` pixels of eight bytes, `co` apart.
    #[inline(always)]
    unsafe fn store_pairs(dst: *mut i8, co: usize, pairs: &[uint64x2_t]) {
        let mut at = dst;
        for &pair in pairs {
            core::arch::asm!(
                "st1 {{{v:v}.d}}[0], [{at}], {co}",
                "st1 {{{v:v}.d}}[1], [{at}], {co}",
                v = in(vreg) pair,
                at = inout(reg) at,
                co = in(reg) co,
                options(nostack, preserves_flags),
            );
        }
    }

    /// Baseline: per pair of cells (eight channels × eight `k`) and pixel, the pixel's four
    /// activations of each cell are broadcast (`LD1R`), `SMULL` multiplies a cell's half (two
    /// channels × four `k`) by them and `SMLAL` adds the next cell's products to the same int16
    /// lanes; `SADALP` adds neighbouring lanes into the int32 sums, whose two lanes per channel
    /// fold with one `ADDP` at the end of the row. Sixteen multiply-adds take three
    /// instructions, against four for `SMLAL` by element on widened operands. Two products
    /// fit int16 when weights are in −127..=127 (the TFLite int8 weight range); a layer holding
    /// −128 takes [`eval_widened`].
    #[target_feature(enable = "neon")]
    unsafe fn eval_baseline(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        let cells_len = l.blocked.byte_len().unwrap_or(0);
        if holds_min(&ins[1].as_i8()[..cells_len]) {
            return eval_widened(l, ins, outs);
        }
        let groups = l.blocked.groups();
        let mut staging: MaybeUninit<[[i8; MAX_K + 16]; TILE]> = MaybeUninit::uninit();
        let staging = staging.as_mut_ptr() as *mut [i8; MAX_K + 16];
        // the tile's rows interleaved by group (pixel 0's four activations of group g, then
        // pixel 1's, ...): one pointer walks them all with post-incremented `LD1R`s
        let mut mixed: MaybeUninit<[i8; TILE * (MAX_K + 16)]> = MaybeUninit::uninit();
        let mixed = mixed.as_mut_ptr() as *mut i8;
        let mut rows: [*const i8; TILE] = [core::ptr::null(); TILE];
        let rows_at = rows.as_mut_ptr();
        let padded = l.k.div_ceil(16) * 16;
        let load_row = |r: usize, row: &[i8]| {
            rows_at
                .add(r)
                .write(staged(row, l.k, padded, staging.add(r) as *mut i8));
            if r + 1 == TILE {
                let rows = *(rows_at as *const [*const i8; TILE]);
                for i in (0..padded).step_by(16) {
                    let words: [int32x4_t; TILE] =
                        core::array::from_fn(|r| vreinterpretq_s32_s8(vld1q_s8(rows[r].add(i))));
                    vst4q_s32(
                        mixed.add(TILE * i) as *mut i32,
                        int32x4x4_t(words[0], words[1], words[2], words[3]),
                    );
                }
            }
        };
        let sums = |cells: *const i8, bias: &[int32x4_t; 4]| -> Sums {
            let wb = cells as *const int8x16_t;
            let mut x = mixed as *const i8;
            // lanes [c, 0, c + 1, 0]: the two partial sums of a channel start from its bias
            let zero = vdupq_n_s32(0);
            let start = [
                vzip1q_s32(bias[0], zero),
                vzip2q_s32(bias[0], zero),
                vzip1q_s32(bias[1], zero),
                vzip2q_s32(bias[1], zero),
            ];
            let mut acc = [start; TILE];
            let mut g = 0;
            while g < groups {
                baseline_step(&mut acc, wb, (g, groups), &mut x);
                g += 2;
            }
            acc.map(|a| [vpaddq_s32(a[0], a[1]), vpaddq_s32(a[2], a[3])])
        };
        drive::<TILE>(l, ins, outs, load_row, sums);
    }

    /// Step `g` of [`eval_baseline`] (groups `g` and `g + 1`, or `g` alone at the end of the
    /// row) for every pixel of the tile.
    ///
    /// # Safety
    /// `wb` holds the block's cells; `x` addresses the interleaved activations of step `g`.
    #[inline(always)]
    unsafe fn baseline_step(
        acc: &mut [[int32x4_t; 4]; TILE],
        wb: *const int8x16_t,
        (g, groups): (usize, usize),
        x: &mut *const i8,
    ) {
        let w = [*wb.add(2 * g), *wb.add(2 * g + 1)];
        if g + 2 <= groups {
            let n = [*wb.add(2 * g + 2), *wb.add(2 * g + 3)];
            let [xs, ys] = broadcast_step(x);
            for (r, a) in acc.iter_mut().enumerate() {
                pair_products(a, w, n, xs[r], ys[r]);
            }
        } else {
            let z = vdupq_n_s8(0);
            for (r, a) in acc.iter_mut().enumerate() {
                let xr = vld1q_dup_s32(x.add(DEPTH * r) as *const i32);
                pair_products(a, w, [z, z], vreinterpretq_s8_s32(xr), z);
            }
        }
    }

    /// The broadcast activations of one step of [`eval_baseline`] (two groups of four pixels),
    /// read with post-incremented `LD1R`s from the interleaved rows at `x`, which moves on by
    /// 32 bytes. (The compiler would spend an address add per load.)
    ///
    /// # Safety
    /// `x` must address 32 readable bytes.
    #[inline(always)]
    unsafe fn broadcast_step(x: &mut *const i8) -> [[int8x16_t; TILE]; 2] {
        let (x0, x1, x2, x3, y0, y1, y2, y3);
        core::arch::asm!(
            "ld1r {{{x0:v}.4s}}, [{p}], #4",
            "ld1r {{{x1:v}.4s}}, [{p}], #4",
            "ld1r {{{x2:v}.4s}}, [{p}], #4",
            "ld1r {{{x3:v}.4s}}, [{p}], #4",
            "ld1r {{{y0:v}.4s}}, [{p}], #4",
            "ld1r {{{y1:v}.4s}}, [{p}], #4",
            "ld1r {{{y2:v}.4s}}, [{p}], #4",
            "ld1r {{{y3:v}.4s}}, [{p}], #4",
            p = inout(reg) *x,
            x0 = out(vreg) x0, x1 = out(vreg) x1, x2 = out(vreg) x2, x3 = out(vreg) x3,
            y0 = out(vreg) y0, y1 = out(vreg) y1, y2 = out(vreg) y2, y3 = out(vreg) y3,
            options(pure, readonly, nostack, preserves_flags),
        );
        [[x0, x1, x2, x3], [y0, y1, y2, y3]]
    }

    /// One pixel's part of a step of [`eval_baseline`]: cells `w` and `n` (two vectors each)
    /// times the broadcast activations `x` and `y`, two products per int16 lane, added in
    /// neighbouring pairs to `acc` (two int32 lanes per channel). In assembly, one block per
    /// pixel: the compiler would split `SMULL2` into `EXT` + `SMULL` and `SADALP` into
    /// `SADDLP` + `ADD`, or make every pixel's products first, and run out of registers.
    #[inline(always)]
    unsafe fn pair_products(
        acc: &mut [int32x4_t; 4],
        w: [int8x16_t; 2],
        n: [int8x16_t; 2],
        x: int8x16_t,
        y: int8x16_t,
    ) {
        core::arch::asm!(
            "smull  {t0:v}.8h, {w0:v}.8b, {x:v}.8b",
            "smull2 {t1:v}.8h, {w0:v}.16b, {x:v}.16b",
            "smull  {t2:v}.8h, {w1:v}.8b, {x:v}.8b",
            "smull2 {t3:v}.8h, {w1:v}.16b, {x:v}.16b",
            "smlal  {t0:v}.8h, {n0:v}.8b, {y:v}.8b",
            "smlal2 {t1:v}.8h, {n0:v}.16b, {y:v}.16b",
            "smlal  {t2:v}.8h, {n1:v}.8b, {y:v}.8b",
            "smlal2 {t3:v}.8h, {n1:v}.16b, {y:v}.16b",
            "sadalp {a0:v}.4s, {t0:v}.8h",
            "sadalp {a1:v}.4s, {t1:v}.8h",
            "sadalp {a2:v}.4s, {t2:v}.8h",
            "sadalp {a3:v}.4s, {t3:v}.8h",
            a0 = inout(vreg) acc[0], a1 = inout(vreg) acc[1],
            a2 = inout(vreg) acc[2], a3 = inout(vreg) acc[3],
            w0 = in(vreg) w[0], w1 = in(vreg) w[1],
            n0 = in(vreg) n[0], n1 = in(vreg) n[1],
            x = in(vreg) x, y = in(vreg) y,
            t0 = out(vreg) _, t1 = out(vreg) _, t2 = out(vreg) _, t3 = out(vreg) _,
            options(pure, nomem, nostack, preserves_flags),
        );
    }

    /// Baseline for weights holding −128: rows widened to int16 (zeros up to a multiple of 8);
    /// per cell `LD4` gives the eight channels' weights for each of its four `k`, multiplied by
    /// lane with `SMLAL`.
    #[target_feature(enable = "neon")]
    unsafe fn eval_widened(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        let k = l.k;
        let groups = l.blocked.groups();
        let kp = k.div_ceil(8) * 8;
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
        let sums = |cells: *const i8, bias: &[int32x4_t; 4]| -> Sums {
            let mut acc = [[bias[0], bias[1]]; TILE];
            let rows: [*const i16; TILE] = core::array::from_fn(|r| wide.add(r) as *const i16);
            let widen4 = |g: usize| {
                let c = vld4_s8(cells.add(g * CELL));
                [vmovl_s8(c.0), vmovl_s8(c.1), vmovl_s8(c.2), vmovl_s8(c.3)]
            };
            let mut g = 0;
            while g < groups {
                // activations of groups g and g + 1 (zeros past the row)
                let xs: [int16x8_t; TILE] =
                    core::array::from_fn(|r| vld1q_s16(rows[r].add(DEPTH * g)));
                let w = widen4(g);
                mla_lane::<0>(&mut acc, w[0], &xs);
                mla_lane::<1>(&mut acc, w[1], &xs);
                mla_lane::<2>(&mut acc, w[2], &xs);
                mla_lane::<3>(&mut acc, w[3], &xs);
                if g + 1 < groups {
                    let w = widen4(g + 1);
                    mla_lane::<4>(&mut acc, w[0], &xs);
                    mla_lane::<5>(&mut acc, w[1], &xs);
                    mla_lane::<6>(&mut acc, w[2], &xs);
                    mla_lane::<7>(&mut acc, w[3], &xs);
                }
                g += 2;
            }
            acc
        };
        drive::<TILE>(l, ins, outs, load_row, sums);
    }

    /// `acc[r] += w · xs[r][L]` for eight channels of int16 weights.
    #[inline(always)]
    unsafe fn mla_lane<const L: i32>(acc: &mut Sums, w: int16x8_t, xs: &[int16x8_t; TILE]) {
        for (a, &x) in acc.iter_mut().zip(xs) {
            a[0] = vmlal_laneq_s16::<L>(a[0], vget_low_s16(w), x);
            a[1] = vmlal_high_laneq_s16::<L>(a[1], w, x);
        }
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn eval_dotprod(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        eval_int8::<false>(l, ins, outs)
    }

    #[target_feature(enable = "neon,dotprod,i8mm")]
    unsafe fn eval_i8mm(l: &Layer<'_>, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
        eval_int8::<true>(l, ins, outs)
    }

    /// Rows as int8, padded with zeros to a multiple of 16, against the cells with `SDOT` (each
    /// cell two vectors of four channels × four `k`) or, with `I8MM`, `SMMLA` ([`smmla_sums`]).
    #[inline(always)]
    unsafe fn eval_int8<const I8MM: bool>(
        l: &Layer<'_>,
        ins: &[TensorRef<'_>],
        outs: &mut [TensorMut<'_>],
    ) {
        let k = l.k;
        let groups = l.blocked.groups();
        let mut rows8: MaybeUninit<[[i8; MAX_K + 16]; DOT_TILE]> = MaybeUninit::uninit();
        let padded = k.div_ceil(16) * 16;
        let rows_ptr = rows8.as_mut_ptr() as *mut [i8; MAX_K + 16];
        let mut rows: [*const i8; DOT_TILE] = [core::ptr::null(); DOT_TILE];
        let rows_at = rows.as_mut_ptr();
        // rows are read in 16-byte steps up to `padded`
        let load_row = |r: usize, row: &[i8]| {
            rows_at
                .add(r)
                .write(staged(row, k, padded, rows_ptr.add(r) as *mut i8));
        };
        if I8MM && k >= SMMLA_MIN_K && l.pixels >= DOT_TILE {
            // a loop of its own, so that the SDOT loop below compiles as on the dotprod path
            let sums = |cells: *const i8, bias: &[int32x4_t; 4]| -> Sums<DOT_TILE> {
                let rows = *(rows_at as *const [*const i8; DOT_TILE]);
                // SAFETY: only `eval_i8mm` (the i8mm path, which requires the extension)
                // instantiates `I8MM`
                smmla_sums(cells, groups, [bias[0], bias[1]], &rows)
            };
            return drive::<DOT_TILE>(l, ins, outs, load_row, sums);
        }
        let sums = |cells: *const i8, bias: &[int32x4_t; 4]| -> Sums<DOT_TILE> {
            let rows = *(rows_at as *const [*const i8; DOT_TILE]);
            let mut acc = DotSums::from_bias(bias);
            let wb = cells as *const int8x16_t;
            let load = |g: usize| -> [int8x16_t; DOT_TILE] {
                core::array::from_fn(|r| vld1q_s8(rows[r].add(DEPTH * g)))
            };
            let mut g = 0;
            while g + 4 <= groups {
                let (xs, w) = (load(g), wb.add(2 * g));
                acc.lane::<0>(*w, *w.add(1), &xs);
                acc.lane::<1>(*w.add(2), *w.add(3), &xs);
                acc.lane::<2>(*w.add(4), *w.add(5), &xs);
                acc.lane::<3>(*w.add(6), *w.add(7), &xs);
                g += 4;
            }
            if g < groups {
                // one to three groups left
                let (xs, w) = (load(g), wb.add(2 * g));
                acc.lane::<0>(*w, *w.add(1), &xs);
                if g + 1 < groups {
                    acc.lane::<1>(*w.add(2), *w.add(3), &xs);
                }
                if g + 2 < groups {
                    acc.lane::<2>(*w.add(4), *w.add(5), &xs);
                }
            }
            acc.sums()
        };
        drive::<DOT_TILE>(l, ins, outs, load_row, sums);
    }

    /// The `SMMLA` sums of one channel block for the eight rows: per eight `k`, the words of
    /// two neighbouring cells are zipped into channel-pair operands (two channels × eight `k`)
    /// and each pair of rows (two rows × eight `k`) multiplies them into a 2×2 tile of sums
    /// (`[r0·ca, r0·cb, r1·ca, r1·cb]`), 32 multiply-adds per instruction; the tiles are
    /// unzipped into channel order at the end. `rows` are readable to `k` rounded up to 16.
    #[inline]
    #[target_feature(enable = "neon,dotprod,i8mm")]
    unsafe fn smmla_sums(
        cells: *const i8,
        groups: usize,
        bias: [int32x4_t; 2],
        rows: &[*const i8; DOT_TILE],
    ) -> Sums<DOT_TILE> {
        const PAIRS: usize = DOT_TILE / 2;
        let pair_bias = |v: int32x4_t, lane: usize| {
            let v = vreinterpretq_s64_s32(v);
            vreinterpretq_s32_s64(if lane == 0 {
                vdupq_laneq_s64::<0>(v)
            } else {
                vdupq_laneq_s64::<1>(v)
            })
        };
        let start = [
            pair_bias(bias[0], 0),
            pair_bias(bias[0], 1),
            pair_bias(bias[1], 0),
            pair_bias(bias[1], 1),
        ];
        let mut acc = [start; PAIRS];
        let wb = cells as *const int8x16_t;
        let zero = vdupq_n_s8(0);
        // two cells (`k` 0–3 and 4–7 of eight channels) zipped into the four channel-pair
        // operands
        let zip_cells = |h: *const int8x16_t, n: *const int8x16_t| -> [int8x16_t; 4] {
            let zip = |a: int8x16_t, b: int8x16_t, high: bool| {
                let (a, b) = (vreinterpretq_s32_s8(a), vreinterpretq_s32_s8(b));
                vreinterpretq_s8_s32(if high {
                    vzip2q_s32(a, b)
                } else {
                    vzip1q_s32(a, b)
                })
            };
            let (h0, h1, n0, n1) = (*h, *h.add(1), *n, *n.add(1));
            [
                zip(h0, n0, false),
                zip(h0, n0, true),
                zip(h1, n1, false),
                zip(h1, n1, true),
            ]
        };
        // sixteen `k` of each row: zip1/zip2 of a row pair give the operands of the two
        // eight-`k` steps
        let load = |g: usize| -> [[int8x16_t; 2]; PAIRS] {
            core::array::from_fn(|p| {
                let a = vreinterpretq_s64_s8(vld1q_s8(rows[2 * p].add(DEPTH * g)));
                let b = vreinterpretq_s64_s8(vld1q_s8(rows[2 * p + 1].add(DEPTH * g)));
                [
                    vreinterpretq_s8_s64(vzip1q_s64(a, b)),
                    vreinterpretq_s8_s64(vzip2q_s64(a, b)),
                ]
            })
        };
        let step = |acc: &mut [[int32x4_t; 4]; PAIRS],
                    ops: [int8x16_t; 4],
                    xs: &[[int8x16_t; 2]; PAIRS],
                    half: usize| {
            for (a, x) in acc.iter_mut().zip(xs) {
                for (q, op) in ops.iter().enumerate() {
                    a[q] = smmla(a[q], x[half], *op);
                }
            }
        };
        let mut g = 0;
        while g + 4 <= groups {
            let xs = load(g);
            step(
                &mut acc,
                zip_cells(wb.add(2 * g), wb.add(2 * g + 2)),
                &xs,
                0,
            );
            step(
                &mut acc,
                zip_cells(wb.add(2 * g + 4), wb.add(2 * g + 6)),
                &xs,
                1,
            );
            g += 4;
        }
        if g < groups {
            // one to three groups left: a missing cell is zeros
            let xs = load(g);
            let zeros = [zero; 2].as_ptr();
            let cell = |h: usize| if h < groups { wb.add(2 * h) } else { zeros };
            step(&mut acc, zip_cells(cell(g), cell(g + 1)), &xs, 0);
            if g + 2 < groups {
                step(&mut acc, zip_cells(cell(g + 2), cell(g + 3)), &xs, 1);
            }
        }
        let mut out = [[vdupq_n_s32(0); 2]; DOT_TILE];
        for (p, a) in acc.iter().enumerate() {
            let wide = |v: int32x4_t| vreinterpretq_s64_s32(v);
            let back = |v: int64x2_t| vreinterpretq_s32_s64(v);
            out[2 * p] = [
                back(vzip1q_s64(wide(a[0]), wide(a[1]))),
                back(vzip1q_s64(wide(a[2]), wide(a[3]))),
            ];
            out[2 * p + 1] = [
                back(vzip2q_s64(wide(a[0]), wide(a[1]))),
                back(vzip2q_s64(wide(a[2]), wide(a[3]))),
            ];
        }
        out
    }

    /// `acc + SMMLA(x, w)`: the 2×2 int32 tile of two rows of `x` times two rows of `w`
    /// (eight int8 each).
    #[inline(always)]
    unsafe fn smmla(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
        let mut a = acc;
        core::arch::asm!(
            "smmla {a:v}.4s, {x:v}.16b, {w:v}.16b",
            a = inout(vreg) a,
            x = in(vreg) x,
            w = in(vreg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
        a
    }

    /// The `SDOT` kernel's sixteen accumulators (eight pixels × eight channels), pinned to
    /// `v16`–`v31` so that the assembly blocks pass them on without moves.
    struct DotSums([int32x4_t; 16]);

    impl DotSums {
        /// Every pixel's sums start from `bias` (the eight channels twice).
        #[inline(always)]
        unsafe fn from_bias(bias: &[int32x4_t; 4]) -> DotSums {
            DotSums(splat_sums(bias))
        }

        /// `acc[r][h] += SDOT(w_h, xs[r].4b[L])`: channels 0–3 (`w0`) and 4–7 (`w1`), four `k`
        /// each, against the four activations in 32-bit lane `L` of each pixel's vector.
        #[inline(always)]
        unsafe fn lane<const L: i32>(
            &mut self,
            w0: int8x16_t,
            w1: int8x16_t,
            xs: &[int8x16_t; DOT_TILE],
        ) {
            let a = &mut self.0;
            core::arch::asm!(
                "sdot v16.4s, {w0:v}.16b, {x0:v}.4b[{l}]",
                "sdot v17.4s, {w1:v}.16b, {x0:v}.4b[{l}]",
                "sdot v18.4s, {w0:v}.16b, {x1:v}.4b[{l}]",
                "sdot v19.4s, {w1:v}.16b, {x1:v}.4b[{l}]",
                "sdot v20.4s, {w0:v}.16b, {x2:v}.4b[{l}]",
                "sdot v21.4s, {w1:v}.16b, {x2:v}.4b[{l}]",
                "sdot v22.4s, {w0:v}.16b, {x3:v}.4b[{l}]",
                "sdot v23.4s, {w1:v}.16b, {x3:v}.4b[{l}]",
                "sdot v24.4s, {w0:v}.16b, {x4:v}.4b[{l}]",
                "sdot v25.4s, {w1:v}.16b, {x4:v}.4b[{l}]",
                "sdot v26.4s, {w0:v}.16b, {x5:v}.4b[{l}]",
                "sdot v27.4s, {w1:v}.16b, {x5:v}.4b[{l}]",
                "sdot v28.4s, {w0:v}.16b, {x6:v}.4b[{l}]",
                "sdot v29.4s, {w1:v}.16b, {x6:v}.4b[{l}]",
                "sdot v30.4s, {w0:v}.16b, {x7:v}.4b[{l}]",
                "sdot v31.4s, {w1:v}.16b, {x7:v}.4b[{l}]",
                inout("v16") a[0], inout("v17") a[1], inout("v18") a[2], inout("v19") a[3],
                inout("v20") a[4], inout("v21") a[5], inout("v22") a[6], inout("v23") a[7],
                inout("v24") a[8], inout("v25") a[9], inout("v26") a[10], inout("v27") a[11],
                inout("v28") a[12], inout("v29") a[13], inout("v30") a[14], inout("v31") a[15],
                w0 = in(vreg_low16) w0, w1 = in(vreg_low16) w1,
                x0 = in(vreg_low16) xs[0], x1 = in(vreg_low16) xs[1],
                x2 = in(vreg_low16) xs[2], x3 = in(vreg_low16) xs[3],
                x4 = in(vreg_low16) xs[4], x5 = in(vreg_low16) xs[5],
                x6 = in(vreg_low16) xs[6], x7 = in(vreg_low16) xs[7],
                l = const L,
                options(pure, nomem, nostack, preserves_flags),
            );
        }

        /// Per pixel, channels 0–3 and 4–7.
        #[inline(always)]
        fn sums(self) -> Sums<DOT_TILE> {
            let a = self.0;
            core::array::from_fn(|r| [a[2 * r], a[2 * r + 1]])
        }
    }
}
