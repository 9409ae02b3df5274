//! The float reference: the ONNX model run by tract, with any intermediate value observable by
//! its ONNX name. Used for constant folding, shapes, calibration and accuracy reports.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// A loaded ONNX model with fixed input shapes.
pub struct FloatModel {
    /// The parsed protobuf (graph structure, attributes).
    pub proto: ModelProto,
    typed: TypedModel,
    /// Graph input names and their fixed shapes, in order.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Graph output names, in order.
    pub outputs: Vec<String>,
    /// Directory of the model file (for external data).
    pub model_dir: Option<String>,
}

/// Parse `NAME=d0,d1,...` as given to `--input-shape`.
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("--input-shape '{s}': expected NAME=d0,d1,..."))?;
    let dims = dims
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .map_err(|_| anyhow!("--input-shape '{s}': '{d}' is not a dimension"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((name.to_string(), dims))
}

impl FloatModel {
    /// Load an ONNX file; `shapes` fixes dynamic input dimensions by input name.
    pub fn load(path: &Path, shapes: &HashMap<String, Vec<usize>>) -> Result<FloatModel> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| anyhow!("{}: not a readable ONNX model: {e}", path.display()))?;
        let graph = proto.graph.as_ref().context("ONNX model has no graph")?;
        let initializers: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let mut inputs = Vec::new();
        for inp in graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
        {
            let dims = onnx_dims(inp);
            let shape = match shapes.get(&inp.name) {
                Some(s) => {
                    if dims.len() != s.len() {
                        bail!("--input-shape {}: the model's input '{}' has rank {}, not {}", inp.name, inp.name, dims.len(), s.len());
                    }
                    s.clone()
                }
                None => dims
                    .iter()
                    .enumerate()
                    .map(|(i, d)| match d {
                        Some(v) if *v > 0 => Ok(*v as usize),
                        _ if i == 0 => Ok(1),
                        _ => Err(anyhow!(
                            "input '{}' has dynamic dimensions {}; fix them with --input-shape {}=d0,d1,...",
                            inp.name,
                            fmt_dims(&dims),
                            inp.name
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            inputs.push((inp.name.clone(), shape));
        }
        for name in shapes.keys() {
            if !inputs.iter().any(|(n, _)| n == name) {
                bail!(
                    "--input-shape names '{name}', but the model's inputs are: {}",
                    inputs
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let outputs = graph.output.iter().map(|o| o.name.clone()).collect();
        let mut model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| anyhow!("{}: tract cannot import the model: {e:?}", path.display()))?;
        for (i, (_, shape)) in inputs.iter().enumerate() {
            model.set_input_fact(i, f32::fact(shape).into())?;
        }
        let typed = model
            .into_typed()
            .map_err(|e| anyhow!("{}: shape inference failed: {e:?}", path.display()))?;
        let model_dir = path.parent().map(|p| p.to_string_lossy().to_string());
        Ok(FloatModel {
            proto,
            typed,
            inputs,
            outputs,
            model_dir,
        })
    }

    fn outlet(&self, name: &str) -> Option<OutletId> {
        self.typed.find_outlet_label(name).or_else(|| {
            self.typed
                .node_by_name(name)
                .ok()
                .map(|n| OutletId::new(n.id, 0))
        })
    }

    /// Whether tract knows a value by this name.
    pub fn has_value(&self, name: &str) -> bool {
        self.outlet(name).is_some()
    }

    /// Median latency in milliseconds of tract's optimised plan for this model on `inputs`
    /// (single thread), over `iterations` runs after one warm-up: the float peer of
    /// `mote bench`.
    pub fn bench_optimized(&self, inputs: &[Vec<f32>], iterations: usize) -> Result<f64> {
        let plan = self
            .typed
            .clone()
            .into_optimized()
            .map_err(|e| anyhow!("tract cannot optimise the model: {e:?}"))?
            .into_runnable()?;
        let feed = || -> Result<TVec<TValue>> {
            let mut tv = TVec::new();
            for (data, (_, shape)) in inputs.iter().zip(&self.inputs) {
                tv.push(Tensor::from_shape(shape, data)?.into());
            }
            Ok(tv)
        };
        plan.run(feed()?)
            .map_err(|e| anyhow!("tract inference failed: {e:?}"))?;
        let mut times = Vec::with_capacity(iterations.max(1));
        for _ in 0..iterations.max(1) {
            let tv = feed()?;
            let t = std::time::Instant::now();
            plan.run(tv)
                .map_err(|e| anyhow!("tract inference failed: {e:?}"))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Ok(times[times.len() / 2])
    }

    /// A runner that returns the named values (any ONNX value name: inputs, outputs,
    /// intermediates, initializers).
    pub fn runner(&self, names: &[String]) -> Result<FloatRunner> {
        let mut outlets = Vec::new();
        for n in names {
            outlets.push(
                self.outlet(n)
                    .ok_or_else(|| anyhow!("the float model has no value named '{n}'"))?,
            );
        }
        let mut m = self.typed.clone();
        m.select_output_outlets(&outlets)?;
        let plan = m.into_runnable()?;
        Ok(FloatRunner {
            plan,
            names: names.to_vec(),
            shapes: self.inputs.iter().map(|i| i.1.clone()).collect(),
        })
    }
}

/// Runs the float model for a fixed set of observed values.
pub struct FloatRunner {
    plan: std::sync::Arc<TypedSimplePlan>,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
}

/// A float tensor: shape and row-major values.
#[derive(Debug, Clone)]
pub struct FloatTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values (integers converted to f32).
    pub data: Vec<f32>,
}

impl FloatTensor {
    /// Convert a tract tensor (any numeric type) to f32.
    pub fn from_tract(t: &Tensor) -> FloatTensor {
        let data = match t.cast_to::<f32>() {
            Ok(c) => c
                .to_plain_array_view::<f32>()
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        FloatTensor {
            shape: t.shape().to_vec(),
            data,
        }
    }
}

/// Load an ONNX `TensorProto` (initializer or `Constant` value) as f32.
pub fn load_constant(
    t: &tract_onnx::pb::TensorProto,
    model_dir: Option<&str>,
) -> Result<FloatTensor> {
    let t = tract_onnx::tensor::load_tensor(
        &tract_onnx::data_resolver::FopenDataResolver,
        t,
        model_dir,
    )
    .map_err(|e| anyhow!("cannot load constant '{}': {e}", t.name))?;
    Ok(FloatTensor::from_tract(&t))
}

impl FloatRunner {
    /// Run on one sample per input (each slice holds exactly one input's elements).
    pub fn run(&self, inputs: &[&[f32]]) -> Result<HashMap<String, FloatTensor>> {
        let mut tv = TVec::new();
        for (data, shape) in inputs.iter().zip(&self.shapes) {
            tv.push(Tensor::from_shape(shape, data)?.into());
        }
        let out = self
            .plan
            .run(tv)
            .map_err(|e| anyhow!("float inference failed: {e:?}"))?;
        let mut map = HashMap::new();
        for (name, t) in self.names.iter().zip(out) {
            map.insert(name.clone(), FloatTensor::from_tract(&t.into_tensor()));
        }
        Ok(map)
    }
}

fn onnx_dims(v: &tract_onnx::pb::ValueInfoProto) -> Vec<Option<i64>> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    use tract_onnx::pb::type_proto::Value as TV;
    let Some(TV::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let Some(shape) = &t.shape else { return vec![] };
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) => Some(*v),
            _ => None,
        })
        .collect()
}

fn fmt_dims(d: &[Option<i64>]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|x| {
            x.filter(|v| *v > 0)
                .map(|v| v.to_string())
                .unwrap_or("?".into())
        })
        .collect();
    format!("[{}]", parts.join(", "))
}
