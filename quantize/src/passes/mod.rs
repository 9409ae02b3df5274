//! Graph rewrites, one per file, run in a fixed order by [`run_all`].

use crate::graph::Graph;
use anyhow::Result;

pub mod collapse_unary;
pub mod equalize;
pub mod fold_batchnorm;
pub mod fold_bias;
pub mod fuse_activation;
pub mod normalize_binary;

/// Run every pass in order: fold BatchNorm into Conv, fold bias additions, collapse chains of
/// elementwise unary ops into single functions (HardSwish written as `x·Clip(x+3,0,6)/6`,
/// HardSigmoid, ...), turn Sub/Div by constants into Add/Mul, fuse clamps into producers.
pub fn run_all(g: &mut Graph) -> Result<()> {
    fold_batchnorm::run(g);
    fold_bias::run(g);
    collapse_unary::run(g);
    normalize_binary::run(g)?;
    fold_bias::run(g);
    fuse_activation::run(g);
    Ok(())
}
