//! First pass of a conv2d's weight gradient, vectorised along image rows, for CPU
//! drivers such as lavapipe (netc: src/ops/conv/grad_kernel.rs; the second pass is
//! shaders/train/reduce_finish.wgsl).
//!
//! dw[co, ci, ky, kx] = sum over (n, oy, ox) of dy[n, co, oy, ox] * x[n, g*CIN_G + ci,
//! S oy - PAD_H + ky, S ox - PAD_W + kx] (0 outside the input; S the stride).
//!
//! Why this shape: on lavapipe an invocation is one SIMD lane, and a load whose address differs
//! between lanes is a per-lane loop. The generic kernel gives each lane its own weights and has
//! every lane read the same pixel, so each multiply-add row costs one scalar load per lane. Here
//! the lanes of a workgroup share one tile of weights (TN output channels x TC input channels x
//! every tap) and split the pixels instead: each lane owns a run of CHUNK 4-pixel quads (one
//! part of the reduction), loads each quad's dy as one aligned vec4 per output channel and each
//! input channel's KH source rows as NV aligned vec4, builds the KW windows (every S-th column
//! from tap kx) in registers, and adds dot(dy, window) into every weight of the tile: TN + TC * KH * NV vector
//! loads per TN * TC * KH * KW * 4 multiply-adds. Part s goes to scratch[s * WLEN + weight].
//! No shared memory, no barriers, no atomics; one runtime loop of at most CHUNK iterations.

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
const PAD_H: i32 = {{PAD_H}};
const S: u32 = {{STRIDE}};
// Column -PAD_W relative to a quad's first source column lies in vector QB (relative to that
// column's vector, S * q), element E0; the NV vectors from there cover every tap of the quad.
const QB: i32 = {{QB}};
const E0: u32 = {{E0}};
const NV: u32 = {{NV}};
const CIN_G: u32 = {{CIN_G}};
const COUT_G: u32 = {{COUT_G}};
// Quads in the whole reduction, parts, and quads per part.
const RQ: u32 = {{RQ}};
const PARTS: u32 = {{PARTS}};
const CHUNK: u32 = {{CHUNK}};

// Tiling: TN output channels x TC input channels per workgroup, WG lanes (parts) per workgroup.
const TN: u32 = {{TN}};
const TC: u32 = {{TC}};
const WG: u32 = {{WG}};

const KK: u32 = KH * KW;
const WQ: u32 = W / 4u;
const QO: u32 = WO / 4u;
const HWQ: u32 = H * WQ;
const HQO: u32 = HO * QO;
const CT: u32 = (CIN_G + TC - 1u) / TC;
const WLEN: u32 = COUT * CIN_G * KK;

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

@group(0) @binding(0) var<storage, read> x: array<vec4<Stored>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<Stored>>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;

// The unrolled work lives in helper functions rather than in `main`: every WGSL function gets
// an expression arena of its own, and naga's validation time grows with the square of a
// function's arena. Drivers inline the helpers; every accumulator index stays a literal.
// acc[(j * TC + c) * KK + ky * KW + kx] is the weight (co0 + j, ci0 + c, ky, kx).

// Tap (ky, kx) of input channel c: add dot(dy, window) for every output channel j.
{{#for c in TC}}
{{#for ky in KH}}
{{#for kx in KW}}
fn tap_{{c}}_{{ky}}_{{kx}}(acc: ptr<function, array<f32, TN * TC * KK>>, d: ptr<function, array<vec4<f32>, TN>>, v: vec4<f32>) {
{{#for j in TN}}
    (*acc)[({{j}}u * TC + {{c}}u) * KK + {{ky}}u * KW + {{kx}}u] += dot((*d)[{{j}}], v);
{{/for}}
}
{{/for}}
{{/for}}
{{/for}}

// Input channel c of the tile: the quad's window at every tap, from its KH source rows.
{{#for c in TC}}
fn channel_{{c}}(acc: ptr<function, array<f32, TN * TC * KK>>, d: ptr<function, array<vec4<f32>, TN>>, xr: ptr<function, array<vec4<f32>, KH * NV>>) {
    var v: vec4<f32>;
{{#for ky in KH}}
{{#for kx in KW}}
{{#for cc in LANES}}
    v[{{cc}}] = (*xr)[{{ky}}u * NV + (E0 + {{kx}}u + S * {{cc}}u) / 4u][(E0 + {{kx}}u + S * {{cc}}u) % 4u];
{{/for}}
    tap_{{c}}_{{ky}}_{{kx}}(acc, d, v);
{{/for}}
{{/for}}
}
{{/for}}

// Store output channel j's weights of the tile that are in range.
{{#for j in TN}}
fn store_{{j}}(acc: ptr<function, array<f32, TN * TC * KK>>, s: u32, g: u32, co0: u32, ci0: u32) {
    let co = co0 + {{j}}u;
    if co >= COUT_G {
        return;
    }
{{#for c in TC}}
    if ci0 + {{c}}u < CIN_G {
        let at = s * WLEN + ((g * COUT_G + co) * CIN_G + ci0 + {{c}}u) * KK;
{{#for ky in KH}}
{{#for kx in KW}}
        scratch[at + {{ky}}u * KW + {{kx}}u] = (*acc)[({{j}}u * TC + {{c}}u) * KK + {{ky}}u * KW + {{kx}}u];
{{/for}}
{{/for}}
    }
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let s = wid.x * WG + lid.x;
    if s >= PARTS {
        return;
    }
    let co0 = wid.y * TN;
    let g = wid.z / CT;
    let ci0 = (wid.z % CT) * TC;

    // Channel offsets within an image (clamped: out-of-range channels compute, never store).
    var dy_off: array<u32, TN>;
{{#for j in TN}}
    dy_off[{{j}}] = (g * COUT_G + min(co0 + {{j}}u, COUT_G - 1u)) * HQO;
{{/for}}
    var x_off: array<u32, TC>;
{{#for c in TC}}
    x_off[{{c}}] = (g * CIN_G + min(ci0 + {{c}}u, CIN_G - 1u)) * HWQ;
{{/for}}

    let r0 = s * CHUNK;
    let r1 = min(r0 + CHUNK, RQ);
    var n = r0 / HQO;
    var oy = (r0 % HQO) / QO;
    var q = r0 % QO;
    var acc: array<f32, TN * TC * KK>;
    for (var r = r0; r < r1; r++) {
        var d: array<vec4<f32>, TN>;
        let dy_at = n * COUT * HQO + oy * QO + q;
{{#for j in TN}}
        d[{{j}}] = vec4<f32>(dy[dy_at + dy_off[{{j}}]]);
{{/for}}
        // Source rows S oy - PAD_H + ky and vectors S q + QB + v: clamped offsets plus validity,
        // so padding reads a selected zero.
        var row_at: array<u32, KH>;
        var row_ok: array<bool, KH>;
{{#for ky in KH}}
        {
            let iy = i32(oy * S) - PAD_H + {{ky}}i;
            row_ok[{{ky}}] = iy >= 0 && iy < i32(H);
            row_at[{{ky}}] = n * CIN * HWQ + u32(clamp(iy, 0i, i32(H) - 1i)) * WQ;
        }
{{/for}}
        var col_at: array<u32, NV>;
        var col_ok: array<bool, NV>;
{{#for v in NV}}
        {
            let qv = i32(q * S) + QB + {{v}}i;
            col_ok[{{v}}] = qv >= 0 && qv < i32(WQ);
            col_at[{{v}}] = u32(clamp(qv, 0i, i32(WQ) - 1i));
        }
{{/for}}
{{#for c in TC}}
        {
            var xr: array<vec4<f32>, KH * NV>;
{{#for ky in KH}}
{{#for v in NV}}
            xr[{{ky}}u * NV + {{v}}u] = select(vec4<f32>(0.0), vec4<f32>(x[row_at[{{ky}}] + x_off[{{c}}] + col_at[{{v}}]]), row_ok[{{ky}}] && col_ok[{{v}}]);
{{/for}}
{{/for}}
            channel_{{c}}(&acc, &d, &xr);
        }
{{/for}}
        q++;
        if q == QO {
            q = 0u;
            oy++;
            if oy == HO {
                oy = 0u;
                n++;
            }
        }
    }

{{#for j in TN}}
    store_{{j}}(&acc, s, g, co0, ci0);
{{/for}}
}
