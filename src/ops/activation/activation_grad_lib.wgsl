//! The derivative of an activation read off its output y = act(x), for kernels that take a
//! gradient through a fused activation (netc: src/codegen/kernels/activation.rs). relu and leaky
//! relu: y > 0 exactly when x > 0; tanh: 1 - y^2 (PyTorch's tanh_backward). gelu never gets here.

const GRAD_KIND: u32 = {{GRAD_KIND}}; // {{GRAD_KINDS}}
const GRAD_SLOPE: f32 = {{GRAD_SLOPE}};

fn derivative_from_output(y: f32) -> f32 {
    switch GRAD_KIND {
{{GRAD_CASES}}
        default: { return 1.0; }
    }
}
{{#if VEC4}}

// Lane by lane, for kernels that hold four consecutive elements per invocation.
fn derivative_from_output4(y: vec4<f32>) -> vec4<f32> {
    return vec4(
        derivative_from_output(y.x),
        derivative_from_output(y.y),
        derivative_from_output(y.z),
        derivative_from_output(y.w),
    );
}
{{/if}}
