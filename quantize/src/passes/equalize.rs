//! Activation equalization between a convolution with a fused ReLU and the convolution that is
//! its only consumer (cross-layer equalization, Nagel et al. 2019, aimed at activations).
//!
//! Activations get one scale per tensor, so a channel whose values span a tenth of the tensor's
//! range keeps only a tenth of the 256 levels. Scaling channel `c` of the intermediate tensor by
//! `k_c` (multiplying the producer's output channel, dividing the consumer's taps that read
//! channel `c`) leaves the network's function unchanged, because `relu(k·x) = k·relu(x)` for
//! `k > 0`. The producer is quantized per output channel, so it loses nothing. A depthwise
//! consumer is quantized per channel along the same axis, so it loses nothing either and the
//! channels are equalized fully (`k_c = r_max / r_c`); a full convolution pays on its input
//! axis, so it gets the geometric compromise `k_c = sqrt(r_max / r_c)`. The equalized tensor
//! gets a range of its own, from its own histogram, with the calibration method in use.

use crate::calibrate::{bin_of, range_from_histogram, Method, Ranges, HISTOGRAM_BINS};
use crate::float_model::{FloatModel, FloatRunner};
use crate::graph::{Act, Graph, Op};
use crate::host::Samples;
use anyhow::Result;

/// Largest per-channel factor: dead channels are not blown up without bound.
const MAX_FACTOR: f32 = 64.0;

/// Find producer/consumer pairs, measure per-channel maxima on `samples`, rescale; returns how
/// many tensors were equalized.
pub fn run(
    g: &mut Graph,
    fm: &FloatModel,
    samples: &Samples,
    ranges: &mut Ranges,
    method: Method,
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
            let depthwise = *groups == channels && dw[0] == channels && dw[1] == 1;
            if depthwise || (*groups == 1 && dw[1] == channels) {
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
    let channels: Vec<usize> = pairs.iter().map(|p| p.2).collect();
    visit_channels(&runner, samples, &names, &channels, |k, ch, v| {
        maxima[k][ch] = maxima[k][ch].max(v.abs());
    })?;
    // Depthwise consumers are quantized per channel along the scaled axis: full equalization is
    // free. A full convolution sees the factor on its input axis, which coarsens its weights'
    // relative rounding: meet halfway (geometric mean), as cross-layer equalization does.
    let depthwise: Vec<bool> = pairs
        .iter()
        .map(|&(_, d, c)| matches!(g.nodes[d].op, Op::Conv { groups, .. } if groups == c && c > 1))
        .collect();
    let factors: Vec<Vec<f32>> = maxima
        .iter()
        .zip(&depthwise)
        .map(|(m, &dw)| {
            let r_max = m.iter().cloned().fold(0f32, f32::max);
            m.iter()
                .map(|&r| {
                    if r > 0.0 && r_max > 0.0 {
                        (r_max / r).min(MAX_FACTOR)
                    } else {
                        1.0
                    }
                })
                .map(|f| if dw { f } else { f.sqrt() })
                .collect()
        })
        .collect();
    // The equalized tensors get ranges of their own, from their own distribution.
    let widest: Vec<f32> = maxima
        .iter()
        .zip(&factors)
        .map(|(m, f)| m.iter().zip(f).map(|(r, k)| r * k).fold(0f32, f32::max))
        .collect();
    let mut hist = vec![vec![0u64; HISTOGRAM_BINS]; pairs.len()];
    if method != Method::MinMax {
        visit_channels(&runner, samples, &names, &channels, |k, ch, v| {
            hist[k][bin_of(v * factors[k][ch], 0.0, widest[k])] += 1;
        })?;
    }
    for (k, &(p, d, c)) in pairs.iter().enumerate() {
        if widest[k] <= 0.0 {
            continue;
        }
        let f = &factors[k];
        if let Op::Conv {
            w, bias, w_shape, ..
        } = &mut g.nodes[p].op
        {
            let per = w_shape[1] * w_shape[2] * w_shape[3];
            for ch in 0..c {
                w[ch * per..(ch + 1) * per]
                    .iter_mut()
                    .for_each(|v| *v *= f[ch]);
                bias[ch] *= f[ch];
            }
        }
        if let Op::Conv { w, w_shape, .. } = &mut g.nodes[d].op {
            // weights [Co, Ci/groups, KH, KW]: divide the taps that read channel ch
            let taps = w_shape[2] * w_shape[3];
            for o in 0..w_shape[0] {
                for i in 0..w_shape[1] {
                    let ch = if depthwise[k] { o } else { i };
                    let start = (o * w_shape[1] + i) * taps;
                    w[start..start + taps].iter_mut().for_each(|v| *v /= f[ch]);
                }
            }
        }
        // The tensor now differs from the ONNX value: rename it so reports do not compare the two.
        let old = g.nodes[p].output.clone();
        let new = format!("{old}#eq");
        let range =
            range_from_histogram(method, &hist[k], 0.0, widest[k]).unwrap_or((0.0, widest[k]));
        ranges.insert(new.clone(), range);
        if let Some(s) = g.shapes.get(&old).cloned() {
            g.shapes.insert(new.clone(), s);
        }
        g.nodes[p].output = new.clone();
        g.nodes[d].inputs[0] = new;
    }
    Ok(pairs.len())
}

/// Run the float model on every sample and call `f(k, channel, value)` for every value of the
/// observed NCHW tensors `names[k]` (which have `channels[k]` channels).
fn visit_channels(
    runner: &FloatRunner,
    samples: &Samples,
    names: &[String],
    channels: &[usize],
    mut f: impl FnMut(usize, usize, f32),
) -> Result<()> {
    for s in samples {
        let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
        let vals = runner.run(&refs)?;
        for (k, name) in names.iter().enumerate() {
            let t = &vals[name];
            let inner: usize = t.shape[2..].iter().product();
            for (i, &v) in t.data.iter().enumerate() {
                f(k, (i / inner.max(1)) % channels[k], v);
            }
        }
    }
    Ok(())
}
