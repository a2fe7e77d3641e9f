//! The derivative of an activation read off its output y = act(x), for kernels that take a
//! gradient through a fused activation (netc: src/ops/activation/kernel.rs). relu and leaky
//! relu: y > 0 exactly when x > 0; tanh: 1 - y^2 (PyTorch's tanh_backward). gelu never gets here.

const GRAD_SLOPE: f32 = {{GRAD_SLOPE}};

// {{ACT_NAME}}
fn derivative_from_output(y: f32) -> f32 {
    return {{DERIVATIVE_FROM_OUTPUT}};
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
