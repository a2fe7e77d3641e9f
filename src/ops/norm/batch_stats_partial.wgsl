//! Batch statistics, first pass (netc: src/ops/norm/train_kernel.rs): one workgroup
//! per (channel, chunk of CHUNK values); writes the chunk's mean and M2 (sum of squared
//! deviations from that mean) to scratch [CHANNELS, CHUNKS, 2].
//!
//! Two sweeps over the chunk: its mean, then the deviations from it, with Björck's correction
//! M2 = sum d^2 - (sum d)^2 / n, which removes the first-order effect of the rounded mean. No
//! large sums of squares are ever subtracted, so |mean| >> std costs no accuracy. Values of
//! channel c in order: j = n * HW + p over the N planes of [N, CHANNELS, HW].

{{#if F16}}
enable f16;
{{/if}}
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const M: u32 = {{M}}; // values per channel, N * HW
const CHUNK: u32 = {{CHUNK}}; // WG * values per invocation
const CHUNKS: u32 = {{CHUNKS}}; // chunks per channel
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};
// Sweeps read WIDTH consecutive values of a plane as one V (HW, CHUNK and M are multiples of
// WIDTH): j below counts vectors, not values.
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How activations are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
const HW_V: u32 = HW / WIDTH;

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;

var<workgroup> sum_a: array<f32, WG>;
var<workgroup> sum_b: array<f32, WG>;

// Vector j of channel c's values.
fn value(c: u32, j: u32) -> V {
    return V(x[((j / HW_V) * CHANNELS + c) * HW_V + j % HW_V]);
}

{{LANE_SUM_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `g` is uniform across the workgroup, so the early return keeps barriers uniform.
    let g = wid.x + wid.y * GRID_X;
    if g >= CHANNELS * CHUNKS {
        return;
    }
    let c = g / CHUNKS;
    let start = (g % CHUNKS) * CHUNK;
    let end = min(start + CHUNK, M);
    let count = f32(end - start);

    var s = V(0.0);
    for (var j = start / WIDTH + lid.x; j < end / WIDTH; j += WG) {
        s += value(c, j);
    }
    sum_a[lid.x] = lane_sum(s);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            sum_a[lid.x] += sum_a[lid.x + stride];
        }
        workgroupBarrier();
    }
    let mean = sum_a[0] / count;
    // Everyone must read the sum before the buffer is reused.
    workgroupBarrier();

    var d = V(0.0);
    var d2 = V(0.0);
    for (var j = start / WIDTH + lid.x; j < end / WIDTH; j += WG) {
        let e = value(c, j) - mean;
        d += e;
        d2 = fma(e, e, d2);
    }
    sum_a[lid.x] = lane_sum(d);
    sum_b[lid.x] = lane_sum(d2);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            sum_a[lid.x] += sum_a[lid.x + stride];
            sum_b[lid.x] += sum_b[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        let shift = sum_a[0] / count;
        scratch[2u * g] = mean + shift;
        scratch[2u * g + 1u] = max(sum_b[0] - sum_a[0] * shift, 0.0);
    }
}
