//! Every optimised kernel against the reference kernel, exact equality, on random cases.
//!
//! On the host the DSP path runs its portable emulation of SXTAB16/SMLAD (same bits); the test
//! firmware (`firmware/`, `tools/firmware-test`) runs the same checks on the real instructions
//! of a Cortex-M4 and a Cortex-M33 under QEMU.

use mote::kernels::check::{check_conv, check_fully_connected};
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
    fn fully_connected_paths_are_bit_exact(seed in any::<u64>()) {
        let mut work = vec![0u8; 1 << 14];
        for path in KernelPath::ALL {
            let r = check_fully_connected(seed, path, &mut work);
            prop_assert!(r.is_ok(), "{} path: {:?}", path.name(), r);
        }
    }
}
