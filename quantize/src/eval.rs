//! Accuracy report: the float model (tract) against the int8 model (our runtime) on the same data.

use crate::float_model::FloatModel;
use crate::host::{model_inputs, model_outputs, read_samples, run_samples};
use anyhow::Result;
use mote::{DType, Interpreter, Model};
use std::collections::HashMap;
use std::path::Path;

/// Agreement between float and int8 for one output.
#[derive(Debug, Clone)]
pub struct OutputReport {
    /// Output name.
    pub name: String,
    /// Fraction of samples whose arg-max (over the last axis) agrees.
    pub top1_agreement: f64,
    /// Mean cosine similarity of float and int8 outputs.
    pub cosine: f64,
    /// Signal-to-quantization-noise ratio in dB, over all samples.
    pub sqnr_db: f64,
    /// Float top-1 accuracy against labels, if given.
    pub float_accuracy: Option<f64>,
    /// Int8 top-1 accuracy against labels, if given.
    pub int8_accuracy: Option<f64>,
}

/// SQNR of one int8 tensor against its float value.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// Value name.
    pub name: String,
    /// Producing op.
    pub op: String,
    /// SQNR in dB.
    pub sqnr_db: f64,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Samples evaluated.
    pub samples: usize,
    /// Per output.
    pub outputs: Vec<OutputReport>,
    /// Per layer (with `--per-layer`).
    pub layers: Vec<LayerReport>,
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

fn sqnr(signal: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Evaluate `model` against the ONNX file on the samples of `input`.
pub fn evaluate(
    onnx: &Path,
    model: &Model<'_>,
    input: &Path,
    per_layer: bool,
    max_layer_samples: usize,
) -> Result<Report> {
    let inputs = model_inputs(model)?;
    let outputs = model_outputs(model)?;
    let shapes: HashMap<String, Vec<usize>> = inputs.iter().cloned().collect();
    let fm = FloatModel::load(onnx, &shapes)?;
    let (samples, labels) = read_samples(input, &inputs)?;
    let out_names: Vec<String> = outputs.iter().map(|o| o.0.clone()).collect();
    let runner = fm.runner(&out_names)?;
    let q = run_samples(model, &samples)?;
    let mut reports = Vec::new();
    // float outputs, once per sample
    let mut float_out: Vec<Vec<Vec<f32>>> = Vec::with_capacity(samples.len());
    for s in &samples {
        let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
        let mut vals = runner.run(&refs)?;
        float_out.push(
            out_names
                .iter()
                .map(|n| vals.remove(n).map(|t| t.data).unwrap_or_default())
                .collect(),
        );
    }
    for (k, (name, shape)) in outputs.iter().enumerate() {
        let classes = *shape.last().unwrap_or(&1);
        let (mut agree, mut total, mut cos_sum, mut sig, mut noise) =
            (0usize, 0usize, 0f64, 0f64, 0f64);
        let (mut f_ok, mut q_ok) = (0usize, 0usize);
        for i in 0..samples.len() {
            let f = &float_out[i][k];
            let qv = &q[i][k];
            for (fr, qr) in f.chunks(classes).zip(qv.chunks(classes)) {
                total += 1;
                let (fa, qa) = (argmax(fr), argmax(qr));
                agree += (fa == qa) as usize;
                if let Some(l) = &labels {
                    let want = l[i] as usize;
                    f_ok += (fa == want) as usize;
                    q_ok += (qa == want) as usize;
                }
            }
            let (mut dot, mut nf, mut nq) = (0f64, 0f64, 0f64);
            for (&a, &b) in f.iter().zip(qv) {
                dot += a as f64 * b as f64;
                nf += (a as f64).powi(2);
                nq += (b as f64).powi(2);
                noise += (a as f64 - b as f64).powi(2);
            }
            sig += nf;
            cos_sum += if nf > 0.0 && nq > 0.0 {
                dot / (nf.sqrt() * nq.sqrt())
            } else {
                (nf == nq) as u8 as f64
            };
        }
        let n = samples.len().max(1) as f64;
        let acc = |ok: usize| labels.as_ref().map(|_| ok as f64 / total.max(1) as f64);
        reports.push(OutputReport {
            name: name.clone(),
            top1_agreement: agree as f64 / total.max(1) as f64,
            cosine: cos_sum / n,
            sqnr_db: sqnr(sig, noise),
            float_accuracy: acc(f_ok),
            int8_accuracy: acc(q_ok),
        });
    }
    let layers = if per_layer {
        layer_report(&fm, model, &samples[..samples.len().min(max_layer_samples)])?
    } else {
        vec![]
    };
    Ok(Report {
        samples: samples.len(),
        outputs: reports,
        layers,
    })
}

/// The float value name an int8 tensor stands for, and whether it is channels-last.
fn value_of(name: &str) -> Option<(&str, bool)> {
    if name.contains('#') {
        return None;
    }
    match name.strip_suffix("@nhwc") {
        Some(v) => Some((v, true)),
        None => Some((name, false)),
    }
}

fn layer_report(
    fm: &FloatModel,
    model: &Model<'_>,
    samples: &[Vec<Vec<f32>>],
) -> Result<Vec<LayerReport>> {
    // (name, op, nhwc) of every int8 op output, in execution order
    let mut layers: Vec<(String, String, bool)> = Vec::new();
    for op in model.ops() {
        let op = op?;
        let t = model.tensor(op.output(0))?;
        if t.dtype != DType::I8 {
            continue;
        }
        if let Some((v, nhwc)) = model.name_of(&t).and_then(value_of) {
            if fm.has_value(v) && !layers.iter().any(|l| l.0 == v) {
                layers.push((v.to_string(), op.opcode.name().to_string(), nhwc));
            }
        }
    }
    let names: Vec<String> = layers.iter().map(|l| l.0.clone()).collect();
    let runner = fm.runner(&names)?;
    let mut acc: HashMap<String, (f64, f64)> = HashMap::new();
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut interp = Interpreter::new(*model, &mut arena)?;
    for s in samples {
        for (k, x) in s.iter().enumerate() {
            interp.set_input_f32(k, x)?;
        }
        let mut seen: HashMap<String, Vec<f32>> = HashMap::new();
        interp.invoke_observed(|_, info, bytes| {
            if info.dtype != DType::I8 {
                return;
            }
            let Some((v, nhwc)) = model.name_of(info).and_then(value_of) else {
                return;
            };
            let deq: Vec<f32> = bytes
                .iter()
                .map(|&b| (b as i8 as i32 - info.zero_point) as f32 * info.scale)
                .collect();
            let deq = if nhwc && info.rank == 4 {
                let [n, h, w, c] = [0, 1, 2, 3].map(|i| info.dims[i] as usize);
                let mut o = vec![0f32; deq.len()];
                for b in 0..n {
                    for y in 0..h {
                        for x in 0..w {
                            for ch in 0..c {
                                o[((b * c + ch) * h + y) * w + x] =
                                    deq[((b * h + y) * w + x) * c + ch];
                            }
                        }
                    }
                }
                o
            } else {
                deq
            };
            seen.entry(v.to_string()).or_insert(deq);
        })?;
        let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
        let f = runner.run(&refs)?;
        for (name, q) in seen {
            if let Some(ft) = f.get(&name) {
                let e = acc.entry(name).or_insert((0.0, 0.0));
                for (&a, &b) in ft.data.iter().zip(&q) {
                    e.0 += (a as f64).powi(2);
                    e.1 += (a as f64 - b as f64).powi(2);
                }
            }
        }
    }
    Ok(layers
        .into_iter()
        .filter_map(|(name, op, _)| {
            acc.get(&name).map(|&(s, n)| LayerReport {
                sqnr_db: sqnr(s, n),
                name,
                op,
            })
        })
        .collect())
}
