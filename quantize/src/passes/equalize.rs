//! Activation equalization between a convolution with a ReLU (or no activation... only ReLU:
//! it is positively homogeneous) and the depthwise convolution that is its only consumer.
//!
//! Activations get one scale per tensor, so a channel whose values span a tenth of the tensor's
//! range keeps only a tenth of the 256 levels. Scaling channel `c` of the intermediate tensor by
//! `k_c = r_max / r_c` (multiplying the producer's output channel, dividing the depthwise
//! filter) leaves the network's function unchanged, because `relu(k·x) = k·relu(x)` for `k > 0`
//! and the depthwise filter sees only its own channel. Both sides are quantized per channel
//! along exactly that axis, so the weights lose nothing, and every channel of the tensor now
//! uses the whole range. (Cross-layer equalization, Nagel et al. 2019, applied to activations.)

use crate::calibrate::Ranges;
use crate::float_model::FloatModel;
use crate::graph::{Act, Graph, Op};
use crate::host::Samples;
use anyhow::Result;

/// Largest per-channel factor: dead channels are not blown up without bound.
const MAX_FACTOR: f32 = 64.0;

/// Find producer/depthwise pairs, measure per-channel maxima on `samples`, rescale.
pub fn run(
    g: &mut Graph,
    fm: &FloatModel,
    samples: &Samples,
    ranges: &mut Ranges,
) -> Result<usize> {
    let mut pairs = Vec::new();
    for (p, n) in g.nodes.iter().enumerate() {
        let Op::Conv {
            act: Act::Relu,
            w_shape,
            ..
        } = &n.op
        else {
            continue;
        };
        let channels = w_shape[0];
        if g.uses(&n.output) != 1 || g.outputs.contains(&n.output) || !fm.has_value(&n.output) {
            continue;
        }
        let Some(d) = g
            .nodes
            .iter()
            .position(|m| m.inputs.first() == Some(&n.output))
        else {
            continue;
        };
        if let Op::Conv {
            groups,
            w_shape: dw,
            ..
        } = &g.nodes[d].op
        {
            if *groups == channels && dw[0] == channels && dw[1] == 1 {
                pairs.push((p, d, channels));
            }
        }
    }
    if pairs.is_empty() || samples.is_empty() {
        return Ok(0);
    }
    let names: Vec<String> = pairs
        .iter()
        .map(|&(p, _, _)| g.nodes[p].output.clone())
        .collect();
    let runner = fm.runner(&names)?;
    let mut maxima: Vec<Vec<f32>> = pairs.iter().map(|&(_, _, c)| vec![0f32; c]).collect();
    for s in samples {
        let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
        let vals = runner.run(&refs)?;
        for (k, name) in names.iter().enumerate() {
            let t = &vals[name];
            let c = pairs[k].2;
            let inner: usize = t.shape[2..].iter().product();
            for (i, &v) in t.data.iter().enumerate() {
                let ch = (i / inner) % c;
                maxima[k][ch] = maxima[k][ch].max(v.abs());
            }
        }
    }
    for (k, &(p, d, c)) in pairs.iter().enumerate() {
        let r_max = maxima[k].iter().cloned().fold(0f32, f32::max);
        if r_max <= 0.0 {
            continue;
        }
        let factors: Vec<f32> = maxima[k]
            .iter()
            .map(|&r| {
                if r > 0.0 {
                    (r_max / r).min(MAX_FACTOR)
                } else {
                    1.0
                }
            })
            .collect();
        if let Op::Conv {
            w, bias, w_shape, ..
        } = &mut g.nodes[p].op
        {
            let per = w_shape[1] * w_shape[2] * w_shape[3];
            for ch in 0..c {
                w[ch * per..(ch + 1) * per]
                    .iter_mut()
                    .for_each(|v| *v *= factors[ch]);
                bias[ch] *= factors[ch];
            }
        }
        if let Op::Conv { w, w_shape, .. } = &mut g.nodes[d].op {
            let per = w_shape[1] * w_shape[2] * w_shape[3];
            for ch in 0..c {
                w[ch * per..(ch + 1) * per]
                    .iter_mut()
                    .for_each(|v| *v /= factors[ch]);
            }
        }
        // The tensor now differs from the ONNX value: rename it so reports do not compare the
        // two, and give it the range its channels now share.
        let old = g.nodes[p].output.clone();
        let new = format!("{old}#eq");
        let (lo, hi) = ranges.get(&old).copied().unwrap_or((0.0, r_max));
        let widest = maxima[k]
            .iter()
            .zip(&factors)
            .map(|(r, f)| r * f)
            .fold(0f32, f32::max);
        ranges.insert(new.clone(), (lo.min(0.0), widest.max(hi.min(widest))));
        if let Some(s) = g.shapes.get(&old).cloned() {
            g.shapes.insert(new.clone(), s);
        }
        g.nodes[p].output = new.clone();
        g.nodes[d].inputs[0] = new;
    }
    Ok(pairs.len())
}
