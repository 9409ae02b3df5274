//! ONNX → float graph. Constants (initializers, `Constant` nodes, anything computed only from
//! constants or from shapes, which are fixed) are folded by running the model once in tract.

use crate::float_model::{load_constant, FloatModel, FloatTensor};
use crate::graph::{Act, BinOp, Expr, Graph, Node, Op, UnaryFn};
use anyhow::{anyhow, bail, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{AttributeProto, NodeProto};

/// An error naming the ONNX node and op it is about.
pub fn node_error(node: &NodeProto, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("node '{}' ({}): {what}", node_name(node), node.op_type)
}

fn node_name(node: &NodeProto) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        node.output.first().cloned().unwrap_or_default()
    }
}

struct Attrs<'a>(&'a [AttributeProto]);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map(|a| a.i).unwrap_or(default)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map(|a| a.f).unwrap_or(default)
    }
    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).to_string())
    }
}

const SUPPORTED: &str = "Conv, BatchNormalization, MatMul, Gemm, Add, Sub, Mul, Div, Relu, Clip, Sigmoid, Tanh, \
HardSigmoid, HardSwish, LeakyRelu, Elu, Exp, Neg, Abs, Sqrt, Reciprocal, Erf, Softplus, MaxPool, AveragePool, \
GlobalAveragePool, GlobalMaxPool, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Softmax, Identity, Dropout, \
and any op whose inputs are all constants";

/// Import the model into a float graph.
pub fn import(fm: &FloatModel) -> Result<Graph> {
    let graph = fm
        .proto
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("ONNX model has no graph"))?;
    let opset = fm
        .proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(13);
    let mut constant: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    for node in &graph.node {
        let inputs: Vec<&String> = node.input.iter().filter(|s| !s.is_empty()).collect();
        let folds = node.op_type == "Constant"
            || node.op_type == "Shape"
            || (!inputs.is_empty()
                && inputs.iter().all(|i| constant.contains(*i))
                && !node.op_type.starts_with("Random"));
        if folds {
            constant.extend(node.output.iter().cloned());
        }
    }
    // Initializers and Constant nodes are read from the file; everything else is observed by
    // running the model once on a zero input: shapes of all values, values of folded constants.
    let mut loaded: HashMap<String, FloatTensor> = HashMap::new();
    for t in &graph.initializer {
        loaded.insert(t.name.clone(), load_constant(t, fm.model_dir.as_deref())?);
    }
    for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
        let a = Attrs(&node.attribute);
        let v = if let Some(t) = a.get("value").and_then(|v| v.t.as_ref()) {
            load_constant(t, fm.model_dir.as_deref())?
        } else if let Some(v) = a.get("value_float") {
            FloatTensor {
                shape: vec![],
                data: vec![v.f],
            }
        } else if let Some(v) = a.get("value_floats") {
            FloatTensor {
                shape: vec![v.floats.len()],
                data: v.floats.clone(),
            }
        } else if let Some(v) = a.get("value_int") {
            FloatTensor {
                shape: vec![],
                data: vec![v.i as f32],
            }
        } else if let Some(v) = a.get("value_ints") {
            FloatTensor {
                shape: vec![v.ints.len()],
                data: v.ints.iter().map(|&i| i as f32).collect(),
            }
        } else {
            return Err(node_error(node, "unsupported Constant value attribute"));
        };
        loaded.insert(node.output[0].clone(), v);
    }
    let mut names: Vec<String> = fm.inputs.iter().map(|i| i.0.clone()).collect();
    for node in &graph.node {
        for v in node.input.iter().chain(node.output.iter()) {
            if !v.is_empty() && !names.contains(v) && !loaded.contains_key(v) && fm.has_value(v) {
                names.push(v.clone());
            }
        }
    }
    let zeros: Vec<Vec<f32>> = fm
        .inputs
        .iter()
        .map(|(_, s)| vec![0.0; s.iter().product()])
        .collect();
    let zero_refs: Vec<&[f32]> = zeros.iter().map(|z| z.as_slice()).collect();
    let mut values = fm.runner(&names)?.run(&zero_refs)?;
    values.extend(loaded);
    let mut g = Graph {
        shapes: values
            .iter()
            .map(|(k, v)| (k.clone(), v.shape.clone()))
            .collect(),
        consts: values
            .iter()
            .filter(|(k, _)| constant.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        inputs: fm.inputs.iter().map(|i| i.0.clone()).collect(),
        outputs: Vec::new(),
        nodes: Vec::new(),
    };
    let mut alias: HashMap<String, String> = HashMap::new();
    let resolve = |alias: &HashMap<String, String>, v: &str| {
        alias.get(v).cloned().unwrap_or_else(|| v.to_string())
    };
    for node in &graph.node {
        if node
            .output
            .iter()
            .all(|o| o.is_empty() || constant.contains(o))
        {
            continue;
        }
        let inputs: Vec<String> = node
            .input
            .iter()
            .map(|i| {
                if i.is_empty() {
                    String::new()
                } else {
                    resolve(&alias, i)
                }
            })
            .collect();
        if matches!(node.op_type.as_str(), "Identity" | "Dropout") {
            alias.insert(node.output[0].clone(), inputs[0].clone());
            continue;
        }
        let op = convert(node, &inputs, &g, opset)?;
        let data_inputs: Vec<String> = match &op {
            Op::Conv { .. }
            | Op::Gemm { .. }
            | Op::BatchNorm { .. }
            | Op::Reshape
            | Op::Unary(_)
            | Op::MaxPool { .. }
            | Op::AvgPool { .. }
            | Op::Transpose(_)
            | Op::Softmax => {
                vec![inputs[0].clone()]
            }
            _ => inputs.iter().filter(|i| !i.is_empty()).cloned().collect(),
        };
        if let Some(v) = data_inputs.iter().find(|v| !g.shapes.contains_key(*v)) {
            return Err(node_error(
                node,
                format!("tract does not expose value '{v}'"),
            ));
        }
        g.nodes.push(Node {
            name: node_name(node),
            onnx_op: node.op_type.clone(),
            op,
            inputs: data_inputs,
            output: node.output[0].clone(),
        });
    }
    g.outputs = graph
        .output
        .iter()
        .map(|o| resolve(&alias, &o.name))
        .collect();
    for o in &g.outputs {
        if g.is_const(o) {
            bail!("graph output '{o}' is a constant; mote needs outputs computed from the inputs");
        }
    }
    Ok(g)
}

fn const_of<'a>(g: &'a Graph, node: &NodeProto, name: &str, what: &str) -> Result<&'a FloatTensor> {
    g.consts
        .get(name)
        .ok_or_else(|| node_error(node, format!("{what} ('{name}') must be a constant")))
}

fn pair(v: Option<Vec<i64>>, default: usize) -> [usize; 2] {
    match v {
        Some(v) if v.len() == 2 => [v[0] as usize, v[1] as usize],
        _ => [default, default],
    }
}

/// ONNX pads `[t, l, b, r]` from `pads` or `auto_pad`, for a window of `k` with stride and dilation.
fn pads_for(
    node: &NodeProto,
    a: &Attrs,
    in_hw: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
) -> Result<[usize; 4]> {
    let auto = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    match auto.as_str() {
        "NOTSET" => match a.ints("pads") {
            Some(p) if p.len() == 4 => {
                Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
            }
            None => Ok([0; 4]),
            Some(_) => Err(node_error(node, "only 2-D padding is supported")),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0usize; 4];
            for ax in 0..2 {
                let out = in_hw[ax].div_ceil(stride[ax]);
                let need =
                    ((out - 1) * stride[ax] + (k[ax] - 1) * dil[ax] + 1).saturating_sub(in_hw[ax]);
                let (small, big) = (need / 2, need - need / 2);
                if auto == "SAME_UPPER" {
                    p[ax] = small;
                    p[ax + 2] = big;
                } else {
                    p[ax] = big;
                    p[ax + 2] = small;
                }
            }
            Ok(p)
        }
        other => Err(node_error(
            node,
            format!("auto_pad {other} is not supported"),
        )),
    }
}

/// Grow bottom/right padding so the floor output formula yields the observed output size
/// (ONNX `ceil_mode`).
fn fit_pads(
    mut pads: [usize; 4],
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
) -> [usize; 4] {
    for ax in 0..2 {
        let needed = (out_hw[ax] - 1) * stride[ax] + k[ax];
        let have = in_hw[ax] + pads[ax] + pads[ax + 2];
        if needed > have {
            pads[ax + 2] += needed - have;
        }
    }
    pads
}

fn convert(node: &NodeProto, inputs: &[String], g: &Graph, opset: i64) -> Result<Op> {
    let a = Attrs(&node.attribute);
    let shape = |v: &str| g.shapes.get(v).cloned().unwrap_or_default();
    let out_shape = shape(&node.output[0]);
    let unary = |e: Expr| Ok(Op::Unary(e));
    let fx = |f: UnaryFn| Ok(Op::Unary(Expr::F(f, Box::new(Expr::X))));
    match node.op_type.as_str() {
        "Conv" => {
            let w = const_of(g, node, &inputs[1], "the weight")?;
            let xs = shape(&inputs[0]);
            if w.shape.len() != 4 || xs.len() != 4 {
                return Err(node_error(node, "only 2-D convolutions (4-D tensors) are supported"));
            }
            let w_shape = [w.shape[0], w.shape[1], w.shape[2], w.shape[3]];
            let bias = match inputs.get(2).filter(|s| !s.is_empty()) {
                Some(b) => const_of(g, node, b, "the bias")?.data.clone(),
                None => vec![0.0; w_shape[0]],
            };
            let stride = pair(a.ints("strides"), 1);
            let dilation = pair(a.ints("dilations"), 1);
            let pads = pads_for(node, &a, [xs[2], xs[3]], [w_shape[2], w_shape[3]], stride, dilation)?;
            let groups = a.int("group", 1) as usize;
            Ok(Op::Conv { w: w.data.clone(), w_shape, bias, stride, dilation, pads, groups, act: Act::None })
        }
        "BatchNormalization" => {
            let eps = a.float("epsilon", 1e-5);
            let get = |i: usize, what| const_of(g, node, &inputs[i], what).map(|t| t.data.clone());
            let (sc, b, mean, var) = (get(1, "scale")?, get(2, "bias")?, get(3, "mean")?, get(4, "variance")?);
            let scale: Vec<f32> = sc.iter().zip(&var).map(|(s, v)| s / (v + eps).sqrt()).collect();
            let shift = b.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
            Ok(Op::BatchNorm { scale, shift })
        }
        "MatMul" | "Gemm" => {
            let w = g.consts.get(&inputs[1]).ok_or_else(|| {
                node_error(node, "both operands are computed at run time; mote supports MatMul/Gemm with constant weights (second operand)")
            })?;
            if w.shape.len() != 2 {
                return Err(node_error(node, "weights must be 2-D"));
            }
            let trans_b = node.op_type == "Gemm" && a.int("transB", 0) != 0;
            if node.op_type == "Gemm" && a.int("transA", 0) != 0 {
                return Err(node_error(node, "transA is not supported"));
            }
            let (alpha, beta) = if node.op_type == "Gemm" { (a.float("alpha", 1.0), a.float("beta", 1.0)) } else { (1.0, 1.0) };
            let (k, m) = if trans_b { (w.shape[1], w.shape[0]) } else { (w.shape[0], w.shape[1]) };
            let mut wk = vec![0.0f32; k * m];
            for r in 0..k {
                for c in 0..m {
                    wk[r * m + c] = alpha * if trans_b { w.data[c * k + r] } else { w.data[r * m + c] };
                }
            }
            let bias = match inputs.get(2).filter(|s| !s.is_empty()) {
                Some(b) => {
                    let t = const_of(g, node, b, "the bias")?;
                    match t.data.len() {
                        1 => vec![beta * t.data[0]; m],
                        n if n == m => t.data.iter().map(|v| beta * v).collect(),
                        _ => return Err(node_error(node, "bias must broadcast over the output columns")),
                    }
                }
                None => vec![0.0; m],
            };
            Ok(Op::Gemm { w: wk, k, m, bias, act: Act::None })
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let op = match node.op_type.as_str() {
                "Add" => BinOp::Add,
                "Sub" => BinOp::Sub,
                "Mul" => BinOp::Mul,
                _ => BinOp::Div,
            };
            Ok(Op::Binary(op, Act::None))
        }
        "Relu" => unary(Expr::Clip(Box::new(Expr::X), 0.0, f32::INFINITY)),
        "Clip" => {
            let (lo, hi) = if opset < 11 {
                (a.float("min", f32::NEG_INFINITY), a.float("max", f32::INFINITY))
            } else {
                let bound = |i: usize, d: f32| -> Result<f32> {
                    match inputs.get(i).filter(|s| !s.is_empty()) {
                        Some(n) => Ok(const_of(g, node, n, "a clip bound")?.data.first().copied().unwrap_or(d)),
                        None => Ok(d),
                    }
                };
                (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
            };
            unary(Expr::Clip(Box::new(Expr::X), lo, hi))
        }
        "Sigmoid" => fx(UnaryFn::Sigmoid),
        "Tanh" => fx(UnaryFn::Tanh),
        "HardSigmoid" => fx(UnaryFn::HardSigmoid(a.float("alpha", 0.2), a.float("beta", 0.5))),
        "HardSwish" => fx(UnaryFn::HardSwish),
        "LeakyRelu" => fx(UnaryFn::LeakyRelu(a.float("alpha", 0.01))),
        "Elu" => fx(UnaryFn::Elu(a.float("alpha", 1.0))),
        "Exp" => fx(UnaryFn::Exp),
        "Neg" => fx(UnaryFn::Neg),
        "Abs" => fx(UnaryFn::Abs),
        "Sqrt" => fx(UnaryFn::Sqrt),
        "Reciprocal" => fx(UnaryFn::Reciprocal),
        "Erf" => fx(UnaryFn::Erf),
        "Softplus" => fx(UnaryFn::Softplus),
        "MaxPool" | "AveragePool" => {
            let xs = shape(&inputs[0]);
            if xs.len() != 4 || out_shape.len() != 4 {
                return Err(node_error(node, "only 2-D pooling is supported"));
            }
            let kernel = pair(a.ints("kernel_shape"), 1);
            let stride = pair(a.ints("strides"), 1);
            if a.ints("dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
                return Err(node_error(node, "dilated pooling is not supported"));
            }
            let pads = pads_for(node, &a, [xs[2], xs[3]], kernel, stride, [1, 1])?;
            let pads = fit_pads(pads, [xs[2], xs[3]], [out_shape[2], out_shape[3]], kernel, stride);
            if node.op_type == "MaxPool" {
                if node.output.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(node_error(node, "the Indices output is not supported"));
                }
                Ok(Op::MaxPool { kernel, stride, pads })
            } else {
                Ok(Op::AvgPool { kernel, stride, pads, count_include_pad: a.int("count_include_pad", 0) != 0 })
            }
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let xs = shape(&inputs[0]);
            if xs.len() != 4 {
                return Err(node_error(node, "only 4-D inputs are supported"));
            }
            let kernel = [xs[2], xs[3]];
            if node.op_type == "GlobalMaxPool" {
                Ok(Op::MaxPool { kernel, stride: [1, 1], pads: [0; 4] })
            } else {
                Ok(Op::AvgPool { kernel, stride: [1, 1], pads: [0; 4], count_include_pad: false })
            }
        }
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => Ok(Op::Reshape),
        "Transpose" => {
            let rank = shape(&inputs[0]).len();
            let perm = a.ints("perm").map(|p| p.iter().map(|&v| v as usize).collect()).unwrap_or_else(|| (0..rank).rev().collect());
            Ok(Op::Transpose(perm))
        }
        "Concat" => {
            let rank = out_shape.len() as i64;
            let axis = a.int("axis", 0);
            Ok(Op::Concat(if axis < 0 { (axis + rank) as usize } else { axis as usize }))
        }
        "Softmax" => {
            let rank = out_shape.len() as i64;
            let axis = a.int("axis", if opset < 13 { 1 } else { -1 });
            let axis = if axis < 0 { axis + rank } else { axis };
            // Before opset 13, softmax flattens the axes from `axis` on; with every other of them 1
            // that is the same as the last axis.
            let trailing: usize = out_shape[axis as usize..].iter().product();
            let last = *out_shape.last().unwrap_or(&1);
            if axis != rank - 1 && !(opset < 13 && trailing == last) {
                return Err(node_error(node, "softmax is supported over the last axis only"));
            }
            Ok(Op::Softmax)
        }
        other => Err(node_error(node, format!("op {other} is not supported by mote (on non-constant inputs). Supported: {SUPPORTED}"))),
    }
}
