//! Reference GEMM for throughput comparisons (netc: src/ops/linear/gemm.rs): C = A B with
//! A given transposed (AT [K, M]), B [K, N], C [M, N], all row-major f32.
//!
//! This is the fastest plain WGSL GEMM measured on lavapipe (shared/notes/lavapipe.md): no
//! shared memory and no barriers; each invocation owns a TM x (4*TNV) tile of C in vec4
//! accumulators and, per k, loads TM/4 vec4 of A and TNV vec4 of B. Conv kernels are judged
//! as a ratio to it, measured in the same run. Shapes must be multiples of the block.

const M: u32 = {{M}};
const N: u32 = {{N}};
const K: u32 = {{K}};
const TM: u32 = {{TM}};
const TNV: u32 = {{TNV}};
const WG_M: u32 = {{WG_M}};
const WG_N: u32 = {{WG_N}};

@group(0) @binding(0) var<storage, read> at: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;

@compute @workgroup_size(WG_M, WG_N, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Rows row0 .. row0 + TM, vec4 columns col0 .. col0 + TNV.
    let row0 = gid.x * TM;
    let col0 = gid.y * TNV;
{{#for q in TMV}}
{{#for r in LANES}}
{{#for j in TNV}}
    var acc_{{q}}_{{r}}_{{j}} = vec4<f32>(0.0);
{{/for}}
{{/for}}
{{/for}}
    for (var k = 0u; k < K; k++) {
{{#for q in TMV}}
        let a{{q}} = at[(k * M + row0) / 4u + {{q}}u];
{{/for}}
{{#for j in TNV}}
        let b{{j}} = b[(k * N) / 4u + col0 + {{j}}u];
{{/for}}
{{#for q in TMV}}
{{#for r in LANES}}
{{#for j in TNV}}
        acc_{{q}}_{{r}}_{{j}} = fma(vec4<f32>(a{{q}}[{{r}}]), b{{j}}, acc_{{q}}_{{r}}_{{j}});
{{/for}}
{{/for}}
{{/for}}
    }
{{#for q in TMV}}
{{#for r in LANES}}
{{#for j in TNV}}
    c[((row0 + {{q}}u * 4u + {{r}}u) * N) / 4u + col0 + {{j}}u] = acc_{{q}}_{{r}}_{{j}};
{{/for}}
{{/for}}
{{/for}}
}
