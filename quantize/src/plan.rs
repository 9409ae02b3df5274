//! Offline memory planning: tensor lifetimes → arena offsets.
//!
//! Every arena tensor lives from the op that writes it (graph inputs: from the start) to the
//! last op that reads it (graph outputs: to the end). A reshape whose input dies at it shares
//! its input's buffer. Buffers are placed greedily, largest first, at the lowest 16-byte aligned
//! offset that does not overlap any buffer alive at the same time (TFLite Micro's greedy planner).

use crate::lower::QGraph;
use mote::format::{DATA_ALIGN, MAX_RANK, NO_NAME};
use mote::{OpCode, TensorInfo, TensorKind};

/// Scratch bytes each op needs: the most any kernel path asks for (`mote::ops::scratch_size`),
/// so one model file runs on every target.
pub fn scratch_sizes(q: &QGraph) -> Vec<usize> {
    let info = |t: usize| {
        let qt = &q.tensors[t];
        let mut dims = [1u32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(&qt.shape) {
            *d = s as u32;
        }
        TensorInfo {
            dtype: qt.dtype,
            kind: if qt.data.is_some() {
                TensorKind::Constant
            } else {
                TensorKind::Arena
            },
            rank: qt.shape.len().min(MAX_RANK) as u8,
            dims,
            scale: qt.scale,
            zero_point: qt.zero_point,
            offset: 0,
            byte_len: match &qt.data {
                Some(d) => d.len(),
                None => qt.shape.iter().product::<usize>() * qt.dtype.size(),
            } as u32,
            name_off: NO_NAME,
            layout: qt.layout,
        }
    };
    q.ops
        .iter()
        .map(|op| {
            let ins: Vec<Option<TensorInfo>> = op.inputs.iter().map(|&t| Some(info(t))).collect();
            let outs: Vec<TensorInfo> = op.outputs.iter().map(|&t| info(t)).collect();
            mote::ops::scratch_size(op.opcode, &op.params, &ins, &outs)
        })
        .collect()
}

/// The plan: offsets of arena tensors and per-op scratch.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Offset per tensor (`None` for constants).
    pub offsets: Vec<Option<usize>>,
    /// Scratch (offset, length) per op.
    pub scratch: Vec<(usize, usize)>,
    /// Arena bytes needed.
    pub arena_bytes: usize,
    /// Lower bound: the most bytes alive at one op.
    pub lower_bound: usize,
}

struct Buffer {
    size: usize,
    first: usize,
    last: usize,
    offset: usize,
}

fn align(n: usize) -> usize {
    n.div_ceil(DATA_ALIGN) * DATA_ALIGN
}

/// Plan the arena; `scratch` gives each op's scratch bytes.
pub fn plan(q: &QGraph, scratch: &[usize]) -> Plan {
    let n_ops = q.ops.len();
    let nt = q.tensors.len();
    let size_of =
        |t: usize| q.tensors[t].shape.iter().product::<usize>() * q.tensors[t].dtype.size();
    let mut first = vec![usize::MAX; nt];
    let mut last = vec![0usize; nt];
    for &t in &q.inputs {
        first[t] = 0;
    }
    for (i, op) in q.ops.iter().enumerate() {
        for &t in &op.outputs {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
        for &t in &op.inputs {
            last[t] = last[t].max(i);
        }
    }
    for &t in &q.outputs {
        last[t] = n_ops;
    }
    // buffer of each tensor (reshape aliasing)
    let mut buf_of: Vec<Option<usize>> = vec![None; nt];
    let mut bufs: Vec<Buffer> = Vec::new();
    let is_arena = |t: usize| q.tensors[t].data.is_none();
    for (t, f) in first.iter_mut().enumerate() {
        if is_arena(t) && *f == usize::MAX {
            *f = 0; // never written: still give it bytes
        }
    }
    let mut order: Vec<usize> = (0..nt).filter(|&t| is_arena(t)).collect();
    order.sort_by_key(|&t| first[t]);
    for t in order {
        let alias = q.ops.iter().enumerate().find(|(i, op)| {
            op.opcode == OpCode::Reshape
                && op.outputs[0] == t
                && first[t] == *i
                && last[op.inputs[0]] == *i
                && is_arena(op.inputs[0])
                && !q.inputs.contains(&op.inputs[0])
        });
        if let Some((_, op)) = alias {
            if let Some(b) = buf_of[op.inputs[0]] {
                bufs[b].last = bufs[b].last.max(last[t]);
                bufs[b].size = bufs[b].size.max(size_of(t));
                buf_of[t] = Some(b);
                continue;
            }
        }
        bufs.push(Buffer {
            size: size_of(t),
            first: first[t],
            last: last[t],
            offset: 0,
        });
        buf_of[t] = Some(bufs.len() - 1);
    }
    let scratch_base = bufs.len();
    for (i, &s) in scratch.iter().enumerate() {
        bufs.push(Buffer {
            size: s,
            first: i,
            last: i,
            offset: 0,
        });
    }
    let mut idx: Vec<usize> = (0..bufs.len()).filter(|&b| bufs[b].size > 0).collect();
    idx.sort_by(|&a, &b| bufs[b].size.cmp(&bufs[a].size).then(a.cmp(&b)));
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0usize;
    for b in idx {
        let mut live: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| bufs[p].first <= bufs[b].last && bufs[b].first <= bufs[p].last)
            .map(|&p| (bufs[p].offset, bufs[p].offset + bufs[p].size))
            .collect();
        live.sort();
        let mut off = 0usize;
        for (s, e) in live {
            if off + bufs[b].size <= s {
                break;
            }
            off = off.max(align(e));
        }
        bufs[b].offset = off;
        arena = arena.max(off + bufs[b].size);
        placed.push(b);
    }
    let mut lower_bound = 0usize;
    for i in 0..=n_ops {
        let live: usize = bufs
            .iter()
            .filter(|b| b.first <= i && i <= b.last)
            .map(|b| b.size)
            .sum();
        lower_bound = lower_bound.max(live);
    }
    Plan {
        offsets: (0..nt).map(|t| buf_of[t].map(|b| bufs[b].offset)).collect(),
        scratch: (0..scratch.len())
            .map(|i| {
                (
                    if bufs[scratch_base + i].size > 0 {
                        bufs[scratch_base + i].offset
                    } else {
                        0
                    },
                    scratch[i],
                )
            })
            .collect(),
        arena_bytes: align(arena),
        lower_bound,
    }
}
