//! 32-bit Arm NEON same-shape Add (built with `target_feature = "neon"`), in assembly because
//! Rust's 32-bit NEON intrinsics are unstable: eight elements a step with the reference's
//! arithmetic lane by lane. Each input minus its zero point is widened to int32 and rescaled
//! with `VQSHL` (by the add's left shift plus the rescaling's: the first shift is exact, so one
//! saturating shift by the sum saturates exactly when the second would), `VQRDMULH`, `VRSHL`;
//! the sum saturates (`VQADD`) and is requantized like the matrix products' outputs.

use crate::ops::add::AddParams;

/// `(left shift, multiplier, negative right shift)` for four lanes, as the assembly loads them.
#[repr(C)]
#[derive(Clone, Copy)]
struct Scale {
    left: [i32; 4],
    mult: [i32; 4],
    neg_right: [i32; 4],
}

impl Scale {
    fn new((m, s): (i32, i32), extra_left: i32) -> Scale {
        Scale {
            left: [s.max(0) + extra_left; 4],
            mult: [m; 4],
            neg_right: [s.min(0); 4],
        }
    }
}

/// The constants in the order the assembly loads them.
#[repr(C, align(16))]
struct Constants {
    a: Scale,
    b: Scale,
    out: Scale,
    zero_point: [i16; 8],
    a_zero_point: [i8; 8],
    b_zero_point: [i8; 8],
    lo: [i8; 8],
    hi: [i8; 8],
}

/// Elements `0..returned` of `y` (a multiple of 8); the caller finishes the rest.
///
/// # Safety
/// The build targets NEON.
pub(super) unsafe fn same_shape(
    p: &AddParams,
    (a, za): (&[i8], i32),
    (b, zb): (&[i8], i32),
    y_zp: i32,
    y: &mut [i8],
) -> usize {
    let steps = y.len().min(a.len()).min(b.len()) / 8;
    if steps == 0 {
        return 0;
    }
    let ls = p.left_shift as i32;
    let k = Constants {
        a: Scale::new(p.a, ls),
        b: Scale::new(p.b, ls),
        out: Scale::new(p.out, 0),
        zero_point: [y_zp as i16; 8],
        a_zero_point: [za as i8; 8],
        b_zero_point: [zb as i8; 8],
        lo: [p.act_min; 8],
        hi: [p.act_max; 8],
    };
    core::arch::asm!(
        "vld1.32 {{d8-d11}}, [{k}:128]!",
        "vld1.32 {{d12-d15}}, [{k}:128]!",
        "vld1.32 {{d16-d19}}, [{k}:128]!",
        "vld1.32 {{d20-d23}}, [{k}:128]!",
        "vld1.32 {{d24-d27}}, [{k}:128]!",
        "vld1.8 {{d28-d31}}, [{k}:128]",
        // q4..q6: a's scale, q7..q9: b's, q10..q12: the output's, q13: its zero point;
        // d28, d29: the inputs' zero points, d30, d31: the clamp
        "2:",
        "vld1.8 {{d0}}, [{a}]!",
        "vld1.8 {{d2}}, [{b}]!",
        "vsubl.s8 q0, d0, d28",
        "vsubl.s8 q1, d2, d29",
        "vmovl.s16 q2, d1",
        "vmovl.s16 q0, d0",
        "vmovl.s16 q3, d3",
        "vmovl.s16 q1, d2",
        "vqshl.s32 q0, q0, q4",
        "vqshl.s32 q2, q2, q4",
        "vqrdmulh.s32 q0, q0, q5",
        "vqrdmulh.s32 q2, q2, q5",
        "vrshl.s32 q0, q0, q6",
        "vrshl.s32 q2, q2, q6",
        "vqshl.s32 q1, q1, q7",
        "vqshl.s32 q3, q3, q7",
        "vqrdmulh.s32 q1, q1, q8",
        "vqrdmulh.s32 q3, q3, q8",
        "vrshl.s32 q1, q1, q9",
        "vrshl.s32 q3, q3, q9",
        "vqadd.s32 q0, q0, q1",
        "vqadd.s32 q2, q2, q3",
        "vqshl.s32 q0, q0, q10",
        "vqshl.s32 q2, q2, q10",
        "vqrdmulh.s32 q0, q0, q11",
        "vqrdmulh.s32 q2, q2, q11",
        "vrshl.s32 q0, q0, q12",
        "vrshl.s32 q2, q2, q12",
        "vqmovn.s32 d0, q0",
        "vqmovn.s32 d1, q2",
        "vqadd.s16 q0, q0, q13",
        "vqmovn.s16 d0, q0",
        "vmax.s8 d0, d0, d30",
        "vmin.s8 d0, d0, d31",
        "vst1.8 {{d0}}, [{y}]!",
        "subs {n}, {n}, #1",
        "bne 2b",
        a = inout(reg) a.as_ptr() => _,
        b = inout(reg) b.as_ptr() => _,
        y = inout(reg) y.as_mut_ptr() => _,
        n = inout(reg) steps => _,
        k = inout(reg) &k as *const Constants => _,
        out("q0") _, out("q1") _, out("q2") _, out("q3") _,
        out("q4") _, out("q5") _, out("q6") _, out("q7") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _,
        out("q12") _, out("q13") _, out("q14") _, out("q15") _,
        options(nostack),
    );
    8 * steps
}
