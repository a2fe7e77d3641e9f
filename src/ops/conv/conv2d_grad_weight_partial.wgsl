//! First pass of conv2d's weight gradient (netc: src/ops/conv/grad_kernel.rs; the
//! second pass is shaders/train/reduce_finish.wgsl).
//!
//! dw[co, ci, ky, kx] = sum over r = (n, oy, ox) of dy[n, co, oy, ox] *
//! x[n, g*CIN_G + ci, oy*STRIDE_H - PAD_H + ky, ox*STRIDE_W - PAD_W + kx] (0 outside the input).
//! The R = BATCH*HO*WO terms are cut into PARTS contiguous chunks of CHUNK; partial s of weight
//! element e goes to scratch[s * WLEN + e].
//!
//! GEMM view: columns k = (ci, ky, kx), KC = CIN_G*KH*KW of them; rows = output channels of one
//! group, COUT_G; reduction over r. Dispatch z = s * GROUPS + g. Each invocation owns a TM x TN
//! register tile (TM columns strided by WG_M, TN channels strided by WG_N inside the workgroup),
//! uses no shared memory, and runs one runtime loop of at most CHUNK iterations (below
//! lavapipe's 65,535 cap); (n, oy, ox) advance incrementally instead of being divided out.

{{#if F16}}
enable f16;
{{/if}}
// x [BATCH, CIN, H, W]; dy [BATCH, COUT, HO, WO]; scratch [PARTS, COUT, CIN_G, KH, KW].
const CIN: u32 = {{CIN}};
const COUT: u32 = {{COUT}};
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
const CIN_G: u32 = {{CIN_G}};
const COUT_G: u32 = {{COUT_G}};
const GROUPS: u32 = {{GROUPS}};
// False when no window can leave the input (no padding), so the bounds test folds away.
const CHECK_BOUNDS: bool = {{CHECK_BOUNDS}};
const R: u32 = {{R}};
const CHUNK: u32 = {{CHUNK}};

// Tiling (a per-device choice, see ConvTiling).
const TM: u32 = {{TM}};
const TN: u32 = {{TN}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};

const KK: u32 = KH * KW;
const KC: u32 = CIN_G * KK;
const WLEN: u32 = COUT * KC;
const HW: u32 = H * W;
const HWO: u32 = HO * WO;

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> dy: array<Stored>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;

// The fma rows live in helper functions rather than unrolled into `main`: every WGSL function
// gets an expression arena of its own, and naga's validation time grows with the square of a
// function's arena. Drivers inline the helpers; every tile index stays a literal, and the order
// of the sums is unchanged.

// acc[i, j] += a * b[j] for every j of tile row i.
{{#for i in TM}}
fn fma_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, a: f32, b: ptr<function, array<f32, TN>>) {
{{#for j in TN}}
    (*acc)[{{i}} * TN + {{j}}] = fma(a, (*b)[{{j}}], (*acc)[{{i}} * TN + {{j}}]);
{{/for}}
}
{{/for}}

// x at tap (ky, kx) of the window whose top-left corner is (iy0, ix0) (flat offset x_corner),
// or zero outside the image.
fn x_at(iy0: i32, ix0: i32, x_corner: i32, ky: i32, kx: i32, x_off: i32) -> f32 {
    let iy = iy0 + ky;
    let ix = ix0 + kx;
    let inside = !CHECK_BOUNDS || (iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W));
    return select(0.0, f32(x[u32(select(0, x_corner + x_off, inside))]), inside);
}

// Store the in-range part of tile row i.
{{#for i in TM}}
fn store_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, g: u32, s: u32, k0: u32, co0: u32) {
{{#for j in TN}}
    {
        let k = k0 + {{i}}u * WG_M;
        let co = co0 + {{j}}u * WG_N;
        if k < KC && co < COUT_G {
            scratch[s * WLEN + (g * COUT_G + co) * KC + k] = (*acc)[{{i}} * TN + {{j}}];
        }
    }
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.z % GROUPS;
    let s = wid.z / GROUPS;
    let k0 = wid.x * (WG_M * TM) + lid.x;
    let co0 = wid.y * (WG_N * TN) + lid.y;

    // Per-column (ci, ky, kx) state: the tap and the x offset of the tap relative to the
    // window's top-left corner within an image.
    var ky: array<i32, TM>;
    var kx: array<i32, TM>;
    var x_off: array<i32, TM>;
{{#for i in TM}}
    {
        let k = min(k0 + {{i}}u * WG_M, KC - 1u);
        let ci = k / KK;
        ky[{{i}}] = i32((k % KK) / KW);
        kx[{{i}}] = i32(k % KW);
        x_off[{{i}}] = i32((g * CIN_G + ci) * HW) + ky[{{i}}] * i32(W) + kx[{{i}}];
    }
{{/for}}
    // Per-row (output channel) offset into dy within an image.
    var dy_off: array<u32, TN>;
{{#for j in TN}}
    dy_off[{{j}}] = (g * COUT_G + min(co0 + {{j}}u * WG_N, COUT_G - 1u)) * HWO;
{{/for}}

    let r0 = s * CHUNK;
    let r1 = min(r0 + CHUNK, R);
    var n = r0 / HWO;
    var oy = (r0 % HWO) / WO;
    var ox = r0 % WO;
    var acc: array<f32, TM * TN>;
    for (var r = r0; r < r1; r++) {
        let iy0 = i32(oy * STRIDE_H) - PAD_H;
        let ix0 = i32(ox * STRIDE_W) - PAD_W;
        let x_corner = i32(n * CIN * HW) + iy0 * i32(W) + ix0;
        let dy_at = n * COUT * HWO + oy * WO + ox;
        var a: array<f32, TM>;
{{#for i in TM}}
        a[{{i}}] = x_at(iy0, ix0, x_corner, ky[{{i}}], kx[{{i}}], x_off[{{i}}]);
{{/for}}
        var b: array<f32, TN>;
{{#for j in TN}}
        b[{{j}}] = f32(dy[dy_at + dy_off[{{j}}]]);
{{/for}}
{{#for i in TM}}
        fma_row_{{i}}(&acc, a[{{i}}], &b);
{{/for}}
        ox++;
        if ox == WO {
            ox = 0u;
            oy++;
            if oy == HO {
                oy = 0u;
                n++;
            }
        }
    }

{{#for i in TM}}
    store_row_{{i}}(&acc, g, s, k0, co0);
{{/for}}
}
