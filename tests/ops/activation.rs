//! Every activation of the table (`src/ops/activation/table.rs`), each test iterating it, so an
//! activation added there is tested here with no new test:
//!
//! * the CPU reference against PyTorch (`tests/ops/activation/fixtures.json`, float64, written by
//!   `tools/make_op_fixtures.py`): forward, derivative, the derivative read off the output, and
//!   the init gain where `torch.nn.init.calculate_gain` has one;
//! * the GPU kernels against the reference: `y = act(x)`, `dx = dy * act'(x)` and, where the
//!   table has it, `dx = dy * act'(y)` (refused otherwise), each over random values and pointwise
//!   over a dense grid of [-10, 10];
//! * each activation's gradient in a training graph against finite differences (standalone and
//!   after batch norm and add, where the fusion pass folds it in);
//! * ONNX export through onnxruntime.
//!
//! Kernels with a fused activation (conv, batch norm, add, ...) iterate the table in their own
//! tests (`gpu_common::epilogues`).

use super::harness::{assert_pointwise, fixture, grad_check, numbers, run_kernel};
use crate::gpu_common::{Lcg, assert_close, tensor};
use netc::codegen::kernels::Elem;
use netc::ir::{Op, TrainOp};
use netc::ops::activation::{Activation, kernel, reference};
use netc::reference::{ops, train_ops};

/// `x` spread over [-8, 8] with 0 at the front: relu's derivative at 0 is the left one.
fn random_x(seed: u64, len: usize) -> Vec<f32> {
    let mut x = Lcg::new(seed).vec_in(len, -8.0, 8.0);
    x[0] = 0.0;
    x
}

/// A dense grid of [-10, 10], spacing 5e-4.
fn grid() -> Vec<f32> {
    (0..=40_000).map(|i| -10.0 + i as f32 * 5e-4).collect()
}

fn grad_ref(op: TrainOp, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let n = x.len() as u32;
    train_ops::forward(&op, &[&tensor(&[n], x), &tensor(&[n], dy)]).data
}

// ---- the reference against PyTorch ----

#[test]
fn every_activation_matches_pytorch_in_f64() {
    let f = fixture("activation");
    let x = numbers(&f["x"]);
    // netc's activation parameters (leaky relu's slope) are f32 values, as in the kernels, so
    // the f64 reference may differ from float64 PyTorch by their f32 rounding (6e-8 relative).
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-7 * want.abs() + 1e-12;
    for a in Activation::all() {
        let d = a.def();
        let t = f["activations"].get(d.name).unwrap_or_else(|| {
            panic!(
                "{}: no PyTorch data in tests/ops/activation/fixtures.json; run tools/make_op_fixtures.py",
                d.name
            )
        });
        let (y, dx) = (numbers(&t["y"]), numbers(&t["dx"]));
        for (i, &xi) in x.iter().enumerate() {
            let got = (d.forward)(xi);
            assert!(
                close(got, y[i]),
                "{a:?}({xi}) = {got:e}, PyTorch {:e}",
                y[i]
            );
            let got = reference::derivative::<f64>(a, xi);
            assert!(
                close(got, dx[i]),
                "{a:?}'({xi}) = {got:e}, PyTorch {:e}",
                dx[i]
            );
            if a.derivative_from_output() {
                let got = reference::derivative_from_output(a, y[i]);
                assert!(
                    close(got, dx[i]),
                    "{a:?}' read off y = {:e}: {got:e}, PyTorch {:e}",
                    y[i],
                    dx[i]
                );
            }
        }
        // PyTorch's calculate_gain knows some activations (the fixture's `gain` is null for the
        // others, whose gain the table documents).
        if let Some(torch_gain) = t["gain"].as_f64() {
            let ours = netc::params::gain(d.name);
            assert!(
                (ours - torch_gain).abs() <= 1e-15,
                "{a:?}: init gain {ours} vs PyTorch's {torch_gain}"
            );
        }
    }
}

// ---- the kernels against the reference ----

#[test]
fn every_activation_kernel_matches_the_reference() {
    for (i, a) in Activation::all().enumerate() {
        let x = random_x(200 + i as u64, 1000);
        let want = ops::forward(&Op::Activation(a), &[&tensor(&[1000], &x)]).data;
        let k = kernel::activation(x.len() as u64, a, Elem::F32).expect("kernel");
        assert_close(&format!("{a:?}"), &run_kernel(&k, &[&x], x.len()), &want);
    }
}

/// Every activation accurate pointwise, not just relative to the tensor's largest value: over a
/// dense grid of [-10, 10] each output is within 1e-6 of the reference *relative to that value*,
/// plus 1e-14 |x| (the f64 reference's own error where values cancel).
#[test]
fn every_activation_is_accurate_pointwise() {
    let x = grid();
    for a in Activation::all() {
        let k = kernel::activation(x.len() as u64, a, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&x], x.len());
        let want: Vec<f64> = x
            .iter()
            .map(|&v| f64::from(reference::activate(a, v)))
            .collect();
        assert_pointwise(&format!("{a:?}"), &x, &got, &want, |x, r| {
            1e-6 * r.abs() + 1e-14 * x.abs()
        });
    }
}

/// gelu's left tail, where the reference's value is tiny: the GPU's must keep its relative
/// accuracy down to gelu(-10) ≈ -7.6e-23, checked by a property that needs no oracle: for
/// x < -2 gelu is negative and strictly increasing towards 0 as x decreases, so the GPU values
/// must be too (flushing to zero, sign errors or noise at 1e-7 relative would all break it at
/// this grid spacing, where neighbours differ by >= 1e-3 relative).
#[test]
fn gelu_tail_is_negative_and_monotone() {
    let x = grid();
    let k = kernel::activation(x.len() as u64, Activation::GELU, Elem::F32).expect("kernel");
    let got = run_kernel(&k, &[&x], x.len());
    let tail: Vec<(f32, f32)> = x
        .iter()
        .copied()
        .zip(got)
        .take_while(|&(x, _)| x < -2.0)
        .collect();
    assert!(tail.len() > 10_000);
    for w in tail.windows(2) {
        let ((x0, g0), (x1, g1)) = (w[0], w[1]);
        assert!(
            g0 < 0.0 && g1 < 0.0 && g0 > g1,
            "gelu tail not negative and increasing towards 0 as x falls: \
             gelu({x0}) = {g0:e}, gelu({x1}) = {g1:e}"
        );
    }
}

#[test]
fn every_activation_gradient_kernel_matches_the_reference() {
    for (i, a) in Activation::all().enumerate() {
        let x = random_x(40 + i as u64, 2000);
        let dy = Lcg::new(140 + i as u64).vec(x.len());
        let want = grad_ref(TrainOp::ActivationGrad(a), &x, &dy);
        let k = kernel::activation_grad(x.len() as u64, a, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&x, &dy], x.len());
        assert_close(&format!("{a:?} grad"), &got, &want);
    }
}

/// Where the table reads the derivative off the output, the reference's two forms agree bit
/// for bit and the kernel matches them; elsewhere the kernel and the shape rule refuse it.
#[test]
fn every_gradient_from_output_matches_or_is_refused() {
    for (i, a) in Activation::all().enumerate() {
        if !a.derivative_from_output() {
            assert!(
                kernel::activation_grad_from_output(8, a, Elem::F32).is_err(),
                "{a:?}"
            );
            let ty = netc::ir::TensorType::activation(vec![8]);
            assert!(
                Op::Train(TrainOp::ActivationGradFromOutput(a))
                    .infer(&[&ty, &ty])
                    .is_err(),
                "{a:?}"
            );
            continue;
        }
        let x = random_x(45 + i as u64, 2000);
        let y = ops::forward(&Op::Activation(a), &[&tensor(&[2000], &x)]).data;
        let dy = Lcg::new(145 + i as u64).vec(x.len());
        let want = grad_ref(TrainOp::ActivationGrad(a), &x, &dy);
        assert_eq!(
            want,
            grad_ref(TrainOp::ActivationGradFromOutput(a), &y, &dy),
            "{a:?}"
        );
        let k = kernel::activation_grad_from_output(x.len() as u64, a, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&y, &dy], x.len());
        assert_close(&format!("{a:?} grad from output"), &got, &want);
    }
}

/// Every derivative pointwise over a dense grid of [-10, 10]: within 2e-6 of each reference value
/// relative to itself, plus 2e-7 absolute (the reference's tanh' is 1 - t^2 of an f32 tanh, whose
/// rounding alone is ~1.2e-7 absolute; gelu' crosses zero near x = -0.75).
#[test]
fn every_activation_gradient_is_accurate_pointwise() {
    let x = grid();
    let ones = vec![1.0f32; x.len()];
    for a in Activation::all() {
        let want: Vec<f64> = grad_ref(TrainOp::ActivationGrad(a), &x, &ones)
            .into_iter()
            .map(f64::from)
            .collect();
        let k = kernel::activation_grad(x.len() as u64, a, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&x, &ones], x.len());
        assert_pointwise(&format!("{a:?}'"), &x, &got, &want, |_, r| {
            2e-6 * r.abs() + 2e-7
        });
    }
}

// ---- gradients in training graphs ----

/// Each activation standalone, after batch norm and after add (the forms the fusion pass folds),
/// against finite differences of the loss.
#[test]
fn every_activation_gradient_matches_finite_differences() {
    for a in Activation::all() {
        let act = a.name();
        grad_check(&format!(
            "model M() {{ input x: [2, 4, 4]\n a = x |> conv(2, k = 1) |> {act}\n b = x |> conv(2, k = 3, pad = 1) |> bn |> {act}\n return (a + b) |> {act} |> global_avg_pool |> flatten |> linear(3) }}"
        ));
    }
}

// ---- ONNX ----

/// Each activation, standalone and after batch norm, exported and run by onnxruntime.
#[test]
fn every_activation_exports_to_onnx() {
    for a in Activation::all() {
        let act = a.name();
        let dir = crate::onnx_export::scratch(&format!("act-{act}"));
        let model = dir.join("act.net");
        std::fs::write(
            &model,
            format!(
                "model M() {{\n  input x: [3, 6, 6]\n  y = x |> conv(4, k = 3, pad = 1) |> bn |> {act}\n  return y |> {act} |> flatten |> linear(3)\n}}\n"
            ),
        )
        .unwrap();
        crate::onnx_export::check_fixed_batch(&model, act);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
