//! Calibration: activation ranges observed by running the float model on sample inputs.

use crate::float_model::FloatModel;
use crate::graph::Graph;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;

/// How a range is chosen from the observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// Clip the tails: the given lower/upper percentiles of all values seen (e.g. 99.99).
    Percentile(f64),
    /// The range that minimises the expected squared quantization error (clipping plus
    /// rounding) over the histogram of all values seen.
    Mse,
}

/// A float range per activation value.
pub type Ranges = HashMap<String, (f32, f32)>;

const BINS: usize = 4096;

fn bar(n: usize, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} samples ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// Observe every activation of `g` over `samples` (one `Vec` per graph input per sample).
pub fn calibrate(
    fm: &FloatModel,
    g: &Graph,
    samples: &[Vec<Vec<f32>>],
    method: Method,
    progress: bool,
) -> Result<Ranges> {
    let names = g.activation_values();
    let runner = fm.runner(&names)?;
    let mut ranges: Ranges = HashMap::new();
    let pb = bar(samples.len(), "calibrating", progress);
    for s in samples {
        let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
        let vals = runner.run(&refs)?;
        for (name, t) in vals {
            let r = ranges
                .entry(name)
                .or_insert((f32::INFINITY, f32::NEG_INFINITY));
            for &v in &t.data {
                if v.is_finite() {
                    r.0 = r.0.min(v);
                    r.1 = r.1.max(v);
                }
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    if method != Method::MinMax {
        let mut hist: HashMap<String, Vec<u64>> = ranges
            .keys()
            .map(|k| (k.clone(), vec![0u64; BINS]))
            .collect();
        let pb = bar(samples.len(), "percentiles", progress);
        for s in samples {
            let refs: Vec<&[f32]> = s.iter().map(|v| v.as_slice()).collect();
            for (name, t) in runner.run(&refs)? {
                let (lo, hi) = ranges[&name];
                let h = hist.get_mut(&name).expect("every value has a histogram");
                for &v in t.data.iter().filter(|v| v.is_finite()) {
                    h[bin_of(v, lo, hi)] += 1;
                }
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        for (name, h) in hist {
            let (lo, hi) = ranges[&name];
            if let Some(r) = range_from_histogram(method, &h, lo, hi) {
                ranges.insert(name, r);
            }
        }
    }
    Ok(ranges)
}

/// Number of histogram bins [`range_from_histogram`] expects.
pub const HISTOGRAM_BINS: usize = BINS;

/// Histogram bin of `v` over `[lo, hi]` (clamped into range).
pub fn bin_of(v: f32, lo: f32, hi: f32) -> usize {
    let w = (hi - lo).max(f32::MIN_POSITIVE);
    ((((v - lo) / w) * (BINS as f32 - 1.0)).round().max(0.0) as usize).min(BINS - 1)
}

/// The range `method` picks from a histogram of [`HISTOGRAM_BINS`] bins over `[lo, hi]`; `None`
/// for an empty histogram or for [`Method::MinMax`] (which keeps `[lo, hi]`).
pub fn range_from_histogram(method: Method, h: &[u64], lo: f32, hi: f32) -> Option<(f32, f32)> {
    let total: u64 = h.iter().sum();
    if total == 0 {
        return None;
    }
    let p = match method {
        Method::MinMax => return None,
        Method::Mse => return Some(mse_range(h, lo, hi)),
        Method::Percentile(p) => p,
    };
    let tail = ((1.0 - p / 100.0) * total as f64).floor() as u64;
    let bin_value = |b: usize| lo + (hi - lo) * b as f32 / (BINS as f32 - 1.0);
    let (mut acc, mut lo_b) = (0u64, 0usize);
    for (b, &c) in h.iter().enumerate() {
        acc += c;
        if acc > tail {
            lo_b = b;
            break;
        }
    }
    let (mut acc, mut hi_b) = (0u64, BINS - 1);
    for (b, &c) in h.iter().enumerate().rev() {
        acc += c;
        if acc > tail {
            hi_b = b;
            break;
        }
    }
    Some((bin_value(lo_b).max(lo), bin_value(hi_b).min(hi)))
}

/// The `[a, b]` (with `a ≤ 0 ≤ b`) minimising clipping error plus uniform rounding error
/// `step²/12` of 256 levels, over a histogram of `BINS` bins spanning `[lo, hi]`.
fn mse_range(h: &[u64], lo: f32, hi: f32) -> (f32, f32) {
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    if hi - lo <= 0.0 {
        return (lo as f32, hi as f32);
    }
    let n = h.len();
    let width = (hi - lo) / n as f64;
    let center = |b: usize| lo + (b as f64 + 0.5) * width;
    // prefix sums of count, count·v, count·v²
    let (mut c, mut s1, mut s2) = (vec![0f64; n + 1], vec![0f64; n + 1], vec![0f64; n + 1]);
    for b in 0..n {
        let (cnt, v) = (h[b] as f64, center(b));
        c[b + 1] = c[b] + cnt;
        s1[b + 1] = s1[b] + cnt * v;
        s2[b + 1] = s2[b] + cnt * v * v;
    }
    let bin_of = |x: f64| (((x - lo) / width).floor().max(0.0) as usize).min(n);
    let below = |a: f64| {
        let i = bin_of(a);
        s2[i] - 2.0 * a * s1[i] + a * a * c[i]
    };
    let above = |b: f64| {
        let i = bin_of(b).min(n);
        let (cc, ss1, ss2) = (c[n] - c[i], s1[n] - s1[i], s2[n] - s2[i]);
        ss2 - 2.0 * b * ss1 + b * b * cc
    };
    let steps = 200;
    let mut best = (f64::INFINITY, lo, hi);
    for i in 0..=steps {
        let a = lo * (1.0 - i as f64 / steps as f64 * 0.95);
        let ea = below(a);
        for j in 0..=steps {
            let b = hi * (1.0 - j as f64 / steps as f64 * 0.95);
            let step = (b - a) / 255.0;
            let inside = c[bin_of(b).min(n)] - c[bin_of(a)];
            let e = ea + above(b) + inside * step * step / 12.0;
            if e < best.0 {
                best = (e, a, b);
            }
        }
    }
    (best.1 as f32, best.2 as f32)
}
