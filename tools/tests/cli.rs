//! The `mote` command line: the documented contract and clear errors for user mistakes.

use mote_quantize::npz::{read_npz, write_npz, NamedArray};
use mote_tests::{noise, tiny_cnn_files, OnnxBuilder};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mote(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run mote")
}

fn dir() -> std::path::PathBuf {
    mote_tests::scratch_dir("mote-cli")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A user mistake: exit status 1, a message naming `needles`, no panic or backtrace.
fn user_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("mote: error:"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("internal error"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "'{n}' missing from: {err}");
    }
}

fn quantized(d: &Path) -> PathBuf {
    let (onnx, calib) = tiny_cnn_files(d, 8, 1, 1.0);
    let m = d.join("tiny.mote");
    let out = mote(&["quantize", s(&onnx), "-o", s(&m), "--calib", s(&calib)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m
}

#[test]
fn quantize_inspect_run_bench_eval() {
    let d = dir();
    let m = quantized(&d);
    let out = mote(&["inspect", s(&m), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["arena_bytes", "weights_bytes", "model_bytes", "ops"] {
        assert!(v.get(k).is_some(), "inspect --json lacks {k}");
    }
    assert_eq!(
        v["model_bytes"].as_u64().unwrap(),
        std::fs::metadata(&m).unwrap().len()
    );

    // 3 samples given as [3, 432]: each sample is reshaped to the input shape
    let input = d.join("in.npz");
    write_npz(
        &input,
        &[NamedArray {
            name: "x".into(),
            shape: vec![3, 432],
            data: noise(2, 3 * 432),
        }],
    )
    .unwrap();
    let output = d.join("out.npz");
    let out = mote(&["run", s(&m), "--input", s(&input), "--output", s(&output)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arrays = read_npz(&output).unwrap();
    assert_eq!(arrays.len(), 1);
    assert_eq!(arrays[0].name, "prob");
    assert_eq!(arrays[0].shape, vec![3, 1, 5]);
    for row in arrays[0].data.chunks(5) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 0.05);
    }

    let out = mote(&[
        "bench",
        s(&m),
        "--input",
        s(&input),
        "--iterations",
        "5",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["median_ms", "min_ms", "max_ms", "iterations", "kernels"] {
        assert!(v.get(k).is_some(), "bench --json lacks {k}");
    }
    assert_eq!(v["iterations"], 5);
    assert!(v["min_ms"].as_f64().unwrap() <= v["median_ms"].as_f64().unwrap());

    let out = mote(&[
        "eval",
        s(&d.join("tiny.onnx")),
        s(&m),
        "--input",
        s(&input),
        "--per-layer",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samples"], 3);
    assert!(v["outputs"][0]["cosine"].as_f64().unwrap() > 0.9);
    assert!(v["layers"].as_array().unwrap().len() > 5);
}

#[test]
fn wrong_npz_name_shape_and_count() {
    let d = dir();
    let m = quantized(&d);
    let out_path = d.join("o.npz");
    let bad = d.join("bad_name.npz");
    write_npz(
        &bad,
        &[NamedArray {
            name: "image".into(),
            shape: vec![1, 432],
            data: noise(3, 432),
        }],
    )
    .unwrap();
    user_error(
        &mote(&["run", s(&m), "--input", s(&bad), "--output", s(&out_path)]),
        &["bad_name.npz", "'image'", "x"],
    );
    let bad = d.join("bad_shape.npz");
    write_npz(
        &bad,
        &[NamedArray {
            name: "x".into(),
            shape: vec![2, 400],
            data: noise(3, 800),
        }],
    )
    .unwrap();
    user_error(
        &mote(&["run", s(&m), "--input", s(&bad), "--output", s(&out_path)]),
        &["bad_shape.npz", "400", "[1, 3, 12, 12]"],
    );
    user_error(
        &mote(&[
            "run",
            s(&m),
            "--input",
            s(&d.join("missing.npz")),
            "--output",
            s(&out_path),
        ]),
        &["missing.npz"],
    );
}

#[test]
fn corrupt_or_truncated_model_files() {
    let d = dir();
    let m = quantized(&d);
    let bytes = std::fs::read(&m).unwrap();
    let t = d.join("trunc.mote");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    user_error(&mote(&["inspect", s(&t)]), &["trunc.mote", "truncated"]);
    let mut flipped = bytes.clone();
    flipped[bytes.len() - 10] ^= 4;
    let f = d.join("flip.mote");
    std::fs::write(&f, &flipped).unwrap();
    user_error(&mote(&["bench", s(&f)]), &["flip.mote", "checksum"]);
    let n = d.join("not.mote");
    std::fs::write(&n, b"hello").unwrap();
    user_error(&mote(&["inspect", s(&n)]), &["not.mote"]);
}

#[test]
fn unsupported_onnx_op_and_bad_input_shape_flag() {
    let d = dir();
    let onnx = d.join("topk.onnx");
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 8]).output("y", &[1, 8]);
    b.node("Relu", &["x"], &["r"], vec![]);
    b.node("Hardmax", &["r"], &["y"], vec![]);
    b.save(&onnx);
    let o = d.join("o.mote");
    user_error(
        &mote(&["quantize", s(&onnx), "-o", s(&o)]),
        &["topk.onnx", "hardmax_1", "Hardmax", "not supported"],
    );
    user_error(
        &mote(&["quantize", s(&onnx), "-o", s(&o), "--input-shape", "y=1,8"]),
        &["'y'", "x"],
    );
    user_error(
        &mote(&["quantize", s(&onnx), "-o", s(&o), "--input-shape", "x=1,a"]),
        &["'a'"],
    );
    user_error(
        &mote(&["quantize", s(&d.join("nope.onnx")), "-o", s(&o)]),
        &["nope.onnx"],
    );
}
