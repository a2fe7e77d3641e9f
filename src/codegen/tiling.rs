//! Per-kernel tiling choices: which [`ConvTiling`] each conv-family kernel of a plan uses.
//!
//! Lowering asks [`super::plan::Options::tiling_for`] once per conv forward, input gradient,
//! weight gradient and linear kernel, with a [`TileRequest`]. A tuner
//! (`runtime::tune`) answers with tilings it measured on the device; without one every kernel
//! gets the fixed default. The key of a request names the kernel and its shape only, never
//! options that do not change the inner loop (bias, fused activation, output slice).

use super::kernels::{Activation, Conv2dParams, ConvTiling};

/// The conv-family kernels a tiling applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConvKind {
    /// conv2d forward (and linear, as a 1x1 conv on a 1x1 map).
    Forward,
    /// Gradient with respect to the input (`conv2d_grad_input.wgsl`).
    GradInput,
    /// Gradient with respect to the weight, first pass (`conv2d_grad_weight_partial.wgsl`).
    GradWeight,
}

impl ConvKind {
    /// Short name used in cache keys and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Forward => "fwd",
            Self::GradInput => "dx",
            Self::GradWeight => "dw",
        }
    }
}

/// One tiling decision: a kernel kind at a conv shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileRequest {
    /// Which kernel.
    pub kind: ConvKind,
    /// The forward conv's shape, with the options that do not affect tiling reset.
    pub params: Conv2dParams,
}

impl TileRequest {
    /// A request for `kind` at the shape of `params` (bias, activation and output slice are
    /// dropped: they do not change which tiling is fastest).
    pub fn new(kind: ConvKind, params: &Conv2dParams) -> Self {
        Self {
            kind,
            params: Conv2dParams {
                bias: false,
                activation: Activation::Identity,
                out_channel_offset: 0,
                out_total_channels: params.out_channels,
                ..*params
            },
        }
    }

    /// A stable text key: kind, window, stride, padding, groups, `NxCxHxW` and output channels.
    pub fn key(&self) -> String {
        let p = &self.params;
        format!(
            "{}:k{}x{}s{}x{}p{}x{}g{}:{}x{}x{}x{}->{}",
            self.kind.name(),
            p.kernel_h,
            p.kernel_w,
            p.stride_h,
            p.stride_w,
            p.pad_h,
            p.pad_w,
            p.groups,
            p.batch,
            p.in_channels,
            p.in_h,
            p.in_w,
            p.out_channels
        )
    }
}

/// The fixed tiling every kernel gets without tuning.
pub fn default_tiling(_request: &TileRequest) -> ConvTiling {
    ConvTiling::default()
}

/// The tilings a tuner tries for `request` (the default first); `software` is true on CPU
/// drivers such as lavapipe, which favour large register tiles.
pub fn candidates(request: &TileRequest, software: bool) -> Vec<ConvTiling> {
    let _ = software;
    vec![default_tiling(request)]
}
