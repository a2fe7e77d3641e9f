//! Number of correct predictions in a batch (netc: src/ops/loss/train_kernel.rs): rows
//! whose first maximum (torch.argmax's tie rule: a later logit must be strictly greater) is the
//! label, written as an f32. One workgroup: each invocation counts rows lid, lid + WG, ..., then
//! a shared-memory tree adds the counts. Labels are f32 class ids.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const ROWS: u32 = {{ROWS}};
const K: u32 = {{K}};
const WG: u32 = {{WG}}; // a power of two

@group(0) @binding(0) var<storage, read> logits: array<Stored>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
@group(0) @binding(2) var<storage, read_write> count: array<f32>;

var<workgroup> partial: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var correct = 0u;
    for (var row = lid.x; row < ROWS; row += WG) {
        let base = row * K;
        var best = 0u;
        for (var j = 1u; j < K; j++) {
            if f32(logits[base + j]) > f32(logits[base + best]) {
                best = j;
            }
        }
        correct += select(0u, 1u, f32(best) == labels[row]);
    }
    partial[lid.x] = correct;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        count[0] = f32(partial[0]);
    }
}
