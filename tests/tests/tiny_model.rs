//! A small CNN built here goes through the whole quantizer and must stay close to float.

use mote_quantize::float_model::FloatModel;
use mote_quantize::host::run_samples;
use mote_quantize::npz::{write_npz, NamedArray};
use mote_quantize::{quantize_file, Options};
use mote_tests::{noise, tiny_cnn_files, Attr};
use std::collections::HashMap;

#[test]
fn tiny_cnn_int8_tracks_float() {
    let dir = tempdir();
    let (onnx, calib) = tiny_cnn_files(&dir, 64, 100, 2.0);
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
    let (onnx, calib) = tiny_cnn_files(&dir, 16, 7, 2.0);
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
    mote_tests::scratch_dir("mote-test")
}

/// Conv → ReLU → depthwise, where the ReLU output's channels span ranges 50× apart and the
/// depthwise filters undo that (so the output's channels are alike): equalization must keep the
/// function and give the narrow channels back their precision.
#[test]
fn equalization_helps_imbalanced_channels() {
    let dir = tempdir();
    let onnx = dir.join("imbalanced.onnx");
    let mut b = mote_tests::OnnxBuilder::new(13);
    b.input("x", &[1, 3, 10, 10]).output("y", &[1, 8, 10, 10]);
    let scale = |c: usize| [1.0f32, 0.02, 0.1, 0.5, 0.05, 1.0, 0.3, 0.03][c];
    let w1: Vec<f32> = noise(21, 8 * 27)
        .iter()
        .enumerate()
        .map(|(i, v)| v * scale(i / 27))
        .collect();
    b.init("w1", &[8, 3, 3, 3], w1).init(
        "b1",
        &[8],
        noise(22, 8)
            .iter()
            .enumerate()
            .map(|(c, v)| v.abs() * scale(c))
            .collect(),
    );
    b.init(
        "wd",
        &[8, 1, 3, 3],
        noise(23, 72)
            .iter()
            .enumerate()
            .map(|(i, v)| v / scale(i / 9))
            .collect(),
    );
    b.node(
        "Conv",
        &["x", "w1", "b1"],
        &["c1"],
        vec![("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    b.node("Relu", &["c1"], &["r1"], vec![]);
    b.node(
        "Conv",
        &["r1", "wd"],
        &["y"],
        vec![
            ("group", Attr::Int(8)),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
        ],
    );
    b.save(&onnx);
    let calib = dir.join("calib.npz");
    write_npz(
        &calib,
        &[NamedArray {
            name: "x".into(),
            shape: vec![32, 1, 3, 10, 10],
            data: noise(25, 32 * 300),
        }],
    )
    .unwrap();
    let test: Vec<Vec<Vec<f32>>> = (0..16).map(|i| vec![noise(500 + i, 300)]).collect();
    let fm = FloatModel::load(&onnx, &HashMap::new()).unwrap();
    let runner = fm.runner(&["y".to_string()]).unwrap();
    let sqnr = |equalize: bool| {
        let q = quantize_file(
            &onnx,
            &Options {
                calib: Some(calib.clone()),
                equalize,
                ..Options::default()
            },
        )
        .unwrap();
        let out = run_samples(&mote::Model::parse(&q.bytes).unwrap(), &test).unwrap();
        let (mut s, mut n) = (0f64, 0f64);
        for (x, o) in test.iter().zip(&out) {
            for (a, b) in runner.run(&[&x[0]]).unwrap()["y"].data.iter().zip(&o[0]) {
                s += (*a as f64).powi(2);
                n += (*a as f64 - *b as f64).powi(2);
            }
        }
        10.0 * (s / n).log10()
    };
    let (plain, equalized) = (sqnr(false), sqnr(true));
    println!("SQNR without equalization {plain:.1} dB, with {equalized:.1} dB");
    assert!(
        equalized > plain + 6.0,
        "equalization: {plain:.1} dB -> {equalized:.1} dB"
    );
}
