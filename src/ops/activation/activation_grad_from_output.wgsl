//! Activation gradient from the activation's output, dx = dy * act'(x) with y = act(x)
//! (netc: src/ops/activation/kernel.rs). The fusion pass folds the activation into
//! its producer, so x is never stored; the derivative comes from shaders/lib/activation_grad.wgsl.
//! One element per invocation.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> y: array<Stored>;
@group(0) @binding(1) var<storage, read> dy: array<Stored>;
@group(0) @binding(2) var<storage, read_write> dx: array<Stored>;

{{ACT_GRAD_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    dx[i] = Stored(f32(dy[i]) * derivative_from_output(f32(y[i])));
}
