//! The Arm "SIMD32" DSP instructions the Cortex-M kernels are built from, as tiny functions.
//!
//! On DSP-capable cores (`mote_dsp`, set by `build.rs`) each is one instruction through
//! `asm!` (the `core::arch` intrinsics are unstable). Everywhere else the same functions are
//! written out in plain Rust with identical bit-level results, so the blocked kernels built on
//! them are tested on the host too, and run (slowly but correctly) on any target.

/// Two int16 lanes of a word: lane 0 in bits 0..16, lane 1 in bits 16..32.
#[inline(always)]
#[cfg(not(mote_dsp))]
fn lanes(v: u32) -> (i32, i32) {
    (v as u16 as i16 as i32, (v >> 16) as u16 as i16 as i32)
}

/// `SXTAB16 d, offset, x`: bytes 0 and 2 of `x`, sign-extended, added to the two int16 lanes
/// of `offset` (each lane wraps at 16 bits).
#[inline(always)]
pub fn sxtab16(offset: u32, x: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        let d: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtab16 {d}, {o}, {x}", d = lateout(reg) d, o = in(reg) offset,
                x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(mote_dsp))]
    {
        let (o0, o1) = lanes(offset);
        let lo = o0.wrapping_add(x as u8 as i8 as i32) as u16 as u32;
        let hi = o1.wrapping_add((x >> 16) as u8 as i8 as i32) as u16 as u32;
        lo | (hi << 16)
    }
}

/// `SXTAB16 d, offset, x, ROR #8`: bytes 1 and 3 of `x`, sign-extended, plus `offset`.
#[inline(always)]
pub fn sxtab16_ror8(offset: u32, x: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        let d: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtab16 {d}, {o}, {x}, ror #8", d = lateout(reg) d,
                o = in(reg) offset, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(mote_dsp))]
    {
        sxtab16(offset, x.rotate_right(8))
    }
}

/// `SXTB16 d, x`: bytes 0 and 2 of `x`, sign-extended to two int16 lanes.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        let d: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtb16 {d}, {x}", d = lateout(reg) d, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(mote_dsp))]
    {
        sxtab16(0, x)
    }
}

/// `SXTB16 d, x, ROR #8`: bytes 1 and 3 of `x`, sign-extended.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(mote_dsp)]
    {
        let d: u32;
        // SAFETY: register-only arithmetic.
        unsafe {
            core::arch::asm!("sxtb16 {d}, {x}, ror #8", d = lateout(reg) d, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(mote_dsp))]
    {
        sxtab16(0, x.rotate_right(8))
    }
}

/// `SMLAD d, a, b, acc`: `acc + a.lo·b.lo + a.hi·b.hi` over int16 lanes, wrapping at 32 bits
/// (the instruction only sets the Q flag on overflow; the result wraps like `wrapping_add`).
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(mote_dsp)]
    {
        let d: i32;
        // SAFETY: register-only arithmetic; SMLAD writes only the sticky Q flag, which nothing
        // reads, so `preserves_flags` (NZCV) holds.
        unsafe {
            core::arch::asm!("smlad {d}, {a}, {b}, {c}", d = lateout(reg) d, a = in(reg) a,
                b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(mote_dsp))]
    {
        let (a0, a1) = lanes(a);
        let (b0, b1) = lanes(b);
        acc.wrapping_add(a0 * b0).wrapping_add(a1 * b1)
    }
}

/// Four bytes at `p` as a little-endian word, any alignment (Cortex-M3 and up load unaligned
/// words in one `LDR`).
///
/// # Safety
/// `p..p+4` must be readable.
#[inline(always)]
pub unsafe fn load4(p: *const i8) -> u32 {
    u32::from_le(core::ptr::read_unaligned(p as *const u32))
}

/// Both int16 lanes set to `v`.
#[inline(always)]
pub fn splat16(v: i32) -> u32 {
    let h = v as u16 as u32;
    h | (h << 16)
}
