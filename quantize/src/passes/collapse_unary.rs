//! Collapse every region of elementwise ops that depends on a single tensor into one function
//! of that tensor (later a 256-entry lookup table): `x · Clip(x + 3, 0, 6) / 6` becomes one
//! HardSwish, `Relu` and `Clip` become clamps the next pass fuses into their producer.

use crate::graph::{Act, BinOp, Expr, Graph, Node, Op};
use std::collections::{HashMap, HashSet};

fn substitute(e: &Expr, x: &Expr) -> Expr {
    match e {
        Expr::X => x.clone(),
        Expr::C(c) => Expr::C(*c),
        Expr::Add(a, b) => Expr::Add(Box::new(substitute(a, x)), Box::new(substitute(b, x))),
        Expr::Sub(a, b) => Expr::Sub(Box::new(substitute(a, x)), Box::new(substitute(b, x))),
        Expr::Mul(a, b) => Expr::Mul(Box::new(substitute(a, x)), Box::new(substitute(b, x))),
        Expr::Div(a, b) => Expr::Div(Box::new(substitute(a, x)), Box::new(substitute(b, x))),
        Expr::Clip(a, lo, hi) => Expr::Clip(Box::new(substitute(a, x)), *lo, *hi),
        Expr::F(f, a) => Expr::F(*f, Box::new(substitute(a, x))),
    }
}

/// Run the pass.
pub fn run(g: &mut Graph) {
    let mut expr_of: HashMap<String, (String, Expr)> = HashMap::new();
    let mut absorbed: HashSet<usize> = HashSet::new();
    let lookup = |expr_of: &HashMap<String, (String, Expr)>, v: &str| {
        expr_of
            .get(v)
            .cloned()
            .unwrap_or_else(|| (v.to_string(), Expr::X))
    };
    for (i, n) in g.nodes.iter().enumerate() {
        match &n.op {
            Op::Unary(e) => {
                let (root, inner) = lookup(&expr_of, &n.inputs[0]);
                expr_of.insert(n.output.clone(), (root, substitute(e, &inner)));
                absorbed.insert(i);
            }
            Op::Binary(op, Act::None) if n.inputs.len() == 2 => {
                let mut root: Option<String> = None;
                let mut parts = Vec::new();
                let mut ok = true;
                for v in &n.inputs {
                    if let Some(c) = g.consts.get(v) {
                        if c.data.len() != 1 {
                            ok = false;
                        }
                        parts.push(Expr::C(c.data.first().copied().unwrap_or(0.0)));
                    } else {
                        let (r, e) = lookup(&expr_of, v);
                        if root.as_ref().is_some_and(|x| *x != r) {
                            ok = false;
                        }
                        root = Some(r);
                        parts.push(e);
                    }
                }
                let Some(root) = root.filter(|_| ok) else {
                    continue;
                };
                let (a, b) = (Box::new(parts[0].clone()), Box::new(parts[1].clone()));
                let e = match op {
                    BinOp::Add => Expr::Add(a, b),
                    BinOp::Sub => Expr::Sub(a, b),
                    BinOp::Mul => Expr::Mul(a, b),
                    BinOp::Div => Expr::Div(a, b),
                };
                expr_of.insert(n.output.clone(), (root, e));
                absorbed.insert(i);
            }
            _ => {}
        }
    }
    let mut needed: HashSet<String> = g.outputs.iter().cloned().collect();
    for (i, n) in g.nodes.iter().enumerate() {
        if !absorbed.contains(&i) {
            needed.extend(n.inputs.iter().cloned());
        }
    }
    let mut nodes = Vec::new();
    for (i, n) in g.nodes.drain(..).enumerate() {
        if !absorbed.contains(&i) {
            nodes.push(n);
        } else if needed.contains(&n.output) {
            let (root, e) = expr_of[&n.output].clone();
            nodes.push(Node {
                op: Op::Unary(e),
                inputs: vec![root],
                ..n
            });
        }
    }
    g.nodes = nodes;
}
