//! Gradients of max_pool2d / avg_pool2d, PyTorch semantics with ceil_mode=False (netc:
//! src/ops/pool/grad_kernel.rs). A gather: each invocation owns one input element
//! (plane, iy, ix) and sums dy over the output windows (oy, ox) that contain it, so nothing is
//! written twice and no atomics are needed.
//! Max: a window's dy goes to its first maximum in scan order (ky, then kx, ascending; padding
//! skipped; a later value must be strictly greater to win), which the first pass
//! (max_pool2d_argmax.wgsl) stored per window, so each window costs one comparison here.
//! Avg: count_include_pad=True, every window contributes dy / (KH * KW).

{{#if F16}}
enable f16;
{{/if}}
// How dy and dx are stored: f32, or f16 in a mixed-precision plan (positions stay f32).
alias Stored = {{STORED}};

const PLANES: u32 = {{PLANES}};
const H: u32 = {{H}};
const W: u32 = {{W}};
const HO: u32 = {{HO}};
const WO: u32 = {{WO}};
const KH: u32 = {{KH}};
const KW: u32 = {{KW}};
const STRIDE_H: u32 = {{STRIDE_H}};
const STRIDE_W: u32 = {{STRIDE_W}};
const PAD_H: i32 = {{PAD_H}};
const PAD_W: i32 = {{PAD_W}};
// The most windows along y and x that contain one element: ceil(KH / STRIDE_H), ceil(KW / STRIDE_W).
const WIN_Y: u32 = (KH + STRIDE_H - 1u) / STRIDE_H;
const WIN_X: u32 = (KW + STRIDE_W - 1u) / STRIDE_W;
const TOTAL: u32 = PLANES * H * W;
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

{{#if MAX}}
// arg: each window's first-maximum position (max_pool2d_argmax.wgsl), [PLANES, HO, WO].
@group(0) @binding(0) var<storage, read> arg: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<Stored>;
@group(0) @binding(2) var<storage, read_write> dx: array<Stored>;
{{/if}}
{{#if !MAX}}
@group(0) @binding(0) var<storage, read> dy: array<Stored>;
@group(0) @binding(1) var<storage, read_write> dx: array<Stored>;
{{/if}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let ix = i % W;
    let iy = (i / W) % H;
    let plane = i / (H * W);
    // Windows containing (iy, ix): oy * STRIDE_H <= iy + PAD_H <= oy * STRIDE_H + KH - 1.
    let ty = iy + u32(PAD_H);
    let tx = ix + u32(PAD_W);
    let oy_lo = select(0u, (ty + STRIDE_H - KH) / STRIDE_H, ty + STRIDE_H >= KH);
    let ox_lo = select(0u, (tx + STRIDE_W - KW) / STRIDE_W, tx + STRIDE_W >= KW);
    let oy_end = min(ty / STRIDE_H + 1u, HO);
    let ox_end = min(tx / STRIDE_W + 1u, WO);
    let ny = select(0u, oy_end - oy_lo, oy_end > oy_lo);
    let nx = select(0u, ox_end - ox_lo, ox_end > ox_lo);
    // A fixed WIN_Y x WIN_X sweep (the most windows an element can be in), with loads from
    // clamped positions and misses selected away: no branch depends on the element, which
    // made the gradient of GoogleNet's 3x3 stride-1 pools ~1.8x faster on lavapipe than loops
    // bounded by each element's own window range.
    var acc = 0.0;
    for (var a = 0u; a < WIN_Y; a++) {
        for (var b = 0u; b < WIN_X; b++) {
            let o = (plane * HO + min(oy_lo + a, HO - 1u)) * WO + min(ox_lo + b, WO - 1u);
{{#if MAX}}
            let hit = (a < ny) & (b < nx) & (u32(arg[o]) == iy * W + ix);
{{/if}}
{{#if !MAX}}
            let hit = (a < ny) & (b < nx);
{{/if}}
            acc += select(0.0, f32(dy[o]), hit);
        }
    }
{{#if MAX}}
    dx[i] = Stored(acc);
{{/if}}
{{#if !MAX}}
    dx[i] = Stored(acc / f32(KH * KW));
{{/if}}
}
