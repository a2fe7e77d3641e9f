//! The CPU reference of every activation, in f64: forward, derivative, and the derivative read
//! off the output where it is a function of it. [`super::table`] names these functions; the
//! interpreter (`reference::ops`, `reference::train_ops`) reaches them through
//! [`activate`] and friends, generic over the element type.

use super::Activation;
use crate::tensor::Element;

/// One activation, computed in f64 and rounded to the element type.
pub fn activate<T: Element>(a: Activation, v: T) -> T {
    T::from_f64((a.def().forward)(v.to_f64()))
}

/// `act'(x)`, computed in f64 from `act(x)` as the element type `T` stores it where the
/// derivative is written in terms of the output (tanh's `1 - y^2` of the stored `y`, as
/// PyTorch's tanh backward and the GPU do).
pub fn derivative<T: Element>(a: Activation, x: f64) -> f64 {
    (a.def().derivative)(x, |v| T::from_f64(v).to_f64())
}

/// `act'(x)` from `y = act(x)` (see `TrainOp::ActivationGradFromOutput`). For relu, leaky relu
/// and tanh it equals [`derivative`] bit for bit: `y > 0` exactly when `x > 0`, and tanh's
/// derivative there is already `1 - y^2` of the stored `y`.
pub fn derivative_from_output(a: Activation, y: f64) -> f64 {
    let f = a
        .def()
        .derivative_from_output
        .expect("the verifier rejects gradients read off an output they are no function of");
    f(y)
}

pub(super) fn relu(x: f64) -> f64 {
    x.max(0.0)
}

pub(super) fn relu_derivative(x: f64, _: fn(f64) -> f64) -> f64 {
    f64::from(u8::from(x > 0.0))
}

pub(super) fn relu_derivative_from_output(y: f64) -> f64 {
    f64::from(u8::from(y > 0.0))
}

pub(super) fn leaky_relu(x: f64) -> f64 {
    if x >= 0.0 {
        x
    } else {
        Activation::LEAKY_SLOPE as f64 * x
    }
}

pub(super) fn leaky_relu_derivative(x: f64, _: fn(f64) -> f64) -> f64 {
    if x > 0.0 {
        1.0
    } else {
        Activation::LEAKY_SLOPE as f64
    }
}

pub(super) fn leaky_relu_derivative_from_output(y: f64) -> f64 {
    leaky_relu_derivative(y, |v| v)
}

pub(super) fn tanh(x: f64) -> f64 {
    x.tanh()
}

pub(super) fn tanh_derivative(x: f64, stored: fn(f64) -> f64) -> f64 {
    tanh_derivative_from_output(stored(x.tanh()))
}

pub(super) fn tanh_derivative_from_output(y: f64) -> f64 {
    1.0 - y * y
}

/// 0.5 x (1 + erf(x/sqrt2)) == 0.5 x erfc(-x/sqrt2); the erfc form keeps the left tail exact.
pub(super) fn gelu(x: f64) -> f64 {
    0.5 * x * erfc(-x / std::f64::consts::SQRT_2)
}

/// Phi(x) + x phi(x).
pub(super) fn gelu_derivative(x: f64, _: fn(f64) -> f64) -> f64 {
    let cdf = 0.5 * erfc(-x / std::f64::consts::SQRT_2);
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    cdf + x * pdf
}
/// sigmoid(x) and 1 - sigmoid(x), each from e = exp(-|x|) so neither overflows or cancels.
fn sigmoid_pair(x: f64) -> (f64, f64) {
    let e = (-x.abs()).exp();
    if x >= 0.0 {
        (1.0 / (1.0 + e), e / (1.0 + e))
    } else {
        (e / (1.0 + e), 1.0 / (1.0 + e))
    }
}

/// x * sigmoid(x).
pub(super) fn silu(x: f64) -> f64 {
    x * sigmoid_pair(x).0
}

/// sigmoid(x) (1 + x (1 - sigmoid(x))), PyTorch's silu_backward.
pub(super) fn silu_derivative(x: f64, _: fn(f64) -> f64) -> f64 {
    let (s, one_minus_s) = sigmoid_pair(x);
    s * (1.0 + x * one_minus_s)
}

/// The error function to double precision: its Maclaurin series for |x| < 2, and
/// 1 - erfc(x) beyond (both converge to ~1e-16 there).
pub fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.0 {
        erf_series(ax)
    } else {
        1.0 - erfc_large(ax)
    };
    if x < 0.0 { -r } else { r }
}

/// The complementary error function, accurate in its tails (where `1 - erf` cancels):
/// GELU's left tail is `0.5 x erfc(-x / sqrt 2)`.
pub fn erfc(x: f64) -> f64 {
    if x >= 2.0 {
        erfc_large(x)
    } else if x > -2.0 {
        1.0 - erf_series(x)
    } else {
        2.0 - erfc_large(-x)
    }
}

/// erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)), for |x| < 2.
fn erf_series(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    let x2 = x * x;
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= -x2 / n;
        sum += term / (2.0 * n + 1.0);
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// erfc(x) for x >= 2 by its continued fraction (modified Lentz).
fn erfc_large(x: f64) -> f64 {
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..200 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1 / high-precision references.
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.5, 0.9999992569016276),
            (-1.0, -0.8427007929497149),
        ] {
            assert!(
                (erf(x) - want).abs() < 1e-14,
                "erf({x}) = {} want {want}",
                erf(x)
            );
        }
    }
}
