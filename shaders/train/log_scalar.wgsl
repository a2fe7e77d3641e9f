//! Appends a scalar (the step's loss, its correct count) to a log on the device
//! (netc: src/codegen/kernels/train/log.rs), so a training run reads its metrics back
//! only when it asks for them. `log[0]` counts the entries; entry i is `log[1 + i]`.
//! A full log keeps counting but stores nothing more, so the host sees the overflow.
//! One invocation: the append is ordered and deterministic.

const CAPACITY: u32 = {{CAPACITY}};

@group(0) @binding(0) var<storage, read> value: array<f32>;
@group(0) @binding(1) var<storage, read_write> log: array<f32>;

@compute @workgroup_size(1)
fn main() {
    let i = u32(log[0]);
    if i < CAPACITY {
        log[1u + i] = value[0];
    }
    log[0] = f32(i + 1u);
}
