//! The real models nobody here wrote, end to end: quantize with our calibration sets, run the
//! int8 model with the runtime and compare with the float model on the evaluation sets.
//! Needs `models/fetch` and `tools/make_data.py` (the README's test command runs them).

use mote_quantize::eval::evaluate;
use mote_quantize::host::{model_inputs, read_samples, run_samples};
use mote_quantize::{quantize_file, Options};
use mote_tests::fetched;

#[test]
fn mnist_int8_accuracy_on_5000_images() {
    let onnx = fetched("mnist/model.onnx");
    let q = quantize_file(
        &onnx,
        &Options {
            calib: Some(fetched("mnist/calib.npz")),
            ..Options::default()
        },
    )
    .unwrap();
    let model = mote::Model::parse(&q.bytes).unwrap();
    let (samples, labels) =
        read_samples(&fetched("mnist/test.npz"), &model_inputs(&model).unwrap()).unwrap();
    let labels = labels.expect("labels");
    assert_eq!(samples.len(), 5000);
    let out = run_samples(&model, &samples).unwrap();
    let correct = out
        .iter()
        .zip(&labels)
        .filter(|(o, &l)| {
            o[0].iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
                == l as usize
        })
        .count();
    let acc = correct as f64 / 5000.0;
    println!("MNIST int8 accuracy: {:.2}% ({correct}/5000)", 100.0 * acc);
    assert!(acc >= 0.994, "int8 accuracy {acc}");
}

#[test]
fn text_direction_classifier_agrees_with_float() {
    let onnx = fetched("textcls/cls.onnx");
    let mut opts = Options {
        calib: Some(fetched("textcls/calib.npz")),
        ..Options::default()
    };
    opts.input_shapes.insert("x".into(), vec![1, 3, 48, 192]);
    let q = quantize_file(&onnx, &opts).unwrap();
    let model = mote::Model::parse(&q.bytes).unwrap();
    let r = evaluate(&onnx, &model, &fetched("textcls/test.npz"), false, 0).unwrap();
    let o = &r.outputs[0];
    println!(
        "classifier: {} lines, agreement {:.2}%, SQNR {:.1} dB, float acc {:?}, int8 acc {:?}",
        r.samples,
        100.0 * o.top1_agreement,
        o.sqnr_db,
        o.float_accuracy,
        o.int8_accuracy
    );
    assert!(r.samples >= 400);
    assert!(o.top1_agreement >= 0.99, "agreement {}", o.top1_agreement);
    assert!(o.sqnr_db >= 22.0, "sqnr {}", o.sqnr_db);
}
