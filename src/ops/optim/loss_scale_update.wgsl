//! Dynamic loss scaling, second half (netc: src/ops/optim/loss_scale.rs): the
//! step's last dispatch updates the scale with PyTorch GradScaler's rule. After a step with a
//! non-finite gradient (whose updates were skipped) the scale is multiplied by BACKOFF and the
//! count of clean steps restarts; after GROWTH_INTERVAL clean steps in a row it is multiplied
//! by GROWTH. One invocation.
//!
//! The scaler's state, four words kept with the parameters (so checkpoints resume it):
//! [0] the scale, [1] clean steps since the last change, [2] the found-non-finite flag (a u32
//! set by grads_finite.wgsl, cleared here), [3] steps skipped so far. `skipped` receives 1 or
//! 0 for this step (a scalar output the trainer logs).

const GROWTH: f32 = {{GROWTH}};
const BACKOFF: f32 = {{BACKOFF}};
const GROWTH_INTERVAL: f32 = {{GROWTH_INTERVAL}};

@group(0) @binding(0) var<storage, read_write> scaler: array<f32>;
@group(0) @binding(1) var<storage, read_write> skipped: array<f32>;

@compute @workgroup_size(1)
fn main() {
    let found = bitcast<u32>(scaler[2]) != 0u;
    if found {
        scaler[0] = scaler[0] * BACKOFF;
        scaler[1] = 0.0;
        scaler[3] = scaler[3] + 1.0;
    } else {
        let clean = scaler[1] + 1.0;
        if clean >= GROWTH_INTERVAL {
            scaler[0] = scaler[0] * GROWTH;
            scaler[1] = 0.0;
        } else {
            scaler[1] = clean;
        }
    }
    scaler[2] = 0.0;
    skipped[0] = select(0.0, 1.0, found);
}
