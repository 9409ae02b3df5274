//! `mote`: quantize ONNX models to int8, inspect, run, evaluate and benchmark them.

#[cfg(feature = "quantize")]
use anyhow::bail;
use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mote::{Interpreter, ModelBuffer};
#[cfg(feature = "quantize")]
use mote_quantize::calibrate::Method;
use mote_quantize::host::{model_inputs, model_outputs, read_samples, run_samples};
use mote_quantize::npz::{write_npz, NamedArray};
use serde_json::json;
use std::collections::BTreeMap;
#[cfg(feature = "quantize")]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "mote",
    version,
    about = "int8 inference for edge devices: quantize ONNX models, run them with the no_std runtime"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Calibration {
    Minmax,
    Percentile,
    Mse,
}

#[derive(Subcommand)]
enum Cmd {
    /// Quantize an ONNX model to a .mote file.
    Quantize {
        /// The float ONNX model.
        model: PathBuf,
        /// Where to write the .mote model.
        #[arg(short, long)]
        output: PathBuf,
        /// Calibration samples: .npz with one array per model input, axis 0 = samples.
        #[arg(long)]
        calib: Option<PathBuf>,
        /// Fix a dynamic input shape: NAME=d0,d1,... (repeatable).
        #[arg(long = "input-shape")]
        input_shape: Vec<String>,
        /// How activation ranges are chosen.
        #[arg(long, value_enum, default_value = "mse")]
        calibration: Calibration,
        /// Percentile kept by --calibration percentile.
        #[arg(long, default_value_t = 99.999)]
        percentile: f64,
        /// Use at most this many calibration samples.
        #[arg(long, default_value_t = 1000)]
        max_samples: usize,
        /// Skip activation equalization between ReLU convolutions and depthwise ones.
        #[arg(long)]
        no_equalize: bool,
    },
    /// Show a .mote model's ops, tensors and memory.
    Inspect {
        /// The .mote model.
        model: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a .mote model on every sample of an .npz file.
    Run {
        /// The .mote model.
        model: PathBuf,
        /// Inputs: one array per model input, axis 0 = samples.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the outputs (.npz, one float32 array per model output).
        #[arg(long)]
        output: PathBuf,
    },
    /// Compare the float ONNX model with the int8 .mote model on the same data.
    Eval {
        /// The float ONNX model.
        onnx: PathBuf,
        /// The .mote model.
        model: PathBuf,
        /// Inputs (and optionally `labels`).
        #[arg(long)]
        input: PathBuf,
        /// Also report the SQNR of every layer.
        #[arg(long)]
        per_layer: bool,
        /// Samples used for --per-layer.
        #[arg(long, default_value_t = 50)]
        layer_samples: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure the float ONNX model's latency with tract (the float peer of `bench`).
    BenchOnnx {
        /// The float ONNX model.
        onnx: PathBuf,
        /// Input sample (first sample of each array); zeros if absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Fix a dynamic input shape: NAME=d0,d1,... (repeatable).
        #[arg(long = "input-shape")]
        input_shape: Vec<String>,
        /// Timed iterations.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure inference latency.
    Bench {
        /// The .mote model.
        model: PathBuf,
        /// Input sample (first sample of each array); zeros if absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Timed iterations.
        #[arg(long, default_value_t = 0)]
        iterations: usize,
        /// Also print where the time goes, per op kind.
        #[arg(long)]
        profile: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            // the reader went away (`mote inspect m.mote | head`): stop quietly, as Unix tools
            // do on SIGPIPE
            std::process::exit(141);
        }
        eprintln!("mote: internal error: {info}\nThis is a bug in mote; please report it with the command you ran.");
    }));
    if let Err(e) = run(Cli::parse()) {
        eprintln!("mote: error: {e:#}");
        std::process::exit(1);
    }
}

fn load(path: &Path) -> Result<ModelBuffer> {
    ModelBuffer::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse<'b>(buf: &'b ModelBuffer, path: &Path) -> Result<mote::Model<'b>> {
    buf.model().map_err(|e| {
        anyhow!(
            "{}: {e}. Re-create it with `mote quantize`.",
            path.display()
        )
    })
}

/// The error of quantizer commands in a build without the ONNX quantizer (cross builds for
/// Raspberry Pi and phones: tract stays on the host).
#[cfg(not(feature = "quantize"))]
fn no_quantizer() -> anyhow::Error {
    anyhow!(
        "this build of mote has no ONNX quantizer (built without the `quantize` feature, as for \
         Arm boards); run `mote quantize` and `mote eval` on a host build and copy the .mote file here"
    )
}

/// `--input-shape NAME=d0,d1,...` arguments by input name.
#[cfg(feature = "quantize")]
fn input_shapes(args: &[String]) -> Result<HashMap<String, Vec<usize>>> {
    args.iter()
        .map(|s| mote_quantize::float_model::parse_input_shape(s))
        .collect()
}

#[cfg_attr(not(feature = "quantize"), allow(unused_variables, unreachable_code))]
fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Quantize {
            model,
            output,
            calib,
            input_shape,
            calibration,
            percentile,
            max_samples,
            no_equalize,
        } => {
            #[cfg(feature = "quantize")]
            {
                let shapes = input_shapes(&input_shape)?;
                if !(50.0..100.0).contains(&percentile) {
                    bail!("--percentile must be in [50, 100)");
                }
                let opts = mote_quantize::Options {
                    input_shapes: shapes,
                    calib,
                    method: match calibration {
                        Calibration::Minmax => Method::MinMax,
                        Calibration::Percentile => Method::Percentile(percentile),
                        Calibration::Mse => Method::Mse,
                    },
                    max_samples,
                    progress: true,
                    equalize: !no_equalize,
                };
                let q = mote_quantize::quantize_file(&model, &opts)?;
                if q.synthetic_calibration {
                    eprintln!("mote: warning: no --calib data: activation ranges come from random inputs; pass --calib for real accuracy");
                }
                std::fs::write(&output, &q.bytes)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                println!(
                "wrote {}: {} ops, {} weight bytes, arena {} bytes (lower bound {}), model {} bytes",
                output.display(),
                q.qgraph.ops.len(),
                q.qgraph.tensors.iter().filter_map(|t| t.data.as_ref().map(|d| d.len())).sum::<usize>(),
                q.plan.arena_bytes,
                q.plan.lower_bound,
                q.bytes.len()
            );
            }
            #[cfg(not(feature = "quantize"))]
            return Err(no_quantizer());
        }
        Cmd::Inspect { model, json } => {
            let buf = load(&model)?;
            let m = parse(&buf, &model)?;
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            let mut ops = Vec::new();
            for op in m.ops() {
                let op = op?;
                *counts.entry(op.opcode.name()).or_default() += 1;
                let out = m.tensor(op.output(0))?;
                ops.push(json!({"op": op.opcode.name(), "output": m.name_of(&out).unwrap_or(""), "shape": out.shape()}));
            }
            let summary = json!({
                "model_bytes": m.bytes().len(),
                "weights_bytes": m.constant_bytes(),
                "arena_bytes": m.arena_bytes(),
                "tensors": m.num_tensors(),
                "op_counts": counts,
                "ops": ops,
                "inputs": model_inputs(&m)?.iter().map(|(n, s)| json!({"name": n, "shape": s})).collect::<Vec<_>>(),
                "outputs": model_outputs(&m)?.iter().map(|(n, s)| json!({"name": n, "shape": s})).collect::<Vec<_>>(),
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "{}: {} bytes, {} weight bytes, arena {} bytes, {} tensors",
                    model.display(),
                    m.bytes().len(),
                    m.constant_bytes(),
                    m.arena_bytes(),
                    m.num_tensors()
                );
                for (n, s) in model_inputs(&m)? {
                    println!("  input  {n} {s:?} f32");
                }
                for (n, s) in model_outputs(&m)? {
                    println!("  output {n} {s:?} f32");
                }
                println!(
                    "  ops: {}",
                    counts
                        .iter()
                        .map(|(k, v)| format!("{k}×{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for (i, o) in ops.iter().enumerate() {
                    println!(
                        "  {i:4} {:<15} {} {}",
                        o["op"].as_str().unwrap_or(""),
                        o["output"].as_str().unwrap_or(""),
                        o["shape"]
                    );
                }
            }
        }
        Cmd::Run {
            model,
            input,
            output,
        } => {
            let buf = load(&model)?;
            let m = parse(&buf, &model)?;
            let (samples, _) = read_samples(&input, &model_inputs(&m)?)?;
            let outs = run_samples(&m, &samples)?;
            let arrays: Vec<NamedArray> = model_outputs(&m)?
                .iter()
                .enumerate()
                .map(|(k, (name, shape))| {
                    let mut s = vec![samples.len()];
                    s.extend(shape);
                    NamedArray {
                        name: name.clone(),
                        shape: s,
                        data: outs.iter().flat_map(|o| o[k].iter().copied()).collect(),
                    }
                })
                .collect();
            write_npz(&output, &arrays)?;
            println!("ran {} samples; wrote {}", samples.len(), output.display());
        }
        Cmd::Eval {
            onnx,
            model,
            input,
            per_layer,
            layer_samples,
            json,
        } => {
            #[cfg(feature = "quantize")]
            {
                let buf = load(&model)?;
                let m = parse(&buf, &model)?;
                let r = mote_quantize::eval::evaluate(&onnx, &m, &input, per_layer, layer_samples)?;
                if json {
                    let v = json!({
                        "samples": r.samples,
                        "outputs": r.outputs.iter().map(|o| json!({"name": o.name, "top1_agreement": o.top1_agreement, "cosine": o.cosine, "sqnr_db": o.sqnr_db, "float_accuracy": o.float_accuracy, "int8_accuracy": o.int8_accuracy})).collect::<Vec<_>>(),
                        "layers": r.layers.iter().map(|l| json!({"name": l.name, "op": l.op, "sqnr_db": l.sqnr_db})).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    println!("{} samples", r.samples);
                    for o in &r.outputs {
                        print!(
                            "output {}: top-1 agreement {:.2}%, cosine {:.5}, SQNR {:.1} dB",
                            o.name,
                            100.0 * o.top1_agreement,
                            o.cosine,
                            o.sqnr_db
                        );
                        if let (Some(f), Some(q)) = (o.float_accuracy, o.int8_accuracy) {
                            print!(", accuracy float {:.2}% int8 {:.2}%", 100.0 * f, 100.0 * q);
                        }
                        println!();
                    }
                    if !r.layers.is_empty() {
                        println!("per-layer SQNR (dB), execution order:");
                        for l in &r.layers {
                            println!("  {:7.1}  {:<15} {}", l.sqnr_db, l.op, l.name);
                        }
                    }
                }
            }
            #[cfg(not(feature = "quantize"))]
            return Err(no_quantizer());
        }
        Cmd::BenchOnnx {
            onnx,
            input,
            input_shape,
            iterations,
            json,
        } => {
            #[cfg(feature = "quantize")]
            {
                let shapes = input_shapes(&input_shape)?;
                let fm = mote_quantize::float_model::FloatModel::load(&onnx, &shapes)?;
                let sample: Vec<Vec<f32>> = match &input {
                    Some(p) => read_samples(p, &fm.inputs)?
                        .0
                        .into_iter()
                        .next()
                        .ok_or_else(|| anyhow!("{}: no samples", p.display()))?,
                    None => fm
                        .inputs
                        .iter()
                        .map(|(_, s)| vec![0.0; s.iter().product()])
                        .collect(),
                };
                let median = fm.bench_optimized(&sample, iterations)?;
                if json {
                    let v = json!({"model": onnx.display().to_string(), "median_ms": median,
                        "iterations": iterations, "engine": "tract", "threads": 1});
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    println!(
                        "{}: tract fp32 median {median:.3} ms over {iterations} runs",
                        onnx.display()
                    );
                }
            }
            #[cfg(not(feature = "quantize"))]
            return Err(no_quantizer());
        }
        Cmd::Bench {
            model,
            input,
            iterations,
            profile,
            json,
        } => {
            let buf = load(&model)?;
            let m = parse(&buf, &model)?;
            let ins = model_inputs(&m)?;
            let sample: Vec<Vec<f32>> = match &input {
                Some(p) => read_samples(p, &ins)?
                    .0
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow!("{}: no samples", p.display()))?,
                None => ins
                    .iter()
                    .map(|(_, s)| vec![0.0; s.iter().product()])
                    .collect(),
            };
            let mut arena = vec![0u8; m.arena_bytes()];
            let mut it = Interpreter::new(m, &mut arena)?;
            for (k, x) in sample.iter().enumerate() {
                it.set_input_f32(k, x)?;
            }
            let t0 = Instant::now();
            it.invoke()?;
            let first = t0.elapsed().as_secs_f64();
            let n = if iterations > 0 {
                iterations
            } else {
                ((1.0 / first.max(1e-6)) as usize).clamp(10, 2000)
            };
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                it.invoke()?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let median = times[n / 2];
            let mut per_op: BTreeMap<&str, f64> = BTreeMap::new();
            let mut per_index: BTreeMap<u16, (String, f64)> = BTreeMap::new();
            if profile {
                for _ in 0..n {
                    let mut last = Instant::now();
                    it.invoke_observed(|op, info, _| {
                        let now = Instant::now();
                        let ms = (now - last).as_secs_f64() * 1e3 / n as f64;
                        *per_op.entry(op.opcode.name()).or_default() += ms;
                        let e = per_index.entry(op.index).or_insert_with(|| {
                            (format!("{} {:?}", op.opcode.name(), info.shape()), 0.0)
                        });
                        e.1 += ms;
                        last = now;
                    })?;
                }
            }
            let v = json!({
                "model": model.display().to_string(),
                "median_ms": median, "min_ms": times[0], "max_ms": times[n - 1], "iterations": n,
                "kernels": it.kernel_path().name(), "threads": 1,
                "arena_bytes": m.arena_bytes(), "weights_bytes": m.constant_bytes(), "model_bytes": m.bytes().len(),
            });
            let mut v = v;
            if profile {
                v["profile_ms"] = json!(per_op);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut ops: Vec<_> = per_index.iter().collect();
                ops.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
                if !ops.is_empty() {
                    println!("slowest ops:");
                }
                for (i, (what, ms)) in ops.iter().take(12) {
                    println!("  #{i:<4} {what:<36} {ms:8.3} ms");
                }
                let mut kinds: Vec<_> = per_op.iter().collect();
                kinds.sort_by(|a, b| b.1.total_cmp(a.1));
                for (k, ms) in kinds {
                    println!("  {k:<15} {ms:8.3} ms");
                }
                println!(
                    "{}: median {:.3} ms (min {:.3}, max {:.3}) over {n} runs, kernels {}, arena {} B, model {} B",
                    model.display(), median, times[0], times[n - 1], it.kernel_path().name(), m.arena_bytes(), m.bytes().len()
                );
            }
        }
    }
    Ok(())
}
