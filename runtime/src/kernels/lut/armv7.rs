//! 32-bit Arm NEON table lookup (built with `target_feature = "neon"`), in assembly because
//! Rust's 32-bit NEON intrinsics are unstable. `VTBL`/`VTBX` index at most 32 bytes (four `d`
//! registers), so the 256-byte table is eight 32-byte chunks: the first four stay in registers,
//! the others are loaded per 32 input bytes. Each chunk's lookup is kept where the index falls
//! in it (`VTBX` leaves lanes whose index is past 31 alone; the index drops by 32 per chunk,
//! wrapping past the earlier chunks). The table is rotated once per op so that an int8 input
//! is its own index (no `x + 128` per byte).

/// The table rotated by 128 (`rotated[x as u8] = table[x + 128]`), aligned for 128-bit loads.
#[repr(C, align(16))]
struct Rotated([u8; 256]);

/// `y[i] = table[x[i] ^ 0x80]` for the first `min(x.len(), y.len())` bytes.
///
/// # Safety
/// The build targets NEON.
pub(super) unsafe fn lookup(table: &[u8; 256], x: &[u8], y: &mut [u8]) {
    let mut rotated = Rotated([0; 256]);
    for (u, r) in rotated.0.iter_mut().enumerate() {
        *r = table[u ^ 0x80];
    }
    let n = x.len().min(y.len());
    let steps = n / 32;
    if steps > 0 {
        core::arch::asm!(
            "vld1.8 {{d16-d19}}, [{t}:128]!",
            "vld1.8 {{d20-d23}}, [{t}:128]!",
            "vld1.8 {{d24-d27}}, [{t}:128]!",
            "vld1.8 {{d28-d31}}, [{t}:128]!",
            "vmov.i8 q6, #32",
            "2:",
            "vld1.8 {{d0-d3}}, [{x}]!",
            "vtbl.8 d4, {{d16-d19}}, d0",
            "vtbl.8 d5, {{d16-d19}}, d1",
            "vtbl.8 d6, {{d16-d19}}, d2",
            "vtbl.8 d7, {{d16-d19}}, d3",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d20-d23}}, d0",
            "vtbx.8 d5, {{d20-d23}}, d1",
            "vtbx.8 d6, {{d20-d23}}, d2",
            "vtbx.8 d7, {{d20-d23}}, d3",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d24-d27}}, d0",
            "vtbx.8 d5, {{d24-d27}}, d1",
            "vtbx.8 d6, {{d24-d27}}, d2",
            "vtbx.8 d7, {{d24-d27}}, d3",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d28-d31}}, d0",
            "vtbx.8 d5, {{d28-d31}}, d1",
            "vtbx.8 d6, {{d28-d31}}, d2",
            "vtbx.8 d7, {{d28-d31}}, d3",
            "mov {c}, {t}",
            "vld1.8 {{d8-d11}}, [{c}:128]!",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d8-d11}}, d0",
            "vtbx.8 d5, {{d8-d11}}, d1",
            "vtbx.8 d6, {{d8-d11}}, d2",
            "vtbx.8 d7, {{d8-d11}}, d3",
            "vld1.8 {{d8-d11}}, [{c}:128]!",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d8-d11}}, d0",
            "vtbx.8 d5, {{d8-d11}}, d1",
            "vtbx.8 d6, {{d8-d11}}, d2",
            "vtbx.8 d7, {{d8-d11}}, d3",
            "vld1.8 {{d8-d11}}, [{c}:128]!",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d8-d11}}, d0",
            "vtbx.8 d5, {{d8-d11}}, d1",
            "vtbx.8 d6, {{d8-d11}}, d2",
            "vtbx.8 d7, {{d8-d11}}, d3",
            "vld1.8 {{d8-d11}}, [{c}:128]",
            "vsub.i8 q0, q0, q6",
            "vsub.i8 q1, q1, q6",
            "vtbx.8 d4, {{d8-d11}}, d0",
            "vtbx.8 d5, {{d8-d11}}, d1",
            "vtbx.8 d6, {{d8-d11}}, d2",
            "vtbx.8 d7, {{d8-d11}}, d3",
            "vst1.8 {{d4-d7}}, [{y}]!",
            "subs {n}, {n}, #1",
            "bne 2b",
            t = inout(reg) rotated.0.as_ptr() => _,
            c = out(reg) _,
            x = inout(reg) x.as_ptr() => _,
            y = inout(reg) y.as_mut_ptr() => _,
            n = inout(reg) steps => _,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            out("q4") _, out("q5") _, out("q6") _,
            out("q8") _, out("q9") _, out("q10") _, out("q11") _,
            out("q12") _, out("q13") _, out("q14") _, out("q15") _,
            options(nostack),
        );
    }
    for i in 32 * steps..n {
        y[i] = rotated.0[x[i] as usize];
    }
}
