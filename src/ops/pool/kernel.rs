//! The pooling kernels: max_pool2d and avg_pool2d (`pool2d.wgsl`, beside this file) and global
//! average pool (`global_avg_pool.wgsl`). PyTorch semantics: ceil_mode=False, dilation 1, max
//! pool padding acts as -inf, avg pool uses count_include_pad=True (the default).

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    WindowHw, check_loops, ensure, fit_u32, grid_1d, hw_name, ir_window, reduction_wg,
    storage_vars, window_out,
};

const POOL_TEMPLATE: &str = include_str!("pool2d.wgsl");
const GAP_TEMPLATE: &str = include_str!("global_avg_pool.wgsl");

/// Shape and window of a 2D pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Batch size.
    pub batch: u32,
    /// Channels.
    pub channels: u32,
    /// Input height.
    pub in_h: u32,
    /// Input width.
    pub in_w: u32,
    /// Window height.
    pub kernel_h: u32,
    /// Window width.
    pub kernel_w: u32,
    /// Vertical stride.
    pub stride_h: u32,
    /// Horizontal stride.
    pub stride_w: u32,
    /// Padding on top and bottom.
    pub pad_h: u32,
    /// Padding on left and right.
    pub pad_w: u32,
    /// How the input and output are stored (positions stay f32).
    pub elem: Elem,
}

impl Pool2dParams {
    /// Square window `kernel`, stride `stride`, padding `pad` on every side.
    pub fn new(
        batch: u32,
        channels: u32,
        in_hw: (u32, u32),
        kernel: u32,
        stride: u32,
        pad: u32,
    ) -> Self {
        Self {
            batch,
            channels,
            in_h: in_hw.0,
            in_w: in_hw.1,
            kernel_h: kernel,
            kernel_w: kernel,
            stride_h: stride,
            stride_w: stride,
            pad_h: pad,
            pad_w: pad,
            elem: Elem::F32,
        }
    }

    /// Sets how the input and output are stored.
    pub fn with_elem(mut self, elem: Elem) -> Self {
        self.elem = elem;
        self
    }

    /// Sets the window, strides and padding, each (height, width).
    pub fn with_window(mut self, w: WindowHw) -> Self {
        (self.kernel_h, self.kernel_w) = w.kernel;
        (self.stride_h, self.stride_w) = w.stride;
        (self.pad_h, self.pad_w) = w.pad;
        self
    }

    /// The window as the IR writes it.
    pub fn window(&self) -> crate::ir::Window {
        ir_window(
            (self.kernel_h, self.kernel_w),
            (self.stride_h, self.stride_w),
            (self.pad_h, self.pad_w),
        )
    }

    /// Output height, by the IR's rule (`floor((H + 2p - k) / s) + 1`).
    pub fn out_h(&self) -> u32 {
        window_out(&self.window(), 0, self.in_h)
    }

    /// Output width.
    pub fn out_w(&self) -> u32 {
        window_out(&self.window(), 1, self.in_w)
    }

    /// `3x3_s1_p1_128x64x32x32`: window, stride, padding and input shape (and `_f16`), the
    /// tail of every pooling kernel's name.
    pub(crate) fn shape_name(&self) -> String {
        format!(
            "{}x{}_s{}_p{}_{}x{}x{}x{}{}",
            self.kernel_h,
            self.kernel_w,
            hw_name(self.stride_h, self.stride_w),
            hw_name(self.pad_h, self.pad_w),
            self.batch,
            self.channels,
            self.in_h,
            self.in_w,
            self.elem.suffix()
        )
    }

    /// Elements of the input.
    pub fn input_len(&self) -> u64 {
        u64::from(self.batch)
            * u64::from(self.channels)
            * u64::from(self.in_h)
            * u64::from(self.in_w)
    }

    /// Elements of the output.
    pub fn output_len(&self) -> u64 {
        u64::from(self.batch)
            * u64::from(self.channels)
            * u64::from(self.out_h())
            * u64::from(self.out_w())
    }

    /// Checks the parameters are ones PyTorch accepts (padding at most half the window, so every
    /// window holds at least one real element).
    pub fn validate(&self, op: &'static str) -> Result<(), KernelError> {
        let p = self;
        ensure(
            op,
            p.batch > 0 && p.channels > 0 && p.in_h > 0 && p.in_w > 0,
            || "empty tensor".into(),
        )?;
        ensure(
            op,
            p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
            || "kernel and stride must be positive".into(),
        )?;
        // u64: user-written sizes reach here unchecked and must not overflow.
        let (pad_h, pad_w) = (u64::from(p.pad_h), u64::from(p.pad_w));
        ensure(
            op,
            2 * pad_h <= u64::from(p.kernel_h) && 2 * pad_w <= u64::from(p.kernel_w),
            || {
                format!(
                    "padding {}x{} must be at most half of kernel {}x{}",
                    p.pad_h, p.pad_w, p.kernel_h, p.kernel_w
                )
            },
        )?;
        ensure(
            op,
            u64::from(p.in_h) + 2 * pad_h >= u64::from(p.kernel_h)
                && u64::from(p.in_w) + 2 * pad_w >= u64::from(p.kernel_w),
            || "window larger than padded input".into(),
        )
    }
}

/// Max pool 2d. Bindings: `x`, `y`.
pub fn max_pool2d(params: &Pool2dParams) -> Result<KernelSource, KernelError> {
    pool2d("max_pool2d", params, true, false)
}

/// Max pool 2d that also stores each window's first-maximum position, exactly as the gradient's
/// own argmax pass (`super::grad_kernel::max_pool2d_grad`) would: a training step's forward
/// pass, so that its backward pass need not scan every window again (PyTorch's
/// `max_pool2d_with_indices`). `y` is bit-identical to [`max_pool2d`]'s.
/// Bindings: `x`, `y`, `arg` (as long as `y`).
pub fn max_pool2d_with_indices(params: &Pool2dParams) -> Result<KernelSource, KernelError> {
    const OP: &str = "max_pool2d_with_indices";
    // Positions are stored as f32: exact below 2^24.
    fit_u32(
        OP,
        "elements per plane",
        u64::from(params.in_h) * u64::from(params.in_w),
        1 << 24,
    )?;
    pool2d(OP, params, true, true)
}

/// Average pool 2d (count_include_pad=True). Bindings: `x`, `y`.
pub fn avg_pool2d(params: &Pool2dParams) -> Result<KernelSource, KernelError> {
    pool2d("avg_pool2d", params, false, false)
}

fn pool2d(
    op: &'static str,
    p: &Pool2dParams,
    max: bool,
    indices: bool,
) -> Result<KernelSource, KernelError> {
    p.validate(op)?;
    fit_u32(op, "input elements", p.input_len(), MAX_ELEMENTS)?;
    let len = p.output_len();
    check_loops(op, u64::from(p.kernel_h) * u64::from(p.kernel_w))?;
    let workgroups = grid_1d(op, len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("BATCH", p.batch)
        .u32("CHANNELS", p.channels)
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
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0])
        .flag("MAX", max)
        .flag("INDICES", indices);
    let vars = storage_vars(vars, p.elem, 1);
    let mut bindings = vec![BindingKind::ReadOnly, BindingKind::ReadWrite];
    if indices {
        bindings.push(BindingKind::ReadWrite);
    }
    Ok(KernelSource {
        name: format!("{op}_{}", p.shape_name()),
        wgsl: render("ops/pool/pool2d.wgsl", POOL_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}

/// Global average pool `[batch, channels, h, w] -> [batch, channels, 1, 1]`.
/// Bindings: `x`, `y`.
pub fn global_avg_pool(
    batch: u32,
    channels: u32,
    h: u32,
    w: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "global_avg_pool";
    ensure(OP, batch > 0 && channels > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    let hw = fit_u32(OP, "plane size", u64::from(h) * u64::from(w), MAX_ELEMENTS)?;
    let planes = u64::from(batch) * u64::from(channels);
    fit_u32(OP, "input elements", planes * u64::from(hw), MAX_ELEMENTS)?;
    let wg = reduction_wg(hw);
    check_loops(OP, u64::from(hw.div_ceil(wg)))?;
    let workgroups = grid_1d(OP, planes)?;
    let vars = Vars::new()
        .u32("PLANES", planes as u32)
        .u32("HW", hw)
        .u32("WG", wg)
        .u32("GRID_X", workgroups[0]);
    let vars = storage_vars(vars, elem, 1);
    Ok(KernelSource {
        name: format!(
            "global_avg_pool_{batch}x{channels}x{h}x{w}{}",
            elem.suffix()
        ),
        wgsl: render("ops/pool/global_avg_pool.wgsl", GAP_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [wg, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
