//! Elementwise add with an optional fused activation, y = act(a + b) (netc: src/codegen/kernels/elementwise.rs).
//! ResNet's residual join is add followed by relu, hence the fusion. Each invocation adds WIDTH
//! consecutive elements, read and written as one V (vec4<f32> or f32).

const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// Invocations: elements / WIDTH.
const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> a: array<V>;
@group(0) @binding(1) var<storage, read> b: array<V>;
@group(0) @binding(2) var<storage, read_write> y: array<V>;

{{ACTIVATION_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
{{#if VEC4}}
    y[i] = activate4(a[i] + b[i]);
{{/if}}
{{#if !VEC4}}
    y[i] = activate(a[i] + b[i]);
{{/if}}
}
