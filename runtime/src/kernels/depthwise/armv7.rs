//! 32-bit Arm NEON depthwise kernel (built with `target_feature = "neon"`), in assembly because
//! Rust's 32-bit NEON intrinsics are unstable: sixteen channels per block on the walk the
//! AArch64 and AVX2 sixteen-channel kernels share ([`walk_pixels`]), with their arithmetic.
//! Per pair of taps `VMULL.S8` + `VMLAL.S8` sum two products in int16 (exact for weights in
//! −127..=127, like `neon_wide`; a layer holding −128 takes the scalar kernel), `VADDW.S16`
//! widens them into the int32 sums; kernel rows reading only padding start each output row's
//! sums (bias + zero point × their weights) instead of being multiplied. The sums of one or two
//! pixels are requantized sixteen channels at a time with the reference's arithmetic (see
//! [`crate::kernels::gemm`]'s 32-bit kernel).

use super::*;

use super::WIDE_MAX_TAPS as MAX_TAPS;
const MAX_BLOCKS: usize = super::WIDE_MAX_CHANNELS / 16;
/// Stack bytes for the reordered weights (channel blocks × taps × 16).
const MAX_WEIGHT_BYTES: usize = 16384;
/// Largest input of fewer than 16 channels copied to the stack (see [`eval`]).
const MAX_NARROW_INPUT: usize = 32768;

/// One block's requantization constants in the order the assembly loads them.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct BlockConstants {
    left: [i32; 16],
    mult: [i32; 16],
    neg_right: [i32; 16],
    zero_point: [i16; 8],
    lo: [i8; 16],
    hi: [i8; 16],
}

/// Sixteen int32 sums per pixel, two pixels (the second unused for a single pixel).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Sums([i32; 32]);

/// Returns `false` (nothing written) when the shape or the weights are not covered.
///
/// Fewer than sixteen channels run as one block whose lanes past `c` read the next pixel's
/// bytes against zero weights and are not stored; the input is copied to the stack first so
/// the last pixel's sixteen-byte loads stay inside a buffer.
///
/// # Safety
/// The build targets NEON.
pub(super) unsafe fn eval(
    p: &ConvParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) -> bool {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (n, c) = (x.info.dims[0] as usize, x.info.dims[3] as usize);
    let taps = (w.info.dims[1] * w.info.dims[2]) as usize;
    let blocks = c.div_ceil(16);
    let wd = w.as_i8();
    let narrow = c < 16;
    if c == 0
        || (narrow && x.data.len() > MAX_NARROW_INPUT)
        || taps > MAX_TAPS
        || blocks > MAX_BLOCKS
        || 16 * blocks * taps > MAX_WEIGHT_BYTES
        || bias.data.len() < 4 * c
        || rq.data.len() < 8 * c
        || wd.len() < c * taps
        || wd[..c * taps].contains(&i8::MIN)
    {
        return false;
    }
    // weights[(b·taps + t)·16 + j]: tap t of channel block_start(c, b) + j (zero past `c`)
    let mut weights = Weights([0; MAX_WEIGHT_BYTES]);
    for b in 0..blocks {
        let c0 = block_start(c, b);
        for t in 0..taps {
            for j in 0..16.min(c) {
                weights.0[(b * taps + t) * 16 + j] = wd[(c0 + j) * taps + t];
            }
        }
    }
    let y = &mut outs[0];
    let [oh, ow] = [y.info.dims[1] as usize, y.info.dims[2] as usize];
    let table = rq.as_i8();
    let word = |bytes: &[i8], i: usize| {
        i32::from_le_bytes(core::array::from_fn(|k| bytes[4 * i + k] as u8))
    };
    let mut constants = [BlockConstants {
        left: [0; 16],
        mult: [0; 16],
        neg_right: [0; 16],
        zero_point: [y.info.zero_point as i16; 8],
        lo: [p.act_min; 16],
        hi: [p.act_max; 16],
    }; MAX_BLOCKS];
    let mut biases = [[0i32; 16]; MAX_BLOCKS];
    for b in 0..blocks {
        let c0 = block_start(c, b);
        for j in 0..16.min(c) {
            let shift = word(table, 2 * (c0 + j) + 1);
            constants[b].mult[j] = word(table, 2 * (c0 + j));
            constants[b].left[j] = shift.max(0);
            constants[b].neg_right[j] = shift.min(0);
            biases[b][j] = word(bias.as_i8(), c0 + j);
        }
    }
    let window = TapWindow::new(p, &x.info, &w.info);
    let zp = x.info.zero_point as i8;
    let mut kernel = Kernel {
        weights: &weights.0,
        taps,
        c,
        blocks,
        constants: &constants,
        biases: &biases,
        zp,
        live: 0..0,
        row_start: [Sums([0; 32]); MAX_BLOCKS],
        sums: Sums([0; 32]),
        spare: [0; 32],
        y: y.as_i8_mut(),
    };
    if narrow {
        let mut copy = Input([0; MAX_NARROW_INPUT + 16]);
        copy.0[..x.data.len()].copy_from_slice(x.as_i8());
        walk_pixels(&window, &copy.0, (n, oh, ow), zp, &mut kernel);
    } else {
        walk_pixels(&window, x.as_i8(), (n, oh, ow), zp, &mut kernel);
    }
    true
}

/// First channel of block `b` (blocks of sixteen; one block when `c < 16`).
fn block_start(c: usize, b: usize) -> usize {
    if c < 16 {
        0
    } else {
        wide_block_start(c, b)
    }
}

/// A narrow input with sixteen bytes of slack.
struct Input([i8; MAX_NARROW_INPUT + 16]);

/// Two pixels' first bytes of a block.
type Pixels = (*const i8, *const i8);

/// The reordered weights, aligned for 128-bit loads.
#[repr(C, align(16))]
struct Weights([i8; MAX_WEIGHT_BYTES]);

/// The per-op constants and the current output row's state of the walk.
struct Kernel<'a> {
    weights: &'a [i8; MAX_WEIGHT_BYTES],
    taps: usize,
    c: usize,
    blocks: usize,
    constants: &'a [BlockConstants; MAX_BLOCKS],
    biases: &'a [[i32; 16]; MAX_BLOCKS],
    zp: i8,
    /// The current row's live taps.
    live: core::ops::Range<usize>,
    /// Per block, the current row's starting sums (both pixels' halves): the bias and the dead
    /// taps' products.
    row_start: [Sums; MAX_BLOCKS],
    /// The current pixels' sums (a single pixel's in the first half).
    sums: Sums,
    /// Requantized bytes that do not go straight to the output.
    spare: [i8; 32],
    y: &'a mut [i8],
}

impl Kernel<'_> {
    /// Block `b`'s weights of the first live tap.
    fn live_weights(&self, b: usize) -> *const i8 {
        self.weights[(b * self.taps + self.live.start) * 16..].as_ptr()
    }

    /// Block `b`'s sums over the live taps into `self.sums`: tap `t` of the two pixels at
    /// `first + offsets[t]` and `second + offsets[t]`.
    ///
    /// # Safety
    /// Those sixteen bytes of every live tap, and the live taps' offsets, must be readable.
    #[inline(always)]
    unsafe fn live_sums(&mut self, b: usize, (first, second): Pixels, offsets: *const usize) {
        let len = self.live.len();
        let job = PairJob {
            first,
            second,
            offsets,
            weights: self.live_weights(b),
            tap_pairs: len / 2,
            odd: len % 2,
            sums: &mut self.sums,
        };
        pair_sums(&job, &self.row_start[b]);
    }

    /// Requantize the sums of `pixels` pixels of block `b` and store them at `at` (and
    /// `at + c`).
    fn finish(&mut self, b: usize, pixels: usize, at: usize) {
        let c0 = block_start(self.c, b);
        let end = at + (pixels - 1) * self.c + c0 + 16;
        if self.c >= 16 && end <= self.y.len() {
            // whole blocks: straight to the output (a single pixel's second half to `spare`)
            let first = self.y[at + c0..].as_mut_ptr();
            let second = if pixels == 2 {
                self.y[at + self.c + c0..].as_mut_ptr()
            } else {
                self.spare[16..].as_mut_ptr()
            };
            // SAFETY: the build targets NEON; both destinations hold sixteen bytes (`end`).
            unsafe { requantize(&self.sums, &self.constants[b], [first, second]) };
            return;
        }
        let spare = self.spare.as_mut_ptr();
        // SAFETY: as above; `spare` holds 32 bytes.
        unsafe { requantize(&self.sums, &self.constants[b], [spare, spare.add(16)]) };
        let lanes = self.c.min(16);
        for (k, pixel) in self.spare.chunks_exact(16).take(pixels).enumerate() {
            let start = at + k * self.c + c0;
            self.y[start..start + lanes].copy_from_slice(&pixel[..lanes]);
        }
    }
}

impl WideKernel for Kernel<'_> {
    unsafe fn start_row(&mut self, live: core::ops::Range<usize>) {
        for b in 0..self.blocks {
            let base = b * self.taps * 16;
            for j in 0..16 {
                let dead: i32 = (0..live.start)
                    .chain(live.end..self.taps)
                    .map(|t| self.weights[base + t * 16 + j] as i32)
                    .sum();
                let start = self.biases[b][j].wrapping_add(dead * self.zp as i32);
                self.row_start[b].0[j] = start;
                self.row_start[b].0[16 + j] = start;
            }
        }
        self.live = live;
    }

    unsafe fn pair(&mut self, px: *const i8, second: usize, offsets: &[usize], at: usize) {
        // `live` lies inside `0..taps` (the length of `offsets`)
        let offsets = offsets[self.live.clone()].as_ptr();
        for b in 0..self.blocks {
            let c0 = block_start(self.c, b);
            self.live_sums(b, (px.add(c0), px.add(second + c0)), offsets);
            self.finish(b, 2, at);
        }
    }

    unsafe fn single(&mut self, sources: &[*const i8], at: usize) {
        // the pair kernel with both pixels the same: its offsets are the sources' addresses,
        // its pixels the block's first channel (the second pixel's sums are not stored)
        let offsets = sources[self.live.clone()].as_ptr() as *const usize;
        for b in 0..self.blocks {
            let channel = core::ptr::null::<i8>().wrapping_add(block_start(self.c, b));
            self.live_sums(b, (channel, channel), offsets);
            self.finish(b, 1, at);
        }
    }
}

/// Two pixels' live taps for one block (the assembly reads the fields by offset).
#[repr(C)]
struct PairJob {
    /// The first pixel's block (tap `t` at `first + offsets[t]`).
    first: *const i8,
    /// The second pixel's block.
    second: *const i8,
    /// The live taps' offsets.
    offsets: *const usize,
    /// The first live tap's sixteen weights, the next taps' following.
    weights: *const i8,
    tap_pairs: usize,
    /// 1 when a last live tap is left over.
    odd: usize,
    /// Where both pixels' sums go.
    sums: *mut Sums,
}

/// Both pixels' sums of `job`'s taps, starting from `start`, into `job.sums`.
///
/// # Safety
/// Every tap's sixteen bytes of both pixels, the weights and the offsets must be readable.
#[inline(never)]
unsafe fn pair_sums(job: &PairJob, start: &Sums) {
    core::arch::asm!(
        "vld1.32 {{d16-d19}}, [{s}:128]!",
        "vld1.32 {{d20-d23}}, [{s}:128]!",
        "vld1.32 {{d24-d27}}, [{s}:128]!",
        "vld1.32 {{d28-d31}}, [{s}:128]",
        "ldr {p0}, [{job}]",
        "ldr {p1}, [{job}, #4]",
        "ldr {o}, [{job}, #8]",
        "ldr {w}, [{job}, #12]",
        "ldr {n}, [{job}, #16]",
        "cmp {n}, #0",
        "beq 3f",
        "2:",
        "ldr {t}, [{o}], #4",
        "add {a}, {p0}, {t}",
        "vld1.8 {{d0-d1}}, [{a}]",
        "add {a}, {p1}, {t}",
        "vld1.8 {{d2-d3}}, [{a}]",
        "ldr {t}, [{o}], #4",
        "add {a}, {p0}, {t}",
        "vld1.8 {{d4-d5}}, [{a}]",
        "add {a}, {p1}, {t}",
        "vld1.8 {{d6-d7}}, [{a}]",
        "vld1.8 {{d8-d11}}, [{w}:128]!",
        "vmull.s8 q6, d0, d8",
        "vmlal.s8 q6, d4, d10",
        "vmull.s8 q7, d1, d9",
        "vmlal.s8 q7, d5, d11",
        "vaddw.s16 q8, q8, d12",
        "vaddw.s16 q9, q9, d13",
        "vaddw.s16 q10, q10, d14",
        "vaddw.s16 q11, q11, d15",
        "vmull.s8 q6, d2, d8",
        "vmlal.s8 q6, d6, d10",
        "vmull.s8 q7, d3, d9",
        "vmlal.s8 q7, d7, d11",
        "vaddw.s16 q12, q12, d12",
        "vaddw.s16 q13, q13, d13",
        "vaddw.s16 q14, q14, d14",
        "vaddw.s16 q15, q15, d15",
        "subs {n}, {n}, #1",
        "bne 2b",
        "3:",
        "ldr {n}, [{job}, #20]",
        "cmp {n}, #0",
        "beq 4f",
        "ldr {t}, [{o}]",
        "add {a}, {p0}, {t}",
        "vld1.8 {{d0-d1}}, [{a}]",
        "add {a}, {p1}, {t}",
        "vld1.8 {{d2-d3}}, [{a}]",
        "vld1.8 {{d8-d9}}, [{w}:128]",
        "vmull.s8 q6, d0, d8",
        "vmull.s8 q7, d1, d9",
        "vaddw.s16 q8, q8, d12",
        "vaddw.s16 q9, q9, d13",
        "vaddw.s16 q10, q10, d14",
        "vaddw.s16 q11, q11, d15",
        "vmull.s8 q6, d2, d8",
        "vmull.s8 q7, d3, d9",
        "vaddw.s16 q12, q12, d12",
        "vaddw.s16 q13, q13, d13",
        "vaddw.s16 q14, q14, d14",
        "vaddw.s16 q15, q15, d15",
        "4:",
        "ldr {s}, [{job}, #24]",
        "vst1.32 {{d16-d19}}, [{s}:128]!",
        "vst1.32 {{d20-d23}}, [{s}:128]!",
        "vst1.32 {{d24-d27}}, [{s}:128]!",
        "vst1.32 {{d28-d31}}, [{s}:128]",
        job = in(reg) job,
        s = inout(reg) start.0.as_ptr() => _,
        p0 = out(reg) _, p1 = out(reg) _, o = out(reg) _, w = out(reg) _,
        n = out(reg) _, t = out(reg) _, a = out(reg) _,
        out("q0") _, out("q1") _, out("q2") _, out("q3") _,
        out("q4") _, out("q5") _, out("q6") _, out("q7") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _,
        out("q12") _, out("q13") _, out("q14") _, out("q15") _,
        options(nostack),
    );
}

/// Requantize two pixels' sixteen sums into `out[0]` and `out[1]`.
///
/// # Safety
/// The build targets NEON; each `out` must address sixteen writable bytes.
#[inline(always)]
unsafe fn requantize(sums: &Sums, k: &BlockConstants, out: [*mut i8; 2]) {
    core::arch::asm!(
        "vld1.32 {{d16-d19}}, [{s}:128]!",
        "vld1.32 {{d20-d23}}, [{s}:128]!",
        "vld1.32 {{d24-d27}}, [{s}:128]!",
        "vld1.32 {{d28-d31}}, [{s}:128]",
        "vld1.32 {{d0-d3}}, [{k}:128]!",
        "vld1.32 {{d4-d7}}, [{k}:128]!",
        "vqshl.s32 q8, q8, q0",
        "vqshl.s32 q9, q9, q1",
        "vqshl.s32 q10, q10, q2",
        "vqshl.s32 q11, q11, q3",
        "vqshl.s32 q12, q12, q0",
        "vqshl.s32 q13, q13, q1",
        "vqshl.s32 q14, q14, q2",
        "vqshl.s32 q15, q15, q3",
        "vld1.32 {{d0-d3}}, [{k}:128]!",
        "vld1.32 {{d4-d7}}, [{k}:128]!",
        "vqrdmulh.s32 q8, q8, q0",
        "vqrdmulh.s32 q9, q9, q1",
        "vqrdmulh.s32 q10, q10, q2",
        "vqrdmulh.s32 q11, q11, q3",
        "vqrdmulh.s32 q12, q12, q0",
        "vqrdmulh.s32 q13, q13, q1",
        "vqrdmulh.s32 q14, q14, q2",
        "vqrdmulh.s32 q15, q15, q3",
        "vld1.32 {{d0-d3}}, [{k}:128]!",
        "vld1.32 {{d4-d7}}, [{k}:128]!",
        "vrshl.s32 q8, q8, q0",
        "vrshl.s32 q9, q9, q1",
        "vrshl.s32 q10, q10, q2",
        "vrshl.s32 q11, q11, q3",
        "vrshl.s32 q12, q12, q0",
        "vrshl.s32 q13, q13, q1",
        "vrshl.s32 q14, q14, q2",
        "vrshl.s32 q15, q15, q3",
        "vqmovn.s32 d0, q8",
        "vqmovn.s32 d1, q9",
        "vqmovn.s32 d2, q10",
        "vqmovn.s32 d3, q11",
        "vqmovn.s32 d4, q12",
        "vqmovn.s32 d5, q13",
        "vqmovn.s32 d6, q14",
        "vqmovn.s32 d7, q15",
        "vld1.16 {{d8-d9}}, [{k}:128]!",
        "vqadd.s16 q0, q0, q4",
        "vqadd.s16 q1, q1, q4",
        "vqadd.s16 q2, q2, q4",
        "vqadd.s16 q3, q3, q4",
        "vqmovn.s16 d0, q0",
        "vqmovn.s16 d1, q1",
        "vqmovn.s16 d2, q2",
        "vqmovn.s16 d3, q3",
        "vld1.8 {{d8-d11}}, [{k}:128]",
        "vmax.s8 q0, q0, q4",
        "vmax.s8 q1, q1, q4",
        "vmin.s8 q0, q0, q5",
        "vmin.s8 q1, q1, q5",
        "vst1.8 {{d0-d1}}, [{o0}]",
        "vst1.8 {{d2-d3}}, [{o1}]",
        s = inout(reg) sums.0.as_ptr() => _,
        k = inout(reg) k as *const BlockConstants => _,
        o0 = in(reg) out[0],
        o1 = in(reg) out[1],
        out("q0") _, out("q1") _, out("q2") _, out("q3") _, out("q4") _, out("q5") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _,
        out("q12") _, out("q13") _, out("q14") _, out("q15") _,
        options(nostack),
    );
}
