//! conv2d vectorised along image rows, for CPU drivers such as lavapipe (netc:
//! src/ops/conv/rows.rs). Computes the forward conv (stride S) or its input gradient:
//! for a stride-1 conv a stride-1 conv of dy with the flipped kernel and channels swapped; for a
//! stride-S conv one dispatch per stride phase (PY, PX), each a stride-1 conv of dy with the
//! taps that reach that phase, written to every STEP-th pixel of dx.
//!
//! dst[n, o, STEP oy + PY, STEP ox + PX] = sum over c < CR, ky < KH, kx < KW of
//! src[n, c, S oy - PAD_H + ky, S ox - PAD_W + kx] * weight(o, c, ky, kx) (zero outside src),
//! for the channels of group g, over the grid oy < HO, ox < WO.
//!
//! Why this shape: on lavapipe an invocation is one SIMD lane, and a load whose address differs
//! between lanes is a per-lane loop, so the kernel is bound by such loads, not by FMAs. Here each
//! invocation owns TR rows x 4 columns (a "quad", one vec4) x TN output channels, and per input
//! channel loads IR = S (TR - 1) + KH source rows as NV aligned vec4 each (W % 4 == 0), builds
//! the KW windows (every S-th column from tap kx) from them in registers, and reuses every window
//! for all TN channels and up to KH output rows: IR * NV vector loads per TR * 4 * TN * KH * KW
//! multiply-adds,
//! against one scalar load per TN in the generic kernel. The workgroup is WG invocations along
//! quads and one along channels, so the weight loads are the same for every lane (uniform).
//!
//! Weights: every lane of a workgroup uses the same TN * KH * KW weights per input channel. With
//! SHARED_WEIGHTS (a device with a fixed subgroup size SG whose subgroups are all full) the SG
//! lanes of a subgroup split them: lane l loads weights l, l + SG, ... (NS each) and
//! subgroupBroadcast hands every weight to all lanes. On lavapipe a storage-buffer load is a
//! loop over the SIMD lanes even when every lane reads the same address, so this makes weight
//! loads SG times cheaper; without it each lane loads each weight itself (portable WGSL).
//!
//! Sums run over c, then ky, then kx for every tiling, so the tiling never changes a result. No
//! shared memory, no barriers, no atomics; one runtime loop, CR iterations.

{{#if F16}}
enable f16;
{{/if}}
const BATCH: u32 = {{BATCH}};
// src [BATCH, S_CHANNELS, H, W]; the group's channels are [g * CR, (g + 1) * CR).
const S_CHANNELS: u32 = {{S_CHANNELS}};
const CR: u32 = {{CR}};
const H: u32 = {{H}};
const W: u32 = {{W}};
// The computed grid is HO x WO; dst [BATCH, D_TOTAL, DH, DW] gets grid pixel (oy, ox) at
// (STEP oy + PY, STEP ox + PX), output channel o of group g at D_OFFSET + g * CO_G + o.
const CO_G: u32 = {{CO_G}};
const HO: u32 = {{HO}};
const WO: u32 = {{WO}};
const DH: u32 = {{DH}};
const DW: u32 = {{DW}};
const STEP: u32 = {{STEP}};
const PY: u32 = {{PY}};
const PX: u32 = {{PX}};
const D_TOTAL: u32 = {{D_TOTAL}};
const D_OFFSET: u32 = {{D_OFFSET}};
const KH: u32 = {{KH}};
const KW: u32 = {{KW}};
const PAD_H: i32 = {{PAD_H}};
const S: u32 = {{STRIDE}};
// Column -PAD_W relative to a quad's first source column lies in vector QB (relative to that
// column's vector, S * q), element E0; the NV vectors from there cover every tap of the quad.
const QB: i32 = {{QB}};
const E0: u32 = {{E0}};
const NV: u32 = {{NV}};
// weight(o, c, ky, kx) = w[g * W_GROUP + o * W_OUT + c * W_IN + tap(ky, kx)], where the conv's
// weights have KW_FULL columns and tap(ky, kx) = (TY0 + TYS ky) * KW_FULL + TX0 + TXS kx: the
// tap itself for the forward conv, flipped (and strided, for a phase) for the input gradient.
const W_GROUP: u32 = {{W_GROUP}};
const W_OUT: u32 = {{W_OUT}};
const W_IN: u32 = {{W_IN}};
const KW_FULL: u32 = {{KW_FULL}};
const TY0: i32 = {{TY0}};
const TYS: i32 = {{TYS}};
const TX0: i32 = {{TX0}};
const TXS: i32 = {{TXS}};

// Tiling: TR rows x 4 columns x TN channels per invocation, WG invocations per workgroup.
const TR: u32 = {{TR}};
const TN: u32 = {{TN}};
const WG: u32 = {{WG}};
// Weight sharing: SG lanes split the TN * KK weights of a channel, NS per lane (SG = 1: off).
const KK: u32 = KH * KW;
const SG: u32 = {{SG}};
const NS: u32 = {{NS}};

const IR: u32 = S * (TR - 1u) + KH;
const WQ: u32 = W / 4u;
const QO: u32 = WO / 4u;
const HWQ: u32 = H * WQ;
const RB: u32 = (HO + TR - 1u) / TR;
const TILES: u32 = BATCH * RB * QO;

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

@group(0) @binding(0) var<storage, read> src: array<vec4<Stored>>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
{{#if HAS_BIAS}}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
{{/if}}
{{#if ACCUMULATE}}
// An input gradient with a gradient accumulation folded in: dx = this gradient + addend.
{{#if !STRIDED_STORE}}
@group(0) @binding(2) var<storage, read> addend: array<vec4<Stored>>;
{{/if}}
{{#if STRIDED_STORE}}
@group(0) @binding(2) var<storage, read> addend: array<Stored>;
{{/if}}
{{/if}}
{{#if !STRIDED_STORE}}
@group(0) @binding({{Y_BINDING}}) var<storage, read_write> dst: array<vec4<Stored>>;
{{/if}}
{{#if STRIDED_STORE}}
@group(0) @binding({{Y_BINDING}}) var<storage, read_write> dst: array<Stored>;
{{/if}}

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
{{#if SHARED_WEIGHTS}}
// Weight (j, tap) is element e = j * KK + tap of the channel's weights, held by lane e % SG.
fn tap_{{ky}}_{{kx}}(acc: ptr<function, array<vec4<f32>, TR * TN>>, win: ptr<function, array<vec4<f32>, IR * KW>>, wl: ptr<function, array<f32, NS>>) {
{{/if}}
{{#if !SHARED_WEIGHTS}}
fn tap_{{ky}}_{{kx}}(acc: ptr<function, array<vec4<f32>, TR * TN>>, win: ptr<function, array<vec4<f32>, IR * KW>>, w_at: ptr<function, array<u32, TN>>, w_c: u32) {
    let tap = u32(TY0 + TYS * {{ky}}i) * KW_FULL + u32(TX0 + TXS * {{kx}}i);
{{/if}}
    var wv: array<vec4<f32>, TR>;
{{#for r in TR}}
    wv[{{r}}] = (*win)[({{r}}u * S + {{ky}}u) * KW + {{kx}}u];
{{/for}}
{{#for j in TN}}
{{#if SHARED_WEIGHTS}}
    fma_col_{{j}}(acc, &wv, vec4<f32>(subgroupBroadcast((*wl)[({{j}}u * KK + {{ky}}u * KW + {{kx}}u) / SG], ({{j}}u * KK + {{ky}}u * KW + {{kx}}u) % SG)));
{{/if}}
{{#if !SHARED_WEIGHTS}}
    fma_col_{{j}}(acc, &wv, vec4<f32>(w[(*w_at)[{{j}}] + w_c + tap]));
{{/if}}
{{/for}}
}
{{/for}}
{{/for}}

// Epilogue of tile row r: bias, activation, and per channel in range one aligned vec4 store
// (STEP = 1) or four scalar stores STEP apart.
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
            let out = vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
{{#if !STRIDED_STORE}}
{{#if !ACCUMULATE}}
            dst[((n * D_TOTAL + D_OFFSET + g * CO_G + o) * DH + oy) * (DW / 4u) + q] = vec4<Stored>(out);
{{/if}}
{{#if ACCUMULATE}}
            let at = ((n * D_TOTAL + D_OFFSET + g * CO_G + o) * DH + oy) * (DW / 4u) + q;
            dst[at] = vec4<Stored>(out + vec4<f32>(addend[at]));
{{/if}}
{{/if}}
{{#if STRIDED_STORE}}
            let at = ((n * D_TOTAL + D_OFFSET + g * CO_G + o) * DH + STEP * oy + PY) * DW + STEP * 4u * q + PX;
{{#for cc in LANES}}
{{#if !ACCUMULATE}}
            dst[at + STEP * {{cc}}u] = Stored(out[{{cc}}]);
{{/if}}
{{#if ACCUMULATE}}
            dst[at + STEP * {{cc}}u] = Stored(out[{{cc}}] + f32(addend[at + STEP * {{cc}}u]));
{{/if}}
{{/for}}
{{/if}}
        }
    }
{{/for}}
}
{{/for}}

// The KW windows of source row ir: tap kx of the quad's columns reads elements E0 + kx + S cc.
{{#for ir in IR}}
fn window_row_{{ir}}(win: ptr<function, array<vec4<f32>, IR * KW>>, xr: ptr<function, array<vec4<f32>, IR * NV>>) {
{{#for kx in KW}}
{{#for cc in LANES}}
    (*win)[{{ir}} * KW + {{kx}}][{{cc}}] = (*xr)[{{ir}}u * NV + (E0 + {{kx}}u + S * {{cc}}u) / 4u][(E0 + {{kx}}u + S * {{cc}}u) % 4u];
{{/for}}
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG, 1, 1)
{{#if SHARED_WEIGHTS}}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
{{/if}}
{{#if !SHARED_WEIGHTS}}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
{{/if}}
    let g = wid.z;
    let o0 = wid.y * TN;
    // Tiles past the end compute on a clamped tile and skip the store (branch-free inner loop).
    let t = wid.x * WG + lid.x;
    let tc = min(t, TILES - 1u);
    let q = tc % QO;
    let rb = (tc / QO) % RB;
    let n = tc / (QO * RB);
    let oy0 = rb * TR;

    // Source rows S oy0 - PAD_H + ir and vectors S q + QB + v: clamped offsets plus validity,
    // so padding reads a selected zero.
    var row_at: array<u32, IR>;
    var row_ok: array<bool, IR>;
{{#for ir in IR}}
    {
        let iy = i32(oy0 * S) - PAD_H + {{ir}}i;
        row_ok[{{ir}}] = iy >= 0 && iy < i32(H);
        row_at[{{ir}}] = (n * S_CHANNELS + g * CR) * HWQ + u32(clamp(iy, 0i, i32(H) - 1i)) * WQ;
    }
{{/for}}
    var col_at: array<u32, NV>;
    var col_ok: array<bool, NV>;
{{#for vi in NV}}
    {
        let qv = i32(q * S) + QB + {{vi}}i;
        col_ok[{{vi}}] = qv >= 0 && qv < i32(WQ);
        col_at[{{vi}}] = u32(clamp(qv, 0i, i32(WQ) - 1i));
    }
{{/for}}
{{#if SHARED_WEIGHTS}}
    // This lane's share of a channel's weights: element e = s * SG + lane is weight (j, ky, kx)
    // with j = e / KK, ky * KW + kx = e % KK (clamped past the end).
    var w_off: array<u32, NS>;
{{#for s in NS}}
    {
        let e = min({{s}}u * SG + lane, TN * KK - 1u);
        let ky = i32((e % KK) / KW);
        let kx = i32(e % KW);
        w_off[{{s}}] = g * W_GROUP + min(o0 + e / KK, CO_G - 1u) * W_OUT + u32(TY0 + TYS * ky) * KW_FULL + u32(TX0 + TXS * kx);
    }
{{/for}}
{{/if}}
{{#if !SHARED_WEIGHTS}}
    var w_at: array<u32, TN>;
{{#for j in TN}}
    w_at[{{j}}] = g * W_GROUP + min(o0 + {{j}}u, CO_G - 1u) * W_OUT;
{{/for}}
{{/if}}

    var acc: array<vec4<f32>, TR * TN>;
    for (var c = 0u; c < CR; c++) {
        let s_c = c * HWQ;
        let w_c = c * W_IN;
{{#if SHARED_WEIGHTS}}
        var wl: array<f32, NS>;
{{#for s in NS}}
        wl[{{s}}] = w[w_off[{{s}}] + w_c];
{{/for}}
{{/if}}
        // The IR source rows of this channel, NV vectors each.
        var xr: array<vec4<f32>, IR * NV>;
{{#for ir in IR}}
{{#for vi in NV}}
        xr[{{ir}} * NV + {{vi}}] = select(vec4<f32>(0.0), vec4<f32>(src[row_at[{{ir}}] + s_c + col_at[{{vi}}]]), row_ok[{{ir}}] && col_ok[{{vi}}]);
{{/for}}
{{/for}}
        // win[ir * KW + kx]: the 4 source values tap kx of the quad's columns reads in row ir.
        var win: array<vec4<f32>, IR * KW>;
{{#for ir in IR}}
        window_row_{{ir}}(&win, &xr);
{{/for}}
{{#for ky in KH}}
{{#for kx in KW}}
{{#if SHARED_WEIGHTS}}
        tap_{{ky}}_{{kx}}(&acc, &win, &wl);
{{/if}}
{{#if !SHARED_WEIGHTS}}
        tap_{{ky}}_{{kx}}(&acc, &win, &w_at, w_c);
{{/if}}
{{/for}}
{{/for}}
    }

    // Epilogue: bias, activation, one aligned vec4 store per row and channel in range.
{{#for r in TR}}
    store_row_{{r}}(&acc, g, o0, t, n, q, oy0);
{{/for}}
}
