//! Gradient of global average pooling (netc: src/ops/pool/grad_kernel.rs):
//! dx [N, C, H, W] = dy [N, C] / (H W), broadcast over each plane. One element per invocation.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const TOTAL: u32 = {{TOTAL}};
const HW: u32 = {{HW}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> dy: array<Stored>;
@group(0) @binding(1) var<storage, read_write> dx: array<Stored>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    dx[i] = Stored(f32(dy[i / HW]) / f32(HW));
}
