//! Errors raised by the device and runtime layers.
//!
//! Kernel *generation* has its own error type ([`crate::codegen::kernels::KernelError`])
//! because it runs without a device; [`GpuError`] wraps it so callers of the runtime see a
//! single type.

use crate::codegen::kernels::KernelError;

/// Everything that can go wrong while opening a device or running kernels on it.
///
/// The runtime never panics on a wgpu failure: validation errors are captured with error scopes
/// and returned here, so a bad kernel is reported as a value the compiler can print.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// wgpu found no adapter at all.
    #[error(
        "no GPU adapter found: wgpu could not find a Vulkan, Metal or DX12 adapter ({detail}). \
         On Linux without a GPU, install Mesa's CPU Vulkan driver (lavapipe): \
         `apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1`; \
         `WGPU_BACKEND=vulkan|gl|metal|dx12` selects a backend explicitly"
    )]
    NoAdapter {
        /// The underlying wgpu error text.
        detail: String,
    },

    /// The adapter exists but refused to create a device.
    #[error("the adapter `{adapter}` refused to create a device: {detail}")]
    RequestDevice {
        /// Adapter name, for the message.
        adapter: String,
        /// The underlying wgpu error text.
        detail: String,
    },

    /// A plan needs a device feature the adapter does not offer.
    #[error(
        "{what} needs the device feature {feature}, which the adapter `{adapter}` does not offer"
    )]
    MissingFeature {
        /// What needed it (`mixed precision (f16 activations)`).
        what: &'static str,
        /// The wgpu feature's name (`SHADER_F16`).
        feature: &'static str,
        /// Adapter name.
        adapter: String,
    },

    /// A buffer would exceed a device limit.
    #[error(
        "buffer of {bytes} bytes ({elements} f32 elements) exceeds the device limit \
         {limit_name} = {limit} bytes"
    )]
    BufferTooLarge {
        /// Requested size in bytes.
        bytes: u64,
        /// Requested size in f32 elements.
        elements: usize,
        /// Name of the wgpu limit that was exceeded.
        limit_name: &'static str,
        /// Value of that limit on this device.
        limit: u64,
    },

    /// Uploaded or read data does not match a buffer's length.
    #[error("length mismatch: buffer holds {buffer} f32 elements, data has {data}")]
    LengthMismatch {
        /// Buffer length in elements.
        buffer: usize,
        /// Data length in elements.
        data: usize,
    },

    /// A dispatch passed the wrong number of buffers for its kernel.
    #[error("kernel `{kernel}` declares {expected} bindings but the dispatch passed {got} buffers")]
    BindingCount {
        /// Kernel name.
        kernel: String,
        /// Number of bindings the kernel declares.
        expected: usize,
        /// Number of buffers passed.
        got: usize,
    },

    /// A dispatch would exceed a compute limit of the device.
    #[error("kernel `{kernel}` exceeds the device limit {limit_name} = {limit} (needs {needed})")]
    ComputeLimit {
        /// Kernel name.
        kernel: String,
        /// Name of the wgpu limit.
        limit_name: &'static str,
        /// Value of the limit on this device.
        limit: u64,
        /// What the kernel needs.
        needed: u64,
    },

    /// wgpu reported a validation or out-of-memory error (shader compilation, pipeline creation,
    /// submission).
    #[error("wgpu error while {context}: {detail}")]
    Wgpu {
        /// What the runtime was doing.
        context: String,
        /// The error text from wgpu.
        detail: String,
    },

    /// Mapping a buffer for read-back failed.
    #[error("reading back a buffer failed: {0}")]
    Map(String),

    /// The device lacks a feature an optional operation needs.
    #[error("this device does not support {0}")]
    Unsupported(String),

    /// Kernel generation failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}
