//! The activation of a kernel with a fused epilogue (netc: src/ops/activation/kernel.rs): `activate`
//! is the kernel's own one, its expression from the table in src/ops/activation/table.rs.

const LEAKY_SLOPE: f32 = {{LEAKY_SLOPE}};

// exp(a) to ~2 ulp for a <= 0, independent of the driver's `exp` (Vulkan allows 3 + 2|a| ulp,
// which on lavapipe costs gelu 1e-5 relative accuracy in its tail). Cody-Waite reduction
// a = n ln2 + r with ln2 split so n * LN2_HI is exact, then a degree-7 Taylor polynomial on
// |r| <= ln2/2 (truncation error < 6e-9), scaled back by 2^n.
fn exp_accurate(a: f32) -> f32 {
    let n = round(a * 1.44269504089);
    let r = (a - n * 0.693145751953125) - n * 1.428606765330187e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.166666666667 + r * (0.0416666666667
        + r * (0.00833333333333 + r * (0.00138888888889 + r * 0.000198412698413))))));
    return ldexp(p, i32(n));
}

// Keeps the top 12 mantissa bits of v, so the product of two such values is exact in f32.
fn split_hi(v: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(v) & 0xfffff000u);
}

// erfc(z) for z >= 0, given z^2 as an unevaluated sum sq_hi + sq_lo. Numerical Recipes'
// Chebyshev fit `erfcc` has fractional error below 1.2e-7 for every z; Abramowitz-Stegun 7.1.26
// is only good to 1.5e-7 *absolute*, too coarse for gelu's left tail. Passing z^2 in two parts
// avoids its rounding, which exp(-z^2) would amplify to ~2 z^2 ulp of relative error.
fn erfc_core(z: f32, sq_hi: f32, sq_lo: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
        + t * 0.17087277))))))));
    return t * exp_accurate(-sq_hi) * exp_accurate(p - sq_lo);
}

// erfc(z), z >= 0.
fn erfc_nonneg(z: f32) -> f32 {
    let zh = split_hi(z);
    return erfc_core(z, zh * zh, (z - zh) * (z + zh));
}

// erf(x) = sign(x) * (1 - erfc(|x|)).
fn erf_f32(x: f32) -> f32 {
    let r = 1.0 - erfc_nonneg(abs(x));
    return select(r, -r, x < 0.0);
}

// Exact gelu, 0.5 x (1 + erf(x / sqrt 2)), written with erfc so neither side cancels:
// x >= 0: x - 0.5 x erfc(x / sqrt2);  x < 0: 0.5 x erfc(-x / sqrt2). The exponent x^2 / 2 is
// formed from x itself (not from the rounded x / sqrt 2), split as above.
fn gelu(x: f32) -> f32 {
    let a = abs(x);
    let ah = split_hi(a);
    let c = 0.5 * x * erfc_core(a * 0.70710678118654752, 0.5 * ah * ah, 0.5 * (a - ah) * (a + ah));
    return select(c, x - c, x >= 0.0);
}

// tanh without overflow or cancellation: an odd Taylor polynomial below |x| = 0.3 (truncation
// error < 2e-9 relative), and (1 - e) / (1 + e) with e = exp(-2|x|) above, which never overflows
// (the textbook (e^x - e^-x) / (e^x + e^-x) gives inf/inf = NaN for large |x| on some drivers).
fn tanh_stable(x: f32) -> f32 {
    let a = abs(x);
    let s = x * x;
    let series = x * (1.0 + s * (-0.33333333333 + s * (0.13333333333 + s * (-0.05396825397
        + s * (0.02186948854 + s * -0.00886323552)))));
    let e = exp(-2.0 * a);
    let t = (1.0 - e) / (1.0 + e);
    return select(select(t, -t, x < 0.0), series, a < 0.3);
}

// {{ACT_NAME}}
fn activate(x: f32) -> f32 {
    return {{ACTIVATE}};
}
{{#if VEC4}}

// Lane by lane, for kernels that hold four consecutive elements per invocation.
fn activate4(v: vec4<f32>) -> vec4<f32> {
    return vec4(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}
{{/if}}
