//! conv2d and its gradients as an implicit GEMM staged through workgroup memory, for GPUs
//! (netc: src/ops/conv/tiled.rs).
//!
//! One template, three GEMM views (exactly one of the FORWARD / GRAD_INPUT / GRAD_WEIGHT flags):
//!
//! | kernel      | rows (GM)              | columns (GN)  | reduction (k)                      |
//! |-------------|------------------------|---------------|------------------------------------|
//! | forward     | output pixels n,oy,ox  | Cout of group | ci, ky, kx                         |
//! | grad input  | input pixels n,iy,ix   | Cin of group  | co, ky, kx (stride 1 only)         |
//! | grad weight | weight taps ci,ky,kx   | Cout of group | n, oy, ox, cut into parts (split-K)|
//!
//! A workgroup owns a BM x BN block of the result (BM = TM * WG_M, BN = TN * WG_N). For every
//! BK-deep slice of the reduction it first stages the slice of both operands in workgroup memory
//! (each invocation gathering a few values straight from the NCHW tensors: the patch matrix is
//! never materialised), then every invocation accumulates its TM x TN register tile from there.
//! Each value loaded from device memory is thus reused BN (A) or BM (B) times from fast shared
//! memory instead of being re-read by every invocation that needs it, which is what a GPU's
//! register-only tiles (conv2d.wgsl) lack; on a CPU driver the barriers cost more than they save.
//!
//! Invocation (tx, ty) owns TM / 4 quads of rows, 4 * tx + 4 * WG_M * q + (0..4), and likewise
//! TN / 4 quads of columns, so it reads each quad from shared memory as one vec4 (one wide load
//! instead of four) and neighbouring lanes read neighbouring vec4 (no bank conflicts). The
//! staging order makes neighbouring lanes load neighbouring addresses: along the rows for the
//! forward and input-gradient patch matrices (neighbouring pixels), along the reduction for
//! weights and for both operands of the weight gradient. Tiles past the edges stage zeros and
//! skip their stores. The tile is unrolled by the template; the runtime loop runs over the
//! reduction in steps of BK.

{{#if F16}}
enable f16;
{{/if}}
const BATCH: u32 = {{BATCH}};
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

const KK: u32 = KH * KW;
const HW: u32 = H * W;
const HWO: u32 = HO * WO;

// The GEMM: GM x GN result, reduction of length GK (for the weight gradient, every part
// reduces CHUNK of them).
const GM: u32 = {{GM}};
const GN: u32 = {{GN}};
const GK: u32 = {{GK}};
const CHUNK: u32 = {{CHUNK}};

// Tiling (a per-device choice, see ConvTiling).
const TM: u32 = {{TM}};
const TN: u32 = {{TN}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};
const BM: u32 = TM * WG_M;
const BN: u32 = TN * WG_N;
// Steps of the reduction per staged slice (ConvTiling::depth).
const BK: u32 = {{BK}};
const LANES: u32 = WG_M * WG_N;
const TM4: u32 = TM / 4u;
const TN4: u32 = TN / 4u;
// Shared rows (one per step of the slice) are padded by one vec4 so that staging along the
// reduction (BK neighbouring lanes write one column each) spreads over the banks.
const A_STRIDE: u32 = BM + 4u;
const B_STRIDE: u32 = BN + 4u;

// Slices as vec4 (A_STRIDE and B_STRIDE are multiples of 4): float f of a slice is component
// f % 4 of element f / 4.
var<workgroup> a_tile: array<vec4<f32>, BK * A_STRIDE / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * B_STRIDE / 4u>;

// How activations are stored: f32, or f16 in a mixed-precision plan (weights stay f32).
alias Stored = {{STORED}};

{{#if FORWARD}}
const OUT_TOTAL_CHANNELS: u32 = {{OUT_TOTAL_CHANNELS}};
const OUT_CHANNEL_OFFSET: u32 = {{OUT_CHANNEL_OFFSET}};
@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
{{#if HAS_BIAS}}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
{{/if}}
@group(0) @binding({{Y_BINDING}}) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}
{{/if}}
{{#if GRAD_INPUT}}
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
{{/if}}
{{#if GRAD_WEIGHT}}
const WLEN: u32 = COUT * CIN_G * KK;
@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> dy: array<Stored>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
{{/if}}

// What one staging load of an operand needs across the whole reduction: the reduction offset
// within the slice (kk), where in shared memory it goes (dst), whether it stages anything at all
// (live: the last load of a lane may fall past the slice), whether its row or column exists
// (ok), and the row's or column's precomputed offsets (base, y0, x0).
struct Load {
    kk: u32,
    dst: u32,
    live: bool,
    ok: bool,
    base: i32,
    y0: i32,
    x0: i32,
}

// Staging load `e` of a BK x `width` slice whose neighbouring lanes take neighbouring rows.
fn along_rows(e: u32, width: u32, stride: u32) -> vec3<u32> {
    let r = e % width;
    let kk = e / width;
    return vec3<u32>(r, kk, kk * stride + r);
}

// Staging load `e` of a BK x `width` slice whose neighbouring lanes take neighbouring steps of
// the reduction.
fn along_k(e: u32, stride: u32) -> vec3<u32> {
    let kk = e % BK;
    let r = e / BK;
    return vec3<u32>(r, kk, kk * stride + r);
}

{{#if FORWARD}}
// A = the input's patch matrix: row m = (n, oy, ox), k = (ci, ky, kx).
fn a_setup(e: u32, row0: u32, g: u32) -> Load {
    let p = along_rows(e, BM, A_STRIDE);
    let m = row0 + p.x;
    let mc = min(m, GM - 1u);
    let n = mc / HWO;
    let oy = (mc % HWO) / WO;
    let ox = mc % WO;
    let y0 = i32(oy * STRIDE_H) - PAD_H;
    let x0 = i32(ox * STRIDE_W) - PAD_W;
    let base = i32((n * CIN + g * CIN_G) * HW) + y0 * i32(W) + x0;
    return Load(p.y, p.z, e < BK * BM, m < GM, base, y0, x0);
}

fn a_value(s: Load, k: u32, k_end: u32) -> f32 {
    let ci = k / KK;
    let ky = (k % KK) / KW;
    let kx = k % KW;
    let iy = s.y0 + i32(ky);
    let ix = s.x0 + i32(kx);
    let inside = s.ok && k < k_end && iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
    let at = s.base + i32(ci * HW + ky * W + kx);
    return select(0.0, f32(x[u32(select(0, at, inside))]), inside);
}

// B = the weights: k = (ci, ky, kx), column co.
fn b_setup(e: u32, col0: u32, g: u32) -> Load {
    let p = along_k(e, B_STRIDE);
    let co = col0 + p.x;
    let base = i32((g * COUT_G + min(co, GN - 1u)) * GK);
    return Load(p.y, p.z, e < BK * BN, co < GN, base, 0, 0);
}

fn b_value(s: Load, k: u32, k_end: u32) -> f32 {
    let inside = s.ok && k < k_end;
    return select(0.0, w[u32(s.base) + select(0u, k, inside)], inside);
}

fn store(row: u32, col: u32, g: u32, part: u32, v: f32) {
    let n = row / HWO;
    let pix = row % HWO;
{{#if HAS_BIAS}}
    let biased = v + bias[g * COUT_G + col];
{{/if}}
{{#if !HAS_BIAS}}
    let biased = v;
{{/if}}
    y[(n * OUT_TOTAL_CHANNELS + OUT_CHANNEL_OFFSET + g * COUT_G + col) * HWO + pix] = Stored(activate(biased));
}
{{/if}}
{{#if GRAD_INPUT}}
// A = dy's patch matrix for a stride-1 conv: row m = (n, iy, ix), k = (co, ky, kx), reading
// dy[n, co, iy + PAD_H - ky, ix + PAD_W - kx] where that exists.
fn a_setup(e: u32, row0: u32, g: u32) -> Load {
    let p = along_rows(e, BM, A_STRIDE);
    let m = row0 + p.x;
    let mc = min(m, GM - 1u);
    let n = mc / HW;
    let y0 = i32((mc % HW) / W) + PAD_H;
    let x0 = i32(mc % W) + PAD_W;
    let base = i32((n * COUT + g * COUT_G) * HWO) + y0 * i32(WO) + x0;
    return Load(p.y, p.z, e < BK * BM, m < GM, base, y0, x0);
}

fn a_value(s: Load, k: u32, k_end: u32) -> f32 {
    let co = k / KK;
    let ky = (k % KK) / KW;
    let kx = k % KW;
    let oy = s.y0 - i32(ky);
    let ox = s.x0 - i32(kx);
    let inside = s.ok && k < k_end && oy >= 0 && oy < i32(HO) && ox >= 0 && ox < i32(WO);
    let at = s.base + i32(co * HWO) - i32(ky * WO + kx);
    return select(0.0, f32(dy[u32(select(0, at, inside))]), inside);
}

// B = the weights w[co, ci, ky, kx]: k = (co, ky, kx), column ci.
fn b_setup(e: u32, col0: u32, g: u32) -> Load {
    let p = along_k(e, B_STRIDE);
    let ci = col0 + p.x;
    let base = i32(g * COUT_G * CIN_G * KK + min(ci, GN - 1u) * KK);
    return Load(p.y, p.z, e < BK * BN, ci < GN, base, 0, 0);
}

fn b_value(s: Load, k: u32, k_end: u32) -> f32 {
    let inside = s.ok && k < k_end;
    let kc = select(0u, k, inside);
    return select(0.0, w[u32(s.base) + (kc / KK) * CIN_G * KK + kc % KK], inside);
}

fn store(row: u32, col: u32, g: u32, part: u32, v: f32) {
    let n = row / HW;
{{#if !ACCUMULATE}}
    dx[(n * CIN + g * CIN_G + col) * HW + row % HW] = Stored(v);
{{/if}}
{{#if ACCUMULATE}}
    let at = (n * CIN + g * CIN_G + col) * HW + row % HW;
    dx[at] = Stored(v + f32(addend[at]));
{{/if}}
}
{{/if}}
{{#if GRAD_WEIGHT}}
// A = the input's patches transposed: row = weight tap (ci, ky, kx), k = (n, oy, ox).
fn a_setup(e: u32, row0: u32, g: u32) -> Load {
    let p = along_k(e, A_STRIDE);
    let tap = row0 + p.x;
    let tc = min(tap, GM - 1u);
    let ci = tc / KK;
    let y0 = i32((tc % KK) / KW) - PAD_H;
    let x0 = i32(tc % KW) - PAD_W;
    let base = i32((g * CIN_G + ci) * HW) + y0 * i32(W) + x0;
    return Load(p.y, p.z, e < BK * BM, tap < GM, base, y0, x0);
}

fn a_value(s: Load, k: u32, k_end: u32) -> f32 {
    let n = k / HWO;
    let oy = (k % HWO) / WO;
    let ox = k % WO;
    let iy = s.y0 + i32(oy * STRIDE_H);
    let ix = s.x0 + i32(ox * STRIDE_W);
    let inside = s.ok && k < k_end && iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
    let at = s.base + i32(n * CIN * HW + oy * STRIDE_H * W + ox * STRIDE_W);
    return select(0.0, f32(x[u32(select(0, at, inside))]), inside);
}

// B = dy: k = (n, oy, ox), column co.
fn b_setup(e: u32, col0: u32, g: u32) -> Load {
    let p = along_k(e, B_STRIDE);
    let co = col0 + p.x;
    let base = i32((g * COUT_G + min(co, GN - 1u)) * HWO);
    return Load(p.y, p.z, e < BK * BN, co < GN, base, 0, 0);
}

fn b_value(s: Load, k: u32, k_end: u32) -> f32 {
    let inside = s.ok && k < k_end;
    let kc = select(0u, k, inside);
    return select(0.0, f32(dy[u32(s.base) + (kc / HWO) * COUT * HWO + kc % HWO]), inside);
}

// Partial `part` of weight (g * COUT_G + co, tap).
fn store(row: u32, col: u32, g: u32, part: u32, v: f32) {
    scratch[part * WLEN + (g * COUT_G + col) * GM + row] = v;
}
{{/if}}

// acc[i, j] += a[i] * b[j] for one step kk of the staged slice; acc holds vec4 of columns.
fn multiply(acc: ptr<function, array<vec4<f32>, TM * TN4>>, kk: u32, tx: u32, ty: u32) {
    var a: array<vec4<f32>, TM4>;
{{#for q in TM4}}
    a[{{q}}] = a_tile[(kk * A_STRIDE + {{q}}u * 4u * WG_M) / 4u + tx];
{{/for}}
    var b: array<vec4<f32>, TN4>;
{{#for q in TN4}}
    b[{{q}}] = b_tile[(kk * B_STRIDE + {{q}}u * 4u * WG_N) / 4u + ty];
{{/for}}
{{#for i in TM}}
    fma_row_{{i}}(acc, a[{{i}}u / 4u][{{i}}u % 4u], &b);
{{/for}}
}

{{#for i in TM}}
fn fma_row_{{i}}(acc: ptr<function, array<vec4<f32>, TM * TN4>>, a: f32, b: ptr<function, array<vec4<f32>, TN4>>) {
{{#for q in TN4}}
    (*acc)[{{i}} * TN4 + {{q}}] = fma(vec4<f32>(a), (*b)[{{q}}], (*acc)[{{i}} * TN4 + {{q}}]);
{{/for}}
}
{{/for}}

// Epilogue of tile row i (row quad i / 4, row i % 4 of it): store the in-range part.
{{#for i in TM}}
fn store_row_{{i}}(acc: ptr<function, array<vec4<f32>, TM * TN4>>, row0: u32, col0: u32, g: u32, part: u32) {
    let row = row0 + ({{i}}u / 4u) * 4u * WG_M + {{i}}u % 4u;
{{#for j in TN}}
    {
        let col = col0 + ({{j}}u / 4u) * 4u * WG_N + {{j}}u % 4u;
        if row < GM && col < GN {
            store(row, col, g, part, (*acc)[{{i}} * TN4 + {{j}} / 4][{{j}} % 4]);
        }
    }
{{/for}}
}
{{/for}}

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    // z = part * GROUPS + group (one part unless the weight gradient splits its reduction).
    let g = wid.z % GROUPS;
    let part = wid.z / GROUPS;
    let row0 = wid.x * BM;
    let col0 = wid.y * BN;
    let k_begin = part * CHUNK;
    let k_end = min(k_begin + CHUNK, GK);

    var a_loads: array<Load, {{LOADS_A}}>;
{{#for l in LOADS_A}}
    a_loads[{{l}}] = a_setup(lane + {{l}}u * LANES, row0, g);
{{/for}}
    var b_loads: array<Load, {{LOADS_B}}>;
{{#for l in LOADS_B}}
    b_loads[{{l}}] = b_setup(lane + {{l}}u * LANES, col0, g);
{{/for}}

    var acc: array<vec4<f32>, TM * TN4>;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
{{#for l in LOADS_A}}
        if a_loads[{{l}}].live {
            let d = a_loads[{{l}}].dst;
            a_tile[d / 4u][d % 4u] = a_value(a_loads[{{l}}], k0 + a_loads[{{l}}].kk, k_end);
        }
{{/for}}
{{#for l in LOADS_B}}
        if b_loads[{{l}}].live {
            let d = b_loads[{{l}}].dst;
            b_tile[d / 4u][d % 4u] = b_value(b_loads[{{l}}], k0 + b_loads[{{l}}].kk, k_end);
        }
{{/for}}
        workgroupBarrier();
{{#for kk in BK}}
        multiply(&acc, {{kk}}u, lid.x, lid.y);
{{/for}}
        workgroupBarrier();
    }

{{#for i in TM}}
    store_row_{{i}}(&acc, row0 + 4u * lid.x, col0 + 4u * lid.y, g, part);
{{/for}}
}
