//! Target cfgs in one place: `mote_dsp` when the target has the Arm DSP extension (Cortex-M4/M7,
//! M33/M55 built with `+dsp`), so kernels can use SXTB16/SMLAD.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_dsp)");
    println!("cargo::rustc-check-cfg=cfg(mote_armv8m)");
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv8m.main")) {
        println!("cargo::rustc-cfg=mote_armv8m");
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if arch == "arm" && features.split(',').any(|f| f == "dsp") {
        println!("cargo::rustc-cfg=mote_dsp");
    }
}
