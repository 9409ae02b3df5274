//! Bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
//! Correction", 2019): rounding weights to int8 shifts each output channel's mean by
//! `Σ (scale·Wq - W) · E[x]`. We measure `E[x]` per input channel on the int8 model itself
//! (calibration samples) and subtract the shift from the int32 bias. Depthwise convolutions,
//! with few taps per channel, benefit most.

use crate::host::Samples;
use crate::lower::QGraph;
use anyhow::Result;
use mote::{DType, Interpreter, Model};
use std::collections::HashMap;

/// Correct every conv/FC bias; `write` turns the graph into model bytes.
pub fn run(
    q: &mut QGraph,
    samples: &Samples,
    write: impl Fn(&QGraph) -> Result<Vec<u8>>,
) -> Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    // input tensor → its per-channel (last axis) sums
    let watched: HashMap<usize, ()> = q
        .ops
        .iter()
        .filter(|o| o.weight_error.is_some())
        .map(|o| (o.inputs[0], ()))
        .collect();
    let names: HashMap<String, usize> = q
        .tensors
        .iter()
        .enumerate()
        .filter(|(i, t)| watched.contains_key(i) && t.dtype == DType::I8)
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let bytes = write(q)?;
    let model = Model::parse(&bytes)?;
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut interp = Interpreter::new(model, &mut arena)?;
    let mut sums: HashMap<usize, (Vec<f64>, usize)> = HashMap::new();
    for s in samples {
        for (k, x) in s.iter().enumerate() {
            interp.set_input_f32(k, x)?;
        }
        interp.invoke_observed(|_, info, bytes| {
            let Some(&t) = model.name_of(info).and_then(|n| names.get(n)) else {
                return;
            };
            if info.dtype != DType::I8 || info.rank == 0 {
                return;
            }
            let ch = info.dims[info.rank as usize - 1] as usize;
            let e = sums.entry(t).or_insert_with(|| (vec![0.0; ch], 0));
            for (i, &b) in bytes.iter().enumerate() {
                e.0[i % ch] += ((b as i8 as i32 - info.zero_point) as f32 * info.scale) as f64;
            }
            e.1 += bytes.len() / ch.max(1);
        })?;
    }
    for op in &q.ops {
        let Some(we) = &op.weight_error else { continue };
        let Some((sum, count)) = sums.get(&op.inputs[0]) else {
            continue;
        };
        let mean: Vec<f64> = sum.iter().map(|s| s / (*count).max(1) as f64).collect();
        let bias = q.tensors[op.inputs[2]].data.clone().unwrap_or_default();
        let mut fixed = bias.clone();
        for (c, acc_scale) in we.acc_scale.iter().enumerate() {
            let g0 = (c / we.out_per_group) * we.per_group;
            let shift: f64 = (0..we.per_group)
                .map(|i| we.delta[c * we.per_group + i] * mean.get(g0 + i).copied().unwrap_or(0.0))
                .sum();
            if *acc_scale <= 0.0 || 4 * c + 4 > bias.len() {
                continue;
            }
            let old = i32::from_le_bytes([
                bias[4 * c],
                bias[4 * c + 1],
                bias[4 * c + 2],
                bias[4 * c + 3],
            ]) as i64;
            let new = (old - (shift / acc_scale).round() as i64)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            fixed[4 * c..4 * c + 4].copy_from_slice(&new.to_le_bytes());
        }
        q.tensors[op.inputs[2]].data = Some(fixed);
    }
    Ok(())
}
