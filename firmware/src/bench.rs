//! Markers around the measured work. The QEMU plugin (`tools/qemu-plugin/insn_count.c`) counts
//! the instructions executed between the start and end markers, found by symbol name in the ELF.
//! On a real board they cost a call each.

/// Called right before the measured work.
#[no_mangle]
#[inline(never)]
pub extern "C" fn mote_bench_start() {
    // Distinct bodies keep the linker from folding the two markers into one address.
    // SAFETY: no operands, no effects.
    unsafe { core::arch::asm!("nop", options(nomem, nostack, preserves_flags)) }
}

/// Called right after the measured work.
#[no_mangle]
#[inline(never)]
pub extern "C" fn mote_bench_end() {
    // SAFETY: no operands, no effects.
    unsafe { core::arch::asm!("nop", "nop", options(nomem, nostack, preserves_flags)) }
}
