//! 32-bit Arm NEON per-channel Mul (built with `target_feature = "neon"`), in assembly because
//! Rust's 32-bit NEON intrinsics are unstable: eight products a step (`VSUBL.S8` removes the
//! input's zero point, `VMULL.S16` by the gate minus its zero point, widened once per op;
//! |product| ≤ 2^16), requantized eight at once with the reference's arithmetic (`VQSHL`,
//! `VQRDMULH`, `VRSHL`, saturating narrows around the zero point's `VQADD`, as in
//! the AArch64 `kernels::neon::Requant16`).

use crate::ops::mul::MulParams;

/// Longest gate widened on the stack; longer ones take the scalar loop.
const MAX_CHANNELS: usize = 2048;

/// The constants in the order the assembly loads them.
#[repr(C, align(16))]
struct Constants {
    left: [i32; 4],
    mult: [i32; 4],
    neg_right: [i32; 4],
    zero_point: [i16; 8],
    input_zero_point: [i8; 8],
    lo: [i8; 8],
    hi: [i8; 8],
}

/// The gate minus its zero point, widened, aligned for 128-bit loads.
#[repr(C, align(16))]
struct Gate([i16; MAX_CHANNELS]);

/// `y[r·c + i] = x[r·c + i] · gate[i]` (zero points `zx`, `zg`); `false` (nothing written)
/// when the gate is too long.
///
/// # Safety
/// The build targets NEON.
pub(super) unsafe fn per_channel(
    p: &MulParams,
    (x, zx): (&[i8], i32),
    (gate, zg): (&[i8], i32),
    y_zp: i32,
    y: &mut [i8],
) -> bool {
    let c = gate.len();
    if c == 0 || c > MAX_CHANNELS {
        return false;
    }
    let mut g = Gate([0; MAX_CHANNELS]);
    for (w, &v) in g.0.iter_mut().zip(gate) {
        *w = (v as i32 - zg) as i16;
    }
    let (m, s) = p.out;
    let k = Constants {
        left: [s.max(0); 4],
        mult: [m; 4],
        neg_right: [s.min(0); 4],
        zero_point: [y_zp as i16; 8],
        input_zero_point: [zx as i8; 8],
        lo: [p.act_min; 8],
        hi: [p.act_max; 8],
    };
    let steps = c / 8;
    for (orow, xrow) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        if steps > 0 {
            row(xrow.as_ptr(), g.0.as_ptr(), orow.as_mut_ptr(), steps, &k);
        }
        for i in 8 * steps..c {
            orow[i] = super::product_byte(p, (xrow[i], zx), (gate[i], zg), y_zp);
        }
    }
    true
}

/// `steps ≥ 1` runs of eight: `x`, `gate` (widened) and `out` each advance by eight elements.
///
/// # Safety
/// `x`, `gate` and `out` must address `8·steps` elements; the build targets NEON.
#[inline(always)]
unsafe fn row(x: *const i8, gate: *const i16, out: *mut i8, steps: usize, k: &Constants) {
    core::arch::asm!(
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vld1.32 {{d20-d23}}, [{k}:128]!",
        "vld1.8 {{d24-d26}}, [{k}]",
        "2:",
        "vld1.8 {{d0}}, [{x}]!",
        "vld1.16 {{d2-d3}}, [{g}:128]!",
        "vsubl.s8 q0, d0, d24",
        "vmull.s16 q2, d0, d2",
        "vmull.s16 q3, d1, d3",
        "vqshl.s32 q2, q2, q8",
        "vqshl.s32 q3, q3, q8",
        "vqrdmulh.s32 q2, q2, q9",
        "vqrdmulh.s32 q3, q3, q9",
        "vrshl.s32 q2, q2, q10",
        "vrshl.s32 q3, q3, q10",
        "vqmovn.s32 d4, q2",
        "vqmovn.s32 d5, q3",
        "vqadd.s16 q2, q2, q11",
        "vqmovn.s16 d4, q2",
        "vmax.s8 d4, d4, d25",
        "vmin.s8 d4, d4, d26",
        "vst1.8 {{d4}}, [{o}]!",
        "subs {n}, {n}, #1",
        "bne 2b",
        x = inout(reg) x => _,
        g = inout(reg) gate => _,
        o = inout(reg) out => _,
        n = inout(reg) steps => _,
        k = inout(reg) k as *const Constants => _,
        out("q0") _, out("q1") _, out("q2") _, out("q3") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _, out("q12") _, out("q13") _,
        options(nostack),
    );
}
