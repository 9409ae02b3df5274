//! A small CNN built here goes through the whole quantizer and must stay close to float.

use mote_quantize::float_model::FloatModel;
use mote_quantize::host::run_samples;
use mote_quantize::npz::{write_npz, NamedArray};
use mote_quantize::{quantize_file, Options};
use mote_tests::{noise, tiny_cnn};
use std::collections::HashMap;

fn calib_file(dir: &std::path::Path, n: usize, seed: u64) -> std::path::PathBuf {
    let p = dir.join(format!("calib{seed}.npz"));
    write_npz(
        &p,
        &[NamedArray {
            name: "x".into(),
            shape: vec![n, 1, 3, 12, 12],
            data: noise(seed, n * 432).iter().map(|v| v * 2.0).collect(),
        }],
    )
    .unwrap();
    p
}

#[test]
fn tiny_cnn_int8_tracks_float() {
    let dir = tempdir();
    let onnx = dir.join("tiny.onnx");
    tiny_cnn().save(&onnx);
    let calib = calib_file(&dir, 64, 100);
    let q = quantize_file(
        &onnx,
        &Options {
            calib: Some(calib),
            ..Options::default()
        },
    )
    .expect("quantize");
    // every fusion we expect happened: BatchNorm folded, HardSwish collapsed into one LUT,
    // Relus fused, bias adds folded
    let ops: Vec<_> = q.qgraph.ops.iter().map(|o| o.opcode.name()).collect();
    assert_eq!(ops.iter().filter(|&&o| o == "Conv2d").count(), 5, "{ops:?}");
    assert!(!ops.contains(&"BatchNorm"));
    // hardswish, hardsigmoid, sigmoid, and two requantizations into Concat's common range
    assert_eq!(ops.iter().filter(|&&o| o == "Lut").count(), 5, "{ops:?}");
    let model = mote::Model::parse(&q.bytes).unwrap();
    assert!(model.arena_bytes() >= q.plan.lower_bound);

    let test: Vec<Vec<Vec<f32>>> = (0..32)
        .map(|i| vec![noise(1000 + i, 432).iter().map(|v| v * 2.0).collect()])
        .collect();
    let got = run_samples(&model, &test).unwrap();
    let fm = FloatModel::load(&onnx, &HashMap::new()).unwrap();
    let runner = fm.runner(&["prob".to_string()]).unwrap();
    let (mut agree, mut max_err) = (0, 0f32);
    for (s, g) in test.iter().zip(&got) {
        let f = &runner.run(&[&s[0]]).unwrap()["prob"].data;
        let am = |v: &[f32]| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
        };
        agree += (am(f) == am(&g[0])) as usize;
        for (a, b) in f.iter().zip(&g[0]) {
            max_err = max_err.max((a - b).abs());
        }
    }
    assert!(max_err < 0.06, "probability error {max_err}");
    assert!(agree >= 30, "top-1 agreement {agree}/32");
}

#[test]
fn quantization_is_deterministic() {
    let dir = tempdir();
    let onnx = dir.join("tiny.onnx");
    tiny_cnn().save(&onnx);
    let calib = calib_file(&dir, 16, 7);
    let a = quantize_file(
        &onnx,
        &Options {
            calib: Some(calib.clone()),
            ..Options::default()
        },
    )
    .unwrap()
    .bytes;
    let b = quantize_file(
        &onnx,
        &Options {
            calib: Some(calib),
            ..Options::default()
        },
    )
    .unwrap()
    .bytes;
    assert_eq!(a, b);
}

#[test]
fn unsupported_op_names_node_and_op() {
    let dir = tempdir();
    let onnx = dir.join("cos.onnx");
    let mut b = mote_tests::OnnxBuilder::new(13);
    b.input("x", &[1, 4]).output("y", &[1, 4]);
    b.init("w", &[4, 4], noise(3, 16));
    b.node("MatMul", &["x", "w"], &["m"], vec![]);
    b.node("Hardmax", &["m"], &["y"], vec![]);
    b.save(&onnx);
    let err = match quantize_file(&onnx, &Options::default()) {
        Ok(_) => panic!("Hardmax must be rejected"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("hardmax_1") && err.contains("Hardmax") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn dynamic_input_needs_a_shape() {
    let dir = tempdir();
    let onnx = dir.join("dyn.onnx");
    let mut b = mote_tests::OnnxBuilder::new(13);
    b.input("x", &[1, 3, -1, -1]).output("y", &[1, 3, -1, -1]);
    b.node("Relu", &["x"], &["y"], vec![]);
    b.save(&onnx);
    let err = format!(
        "{:#}",
        quantize_file(&onnx, &Options::default())
            .err()
            .expect("must fail")
    );
    assert!(err.contains("--input-shape x="), "{err}");
    let mut o = Options::default();
    o.input_shapes.insert("x".into(), vec![1, 3, 4, 5]);
    let q = quantize_file(&onnx, &o).expect("fixed shape works");
    assert_eq!(
        mote_quantize::host::model_inputs(&mote::Model::parse(&q.bytes).unwrap()).unwrap()[0].1,
        vec![1, 3, 4, 5]
    );
}

fn tempdir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "mote-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
