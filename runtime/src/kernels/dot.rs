//! Blocked int8 dot products on the SIMD32 primitives: the inner loops of convolution and
//! fully-connected kernels on the DSP path (and the scalar loops of every path's row kernels).
//!
//! Both operands are widened with `SXTB16` (bytes 0 and 2) and `SXTB16 ROR #8` (bytes 1 and 3)
//! and multiplied pairwise by `SMLAD`, two products per instruction; since both are split the
//! same way no reordering is needed. The input zero point is already folded into the bias (see
//! [`crate::ops::conv`]), so raw products are summed. Sums wrap at 32 bits like the reference
//! kernels' `wrapping_add`.
//!
//! Weights are blocked ([`crate::blocked`]): a row's next four weights (one word) follow every
//! [`CELL`] bytes, and the next row's word lies 4 bytes on (rows `2j`, `2j + 1` share cells).
//! A block's two activation rows lie back to back (`a`, `a + k`), so the 2×2 loop addresses the
//! second row by register offset and keeps all four accumulators, four widened activations and
//! two widened weights in registers.

use super::simd32::{load4, smlad, sxtb16, sxtb16_ror8};
use crate::blocked::{Blocked, CELL, DEPTH};

/// Offset of the second of two neighbouring weight rows from the first.
const NEXT_ROW: usize = DEPTH;

/// `acc + Σ a[i] · w(i)` for `i` in `from..k`, `w` a blocked row and `from` a multiple of 4
/// with `k - from < 4`: the last, partial word.
#[inline(always)]
unsafe fn tail(a: *const i8, w: *const i8, from: usize, k: usize, acc: i32) -> i32 {
    let (a, w) = (a.add(from), w.add(from / DEPTH * CELL));
    let mut acc = acc;
    for j in 0..k - from {
        acc = acc.wrapping_add(*a.add(j) as i32 * *w.add(j) as i32);
    }
    acc
}

/// Two activation rows (`a`, `a + k`) times two neighbouring blocked weight rows (`w`, its
/// words every [`CELL`] bytes; the second row at `w + 4`): `acc + [a0·w0, a0·w1, a1·w0, a1·w1]`.
///
/// # Safety
/// `a` must address `2k` readable bytes and `w` the two rows' words.
#[inline(always)]
pub unsafe fn dot_2x2(a: *const i8, w: *const i8, k: usize, acc: [i32; 4]) -> [i32; 4] {
    let words = k / 4;
    let mut c = acc;
    #[cfg(mote_dsp)]
    dot_2x2_words(a, w, words, k, c.as_mut_ptr());
    #[cfg(not(mote_dsp))]
    for g in 0..words {
        let i = 4 * g;
        let (x0, x1) = (load4(a.add(i)), load4(a.add(k + i)));
        let (v0, v1) = (load4(w.add(g * CELL)), load4(w.add(g * CELL + NEXT_ROW)));
        let (x0e, x0o, x1e, x1o) = (sxtb16(x0), sxtb16_ror8(x0), sxtb16(x1), sxtb16_ror8(x1));
        let (v0e, v0o, v1e, v1o) = (sxtb16(v0), sxtb16_ror8(v0), sxtb16(v1), sxtb16_ror8(v1));
        c[0] = smlad(x0o, v0o, smlad(x0e, v0e, c[0]));
        c[1] = smlad(x0o, v1o, smlad(x0e, v1e, c[1]));
        c[2] = smlad(x1o, v0o, smlad(x1e, v0e, c[2]));
        c[3] = smlad(x1o, v1o, smlad(x1e, v1e, c[3]));
    }
    let i = 4 * words;
    let w1 = w.add(NEXT_ROW);
    [
        tail(a, w, i, k, c[0]),
        tail(a, w1, i, k, c[1]),
        tail(a.add(k), w, i, k, c[2]),
        tail(a.add(k), w1, i, k, c[3]),
    ]
}

/// One word (four `k` steps) of the 2×2 block: 20 instructions for 16 multiply-adds.
/// Registers: `r0` row 0 of `a` (post-incremented), `r1` row 0 of `w` (post-incremented by a
/// cell; row 1's word is 4 bytes on), `r3` the activation row stride `k`, `r4..r7` the accumulators, `r8..r12` and `lr` temporaries.
#[cfg(mote_dsp)]
macro_rules! dot_2x2_word {
    () => {
        "ldr r8, [r0, r3]
        ldr r9, [r0], #4
        sxtb16 r10, r9, ror #8
        sxtb16 r9, r9
        sxtb16 r11, r8, ror #8
        sxtb16 r8, r8
        ldr r12, [r1, #4]
        sxtb16 lr, r12, ror #8
        sxtb16 r12, r12
        smlad r5, r9, r12, r5
        smlad r5, r10, lr, r5
        smlad r7, r8, r12, r7
        smlad r7, r11, lr, r7
        ldr r12, [r1], #32
        sxtb16 lr, r12, ror #8
        sxtb16 r12, r12
        smlad r4, r9, r12, r4
        smlad r4, r10, lr, r4
        smlad r6, r8, r12, r6
        smlad r6, r11, lr, r6"
    };
}

#[cfg(all(mote_dsp, mote_armv8m))]
macro_rules! arch_prologue {
    () => {
        ".arch armv7e-m"
    };
}
#[cfg(all(mote_dsp, mote_armv8m))]
macro_rules! arch_epilogue {
    () => {
        ".arch armv8-m.main"
    };
}
#[cfg(all(mote_dsp, not(mote_armv8m)))]
macro_rules! arch_prologue {
    () => {
        ""
    };
}
#[cfg(all(mote_dsp, not(mote_armv8m)))]
macro_rules! arch_epilogue {
    () => {
        ""
    };
}

/// The 2×2 loop over whole words in Thumb-2 assembly, unrolled twice: 21 instructions per 16
/// multiply-adds with nothing spilled (the compiler, two registers short, spilled pointers).
/// Arguments: `r0` = a, `r1` = w, `r2` = words, `r3` = k, `[sp]` = pointer to the four
/// accumulators (read and written back).
#[cfg(mote_dsp)]
#[unsafe(naked)]
unsafe extern "C" fn dot_2x2_words(
    a: *const i8,
    w: *const i8,
    words: usize,
    k: usize,
    acc: *mut i32,
) {
    core::arch::naked_asm!(
        // Naked-function assembly does not see `-C target-feature=+dsp`, and LLVM's assembler
        // has no `.arch_extension dsp`: on Armv8-M Mainline name Armv7E-M (same Thumb-2
        // encodings of these instructions) for this function, then switch back.
        arch_prologue!(),
        "push {{r4-r11, lr}}",
        "ldr r12, [sp, #36]",
        "ldm r12, {{r4-r7}}",
        "lsrs r2, r2, #1",
        "bcc 3f",
        dot_2x2_word!(),
        "3:",
        "add r2, r0, r2, lsl #3",
        "cmp r0, r2",
        "bhs 2f",
        "1:",
        dot_2x2_word!(),
        dot_2x2_word!(),
        "cmp r0, r2",
        "blo 1b",
        "2:",
        "ldr r12, [sp, #36]",
        "stm r12, {{r4-r7}}",
        "pop {{r4-r11, pc}}",
        arch_epilogue!(),
    )
}

/// One activation row times two neighbouring blocked weight rows (`w`, `w + 4`):
/// `acc + [a·w0, a·w1]`.
///
/// # Safety
/// `a` must address `k` readable bytes and `w` the two rows' words.
#[inline(always)]
pub unsafe fn dot_1x2(a: *const i8, w: *const i8, k: usize, acc: [i32; 2]) -> [i32; 2] {
    let [mut c0, mut c1] = acc;
    let w1 = w.add(NEXT_ROW);
    let mut i = 0;
    while i + 4 <= k {
        let x = load4(a.add(i));
        let (xe, xo) = (sxtb16(x), sxtb16_ror8(x));
        let v0 = load4(w.add(i / DEPTH * CELL));
        c0 = smlad(xo, sxtb16_ror8(v0), smlad(xe, sxtb16(v0), c0));
        let v1 = load4(w1.add(i / DEPTH * CELL));
        c1 = smlad(xo, sxtb16_ror8(v1), smlad(xe, sxtb16(v1), c1));
        i += 4;
    }
    [tail(a, w, i, k, c0), tail(a, w1, i, k, c1)]
}

/// One activation row times one blocked weight row.
///
/// # Safety
/// `a` must address `k` readable bytes and `w` the row's words.
#[inline(always)]
pub unsafe fn dot_1x1(a: *const i8, w: *const i8, k: usize, acc: i32) -> i32 {
    let mut c = acc;
    let mut i = 0;
    while i + 4 <= k {
        let x = load4(a.add(i));
        let v = load4(w.add(i / DEPTH * CELL));
        c = smlad(
            sxtb16_ror8(x),
            sxtb16_ror8(v),
            smlad(sxtb16(x), sxtb16(v), c),
        );
        i += 4;
    }
    tail(a, w, i, k, c)
}

/// One or two activation rows against every weight row, requantized into output rows.
pub(crate) struct RowBlock<'a, 'b> {
    /// Weights `[m, k]`, blocked.
    pub w: &'a [i8],
    /// Output channels.
    pub m: usize,
    /// Inner length.
    pub k: usize,
    /// Bias constant `[m]` (input zero point folded in).
    pub bias: &'b crate::tensor::TensorRef<'a>,
    /// Per-channel requantization.
    pub requant: &'b crate::ops::ChannelRequant<'a, 'b>,
}

impl RowBlock<'_, '_> {
    /// `out[r·m + o] = requant(bias[o] + rows[r·k..][..k] · w[o])` for the `rows.len() / k`
    /// (1 or 2) rows given back to back.
    pub(crate) fn run(&self, rows: &[i8], out: &mut [i8]) {
        let (m, k) = (self.m, self.k);
        let shape = Blocked { rows: m, k };
        let n = rows.len() / k;
        assert!(
            (n == 1 || n == 2)
                && rows.len() == n * k
                && out.len() == n * m
                && shape.byte_len().is_some_and(|len| self.w.len() >= len)
        );
        let (a, wp) = (rows.as_ptr(), self.w.as_ptr());
        // SAFETY (all blocks below): `w` holds the blocked `m × k` matrix and `rows` `n` rows
        // (asserted above); `o + 1 < m` inside the pair loops, and `o` is even there, so rows
        // `o` and `o + 1` share cells.
        let rq = self.requant;
        let (zp, lo, hi) = (rq.zero_point, rq.min as i32, rq.max as i32);
        let to_i8 = |acc: i32, (mult, shift): (i32, i32)| {
            let v = crate::quant::requantize_nonneg(acc, mult, shift).saturating_add(zp);
            v.clamp(lo, hi) as i8
        };
        let mut o = 0;
        while o + 2 <= m {
            let (b0, b1) = (self.bias.i32_at(o), self.bias.i32_at(o + 1));
            let (q0, q1) = (rq.factors(o), rq.factors(o + 1));
            let wo = unsafe { wp.add(shape.row_start(o)) };
            if n == 2 {
                let c = unsafe { dot_2x2(a, wo, k, [b0, b1, b0, b1]) };
                out[o] = to_i8(c[0], q0);
                out[o + 1] = to_i8(c[1], q1);
                out[m + o] = to_i8(c[2], q0);
                out[m + o + 1] = to_i8(c[3], q1);
            } else {
                let c = unsafe { dot_1x2(a, wo, k, [b0, b1]) };
                out[o] = to_i8(c[0], q0);
                out[o + 1] = to_i8(c[1], q1);
            }
            o += 2;
        }
        if o < m {
            let wo = unsafe { wp.add(shape.row_start(o)) };
            for r in 0..n {
                let acc = unsafe { dot_1x1(a.add(r * k), wo, k, self.bias.i32_at(o)) };
                out[r * m + o] = self.requant.apply(acc, o);
            }
        }
    }
}
