//! conv2d as an implicit GEMM with register tiling (netc: src/ops/conv/kernel.rs).
//!
//! GEMM view: rows m = output pixels (n, oy, ox), M = N*HO*WO; columns = output channels of one
//! group, COUT_G; reduction k = (ci, ky, kx), K = CIN_G*KH*KW. The input patch matrix is never
//! materialised: each k step gathers TM input values straight from the NCHW input.
//!
//! Each invocation owns a TM x TN tile of outputs held in registers and reads no shared memory:
//! on lavapipe (a CPU) workgroup memory and barriers cost more than they save, while big register
//! tiles amortise each load over TM*TN multiply-adds. Within a workgroup the tile rows are strided
//! by WG_M (and columns by WG_N) so neighbouring invocations touch neighbouring pixels.
//! Tiles past the edge compute on clamped indices and skip the store, which keeps the inner loop
//! branch-free. The tile loops and the KH x KW window are unrolled by the template (its `#for`
//! blocks), so every private-array index is a literal and the tile lives in registers (a
//! dynamically indexed private array is a per-lane stack slot on lavapipe: ~2x slower). The only
//! runtime loop is over ci: CIN_G iterations per invocation, far below lavapipe's 65,535 cap.

{{#if F16}}
enable f16;
{{/if}}
// Input [BATCH, CIN, H, W]; weights [COUT, CIN_G, KH, KW]; output written into channels
// [OUT_CHANNEL_OFFSET, OUT_CHANNEL_OFFSET + COUT) of a [BATCH, OUT_TOTAL_CHANNELS, HO, WO] tensor.
const BATCH: u32 = {{BATCH}};
const CIN: u32 = {{CIN}};
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
const OUT_TOTAL_CHANNELS: u32 = {{OUT_TOTAL_CHANNELS}};
const OUT_CHANNEL_OFFSET: u32 = {{OUT_CHANNEL_OFFSET}};
// False when no window can leave the input (no padding), so the bounds test folds away.
const CHECK_BOUNDS: bool = {{CHECK_BOUNDS}};

// Tiling (a per-device choice, see ConvTiling).
const TM: u32 = {{TM}};
const TN: u32 = {{TN}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};

const M: u32 = BATCH * HO * WO;
const K: u32 = CIN_G * KH * KW;
const HW: u32 = H * W;
const HWO: u32 = HO * WO;

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
{{#if HAS_BIAS}}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
{{/if}}
@group(0) @binding({{Y_BINDING}}) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}

// The per-tap work lives in helper functions rather than unrolled into `main`: every WGSL
// function gets an expression arena of its own, and naga's validation time grows with the square
// of a function's arena (a 16x16 tile unrolled over a whole window took seconds per kernel).
// Drivers inline the helpers; every tile index stays a literal, and the order of the sums is
// unchanged.

// acc[i, j] += a * b[j] for every j of tile row i.
{{#for i in TM}}
fn fma_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, a: f32, b: ptr<function, array<f32, TN>>) {
{{#for j in TN}}
    (*acc)[{{i}} * TN + {{j}}] = fma(a, (*b)[{{j}}], (*acc)[{{i}} * TN + {{j}}]);
{{/for}}
}
{{/for}}

// Tap (ky, kx) of input channel ci for the whole tile.
fn window_tap(acc: ptr<function, array<f32, TM * TN>>, ci: u32, ky: u32, kx: u32, iy0: ptr<function, array<i32, TM>>, ix0: ptr<function, array<i32, TM>>, in_base: ptr<function, array<i32, TM>>, w_base: ptr<function, array<u32, TN>>) {
    let k = (ci * KH + ky) * KW + kx;
    let at = i32(ci * HW + ky * W + kx);
    var a: array<f32, TM>;
{{#for i in TM}}
    {
        let iy = (*iy0)[{{i}}] + i32(ky);
        let ix = (*ix0)[{{i}}] + i32(kx);
        let inside = !CHECK_BOUNDS || (iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W));
        a[{{i}}] = select(0.0, f32(x[u32(select(0, (*in_base)[{{i}}] + at, inside))]), inside);
    }
{{/for}}
    var b: array<f32, TN>;
{{#for j in TN}}
    b[{{j}}] = w[(*w_base)[{{j}}] + k];
{{/for}}
{{#for i in TM}}
    fma_row_{{i}}(acc, a[{{i}}], &b);
{{/for}}
}

// Epilogue of tile row i: bias, activation, store the in-range part.
{{#for i in TM}}
fn store_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, g: u32, m0: u32, co0: u32, out_base: u32) {
{{#for j in TN}}
    {
        let m = m0 + {{i}}u * WG_M;
        let co = co0 + {{j}}u * WG_N;
        if m < M && co < COUT_G {
            var v = (*acc)[{{i}} * TN + {{j}}];
{{#if HAS_BIAS}}
            v += bias[g * COUT_G + co];
{{/if}}
            y[out_base + (OUT_CHANNEL_OFFSET + g * COUT_G + co) * HWO] = Stored(activate(v));
        }
    }
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.z;
    let m0 = wid.x * (WG_M * TM) + lid.x;
    let co0 = wid.y * (WG_N * TN) + lid.y;

    // Per-row (output pixel) state, computed once: top-left input corner of the window, the
    // flat input offset of that corner, and the flat output offset of the pixel.
    var iy0: array<i32, TM>;
    var ix0: array<i32, TM>;
    var in_base: array<i32, TM>;
    var out_base: array<u32, TM>;
{{#for i in TM}}
    {
        let m = min(m0 + {{i}}u * WG_M, M - 1u);
        let n = m / HWO;
        let oy = (m % HWO) / WO;
        let ox = m % WO;
        iy0[{{i}}] = i32(oy * STRIDE_H) - PAD_H;
        ix0[{{i}}] = i32(ox * STRIDE_W) - PAD_W;
        in_base[{{i}}] = i32((n * CIN + g * CIN_G) * HW) + iy0[{{i}}] * i32(W) + ix0[{{i}}];
        out_base[{{i}}] = n * OUT_TOTAL_CHANNELS * HWO + oy * WO + ox;
    }
{{/for}}
    // Per-column (output channel) offset into the weights.
    var w_base: array<u32, TN>;
{{#for j in TN}}
    w_base[{{j}}] = (g * COUT_G + min(co0 + {{j}}u * WG_N, COUT_G - 1u)) * K;
{{/for}}

    var acc: array<f32, TM * TN>;
    for (var ci = 0u; ci < CIN_G; ci++) {
{{#for ky in KH}}
{{#for kx in KW}}
        window_tap(&acc, ci, {{ky}}u, {{kx}}u, &iy0, &ix0, &in_base, &w_base);
{{/for}}
{{/for}}
    }

    // Epilogue: bias, activation, store the in-range part of the tile.
{{#for i in TM}}
    store_row_{{i}}(&acc, g, m0, co0, out_base[{{i}}]);
{{/for}}
}
