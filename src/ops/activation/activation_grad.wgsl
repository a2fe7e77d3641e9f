//! Activation gradient dx = dy * act'(x) (netc: src/ops/activation/kernel.rs).
//! One element per invocation. The derivatives reuse the activation library's accurate helpers:
//! tanh' = sech^2 x = 4e / (1 + e)^2 with e = exp(-2|x|) (no 1 - tanh^2 cancellation), and
//! gelu' = Phi(x) + x phi(x) with Phi from erfc and x^2 / 2 split as in `gelu`.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> dy: array<Stored>;
@group(0) @binding(2) var<storage, read_write> dx: array<Stored>;

{{ACTIVATION_LIB}}

fn tanh_grad(x: f32) -> f32 {
    // exp(-2|x|) underflows to 0 past |x| ~ 52: the derivative is 0 there too.
    let e = exp_accurate(max(-2.0 * abs(x), -104.0));
    let d = 1.0 + e;
    return 4.0 * e / (d * d);
}

fn gelu_grad(x: f32) -> f32 {
    let a = min(abs(x), 14.0); // past 14, phi(x) underflows and Phi(x) is 0 or 1
    let ah = split_hi(a);
    let sq_hi = 0.5 * ah * ah;
    let sq_lo = 0.5 * (a - ah) * (a + ah);
    // Phi(-|x|) = erfc(|x| / sqrt 2) / 2, accurate to the last bit in the left tail.
    let tail = 0.5 * erfc_core(a * 0.70710678118654752, sq_hi, sq_lo);
    let cdf = select(tail, 1.0 - tail, x >= 0.0);
    let pdf = 0.3989422804014327 * exp_accurate(-sq_hi) * exp_accurate(-sq_lo);
    return cdf + x * pdf;
}

fn derivative(x: f32) -> f32 {
    return {{DERIVATIVE}};
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    dx[i] = Stored(f32(dy[i]) * derivative(f32(x[i])));
}
