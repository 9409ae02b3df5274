//! Fuse a clamp (Relu, Relu6, Clip) into the Conv, Gemm, Add or Mul that produces its input, so
//! the int8 kernel applies it while requantizing and no separate op runs.

use crate::graph::{Act, Graph, Op};

/// Run the pass.
pub fn run(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        let clamp = match &g.nodes[i].op {
            Op::Unary(e) => e.as_clamp(),
            _ => None,
        };
        if let Some((lo, hi)) = clamp {
            let input = g.nodes[i].inputs[0].clone();
            if let Some(p) = g.producer(&input).filter(|_| g.uses(&input) == 1) {
                let act = if lo == 0.0 && hi == f32::INFINITY {
                    Act::Relu
                } else {
                    Act::Clip(lo, hi)
                };
                let slot = match &mut g.nodes[p].op {
                    Op::Conv { act, .. } | Op::Gemm { act, .. } | Op::Binary(_, act) => Some(act),
                    _ => None,
                };
                if let Some(slot @ Act::None) = slot {
                    *slot = act;
                    g.nodes[p].output = g.nodes[i].output.clone();
                    g.nodes.remove(i);
                    continue;
                }
            }
        }
        i += 1;
    }
}
