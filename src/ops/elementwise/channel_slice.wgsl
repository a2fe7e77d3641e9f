//! Channel slice (netc: src/ops/elementwise/grad_kernel.rs), concat's gradient:
//! y [N, CHANNELS, HW] = channels [OFFSET, OFFSET + CHANNELS) of x [N, C_TOTAL, HW].
//! Each invocation copies WIDTH consecutive elements of a plane (HW is a multiple of WIDTH) as
//! one V.

{{#if F16}}
enable f16;
{{/if}}
const WIDTH: u32 = {{WIDTH}};
// V's width of the stored type (f32, or f16 in a mixed-precision plan): a copy never converts.
alias Stored = {{STORED}};
// Invocations: output elements / WIDTH.
const TOTAL: u32 = {{TOTAL}};
const C_TOTAL: u32 = {{C_TOTAL}};
const OFFSET: u32 = {{OFFSET}};
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const HW_V: u32 = HW / WIDTH;
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> y: array<Stored>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let p = i % HW_V;
    let c = (i / HW_V) % CHANNELS;
    let n = i / (HW_V * CHANNELS);
    y[i] = x[(n * C_TOTAL + OFFSET + c) * HW_V + p];
}
