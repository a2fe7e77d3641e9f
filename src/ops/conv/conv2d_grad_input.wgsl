//! Gradient of conv2d with respect to its input, as a gather (netc: src/ops/conv/grad_kernel.rs).
//!
//! dx[n, ci, iy, ix] = sum over co of ci's group and taps (ky, kx) of dy[n, co, oy, ox] *
//! w[co, ci, ky, kx], where oy = (iy + PAD_H - ky) / STRIDE_H when that division is exact and
//! 0 <= oy < HO (likewise ox). Each dx element is owned by one invocation and written once, so
//! there are no atomics and the buffer needs no clearing.
//!
//! GEMM view, like the forward conv: rows = input pixels, columns = input channels of one group,
//! CIN_G; reduction k = (co, ky, kx). Pixels are split by stride phase (iy % STRIDE_H,
//! ix % STRIDE_W), one dispatch z-slice per (group, phase): within a phase the taps that can
//! reach a pixel are the same for every pixel, ky = RY + STRIDE_H * t (t < TY = ceil(KH /
//! STRIDE_H)), and the output row is exact, oy = qy + CY - t, so a strided conv does not spend
//! most of its taps on positions that do not exist (3x3 stride 2: 4 taps instead of 9). Rows of a
//! phase are (n, qy, qx) with iy = qy * STRIDE_H + PY; rows past the input compute on clamped
//! indices and skip the store.
//!
//! Each invocation owns a TM x TN register tile (rows strided by WG_M, columns by WG_N inside the
//! workgroup), uses no shared memory, unrolls the tile and the phase's taps through the template,
//! and keeps one runtime loop, over co: COUT_G iterations, far below lavapipe's 65,535 cap (0 in
//! a phase no tap reaches, e.g. odd pixels of a 1x1 stride-2 conv, which are just zeroed).
//! Taps outside the kernel or the output contribute a selected 0 (branch-free).

{{#if F16}}
enable f16;
{{/if}}
// dy [BATCH, COUT, HO, WO]; weights [COUT, CIN_G, KH, KW]; dx [BATCH, CIN, H, W].
const BATCH: u32 = {{BATCH}};
const CIN: u32 = {{CIN}};
const COUT: u32 = {{COUT}};
const H: u32 = {{H}};
const W: u32 = {{W}};
const HO: i32 = {{HO}};
const WO: i32 = {{WO}};
const KH: u32 = {{KH}};
const KW: u32 = {{KW}};
const STRIDE_H: u32 = {{STRIDE_H}};
const STRIDE_W: u32 = {{STRIDE_W}};
const PAD_H: i32 = {{PAD_H}};
const PAD_W: i32 = {{PAD_W}};
const CIN_G: u32 = {{CIN_G}};
const COUT_G: u32 = {{COUT_G}};

// Tiling (a per-device choice, see ConvTiling).
const TM: u32 = {{TM}};
const TN: u32 = {{TN}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};

// Rows of one phase: (n, qy, qx) with qy < QH = ceil(H / STRIDE_H), qx < QW.
const QH: u32 = {{QH}};
const QW: u32 = {{QW}};
const M: u32 = BATCH * QH * QW;
const PHASES: u32 = STRIDE_H * STRIDE_W;
const KK: u32 = KH * KW;
const HW: u32 = H * W;
const HWO: u32 = u32(HO * WO);

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

@group(0) @binding(0) var<storage, read> dy: array<Stored>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
{{#if !ACCUMULATE}}
@group(0) @binding(2) var<storage, read_write> dx: array<Stored>;
{{/if}}
{{#if ACCUMULATE}}
// A gradient accumulation folded in: dx = this gradient + addend.
@group(0) @binding(2) var<storage, read> addend: array<Stored>;
@group(0) @binding(3) var<storage, read_write> dx: array<Stored>;
{{/if}}

// The per-tap work lives in helper functions rather than unrolled into `main`: every WGSL
// function gets an expression arena of its own, and naga's validation time grows with the square
// of a function's arena. Drivers inline the helpers; every tile index stays a literal, and the
// order of the sums is unchanged.

// acc[i, j] += a * b[j] for every j of tile row i.
{{#for i in TM}}
fn fma_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, a: f32, b: ptr<function, array<f32, TN>>) {
{{#for j in TN}}
    (*acc)[{{i}} * TN + {{j}}] = fma(a, (*b)[{{j}}], (*acc)[{{i}} * TN + {{j}}]);
{{/for}}
}
{{/for}}

// Tap (ry + t * STRIDE_H, rx + u * STRIDE_W) of output channel co for the whole tile.
fn window_tap(acc: ptr<function, array<f32, TM * TN>>, co: u32, ry: u32, rx: u32, t: u32, u: u32, oy0: ptr<function, array<i32, TM>>, ox0: ptr<function, array<i32, TM>>, dy_base: ptr<function, array<u32, TM>>, w_base: ptr<function, array<u32, TN>>) {
    let dy_co = co * HWO;
    let w_co = co * CIN_G * KK;
    let ky = ry + t * STRIDE_H;
    let kx = rx + u * STRIDE_W;
    let tap_ok = ky < KH && kx < KW;
    var a: array<f32, TM>;
{{#for i in TM}}
    {
        let oy = (*oy0)[{{i}}] - i32(t);
        let ox = (*ox0)[{{i}}] - i32(u);
        let ok = tap_ok && oy >= 0 && ox >= 0 && oy < HO && ox < WO;
        let at = (*dy_base)[{{i}}] + dy_co + u32(oy * WO + ox);
        a[{{i}}] = select(0.0, f32(dy[select(0u, at, ok)]), ok);
    }
{{/for}}
    let tap = min(ky, KH - 1u) * KW + min(kx, KW - 1u);
    var b: array<f32, TN>;
{{#for j in TN}}
    b[{{j}}] = w[(*w_base)[{{j}}] + w_co + tap];
{{/for}}
{{#for i in TM}}
    fma_row_{{i}}(acc, a[{{i}}], &b);
{{/for}}
}

// Store the in-range part of tile row i.
{{#for i in TM}}
fn store_row_{{i}}(acc: ptr<function, array<f32, TM * TN>>, g: u32, ci0: u32, row_ok: bool, dx_base: u32) {
{{#for j in TN}}
    {
        let ci = ci0 + {{j}}u * WG_N;
        if row_ok && ci < CIN_G {
{{#if !ACCUMULATE}}
            dx[dx_base + (g * CIN_G + ci) * HW] = Stored((*acc)[{{i}} * TN + {{j}}]);
{{/if}}
{{#if ACCUMULATE}}
            let at = dx_base + (g * CIN_G + ci) * HW;
            dx[at] = Stored((*acc)[{{i}} * TN + {{j}}] + f32(addend[at]));
{{/if}}
        }
    }
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.z / PHASES;
    let phase = wid.z % PHASES;
    // The phase's pixels: iy % STRIDE_H == PY. Taps reaching them: ky % STRIDE_H == RY, from
    // output row oy = qy + CY - t for ky = RY + STRIDE_H * t.
    let py = phase / STRIDE_W;
    let px = phase % STRIDE_W;
    let ry = (py + u32(PAD_H)) % STRIDE_H;
    let rx = (px + u32(PAD_W)) % STRIDE_W;
    let cy = i32((py + u32(PAD_H) - ry) / STRIDE_H);
    let cx = i32((px + u32(PAD_W) - rx) / STRIDE_W);
    // No work (a zero result) when no tap reaches this phase.
    let co_end = select(0u, COUT_G, ry < KH && rx < KW);
    let m0 = wid.x * (WG_M * TM) + lid.x;
    let ci0 = wid.y * (WG_N * TN) + lid.y;

    // Per-row (input pixel) state: the output position of tap t = 0, the offset of the group's
    // first dy channel for the pixel's image, and the dx offset of the pixel (or none past the
    // input).
    var oy0: array<i32, TM>;
    var ox0: array<i32, TM>;
    var dy_base: array<u32, TM>;
    var dx_base: array<u32, TM>;
    var row_ok: array<bool, TM>;
{{#for i in TM}}
    {
        let m = min(m0 + {{i}}u * WG_M, M - 1u);
        let n = m / (QH * QW);
        let qy = (m % (QH * QW)) / QW;
        let qx = m % QW;
        let iy = qy * STRIDE_H + py;
        let ix = qx * STRIDE_W + px;
        oy0[{{i}}] = i32(qy) + cy;
        ox0[{{i}}] = i32(qx) + cx;
        dy_base[{{i}}] = (n * COUT + g * COUT_G) * HWO;
        dx_base[{{i}}] = n * CIN * HW + iy * W + ix;
        row_ok[{{i}}] = m0 + {{i}}u * WG_M < M && iy < H && ix < W;
    }
{{/for}}
    // Per-column (input channel) offset into the weights of the group's first output channel.
    var w_base: array<u32, TN>;
{{#for j in TN}}
    w_base[{{j}}] = (g * COUT_G * CIN_G + min(ci0 + {{j}}u * WG_N, CIN_G - 1u)) * KK;
{{/for}}

    var acc: array<f32, TM * TN>;
    for (var co = 0u; co < co_end; co++) {
{{#for t in TY}}
{{#for u in TX}}
        window_tap(&acc, co, ry, rx, {{t}}u, {{u}}u, &oy0, &ox0, &dy_base, &w_base);
{{/for}}
{{/for}}
    }

    // Store the in-range part of the tile.
{{#for i in TM}}
    store_row_{{i}}(&acc, g, ci0, row_ok[{{i}}], dx_base[{{i}}]);
{{/for}}
}
