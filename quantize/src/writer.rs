//! Serialise a planned int8 graph into the `.mote` format (see `mote::format`).

use crate::lower::QGraph;
use crate::plan::Plan;
use anyhow::{bail, Result};
use mote::format::{
    checksum, pad4, DATA_ALIGN, HEADER_LEN, MAGIC, MAX_RANK, NO_TENSOR, OP_RECORD_FIXED_LEN,
    VERSION,
};
use mote::{TensorInfo, TensorKind};

fn align_to(v: &mut Vec<u8>, a: usize) {
    while !v.len().is_multiple_of(a) {
        v.push(0);
    }
}

const _: () = assert!(
    OP_RECORD_FIXED_LEN == 16,
    "the writer emits 16-byte fixed op headers"
);

/// Encode the model.
pub fn write(q: &QGraph, plan: &Plan) -> Result<Vec<u8>> {
    if q.tensors.len() >= NO_TENSOR as usize || q.ops.len() > u16::MAX as usize {
        bail!(
            "model too large: {} tensors, {} ops (the format allows 65534)",
            q.tensors.len(),
            q.ops.len()
        );
    }
    // names
    let mut names = Vec::new();
    let mut name_offs = Vec::new();
    for t in &q.tensors {
        name_offs.push(names.len() as u32);
        let b = t.name.as_bytes();
        let b = &b[..b.len().min(u16::MAX as usize)];
        names.extend((b.len() as u16).to_le_bytes());
        names.extend(b);
    }
    // constant data
    let mut data = Vec::new();
    let mut data_offs = vec![0u32; q.tensors.len()];
    for (i, t) in q.tensors.iter().enumerate() {
        if let Some(d) = &t.data {
            align_to(&mut data, DATA_ALIGN);
            data_offs[i] = data.len() as u32;
            data.extend(d);
        }
    }
    // tensor table
    let mut tensors = Vec::new();
    for (i, t) in q.tensors.iter().enumerate() {
        if t.shape.len() > MAX_RANK {
            bail!(
                "tensor '{}' has rank {} (max {MAX_RANK})",
                t.name,
                t.shape.len()
            );
        }
        let mut dims = [1u32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(&t.shape) {
            *d = s as u32;
        }
        let byte_len = match &t.data {
            Some(d) => d.len(),
            None => t.shape.iter().product::<usize>() * t.dtype.size(),
        } as u32;
        let (kind, offset) = match &t.data {
            Some(_) => (TensorKind::Constant, data_offs[i]),
            None => (TensorKind::Arena, plan.offsets[i].unwrap_or(0) as u32),
        };
        let info = TensorInfo {
            dtype: t.dtype,
            kind,
            rank: t.shape.len() as u8,
            dims,
            scale: t.scale,
            zero_point: t.zero_point,
            offset,
            byte_len,
            name_off: name_offs[i],
            layout: t.layout,
        };
        tensors.extend(info.encode());
    }
    // ops
    let mut ops = Vec::new();
    for (i, op) in q.ops.iter().enumerate() {
        ops.push(op.opcode as u8);
        ops.push(op.inputs.len() as u8);
        ops.push(op.outputs.len() as u8);
        ops.push(0);
        ops.extend((op.params.len() as u16).to_le_bytes());
        ops.extend([0, 0]);
        let (s_off, s_len) = plan.scratch.get(i).copied().unwrap_or((0, 0));
        ops.extend((s_off as u32).to_le_bytes());
        ops.extend((s_len as u32).to_le_bytes());
        let start = ops.len();
        for &t in op.inputs.iter().chain(&op.outputs) {
            ops.extend((t as u16).to_le_bytes());
        }
        ops.resize(start + pad4(ops.len() - start), 0);
        let start = ops.len();
        ops.extend(&op.params);
        ops.resize(start + pad4(op.params.len()), 0);
    }
    let mut io = Vec::new();
    for &t in q.inputs.iter().chain(&q.outputs) {
        io.extend((t as u16).to_le_bytes());
    }
    // assemble
    let mut f = vec![0u8; HEADER_LEN];
    let tensors_off = f.len();
    f.extend(&tensors);
    align_to(&mut f, 4);
    let ops_off = f.len();
    f.extend(&ops);
    let io_off = f.len();
    f.extend(&io);
    let names_off = f.len();
    f.extend(&names);
    align_to(&mut f, DATA_ALIGN);
    let data_off = f.len();
    f.extend(&data);
    let file_len = f.len();
    let put = |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
    f[0..4].copy_from_slice(&MAGIC);
    f[4..6].copy_from_slice(&VERSION.to_le_bytes());
    f[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    put(&mut f, 8, file_len as u32);
    f[16..18].copy_from_slice(&(q.tensors.len() as u16).to_le_bytes());
    f[18..20].copy_from_slice(&(q.ops.len() as u16).to_le_bytes());
    f[20..22].copy_from_slice(&(q.inputs.len() as u16).to_le_bytes());
    f[22..24].copy_from_slice(&(q.outputs.len() as u16).to_le_bytes());
    put(&mut f, 24, plan.arena_bytes as u32);
    put(&mut f, 28, tensors_off as u32);
    put(&mut f, 32, ops_off as u32);
    put(&mut f, 36, ops.len() as u32);
    put(&mut f, 40, io_off as u32);
    put(&mut f, 44, data_off as u32);
    put(&mut f, 48, data.len() as u32);
    put(&mut f, 52, names_off as u32);
    put(&mut f, 56, names.len() as u32);
    put(&mut f, 60, 0);
    let crc = checksum(&f[16..]);
    put(&mut f, 12, crc);
    Ok(f)
}
