//! Integer quantization arithmetic: the one definition every kernel must reproduce bit for bit.
//!
//! Activations are asymmetric int8 (`real = scale * (q - zero_point)`), weights are symmetric
//! per-channel int8 in `[-127, 127]`, biases int32 with `scale = input_scale * weight_scale`.
//!
//! Requantization multiplies an int32 accumulator by a real factor `M` encoded as a Q31
//! multiplier `m ∈ [2^30, 2^31)` and a power-of-two exponent `shift` (`M ≈ m / 2^31 * 2^shift`):
//!
//! 1. `x = saturate(acc << max(shift, 0))`
//! 2. `h = saturate((x * m + 2^30) >> 31)` — the doubling high multiply, rounding half **up**
//!    (exactly what ARM's `SQRDMULH` computes);
//! 3. `y = (h + 2^(r-1)) >> r` with `r = max(-shift, 0)` — rounding half **up** (ARM `SRSHL`).
//!
//! This is TFLite's double-rounding scheme, except that both roundings are half-up rather than
//! gemmlowp's half-away-from-zero; the two differ only on exact negative ties. We chose half-up
//! because every SIMD ISA we target computes it in one instruction, so optimised kernels need no
//! fix-up to stay bit-exact with this reference.

/// Smallest allowed requantization shift (a right shift by 31).
pub const MIN_SHIFT: i32 = -31;
/// Largest allowed requantization shift (a left shift by 30).
pub const MAX_SHIFT: i32 = 30;

/// `saturate((a * b + 2^30) >> 31)`: ARM `SQRDMULH` semantics.
#[inline(always)]
pub fn doubling_high_mul(a: i32, b: i32) -> i32 {
    let p = (a as i64) * (b as i64) + (1i64 << 30);
    let r = p >> 31;
    if r > i32::MAX as i64 {
        i32::MAX
    } else {
        r as i32
    }
}

/// `(x + 2^(r-1)) >> r` for `r` in `0..=31`, rounding half up, without overflow.
#[inline(always)]
pub fn rounding_shift_right(x: i32, r: u32) -> i32 {
    if r == 0 {
        x
    } else {
        (((x as i64) + (1i64 << (r - 1))) >> r) as i32
    }
}

/// Saturating `x << l` for `l` in `0..=30`.
#[inline(always)]
pub fn saturating_shift_left(x: i32, l: u32) -> i32 {
    x.saturating_mul(1i32 << l)
}

/// Apply a requantization factor `(multiplier, shift)` to an int32 value (see module docs).
#[inline(always)]
pub fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift as u32 } else { 0 };
    let right = if shift < 0 { (-shift) as u32 } else { 0 };
    rounding_shift_right(
        doubling_high_mul(saturating_shift_left(acc, left), multiplier),
        right,
    )
}

/// Requantize, add the output zero point and clamp to `[min, max]` (the fused activation).
#[inline(always)]
pub fn requantize_to_i8(
    acc: i32,
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    min: i8,
    max: i8,
) -> i8 {
    let v = requantize(acc, multiplier, shift).saturating_add(zero_point);
    v.clamp(min as i32, max as i32) as i8
}

/// [`requantize`] for a multiplier ≥ 0 (every multiplier a valid model holds), in 32-bit steps
/// a Cortex-M runs quickly. Bit-exact with [`requantize`]: with `multiplier ≥ 0` the doubling
/// high multiply cannot saturate, and `floor((p + 2^(r-1)) / 2^r)` equals
/// `(p >> r) + bit r-1 of p` (the low `r` bits round up exactly when that bit is set).
#[inline(always)]
pub fn requantize_nonneg(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let x = if shift > 0 {
        saturating_shift_left(acc, shift as u32)
    } else {
        acc
    };
    let p = ((x as i64 * multiplier as i64 + (1i64 << 30)) >> 31) as i32;
    if shift >= 0 {
        p
    } else {
        let r = (-shift) as u32;
        (p >> r) + ((p >> (r - 1)) & 1)
    }
}

/// Encode a positive real factor as `(multiplier, shift)`.
///
/// Factors too small for a right shift of 31 keep precision by shrinking the multiplier below
/// `2^30`; zero, negative, non-finite or too large factors return `None`.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    // real = q * 2^e with q in [0.5, 1)
    let mut e = 0i32;
    let mut q = real;
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut m = round_half_away_f64(q * 2147483648.0);
    if m == 1i64 << 31 {
        m /= 2;
        e += 1;
    }
    if e > MAX_SHIFT {
        return None;
    }
    if e < MIN_SHIFT {
        let extra = (MIN_SHIFT - e) as u32;
        if extra >= 31 {
            return Some((0, 0));
        }
        m = (m + (1i64 << (extra - 1))) >> extra;
        e = MIN_SHIFT;
    }
    Some((m as i32, e))
}

/// The real factor a `(multiplier, shift)` pair stands for.
pub fn multiplier_to_real(multiplier: i32, shift: i32) -> f64 {
    multiplier as f64 / 2147483648.0 * pow2(shift)
}

fn pow2(e: i32) -> f64 {
    let mut v = 1.0f64;
    if e >= 0 {
        for _ in 0..e {
            v *= 2.0;
        }
    } else {
        for _ in 0..(-e) {
            v *= 0.5;
        }
    }
    v
}

/// Round half away from zero without `libm`; out-of-range values saturate, NaN gives 0.
#[inline(always)]
pub fn round_half_away_f32(x: f32) -> i32 {
    if x >= 0.0 {
        (x + 0.5) as i32
    } else {
        (x - 0.5) as i32
    }
}

fn round_half_away_f64(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// ±2^30: [`quantize_f32`] bounds the scaled value to this before rounding (the vector
/// kernels in `kernels::quantize` do the same steps).
pub(crate) const QUANTIZE_BOUND: f32 = 1073741824.0;

/// Quantize one real value: `clamp(round(x * inv_scale) + zero_point, -128, 127)`.
///
/// The runtime multiplies by `inv_scale = 1.0f32 / scale` (computed once per tensor) instead of
/// dividing, so that MCUs without a divider stay fast; the quantizer uses the same formula.
#[inline(always)]
pub fn quantize_f32(x: f32, inv_scale: f32, zero_point: i32) -> i8 {
    // Same value as `round_half_away_f32(x * inv_scale).saturating_add(zero_point)` clamped to
    // int8 (for any |zero_point| < 2^29), in a branch-free form that vectorises: bounding the
    // scaled value to ±2^30 first changes no result (beyond it everything saturates anyway)
    // and lets the truncating conversion skip its saturation checks; NaN maps to 0 as before.
    let v = x * inv_scale;
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(-QUANTIZE_BOUND, QUANTIZE_BOUND)
    };
    let r = v + if v >= 0.0 { 0.5 } else { -0.5 };
    // SAFETY: `r` is finite and within ±2^30 (the 0.5 is absorbed at that magnitude), so the
    // truncation is in range.
    let t = unsafe { r.to_int_unchecked::<i32>() };
    (t.saturating_add(zero_point)).clamp(-128, 127) as i8
}

/// Dequantize one int8 value.
#[inline(always)]
pub fn dequantize_i8(q: i8, scale: f32, zero_point: i32) -> f32 {
    (q as i32 - zero_point) as f32 * scale
}

/// Integer division rounding half away from zero (average pooling); `d > 0`.
#[inline(always)]
pub fn div_round_half_away(n: i32, d: i32) -> i32 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        (n - d / 2) / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_high_mul_saturates_only_at_min_times_min() {
        assert_eq!(doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(doubling_high_mul(i32::MIN, i32::MAX), -i32::MAX);
        assert_eq!(doubling_high_mul(i32::MAX, i32::MAX), i32::MAX - 1);
    }

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(rounding_shift_right(3, 1), 2); // 1.5 -> 2
        assert_eq!(rounding_shift_right(-3, 1), -1); // -1.5 -> -1
        assert_eq!(rounding_shift_right(5, 2), 1); // 1.25 -> 1
        assert_eq!(rounding_shift_right(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rounding_shift_right(i32::MAX, 31), 1);
        assert_eq!(rounding_shift_right(i32::MIN, 31), -1);
        // half of 2^30 * 2 / 2^31: doubling high mul of 1 and 2^30 is 0.5 -> 1
        assert_eq!(doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(doubling_high_mul(-1, 1 << 30), 0);
    }

    #[test]
    fn multiplier_round_trips_across_scales() {
        for &real in &[
            1e-12,
            3.3e-10,
            1e-6,
            0.0003,
            0.25,
            0.5,
            0.7,
            0.999999999,
            1.0,
            3.0,
            1234.5,
            1e9,
        ] {
            let (m, s) = quantize_multiplier(real).unwrap();
            let back = multiplier_to_real(m, s);
            let rel = ((back - real) / real).abs();
            // tiny factors lose multiplier bits below 2^-31: relative error grows, bounded by one unit in m
            let tol = if m >= 1 << 30 { 1e-9 } else { 1.0 / m as f64 };
            assert!(rel <= tol, "{real}: {m} {s} -> {back} ({rel})");
            assert!((MIN_SHIFT..=MAX_SHIFT).contains(&s));
        }
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        assert_eq!(quantize_multiplier(1e-30), Some((0, 0)));
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        assert_eq!(quantize_multiplier(1e12), None);
    }

    #[test]
    fn requantize_matches_real_arithmetic_within_one() {
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..20000 {
            let acc = (next() as i32) >> (next() % 24);
            let real = (next() % 1_000_000) as f64 / 1_000_000.0
                * [1e-4, 1e-2, 1.0, 10.0][(next() % 4) as usize]
                + 1e-9;
            let (m, s) = quantize_multiplier(real).unwrap();
            let exact = acc as f64 * multiplier_to_real(m, s);
            let got = requantize(acc, m, s) as f64;
            let shifted = acc as f64 * pow2(s.max(0));
            if shifted.abs() < 2.1e9 {
                assert!(
                    (got - exact).abs() <= 1.0,
                    "acc {acc} real {real}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn requantize_saturates_huge_left_shifts() {
        let (m, s) = quantize_multiplier(2f64.powi(29)).unwrap();
        // the left shift saturates first, then the Q31 multiply halves: 2^31 * 2^30 / 2^31
        assert_eq!((m, s), (1 << 30, 30));
        assert_eq!(requantize(i32::MAX, m, s), 1 << 30);
        assert_eq!(requantize(i32::MIN, m, s), -(1 << 30));
        assert_eq!(requantize_to_i8(1 << 20, m, s, 0, -128, 127), 127);
        assert_eq!(requantize_to_i8(-(1 << 20), m, s, 0, -128, 127), -128);
    }

    #[test]
    fn quantize_f32_rounds_half_away_and_saturates() {
        assert_eq!(quantize_f32(0.5, 1.0, 0), 1);
        assert_eq!(quantize_f32(-0.5, 1.0, 0), -1);
        assert_eq!(quantize_f32(1e30, 1.0, 0), 127);
        assert_eq!(quantize_f32(-1e30, 1.0, 3), -128);
        assert_eq!(quantize_f32(f32::NAN, 1.0, 5), 5);
        assert_eq!(quantize_f32(f32::INFINITY, 1.0, 0), 127);
        assert_eq!(div_round_half_away(5, 2), 3);
        assert_eq!(div_round_half_away(-5, 2), -3);
        assert_eq!(div_round_half_away(4, 3), 1);
    }
}
