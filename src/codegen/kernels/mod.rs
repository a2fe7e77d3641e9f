//! WGSL kernel generation: operator parameters in, [`KernelSource`] out.
//!
//! Each op family lives in its own file and renders one template from `shaders/`:
//!
//! | file | ops | template |
//! |---|---|---|
//! | `crate::ops::conv::kernel` | conv2d (implicit GEMM, register tiled; staged through workgroup memory for GPUs) | `src/ops/conv/*.wgsl` |
//! | `crate::ops::linear::kernel` | linear (`y = x Wᵀ + b`), lowered to a 1x1 conv on a 1x1 map | `src/ops/conv/conv2d.wgsl` |
//! | `crate::ops::norm::kernel` | batch norm, eval mode, optional fused activation | `src/ops/norm/batch_norm.wgsl` |
//! | `crate::ops::activation::kernel` | every activation, standalone and as the library fused kernels splice in | `src/ops/activation/*.wgsl` |
//! | `crate::ops::elementwise::kernel` | add (optional fused activation), channel concat copy | `src/ops/elementwise/*.wgsl` |
//! | [`elementwise`] | how many elements a pointwise kernel reads as one vector (shared) | — |
//! | `crate::ops::pool::kernel` | max/avg pool 2d, global average pool | `src/ops/pool/*.wgsl` |
//! | `crate::ops::loss::kernel` | softmax over the last dimension | `src/ops/loss/softmax.wgsl` |
//! | `crate::ops::linear::gemm` | the reference GEMM conv throughput is measured against (not used by plans) | `src/ops/linear/gemm_reference.wgsl` |
//!
//! Every shape is a compile-time constant of the generated shader, so one layer = one shader;
//! the runtime caches pipelines by source text, so identical layers share a pipeline. Output
//! sizes come from the IR's shape rule ([`Window::out_dim`]); kernels know no rule of their own.
//!
//! Invariants every generator upholds (the tests check them):
//! * the output is valid WGSL according to naga ([`validate_wgsl`]);
//! * bindings are storage buffers in group 0, numbered in the order of [`KernelSource::bindings`],
//!   inputs first and the output last;
//! * `workgroups` covers the output, and no dimension exceeds [`MAX_WORKGROUPS_PER_DIM`];
//! * no invocation loops more than [`MAX_LOOP_ITERATIONS`] times in total (lavapipe's silent
//!   65,535-iteration cap), or the generator returns [`KernelError::LoopTooLong`].

pub mod elementwise;
pub(crate) mod template;
pub mod train;

/// The conv family's layer parameters and tiling, which the tiling choices, the tuner and
/// linear (a 1x1 conv) share.
pub use crate::ops::conv::{Conv2dParams, ConvTiling};

use crate::ir::Window;
/// Workgroup size of the elementwise kernels: large enough that lavapipe's 8-wide SIMD and a
/// GPU's 32-wide warps are both full.
pub(crate) const ELEMENTWISE_WG: u32 = 256;

/// Largest workgroup used by the reduction kernels (global average pool, softmax).
pub(crate) const REDUCTION_MAX_WG: u32 = 256;

/// Workgroup size for a workgroup-per-row reduction over `len` values: the smallest power of two
/// covering the row, capped at [`REDUCTION_MAX_WG`] (the tree reduction needs a power of two).
pub(crate) fn reduction_wg(len: u32) -> u32 {
    len.next_power_of_two().clamp(8, REDUCTION_MAX_WG)
}

/// Entry point name used by every generated shader.
pub const ENTRY_POINT: &str = "main";

/// The WebGPU/Vulkan minimum for workgroups per dispatch dimension; generators spill larger
/// grids into the y dimension.
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Budget of loop iterations per invocation that generators must stay under. Mesa's lavapipe
/// silently stops a shader's loops after 65,535 iterations per invocation; a quarter of that
/// leaves room for loops the shader compiler does not unroll.
pub const MAX_LOOP_ITERATIONS: u64 = 16_384;

/// How a storage buffer holds its floats: the element type of a binding in memory, which may
/// differ from the f32 every kernel computes in. Activations and their gradients (batched values)
/// are `F16` in a mixed-precision plan; parameters, statistics, reductions' partial results and
/// losses are always `F32`. Kernels convert on load and store (`f32(x[i])`, `S(v)`), so the
/// arithmetic and every accumulation stay f32 whatever the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Elem {
    #[default]
    F32,
    /// IEEE binary16 (WGSL `f16`, `enable f16;`; wgpu's `Features::SHADER_F16`).
    F16,
}

impl Elem {
    /// The WGSL scalar type.
    pub fn wgsl(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F16 => "f16",
        }
    }

    /// The WGSL type of `width` consecutive elements read as one value (`vec4<f16>`).
    pub fn vector(self, width: u32) -> String {
        if width == 1 {
            self.wgsl().to_string()
        } else {
            format!("vec{width}<{}>", self.wgsl())
        }
    }

    /// 32-bit words that `elements` values occupy (buffers are sized in words).
    pub fn words(self, elements: usize) -> usize {
        match self {
            Elem::F32 => elements,
            Elem::F16 => elements.div_ceil(2),
        }
    }

    /// A suffix for kernel names (`""` for f32, `"_f16"`), so plans and profiles tell the
    /// precisions apart while f32 names stay as they were.
    pub fn suffix(self) -> &'static str {
        match self {
            Elem::F32 => "",
            Elem::F16 => "_f16",
        }
    }
}

/// How a kernel accesses one of its storage buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingKind {
    /// `var<storage, read>`: an input.
    ReadOnly,
    /// `var<storage, read_write>`: an output.
    ReadWrite,
}

/// A reduction too long for one invocation (lavapipe stops loops at 65,535 iterations),
/// split in two dispatches: `partial` writes `scratch_len` partial results into a
/// scratch buffer, `finish` reduces them into the output. Both run in one submission,
/// in that order; the order of every sum is fixed, so results are deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reduction {
    /// Bindings: the op's inputs, then the scratch buffer (written).
    pub partial: KernelSource,
    /// Bindings: the scratch buffer (read), then the op's output (written).
    pub finish: KernelSource,
    /// Length of the scratch buffer in f32 elements.
    pub scratch_len: u64,
}

/// A generated compute kernel: WGSL text plus everything needed to dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSource {
    /// Short human-readable name (`conv2d_3x3_s1`), used in labels and error messages.
    pub name: String,
    /// The complete WGSL module.
    pub wgsl: String,
    /// Entry point function name (always [`ENTRY_POINT`]).
    pub entry: &'static str,
    /// Number of workgroups to dispatch in x, y, z.
    pub workgroups: [u32; 3],
    /// The `@workgroup_size` the shader declares, for checking against device limits.
    pub workgroup_size: [u32; 3],
    /// Storage buffers in binding order (group 0, binding `i`).
    pub bindings: Vec<BindingKind>,
}

impl KernelSource {
    /// Total invocations in one workgroup.
    pub fn invocations_per_workgroup(&self) -> u32 {
        self.workgroup_size.iter().product()
    }
}

/// Why a kernel could not be generated. These are caller errors (bad shapes or parameters) or
/// template bugs, reported before any device is involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// Parameters are inconsistent (zero sizes, channels not divisible by groups, …).
    #[error("invalid parameters for {op}: {message}")]
    InvalidParams {
        /// Operator name.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// One invocation would loop more than [`MAX_LOOP_ITERATIONS`] times.
    #[error(
        "{op}: one invocation would run {iterations} loop iterations, above the budget of \
         {budget} (lavapipe silently stops loops at 65,535); split the reduction"
    )]
    LoopTooLong {
        /// Operator name.
        op: &'static str,
        /// Iterations the kernel would need.
        iterations: u64,
        /// [`MAX_LOOP_ITERATIONS`].
        budget: u64,
    },
    /// The dispatch would need more than 65,535 x 65,535 workgroups, or indices overflow u32.
    #[error("{op}: problem too large for one dispatch ({message})")]
    TooLarge {
        /// Operator name.
        op: &'static str,
        /// Details.
        message: String,
    },
    /// A template and its generator disagree (a bug in netc).
    #[error("template `{template}` line {line}: {message}")]
    Template {
        /// Template file name.
        template: String,
        /// 1-based line (0 when not tied to a line).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parses `source` with naga's WGSL front end and runs naga's validator over it.
///
/// Returns the formatted diagnostic (with source excerpt) on failure. wgpu runs the same checks
/// when it creates a shader module, but doing it here lets tests check every generated kernel
/// without a device.
pub fn validate_wgsl(source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    // Subgroup broadcasts in compute shaders are allowed: kernels for devices with a fixed
    // subgroup size use them (`Options::subgroup_size`), and wgpu checks the device has them.
    // f16 storage and arithmetic (`enable f16;`) is allowed: mixed-precision plans use it,
    // and wgpu checks the device has `SHADER_F16`.
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default()
            | naga::valid::Capabilities::SUBGROUP
            | naga::valid::Capabilities::SHADER_FLOAT16,
    )
    .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
    .subgroup_operations(naga::valid::SubgroupOperationSet::BALLOT)
    .validate(&module)
    .map(|_| ())
    .map_err(|e| e.emit_to_string(source))
}

/// The template variables of a kernel's activation storage: `STORED`, the stored type of `width`
/// consecutive elements ([`Elem::vector`]: `f32`, `vec4<f16>`, ...), and the flag `F16` that
/// emits `enable f16;`.
pub(crate) fn storage_vars(vars: template::Vars, elem: Elem, width: u32) -> template::Vars {
    vars.set("STORED", elem.vector(width))
        .flag("F16", elem == Elem::F16)
}

/// Splits `count` workgroups over x and y so neither exceeds [`MAX_WORKGROUPS_PER_DIM`].
/// Shaders recover the linear workgroup index as `wid.x + wid.y * grid[0]` and skip indices past
/// `count`.
pub(crate) fn grid_1d(op: &'static str, count: u64) -> Result<[u32; 3], KernelError> {
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    let count = count.max(1);
    if count <= max {
        return Ok([count as u32, 1, 1]);
    }
    let y = count.div_ceil(max);
    if y > max {
        return Err(KernelError::TooLarge {
            op,
            message: format!("{count} workgroups"),
        });
    }
    Ok([max as u32, y as u32, 1])
}

/// Converts a size to u32, failing with a [`KernelError::TooLarge`] when it does not fit (shaders
/// index with u32, and conv uses i32 offsets, hence the `limit`).
pub(crate) fn fit_u32(
    op: &'static str,
    what: &str,
    value: u64,
    limit: u64,
) -> Result<u32, KernelError> {
    if value > limit {
        return Err(KernelError::TooLarge {
            op,
            message: format!("{what} = {value} exceeds {limit}"),
        });
    }
    Ok(value as u32)
}

/// Fails with [`KernelError::LoopTooLong`] when `iterations` exceeds the budget.
pub(crate) fn check_loops(op: &'static str, iterations: u64) -> Result<(), KernelError> {
    if iterations > MAX_LOOP_ITERATIONS {
        return Err(KernelError::LoopTooLong {
            op,
            iterations,
            budget: MAX_LOOP_ITERATIONS,
        });
    }
    Ok(())
}

/// Fails with [`KernelError::InvalidParams`] unless `cond` holds.
pub(crate) fn ensure(
    op: &'static str,
    cond: bool,
    message: impl FnOnce() -> String,
) -> Result<(), KernelError> {
    if cond {
        Ok(())
    } else {
        Err(KernelError::InvalidParams {
            op,
            message: message(),
        })
    }
}

/// One output size of `window` over `input` by the IR's shape rule ([`Window::out_dim`], the
/// rule `Op::infer` applies; kernels know no rule of their own): 0 where the window does not
/// fit the padded input (or its kernel or stride is 0), saturated at `u32::MAX`. Generators
/// reject both through their `validate`.
pub(crate) fn window_out(window: &Window, axis: usize, input: u32) -> u32 {
    window
        .out_dim(axis, input as usize)
        .map_or(0, |out| u32::try_from(out).unwrap_or(u32::MAX))
}

/// A window's (height, width) kernel, stride and padding, as the kernel parameters take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowHw {
    pub kernel: (u32, u32),
    pub stride: (u32, u32),
    pub pad: (u32, u32),
}

impl WindowHw {
    /// `w` in u32; `None` where a size does not fit (no verified graph has such a window: its
    /// tensors would exceed `ir::size`'s bound).
    pub fn from_ir(w: &Window) -> Option<Self> {
        let pair = |v: [usize; 2]| Some((u32::try_from(v[0]).ok()?, u32::try_from(v[1]).ok()?));
        Some(Self {
            kernel: pair(w.kernel)?,
            stride: pair(w.stride)?,
            pad: pair(w.padding)?,
        })
    }
}

/// `3` for a size equal along both axes, `3x1` otherwise: square windows keep the kernel names
/// they always had, and non-square ones are told apart.
pub(crate) fn hw_name(h: u32, w: u32) -> String {
    if h == w {
        h.to_string()
    } else {
        format!("{h}x{w}")
    }
}

/// The IR window of a kernel's (height, width) kernel, stride and padding.
pub(crate) fn ir_window(kernel: (u32, u32), stride: (u32, u32), pad: (u32, u32)) -> Window {
    let u = |v: u32| v as usize;
    Window {
        kernel: [u(kernel.0), u(kernel.1)],
        stride: [u(stride.0), u(stride.1)],
        padding: [u(pad.0), u(pad.1)],
    }
}

/// Largest element count a generated shader may index (u32 indices, some offsets in i32).
pub(crate) const MAX_ELEMENTS: u64 = i32::MAX as u64;
