//! Every optimised kernel against the reference kernel, exact equality, on random cases.
//!
//! On the host the DSP path runs its portable emulation of SXTAB16/SMLAD (same bits); the test
//! firmware (`firmware/`, `tools/firmware-test`) runs the same checks on the real instructions
//! of a Cortex-M4 and a Cortex-M33 under QEMU.

use mote::kernels::check::{check_add, check_conv, check_fully_connected};
use mote::KernelPath;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn conv_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 16];
        for path in KernelPath::ALL {
            let r = check_conv(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn add_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 13];
        for path in KernelPath::ALL {
            let r = check_add(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }

    #[test]
    fn fully_connected_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 14];
        for path in KernelPath::ALL {
            let r = check_fully_connected(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

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
