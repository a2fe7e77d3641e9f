//! Elementwise add with an optional fused activation, y = act(a + b) (netc: src/ops/elementwise/kernel.rs).
//! ResNet's residual join is add followed by relu, hence the fusion. Each invocation adds WIDTH
//! consecutive elements, read and written as one V (vec4<f32> or f32).

{{#if F16}}
enable f16;
{{/if}}
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How the tensors are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
// Invocations: elements / WIDTH.
const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> a: array<Stored>;
@group(0) @binding(1) var<storage, read> b: array<Stored>;
@group(0) @binding(2) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
{{#if VEC4}}
    y[i] = Stored(activate4(V(a[i]) + V(b[i])));
{{/if}}
{{#if !VEC4}}
    y[i] = Stored(activate(V(a[i]) + V(b[i])));
{{/if}}
}
