//! Embeds the model (`MOTE_MODEL`, a `.mote` file from `mote quantize`) and the recorded input
//! frames (`MOTE_INPUT`, raw little-endian bytes of the model's input tensor, one frame after
//! another), sizes the static arena from the model's header (validated here with the host build
//! of the runtime, so a bad model fails the build, not the board), and picks the memory map for
//! the target.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for v in ["MOTE_MODEL", "MOTE_INPUT"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed=memory");
    let read = |var: &str| match env::var_os(var) {
        Some(p) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&p).display());
            fs::read(&p).unwrap_or_else(|e| panic!("{var}={}: {e}", PathBuf::from(&p).display()))
        }
        None => Vec::new(),
    };
    let model = read("MOTE_MODEL");
    let input = read("MOTE_INPUT");
    let (arena, input_bytes) = if model.is_empty() {
        (0, 0)
    } else {
        let buf = mote::ModelBuffer::from_bytes(&model);
        let m = buf
            .model()
            .unwrap_or_else(|e| panic!("MOTE_MODEL is not a valid mote model: {e}"));
        if m.num_inputs() != 1 || m.num_outputs() != 1 {
            panic!("the firmware runs models with one input and one output");
        }
        let info = m.tensor(m.input_index(0)).expect("validated");
        (m.arena_bytes(), info.byte_len as usize)
    };
    if input_bytes > 0 && (input.is_empty() || input.len() % input_bytes != 0) {
        panic!(
            "MOTE_INPUT holds {} bytes; the model's input frame is {input_bytes} bytes",
            input.len()
        );
    }
    fs::write(out.join("model.mote"), &model).unwrap();
    fs::write(out.join("input.bin"), &input).unwrap();
    fs::write(
        out.join("config.rs"),
        format!(
            "/// Arena bytes the embedded model needs (from its header).\n\
             pub const ARENA_BYTES: usize = {arena};\n"
        ),
    )
    .unwrap();
    // Memory map: MPS2 AN386/AN500 (Cortex-M4/M7) or AN505 (Cortex-M33, secure aliases).
    let target = env::var("TARGET").unwrap_or_default();
    let memory = if target.starts_with("thumbv8m") {
        "memory/an505.x"
    } else {
        "memory/an386.x"
    };
    fs::copy(memory, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
}
