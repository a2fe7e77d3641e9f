//! conv2d kernels: an implicit GEMM with per-invocation register tiles (`conv2d.wgsl`,
//! beside this file).
//!
//! Semantics are PyTorch's `nn.Conv2d` forward (dilation 1, zero padding), NCHW, weights
//! `[Cout, Cin/groups, KH, KW]`, optional bias `[Cout]`, plus an optional fused activation.
//! The output can be written at a channel offset into a wider tensor
//! (`out_channel_offset`/`out_total_channels`), so a concat of conv outputs (GoogleNet's inception
//! blocks, DenseNet's dense layers) needs no copy.
//!
//! GEMM mapping: M = N*HO*WO output pixels, N = Cout/groups channels per group (one dispatch
//! z-slice per group), K = Cin/groups*KH*KW. The tile an invocation computes and the workgroup
//! shape are a [`ConvTiling`], chosen per device.

use super::{rows, tiled};
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::reduce::TARGET_INVOCATIONS;
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    MAX_WORKGROUPS_PER_DIM, WindowHw, check_loops, ensure, fit_u32, hw_name, ir_window,
    storage_vars, window_out,
};
use crate::ops::activation::{self, Activation};

const TEMPLATE: &str = include_str!("conv2d.wgsl");

/// Shape and options of one conv2d layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dParams {
    /// Batch size N.
    pub batch: u32,
    /// Input channels Cin.
    pub in_channels: u32,
    /// Input height.
    pub in_h: u32,
    /// Input width.
    pub in_w: u32,
    /// Output channels Cout.
    pub out_channels: u32,
    /// Kernel height.
    pub kernel_h: u32,
    /// Kernel width.
    pub kernel_w: u32,
    /// Vertical stride.
    pub stride_h: u32,
    /// Horizontal stride.
    pub stride_w: u32,
    /// Zero padding on top and bottom.
    pub pad_h: u32,
    /// Zero padding on left and right.
    pub pad_w: u32,
    /// Groups; Cin and Cout must both be divisible by it.
    pub groups: u32,
    /// Whether a bias buffer is bound (binding 2).
    pub bias: bool,
    /// Activation applied after the bias.
    pub activation: Option<Activation>,
    /// First output channel written in the destination tensor.
    pub out_channel_offset: u32,
    /// Channel count of the destination tensor (`>= out_channel_offset + out_channels`).
    pub out_total_channels: u32,
    /// How the activations (input and output, and in the gradient kernels dy and dx) are
    /// stored; weights, biases and weight gradients are always f32.
    pub elem: Elem,
    /// Input-gradient kernels only: one more binding, `addend` (shaped like dx, bound before
    /// it), added to every element of dx before it is stored — a gradient accumulation
    /// folded into the kernel (`TrainOp::accumulator`).
    pub accumulate: bool,
}

impl Conv2dParams {
    /// A square-kernel conv with stride 1, no padding, one group, no bias, no activation, writing
    /// a tensor of exactly `out_channels` channels. Adjust with the `with_*` methods.
    pub fn new(
        batch: u32,
        in_channels: u32,
        in_hw: (u32, u32),
        out_channels: u32,
        kernel: u32,
    ) -> Self {
        Self {
            batch,
            in_channels,
            in_h: in_hw.0,
            in_w: in_hw.1,
            out_channels,
            kernel_h: kernel,
            kernel_w: kernel,
            stride_h: 1,
            stride_w: 1,
            pad_h: 0,
            pad_w: 0,
            groups: 1,
            bias: false,
            activation: None,
            out_channel_offset: 0,
            out_total_channels: out_channels,
            elem: Elem::F32,
            accumulate: false,
        }
    }

    /// Sets how the activations are stored.
    pub fn with_elem(mut self, elem: Elem) -> Self {
        self.elem = elem;
        self
    }

    /// Sets both strides.
    pub fn with_stride(mut self, stride: u32) -> Self {
        self.stride_h = stride;
        self.stride_w = stride;
        self
    }

    /// Sets padding on all sides.
    pub fn with_padding(mut self, pad: u32) -> Self {
        self.pad_h = pad;
        self.pad_w = pad;
        self
    }

    /// Sets the kernel, strides and padding, each (height, width).
    pub fn with_window(mut self, w: WindowHw) -> Self {
        (self.kernel_h, self.kernel_w) = w.kernel;
        (self.stride_h, self.stride_w) = w.stride;
        (self.pad_h, self.pad_w) = w.pad;
        self
    }

    /// Sets the group count.
    pub fn with_groups(mut self, groups: u32) -> Self {
        self.groups = groups;
        self
    }

    /// Makes an input-gradient kernel add `addend` into dx.
    pub fn with_accumulate(mut self, accumulate: bool) -> Self {
        self.accumulate = accumulate;
        self
    }

    /// Enables or disables the bias binding.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the fused activation.
    pub fn with_activation(mut self, activation: Option<Activation>) -> Self {
        self.activation = activation;
        self
    }

    /// Writes the output at channel `offset` of a tensor with `total` channels.
    pub fn with_output_slice(mut self, offset: u32, total: u32) -> Self {
        self.out_channel_offset = offset;
        self.out_total_channels = total;
        self
    }

    /// The layer's window as the IR writes it.
    pub fn window(&self) -> crate::ir::Window {
        ir_window(
            (self.kernel_h, self.kernel_w),
            (self.stride_h, self.stride_w),
            (self.pad_h, self.pad_w),
        )
    }

    /// Output height, by the IR's rule (PyTorch's `floor((H + 2p - KH) / s) + 1`).
    pub fn out_h(&self) -> u32 {
        window_out(&self.window(), 0, self.in_h)
    }

    /// Output width.
    pub fn out_w(&self) -> u32 {
        window_out(&self.window(), 1, self.in_w)
    }

    /// Elements of the input tensor.
    pub fn input_len(&self) -> u64 {
        u64::from(self.batch)
            * u64::from(self.in_channels)
            * u64::from(self.in_h)
            * u64::from(self.in_w)
    }

    /// Elements of the weight tensor.
    pub fn weight_len(&self) -> u64 {
        u64::from(self.out_channels)
            * u64::from(self.in_channels / self.groups.max(1))
            * u64::from(self.kernel_h)
            * u64::from(self.kernel_w)
    }

    /// Elements of the destination tensor (all `out_total_channels` channels).
    pub fn output_len(&self) -> u64 {
        u64::from(self.batch)
            * u64::from(self.out_total_channels)
            * u64::from(self.out_h())
            * u64::from(self.out_w())
    }

    /// Multiply-accumulates of the layer (2 FLOPs each).
    pub fn macs(&self) -> u64 {
        u64::from(self.batch)
            * u64::from(self.out_h())
            * u64::from(self.out_w())
            * self.weight_len()
    }

    /// Checks the parameters describe a conv PyTorch would accept.
    pub fn validate(&self) -> Result<(), KernelError> {
        const OP: &str = "conv2d";
        let p = self;
        ensure(
            OP,
            p.batch > 0 && p.in_channels > 0 && p.out_channels > 0,
            || format!("batch, in_channels and out_channels must be positive: {p:?}"),
        )?;
        ensure(
            OP,
            p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
            || "kernel and stride must be positive".into(),
        )?;
        ensure(
            OP,
            p.groups > 0
                && p.in_channels.is_multiple_of(p.groups)
                && p.out_channels.is_multiple_of(p.groups),
            || {
                format!(
                    "groups = {} must divide in_channels = {} and out_channels = {}",
                    p.groups, p.in_channels, p.out_channels
                )
            },
        )?;
        // u64: user-written sizes reach here unchecked and must not overflow.
        let padded_h = u64::from(p.in_h) + 2 * u64::from(p.pad_h);
        let padded_w = u64::from(p.in_w) + 2 * u64::from(p.pad_w);
        ensure(
            OP,
            padded_h >= u64::from(p.kernel_h) && padded_w >= u64::from(p.kernel_w),
            || {
                format!(
                    "kernel {}x{} larger than padded input {padded_h}x{padded_w}",
                    p.kernel_h, p.kernel_w,
                )
            },
        )?;
        // The shader offsets input rows and columns by -PAD in i32.
        ensure(
            OP,
            padded_h <= MAX_ELEMENTS && padded_w <= MAX_ELEMENTS,
            || format!("padded input {padded_h}x{padded_w} is too large"),
        )?;
        ensure(
            OP,
            u64::from(p.out_channel_offset) + u64::from(p.out_channels)
                <= u64::from(p.out_total_channels),
            || {
                format!(
                    "output channels [{}, {}) do not fit in {} channels",
                    p.out_channel_offset,
                    u64::from(p.out_channel_offset) + u64::from(p.out_channels),
                    p.out_total_channels
                )
            },
        )?;
        Ok(())
    }
}

/// How conv work is split: each invocation computes `tm` output pixels x `tn` output channels;
/// a workgroup is `wg_m` x `wg_n` invocations.
///
/// On lavapipe large register tiles win (no shared memory is used at all); on a discrete GPU
/// smaller tiles and bigger workgroups give more parallelism. `tm * tn` registers of accumulator
/// per invocation is the main cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ConvTiling {
    /// Output pixels per invocation.
    pub tm: u32,
    /// Output channels per invocation.
    pub tn: u32,
    /// Invocations along the pixel dimension of a workgroup.
    pub wg_m: u32,
    /// Invocations along the channel dimension of a workgroup.
    pub wg_n: u32,
    /// Invocations the weight gradient's first pass aims for when it splits its reduction (see
    /// `reduce::split`); the forward and input-gradient kernels ignore it.
    #[serde(default = "default_split_target")]
    pub split_target: u32,
    /// The device's subgroup size where the row kernels may share weight loads across a
    /// subgroup (`ops::conv::rows`), 0 where not. A fact about the device rather than a choice: the
    /// lowering and the tuner set it from the runtime ([`ConvTiling::with_subgroup`]), and the
    /// tuning cache never stores it.
    #[serde(skip)]
    pub subgroup: u32,
    /// Stage operand slices in workgroup memory (`ops::conv::tiled`, the GPU kernels): a workgroup
    /// then computes a `block_m` x `block_n` block of the GEMM together. Tune-cache entries
    /// written before this choice existed read as `false`.
    #[serde(default)]
    pub shared: bool,
    /// Reduction steps per slice the tiled kernels (`shared`) stage in workgroup memory: a
    /// deeper slice halves the barriers per multiply-add and needs twice the memory. The other
    /// kernels ignore it.
    #[serde(default = "default_depth")]
    pub depth: u32,
}

/// The slice depth of tune-cache entries written before it was a tiling choice.
fn default_depth() -> u32 {
    8
}

/// The split target of tune-cache entries written before it was a tiling choice.
fn default_split_target() -> u32 {
    TARGET_INVOCATIONS
}

impl Default for ConvTiling {
    /// 4x4 outputs per invocation, 8x8 workgroups: a middle ground that is fast on lavapipe and
    /// keeps 64 invocations per workgroup for GPUs.
    fn default() -> Self {
        Self {
            tm: 4,
            tn: 4,
            wg_m: 8,
            wg_n: 8,
            split_target: TARGET_INVOCATIONS,
            subgroup: 0,
            shared: false,
            depth: 8,
        }
    }
}

impl ConvTiling {
    /// This tiling on a device whose subgroups have the fixed size `subgroup` (`None`: the
    /// device has no subgroup operations netc uses, or their size varies).
    pub fn with_subgroup(self, subgroup: Option<u32>) -> Self {
        Self {
            subgroup: subgroup.unwrap_or(0),
            ..self
        }
    }

    /// Output pixels covered by one workgroup.
    pub fn block_m(&self) -> u32 {
        self.tm * self.wg_m
    }

    /// Output channels covered by one workgroup.
    pub fn block_n(&self) -> u32 {
        self.tn * self.wg_n
    }

    fn validate(&self) -> Result<(), KernelError> {
        ensure(
            "conv2d",
            self.tm > 0 && self.tn > 0 && self.tm * self.tn <= 256,
            || {
                format!(
                    "register tile {}x{} must be non-empty and at most 256 values",
                    self.tm, self.tn
                )
            },
        )?;
        ensure(
            "conv2d",
            self.wg_m > 0 && self.wg_n > 0 && self.wg_m * self.wg_n <= 1024,
            || {
                format!(
                    "workgroup {}x{} must be non-empty and at most 1024 invocations",
                    self.wg_m, self.wg_n
                )
            },
        )
    }
}

/// Generates a conv2d kernel.
///
/// Bindings: `x` (read), `w` (read), `bias` (read, only if `params.bias`), `y` (read-write; only
/// the channel slice `[out_channel_offset, out_channel_offset + out_channels)` is written).
pub fn conv2d(params: &Conv2dParams, tiling: &ConvTiling) -> Result<KernelSource, KernelError> {
    conv2d_named("conv2d", params, tiling)
}

/// [`conv2d`] with a caller-chosen op name (used by `crate::ops::linear::kernel`).
pub(crate) fn conv2d_named(
    op: &'static str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<KernelSource, KernelError> {
    p.validate()?;
    tiling.validate()?;
    ensure(op, !p.accumulate, || {
        "only input-gradient kernels accumulate into their output".into()
    })?;
    // i32 offsets are used for the input (padding makes them negative), so stay below 2^31.
    fit_u32(op, "input elements", p.input_len(), MAX_ELEMENTS)?;
    fit_u32(op, "weight elements", p.weight_len(), MAX_ELEMENTS)?;
    fit_u32(op, "output elements", p.output_len(), MAX_ELEMENTS)?;
    let name = if op == "conv2d" {
        format!(
            "conv2d_{}x{}_s{}_p{}_g{}_{}x{}x{}x{}_to{}",
            p.kernel_h,
            p.kernel_w,
            hw_name(p.stride_h, p.stride_w),
            hw_name(p.pad_h, p.pad_w),
            p.groups,
            p.batch,
            p.in_channels,
            p.in_h,
            p.in_w,
            p.out_channels
        )
    } else {
        format!("{op}_{}x{}_to{}", p.batch, p.in_channels, p.out_channels)
    } + p.elem.suffix();
    if tiling.shared {
        return tiled::conv2d_tiled(op, name, p, tiling);
    }
    if rows::applies(p, tiling, rows::RowKernel::Forward) {
        return rows::conv2d_rows(op, name, p, tiling);
    }
    let cin_g = p.in_channels / p.groups;
    let cout_g = p.out_channels / p.groups;
    // The only runtime loop is over ci (the window and the tile are unrolled in the template).
    check_loops(op, u64::from(cin_g))?;
    let (ho, wo) = (p.out_h(), p.out_w());
    let m = u64::from(p.batch) * u64::from(ho) * u64::from(wo);
    let grid_x = m.div_ceil(u64::from(tiling.block_m()));
    let grid_y = u64::from(cout_g).div_ceil(u64::from(tiling.block_n()));
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    ensure(
        op,
        grid_x <= max && grid_y <= max && p.groups <= MAX_WORKGROUPS_PER_DIM,
        || {
            format!(
                "dispatch {grid_x}x{grid_y}x{} exceeds {max} per dimension; use a larger tile",
                p.groups
            )
        },
    )?;

    let vars = shape_vars(Vars::new(), p)
        .u32("OUT_TOTAL_CHANNELS", p.out_total_channels)
        .u32("OUT_CHANNEL_OFFSET", p.out_channel_offset)
        .bool("CHECK_BOUNDS", p.pad_h > 0 || p.pad_w > 0)
        .u32("TM", tiling.tm)
        .u32("TN", tiling.tn)
        .count("TM", tiling.tm)
        .count("TN", tiling.tn)
        .count("KH", p.kernel_h)
        .count("KW", p.kernel_w)
        .u32("WG_M", tiling.wg_m)
        .u32("WG_N", tiling.wg_n);
    let (vars, bindings) = epilogue(vars, p.bias, p.activation, false)?;
    Ok(KernelSource {
        name,
        wgsl: render("ops/conv/conv2d.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: [grid_x as u32, grid_y as u32, p.groups],
        workgroup_size: [tiling.wg_m, tiling.wg_n, 1],
        bindings,
    })
}

/// The shape constants the register-tiled and the workgroup-staged conv templates both
/// declare, added to `vars`: how activations are stored (`S`), x `[BATCH, CIN, H, W]`, the output plane `HO` x `WO`, the window,
/// stride and padding, and the channels per group `CIN_G`, `COUT_G`.
pub(super) fn shape_vars(vars: Vars, p: &Conv2dParams) -> Vars {
    let vars = storage_vars(vars, p.elem, 1);
    vars.u32("BATCH", p.batch)
        .u32("CIN", p.in_channels)
        .u32("H", p.in_h)
        .u32("W", p.in_w)
        .u32("HO", p.out_h())
        .u32("WO", p.out_w())
        .u32("KH", p.kernel_h)
        .u32("KW", p.kernel_w)
        .u32("STRIDE_H", p.stride_h)
        .u32("STRIDE_W", p.stride_w)
        .i32("PAD_H", p.pad_h as i32)
        .i32("PAD_W", p.pad_w as i32)
        .u32("CIN_G", p.in_channels / p.groups)
        .u32("COUT_G", p.out_channels / p.groups)
}

/// What every conv template with an optional bias and a fused activation declares beyond its
/// shape (`HAS_BIAS`, `Y_BINDING`, `ACTIVATION_LIB`), added to `vars`, and its bindings
/// ([`conv_bindings`]); `addend` for an input gradient that accumulates (its template sets
/// its own `ACCUMULATE` flag).
pub(super) fn epilogue(
    vars: Vars,
    bias: bool,
    activation: Option<Activation>,
    addend: bool,
) -> Result<(Vars, Vec<BindingKind>), KernelError> {
    let vars = vars
        .flag("HAS_BIAS", bias)
        .set("Y_BINDING", 2 + u32::from(bias) + u32::from(addend))
        .set("ACTIVATION_LIB", activation::wgsl_library(activation, 1)?);
    Ok((vars, conv_bindings(bias, addend)))
}

/// The bindings of a conv kernel: its operand (`x`, or an input gradient's `dy`), `w`, `bias`
/// where there is one, `addend` where an input gradient accumulates, then the output.
pub(super) fn conv_bindings(bias: bool, addend: bool) -> Vec<BindingKind> {
    let mut bindings = vec![BindingKind::ReadOnly, BindingKind::ReadOnly];
    bindings.extend(std::iter::repeat_n(
        BindingKind::ReadOnly,
        usize::from(bias) + usize::from(addend),
    ));
    bindings.push(BindingKind::ReadWrite);
    bindings
}
