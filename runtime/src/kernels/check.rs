//! Bit-exactness checks of every kernel path against the reference kernels, on random cases.
//!
//! `no_std` and allocation-free so the same checks run in the host test suite (driven by
//! proptest seeds) and inside test firmware on Cortex-M cores under QEMU, on the real
//! instructions. A case is fully determined by its seed; the generator leans on edge values
//! (−128, 127, zero points at both ends, multipliers and biases that saturate).

use super::KernelPath;
use crate::blocked::Blocked;
use crate::format::{MAX_RANK, NO_NAME};
use crate::ops::{add, conv, fully_connected, mul, pool, transpose};
use crate::tensor::{DType, TensorInfo, TensorKind, TensorMut, TensorRef};

/// A seeded xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    /// Generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i32
    }
    /// An int8 value, an edge value one time in four.
    pub fn i8_edgy(&mut self) -> i8 {
        match self.next_u64() % 16 {
            0 => -128,
            1 => 127,
            2 => 0,
            3 => -127,
            _ => (self.next_u64() >> 56) as i8,
        }
    }
}

/// Why a check failed: which case (seed) and the first differing output element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The case's seed.
    pub seed: u64,
    /// Index of the first differing output element (`usize::MAX` if the workspace was too small).
    pub index: usize,
    /// Reference result.
    pub reference: i8,
    /// Result of the path under test.
    pub got: i8,
}

fn info(dtype: DType, shape: &[usize], zero_point: i32) -> TensorInfo {
    let mut dims = [1u32; MAX_RANK];
    for (d, &s) in dims.iter_mut().zip(shape) {
        *d = s as u32;
    }
    let n: usize = shape.iter().product();
    TensorInfo {
        dtype,
        kind: TensorKind::Arena,
        rank: shape.len() as u8,
        dims,
        scale: 1.0,
        zero_point,
        offset: 0,
        byte_len: (n * dtype.size()) as u32,
        name_off: NO_NAME,
        layout: crate::tensor::Layout::Dense,
    }
}

/// Store `dense` (row-major weights) into `out` as the op keeps them: blocked when `blocked`
/// is given (padding zeroed), else as they are; returns the weights' record.
fn store_weights(
    info: TensorInfo,
    blocked: Option<Blocked>,
    dense: &[u8],
    out: &mut [u8],
) -> TensorInfo {
    match blocked {
        Some(b) => {
            b.pack(
                crate::tensor::bytes_as_i8(dense),
                crate::tensor::bytes_as_i8_mut(out),
            );
            TensorInfo {
                layout: crate::tensor::Layout::Blocked,
                byte_len: out.len() as u32,
                ..info
            }
        }
        None => {
            out.copy_from_slice(dense);
            info
        }
    }
}

/// Carves a workspace into buffers.
struct Carver<'w>(&'w mut [u8]);

impl<'w> Carver<'w> {
    fn take(&mut self, n: usize) -> Option<&'w mut [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = core::mem::take(&mut self.0).split_at_mut(n);
        self.0 = b;
        Some(a)
    }
}

fn fill_i8(rng: &mut Rng, b: &mut [u8]) {
    for v in b {
        *v = rng.i8_edgy() as u8;
    }
}

/// Weights with edge values: half the cases in the TFLite weight range −127..=127 (what the
/// quantizer writes; the kernels that sum two products in int16 need it, and ±127 against
/// −128 activations brings those sums to the edge of int16), half with −128 too (the kernels
/// must fall back for it).
fn fill_weights(rng: &mut Rng, b: &mut [u8]) {
    let symmetric = rng.int(0, 1) == 0;
    for v in b {
        let w = rng.i8_edgy();
        *v = if symmetric { w.max(-127) } else { w } as u8;
    }
}

/// Tiny values (−3..=3): with them, left shifts (requantization factors above 1) give results
/// inside the int8 range instead of saturating, so those code paths are checked too.
fn fill_tiny(rng: &mut Rng, b: &mut [u8]) {
    for v in b {
        *v = rng.int(-3, 3) as i8 as u8;
    }
}

/// Bias and `(multiplier, shift)` table: realistic, large enough to saturate, or (with `tiny`
/// data) small with factors above 1.
fn fill_params(rng: &mut Rng, bias: &mut [u8], rq: &mut [u8], tiny: bool) {
    let big = !tiny && rng.int(0, 3) == 0;
    for b in bias.chunks_exact_mut(4) {
        let v = if tiny {
            rng.int(-20, 20)
        } else if big {
            rng.int(-2_000_000, 2_000_000)
        } else {
            rng.int(-20_000, 20_000)
        };
        b.copy_from_slice(&v.to_le_bytes());
    }
    for r in rq.chunks_exact_mut(8) {
        let m = rng.int(1 << 30, i32::MAX);
        let s = if tiny {
            rng.int(-2, 3)
        } else if big {
            rng.int(-10, 2)
        } else {
            rng.int(-14, -4)
        };
        r[..4].copy_from_slice(&m.to_le_bytes());
        r[4..].copy_from_slice(&s.to_le_bytes());
    }
}

fn compare(seed: u64, reference: &[u8], got: &[u8]) -> Result<(), Mismatch> {
    match reference.iter().zip(got).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(index) => Err(Mismatch {
            seed,
            index,
            reference: reference[index] as i8,
            got: got[index] as i8,
        }),
    }
}

/// Run the reference kernel into `want` and the kernel under test into `got` (pre-filled with a
/// marker, so bytes it fails to write show up), both as output `yi`, and compare them.
fn reference_vs_path(
    seed: u64,
    yi: TensorInfo,
    want: &mut [u8],
    got: &mut [u8],
    reference: impl FnOnce(&mut [TensorMut<'_>]),
    under_test: impl FnOnce(&mut [TensorMut<'_>]),
) -> Result<(), Mismatch> {
    reference(&mut [TensorMut {
        info: yi,
        data: &mut *want,
    }]);
    got.fill(0x5A);
    under_test(&mut [TensorMut {
        info: yi,
        data: &mut *got,
    }]);
    compare(seed, want, got)
}

const NO_ROOM: Mismatch = Mismatch {
    seed: 0,
    index: usize::MAX,
    reference: 0,
    got: 0,
};

/// Largest dimensions [`check_conv`] draws (keeps a case within 64 KiB of workspace).
pub const CONV_LIMITS: ConvLimits = ConvLimits {
    hw: 9,
    channels: 24,
    kernel: 5,
};

/// Bounds on random convolution shapes.
#[derive(Debug, Clone, Copy)]
pub struct ConvLimits {
    /// Largest input height and width.
    pub hw: u32,
    /// Largest input and output channel count.
    pub channels: u32,
    /// Largest kernel height and width.
    pub kernel: u32,
}

/// Run one random convolution (grouped one time in four) through the reference kernel and
/// through the kernel `path` selects, and compare every output byte. `work` needs 64 KiB.
pub fn check_conv(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let l = CONV_LIMITS;
    let kind = rng.int(0, 3);
    let groups = match kind {
        0 => rng.int(1, 4) as usize,
        1 => rng.int(1, 2 * l.channels as i32) as usize, // depthwise
        _ => 1,
    };
    let cg = if kind == 1 {
        1
    } else {
        rng.int(1, (l.channels as i32) / groups as i32) as usize
    };
    let cog = if kind == 1 {
        1
    } else {
        rng.int(1, (l.channels as i32) / groups as i32) as usize
    };
    let (c, co) = (cg * groups, cog * groups);
    let (h, w) = (
        rng.int(1, l.hw as i32) as usize,
        rng.int(1, l.hw as i32) as usize,
    );
    let pointwise = rng.int(0, 2) == 0;
    let (kh, kw) = if pointwise {
        (1, 1)
    } else {
        (
            rng.int(1, l.kernel as i32) as usize,
            rng.int(1, l.kernel as i32) as usize,
        )
    };
    let mut small = |hi: i32| rng.int(0, hi) as u16;
    // depthwise layers up to a kernel's height of padding rows: windows that start below the
    // first kernel row (the kernels then skip rows reading only padding)
    let tall = if kind == 1 { kh.max(3) as i32 - 1 } else { 2 };
    let pad = if pointwise && small(1) == 0 {
        [0; 4]
    } else {
        [small(tall), small(2), small(tall), small(2)]
    };
    let stride = [rng.int(1, 2) as u16, rng.int(1, 2) as u16];
    let dilation = [rng.int(1, 2) as u16, rng.int(1, 2) as u16];
    let (zx, zy) = (rng.i8_edgy() as i32, rng.i8_edgy() as i32);
    let (a, b) = (rng.i8_edgy(), rng.i8_edgy());
    let p = conv::ConvParams {
        stride,
        dilation,
        pad,
        groups: groups as u16,
        act_min: a.min(b),
        act_max: a.max(b),
    };
    let oh = conv::output_size(h as u32, kh as u32, stride[0], dilation[0], pad[0], pad[2]);
    let ow = conv::output_size(w as u32, kw as u32, stride[1], dilation[1], pad[1], pad[3]);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Ok(()); // the kernel does not fit: validation rejects such models
    };
    let (oh, ow) = (oh as usize, ow as usize);
    let xi = info(DType::I8, &[1, h, w, c], zx);
    let wi = info(DType::I8, &[co, kh, kw, cg], 0);
    let yi = info(DType::I8, &[1, oh, ow, co], zy);
    let mut cut = Carver(work);
    let scratch_len = crate::kernels::conv::scratch_size(&p, &xi, &wi);
    let row_len = kh * kw * cg;
    let blocked = (groups == 1).then_some(Blocked {
        rows: co,
        k: row_len,
    });
    let w_len = blocked.map_or(co * row_len, |b| b.byte_len().unwrap_or(usize::MAX));
    let (Some(xb), Some(dense), Some(wb), Some(bb), Some(rb)) = (
        cut.take(h * w * c),
        cut.take(co * row_len),
        cut.take(w_len),
        cut.take(4 * co),
        cut.take(8 * co),
    ) else {
        return Err(NO_ROOM);
    };
    let (Some(want), Some(got), Some(scratch)) = (
        cut.take(oh * ow * co),
        cut.take(oh * ow * co),
        cut.take(scratch_len),
    ) else {
        return Err(NO_ROOM);
    };
    let tiny = rng.int(0, 3) == 0;
    if tiny {
        fill_tiny(&mut rng, xb);
        fill_tiny(&mut rng, dense);
    } else {
        fill_i8(&mut rng, xb);
        fill_weights(&mut rng, dense);
    }
    let wi = store_weights(wi, blocked, dense, wb);
    fill_params(&mut rng, bb, rb, tiny);
    let ins = [
        TensorRef { info: xi, data: xb },
        TensorRef { info: wi, data: wb },
        TensorRef {
            info: info(DType::I32, &[co], 0),
            data: bb,
        },
        TensorRef {
            info: info(DType::I32, &[co, 2], 0),
            data: rb,
        },
    ];
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| conv::eval(&p, &ins, outs, &mut []),
        |outs| run_conv(path, &p, &ins, outs, scratch),
    )
}

fn run_conv(
    path: KernelPath,
    p: &conv::ConvParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
    scratch: &mut [u8],
) {
    match path {
        KernelPath::Reference => conv::eval(p, ins, outs, scratch),
        _ if super::conv::covers(p, &ins[0].info, &ins[1].info, scratch.len()) => {
            super::conv::eval(path, p, ins, outs, scratch)
        }
        _ if super::depthwise::covers(p, &ins[0].info, &ins[1].info) => {
            super::depthwise::eval(path, p, ins, outs)
        }
        _ => conv::eval(p, ins, outs, scratch),
    }
}

/// Run one random fully-connected layer through the reference kernel and through `path`'s
/// kernel, and compare every output byte. `work` needs 16 KiB.
pub fn check_fully_connected(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let rows = rng.int(1, 5) as usize;
    let k = rng.int(1, 300) as usize;
    let m = rng.int(1, 17) as usize;
    let (zx, zy) = (rng.i8_edgy() as i32, rng.i8_edgy() as i32);
    let (a, b) = (rng.i8_edgy(), rng.i8_edgy());
    let p = fully_connected::FcParams {
        act_min: a.min(b),
        act_max: a.max(b),
    };
    let mut cut = Carver(work);
    let blocked = Blocked { rows: m, k };
    let (Some(xb), Some(dense), Some(wb), Some(bb), Some(rb), Some(want), Some(got)) = (
        cut.take(rows * k),
        cut.take(m * k),
        cut.take(blocked.byte_len().unwrap_or(usize::MAX)),
        cut.take(4 * m),
        cut.take(8 * m),
        cut.take(rows * m),
        cut.take(rows * m),
    ) else {
        return Err(NO_ROOM);
    };
    let tiny = rng.int(0, 3) == 0;
    if tiny {
        fill_tiny(&mut rng, xb);
        fill_tiny(&mut rng, dense);
    } else {
        fill_i8(&mut rng, xb);
        fill_weights(&mut rng, dense);
    }
    let wi = store_weights(info(DType::I8, &[m, k], 0), Some(blocked), dense, wb);
    fill_params(&mut rng, bb, rb, tiny);
    let ins = [
        TensorRef {
            info: info(DType::I8, &[rows, k], zx),
            data: xb,
        },
        TensorRef { info: wi, data: wb },
        TensorRef {
            info: info(DType::I32, &[m], 0),
            data: bb,
        },
        TensorRef {
            info: info(DType::I32, &[m, 2], 0),
            data: rb,
        },
    ];
    let yi = info(DType::I8, &[rows, m], zy);
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| fully_connected::eval(&p, &ins, outs),
        |outs| match path {
            KernelPath::Reference => fully_connected::eval(&p, &ins, outs),
            _ => super::fully_connected::eval(path, &p, &ins, outs),
        },
    )
}

/// Run one random same-shape addition through the reference kernel and through `path`'s
/// kernel, and compare every output byte. `work` needs 8 KiB.
pub fn check_add(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let n = rng.int(1, 2000) as usize;
    // one case in four scales the inputs up until their sum saturates int32
    let saturating = rng.int(0, 3) == 0;
    let factor = |rng: &mut Rng| {
        let m = rng.int(1 << 30, i32::MAX);
        let top = if rng.int(0, 3) == 0 { 0 } else { -10 };
        (m, rng.int(-31, top))
    };
    let up = |rng: &mut Rng| (rng.int(1 << 30, i32::MAX), rng.int(2, 4));
    let (a_f, b_f, out_f) = if saturating {
        (up(&mut rng), up(&mut rng), factor(&mut rng))
    } else {
        (factor(&mut rng), factor(&mut rng), factor(&mut rng))
    };
    let (lo, hi) = (rng.i8_edgy(), rng.i8_edgy());
    let p = add::AddParams {
        a: a_f,
        b: b_f,
        out: out_f,
        left_shift: if saturating { 20 } else { rng.int(0, 20) as u8 },
        act_min: lo.min(hi),
        act_max: lo.max(hi),
    };
    let mut cut = Carver(work);
    let (Some(ab), Some(bb), Some(want), Some(got)) =
        (cut.take(n), cut.take(n), cut.take(n), cut.take(n))
    else {
        return Err(NO_ROOM);
    };
    fill_i8(&mut rng, ab);
    fill_i8(&mut rng, bb);
    let (za, zb, zy) = (
        rng.i8_edgy() as i32,
        rng.i8_edgy() as i32,
        rng.i8_edgy() as i32,
    );
    let ins = [
        TensorRef {
            info: info(DType::I8, &[1, n], za),
            data: ab,
        },
        TensorRef {
            info: info(DType::I8, &[1, n], zb),
            data: bb,
        },
    ];
    let yi = info(DType::I8, &[1, n], zy);
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| add::eval(&p, &ins, outs),
        |outs| match path {
            KernelPath::Reference => add::eval(&p, &ins, outs),
            _ => super::add::eval_same_shape(path, &p, &ins, outs),
        },
    )
}

/// Run one random table lookup (random table and length) through the reference kernel and
/// through `path`'s kernel, and compare every output byte. `work` needs 8 KiB.
pub fn check_lut(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let n = rng.int(1, 2000) as usize;
    let mut cut = Carver(work);
    let (Some(table), Some(xb), Some(want), Some(got)) =
        (cut.take(256), cut.take(n), cut.take(n), cut.take(n))
    else {
        return Err(NO_ROOM);
    };
    fill_i8(&mut rng, table);
    fill_i8(&mut rng, xb);
    let table = &*table;
    let ins = [TensorRef {
        info: info(DType::I8, &[1, n], 0),
        data: xb,
    }];
    reference_vs_path(
        seed,
        info(DType::I8, &[1, n], 0),
        want,
        got,
        |outs| crate::ops::lut::eval(table, &ins, outs),
        |outs| super::lut::eval(path, table, &ins, outs),
    )
}

/// Run one random input quantization (random length, scale and zero point; values drawn around
/// the rounding ties, at the saturation edges and special: ±0, ±∞, NaN, subnormals, one ulp
/// either side of a half) through the reference kernel and through `path`'s kernel, and compare
/// every output byte. `work` needs 12 KiB.
pub fn check_quantize(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let n = rng.int(1, 1200) as usize;
    let mut cut = Carver(work);
    let (Some(xb), Some(want), Some(got)) = (cut.take(4 * n), cut.take(n), cut.take(n)) else {
        return Err(NO_ROOM);
    };
    // scales from 2^-12 to 2^4, zero points anywhere in the int8 range
    let scale = f32::from_bits(rng.int(0x3980_0000, 0x4180_0000) as u32);
    let zero_point = rng.int(-128, 127);
    for v in xb.chunks_exact_mut(4) {
        let q = rng.int(-140, 140) as f32;
        let x = match rng.next_u64() % 12 {
            // a tie of the scaled value, and one ulp either side of it
            0 => (q + 0.5) * scale,
            1 => f32::from_bits(((q + 0.5) * scale).to_bits() + 1),
            2 => f32::from_bits(((q + 0.5) * scale).to_bits().wrapping_sub(1)),
            3 => [
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                1e-40,
                -1e-40,
                3e38,
            ][rng.int(0, 7) as usize],
            4 => f32::from_bits(rng.next_u64() as u32),
            _ => q * scale + (rng.int(-1000, 1000) as f32) * scale / 1000.0,
        };
        v.copy_from_slice(&x.to_ne_bytes());
    }
    let mut yi = info(DType::I8, &[1, n], zero_point);
    yi.scale = scale;
    let ins = [TensorRef {
        info: info(DType::F32, &[1, n], 0),
        data: xb,
    }];
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| crate::ops::quantize::eval(&ins, outs),
        |outs| super::quantize::eval(path, &ins, outs),
    )
}

/// Run one random pooling (max or average, with or without padding, counted or not, or the
/// rescaling global form) through the reference kernel and through `path`'s kernel, and compare
/// every output byte. `work` needs 16 KiB.
pub fn check_pool(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let max = rng.int(0, 1) == 0;
    let global = !max && rng.int(0, 2) == 0;
    // global pooling also over more than 256 pixels (the vector kernels sum runs of 256 in
    // int16)
    let large = global && rng.int(0, 1) == 0;
    let (h, w, c) = if large {
        (
            rng.int(1, 24) as usize,
            rng.int(1, 24) as usize,
            rng.int(1, 24) as usize,
        )
    } else {
        (
            rng.int(1, 9) as usize,
            rng.int(1, 9) as usize,
            rng.int(1, 40) as usize,
        )
    };
    let (kernel, stride, pad) = if global {
        ([h as u16, w as u16], [1, 1], [0; 4])
    } else {
        let k = [rng.int(1, 3) as u16, rng.int(1, 3) as u16];
        let pad = [0, 1, 2, 3].map(|i| rng.int(0, (k[i % 2] as i32 - 1).min(1)) as u16);
        (k, [rng.int(1, 2) as u16, rng.int(1, 2) as u16], pad)
    };
    let oh = conv::output_size(h as u32, kernel[0] as u32, stride[0], 1, pad[0], pad[2]);
    let ow = conv::output_size(w as u32, kernel[1] as u32, stride[1], 1, pad[1], pad[3]);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Ok(());
    };
    let (oh, ow) = (oh as usize, ow as usize);
    let (a, b) = (rng.i8_edgy(), rng.i8_edgy());
    let rescale = if global {
        (rng.int(1 << 30, i32::MAX), rng.int(-12, -1))
    } else {
        (0, 0)
    };
    let p = pool::PoolParams {
        kernel,
        stride,
        pad,
        count_include_pad: rng.int(0, 1) == 0,
        act_min: a.min(b),
        act_max: a.max(b),
        rescale,
    };
    let mut cut = Carver(work);
    let (Some(xb), Some(want), Some(got)) = (
        cut.take(h * w * c),
        cut.take(oh * ow * c),
        cut.take(oh * ow * c),
    ) else {
        return Err(NO_ROOM);
    };
    fill_i8(&mut rng, xb);
    if large && rng.int(0, 1) == 0 {
        // one edge value throughout: the largest sums there are
        xb.fill(if rng.int(0, 1) == 0 { 0x80 } else { 0x7F });
    }
    let (zx, zy) = (rng.i8_edgy() as i32, rng.i8_edgy() as i32);
    let ins = [TensorRef {
        info: info(DType::I8, &[1, h, w, c], zx),
        data: xb,
    }];
    let yi = info(DType::I8, &[1, oh, ow, c], zy);
    let reference = if max { pool::eval_max } else { pool::eval_avg };
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| reference(&p, &ins, outs),
        |outs| match path {
            KernelPath::Reference => reference(&p, &ins, outs),
            _ => super::pool::eval(path, &p, &ins, outs, max),
        },
    )
}

/// Run one random multiplication (same shape, or a per-channel gate on either side) through the
/// reference kernel and through `path`'s kernel, and compare every output byte. `work` needs
/// 8 KiB.
pub fn check_mul(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    // one case in four with more channels than a 64-element step (kernels that stream the
    // tensor then start steps mid-row), fewer rows to stay within the workspace
    let c = if rng.int(0, 3) == 0 {
        rng.int(41, 150)
    } else {
        rng.int(1, 40)
    } as usize;
    let rows = rng.int(1, (1600 / c).min(40) as i32) as usize;
    let kind = rng.int(0, 2);
    let full = [1, rows, c];
    let gate = [1, 1, c];
    let (sa, sb): (&[usize], &[usize]) = match kind {
        0 => (&full, &full),
        1 => (&full, &gate),
        _ => (&gate, &full),
    };
    let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
    let (a, b) = (rng.i8_edgy(), rng.i8_edgy());
    let p = mul::MulParams {
        out: (rng.int(1 << 30, i32::MAX), rng.int(-20, 2)),
        act_min: a.min(b),
        act_max: a.max(b),
    };
    let mut cut = Carver(work);
    let (Some(ab), Some(bb), Some(want), Some(got)) = (
        cut.take(na),
        cut.take(nb),
        cut.take(rows * c),
        cut.take(rows * c),
    ) else {
        return Err(NO_ROOM);
    };
    fill_i8(&mut rng, ab);
    fill_i8(&mut rng, bb);
    let (za, zb, zy) = (
        rng.i8_edgy() as i32,
        rng.i8_edgy() as i32,
        rng.i8_edgy() as i32,
    );
    let ins = [
        TensorRef {
            info: info(DType::I8, sa, za),
            data: ab,
        },
        TensorRef {
            info: info(DType::I8, sb, zb),
            data: bb,
        },
    ];
    let yi = info(DType::I8, &full, zy);
    reference_vs_path(
        seed,
        yi,
        want,
        got,
        |outs| mul::eval(&p, &ins, outs),
        |outs| match path {
            KernelPath::Reference => mul::eval(&p, &ins, outs),
            _ => super::mul::eval(path, &p, &ins, outs),
        },
    )
}

/// Run one random byte transpose (any rank and permutation, or half the time the network
/// input's planes-to-channels case, NCHW to NHWC with three or four channels) and compare every
/// output byte with an element-by-element index computation, on `path` (its fast forms depend on
/// the target and, on x86, the path). `work` needs 12 KiB.
pub fn check_transpose(seed: u64, path: KernelPath, work: &mut [u8]) -> Result<(), Mismatch> {
    let mut rng = Rng::new(seed);
    let mut perm: [usize; MAX_RANK] = core::array::from_fn(|i| i);
    let (rank, dims) = if rng.int(0, 1) == 0 {
        let c = rng.int(3, 4) as usize;
        perm[1..4].copy_from_slice(&[2, 3, 1]);
        let dims = [
            rng.int(1, 2) as usize,
            c,
            rng.int(1, 5) as usize,
            rng.int(1, 40) as usize,
        ];
        (4, core::array::from_fn(|i| if i < 4 { dims[i] } else { 1 }))
    } else {
        let rank = rng.int(1, MAX_RANK as i32) as usize;
        let mut dims: [usize; MAX_RANK] = core::array::from_fn(|_| rng.int(1, 3) as usize);
        dims[rng.int(0, rank as i32 - 1) as usize] = rng.int(1, 24) as usize;
        for i in (1..rank).rev() {
            perm.swap(i, rng.int(0, i as i32) as usize);
        }
        (rank, dims)
    };
    check_transpose_case(seed, path, (&dims[..rank], &perm[..rank]), &mut rng, work)
}

fn check_transpose_case(
    seed: u64,
    path: KernelPath,
    (dims, perm): (&[usize], &[usize]),
    rng: &mut Rng,
    work: &mut [u8],
) -> Result<(), Mismatch> {
    let rank = dims.len();
    let count: usize = dims.iter().product();
    let mut cut = Carver(work);
    let (Some(xb), Some(want), Some(got)) = (cut.take(count), cut.take(count), cut.take(count))
    else {
        return Err(NO_ROOM);
    };
    fill_i8(rng, xb);
    let out_dims: [usize; MAX_RANK] =
        core::array::from_fn(|i| if i < rank { dims[perm[i]] } else { 1 });
    // want[output index] = x[input index of the same element]
    let mut idx = [0usize; MAX_RANK];
    for (o, w) in want.iter_mut().enumerate() {
        let mut rest = o;
        for i in (0..rank).rev() {
            idx[i] = rest % out_dims[i];
            rest /= out_dims[i];
        }
        let mut input = 0;
        for (a, &d) in dims.iter().enumerate() {
            // output axis i is input axis perm[i]
            let i = perm.iter().position(|&p| p == a).unwrap_or(0);
            input = input * d + idx[i];
        }
        *w = xb[input];
    }
    let mut p = transpose::TransposeParams {
        rank: rank as u8,
        perm: [0; MAX_RANK],
    };
    for (d, &s) in p.perm.iter_mut().zip(perm) {
        *d = s as u8;
    }
    let ins = [TensorRef {
        info: info(DType::I8, dims, 0),
        data: xb,
    }];
    got.fill(0x5A);
    transpose::eval_on(
        path,
        &p,
        &ins,
        &mut [TensorMut {
            info: info(DType::I8, &out_dims[..rank], 0),
            data: &mut *got,
        }],
    );
    compare(seed, want, got)
}
