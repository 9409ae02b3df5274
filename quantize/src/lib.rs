//! # mote-quantize
//!
//! The host side of mote: import an ONNX model with tract, fold and fuse it, calibrate
//! activation ranges, quantize to the TFLite int8 scheme, plan the arena offline and write a
//! `.mote` file the no_std runtime runs.
#![deny(missing_docs)]

#[cfg(feature = "onnx")]
pub mod calibrate;
#[cfg(feature = "onnx")]
pub mod float_model;
#[cfg(feature = "onnx")]
pub mod graph;
pub mod host;
#[cfg(feature = "onnx")]
pub mod import;
#[cfg(feature = "onnx")]
pub mod lower;
pub mod npz;
#[cfg(feature = "onnx")]
pub mod passes;
#[cfg(feature = "onnx")]
pub mod plan;
#[cfg(feature = "onnx")]
pub mod writer;

#[cfg(feature = "onnx")]
use anyhow::{Context, Result};
#[cfg(feature = "onnx")]
use std::collections::HashMap;
#[cfg(feature = "onnx")]
use std::path::Path;

#[cfg(feature = "onnx")]
/// Quantizer options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fixed shapes for dynamic inputs, by input name.
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Calibration samples (`.npz`, one array per input, axis 0 = samples).
    pub calib: Option<std::path::PathBuf>,
    /// How ranges are chosen.
    pub method: calibrate::Method,
    /// Use at most this many calibration samples.
    pub max_samples: usize,
    /// Show progress bars.
    pub progress: bool,
    /// Equalize per-channel activation ranges between ReLU convolutions and depthwise ones.
    pub equalize: bool,
}

#[cfg(feature = "onnx")]
impl Default for Options {
    fn default() -> Self {
        Options {
            input_shapes: HashMap::new(),
            calib: None,
            method: calibrate::Method::Mse,
            max_samples: 1000,
            progress: false,
            equalize: true,
        }
    }
}

#[cfg(feature = "onnx")]
/// Everything the quantizer produced.
pub struct Quantized {
    /// The `.mote` file bytes.
    pub bytes: Vec<u8>,
    /// The float graph after passes.
    pub graph: graph::Graph,
    /// The int8 graph.
    pub qgraph: lower::QGraph,
    /// The memory plan.
    pub plan: plan::Plan,
    /// Whether calibration used synthetic data (no `--calib`).
    pub synthetic_calibration: bool,
}

#[cfg(feature = "onnx")]
/// Deterministic synthetic samples (standard normal) for when no calibration data is given.
pub fn synthetic_samples(inputs: &[(String, Vec<usize>)], n: usize) -> host::Samples {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            inputs
                .iter()
                .map(|(_, s)| {
                    (0..s.iter().product::<usize>())
                        .map(|_| {
                            ((-2.0 * uniform().ln()).sqrt()
                                * (2.0 * std::f64::consts::PI * uniform()).cos())
                                as f32
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[cfg(feature = "onnx")]
/// Quantize an ONNX file.
pub fn quantize_file(path: &Path, opts: &Options) -> Result<Quantized> {
    let fm = float_model::FloatModel::load(path, &opts.input_shapes)?;
    let mut g = import::import(&fm).with_context(|| format!("{}", path.display()))?;
    passes::run_all(&mut g).with_context(|| format!("{}", path.display()))?;
    let (samples, synthetic) = match &opts.calib {
        Some(c) => {
            let (mut s, _) = host::read_samples(c, &fm.inputs)?;
            s.truncate(opts.max_samples);
            (s, false)
        }
        None => (synthetic_samples(&fm.inputs, 16), true),
    };
    let mut ranges = calibrate::calibrate(&fm, &g, &samples, opts.method, opts.progress)?;
    if opts.equalize {
        passes::equalize::run(&mut g, &fm, &samples, &mut ranges, opts.method)?;
    }
    let qgraph = lower::lower(&g, &ranges).with_context(|| format!("{}", path.display()))?;
    let plan = plan::plan(&qgraph, &plan::scratch_sizes(&qgraph));
    let bytes = writer::write(&qgraph, &plan)?;
    mote::Model::parse(&bytes).context("internal error: the written model does not validate")?;
    Ok(Quantized {
        bytes,
        graph: g,
        qgraph,
        plan,
        synthetic_calibration: synthetic,
    })
}

#[cfg(feature = "onnx")]
pub mod eval;
