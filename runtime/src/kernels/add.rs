//! Elementwise addition of two same-shape tensors (residual connections), without the
//! reference kernel's general broadcasting index walk, using the 32-bit requantization.

use crate::ops::add::AddParams;
use crate::quant::requantize_nonneg;
use crate::tensor::{TensorMut, TensorRef};

/// Whether [`eval_same_shape`] covers these operands.
pub fn covers(ins: &[TensorRef<'_>], outs: &[TensorMut<'_>]) -> bool {
    let y = outs[0].info.shape();
    ins[0].info.shape() == y && ins[1].info.shape() == y
}

/// Same contract and results as [`crate::ops::add::eval`] for operands [`covers`] accepts.
pub fn eval_same_shape(p: &AddParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    let (a, b) = (&ins[0], &ins[1]);
    let (a_zp, b_zp) = (a.info.zero_point, b.info.zero_point);
    let y = &mut outs[0];
    let y_zp = y.info.zero_point;
    let ls = p.left_shift as u32;
    let (lo, hi) = (p.act_min as i32, p.act_max as i32);
    let finish = |ra: i32, rb: i32| {
        let v = requantize_nonneg(ra.saturating_add(rb), p.out.0, p.out.1).saturating_add(y_zp);
        v.clamp(lo, hi) as i8
    };
    let rescale_a = |v: i8| requantize_nonneg((v as i32 - a_zp) << ls, p.a.0, p.a.1);
    let rescale_b = |v: i8| requantize_nonneg((v as i32 - b_zp) << ls, p.b.0, p.b.1);
    let (ad, bd, yd) = (a.as_i8(), b.as_i8(), y.as_i8_mut());
    if yd.len() < 1024 {
        for ((o, &va), &vb) in yd.iter_mut().zip(ad).zip(bd) {
            *o = finish(rescale_a(va), rescale_b(vb));
        }
        return;
    }
    // Each input's rescaling depends on its 256 possible values only: tabulate both (2 KiB of
    // stack) once instead of rescaling every element.
    let mut ta = [0i32; 256];
    let mut tb = [0i32; 256];
    for v in i8::MIN..=i8::MAX {
        ta[(v as u8) as usize] = rescale_a(v);
        tb[(v as u8) as usize] = rescale_b(v);
    }
    for ((o, &va), &vb) in yd.iter_mut().zip(ad).zip(bd) {
        *o = finish(ta[(va as u8) as usize], tb[(vb as u8) as usize]);
    }
}
