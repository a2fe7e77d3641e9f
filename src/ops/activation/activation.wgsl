//! Elementwise activation y = act(x) (netc: src/ops/activation/kernel.rs). One element per invocation.

{{#if F16}}
enable f16;
{{/if}}
// How the tensors are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    y[i] = Stored(activate(f32(x[i])));
}
