//! Shared helpers for the GPU kernel tests: one runtime shared by all tests, a deterministic RNG,
//! the tolerance check every GPU-vs-reference comparison uses, and thin wrappers that build IR
//! ops and run them through netc's CPU reference (`netc::reference::ops::forward`), the single
//! oracle every kernel is checked against.
//!
//! Tolerance scheme: `max_i |gpu_i - ref_i| / max(max_i |ref_i|, 1e-6) <= 1e-5`, i.e. the largest
//! absolute error normalised by the largest reference magnitude. An elementwise relative check is
//! meaningless for sums that cancel to ~0 (the GPU accumulates in f32, the reference in f64), while
//! normalising by the tensor's scale still catches every indexing bug, which produces errors of
//! the order of the values themselves.

use std::sync::OnceLock;

use netc::codegen::kernels::{Conv2dParams, ConvTiling, Reduction, WindowHw};
use netc::ir::{Op, TrainOp, Window};
use netc::ops::activation::{self, Activation};
use netc::ops::pool::Pool2dParams;
use netc::reference::ops;
use netc::runtime::{Dispatch, GpuBuffer, Runtime};
use netc::tensor::Tensor;

/// Relative tolerance of [`assert_close`].
pub const TOL: f64 = 1e-5;

/// The shared runtime. Panics — failing the test rather than skipping it — when the machine has
/// no adapter, with the instructions from [`netc::runtime::GpuError::NoAdapter`].
pub fn rt() -> &'static Runtime {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    match RT.get_or_init(|| Runtime::open().map_err(|e| e.to_string())) {
        Ok(rt) => rt,
        Err(e) => panic!("GPU tests need a wgpu adapter and none could be opened.\n{e}"),
    }
}

/// `tilings`, then those that select a row kernel again with the device's fixed subgroup size
/// where it has one (`GpuContext::subgroup_size`, 8 on lavapipe), so that the row kernels'
/// weight loads shared across a subgroup are checked wherever the lowering would use them.
pub fn with_device_subgroup(tilings: &[ConvTiling]) -> Vec<ConvTiling> {
    let mut all = tilings.to_vec();
    if let Some(s) = rt().context().subgroup_size() {
        all.extend(
            tilings
                .iter()
                .filter(|t| t.wg_n == 1 && t.tm % 4 == 0)
                .map(|t| t.with_subgroup(Some(s))),
        );
    }
    all
}

/// Uploads `data`, panicking with the runtime error on failure.
pub fn upload(data: &[f32]) -> GpuBuffer {
    rt().upload(data).expect("upload")
}

/// A buffer of `len` NaNs, so an element no kernel writes fails the comparison.
pub fn nan_buffer(len: usize) -> GpuBuffer {
    upload(&vec![f32::NAN; len])
}

/// Runs a reduction's two passes in one submission, into NaN-filled scratch and output, and
/// reads the output back.
pub fn run_reduction(r: &Reduction, inputs: &[&GpuBuffer], out_len: usize) -> Vec<f32> {
    let scratch = nan_buffer(r.scratch_len as usize);
    let out = nan_buffer(out_len);
    let mut partial_bufs = inputs.to_vec();
    partial_bufs.push(&scratch);
    assert_eq!(
        partial_bufs.len(),
        r.partial.bindings.len(),
        "{}",
        r.partial.name
    );
    let got = rt()
        .run_and_read(
            &[
                Dispatch::new(&r.partial, &partial_bufs),
                Dispatch::new(&r.finish, &[&scratch, &out]),
            ],
            &[&out],
        )
        .expect("run");
    got.into_iter().next().expect("one buffer")
}

/// A tiny deterministic generator (64-bit LCG, Knuth's constants), so test data is the same on
/// every machine.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1), from the top 24 bits (exact in f32).
    pub fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// `len` values uniform in [-1, 1).
    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.range(-1.0, 1.0)).collect()
    }

    /// `len` values uniform in [lo, hi).
    pub fn vec_in(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.range(lo, hi)).collect()
    }
}

/// Normalised max error of `gpu` against `reference` (see the module doc).
pub fn normalised_error(gpu: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(gpu.len(), reference.len(), "length mismatch");
    let scale = reference
        .iter()
        .fold(0.0f64, |m, &r| m.max(f64::from(r).abs()))
        .max(1e-6);
    let err = gpu.iter().zip(reference).fold(0.0f64, |m, (&g, &r)| {
        if g.is_finite() {
            m.max((f64::from(g) - f64::from(r)).abs())
        } else {
            f64::INFINITY
        }
    });
    err / scale
}

/// Asserts `gpu` matches `reference` within [`TOL`]; on failure reports the worst element.
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f32]) {
    let err = normalised_error(gpu, reference);
    if err > TOL {
        let (i, g, r) = gpu
            .iter()
            .zip(reference)
            .enumerate()
            .map(|(i, (&g, &r))| (i, g, r))
            .max_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()))
            .expect("non-empty");
        panic!(
            "{what}: normalised error {err:.3e} > {TOL:e}; worst at index {i}: gpu {g} vs reference {r}"
        );
    }
}

// ---- The reference side: kernel parameters → IR ops → `netc::reference::ops::forward`. ----

/// A host tensor (panics if `data` does not fill `dims`).
pub fn tensor(dims: &[u32], data: &[f32]) -> Tensor {
    Tensor::new(dims.iter().map(|&d| d as usize).collect(), data.to_vec())
}

/// Runs one IR op through the CPU reference and returns its data.
pub fn forward(op: Op, xs: &[&Tensor]) -> Vec<f32> {
    ops::forward(&op, xs).data
}

/// A fresh device buffer of `len` f32 values.
pub fn buffer(len: usize) -> GpuBuffer {
    rt().create_buffer(len).expect("buffer")
}

/// `data` as an `[n, c, h, w]` tensor.
pub fn nchw(n: u32, c: u32, h: u32, w: u32, data: &[f32]) -> Tensor {
    tensor(&[n, c, h, w], data)
}

/// Runs one training op through the CPU reference (`netc::reference::train_ops::forward`) and
/// returns its data.
pub fn train_reference(op: TrainOp, xs: &[&Tensor]) -> Vec<f32> {
    netc::reference::train_ops::forward(&op, xs).data
}

/// Every fused epilogue a kernel can take: none, then each activation of the table.
pub fn epilogues() -> Vec<Option<Activation>> {
    std::iter::once(None)
        .chain(Activation::all().map(Some))
        .collect()
}

/// A fused activation, composed on the reference side: `act` applied to every element.
pub fn activate_all(mut v: Vec<f32>, act: Option<Activation>) -> Vec<f32> {
    if let Some(a) = act {
        for x in &mut v {
            *x = activation::reference::activate(a, *x);
        }
    }
    v
}

/// Non-square windows (the conv, conv-gradient and pool tests share them): a tall kernel with padding only along it, a wide one, and strides and
/// paddings that differ between the axes.
pub const NON_SQUARE_WINDOWS: [WindowHw; 4] = [
    WindowHw {
        kernel: (3, 1),
        stride: (1, 1),
        pad: (1, 0),
    },
    WindowHw {
        kernel: (1, 3),
        stride: (1, 2),
        pad: (0, 1),
    },
    WindowHw {
        kernel: (3, 2),
        stride: (2, 1),
        pad: (1, 0),
    },
    WindowHw {
        kernel: (2, 3),
        stride: (2, 2),
        pad: (0, 1),
    },
];

/// A square-or-not window from per-axis values.
pub fn window(kernel: [u32; 2], stride: [u32; 2], padding: [u32; 2]) -> Window {
    Window {
        kernel: kernel.map(|v| v as usize),
        stride: stride.map(|v| v as usize),
        padding: padding.map(|v| v as usize),
    }
}

/// The IR op of a conv kernel's parameters (the fused activation and output slice are not part
/// of it: compose with [`activate_all`] and scatter by hand).
pub fn conv_op(p: &Conv2dParams) -> Op {
    Op::Conv2d {
        out_channels: p.out_channels as usize,
        window: window(
            [p.kernel_h, p.kernel_w],
            [p.stride_h, p.stride_w],
            [p.pad_h, p.pad_w],
        ),
        groups: p.groups as usize,
        bias: p.bias,
    }
}

/// Reference conv2d (plus the fused activation) as a dense `[N, Cout, HO, WO]` tensor; `bias` is
/// used only when `p.bias`.
pub fn conv_reference(p: &Conv2dParams, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let xt = tensor(&[p.batch, p.in_channels, p.in_h, p.in_w], x);
    let wt = tensor(
        &[
            p.out_channels,
            p.in_channels / p.groups,
            p.kernel_h,
            p.kernel_w,
        ],
        w,
    );
    let bt = tensor(&[p.out_channels], bias);
    let mut xs = vec![&xt, &wt];
    if p.bias {
        xs.push(&bt);
    }
    let y = ops::forward(&conv_op(p), &xs);
    assert_eq!(
        y.dims,
        [p.batch, p.out_channels, p.out_h(), p.out_w()].map(|d| d as usize),
        "kernel and reference disagree on the output shape"
    );
    activate_all(y.data, p.activation)
}

/// Reference linear layer `x Wᵀ + b` (plus the fused activation), `x: [batch, fin]`.
pub fn linear_reference(
    x: &[f32],
    batch: u32,
    fin: u32,
    w: &[f32],
    bias: Option<&[f32]>,
    act: Option<Activation>,
) -> Vec<f32> {
    let fout = (w.len() / fin as usize) as u32;
    let xt = tensor(&[batch, fin], x);
    let wt = tensor(&[fout, fin], w);
    let bt = bias.map(|b| tensor(&[fout], b));
    let mut xs = vec![&xt, &wt];
    xs.extend(bt.as_ref());
    let op = Op::Linear {
        out_features: fout as usize,
        bias: bias.is_some(),
    };
    activate_all(forward(op, &xs), act)
}

/// Reference eval-mode batch norm (plus the fused activation) over `[n, c, h, w]`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_reference(
    x: &[f32],
    [n, c, h, w]: [u32; 4],
    mean: &[f32],
    var: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    act: Option<Activation>,
) -> Vec<f32> {
    let xt = tensor(&[n, c, h, w], x);
    let per_channel = |v: &[f32]| tensor(&[c], v);
    let (g, b, m, v) = (
        per_channel(gamma),
        per_channel(beta),
        per_channel(mean),
        per_channel(var),
    );
    // IR operand order: x, gamma, beta, running_mean, running_var.
    let op = Op::BatchNorm {
        eps,
        momentum: 0.1,
        act: None,
    };
    activate_all(forward(op, &[&xt, &g, &b, &m, &v]), act)
}

/// The IR window of a pooling kernel's parameters.
pub fn pool_window(p: &Pool2dParams) -> Window {
    window(
        [p.kernel_h, p.kernel_w],
        [p.stride_h, p.stride_w],
        [p.pad_h, p.pad_w],
    )
}

/// Reference max pool (`max`) or average pool (count_include_pad=True).
pub fn pool_reference(p: &Pool2dParams, x: &[f32], max: bool) -> Vec<f32> {
    let xt = tensor(&[p.batch, p.channels, p.in_h, p.in_w], x);
    let op = if max {
        Op::MaxPool2d(pool_window(p))
    } else {
        Op::AvgPool2d(pool_window(p))
    };
    forward(op, &[&xt])
}

/// Reference global average pool over `[n, c, h, w]`.
pub fn global_avg_pool_reference(x: &[f32], [n, c, h, w]: [u32; 4]) -> Vec<f32> {
    forward(Op::GlobalAvgPool, &[&tensor(&[n, c, h, w], x)])
}

/// Reference softmax over rows of `len`.
pub fn softmax_reference(x: &[f32], len: usize) -> Vec<f32> {
    let rows = (x.len() / len) as u32;
    forward(Op::Softmax, &[&tensor(&[rows, len as u32], x)])
}

/// Reference `act(a + b)`.
pub fn add_reference(a: &[f32], b: &[f32], act: Option<Activation>) -> Vec<f32> {
    let n = a.len() as u32;
    let sum = forward(Op::Add { act: None }, &[&tensor(&[n], a), &tensor(&[n], b)]);
    activate_all(sum, act)
}
