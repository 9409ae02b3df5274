//! Every kernel path this CPU runs against the reference kernels on seeded random cases, as a
//! plain program (no test harness): the cross rig (`tools/cross-test`) runs it under
//! `qemu-aarch64 -cpu cortex-a53|cortex-a76|max`, where spawning threads (as libtest does for
//! every test) hangs with Debian 12's qemu-user and glibc. The proptest suite in
//! `kernel_paths.rs` covers the same checks on the host.
//!
//! `MOTE_TEST_CASES` sets the cases per kernel (default 400); `MOTE_REQUIRE_PATHS=a,b` fails
//! the run unless those paths are supported here and were checked.

use mote::kernels::check::{
    check_add, check_conv, check_fully_connected, check_lut, check_mul, check_pool, check_quantize,
    check_transpose, Mismatch,
};
use mote::KernelPath;

type Check = fn(u64, KernelPath, &mut [u8]) -> Result<(), Mismatch>;

fn main() {
    let cases: u64 = std::env::var("MOTE_TEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let paths: Vec<KernelPath> = KernelPath::ALL
        .into_iter()
        .filter(|p| p.is_supported() || *p == KernelPath::Dsp)
        .collect();
    let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    println!("kernel paths checked: {}", names.join(", "));
    let mut failures = 0;
    let required = std::env::var("MOTE_REQUIRE_PATHS").unwrap_or_default();
    for name in required.split(',').filter(|n| !n.is_empty()) {
        if !names.contains(&name) {
            println!("FAIL: path {name} is required here but this CPU or build lacks it");
            failures += 1;
        }
    }
    let checks: [(&str, Check); 8] = [
        ("conv2d", check_conv),
        ("fully_connected", check_fully_connected),
        ("add", check_add),
        ("mul", check_mul),
        ("pool", check_pool),
        ("lut", check_lut),
        ("quantize", check_quantize),
        ("transpose", check_transpose),
    ];
    let mut work = vec![0u8; 1 << 16];
    for (kernel, check) in checks {
        for seed in 0..cases {
            let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
            for &path in &paths {
                if let Err(m) = check(seed, path, &mut work) {
                    println!("FAIL: {kernel} on {}: {m:?}", path.name());
                    failures += 1;
                }
            }
        }
        println!("{kernel}: {cases} cases on every path");
    }
    if failures > 0 {
        println!("{failures} failures");
        std::process::exit(1);
    }
    println!("all bit-exact");
}
