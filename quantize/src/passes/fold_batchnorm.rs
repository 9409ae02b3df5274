//! Fold `BatchNormalization(Conv(x))` into the convolution's weights and bias.

use crate::graph::{Act, Graph, Op};

/// Run the pass.
pub fn run(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        if let Op::BatchNorm { scale, shift } = g.nodes[i].op.clone() {
            let input = g.nodes[i].inputs[0].clone();
            if let Some(p) = g.producer(&input).filter(|_| g.uses(&input) == 1) {
                if let Op::Conv {
                    w,
                    w_shape,
                    bias,
                    act: Act::None,
                    ..
                } = &mut g.nodes[p].op
                {
                    if scale.len() == w_shape[0] {
                        let per = w_shape[1] * w_shape[2] * w_shape[3];
                        for (c, (s, sh)) in scale.iter().zip(&shift).enumerate() {
                            w[c * per..(c + 1) * per].iter_mut().for_each(|v| *v *= s);
                            bias[c] = bias[c] * s + sh;
                        }
                        g.nodes[p].output = g.nodes[i].output.clone();
                        g.nodes.remove(i);
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
}
