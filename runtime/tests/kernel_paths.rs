//! Every optimised kernel against the reference kernel, exact equality, on random cases.
//!
//! Paths the CPU supports run natively. On other targets the DSP path runs its portable emulation
//! of SXTB16/SMLAD (same bits); the test firmware (`firmware/`, `tools/firmware-test`) runs the
//! same checks on the real instructions of a Cortex-M4 and a Cortex-M33 under QEMU.
//! `MOTE_REQUIRE_PATHS=avx2,...` (set by `tools/test` from the CPU's flags) makes
//! `required_paths_run` fail if a path that should run here is not supported, so a silently
//! skipped path cannot pass.

use mote::kernels::check::{
    check_add, check_conv, check_fully_connected, check_lut, check_mul, check_pool, check_quantize,
    check_transpose,
};
use mote::KernelPath;
use proptest::prelude::*;

/// The paths this machine can run: the supported ones, plus the DSP path's portable emulation.
fn paths() -> impl Iterator<Item = KernelPath> {
    KernelPath::ALL
        .into_iter()
        .filter(|p| p.is_supported() || *p == KernelPath::Dsp)
}

#[test]
fn required_paths_run() {
    let required = std::env::var("MOTE_REQUIRE_PATHS").unwrap_or_default();
    for name in required.split(',').filter(|n| !n.is_empty()) {
        let p = KernelPath::from_name(name).unwrap_or_else(|| panic!("unknown path {name}"));
        assert!(
            p.is_supported(),
            "{name} is required here but not supported"
        );
        assert!(paths().any(|q| q == p));
    }
    eprintln!(
        "kernel paths tested: {:?}",
        paths().map(|p| p.name()).collect::<Vec<_>>()
    );
}

/// Cases per property: `MOTE_TEST_CASES` (the emulated cross runs use fewer), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("MOTE_TEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500)))]

    #[test]
    fn conv_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 16];
        for path in paths() {
            let r = check_conv(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn pool_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 14];
        for path in paths() {
            let r = check_pool(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn mul_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 13];
        for path in paths() {
            let r = check_mul(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn lut_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 13];
        for path in paths() {
            let r = check_lut(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn quantize_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 12 << 10];
        for path in paths() {
            let r = check_quantize(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn add_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 13];
        for path in paths() {
            let r = check_add(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn transpose_matches_the_element_by_element_permutation(seed in any::<u64>()) {
        let mut work = vec![0u8; 18 << 10];
        let r = check_transpose(seed, KernelPath::Reference, &mut work);
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    #[test]
    fn fully_connected_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 14];
        for path in paths() {
            let r = check_fully_connected(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500) * 13))]

    /// The kernels' 32-bit requantization equals the reference one for every valid multiplier.
    #[test]
    fn fast_requantization_is_bit_exact(
        acc in prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -70000i32..70000],
        m in prop_oneof![0i32..=i32::MAX, Just(0), Just(i32::MAX), Just(1 << 30)],
        shift in mote::quant::MIN_SHIFT..=mote::quant::MAX_SHIFT,
    ) {
        prop_assert_eq!(
            mote::quant::requantize_nonneg(acc, m, shift),
            mote::quant::requantize(acc, m, shift)
        );
    }
}
