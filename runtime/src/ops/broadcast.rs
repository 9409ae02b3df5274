//! NumPy-style broadcasting shared by the binary elementwise ops.

use crate::format::MAX_RANK;
use crate::tensor::TensorInfo;

/// Whether `a` and `b` broadcast to exactly `out` (dims aligned on the right).
pub fn broadcasts_to(a: &TensorInfo, b: &TensorInfo, out: &TensorInfo) -> bool {
    let r = out.rank as usize;
    if a.rank as usize > r || b.rank as usize > r {
        return false;
    }
    (0..r).all(|i| {
        let o = out.dims[i];
        let pick = |t: &TensorInfo| {
            let off = r - t.rank as usize;
            if i < off {
                1
            } else {
                t.dims[i - off]
            }
        };
        let (da, db) = (pick(a), pick(b));
        (da == o || da == 1) && (db == o || db == 1) && (o == da.max(db) || o == 0)
    })
}

/// Element strides of `t` over the output's 6-D index space (0 where it broadcasts).
pub fn strides(t: &TensorInfo, out: &TensorInfo) -> [usize; MAX_RANK] {
    let mut dims = [1usize; MAX_RANK];
    let off = MAX_RANK - t.rank as usize;
    for i in 0..t.rank as usize {
        dims[off + i] = t.dims[i] as usize;
    }
    let mut odims = [1usize; MAX_RANK];
    let ooff = MAX_RANK - out.rank as usize;
    for i in 0..out.rank as usize {
        odims[ooff + i] = out.dims[i] as usize;
    }
    let mut st = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for i in (0..MAX_RANK).rev() {
        st[i] = if dims[i] == 1 && odims[i] != 1 {
            0
        } else {
            acc
        };
        acc *= dims[i];
    }
    st
}

/// Call `f(index_a, index_b, index_out)` for every output element in row-major order.
pub fn for_each(
    a: &TensorInfo,
    b: &TensorInfo,
    out: &TensorInfo,
    mut f: impl FnMut(usize, usize, usize),
) {
    let sa = strides(a, out);
    let sb = strides(b, out);
    let mut od = [1usize; MAX_RANK];
    let ooff = MAX_RANK - out.rank as usize;
    for i in 0..out.rank as usize {
        od[ooff + i] = out.dims[i] as usize;
    }
    if od.contains(&0) {
        return;
    }
    let mut io = 0usize;
    for i0 in 0..od[0] {
        for i1 in 0..od[1] {
            for i2 in 0..od[2] {
                for i3 in 0..od[3] {
                    for i4 in 0..od[4] {
                        let base_a = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3] + i4 * sa[4];
                        let base_b = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3] + i4 * sb[4];
                        for i5 in 0..od[5] {
                            f(base_a + i5 * sa[5], base_b + i5 * sb[5], io);
                            io += 1;
                        }
                    }
                }
            }
        }
    }
}
