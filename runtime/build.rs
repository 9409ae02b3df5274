//! Target cfgs in one place: `mote_dsp` when the target has the Arm DSP extension (Cortex-M4/M7,
//! M33/M55 built with `+dsp`), so kernels can use SXTB16/SMLAD; `mote_arm32_neon` on 32-bit Arm
//! built with NEON (`thumbv7neon-*` targets, or `-C target-feature=+neon`), whose kernels are
//! assembly (Rust's 32-bit NEON intrinsics are unstable).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_dsp)");
    println!("cargo::rustc-check-cfg=cfg(mote_armv8m)");
    println!("cargo::rustc-check-cfg=cfg(mote_arm32_neon)");
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv8m.main")) {
        println!("cargo::rustc-cfg=mote_armv8m");
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if arch == "arm" && features.split(',').any(|f| f == "dsp") {
        println!("cargo::rustc-cfg=mote_dsp");
    }
    if arch == "arm" && features.split(',').any(|f| f == "neon") {
        println!("cargo::rustc-cfg=mote_arm32_neon");
    }
}
