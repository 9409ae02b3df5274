//! Running a model: the caller owns the arena; `invoke` never allocates.

use crate::error::{Error, Result};
use crate::format::{Model, OpRecord, MAX_OP_INPUTS, MAX_OP_OUTPUTS, NO_TENSOR};
use crate::kernels::KernelPath;
use crate::ops::{self, OpCode};
use crate::tensor::{DType, TensorInfo, TensorKind, TensorMut, TensorRef};

/// Runs one model in one caller-provided arena.
pub struct Interpreter<'m, 'a> {
    model: Model<'m>,
    arena: &'a mut [u8],
    path: KernelPath,
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Bind a validated model to an arena of at least [`Model::arena_bytes`] bytes; kernels
    /// from [`KernelPath::selected`].
    pub fn new(model: Model<'m>, arena: &'a mut [u8]) -> Result<Self> {
        if arena.len() < model.arena_bytes() {
            return Err(Error::ArenaTooSmall {
                needed: model.arena_bytes(),
                available: arena.len(),
            });
        }
        Ok(Interpreter {
            model,
            arena,
            path: KernelPath::selected()?,
        })
    }

    /// The kernel path [`Interpreter::invoke`] runs (the fastest supported unless changed).
    pub fn kernel_path(&self) -> KernelPath {
        self.path
    }

    /// Run a given kernel path; every path gives identical results. Fails if this build or CPU
    /// cannot run it.
    pub fn set_kernel_path(&mut self, path: KernelPath) -> Result<()> {
        if !path.is_supported() {
            return Err(Error::BadArgument(
                "this kernel path is not supported by this build or CPU",
            ));
        }
        self.path = path;
        Ok(())
    }

    /// The model being run.
    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    /// Record of graph input `i`.
    pub fn input_info(&self, i: usize) -> Result<TensorInfo> {
        if i >= self.model.num_inputs() {
            return Err(Error::BadArgument("input index out of range"));
        }
        self.model.tensor(self.model.input_index(i))
    }

    /// Record of graph output `i`.
    pub fn output_info(&self, i: usize) -> Result<TensorInfo> {
        if i >= self.model.num_outputs() {
            return Err(Error::BadArgument("output index out of range"));
        }
        self.model.tensor(self.model.output_index(i))
    }

    fn arena_range(&self, info: &TensorInfo) -> core::ops::Range<usize> {
        info.offset as usize..info.offset as usize + info.byte_len as usize
    }

    /// Raw bytes of graph input `i`, to fill before [`Interpreter::invoke`].
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8]> {
        let info = self.input_info(i)?;
        let r = self.arena_range(&info);
        Ok(&mut self.arena[r])
    }

    /// Raw bytes of graph output `i` after [`Interpreter::invoke`].
    pub fn output_bytes(&self, i: usize) -> Result<&[u8]> {
        let info = self.output_info(i)?;
        Ok(&self.arena[self.arena_range(&info)])
    }

    /// Copy f32 values into graph input `i` (which must be an f32 tensor of `data.len()` elements).
    pub fn set_input_f32(&mut self, i: usize, data: &[f32]) -> Result<()> {
        let info = self.input_info(i)?;
        if info.dtype != DType::F32 {
            return Err(Error::BadArgument("input is not f32"));
        }
        if info.num_elements() != data.len() {
            return Err(Error::BadArgument(
                "input element count does not match the model",
            ));
        }
        let dst = self.input_bytes_mut(i)?;
        for (d, v) in dst.chunks_exact_mut(4).zip(data) {
            d.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    }

    /// Copy graph output `i` (an f32 tensor) into `out`, which must have its element count.
    pub fn output_f32(&self, i: usize, out: &mut [f32]) -> Result<()> {
        let info = self.output_info(i)?;
        if info.dtype != DType::F32 {
            return Err(Error::BadArgument("output is not f32"));
        }
        if info.num_elements() != out.len() {
            return Err(Error::BadArgument(
                "output buffer length does not match the model",
            ));
        }
        for (o, b) in out.iter_mut().zip(self.output_bytes(i)?.chunks_exact(4)) {
            *o = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// Run the whole graph once.
    pub fn invoke(&mut self) -> Result<()> {
        self.invoke_observed(|_, _, _| {})
    }

    /// Run the whole graph, calling `observe(op, output_info, output_bytes)` after each op for
    /// each of its outputs (for per-layer accuracy reports and debugging).
    pub fn invoke_observed(
        &mut self,
        mut observe: impl FnMut(&OpRecord<'_>, &TensorInfo, &[u8]),
    ) -> Result<()> {
        let model = self.model;
        let arena_ptr = self.arena.as_mut_ptr();
        let arena_len = self.arena.len();
        for op in model.ops() {
            let op = op?;
            let empty = TensorRef {
                info: TensorInfo::EMPTY,
                data: &[],
            };
            let mut ins = [empty; MAX_OP_INPUTS];
            let n_in = op.num_inputs();
            let n_out = op.num_outputs();
            let mut skip = false;
            for (k, slot) in ins.iter_mut().enumerate().take(n_in) {
                let t = op.input(k);
                if t == NO_TENSOR {
                    continue;
                }
                let info = model.tensor(t)?;
                let data: &[u8] = match info.kind {
                    TensorKind::Constant => model.constant_data(&info),
                    TensorKind::Arena => {
                        let r = self.arena_range(&info);
                        if r.end > arena_len {
                            return Err(Error::BadOp {
                                op: op.index,
                                reason: "tensor outside the arena",
                            });
                        }
                        // SAFETY: in bounds (checked above); validation guarantees this op's
                        // outputs and scratch never overlap its arena inputs, so these shared
                        // views never alias the exclusive ones below.
                        unsafe { core::slice::from_raw_parts(arena_ptr.add(r.start), r.len()) }
                    }
                };
                *slot = TensorRef { info, data };
            }
            let mut out_infos = [TensorInfo::EMPTY; MAX_OP_OUTPUTS];
            for (k, slot) in out_infos.iter_mut().enumerate().take(n_out) {
                *slot = model.tensor(op.output(k))?;
                if self.arena_range(slot).end > arena_len {
                    return Err(Error::BadOp {
                        op: op.index,
                        reason: "tensor outside the arena",
                    });
                }
            }
            if op.opcode == OpCode::Reshape
                && n_in == 1
                && ins[0].info.kind == TensorKind::Arena
                && ins[0].info.offset == out_infos[0].offset
            {
                skip = true; // planned in place: the bytes are already where the output lives
            }
            if !skip {
                let (s_off, s_len) = (op.scratch.0 as usize, op.scratch.1 as usize);
                if s_off + s_len > arena_len {
                    return Err(Error::BadOp {
                        op: op.index,
                        reason: "scratch outside the arena",
                    });
                }
                // SAFETY: validation guarantees outputs and scratch are pairwise disjoint and
                // disjoint from every arena input of this op; all are in bounds (checked above).
                let mut outs: [TensorMut<'_>; MAX_OP_OUTPUTS] = core::array::from_fn(|k| {
                    let info = out_infos[k];
                    let len = if k < n_out { info.byte_len as usize } else { 0 };
                    let start = if k < n_out { info.offset as usize } else { 0 };
                    TensorMut {
                        info,
                        data: unsafe { core::slice::from_raw_parts_mut(arena_ptr.add(start), len) },
                    }
                });
                let scratch =
                    unsafe { core::slice::from_raw_parts_mut(arena_ptr.add(s_off), s_len) };
                ops::eval(&op, self.path, &ins[..n_in], &mut outs[..n_out], scratch)?;
            }
            for info in &out_infos[..n_out] {
                let r = self.arena_range(info);
                observe(&op, info, &self.arena[r]);
            }
        }
        Ok(())
    }
}
