//! Dynamic loss scaling, first half (netc: src/ops/optim/loss_scale.rs): raises the
//! loss scaler's "found non-finite" flag when any element of these PARAMS gradients is an inf
//! or a NaN (PyTorch GradScaler's `found_inf`). Runs after every gradient of the step is
//! written and before any parameter is updated; the flag only ever goes from 0 to 1 within a
//! step, so the atomic stores of many invocations agree, and the order of dispatches does not
//! matter.

const PARAMS: u32 = {{PARAMS}};
// Elements of each gradient, and the longest.
const LENS = array<u32, PARAMS>({{LENS}});
const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};
// Word of the scaler's state that holds the flag (see loss_scale_update.wgsl).
const FOUND: u32 = 2u;

{{#for k in PARAMS}}
@group(0) @binding({{k}}) var<storage, read> grad_{{k}}: array<f32>;
{{/for}}
@group(0) @binding(PARAMS) var<storage, read_write> scaler: array<atomic<u32>>;

// inf and NaN are the values whose exponent bits are all ones (WGSL has no isinf/isnan).
fn non_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    var bad = false;
{{#for k in PARAMS}}
    bad = bad || (i < LENS[{{k}}] && non_finite(grad_{{k}}[i]));
{{/for}}
    if bad {
        atomicStore(&scaler[FOUND], 1u);
    }
}
