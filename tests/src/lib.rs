//! Helpers for the integration tests: a small ONNX model builder (so tests can make models of
//! their own, not only use downloaded ones) and paths to the fetched real models.

use prost::Message;
use std::path::{Path, PathBuf};
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

/// An attribute value.
pub enum Attr {
    /// One integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// Builds an ONNX graph node by node.
pub struct OnnxBuilder {
    graph: GraphProto,
    opset: i64,
}

fn value_info(name: &str, shape: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl OnnxBuilder {
    /// A new graph at the given opset.
    pub fn new(opset: i64) -> Self {
        OnnxBuilder {
            graph: GraphProto {
                name: "test".into(),
                ..Default::default()
            },
            opset,
        }
    }
    /// Add a float input.
    pub fn input(&mut self, name: &str, shape: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, shape));
        self
    }
    /// Mark a value as graph output.
    pub fn output(&mut self, name: &str, shape: &[i64]) -> &mut Self {
        self.graph.output.push(value_info(name, shape));
        self
    }
    /// Add a float initializer.
    pub fn init(&mut self, name: &str, shape: &[i64], data: Vec<f32>) -> &mut Self {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: shape.to_vec(),
            data_type: 1,
            float_data: data,
            ..Default::default()
        });
        self
    }
    /// Add an int64 initializer (shapes).
    pub fn init_i64(&mut self, name: &str, data: Vec<i64>) -> &mut Self {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: vec![data.len() as i64],
            data_type: 7,
            int64_data: data,
            ..Default::default()
        });
        self
    }
    /// Add a node.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> &mut Self {
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| match a {
                Attr::Int(i) => AttributeProto {
                    name: n.into(),
                    r#type: AttributeType::Int as i32,
                    i,
                    ..Default::default()
                },
                Attr::Ints(ints) => AttributeProto {
                    name: n.into(),
                    r#type: AttributeType::Ints as i32,
                    ints,
                    ..Default::default()
                },
                Attr::Float(f) => AttributeProto {
                    name: n.into(),
                    r#type: AttributeType::Float as i32,
                    f,
                    ..Default::default()
                },
            })
            .collect();
        let name = format!("{}_{}", op.to_lowercase(), self.graph.node.len());
        self.graph.node.push(NodeProto {
            op_type: op.into(),
            name,
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        });
        self
    }
    /// Serialise.
    pub fn bytes(&self) -> Vec<u8> {
        ModelProto {
            ir_version: 7,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
        .encode_to_vec()
    }
    /// Write to a file.
    pub fn save(&self, path: &Path) {
        std::fs::write(path, self.bytes()).expect("write onnx");
    }
}

/// Deterministic pseudo-random floats in [-1, 1).
pub fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 23) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A small CNN that exercises most of the importer and the int8 ops: conv with bias and
/// padding, BatchNorm folding, HardSwish written out as `x·Clip(x+3,0,6)/6`, depthwise conv
/// with stride, a squeeze-excitation block (global average pool, 1×1 convs, HardSigmoid, Mul),
/// a residual Add, MaxPool, Concat, Flatten, Gemm and Softmax. Input `x` `[1, 3, 12, 12]`.
pub fn tiny_cnn() -> OnnxBuilder {
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 3, 12, 12]).output("prob", &[1, 5]);
    b.init(
        "w1",
        &[8, 3, 3, 3],
        noise(1, 8 * 27).iter().map(|v| v * 0.5).collect(),
    )
    .init("b1", &[8], noise(2, 8));
    b.init(
        "bn_s",
        &[8],
        noise(3, 8).iter().map(|v| 1.0 + 0.3 * v).collect(),
    )
    .init("bn_b", &[8], noise(4, 8));
    b.init("bn_m", &[8], noise(5, 8).iter().map(|v| 0.2 * v).collect())
        .init(
            "bn_v",
            &[8],
            noise(6, 8).iter().map(|v| 1.0 + 0.5 * v.abs()).collect(),
        );
    b.init("three", &[], vec![3.0])
        .init("zero", &[], vec![0.0])
        .init("six", &[], vec![6.0]);
    b.init("wd", &[8, 1, 3, 3], noise(7, 72))
        .init("bd", &[8], noise(8, 8));
    b.init("wse1", &[4, 8, 1, 1], noise(9, 32))
        .init("bse1", &[4], noise(10, 4));
    b.init("wse2", &[8, 4, 1, 1], noise(11, 32))
        .init("bse2", &[8], noise(12, 8));
    b.init(
        "wp",
        &[8, 8, 1, 1],
        noise(13, 64).iter().map(|v| v * 0.4).collect(),
    );
    b.init(
        "wfc",
        &[16 * 3 * 3, 5],
        noise(14, 144 * 5).iter().map(|v| v * 0.2).collect(),
    )
    .init("bfc", &[5], noise(15, 5));
    b.init_i64("flat", vec![1, 144]);
    b.node(
        "Conv",
        &["x", "w1", "b1"],
        &["c1"],
        vec![
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ("kernel_shape", Attr::Ints(vec![3, 3])),
        ],
    );
    b.node(
        "BatchNormalization",
        &["c1", "bn_s", "bn_b", "bn_m", "bn_v"],
        &["bn"],
        vec![("epsilon", Attr::Float(1e-5))],
    );
    b.node("Add", &["bn", "three"], &["hs_a"], vec![]);
    b.node("Clip", &["hs_a", "zero", "six"], &["hs_c"], vec![]);
    b.node("Mul", &["bn", "hs_c"], &["hs_m"], vec![]);
    b.node("Div", &["hs_m", "six"], &["hs"], vec![]);
    b.node(
        "Conv",
        &["hs", "wd", "bd"],
        &["dw"],
        vec![
            ("group", Attr::Int(8)),
            ("strides", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
        ],
    );
    b.node("Relu", &["dw"], &["dwr"], vec![]);
    b.node("GlobalAveragePool", &["dwr"], &["gap"], vec![]);
    b.node("Conv", &["gap", "wse1", "bse1"], &["se1"], vec![]);
    b.node("Relu", &["se1"], &["se1r"], vec![]);
    b.node("Conv", &["se1r", "wse2", "bse2"], &["se2"], vec![]);
    b.node(
        "HardSigmoid",
        &["se2"],
        &["se2h"],
        vec![("alpha", Attr::Float(0.2)), ("beta", Attr::Float(0.5))],
    );
    b.node("Mul", &["dwr", "se2h"], &["se"], vec![]);
    b.node("Conv", &["se", "wp"], &["proj"], vec![]);
    b.node("Add", &["proj", "dwr"], &["res"], vec![]);
    b.node(
        "MaxPool",
        &["res"],
        &["mp"],
        vec![
            ("kernel_shape", Attr::Ints(vec![2, 2])),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    b.node("Sigmoid", &["mp"], &["sg"], vec![]);
    b.node(
        "Concat",
        &["mp", "sg"],
        &["cat"],
        vec![("axis", Attr::Int(1))],
    );
    b.node("Reshape", &["cat", "flat"], &["fl"], vec![]);
    b.node("Gemm", &["fl", "wfc", "bfc"], &["logits"], vec![]);
    b.node(
        "Softmax",
        &["logits"],
        &["prob"],
        vec![("axis", Attr::Int(1))],
    );
    b
}

/// Where `models/fetch` and `tools/make_data.py` put things.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join("cache")
}

/// A fetched file, or a panic telling the user how to fetch it.
pub fn fetched(rel: &str) -> PathBuf {
    let p = cache_dir().join(rel);
    assert!(p.exists(), "{} is missing: run `models/fetch && python3 tools/make_data.py` (the README's test command does)", p.display());
    p
}

/// Write [`tiny_cnn`] and `n` seeded calibration samples scaled by `amplitude` into `dir`;
/// returns the ONNX and `.npz` paths.
pub fn tiny_cnn_files(dir: &Path, n: usize, seed: u64, amplitude: f32) -> (PathBuf, PathBuf) {
    let onnx = dir.join("tiny.onnx");
    tiny_cnn().save(&onnx);
    let calib = dir.join(format!("calib{seed}.npz"));
    let data = noise(seed, n * 432).iter().map(|v| v * amplitude).collect();
    mote_quantize::npz::write_npz(
        &calib,
        &[mote_quantize::npz::NamedArray {
            name: "x".into(),
            shape: vec![n, 1, 3, 12, 12],
            data,
        }],
    )
    .expect("write calibration npz");
    (onnx, calib)
}

/// A new empty directory under the system temp dir, unique per process and call.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}
