//! Axis permutation: `y.dims[i] = x.dims[perm[i]]`.

use super::{ensure, same_quant, Check, OpShapes};
use crate::format::MAX_RANK;
use crate::tensor::{TensorMut, TensorRef};

/// Transpose parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransposeParams {
    /// Rank of the permutation.
    pub rank: u8,
    /// Output axis `i` takes input axis `perm[i]`.
    pub perm: [u8; MAX_RANK],
}

impl TransposeParams {
    /// Encoded length.
    pub const LEN: usize = 8;
    /// Decode from the op record.
    pub fn decode(b: &[u8]) -> Result<Self, &'static str> {
        ensure(b.len() == Self::LEN, "parameter block has the wrong length")?;
        let rank = b[0];
        ensure(rank as usize <= MAX_RANK, "rank above 6")?;
        let mut perm = [0u8; MAX_RANK];
        perm.copy_from_slice(&b[1..1 + MAX_RANK]);
        let mut seen = [false; MAX_RANK];
        for &p in &perm[..rank as usize] {
            ensure(
                (p as usize) < rank as usize && !seen[p as usize],
                "not a permutation",
            )?;
            seen[p as usize] = true;
        }
        Ok(TransposeParams { rank, perm })
    }
    /// Encode for the op record.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = self.rank;
        b[1..1 + MAX_RANK].copy_from_slice(&self.perm);
        b
    }
}

pub(crate) fn validate(params: &[u8], s: &OpShapes<'_, '_>) -> Check {
    let p = TransposeParams::decode(params)?;
    s.arity(1, 1)?;
    let (x, y) = (s.input(0)?, &s.outputs[0]);
    ensure(
        x.rank == p.rank && y.rank == p.rank && x.dtype == y.dtype,
        "rank or dtype mismatch",
    )?;
    ensure(same_quant(x, y), "transpose must keep scale and zero point")?;
    for i in 0..p.rank as usize {
        ensure(
            y.dims[i] == x.dims[p.perm[i] as usize],
            "output shape is not the permuted input shape",
        )?;
    }
    Ok(())
}

/// Output dims and the matching input strides (in elements), padded to six axes in front.
fn byte_walk(
    p: &TransposeParams,
    ins: &[TensorRef<'_>],
    outs: &[TensorMut<'_>],
) -> ([usize; MAX_RANK], [usize; MAX_RANK]) {
    let x = &ins[0];
    let r = p.rank as usize;
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for i in (0..r).rev() {
        in_strides[i] = acc;
        acc *= x.info.dims[i] as usize;
    }
    let mut st = [0usize; MAX_RANK];
    let mut od = [1usize; MAX_RANK];
    let off = MAX_RANK - r;
    for i in 0..r {
        st[off + i] = in_strides[p.perm[i] as usize];
        od[off + i] = outs[0].info.dims[i] as usize;
    }
    (od, st)
}

/// Reference evaluation (any element size).
pub fn eval(p: &TransposeParams, ins: &[TensorRef<'_>], outs: &mut [TensorMut<'_>]) {
    eval_on(crate::KernelPath::Reference, p, ins, outs)
}

/// [`eval`] on kernel path `path`: the same bytes, with the network input's planes-to-channels
/// case (NCHW to NHWC, three or four channels) by shuffles on the x86 AVX2 paths.
pub fn eval_on(
    path: crate::KernelPath,
    p: &TransposeParams,
    ins: &[TensorRef<'_>],
    outs: &mut [TensorMut<'_>],
) {
    let _ = path;
    let x = &ins[0];
    let es = x.info.dtype.size();
    // input strides in elements, permuted to output axis order
    let (od, st) = byte_walk(p, ins, outs);
    let yd = &mut *outs[0].data;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
    if es == 1 && bytes_longest_axis_inner(path, yd, x.data, (&od, &st)) {
        return;
    }
    let mut oi = 0usize;
    for i0 in 0..od[0] {
        for i1 in 0..od[1] {
            for i2 in 0..od[2] {
                for i3 in 0..od[3] {
                    for i4 in 0..od[4] {
                        for i5 in 0..od[5] {
                            let ii = i0 * st[0]
                                + i1 * st[1]
                                + i2 * st[2]
                                + i3 * st[3]
                                + i4 * st[4]
                                + i5 * st[5];
                            yd[oi * es..oi * es + es]
                                .copy_from_slice(&x.data[ii * es..ii * es + es]);
                            oi += 1;
                        }
                    }
                }
            }
        }
    }
}

/// The same permutation of bytes (`od`: output dims, `st`: matching input strides, padded to six
/// axes), walking the longest axis innermost so that short ones (three colour channels, say) do
/// not pay a loop set-up per element, without per-element bounds checks. Returns `false`
/// (nothing written) when the sizes do not match the dims. For hosts, where the network input's
/// layout change is worth it (and 32-bit Arm built with NEON); microcontrollers keep the loop
/// above (code size).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
fn bytes_longest_axis_inner(
    path: crate::KernelPath,
    y: &mut [u8],
    x: &[u8],
    (od, st): (&[usize; MAX_RANK], &[usize; MAX_RANK]),
) -> bool {
    // the largest indices visited are Σ (dim − 1)·stride on either side
    let last_in: usize = (0..MAX_RANK).map(|a| (od[a].max(1) - 1) * st[a]).sum();
    let count: usize = od.iter().product();
    if count == 0 || last_in >= x.len() || count > y.len() {
        return false;
    }
    let mut ost = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for i in (0..MAX_RANK).rev() {
        ost[i] = acc;
        acc *= od[i];
    }
    let _ = path;
    #[cfg(any(target_arch = "aarch64", mote_arm32_neon))]
    if matches!(od[5], 3 | 4) && st[4] == 1 {
        let (c, plane) = (od[5], st[5]);
        // SAFETY: every index visited is at most the largest (checked above)
        unsafe {
            interleave_planes(y, x, (od, st), |dst, src, run| {
                let mut j = 0;
                while j + 16 <= run {
                    interleave16(dst.add(c * j), src.add(j), plane, c == 3);
                    j += 16;
                }
                j
            })
        };
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if path.has_avx2() && matches!(od[5], 3 | 4) && st[4] == 1 {
        let (c, plane) = (od[5], st[5]);
        let masks = x86::masks(c);
        // SAFETY: every index visited is at most the largest (checked above); the AVX2 paths
        // are only selected on CPUs that have it (SSSE3 included)
        unsafe {
            interleave_planes(y, x, (od, st), |dst, src, run| {
                x86::interleave_run(dst, src, (run, plane, c), &masks)
            })
        };
        return true;
    }
    let inner = (0..MAX_RANK)
        .rev()
        .max_by_key(|&a| od[a])
        .unwrap_or(MAX_RANK - 1);
    // the other five axes in order, then the inner one
    let mut order = [inner; MAX_RANK];
    for (slot, a) in order.iter_mut().zip((0..MAX_RANK).filter(|&a| a != inner)) {
        *slot = a;
    }
    let d = order.map(|a| od[a]);
    let (si, so) = (order.map(|a| st[a]), order.map(|a| ost[a]));
    for i0 in 0..d[0] {
        for i1 in 0..d[1] {
            for i2 in 0..d[2] {
                for i3 in 0..d[3] {
                    for i4 in 0..d[4] {
                        let idx = [i0, i1, i2, i3, i4];
                        let (mut ii, mut oi) = (0, 0);
                        for a in 0..5 {
                            ii += idx[a] * si[a];
                            oi += idx[a] * so[a];
                        }
                        for _ in 0..d[5] {
                            // SAFETY: every index visited is at most the largest (checked above)
                            unsafe { *y.get_unchecked_mut(oi) = *x.get_unchecked(ii) };
                            ii += si[5];
                            oi += so[5];
                        }
                    }
                }
            }
        }
    }
    true
}

/// The common network-input case of [`bytes_longest_axis_inner`]: planes to interleaved
/// channels (NCHW to NHWC with three or four channels: `od[5]` channels, each a run of `od[4]`
/// contiguous input bytes). `vector(dst, src, run)` interleaves a run's leading pixels (sixteen
/// per `ST3`/`ST4`, two `VST3`/`VST4` on 32-bit NEON, or `PSHUFB`s on x86) and returns how
/// many; the rest are copied here.
///
/// # Safety
/// Every input index `Σ (od[a] − 1)·st[a]` and output index below `Π od` must be in bounds, and
/// `vector` may only write the pixels it returns.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", mote_arm32_neon))]
unsafe fn interleave_planes(
    y: &mut [u8],
    x: &[u8],
    (od, st): (&[usize; MAX_RANK], &[usize; MAX_RANK]),
    vector: impl Fn(*mut u8, *const u8, usize) -> usize,
) {
    let (run, c, plane) = (od[4], od[5], st[5]);
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    let mut out = 0;
    for i0 in 0..od[0] {
        for i1 in 0..od[1] {
            for i2 in 0..od[2] {
                for i3 in 0..od[3] {
                    let src = xp.add(i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]);
                    let dst = yp.add(out);
                    for j in vector(dst, src, run)..run {
                        for k in 0..c {
                            *dst.add(c * j + k) = *src.add(k * plane + j);
                        }
                    }
                    out += run * c;
                }
            }
        }
    }
}

/// Sixteen bytes of each of three (`three`) or four planes `plane` bytes apart from `src`,
/// interleaved into `dst`.
///
/// # Safety
/// The planes' sixteen bytes must be readable, `dst`'s 48 or 64 writable.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn interleave16(dst: *mut u8, src: *const u8, plane: usize, three: bool) {
    use core::arch::aarch64::*;
    let at = |k: usize| vld1q_u8(src.add(k * plane));
    if three {
        vst3q_u8(dst, uint8x16x3_t(at(0), at(1), at(2)));
    } else {
        vst4q_u8(dst, uint8x16x4_t(at(0), at(1), at(2), at(3)));
    }
}

/// [`interleave16`] in 32-bit NEON assembly (the intrinsics are unstable there).
///
/// # Safety
/// As the AArch64 form; the build targets NEON.
#[cfg(mote_arm32_neon)]
#[inline(always)]
unsafe fn interleave16(dst: *mut u8, src: *const u8, plane: usize, three: bool) {
    if three {
        core::arch::asm!(
            "vld1.8 {{d0-d1}}, [{s}], {plane}",
            "vld1.8 {{d2-d3}}, [{s}], {plane}",
            "vld1.8 {{d4-d5}}, [{s}]",
            "vst3.8 {{d0, d2, d4}}, [{d}]!",
            "vst3.8 {{d1, d3, d5}}, [{d}]",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            plane = in(reg) plane,
            out("q0") _, out("q1") _, out("q2") _,
            options(nostack),
        );
    } else {
        core::arch::asm!(
            "vld1.8 {{d0-d1}}, [{s}], {plane}",
            "vld1.8 {{d2-d3}}, [{s}], {plane}",
            "vld1.8 {{d4-d5}}, [{s}], {plane}",
            "vld1.8 {{d6-d7}}, [{s}]",
            "vst4.8 {{d0, d2, d4, d6}}, [{d}]!",
            "vst4.8 {{d1, d3, d5, d7}}, [{d}]",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            plane = in(reg) plane,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _,
            options(nostack),
        );
    }
}

/// x86-64 (AVX2 paths): the planes-to-channels case with `PSHUFB`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// `PSHUFB` masks for `c` planes: output byte j of 16-byte chunk q takes pixel
    /// (16q + j) / c's channel (16q + j) % c from that channel's plane (−1 elsewhere: zero,
    /// ORed).
    pub(super) fn masks(c: usize) -> [[[i8; 16]; 4]; 4] {
        core::array::from_fn(|q| {
            core::array::from_fn(|k| {
                core::array::from_fn(|j| {
                    let at = 16 * q + j;
                    if at % c == k {
                        (at / c) as i8
                    } else {
                        -1
                    }
                })
            })
        })
    }

    /// A run's whole groups of sixteen pixels of `c` planes `plane` bytes apart from `src`,
    /// interleaved into `dst`; returns how many pixels.
    ///
    /// # Safety
    /// The CPU must support AVX2; the run's `c` planes must be readable, `dst`'s `c·run` bytes
    /// writable.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn interleave_run(
        dst: *mut u8,
        src: *const u8,
        (run, plane, c): (usize, usize, usize),
        masks: &[[[i8; 16]; 4]; 4],
    ) -> usize {
        let masks: [[__m128i; 4]; 4] = core::array::from_fn(|q| {
            masks[q].map(|m| _mm_loadu_si128(m.as_ptr() as *const __m128i))
        });
        let mut j = 0;
        while j + 16 <= run {
            let planes = [0, 1, 2, 3]
                .map(|k| _mm_loadu_si128(src.add(k.min(c - 1) * plane + j) as *const __m128i));
            for (q, m) in masks.iter().enumerate().take(c) {
                let mut v = _mm_shuffle_epi8(planes[0], m[0]);
                for k in 1..c {
                    v = _mm_or_si128(v, _mm_shuffle_epi8(planes[k], m[k]));
                }
                _mm_storeu_si128(dst.add(c * j + 16 * q) as *mut __m128i, v);
            }
            j += 16;
        }
        j
    }
}
