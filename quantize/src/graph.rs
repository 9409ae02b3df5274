//! The quantizer's float graph: ONNX semantics (NCHW), a small set of ops mote can run, constants
//! folded in. Passes rewrite it; `lower` turns it into int8 runtime ops.

use std::collections::HashMap;

/// A fused activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    /// None.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)`.
    Clip(f32, f32),
}

impl Act {
    /// Apply to a float.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::None => x,
            Act::Relu => x.max(0.0),
            Act::Clip(lo, hi) => x.max(lo).min(hi),
        }
    }
}

/// An elementwise function of one variable, built from chains of unary ONNX ops.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The variable.
    X,
    /// A constant.
    C(f32),
    /// Sum.
    Add(Box<Expr>, Box<Expr>),
    /// Difference.
    Sub(Box<Expr>, Box<Expr>),
    /// Product.
    Mul(Box<Expr>, Box<Expr>),
    /// Quotient.
    Div(Box<Expr>, Box<Expr>),
    /// Minimum / maximum with bounds (Clip, Relu).
    Clip(Box<Expr>, f32, f32),
    /// A named one-argument function.
    F(UnaryFn, Box<Expr>),
}

/// One-argument functions a lookup table can stand for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryFn {
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(0, min(1, alpha·x + beta))`.
    HardSigmoid(f32, f32),
    /// `x · max(0, min(1, x/6 + 1/2))`.
    HardSwish,
    /// `x` if positive else `alpha·x`.
    LeakyRelu(f32),
    /// `x` if positive else `alpha·(e^x - 1)`.
    Elu(f32),
    /// e^x.
    Exp,
    /// -x.
    Neg,
    /// |x|.
    Abs,
    /// Square root.
    Sqrt,
    /// 1/x.
    Reciprocal,
    /// Error function.
    Erf,
    /// `x · sigmoid(x)`.
    Swish,
    /// `ln(1 + e^x)`.
    Softplus,
}

impl Expr {
    /// Evaluate at `x`.
    pub fn eval(&self, x: f32) -> f32 {
        match self {
            Expr::X => x,
            Expr::C(c) => *c,
            Expr::Add(a, b) => a.eval(x) + b.eval(x),
            Expr::Sub(a, b) => a.eval(x) - b.eval(x),
            Expr::Mul(a, b) => a.eval(x) * b.eval(x),
            Expr::Div(a, b) => a.eval(x) / b.eval(x),
            Expr::Clip(a, lo, hi) => a.eval(x).max(*lo).min(*hi),
            Expr::F(f, a) => {
                let v = a.eval(x);
                match f {
                    UnaryFn::Sigmoid => 1.0 / (1.0 + (-v).exp()),
                    UnaryFn::Tanh => v.tanh(),
                    UnaryFn::HardSigmoid(al, be) => (al * v + be).clamp(0.0, 1.0),
                    UnaryFn::HardSwish => v * (v / 6.0 + 0.5).clamp(0.0, 1.0),
                    UnaryFn::LeakyRelu(al) => {
                        if v >= 0.0 {
                            v
                        } else {
                            al * v
                        }
                    }
                    UnaryFn::Elu(al) => {
                        if v >= 0.0 {
                            v
                        } else {
                            al * (v.exp() - 1.0)
                        }
                    }
                    UnaryFn::Exp => v.exp(),
                    UnaryFn::Neg => -v,
                    UnaryFn::Abs => v.abs(),
                    UnaryFn::Sqrt => v.sqrt(),
                    UnaryFn::Reciprocal => 1.0 / v,
                    UnaryFn::Erf => erf(v),
                    UnaryFn::Swish => v / (1.0 + (-v).exp()),
                    UnaryFn::Softplus => (1.0 + v.exp()).ln(),
                }
            }
        }
    }

    /// `Some((lo, hi))` when the expression is exactly a clamp of the variable (Relu, Clip).
    pub fn as_clamp(&self) -> Option<(f32, f32)> {
        match self {
            Expr::Clip(a, lo, hi) if **a == Expr::X => Some((*lo, *hi)),
            _ => None,
        }
    }
}

fn erf(x: f32) -> f32 {
    // Abramowitz-Stegun 7.1.26 in f64: |error| < 1.5e-7, below an int8 step of any sane range.
    let x = x as f64;
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    (if x >= 0.0 { y } else { -y }) as f32
}

/// A binary elementwise operator before normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
}

/// A float-graph operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution; weights `[Co, Ci/groups, KH, KW]`.
    Conv {
        /// Weights, row-major.
        w: Vec<f32>,
        /// Weight shape.
        w_shape: [usize; 4],
        /// Bias per output channel.
        bias: Vec<f32>,
        /// Stride (h, w).
        stride: [usize; 2],
        /// Dilation (h, w).
        dilation: [usize; 2],
        /// Padding (top, left, bottom, right).
        pads: [usize; 4],
        /// Groups.
        groups: usize,
        /// Fused activation.
        act: Act,
    },
    /// `y = x · w + bias` over the last axis; weights `[K, M]`.
    Gemm {
        /// Weights, row-major `[K, M]`.
        w: Vec<f32>,
        /// Inner size.
        k: usize,
        /// Output size.
        m: usize,
        /// Bias.
        bias: Vec<f32>,
        /// Fused activation.
        act: Act,
    },
    /// Elementwise binary op, operands possibly constants (normalised to Add/Mul by passes).
    Binary(BinOp, Act),
    /// Per-channel affine `x · scale[c] + shift[c]` (BatchNormalization), channel axis 1.
    BatchNorm {
        /// Scale per channel.
        scale: Vec<f32>,
        /// Shift per channel.
        shift: Vec<f32>,
    },
    /// Elementwise function of the single input.
    Unary(Expr),
    /// Max pooling.
    MaxPool {
        /// Window (h, w).
        kernel: [usize; 2],
        /// Stride (h, w).
        stride: [usize; 2],
        /// Padding (top, left, bottom, right).
        pads: [usize; 4],
    },
    /// Average pooling (global average pooling uses the full window).
    AvgPool {
        /// Window (h, w).
        kernel: [usize; 2],
        /// Stride (h, w).
        stride: [usize; 2],
        /// Padding (top, left, bottom, right).
        pads: [usize; 4],
        /// Whether padding counts in the divisor.
        count_include_pad: bool,
    },
    /// Shape change (Reshape, Flatten, Squeeze, Unsqueeze).
    Reshape,
    /// Axis permutation.
    Transpose(Vec<usize>),
    /// Concatenation.
    Concat(usize),
    /// Softmax over the last axis.
    Softmax,
}

/// One node: an op, its input value names, its output value name.
#[derive(Debug, Clone)]
pub struct Node {
    /// ONNX node name (for messages).
    pub name: String,
    /// ONNX op type it came from.
    pub onnx_op: String,
    /// The operator.
    pub op: Op,
    /// Input value names.
    pub inputs: Vec<String>,
    /// Output value name (an ONNX value name, so the float model can observe it).
    pub output: String,
}

/// The float graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
    /// Constant values by name.
    pub consts: HashMap<String, crate::float_model::FloatTensor>,
    /// Shapes of every value.
    pub shapes: HashMap<String, Vec<usize>>,
    /// Graph input names.
    pub inputs: Vec<String>,
    /// Graph output names.
    pub outputs: Vec<String>,
}

impl Graph {
    /// How many nodes read `value`, plus one if it is a graph output.
    pub fn uses(&self, value: &str) -> usize {
        self.nodes
            .iter()
            .map(|n| n.inputs.iter().filter(|i| *i == value).count())
            .sum::<usize>()
            + self.outputs.iter().filter(|o| *o == value).count()
    }

    /// Index of the node producing `value`.
    pub fn producer(&self, value: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.output == value)
    }

    /// Whether `value` is a constant.
    pub fn is_const(&self, value: &str) -> bool {
        self.consts.contains_key(value)
    }

    /// Rename every use of `from` to `to` (node inputs and graph outputs).
    pub fn rename_uses(&mut self, from: &str, to: &str) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if i == from {
                    *i = to.to_string();
                }
            }
        }
        for o in &mut self.outputs {
            if o == from {
                *o = to.to_string();
            }
        }
    }

    /// Values the int8 graph computes (node inputs and outputs that are not constants).
    pub fn activation_values(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for v in self.inputs.iter().chain(
            self.nodes
                .iter()
                .flat_map(|n| n.inputs.iter().chain(std::iter::once(&n.output))),
        ) {
            if !self.is_const(v) && seen.insert(v.clone()) {
                out.push(v.clone());
            }
        }
        out
    }
}
