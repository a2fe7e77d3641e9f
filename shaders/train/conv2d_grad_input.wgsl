//! Gradient of conv2d with respect to its input, as a gather (netc: src/codegen/kernels/train/conv_grad.rs).
//!
//! dx[n, ci, iy, ix] = sum over co of ci's group and taps (ky, kx) of dy[n, co, oy, ox] *
//! w[co, ci, ky, kx], where oy = (iy + PAD_H - ky) / STRIDE_H when that division is exact and
//! 0 <= oy < HO (likewise ox). Each dx element is owned by one invocation and written once, so
//! there are no atomics and the buffer needs no clearing.
//!
//! GEMM view, like the forward conv: rows m = input pixels (n, iy, ix), M = N*H*W; columns = input
//! channels of one group, CIN_G (one dispatch z-slice per group); reduction k = (co, ky, kx),
//! K = COUT_G*KH*KW. Each invocation owns a TM x TN register tile (rows strided by WG_M, columns
//! by WG_N inside the workgroup), uses no shared memory, unrolls the tile and the window through
//! the template, and keeps one runtime loop, over co: COUT_G iterations, far below lavapipe's
//! 65,535 cap. Taps whose output position does not exist contribute a selected 0 (branch-free).

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
const STRIDE_H: i32 = {{STRIDE_H}};
const STRIDE_W: i32 = {{STRIDE_W}};
const PAD_H: i32 = {{PAD_H}};
const PAD_W: i32 = {{PAD_W}};
const CIN_G: u32 = {{CIN_G}};
const COUT_G: u32 = {{COUT_G}};

// Tiling (a per-device choice, see ConvTiling).
const TM: u32 = {{TM}};
const TN: u32 = {{TN}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};

const M: u32 = BATCH * H * W;
const KK: u32 = KH * KW;
const HW: u32 = H * W;
const HWO: u32 = u32(HO * WO);

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wid.z;
    let m0 = wid.x * (WG_M * TM) + lid.x;
    let ci0 = wid.y * (WG_N * TN) + lid.y;

    // Per-row (input pixel) state: the padded coordinates iy + PAD_H, ix + PAD_W, the offset of
    // the group's first dy channel for the pixel's image, and the dx offset of the pixel.
    var py: array<i32, TM>;
    var px: array<i32, TM>;
    var dy_base: array<u32, TM>;
    var dx_base: array<u32, TM>;
{{#for i in TM}}
    {
        let m = min(m0 + {{i}}u * WG_M, M - 1u);
        let n = m / HW;
        let iy = (m % HW) / W;
        let ix = m % W;
        py[{{i}}] = i32(iy) + PAD_H;
        px[{{i}}] = i32(ix) + PAD_W;
        dy_base[{{i}}] = (n * COUT + g * COUT_G) * HWO;
        dx_base[{{i}}] = n * CIN * HW + iy * W + ix;
    }
{{/for}}
    // Per-column (input channel) offset into the weights of the group's first output channel.
    var w_base: array<u32, TN>;
{{#for j in TN}}
    w_base[{{j}}] = (g * COUT_G * CIN_G + min(ci0 + {{j}}u * WG_N, CIN_G - 1u)) * KK;
{{/for}}

    var acc: array<f32, TM * TN>;
    for (var co = 0u; co < COUT_G; co++) {
        let dy_co = co * HWO;
        let w_co = co * CIN_G * KK;
{{#for ky in KH}}
{{#for kx in KW}}
        {
            var a: array<f32, TM>;
{{#for i in TM}}
            {
                let ty = py[{{i}}] - {{ky}}i;
                let tx = px[{{i}}] - {{kx}}i;
                let oy = ty / STRIDE_H;
                let ox = tx / STRIDE_W;
                let ok = ty >= 0 && tx >= 0 && oy * STRIDE_H == ty && ox * STRIDE_W == tx
                    && oy < HO && ox < WO;
                let at = dy_base[{{i}}] + dy_co + u32(oy * WO + ox);
                a[{{i}}] = select(0.0, dy[select(0u, at, ok)], ok);
            }
{{/for}}
            var b: array<f32, TN>;
{{#for j in TN}}
            b[{{j}}] = w[w_base[{{j}}] + w_co + {{ky}}u * KW + {{kx}}u];
{{/for}}
{{#for i in TM}}
{{#for j in TN}}
            acc[{{i}} * TN + {{j}}] = fma(a[{{i}}], b[{{j}}], acc[{{i}} * TN + {{j}}]);
{{/for}}
{{/for}}
        }
{{/for}}
{{/for}}
    }

    // Store the in-range part of the tile.
{{#for i in TM}}
{{#for j in TN}}
    {
        let m = m0 + {{i}}u * WG_M;
        let ci = ci0 + {{j}}u * WG_N;
        if m < M && ci < CIN_G {
            dx[dx_base[{{i}}] + (g * CIN_G + ci) * HW] = acc[{{i}} * TN + {{j}}];
        }
    }
{{/for}}
{{/for}}
}
