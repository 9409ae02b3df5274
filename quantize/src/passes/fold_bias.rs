//! Fold `Conv(x) + c` / `MatMul(x) + c` (and `- c`) into the producer's bias when `c` is one
//! value per output channel (or a scalar).

use crate::graph::{Act, BinOp, Graph, Op};

/// Run the pass.
pub fn run(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        if try_fold(g, i) {
            g.nodes.remove(i);
        } else {
            i += 1;
        }
    }
}

fn try_fold(g: &mut Graph, i: usize) -> bool {
    let Op::Binary(op @ (BinOp::Add | BinOp::Sub), Act::None) = g.nodes[i].op else {
        return false;
    };
    let ins = &g.nodes[i].inputs;
    if ins.len() != 2 {
        return false;
    }
    let (v, c, sign) = match (g.is_const(&ins[0]), g.is_const(&ins[1])) {
        (false, true) => (
            ins[0].clone(),
            ins[1].clone(),
            if op == BinOp::Sub { -1.0 } else { 1.0 },
        ),
        (true, false) if op == BinOp::Add => (ins[1].clone(), ins[0].clone(), 1.0),
        _ => return false,
    };
    let Some(p) = g.producer(&v).filter(|_| g.uses(&v) == 1) else {
        return false;
    };
    let ct = g.consts[&c].clone();
    let out_rank = g
        .shapes
        .get(&g.nodes[i].output)
        .map(|s| s.len())
        .unwrap_or(0);
    let (bias, channels, ok) = match &mut g.nodes[p].op {
        Op::Conv {
            bias,
            act: Act::None,
            ..
        } => {
            let n = bias.len();
            // per channel means [C,1,1] aligned on the right of NCHW, or a scalar
            let dims: Vec<usize> = ct.shape.iter().copied().skip_while(|&d| d == 1).collect();
            let ok = ct.data.len() == 1
                || (ct.data.len() == n
                    && ct.shape.len() >= 3
                    && dims.len() == 3
                    && dims[0] == n
                    && out_rank == 4);
            (bias, n, ok)
        }
        Op::Gemm {
            bias,
            m,
            act: Act::None,
            ..
        } => {
            let n = *m;
            let ok = ct.data.len() == 1 || (ct.data.len() == n && ct.shape.last() == Some(&n));
            (bias, n, ok)
        }
        _ => return false,
    };
    if !ok || ct.shape.len() > out_rank {
        return false;
    }
    for (ch, b) in bias.iter_mut().enumerate().take(channels) {
        *b += sign
            * if ct.data.len() == 1 {
                ct.data[0]
            } else {
                ct.data[ch]
            };
    }
    g.nodes[p].output = g.nodes[i].output.clone();
    true
}
