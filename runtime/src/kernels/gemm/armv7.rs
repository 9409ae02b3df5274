//! 32-bit Arm NEON (Cortex-A7/A9/A15/A53 in AArch32, built with `target_feature = "neon"`):
//! the matrix product in assembly, because Rust's 32-bit NEON intrinsics are unstable while
//! `asm!` is stable there.
//!
//! Two pixels per tile: AArch32 has sixteen 128-bit registers, and a pixel's eight channels take
//! four of them as sums (two partial sums per channel, like the AArch64 baseline). Per pair of
//! cells and pixel, `VMULL.S8` multiplies each quarter of the first cell (two channels × four
//! `k`) by the pixel's four broadcast activations, `VMLAL.S8` adds the second cell's products to
//! the same int16 lanes and `VPADAL.S16` adds neighbouring lanes into the int32 sums: two
//! products per int16 lane fit when the weights are in −127..=127 (TFLite's weight range); a
//! layer holding −128 takes the reference kernel. The sums start from the bias. At the end of
//! the row `VPADD` folds the partial sums, and the requantization is the reference's
//! arithmetic in the AArch64 kernels' order: `VQSHL` (saturating left shift), `VQRDMULH`
//! (doubling high multiply, rounding half up), `VRSHL` by a negative amount (rounding right
//! shift), saturating narrow to int16, `VQADD` of the zero point, saturating narrow to int8,
//! clamp (the AArch64 `kernels::neon::Requant16` says why the int16 steps give the same bytes).

use super::*;
use core::mem::MaybeUninit;

/// Output pixels per tile.
const PAIR: usize = 2;

/// One block's bias and requantization constants in the order the assembly loads them.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct BlockConstants {
    /// The sums' starting lanes: per channel its bias, then 0 (two partial sums per channel).
    start: [i32; 2 * ROWS],
    left: [i32; ROWS],
    mult: [i32; ROWS],
    neg_right: [i32; ROWS],
    zero_point: [i16; ROWS],
    lo: [i8; 16],
    hi: [i8; 16],
}

impl BlockConstants {
    /// Block `b`'s constants (channels past the end get zeros: computed, then dropped).
    ///
    /// # Safety
    /// `bias` and `table` must hold `4·co` and `8·co` bytes.
    unsafe fn new(l: &Layer<'_>, b: usize, (bias, table): (*const u8, *const u8)) -> Self {
        let mut spare = [0u8; 96];
        let (bp, tp) = block_constants(l, b, (bias, table), &mut spare);
        let word = |p: *const u8, i: usize| (p.add(4 * i) as *const i32).read_unaligned();
        let mut k = BlockConstants {
            start: [0; 2 * ROWS],
            left: [0; ROWS],
            mult: [0; ROWS],
            neg_right: [0; ROWS],
            zero_point: [l.zero_point as i16; ROWS],
            lo: [l.clamp.0; 16],
            hi: [l.clamp.1; 16],
        };
        for c in 0..ROWS {
            let shift = word(tp, 2 * c + 1);
            k.start[2 * c] = word(bp, c);
            k.mult[c] = word(tp, 2 * c);
            k.left[c] = shift.max(0);
            k.neg_right[c] = shift.min(0);
        }
        k
    }
}

/// The layer, two pixels at a time against every channel block.
///
/// # Safety
/// The build targets NEON; `Layer::new` checked the tensors' lengths.
pub(super) unsafe fn eval(
    l: &Layer<'_>,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) -> bool {
    let (x, w, bias, rq) = (&ins[0], &ins[1], &ins[2], &ins[3]);
    let (co, groups) = (l.co, l.blocked.groups());
    if holds_min(&w.as_i8()[..l.blocked.byte_len().unwrap_or(0)]) {
        return false;
    }
    let constants = (bias.data.as_ptr(), rq.data.as_ptr());
    let cached = l.blocks().min(CACHED_BLOCKS);
    let mut table: MaybeUninit<[BlockConstants; CACHED_BLOCKS]> = MaybeUninit::uninit();
    let table = table.as_mut_ptr() as *mut BlockConstants;
    for b in 0..cached {
        table.add(b).write(BlockConstants::new(l, b, constants));
    }
    let weights = w.data.as_ptr() as *const i8;
    let mut storage = MaybeUninit::uninit();
    let mut cols = column_buffers::<PAIR>(&mut storage, l);
    let mut staging: MaybeUninit<[[i8; MAX_K + 16]; PAIR]> = MaybeUninit::uninit();
    let staging = staging.as_mut_ptr() as *mut [i8; MAX_K + 16];
    let padded = l.k.div_ceil(16) * 16;
    let xd = x.as_i8();
    let image_len = l.geometry.h * l.geometry.w * l.geometry.c;
    let yd = outs[0].as_i8_mut();
    let mut spare = [0i8; ROWS * PAIR];
    let spare = spare.as_mut_ptr();
    for img in 0..l.images {
        let image = &xd[img * image_len..(img + 1) * image_len];
        let out = yd[img * l.pixels * co..(img + 1) * l.pixels * co].as_mut_ptr();
        for px in (0..l.pixels).step_by(PAIR) {
            let mut rows = [core::ptr::null(); PAIR];
            for (r, col) in cols.iter_mut().enumerate() {
                // a row past the end repeats the last pixel (computed, not stored)
                let row = l.row(image, (px + r).min(l.pixels - 1), col);
                rows[r] = staged(row, l.k, padded, staging.add(r) as *mut i8);
            }
            let live = PAIR.min(l.pixels - px);
            for b in 0..l.blocks() {
                let made;
                let k = if b < cached {
                    &*table.add(b)
                } else {
                    made = BlockConstants::new(l, b, constants);
                    &made
                };
                let cells = weights.add(b * l.blocked.block_stride());
                let (c0, channels) = (ROWS * b, l.live_channels(b));
                // whole pixels go straight to the output, others through `spare`
                let dst: [*mut i8; PAIR] = core::array::from_fn(|r| {
                    if channels == ROWS && r < live {
                        out.add((px + r) * co + c0)
                    } else {
                        spare.add(ROWS * r)
                    }
                });
                tile(cells, rows, groups, k, dst);
                if channels < ROWS {
                    for r in 0..live {
                        core::ptr::copy_nonoverlapping(
                            spare.add(ROWS * r),
                            out.add((px + r) * co + c0),
                            channels,
                        );
                    }
                }
            }
        }
    }
    true
}

/// Whether `weights` hold −128 (`VMIN` over 16-byte steps).
///
/// # Safety
/// The build targets NEON.
unsafe fn holds_min(weights: &[i8]) -> bool {
    let steps = weights.len() / 16;
    let mut low = 0i32;
    if steps > 0 {
        core::arch::asm!(
            "vmov.i8 q1, #0",
            "2:",
            "vld1.8 {{d0-d1}}, [{p}]!",
            "vmin.s8 q1, q1, q0",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vpmin.s8 d0, d2, d3",
            "vpmin.s8 d0, d0, d0",
            "vpmin.s8 d0, d0, d0",
            "vpmin.s8 d0, d0, d0",
            "vmov.s8 {low}, d0[0]",
            p = inout(reg) weights.as_ptr() => _,
            n = inout(reg) steps => _,
            low = out(reg) low,
            out("q0") _, out("q1") _,
            options(nostack, readonly),
        );
    }
    low == i8::MIN as i32 || weights[16 * steps..].contains(&i8::MIN)
}

/// Two pixels' rows (`rows`, `4·groups` bytes each) against one block's cells: requantized
/// bytes, eight channels per pixel, to `dst[0]` and `dst[1]`.
///
/// # Safety
/// `cells` must hold `groups ≥ 1` cells of weights in −127..=127, each row `4·groups` readable
/// bytes, each `dst` eight writable bytes.
#[inline(always)]
unsafe fn tile(
    cells: *const i8,
    rows: [*const i8; PAIR],
    groups: usize,
    k: &BlockConstants,
    dst: [*mut i8; PAIR],
) {
    core::arch::asm!(
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vld1.32 {{d20-d23}}, [{k}:128]!",
        "vmov q12, q8",
        "vmov q13, q9",
        "vmov q14, q10",
        "vmov q15, q11",
        "lsrs {n}, {groups}, #1",
        "beq 3f",
        "2:",
        "vld1.8 {{d0-d3}}, [{w}]!",
        "vld1.8 {{d4-d7}}, [{w}]!",
        "vld1.32 {{d8[]}}, [{x0}]!",
        "vld1.32 {{d9[]}}, [{x0}]!",
        "vld1.32 {{d10[]}}, [{x1}]!",
        "vld1.32 {{d11[]}}, [{x1}]!",
        "vmull.s8 q6, d0, d8",
        "vmull.s8 q7, d1, d8",
        "vmlal.s8 q6, d4, d9",
        "vmlal.s8 q7, d5, d9",
        "vpadal.s16 q8, q6",
        "vpadal.s16 q9, q7",
        "vmull.s8 q6, d2, d8",
        "vmull.s8 q7, d3, d8",
        "vmlal.s8 q6, d6, d9",
        "vmlal.s8 q7, d7, d9",
        "vpadal.s16 q10, q6",
        "vpadal.s16 q11, q7",
        "vmull.s8 q6, d0, d10",
        "vmull.s8 q7, d1, d10",
        "vmlal.s8 q6, d4, d11",
        "vmlal.s8 q7, d5, d11",
        "vpadal.s16 q12, q6",
        "vpadal.s16 q13, q7",
        "vmull.s8 q6, d2, d10",
        "vmull.s8 q7, d3, d10",
        "vmlal.s8 q6, d6, d11",
        "vmlal.s8 q7, d7, d11",
        "vpadal.s16 q14, q6",
        "vpadal.s16 q15, q7",
        "subs {n}, {n}, #1",
        "bne 2b",
        "3:",
        "tst {groups}, #1",
        "beq 4f",
        "vld1.8 {{d0-d3}}, [{w}]",
        "vld1.32 {{d8[]}}, [{x0}]",
        "vld1.32 {{d10[]}}, [{x1}]",
        "vmull.s8 q6, d0, d8",
        "vmull.s8 q7, d1, d8",
        "vpadal.s16 q8, q6",
        "vpadal.s16 q9, q7",
        "vmull.s8 q6, d2, d8",
        "vmull.s8 q7, d3, d8",
        "vpadal.s16 q10, q6",
        "vpadal.s16 q11, q7",
        "vmull.s8 q6, d0, d10",
        "vmull.s8 q7, d1, d10",
        "vpadal.s16 q12, q6",
        "vpadal.s16 q13, q7",
        "vmull.s8 q6, d2, d10",
        "vmull.s8 q7, d3, d10",
        "vpadal.s16 q14, q6",
        "vpadal.s16 q15, q7",
        "4:",
        // q0, q1: pixel 0's eight channel sums; q2, q3: pixel 1's
        "vpadd.i32 d0, d16, d17",
        "vpadd.i32 d1, d18, d19",
        "vpadd.i32 d2, d20, d21",
        "vpadd.i32 d3, d22, d23",
        "vpadd.i32 d4, d24, d25",
        "vpadd.i32 d5, d26, d27",
        "vpadd.i32 d6, d28, d29",
        "vpadd.i32 d7, d30, d31",
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vqshl.s32 q0, q0, q8",
        "vqshl.s32 q1, q1, q9",
        "vqshl.s32 q2, q2, q8",
        "vqshl.s32 q3, q3, q9",
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vqrdmulh.s32 q0, q0, q8",
        "vqrdmulh.s32 q1, q1, q9",
        "vqrdmulh.s32 q2, q2, q8",
        "vqrdmulh.s32 q3, q3, q9",
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vrshl.s32 q0, q0, q8",
        "vrshl.s32 q1, q1, q9",
        "vrshl.s32 q2, q2, q8",
        "vrshl.s32 q3, q3, q9",
        "vqmovn.s32 d0, q0",
        "vqmovn.s32 d1, q1",
        "vqmovn.s32 d2, q2",
        "vqmovn.s32 d3, q3",
        "vld1.16 {{d16-d17}}, [{k}:128]!",
        "vqadd.s16 q0, q0, q8",
        "vqadd.s16 q1, q1, q8",
        "vqmovn.s16 d0, q0",
        "vqmovn.s16 d1, q1",
        "vld1.8 {{d16-d19}}, [{k}:128]",
        "vmax.s8 q0, q0, q8",
        "vmin.s8 q0, q0, q9",
        "vst1.8 {{d0}}, [{o0}]",
        "vst1.8 {{d1}}, [{o1}]",
        w = inout(reg) cells => _,
        x0 = inout(reg) rows[0] => _,
        x1 = inout(reg) rows[1] => _,
        groups = in(reg) groups,
        n = out(reg) _,
        k = inout(reg) k as *const BlockConstants => _,
        o0 = in(reg) dst[0],
        o1 = in(reg) dst[1],
        out("q0") _, out("q1") _, out("q2") _, out("q3") _,
        out("q4") _, out("q5") _, out("q6") _, out("q7") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _,
        out("q12") _, out("q13") _, out("q14") _, out("q15") _,
        options(nostack),
    );
}
