//! Batch statistics, second pass (netc: src/ops/norm/train_kernel.rs): one
//! workgroup per channel combines the channel's CHUNKS (mean, M2) partials from scratch
//! [CHANNELS, CHUNKS, 2] with Chan et al.'s parallel formula, first a strided walk per
//! invocation, then a shared-memory tree, both in a fixed order. Writes stats [3, CHANNELS]:
//! mean, biased variance M2 / M, unbiased variance M2 / (M - 1).

const CHANNELS: u32 = {{CHANNELS}};
const M: u32 = {{M}}; // values per channel
const CHUNK: u32 = {{CHUNK}}; // values per chunk (the last one may be shorter)
const CHUNKS: u32 = {{CHUNKS}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> scratch: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

// (count, mean, M2) per invocation.
var<workgroup> part: array<vec3<f32>, WG>;

// Chan, Golub and LeVeque's pairwise update of (count, mean, M2).
fn combine(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    let n = a.x + b.x;
    if n == 0.0 {
        return a;
    }
    let delta = b.y - a.y;
    let fb = b.x / n;
    return vec3<f32>(n, a.y + delta * fb, a.z + b.z + delta * delta * a.x * fb);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `c` is uniform across the workgroup, so the early return keeps barriers uniform.
    let c = wid.x + wid.y * GRID_X;
    if c >= CHANNELS {
        return;
    }
    var acc = vec3<f32>(0.0);
    for (var k = lid.x; k < CHUNKS; k += WG) {
        let i = 2u * (c * CHUNKS + k);
        let count = f32(min(CHUNK, M - k * CHUNK));
        acc = combine(acc, vec3<f32>(count, scratch[i], scratch[i + 1u]));
    }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            part[lid.x] = combine(part[lid.x], part[lid.x + stride]);
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        let total = part[0];
        stats[c] = total.y;
        stats[CHANNELS + c] = total.z / f32(M);
        stats[2u * CHANNELS + c] = total.z / f32(max(M, 2u) - 1u);
    }
}
