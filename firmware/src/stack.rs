//! Peak stack by painting: fill the free RAM between the end of the statics and the stack
//! pointer with a pattern at start-up, later find the deepest word that changed.

const PAINT: u32 = 0xC0FF_EE11;

extern "C" {
    static mut __sheap: u32; // end of .bss (cortex-m-rt)
    static _stack_start: u32; // initial stack pointer (top of RAM)
}

fn bottom() -> *mut u32 {
    core::ptr::addr_of_mut!(__sheap)
}

fn top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paint everything below the current stack pointer (minus a small margin for this function).
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize - 64;
    let mut p = bottom();
    while (p as usize) < sp {
        // SAFETY: between the end of the statics and the live stack: memory nobody uses yet.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// Bytes of stack used since [`paint`] at the deepest point.
pub fn peak_bytes() -> usize {
    let mut p = bottom();
    // SAFETY: reads words in the painted region, which stays inside RAM below the stack top.
    unsafe {
        while (p as usize) < top() && p.read_volatile() == PAINT {
            p = p.add(1);
        }
    }
    top() - p as usize
}
