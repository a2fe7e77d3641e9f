//! Channel-concat copy (netc: src/ops/elementwise/kernel.rs): copies src [BATCH, SRC_CHANNELS, HW]
//! into channels [DST_OFFSET, DST_OFFSET + SRC_CHANNELS) of dst [BATCH, DST_CHANNELS, HW].
//! Used only when a producer cannot write into the concat buffer directly. Each invocation
//! copies WIDTH consecutive elements of a plane (HW is a multiple of WIDTH) as one V.

{{#if F16}}
enable f16;
{{/if}}
const WIDTH: u32 = {{WIDTH}};
// V's width of the stored type (f32, or f16 in a mixed-precision plan): a copy never converts.
alias Stored = {{STORED}};

const BATCH: u32 = {{BATCH}};
const SRC_CHANNELS: u32 = {{SRC_CHANNELS}};
const DST_CHANNELS: u32 = {{DST_CHANNELS}};
const DST_OFFSET: u32 = {{DST_OFFSET}};
const HW: u32 = {{HW}};
const HW_V: u32 = HW / WIDTH;
// Invocations.
const TOTAL: u32 = BATCH * SRC_CHANNELS * HW_V;
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> src: array<Stored>;
@group(0) @binding(1) var<storage, read_write> dst: array<Stored>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let p = i % HW_V;
    let c = (i / HW_V) % SRC_CHANNELS;
    let n = i / (HW_V * SRC_CHANNELS);
    dst[(n * DST_CHANNELS + DST_OFFSET + c) * HW_V + p] = src[i];
}
