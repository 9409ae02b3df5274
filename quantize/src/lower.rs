//! Float graph + ranges → int8 runtime ops (NHWC activations, per-channel weights, LUTs).

use crate::calibrate::Ranges;
use crate::graph::{Act, BinOp, Graph, Op};
use anyhow::{anyhow, bail, Result};
use mote::ops::{
    add::AddParams, concat::ConcatParams, conv::ConvParams, fully_connected::FcParams,
    mul::MulParams, pool::PoolParams, softmax, transpose::TransposeParams,
};
use mote::quant::{quantize_multiplier, MAX_SHIFT};
use mote::{DType, Layout as DataLayout, OpCode};
use std::collections::HashMap;

/// Physical layout of a rank-4 activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// ONNX order (also every tensor of another rank).
    Nchw,
    /// Channels last, what conv and pooling kernels read.
    Nhwc,
}

/// A tensor of the int8 graph.
#[derive(Debug, Clone)]
pub struct QTensor {
    /// Name: the ONNX value name, with `@nhwc` for channels-last copies and `#...` for helpers.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Physical shape.
    pub shape: Vec<usize>,
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
    /// Constant bytes (little-endian); `None` for arena tensors.
    pub data: Option<Vec<u8>>,
    /// Byte order of `data` (blocked for Conv2d and FullyConnected weights).
    pub layout: DataLayout,
}

/// An op of the int8 graph.
#[derive(Debug, Clone)]
pub struct QOp {
    /// What it computes.
    pub opcode: OpCode,
    /// Encoded parameters.
    pub params: Vec<u8>,
    /// Input tensor indices.
    pub inputs: Vec<usize>,
    /// Output tensor indices.
    pub outputs: Vec<usize>,
}

/// The int8 graph before memory planning.
#[derive(Debug, Clone, Default)]
pub struct QGraph {
    /// Tensors.
    pub tensors: Vec<QTensor>,
    /// Ops in execution order.
    pub ops: Vec<QOp>,
    /// Graph inputs (f32).
    pub inputs: Vec<usize>,
    /// Graph outputs (f32).
    pub outputs: Vec<usize>,
}

/// Asymmetric int8 parameters covering `[lo, hi]` (widened to include 0).
pub fn qparams(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if !(hi - lo).is_finite() || hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / 255.0;
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zp)
}

fn quant(x: f32, scale: f32, zp: i32) -> i32 {
    mote::quant::quantize_f32(x, 1.0 / scale, zp) as i32
}

/// The 256-entry int8 table of `f`, from input quantization `(scale, zero point)` to output's.
fn lut_table(
    (in_scale, in_zp): (f32, i32),
    (out_scale, out_zp): (f32, i32),
    f: impl Fn(f32) -> f32,
) -> Vec<u8> {
    (-128i32..=127)
        .map(|q| quant(f((q - in_zp) as f32 * in_scale), out_scale, out_zp) as u8)
        .collect()
}

fn act_range(act: Act, scale: f32, zp: i32) -> (i8, i8) {
    match act {
        Act::None => (-128, 127),
        Act::Relu => (zp.clamp(-128, 127) as i8, 127),
        Act::Clip(lo, hi) => {
            let lo = if lo.is_finite() {
                quant(lo, scale, zp)
            } else {
                -128
            };
            let hi = if hi.is_finite() {
                quant(hi, scale, zp)
            } else {
                127
            };
            (lo as i8, hi.max(lo) as i8)
        }
    }
}

fn multiplier(real: f64, what: &str) -> Result<(i32, i32)> {
    quantize_multiplier(real).ok_or_else(|| {
        anyhow!("{what}: requantization factor {real:e} is out of range (max 2^{MAX_SHIFT})")
    })
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Per-output-channel symmetric int8 weights: returns (quantized, scales). `w` is `[channels, per]`.
///
/// Each channel's scale is the one, among `max|w|/127` shrunk by up to 30%, that minimises the
/// squared rounding-plus-clipping error of that channel: one outlier weight then no longer
/// coarsens all the others.
pub fn quantize_weights(w: &[f32], channels: usize) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / channels.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(channels);
    for c in 0..channels {
        let row = &w[c * per..(c + 1) * per];
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = |s: f32| {
            row.iter()
                .map(|v| (v - (v / s).round().clamp(-127.0, 127.0) * s).powi(2))
                .sum::<f32>()
        };
        let s = if max > 0.0 {
            (0..=30)
                .map(|i| max * (1.0 - i as f32 / 100.0) / 127.0)
                .fold((f32::INFINITY, max / 127.0), |best, s| {
                    let e = err(s);
                    if e < best.0 {
                        (e, s)
                    } else {
                        best
                    }
                })
                .1
        } else {
            1.0
        };
        scales.push(s);
        q.extend(
            row.iter()
                .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

struct Lowerer<'g> {
    g: &'g Graph,
    q: QGraph,
    qp: HashMap<String, (f32, i32)>,
    have: HashMap<(String, Layout), usize>,
}

impl<'g> Lowerer<'g> {
    fn tensor(&mut self, t: QTensor) -> usize {
        self.q.tensors.push(t);
        self.q.tensors.len() - 1
    }

    fn op(&mut self, opcode: OpCode, params: Vec<u8>, inputs: Vec<usize>, outputs: Vec<usize>) {
        self.q.ops.push(QOp {
            opcode,
            params,
            inputs,
            outputs,
        });
    }

    /// Store weight constant `t` (`[rows, ...]` int8, row-major) in the blocked layout the
    /// runtime's Conv2d and FullyConnected read ([`mote::blocked`]).
    fn block_weights(&mut self, t: usize) {
        let q = &mut self.q.tensors[t];
        let rows = q.shape[0];
        let shape = mote::blocked::Blocked {
            rows,
            k: q.shape.iter().product::<usize>() / rows.max(1),
        };
        let dense: Vec<i8> = q
            .data
            .as_ref()
            .expect("weights are constant")
            .iter()
            .map(|&v| v as i8)
            .collect();
        let mut packed = vec![0i8; shape.byte_len().expect("weights fit memory")];
        shape.pack(&dense, &mut packed);
        q.data = Some(packed.iter().map(|&v| v as u8).collect());
        q.layout = DataLayout::Blocked;
    }

    fn const_tensor(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        data: Vec<u8>,
    ) -> usize {
        self.tensor(QTensor {
            name,
            dtype,
            shape,
            scale: 0.0,
            zero_point: 0,
            data: Some(data),
            layout: DataLayout::Dense,
        })
    }

    fn activation(
        &mut self,
        name: &str,
        layout: Layout,
        shape: Vec<usize>,
        (scale, zp): (f32, i32),
    ) -> usize {
        let tname = if layout == Layout::Nhwc {
            format!("{name}@nhwc")
        } else {
            name.to_string()
        };
        let t = self.tensor(QTensor {
            name: tname,
            dtype: DType::I8,
            shape,
            scale,
            zero_point: zp,
            data: None,
            layout: DataLayout::Dense,
        });
        self.have.insert((name.to_string(), layout), t);
        t
    }

    fn logical_shape(&self, v: &str) -> Vec<usize> {
        self.g.shapes.get(v).cloned().unwrap_or_default()
    }

    fn layouts_available(&self, v: &str) -> Option<Layout> {
        [Layout::Nhwc, Layout::Nchw]
            .into_iter()
            .find(|l| self.have.contains_key(&(v.to_string(), *l)))
    }

    /// The int8 tensor holding `v` in `want` layout, inserting a transpose (or a free reshape
    /// when the bytes coincide) when it exists only in the other layout.
    fn get(&mut self, v: &str, want: Layout) -> Result<usize> {
        if let Some(&t) = self.have.get(&(v.to_string(), want)) {
            return Ok(t);
        }
        if let Some(c) = self.g.consts.get(v) {
            // A constant operand of Add/Mul: per-tensor asymmetric int8 in the wanted layout.
            let (lo, hi) = c
                .data
                .iter()
                .fold((0.0f32, 0.0f32), |(a, b), &x| (a.min(x), b.max(x)));
            let (scale, zp) = qparams(lo, hi);
            let (shape, data) = match want {
                Layout::Nchw => (c.shape.clone(), c.data.clone()),
                Layout::Nhwc => {
                    let mut s4 = vec![1usize; 4usize.saturating_sub(c.shape.len())];
                    s4.extend(&c.shape);
                    let (n, ch, h, w) = (s4[0], s4[1], s4[2], s4[3]);
                    let mut d = Vec::with_capacity(c.data.len());
                    for b in 0..n {
                        for y in 0..h {
                            for x in 0..w {
                                for k in 0..ch {
                                    d.push(c.data[((b * ch + k) * h + y) * w + x]);
                                }
                            }
                        }
                    }
                    (vec![n, h, w, ch], d)
                }
            };
            let bytes = data.iter().map(|&x| quant(x, scale, zp) as u8).collect();
            let t = self.tensor(QTensor {
                name: format!("{v}#q"),
                dtype: DType::I8,
                shape,
                scale,
                zero_point: zp,
                data: Some(bytes),
                layout: DataLayout::Dense,
            });
            self.have.insert((v.to_string(), want), t);
            return Ok(t);
        }
        let from = match want {
            Layout::Nchw => Layout::Nhwc,
            Layout::Nhwc => Layout::Nchw,
        };
        let src = *self
            .have
            .get(&(v.to_string(), from))
            .ok_or_else(|| anyhow!("internal: value '{v}' was not computed before use"))?;
        let logical = self.logical_shape(v);
        let qpv = (self.q.tensors[src].scale, self.q.tensors[src].zero_point);
        let mut l4 = vec![1usize; 4usize.saturating_sub(logical.len())];
        l4.extend(&logical);
        if l4.len() != 4 {
            bail!("value '{v}' of rank {} cannot change layout", logical.len());
        }
        let (n, c, h, w) = (l4[0], l4[1], l4[2], l4[3]);
        let (shape, perm) = match want {
            Layout::Nhwc => (vec![n, h, w, c], [0u8, 2, 3, 1]),
            Layout::Nchw => (l4.clone(), [0u8, 3, 1, 2]),
        };
        let dst = self.activation(v, want, shape, qpv);
        let src_rank = self.q.tensors[src].shape.len();
        if h * w == 1 || c == 1 || src_rank != 4 {
            if src_rank != 4 && h * w != 1 && c != 1 {
                // lift to rank 4 first, then transpose
                let lifted = self.tensor(QTensor {
                    name: format!("{v}#4d"),
                    shape: l4.clone(),
                    ..self.q.tensors[src].clone()
                });
                self.op(OpCode::Reshape, vec![], vec![src], vec![lifted]);
                let p = TransposeParams {
                    rank: 4,
                    perm: [perm[0], perm[1], perm[2], perm[3], 0, 0],
                };
                self.op(
                    OpCode::Transpose,
                    p.encode().to_vec(),
                    vec![lifted],
                    vec![dst],
                );
            } else {
                self.op(OpCode::Reshape, vec![], vec![src], vec![dst]);
            }
        } else {
            let p = TransposeParams {
                rank: 4,
                perm: [perm[0], perm[1], perm[2], perm[3], 0, 0],
            };
            self.op(OpCode::Transpose, p.encode().to_vec(), vec![src], vec![dst]);
        }
        Ok(dst)
    }

    fn lower_node(&mut self, i: usize) -> Result<()> {
        let n = &self.g.nodes[i];
        let ctx = |e: anyhow::Error| anyhow!("node '{}' ({}): {e}", n.name, n.onnx_op);
        let out_qp = self.qp[&n.output];
        let out_shape = self.logical_shape(&n.output);
        match &n.op {
            Op::Conv { w, w_shape, bias, stride, dilation, pads, groups, act } => {
                let x = self.get(&n.inputs[0], Layout::Nhwc)?;
                let sx = self.q.tensors[x].scale as f64;
                let [co, cig, kh, kw] = *w_shape;
                let (wq, ws) = quantize_weights(w, co);
                let mut wt = vec![0u8; wq.len()];
                for o in 0..co {
                    for ci in 0..cig {
                        for y in 0..kh {
                            for xx in 0..kw {
                                wt[((o * kh + y) * kw + xx) * cig + ci] = wq[((o * cig + ci) * kh + y) * kw + xx] as u8;
                            }
                        }
                    }
                }
                let (mut bq, rq) = self.bias_and_requant(bias, &ws, sx, out_qp.0 as f64).map_err(ctx)?;
                fold_input_zero_point(&mut bq, &wq, self.q.tensors[x].zero_point);
                let wt_i = self.const_tensor(format!("{}#w", n.output), DType::I8, vec![co, kh, kw, cig], wt);
                if *groups == 1 {
                    self.block_weights(wt_i);
                }
                let b_i = self.const_tensor(format!("{}#b", n.output), DType::I32, vec![co], i32_bytes(&bq));
                let r_i = self.const_tensor(format!("{}#rq", n.output), DType::I32, vec![co, 2], i32_bytes(&rq));
                let (amin, amax) = act_range(*act, out_qp.0, out_qp.1);
                let u16c = |v: usize| u16::try_from(v).map_err(|_| anyhow!("node '{}': parameter {v} too large", n.name));
                let p = ConvParams {
                    stride: [u16c(stride[0])?, u16c(stride[1])?],
                    dilation: [u16c(dilation[0])?, u16c(dilation[1])?],
                    pad: [u16c(pads[0])?, u16c(pads[1])?, u16c(pads[2])?, u16c(pads[3])?],
                    groups: u16c(*groups)?,
                    act_min: amin,
                    act_max: amax,
                };
                let y = self.activation(&n.output, Layout::Nhwc, vec![out_shape[0], out_shape[2], out_shape[3], out_shape[1]], out_qp);
                self.op(OpCode::Conv2d, p.encode().to_vec(), vec![x, wt_i, b_i, r_i], vec![y]);
            }
            Op::Gemm { w, k, m, bias, act } => {
                let x = self.get(&n.inputs[0], Layout::Nchw)?;
                let sx = self.q.tensors[x].scale as f64;
                let mut wt = vec![0f32; k * m];
                for r in 0..*k {
                    for c in 0..*m {
                        wt[c * k + r] = w[r * m + c];
                    }
                }
                let (wq, ws) = quantize_weights(&wt, *m);
                let (mut bq, rq) = self.bias_and_requant(bias, &ws, sx, out_qp.0 as f64).map_err(ctx)?;
                fold_input_zero_point(&mut bq, &wq, self.q.tensors[x].zero_point);
                let w_i = self.const_tensor(format!("{}#w", n.output), DType::I8, vec![*m, *k], wq.iter().map(|&v| v as u8).collect());
                self.block_weights(w_i);
                let b_i = self.const_tensor(format!("{}#b", n.output), DType::I32, vec![*m], i32_bytes(&bq));
                let r_i = self.const_tensor(format!("{}#rq", n.output), DType::I32, vec![*m, 2], i32_bytes(&rq));
                let (amin, amax) = act_range(*act, out_qp.0, out_qp.1);
                let y = self.activation(&n.output, Layout::Nchw, out_shape, out_qp);
                self.op(OpCode::FullyConnected, FcParams { act_min: amin, act_max: amax }.encode().to_vec(), vec![x, w_i, b_i, r_i], vec![y]);
            }
            Op::Binary(op, act) => {
                let nhwc = out_shape.len() == 4 && n.inputs.iter().any(|v| !self.g.is_const(v) && self.layouts_available(v) == Some(Layout::Nhwc));
                let layout = if nhwc { Layout::Nhwc } else { Layout::Nchw };
                let a = self.get(&n.inputs[0], layout)?;
                let b = self.get(&n.inputs[1], layout)?;
                let (sa, sb, sy) = (self.q.tensors[a].scale as f64, self.q.tensors[b].scale as f64, out_qp.0 as f64);
                let (amin, amax) = act_range(*act, out_qp.0, out_qp.1);
                let (opcode, params) = match op {
                    BinOp::Add => {
                        let twice = 2.0 * sa.max(sb);
                        let ls = 20u8;
                        let p = AddParams {
                            a: multiplier(sa / twice, "add input").map_err(ctx)?,
                            b: multiplier(sb / twice, "add input").map_err(ctx)?,
                            out: multiplier(twice / ((1u64 << ls) as f64 * sy), "add output").map_err(ctx)?,
                            left_shift: ls,
                            act_min: amin,
                            act_max: amax,
                        };
                        (OpCode::Add, p.encode().to_vec())
                    }
                    BinOp::Mul => {
                        let p = MulParams { out: multiplier(sa * sb / sy, "mul output").map_err(ctx)?, act_min: amin, act_max: amax };
                        (OpCode::Mul, p.encode().to_vec())
                    }
                    _ => bail!("node '{}': internal: unnormalised binary op", n.name),
                };
                let shape = if nhwc { vec![out_shape[0], out_shape[2], out_shape[3], out_shape[1]] } else { out_shape };
                let y = self.activation(&n.output, layout, shape, out_qp);
                self.op(opcode, params, vec![a, b], vec![y]);
            }
            Op::Unary(e) => {
                let layout = self.layouts_available(&n.inputs[0]).unwrap_or(Layout::Nchw);
                let x = self.get(&n.inputs[0], layout)?;
                let (sx, zx) = (self.q.tensors[x].scale, self.q.tensors[x].zero_point);
                let table = lut_table((sx, zx), out_qp, |v| e.eval(v));
                let shape = self.q.tensors[x].shape.clone();
                let y = self.activation(&n.output, layout, shape, out_qp);
                self.op(OpCode::Lut, table, vec![x], vec![y]);
            }
            Op::MaxPool { kernel, stride, pads } | Op::AvgPool { kernel, stride, pads, .. } => {
                let x = self.get(&n.inputs[0], Layout::Nhwc)?;
                let u16c = |v: usize| u16::try_from(v).map_err(|_| anyhow!("node '{}': pooling parameter {v} too large", n.name));
                let p = PoolParams {
                    kernel: [u16c(kernel[0])?, u16c(kernel[1])?],
                    stride: [u16c(stride[0])?, u16c(stride[1])?],
                    pad: [u16c(pads[0])?, u16c(pads[1])?, u16c(pads[2])?, u16c(pads[3])?],
                    count_include_pad: matches!(n.op, Op::AvgPool { count_include_pad: true, .. }),
                    act_min: -128,
                    act_max: 127,
                    rescale: (0, 0),
                };
                let mut p = p;
                if let Op::AvgPool { count_include_pad, .. } = n.op {
                    if count_include_pad || pads.iter().all(|&v| v == 0) {
                        let xs = &self.q.tensors[x];
                        let window = (kernel[0] * kernel[1]) as f64;
                        p.rescale = multiplier(xs.scale as f64 / (out_qp.0 as f64 * window), "average pool").map_err(ctx)?;
                    }
                }
                let opcode = if matches!(n.op, Op::MaxPool { .. }) { OpCode::MaxPool } else { OpCode::AvgPool };
                let y = self.activation(&n.output, Layout::Nhwc, vec![out_shape[0], out_shape[2], out_shape[3], out_shape[1]], out_qp);
                self.op(opcode, p.encode().to_vec(), vec![x], vec![y]);
            }
            Op::Reshape => {
                let x = self.get(&n.inputs[0], Layout::Nchw)?;
                let y = self.activation(&n.output, Layout::Nchw, out_shape, out_qp);
                self.op(OpCode::Reshape, vec![], vec![x], vec![y]);
            }
            Op::Transpose(perm) => {
                let x = self.get(&n.inputs[0], Layout::Nchw)?;
                if perm.len() > 6 {
                    bail!("node '{}': transpose of rank above 6", n.name);
                }
                let mut pp = [0u8; 6];
                for (d, s) in pp.iter_mut().zip(perm) {
                    *d = *s as u8;
                }
                let y = self.activation(&n.output, Layout::Nchw, out_shape, out_qp);
                self.op(OpCode::Transpose, TransposeParams { rank: perm.len() as u8, perm: pp }.encode().to_vec(), vec![x], vec![y]);
            }
            Op::Concat(axis) => {
                let all_nhwc = out_shape.len() == 4 && n.inputs.iter().all(|v| self.layouts_available(v) == Some(Layout::Nhwc));
                let (layout, ax, shape) = if all_nhwc {
                    (Layout::Nhwc, [0usize, 3, 1, 2][*axis], vec![out_shape[0], out_shape[2], out_shape[3], out_shape[1]])
                } else {
                    (Layout::Nchw, *axis, out_shape.clone())
                };
                let mut ins = Vec::new();
                for v in &n.inputs {
                    let t = self.get(v, layout)?;
                    ins.push(self.requantized(t, out_qp));
                }
                let y = self.activation(&n.output, layout, shape, out_qp);
                self.op(OpCode::Concat, ConcatParams { axis: ax as u8 }.encode().to_vec(), ins, vec![y]);
            }
            Op::Softmax => {
                let x = self.get(&n.inputs[0], Layout::Nchw)?;
                let sx = self.q.tensors[x].scale as f64;
                let table: Vec<i32> = (0..256).map(|d| ((-sx * d as f64).exp() * 65536.0).round() as i32).collect();
                let t = self.const_tensor(format!("{}#exp", n.output), DType::I32, vec![256], i32_bytes(&table));
                let shape = self.q.tensors[x].shape.clone();
                let y = self.activation(&n.output, Layout::Nchw, shape, (softmax::OUTPUT_SCALE, softmax::OUTPUT_ZERO_POINT));
                self.op(OpCode::Softmax, vec![], vec![x, t], vec![y]);
            }
            Op::BatchNorm { .. } => bail!("node '{}' (BatchNormalization): only BatchNormalization right after a Conv is supported", n.name),
        }
        Ok(())
    }

    /// `t` itself when it already has `qp`, else a lookup-table requantization of it.
    fn requantized(&mut self, t: usize, qp: (f32, i32)) -> usize {
        let src = self.q.tensors[t].clone();
        if src.scale == qp.0 && src.zero_point == qp.1 {
            return t;
        }
        let table = lut_table((src.scale, src.zero_point), qp, |v| v);
        let y = self.tensor(QTensor {
            name: format!("{}#rq", src.name),
            scale: qp.0,
            zero_point: qp.1,
            ..src
        });
        self.op(OpCode::Lut, table, vec![t], vec![y]);
        y
    }

    fn bias_and_requant(
        &self,
        bias: &[f32],
        ws: &[f32],
        sx: f64,
        sy: f64,
    ) -> Result<(Vec<i32>, Vec<i32>)> {
        let mut bq = Vec::new();
        let mut rq = Vec::new();
        for (b, &s) in bias.iter().zip(ws) {
            let sb = sx * s as f64;
            bq.push(
                (*b as f64 / sb)
                    .round()
                    .clamp(i32::MIN as f64, i32::MAX as f64) as i32,
            );
            let (m, sh) = multiplier(sb / sy, "output")?;
            rq.push(m);
            rq.push(sh);
        }
        Ok((bq, rq))
    }
}

/// Fold the input zero point into the bias (`bias - x_zp · Σ w` per output channel, wrapping
/// like the kernels' int32 sums), the form Conv2d and FullyConnected store: kernels then sum
/// raw `x · w` products and TFLite's accumulator comes out exactly. `w` holds the channels' rows
/// back to back, in any order within a row.
fn fold_input_zero_point(bias: &mut [i32], w: &[i8], x_zp: i32) {
    let row = w.len() / bias.len().max(1);
    for (b, r) in bias.iter_mut().zip(w.chunks_exact(row)) {
        let sum: i32 = r.iter().map(|&v| v as i32).sum();
        *b = b.wrapping_sub(x_zp.wrapping_mul(sum));
    }
}

/// Choose quantization parameters for every activation: calibrated ranges, except where an op
/// needs its output to share its input's (pooling, reshape, transpose) or has a fixed one
/// (softmax).
fn assign_qparams(g: &Graph, ranges: &Ranges) -> Result<HashMap<String, (f32, i32)>> {
    let mut qp = HashMap::new();
    let range = |v: &str| {
        ranges
            .get(v)
            .copied()
            .ok_or_else(|| anyhow!("no calibration range for value '{v}'"))
    };
    for v in &g.inputs {
        let (lo, hi) = range(v)?;
        qp.insert(v.clone(), qparams(lo, hi));
    }
    for n in &g.nodes {
        let p = match &n.op {
            Op::AvgPool {
                count_include_pad,
                pads,
                ..
            } if *count_include_pad || pads.iter().all(|&v| v == 0) => {
                let (lo, hi) = range(&n.output)?;
                qparams(lo, hi)
            }
            Op::MaxPool { .. } | Op::AvgPool { .. } | Op::Reshape | Op::Transpose(_) => {
                qp.get(&n.inputs[0]).copied().ok_or_else(|| {
                    anyhow!(
                        "node '{}': input '{}' has no quantization",
                        n.name,
                        n.inputs[0]
                    )
                })?
            }
            Op::Softmax => (softmax::OUTPUT_SCALE, softmax::OUTPUT_ZERO_POINT),
            Op::Concat(_) => {
                let (mut lo, mut hi) = range(&n.output)?;
                for v in &n.inputs {
                    if let Some(&(s, z)) = qp.get(v) {
                        lo = lo.min((-128 - z) as f32 * s);
                        hi = hi.max((127 - z) as f32 * s);
                    }
                }
                qparams(lo, hi)
            }
            _ => {
                let (lo, hi) = range(&n.output)?;
                qparams(lo, hi)
            }
        };
        qp.insert(n.output.clone(), p);
    }
    Ok(qp)
}

/// Lower the float graph to int8 ops.
pub fn lower(g: &Graph, ranges: &Ranges) -> Result<QGraph> {
    let qp = assign_qparams(g, ranges)?;
    let mut l = Lowerer {
        g,
        q: QGraph::default(),
        qp,
        have: HashMap::new(),
    };
    for v in &g.inputs {
        let shape = l.logical_shape(v);
        let f = l.tensor(QTensor {
            name: v.clone(),
            dtype: DType::F32,
            shape: shape.clone(),
            scale: 1.0,
            zero_point: 0,
            data: None,
            layout: DataLayout::Dense,
        });
        l.q.inputs.push(f);
        let p = l.qp[v];
        let qn = l.activation(v, Layout::Nchw, shape, p);
        l.q.tensors[qn].name = format!("{v}#q");
        l.op(OpCode::Quantize, vec![], vec![f], vec![qn]);
    }
    for i in 0..g.nodes.len() {
        l.lower_node(i)?;
    }
    for v in &g.outputs {
        let x = l.get(v, Layout::Nchw)?;
        let shape = l.logical_shape(v);
        let f = l.tensor(QTensor {
            name: v.clone(),
            dtype: DType::F32,
            shape,
            scale: 1.0,
            zero_point: 0,
            data: None,
            layout: DataLayout::Dense,
        });
        l.op(OpCode::Dequantize, vec![], vec![x], vec![f]);
        l.q.outputs.push(f);
    }
    Ok(l.q)
}
