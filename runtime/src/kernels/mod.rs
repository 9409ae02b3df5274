//! Optimised kernels and the one place that chooses between them.
//!
//! The scalar reference kernels in [`crate::ops`] define every result; each path here must be
//! bit-exact with them (property tests compare them on random shapes and values). An op without
//! an optimised kernel on the chosen path, or a shape a kernel does not cover, runs the
//! reference kernel.

pub mod add;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod check;
pub mod conv;
pub mod depthwise;
pub mod dot;
pub mod fully_connected;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
mod gemm;
pub mod lut;
pub mod mul;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod pool;
pub mod quantize;
pub mod simd32;

/// A family of kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// The scalar reference kernels (every target; the "plain" path on Cortex-M0/M0+/M3).
    Reference,
    /// Arm DSP extension (SXTB16/SMLAD): Cortex-M4, M7, M33/M55 with DSP.
    Dsp,
    /// Baseline NEON (SMULL/SADALP): every AArch64 core, and 32-bit Arm built with NEON (its
    /// own kernels, in assembly: `kernels/*/armv7.rs`).
    Neon,
    /// AArch64 NEON with the dot-product extension (SDOT).
    Dotprod,
    /// AArch64 NEON with the int8 matrix-multiply extension (SMMLA).
    I8mm,
    /// x86-64 AVX2 (VPMOVSXBW/VPMADDWD).
    Avx2,
    /// x86-64 AVX2 with AVX-VNNI: the AVX2 kernels, matrix products with VPDPBUSD.
    AvxVnni,
    /// x86-64 with AVX-512 (F, BW, VL, VBMI, VNNI) as well as AVX2 (Ice Lake and later,
    /// Zen 4; AVX-VNNI not required): matrix products and depthwise convolutions with
    /// AVX-512 VNNI on 512-bit vectors (sixteen channels per `VPDPBUSD`), Mul/Add 64 elements
    /// per step, table lookups with VPERMI2B, the AVX2 kernels elsewhere.
    Avx512,
}

impl KernelPath {
    /// Every path, in order of preference from slowest to fastest.
    pub const ALL: [KernelPath; 8] = [
        KernelPath::Reference,
        KernelPath::Dsp,
        KernelPath::Neon,
        KernelPath::Dotprod,
        KernelPath::I8mm,
        KernelPath::Avx2,
        KernelPath::AvxVnni,
        KernelPath::Avx512,
    ];

    /// Short name (as in `MOTE_ISA` and `mote bench --json`).
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Reference => "reference",
            KernelPath::Dsp => "dsp",
            KernelPath::Neon => "neon",
            KernelPath::Dotprod => "dotprod",
            KernelPath::I8mm => "i8mm",
            KernelPath::Avx2 => "avx2",
            KernelPath::AvxVnni => "avxvnni",
            KernelPath::Avx512 => "avx512",
        }
    }

    /// Parse a short name.
    pub fn from_name(name: &str) -> Option<KernelPath> {
        KernelPath::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether this build and CPU can run the path. DSP is chosen at compile time: the target
    /// either has the extension (`thumbv7em`, `thumbv8m.main` with `+dsp`) or it does not; so is
    /// NEON on 32-bit Arm (its kernels need the compile-time target feature).
    /// AVX2, SDOT and SMMLA are detected at run time with `std` (on Linux from the auxiliary
    /// vector's HWCAPs), else taken from the compile-time target features.
    pub fn is_supported(self) -> bool {
        match self {
            KernelPath::Reference => true,
            KernelPath::Dsp => cfg!(mote_dsp),
            KernelPath::Avx2 => avx2_detected(),
            KernelPath::AvxVnni => avx2_detected() && avxvnni_detected(),
            KernelPath::Avx512 => avx2_detected() && avx512_detected(),
            KernelPath::Neon => cfg!(any(target_arch = "aarch64", mote_arm32_neon)),
            KernelPath::Dotprod => arm64_detected(KernelPath::Dotprod),
            KernelPath::I8mm => arm64_detected(KernelPath::I8mm),
        }
    }

    /// Whether the path runs the AVX2 kernels (AVX2 itself, with AVX-VNNI, or with AVX-512).
    pub fn has_avx2(self) -> bool {
        matches!(
            self,
            KernelPath::Avx2 | KernelPath::AvxVnni | KernelPath::Avx512
        )
    }

    /// Whether the path runs the AVX-VNNI kernels (the 256-bit `VPDPBUSD` of AVX-VNNI; the
    /// `avx512` path has its own, with AVX-512 VNNI's).
    pub fn has_avxvnni(self) -> bool {
        self == KernelPath::AvxVnni
    }

    /// The fastest supported path.
    pub fn best() -> KernelPath {
        KernelPath::ALL
            .into_iter()
            .rev()
            .find(|p| p.is_supported())
            .unwrap_or(KernelPath::Reference)
    }

    /// The path a new interpreter runs: [`KernelPath::best`], unless (with `std`) the
    /// environment variable `MOTE_ISA` names another, which must be supported.
    pub fn selected() -> Result<KernelPath, crate::Error> {
        #[cfg(feature = "std")]
        if let Ok(name) = std::env::var("MOTE_ISA") {
            return match KernelPath::from_name(&name) {
                Some(p) if p.is_supported() => Ok(p),
                Some(_) => Err(crate::Error::BadArgument(
                    "MOTE_ISA names a kernel path this build or CPU cannot run",
                )),
                None => Err(crate::Error::BadArgument(
                    "MOTE_ISA must be one of: reference, dsp, neon, dotprod, i8mm, avx2, avxvnni, \
                     avx512",
                )),
            };
        }
        Ok(KernelPath::best())
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn avx2_detected() -> bool {
    std::is_x86_feature_detected!("avx2")
}

#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn avx2_detected() -> bool {
    cfg!(target_feature = "avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn avxvnni_detected() -> bool {
    std::is_x86_feature_detected!("avxvnni")
}

#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn avxvnni_detected() -> bool {
    cfg!(target_feature = "avxvnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn avxvnni_detected() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn avx512_detected() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vbmi")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn avx512_detected() -> bool {
    cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512vbmi",
        target_feature = "avx512vnni"
    ))
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_detected() -> bool {
    false
}

#[cfg(all(target_arch = "aarch64", feature = "std"))]
fn arm64_detected(p: KernelPath) -> bool {
    match p {
        KernelPath::Dotprod => std::arch::is_aarch64_feature_detected!("dotprod"),
        // the i8mm path also runs the SDOT kernels (every such core has both)
        KernelPath::I8mm => {
            std::arch::is_aarch64_feature_detected!("i8mm")
                && std::arch::is_aarch64_feature_detected!("dotprod")
        }
        _ => false,
    }
}

#[cfg(all(target_arch = "aarch64", not(feature = "std")))]
fn arm64_detected(p: KernelPath) -> bool {
    match p {
        KernelPath::Dotprod => cfg!(target_feature = "dotprod"),
        KernelPath::I8mm => cfg!(all(target_feature = "i8mm", target_feature = "dotprod")),
        _ => false,
    }
}

#[cfg(not(target_arch = "aarch64"))]
fn arm64_detected(_: KernelPath) -> bool {
    false
}
