//! The optimizer family (`src/ops/optim/`): SGD (plain, momentum, Nesterov, weight decay),
//! Adam and AdamW kernels for several steps on the GPU, carrying their own state, against the
//! CPU reference; and ([`fused`]) the fused in-place updates against the unfused lowering and
//! the reference over whole training steps.

mod fused;

use crate::gpu_common::{Lcg, assert_close, rt, tensor, upload};
use netc::ir::train_ops::TrainOp;
use netc::ops::optim::kernel as optim;
use netc::reference::train_ops;
use netc::runtime::Dispatch;

/// SGD with momentum (plain and Nesterov, with weight decay) for four steps, the GPU carrying
/// its own state; every step's buffer and parameters against the reference's.
#[test]
fn sgd_steps() {
    let len = 1000usize;
    let (momentum, weight_decay, lr) = (0.9f32, 5e-4f32, 0.05f32);
    for nesterov in [false, true] {
        let mut rng = Lcg::new(120 + u64::from(nesterov));
        let mut p = rng.vec(len);
        let mut buf = vec![0f32; len];
        let (mut gp, mut gbuf) = (upload(&p), upload(&buf));
        let lr_b = upload(&[lr]);
        let kb = optim::sgd_buffer(len as u64, momentum, weight_decay).expect("kernel");
        let ks = optim::sgd_step(len as u64, momentum, weight_decay, nesterov).expect("kernel");
        for step in 0..4 {
            let g = rng.vec(len);
            let t = |v: &[f32]| tensor(&[len as u32], v);
            buf = train_ops::forward(
                &TrainOp::SgdBuffer {
                    momentum,
                    weight_decay,
                },
                &[&t(&p), &t(&g), &t(&buf)],
            )
            .data;
            p = train_ops::forward(
                &TrainOp::SgdStep {
                    momentum,
                    weight_decay,
                    nesterov,
                },
                &[&t(&p), &t(&g), &t(&buf), &tensor(&[], &[lr])],
            )
            .data;
            let gb = upload(&g);
            let (new_buf, new_p) = (
                rt().create_buffer(len).expect("buffer"),
                rt().create_buffer(len).expect("buffer"),
            );
            let got = rt()
                .run_and_read(
                    &[
                        Dispatch::new(&kb, &[&gp, &gb, &gbuf, &new_buf]),
                        Dispatch::new(&ks, &[&gp, &gb, &new_buf, &lr_b, &new_p]),
                    ],
                    &[&new_buf, &new_p],
                )
                .expect("run");
            assert_close(
                &format!("sgd buf nesterov={nesterov} step {step}"),
                &got[0],
                &buf,
            );
            assert_close(
                &format!("sgd param nesterov={nesterov} step {step}"),
                &got[1],
                &p,
            );
            (gp, gbuf) = (new_p, new_buf);
        }
    }
}

/// Adam (coupled L2) and AdamW (decoupled decay) for four steps from t = 1, the GPU carrying
/// its own state. Besides the parameters, each step's update (new minus old parameters) is
/// compared, which exposes an inaccurate bias correction (1 - 0.999^t) that the parameters
/// alone would hide.
#[test]
fn adam_steps() {
    let len = 1000usize;
    let (beta1, beta2, eps, lr) = (0.9f32, 0.999f32, 1e-8f32, 0.05f32);
    for (l2, wd) in [(0.01f32, 0.0f32), (0.0, 0.01)] {
        let mut rng = Lcg::new(130 + u64::from(wd > 0.0));
        let mut p = rng.vec(len);
        let (mut m, mut v) = (vec![0f32; len], vec![0f32; len]);
        let (mut gp, mut gm, mut gv) = (upload(&p), upload(&m), upload(&v));
        let lr_b = upload(&[lr]);
        let km = optim::adam_moment(len as u64, beta1, false, l2).expect("kernel");
        let kv = optim::adam_moment(len as u64, beta2, true, l2).expect("kernel");
        let ks = optim::adam_step(len as u64, beta1, beta2, eps, wd).expect("kernel");
        for t in 1..=4 {
            let g = rng.vec(len);
            let ten = |x: &[f32]| tensor(&[len as u32], x);
            m = train_ops::forward(
                &TrainOp::AdamMoment {
                    beta: beta1,
                    square: false,
                    l2,
                },
                &[&ten(&m), &ten(&g), &ten(&p)],
            )
            .data;
            v = train_ops::forward(
                &TrainOp::AdamMoment {
                    beta: beta2,
                    square: true,
                    l2,
                },
                &[&ten(&v), &ten(&g), &ten(&p)],
            )
            .data;
            let new_p = train_ops::forward(
                &TrainOp::AdamStep {
                    beta1,
                    beta2,
                    eps,
                    decoupled_wd: wd,
                },
                &[
                    &ten(&p),
                    &ten(&m),
                    &ten(&v),
                    &tensor(&[], &[lr]),
                    &tensor(&[], &[t as f32]),
                ],
            )
            .data;
            let (gb, step_b) = (upload(&g), upload(&[t as f32]));
            let (nm, nv, np) = (
                rt().create_buffer(len).expect("buffer"),
                rt().create_buffer(len).expect("buffer"),
                rt().create_buffer(len).expect("buffer"),
            );
            let got = rt()
                .run_and_read(
                    &[
                        Dispatch::new(&km, &[&gm, &gb, &gp, &nm]),
                        Dispatch::new(&kv, &[&gv, &gb, &gp, &nv]),
                        Dispatch::new(&ks, &[&gp, &nm, &nv, &lr_b, &step_b, &np]),
                    ],
                    &[&gp, &nm, &nv, &np],
                )
                .expect("run");
            let what = format!("adam l2={l2} wd={wd} t={t}");
            assert_close(&format!("{what} m"), &got[1], &m);
            assert_close(&format!("{what} v"), &got[2], &v);
            assert_close(&format!("{what} param"), &got[3], &new_p);
            let delta = |a: &[f32], b: &[f32]| -> Vec<f32> {
                a.iter().zip(b).map(|(x, y)| x - y).collect()
            };
            assert_close(
                &format!("{what} update"),
                &delta(&got[3], &got[0]),
                &delta(&new_p, &p),
            );
            p = new_p;
            (gp, gm, gv) = (np, nm, nv);
        }
    }
}
