//! Gradients of the training graph against central finite differences of the loss,
//! in f64: the reference interpreter runs the whole training graph in double
//! precision, so a central difference with a step of 1e-5 is good to ~1e-9 and the
//! bound can be tight (1e-6 of the tensor's largest gradient) — a wrong rule is off by
//! far more. Every
//! element of every parameter gradient is checked on tiny models that together cover
//! every op with a gradient (the pools' own models are in `tests/ops/pool.rs`, the
//! activations' in `tests/ops/activation.rs`, batch norm's in `tests/ops/norm.rs`): a step
//! of 1e-5 crosses a kink (a ReLU input at zero, a max-pool tie) only if a value lies within
//! ~1e-5 of it, and the inputs here are spread so none does.

use crate::ops::harness::grad_check as check;

#[test]
fn conv_bn_relu_linear() {
    check(
        "model M() { input x: [2, 5, 5]\n return x |> conv(3, k = 3, pad = 1) |> bn |> relu |> flatten |> linear(3) }",
    );
}

#[test]
fn dense_layer_with_transition() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> relu |> conv(4, k = 1, bias = false) |> bn as bn2 |> relu |> conv(2, k = 3, pad = 1, bias = false)\n z = concat(y, x)\n t = z |> bn as bn3 |> relu |> conv(2, k = 1, bias = false) |> avg_pool(2)\n return t |> flatten |> linear(3) }",
    );
}

#[test]
fn smooth_dense_layer_with_transition() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> tanh |> conv(4, k = 1, bias = false) |> bn as bn2 |> tanh |> conv(2, k = 3, pad = 1, bias = false)\n z = concat(y, x)\n t = z |> bn as bn3 |> tanh |> conv(2, k = 1, bias = false) |> avg_pool(2)\n return t |> flatten |> linear(3) }",
    );
}
