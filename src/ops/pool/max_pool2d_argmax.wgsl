//! First pass of max pool 2d's gradient (netc: src/ops/pool/grad_kernel.rs): for
//! each output element (plane, oy, ox), the in-plane position iy * W + ix of its window's first
//! maximum in scan order (ky, then kx, ascending; padding never wins; a later value must be
//! strictly greater to replace it), PyTorch's rule. Stored as an f32, exact because a plane
//! holds fewer than 2^24 elements (checked on the Rust side). The gather pass
//! (pool2d_grad.wgsl) then compares against these instead of rescanning every window.

{{#if F16}}
enable f16;
{{/if}}
// How x is stored: f32, or f16 in a mixed-precision plan (positions stay f32).
alias Stored = {{STORED}};

const PLANES: u32 = {{PLANES}};
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
const TOTAL: u32 = PLANES * HO * WO;
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> arg: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if o >= TOTAL {
        return;
    }
    let ox = o % WO;
    let oy = (o / WO) % HO;
    let plane = o / (HO * WO);
    let iy0 = i32(oy * STRIDE_H) - PAD_H;
    let ix0 = i32(ox * STRIDE_W) - PAD_W;
    var best = 0.0;
    var at = 0xffffffffu;
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
            let pos = u32(iy) * W + u32(ix);
            let v = f32(x[plane * H * W + pos]);
            if at == 0xffffffffu || v > best {
                best = v;
                at = pos;
            }
        }
    }
    arg[o] = f32(at);
}
