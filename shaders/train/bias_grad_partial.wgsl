//! First pass of the bias gradient db[c] = sum over n and p of dy[n, c, p]
//! (netc: src/codegen/kernels/train/reduce.rs; the second pass is reduce_finish.wgsl).
//! With ACT_GRAD, dy is the gradient of a fused activation's output y and the summand is
//! dy * act'(y) (the activation's gradient folded into the reduction).
//!
//! The reduction index r = n * INNER + p runs over R = BATCH * INNER values, cut into PARTS
//! contiguous chunks of CHUNK (the last one shorter). Invocation (c, s) sums chunk s of channel c
//! in order and writes scratch[s * C + c]. Each invocation loops at most CHUNK times, below
//! lavapipe's silent 65,535-iteration cap; the position in dy advances incrementally (a jump of
//! (C - 1) * INNER at the end of each plane) instead of dividing every step.

const C: u32 = {{C}};
const INNER: u32 = {{INNER}};
const R: u32 = {{R}};
const CHUNK: u32 = {{CHUNK}};
const PARTS: u32 = {{PARTS}};
const GRID_X: u32 = {{GRID_X}};
const WG: u32 = {{WG}};

@group(0) @binding(0) var<storage, read> dy: array<f32>;
{{#if ACT_GRAD}}
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
{{/if}}
{{#if !ACT_GRAD}}
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;
{{/if}}

{{ACT_GRAD_LIB}}

fn grad(i: u32) -> f32 {
{{#if ACT_GRAD}}
    return dy[i] * derivative_from_output(y[i]);
{{/if}}
{{#if !ACT_GRAD}}
    return dy[i];
{{/if}}
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if idx >= C * PARTS {
        return;
    }
    let c = idx % C;
    let s = idx / C;
    let r0 = s * CHUNK;
    let r1 = min(r0 + CHUNK, R);
    var p = r0 % INNER;
    var off = ((r0 / INNER) * C + c) * INNER + p;
    var acc = 0.0;
    for (var r = r0; r < r1; r++) {
        acc += grad(off);
        off++;
        p++;
        if p == INNER {
            p = 0u;
            off += (C - 1u) * INNER;
        }
    }
    scratch[s * C + c] = acc;
}
