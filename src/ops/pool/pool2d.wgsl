//! max_pool2d / avg_pool2d, PyTorch semantics with ceil_mode=False (netc: src/ops/pool/kernel.rs).
//! Max: padding never wins (acts as -inf). Avg: count_include_pad=True, so every window divides
//! by KH*KW (with ceil_mode=False a window never extends past the padded input).
//! One output element per invocation; the window loops are small constants.
//! With INDICES (max only, a training step's forward pass) it also stores each window's first
//! maximum in scan order (ky, then kx, ascending; padding never wins; a later value must be
//! strictly greater) as iy * W + ix within the plane, an f32 (exact: a plane holds fewer than
//! 2^24 elements), exactly as max_pool2d_argmax.wgsl does, for the gradient's gather.

{{#if F16}}
enable f16;
{{/if}}
// How x and y are stored: f32, or f16 in a mixed-precision plan (positions stay f32).
alias Stored = {{STORED}};

const BATCH: u32 = {{BATCH}};
const CHANNELS: u32 = {{CHANNELS}};
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
const TOTAL: u32 = BATCH * CHANNELS * HO * WO;
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> y: array<Stored>;
{{#if INDICES}}
@group(0) @binding(2) var<storage, read_write> arg: array<f32>;
{{/if}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let ox = i % WO;
    let oy = (i / WO) % HO;
    let plane = i / (HO * WO); // n * CHANNELS + c
    let iy0 = i32(oy * STRIDE_H) - PAD_H;
    let ix0 = i32(ox * STRIDE_W) - PAD_W;
{{#if MAX}}
    var acc = bitcast<f32>(0xff800000u); // -inf
{{/if}}
{{#if !MAX}}
    var acc = 0.0;
{{/if}}
{{#if INDICES}}
    var best = 0.0;
    var at = 0xffffffffu;
{{/if}}
    for (var ky = 0u; ky < KH; ky++) {
        let iy = iy0 + i32(ky);
        if iy < 0 || iy >= i32(H) {
            continue;
        }
        for (var kx = 0u; kx < KW; kx++) {
            let ix = ix0 + i32(kx);
            if ix < 0 || ix >= i32(W) {
                continue;
            }
            let v = f32(x[(plane * H + u32(iy)) * W + u32(ix)]);
{{#if MAX}}
            acc = max(acc, v);
{{/if}}
{{#if INDICES}}
            if at == 0xffffffffu || v > best {
                best = v;
                at = u32(iy) * W + u32(ix);
            }
{{/if}}
{{#if !MAX}}
            acc += v;
{{/if}}
        }
    }
{{#if MAX}}
    y[i] = Stored(acc);
{{/if}}
{{#if INDICES}}
    arg[i] = f32(at);
{{/if}}
{{#if !MAX}}
    y[i] = Stored(acc / f32(KH * KW));
{{/if}}
}
