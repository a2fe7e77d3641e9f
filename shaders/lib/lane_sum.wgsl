//! lane_sum(v): the sum of the WIDTH values of a vector V, added pairwise, for the per-channel
//! reductions whose sweeps read vectors (netc: src/codegen/kernels/train/reduce.rs,
//! `chunk_vars`).
{{#if VEC4}}
fn lane_sum(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}
{{/if}}
{{#if !VEC4}}
fn lane_sum(v: f32) -> f32 {
    return v;
}
{{/if}}
