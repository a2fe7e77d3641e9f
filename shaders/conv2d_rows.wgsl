//! Stride-1 conv2d, vectorised along image rows, for CPU drivers such as lavapipe (netc:
//! src/codegen/kernels/conv_rows.rs). Computes either the forward conv or, with FLIP, its input
//! gradient (a stride-1 conv of dy with the flipped kernel and channels swapped).
//!
//! dst[n, o, oy, ox] = sum over c < CR, ky, kx of src[n, c, oy - PAD_H + ky, ox - PAD_W + kx] *
//! weight(o, c, ky, kx) (zero outside src), for the channels of group g.
//!
//! Why this shape: on lavapipe an invocation is one SIMD lane, and a load whose address differs
//! between lanes is a per-lane loop, so the kernel is bound by such loads, not by FMAs. Here each
//! invocation owns TR rows x 4 columns (a "quad", one vec4) x TN output channels, and per input
//! channel loads IR = TR + KH - 1 source rows as NV aligned vec4 each (W % 4 == 0), builds the
//! KW shifted windows from them in registers, and reuses every window for all TN channels and up
//! to KH output rows: (TR + KH - 1) * NV vector loads per TR * 4 * TN * KH * KW multiply-adds,
//! against one scalar load per TN in the generic kernel. The workgroup is WG invocations along
//! quads and one along channels, so the weight loads are the same for every lane (uniform).
//!
//! Sums run over c, then ky, then kx for every tiling, so the tiling never changes a result. No
//! shared memory, no barriers, no atomics; one runtime loop, CR iterations.

const BATCH: u32 = {{BATCH}};
// src [BATCH, S_CHANNELS, H, W]; the group's channels are [g * CR, (g + 1) * CR).
const S_CHANNELS: u32 = {{S_CHANNELS}};
const CR: u32 = {{CR}};
const H: u32 = {{H}};
const W: u32 = {{W}};
// dst [BATCH, D_TOTAL, HO, WO]; output channel o of group g is D_OFFSET + g * CO_G + o.
const CO_G: u32 = {{CO_G}};
const HO: u32 = {{HO}};
const WO: u32 = {{WO}};
const D_TOTAL: u32 = {{D_TOTAL}};
const D_OFFSET: u32 = {{D_OFFSET}};
const KH: u32 = {{KH}};
const KW: u32 = {{KW}};
const PAD_H: i32 = {{PAD_H}};
// Column -PAD_W relative to a quad lies in vector QB (relative to the quad's vector), element
// E0; the NV vectors from there cover every tap of the quad.
const QB: i32 = {{QB}};
const E0: u32 = {{E0}};
const NV: u32 = {{NV}};
// weight(o, c, ky, kx) = w[g * W_GROUP + o * W_OUT + c * W_IN + tap], tap = ky * KW + kx, or the
// flipped tap (KH - 1 - ky) * KW + (KW - 1 - kx) for the input gradient.
const W_GROUP: u32 = {{W_GROUP}};
const W_OUT: u32 = {{W_OUT}};
const W_IN: u32 = {{W_IN}};
const FLIP: bool = {{FLIP}};

// Tiling: TR rows x 4 columns x TN channels per invocation, WG invocations per workgroup.
const TR: u32 = {{TR}};
const TN: u32 = {{TN}};
const WG: u32 = {{WG}};

const IR: u32 = TR + KH - 1u;
const WQ: u32 = W / 4u;
const QO: u32 = WO / 4u;
const HWQ: u32 = H * WQ;
const RB: u32 = (HO + TR - 1u) / TR;
const TILES: u32 = BATCH * RB * QO;

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
{{#if HAS_BIAS}}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
{{/if}}
@group(0) @binding({{Y_BINDING}}) var<storage, read_write> dst: array<vec4<f32>>;

{{ACTIVATION_LIB}}

// Each tap's multiply-adds live in a helper function rather than unrolled into `main`: every
// WGSL function gets an expression arena of its own, and naga's validation time grows with the
// square of a function's arena (a 5x5 window unrolled over the whole tile took seconds per
// kernel). Drivers inline the helpers; every index stays a literal, and the order of the sums is
// unchanged.

// acc[r, j] += wv[r] * b for every tile row r of channel j.
{{#for j in TN}}
fn fma_col_{{j}}(acc: ptr<function, array<vec4<f32>, TR * TN>>, wv: ptr<function, array<vec4<f32>, TR>>, b: vec4<f32>) {
{{#for r in TR}}
    (*acc)[{{r}} * TN + {{j}}] = fma((*wv)[{{r}}], b, (*acc)[{{r}} * TN + {{j}}]);
{{/for}}
}
{{/for}}

// Tap (ky, kx) for the whole tile: the TR windows it reads, one weight per channel.
{{#for ky in KH}}
{{#for kx in KW}}
fn tap_{{ky}}_{{kx}}(acc: ptr<function, array<vec4<f32>, TR * TN>>, win: ptr<function, array<vec4<f32>, IR * KW>>, w_at: ptr<function, array<u32, TN>>, w_c: u32) {
    let tap = select({{ky}}u * KW + {{kx}}u, (KH - 1u - {{ky}}u) * KW + (KW - 1u - {{kx}}u), FLIP);
    var wv: array<vec4<f32>, TR>;
{{#for r in TR}}
    wv[{{r}}] = (*win)[({{r}} + {{ky}}) * KW + {{kx}}];
{{/for}}
{{#for j in TN}}
    fma_col_{{j}}(acc, &wv, vec4<f32>(w[(*w_at)[{{j}}] + w_c + tap]));
{{/for}}
}
{{/for}}
{{/for}}

// Epilogue of tile row r: bias, activation, one aligned vec4 store per channel in range.
{{#for r in TR}}
fn store_row_{{r}}(acc: ptr<function, array<vec4<f32>, TR * TN>>, g: u32, o0: u32, t: u32, n: u32, q: u32, oy0: u32) {
{{#for j in TN}}
    {
        let oy = oy0 + {{r}}u;
        let o = o0 + {{j}}u;
        if t < TILES && oy < HO && o < CO_G {
            var v = (*acc)[{{r}} * TN + {{j}}];
{{#if HAS_BIAS}}
            v += vec4<f32>(bias[g * CO_G + o]);
{{/if}}
            dst[((n * D_TOTAL + D_OFFSET + g * CO_G + o) * HO + oy) * QO + q] = vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
        }
    }
{{/for}}
}
{{/for}}

// The KW windows of source row ir.
{{#for ir in IR}}
fn window_row_{{ir}}(win: ptr<function, array<vec4<f32>, IR * KW>>, xr: ptr<function, array<vec4<f32>, IR * NV>>) {
{{#for kx in KW}}
{{#for cc in LANES}}
    (*win)[{{ir}} * KW + {{kx}}][{{cc}}] = (*xr)[{{ir}} * NV + (E0 + {{kx}} + {{cc}}) / 4][(E0 + {{kx}} + {{cc}}) % 4];
{{/for}}
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.z;
    let o0 = wid.y * TN;
    // Tiles past the end compute on a clamped tile and skip the store (branch-free inner loop).
    let t = wid.x * WG + lid.x;
    let tc = min(t, TILES - 1u);
    let q = tc % QO;
    let rb = (tc / QO) % RB;
    let n = tc / (QO * RB);
    let oy0 = rb * TR;

    // Source rows oy0 - PAD_H + ir and vectors q + QB + v: clamped offsets plus validity, so
    // padding reads a selected zero.
    var row_at: array<u32, IR>;
    var row_ok: array<bool, IR>;
{{#for ir in IR}}
    {
        let iy = i32(oy0) - PAD_H + {{ir}}i;
        row_ok[{{ir}}] = iy >= 0 && iy < i32(H);
        row_at[{{ir}}] = (n * S_CHANNELS + g * CR) * HWQ + u32(clamp(iy, 0i, i32(H) - 1i)) * WQ;
    }
{{/for}}
    var col_at: array<u32, NV>;
    var col_ok: array<bool, NV>;
{{#for vi in NV}}
    {
        let qv = i32(q) + QB + {{vi}}i;
        col_ok[{{vi}}] = qv >= 0 && qv < i32(WQ);
        col_at[{{vi}}] = u32(clamp(qv, 0i, i32(WQ) - 1i));
    }
{{/for}}
    var w_at: array<u32, TN>;
{{#for j in TN}}
    w_at[{{j}}] = g * W_GROUP + min(o0 + {{j}}u, CO_G - 1u) * W_OUT;
{{/for}}

    var acc: array<vec4<f32>, TR * TN>;
    for (var c = 0u; c < CR; c++) {
        let s_c = c * HWQ;
        let w_c = c * W_IN;
        // The IR source rows of this channel, NV vectors each.
        var xr: array<vec4<f32>, IR * NV>;
{{#for ir in IR}}
{{#for vi in NV}}
        xr[{{ir}} * NV + {{vi}}] = select(vec4<f32>(0.0), src[row_at[{{ir}}] + s_c + col_at[{{vi}}]], row_ok[{{ir}}] && col_ok[{{vi}}]);
{{/for}}
{{/for}}
        // win[ir * KW + kx]: the 4 source values tap kx of the quad's columns reads in row ir.
        var win: array<vec4<f32>, IR * KW>;
{{#for ir in IR}}
        window_row_{{ir}}(&win, &xr);
{{/for}}
{{#for ky in KH}}
{{#for kx in KW}}
        tap_{{ky}}_{{kx}}(&acc, &win, &w_at, w_c);
{{/for}}
{{/for}}
    }

    // Epilogue: bias, activation, one aligned vec4 store per row and channel in range.
{{#for r in TR}}
    store_row_{{r}}(&acc, g, o0, t, n, q, oy0);
{{/for}}
}
