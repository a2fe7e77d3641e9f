//! Activation gradient from the activation's output, dx = dy * act'(x) with y = act(x)
//! (netc: src/codegen/kernels/train/pointwise_grad.rs). The fusion pass folds the activation into
//! its producer, so x is never stored: relu and leaky relu read the sign off y (y > 0 exactly when
//! x > 0), tanh uses 1 - y^2 (PyTorch's tanh_backward). gelu never gets here. One element per
//! invocation.

const TOTAL: u32 = {{TOTAL}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};
const ACT_KIND: u32 = {{ACT_KIND}}; // 1 relu, 2 leaky relu, 3 tanh
const LEAKY_SLOPE: f32 = {{LEAKY_SLOPE}};

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

fn derivative(y: f32) -> f32 {
    switch ACT_KIND {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(LEAKY_SLOPE, 1.0, y > 0.0); }
        case 3u: { return 1.0 - y * y; }
        default: { return 1.0; }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    dx[i] = dy[i] * derivative(y[i]);
}
