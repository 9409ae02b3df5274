//! 256-entry table lookup (`Lut` ops: hard-swish, sigmoid, … precomputed by the quantizer) on
//! the optimised paths. AArch64 looks up sixteen bytes with one `TBL` and three `TBX` over the
//! four 64-byte quarters of the table; other paths run the reference loop.

use crate::tensor::{TensorMut, TensorRef};

/// Same contract and results as [`crate::ops::lut::eval`].
pub fn eval(
    path: super::KernelPath,
    table: &[u8],
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let _ = path;
    #[cfg(target_arch = "aarch64")]
    if matches!(
        path,
        super::KernelPath::Neon | super::KernelPath::Dotprod | super::KernelPath::I8mm
    ) {
        if let Ok(table) = <&[u8; 256]>::try_from(table) {
            // SAFETY: NEON is part of every AArch64 core.
            unsafe { neon(table, ins[0].data, outs[0].data) };
            return;
        }
    }
    crate::ops::lut::eval(table, ins, outs)
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn neon(table: &[u8; 256], x: &[u8], y: &mut [u8]) {
    use core::arch::aarch64::*;
    let t = table.as_ptr();
    let quarters = [
        vld1q_u8_x4(t),
        vld1q_u8_x4(t.add(64)),
        vld1q_u8_x4(t.add(128)),
        vld1q_u8_x4(t.add(192)),
    ];
    let (flip, step) = (vdupq_n_u8(0x80), vdupq_n_u8(64));
    let n = x.len().min(y.len());
    let mut i = 0;
    while i + 16 <= n {
        // int8 value v sits at table index v + 128; indices past a quarter leave TBX lanes alone
        let idx = veorq_u8(vld1q_u8(x.as_ptr().add(i)), flip);
        let mut r = vqtbl4q_u8(quarters[0], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[1], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[2], idx);
        let idx = vsubq_u8(idx, step);
        r = vqtbx4q_u8(r, quarters[3], idx);
        vst1q_u8(y.as_mut_ptr().add(i), r);
        i += 16;
    }
    while i < n {
        y[i] = table[(x[i] ^ 0x80) as usize];
        i += 1;
    }
}
