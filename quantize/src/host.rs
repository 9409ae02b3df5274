//! Host helpers shared by the CLI and the tests: samples from `.npz` files and running a
//! `.mote` model on them.

use crate::npz::NamedArray;
use anyhow::{anyhow, bail, Context, Result};
use mote::{DType, Interpreter, Model};
use std::path::Path;

/// Samples for a model: `samples[i][k]` is sample `i` of input `k`, flattened.
pub type Samples = Vec<Vec<Vec<f32>>>;

/// Array names allowed in an input file besides the model's inputs.
pub const LABELS: &str = "labels";

/// Split `.npz` arrays into per-sample inputs for `inputs` (name, shape). Axis 0 indexes samples;
/// each sample must have the input's element count. Returns the samples and the labels array if
/// present.
pub fn samples_from_arrays(
    file: &Path,
    arrays: &[NamedArray],
    inputs: &[(String, Vec<usize>)],
) -> Result<(Samples, Option<Vec<f32>>)> {
    let names: Vec<&str> = inputs.iter().map(|i| i.0.as_str()).collect();
    for a in arrays {
        if a.name != LABELS && !names.contains(&a.name.as_str()) {
            bail!(
                "{}: array '{}' does not name a model input (model inputs: {}; an optional '{LABELS}' array may hold class labels)",
                file.display(),
                a.name,
                names.join(", ")
            );
        }
    }
    let mut per_input = Vec::new();
    let mut count: Option<usize> = None;
    for (name, shape) in inputs {
        let a = arrays.iter().find(|a| &a.name == name).ok_or_else(|| {
            anyhow!(
                "{}: no array named '{name}' (the model's inputs are: {}; the file has: {})",
                file.display(),
                names.join(", "),
                arrays
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let want: usize = shape.iter().product();
        let n = a.samples();
        let per = if a.shape.is_empty() {
            1
        } else {
            a.data.len() / n.max(1)
        };
        if per != want || n == 0 {
            bail!(
                "{}: array '{name}' has shape {:?}: each sample along axis 0 has {per} elements, but input '{name}' has shape {shape:?} ({want} elements)",
                file.display(),
                a.shape
            );
        }
        if let Some(c) = count.filter(|&c| c != n) {
            bail!(
                "{}: arrays disagree on the number of samples ({c} vs {n} in '{name}')",
                file.display()
            );
        }
        count = Some(n);
        per_input.push(a);
    }
    let n = count.unwrap_or(0);
    let samples = (0..n)
        .map(|i| per_input.iter().map(|a| a.sample(i).to_vec()).collect())
        .collect();
    let labels = arrays
        .iter()
        .find(|a| a.name == LABELS)
        .map(|a| a.data.clone());
    if let Some(l) = &labels {
        if l.len() != n {
            bail!(
                "{}: '{LABELS}' has {} entries for {n} samples",
                file.display(),
                l.len()
            );
        }
    }
    Ok((samples, labels))
}

/// Read samples for `inputs` from an `.npz` file.
pub fn read_samples(
    file: &Path,
    inputs: &[(String, Vec<usize>)],
) -> Result<(Samples, Option<Vec<f32>>)> {
    let arrays = crate::npz::read_npz(file)?;
    samples_from_arrays(file, &arrays, inputs)
}

/// Inputs of a `.mote` model as (name, shape).
pub fn model_inputs(model: &Model<'_>) -> Result<Vec<(String, Vec<usize>)>> {
    (0..model.num_inputs())
        .map(|i| {
            let t = model.input_index(i);
            let info = model.tensor(t)?;
            if info.dtype != DType::F32 {
                bail!("input {i} is not f32");
            }
            Ok((
                model.tensor_name(t).unwrap_or("input").to_string(),
                info.shape().iter().map(|&d| d as usize).collect(),
            ))
        })
        .collect()
}

/// Outputs of a `.mote` model as (name, shape).
pub fn model_outputs(model: &Model<'_>) -> Result<Vec<(String, Vec<usize>)>> {
    (0..model.num_outputs())
        .map(|i| {
            let t = model.output_index(i);
            let info = model.tensor(t)?;
            Ok((
                model.tensor_name(t).unwrap_or("output").to_string(),
                info.shape().iter().map(|&d| d as usize).collect(),
            ))
        })
        .collect()
}

/// Run a model on every sample; returns `outputs[i][k]` = output `k` of sample `i`.
pub fn run_samples(model: &Model<'_>, samples: &Samples) -> Result<Samples> {
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut interp = Interpreter::new(*model, &mut arena)?;
    let outs = model_outputs(model)?;
    let mut all = Vec::with_capacity(samples.len());
    for s in samples {
        for (k, x) in s.iter().enumerate() {
            interp.set_input_f32(k, x).context("setting input")?;
        }
        interp.invoke()?;
        let mut o = Vec::new();
        for (k, (_, shape)) in outs.iter().enumerate() {
            let mut v = vec![0f32; shape.iter().product()];
            interp.output_f32(k, &mut v)?;
            o.push(v);
        }
        all.push(o);
    }
    Ok(all)
}
