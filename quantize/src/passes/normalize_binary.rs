//! Turn the remaining elementwise binaries into the two int8 kernels we have, Add and Mul:
//! `x - c` → `x + (-c)`, `x / c` → `x · (1/c)`.

use crate::float_model::FloatTensor;
use crate::graph::{BinOp, Graph, Op};
use anyhow::{anyhow, Result};

/// Run the pass.
pub fn run(g: &mut Graph) -> Result<()> {
    for i in 0..g.nodes.len() {
        let Op::Binary(op, act) = g.nodes[i].op else {
            continue;
        };
        let n = g.nodes[i].clone();
        let err = |what: &str| anyhow!("node '{}' ({}): {what}", n.name, n.onnx_op);
        let (c0, c1) = (g.is_const(&n.inputs[0]), g.is_const(&n.inputs[1]));
        let new_op = match (op, c0, c1) {
            (BinOp::Add | BinOp::Mul, _, _) => op,
            (BinOp::Sub | BinOp::Div, false, true) => {
                let c = g.consts[&n.inputs[1]].clone();
                let data = c
                    .data
                    .iter()
                    .map(|v| if op == BinOp::Sub { -v } else { 1.0 / v })
                    .collect();
                let name = format!(
                    "{}/mote_{}",
                    n.inputs[1],
                    if op == BinOp::Sub { "neg" } else { "recip" }
                );
                g.consts.insert(
                    name.clone(),
                    FloatTensor {
                        shape: c.shape.clone(),
                        data,
                    },
                );
                g.shapes.insert(name.clone(), c.shape.clone());
                g.nodes[i].inputs[1] = name;
                if op == BinOp::Sub {
                    BinOp::Add
                } else {
                    BinOp::Mul
                }
            }
            _ => {
                return Err(err(
                    "subtraction or division of two computed tensors is not supported",
                ))
            }
        };
        g.nodes[i].op = Op::Binary(new_op, act);
    }
    Ok(())
}
