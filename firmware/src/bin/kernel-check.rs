//! Test firmware: the kernel bit-exactness checks of `mote::kernels::check` on the real
//! instructions of the core it runs on (SXTAB16/SMLAD on a Cortex-M4 or M33), every optimised
//! kernel against the reference kernel on random cases. Exits 0 only if every case matches and
//! the path under test is the one the core should run.
//!
//! `MOTE_CHECK_CASES` (build time) sets the number of cases per kernel (default 300).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote::kernels::check::{check_add, check_conv, check_fully_connected, check_mul, check_pool};
use mote::KernelPath;
use mote_firmware::board;

static mut WORK: [u8; 1 << 16] = [0; 1 << 16];

const CASES: u64 = match option_env!("MOTE_CHECK_CASES") {
    Some(s) => parse(s.as_bytes()),
    None => 300,
};

const fn parse(s: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < s.len() {
        v = v * 10 + (s[i] - b'0') as u64;
        i += 1;
    }
    v
}

#[entry]
fn main() -> ! {
    // SAFETY: the only reference to WORK, taken once.
    let work: &mut [u8] = unsafe { &mut *core::ptr::addr_of_mut!(WORK) };
    let path = KernelPath::best();
    defmt::info!("kernel path under test: {=str}", path.name());
    let mut failures = 0u32;
    for (name, check) in [
        ("conv2d", check_conv as fn(u64, KernelPath, &mut [u8]) -> _),
        ("fully_connected", check_fully_connected),
        ("add", check_add),
        ("mul", check_mul),
        ("pool", check_pool),
    ] {
        for seed in 0..CASES {
            if let Err(m) = check(seed, path, work) {
                failures += 1;
                defmt::error!(
                    "{=str} seed {=u64}: element {=usize}: reference {=i8}, {=str} {=i8}",
                    name,
                    m.seed,
                    m.index,
                    m.reference,
                    path.name(),
                    m.got
                );
            }
        }
        defmt::info!("{=str}: {=u64} cases", name, CASES);
    }
    let expect_dsp = cfg!(target_feature = "dsp") || option_env!("MOTE_EXPECT_DSP").is_some();
    if expect_dsp && path != KernelPath::Dsp {
        defmt::error!("this core has the DSP extension but the DSP path did not run");
        failures += 1;
    }
    defmt::info!("{=u32} failures", failures);
    board::exit(failures == 0)
}
