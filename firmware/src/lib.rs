//! mote on Cortex-M: what every firmware binary of this crate shares.
//!
//! * [`board`]: the hardware boundary (embedded-hal delay, a sample source, a result sink) and
//!   the QEMU MPS2 board that feeds recorded samples and writes results through semihosting.
//! * [`stack`]: stack painting, for the peak-stack figure.
//! * [`bench`]: the markers the instruction-counting QEMU plugin keys on.
//! * A panic handler and fault handler that log through defmt and stop with a failure status,
//!   without formatting the panic message (no `core::fmt` bloat).
#![no_std]

pub mod bench;
pub mod board;
pub mod stack;

use defmt_semihosting as _; // the defmt global logger: frames go to semihosting stdout

/// Stop the program with a failure status (QEMU exits with 1; a real board halts).
pub fn fail() -> ! {
    board::exit(false)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic");
    fail()
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    fail()
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault");
    fail()
}
