//! Opening a wgpu device: [`GpuContext`].
//!
//! The context asks for the adapter's *own* limits (`required_limits: adapter.limits()`) rather
//! than wgpu's portable defaults, because the defaults cap storage bindings at 128 MiB and buffers
//! at 256 MiB regardless of the hardware; netc checks its buffers against the real limits instead
//! (see [`crate::runtime`]).
//!
//! Failure to find an adapter is the common case on CI machines without a GPU or a software
//! Vulkan driver, so it is reported as [`GpuError::NoAdapter`] with instructions, never a panic.

use std::sync::{Arc, Mutex};

use super::error::GpuError;

/// A wgpu instance, adapter, device and queue, plus what netc needs to know about them.
pub struct GpuContext {
    // The instance and adapter are kept alive for the device's lifetime and for `describe`.
    _instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    /// Errors that escaped every error scope (e.g. raised on another thread's scope stack or
    /// during `queue.submit`); the runtime drains this after each submission. Without a handler,
    /// wgpu would panic on such errors.
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("driver", &self.info.driver)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// What [`GpuContext::supports_timestamps`] needs: timestamps written between dispatches.
    const PROFILING_FEATURES: wgpu::Features =
        wgpu::Features::TIMESTAMP_QUERY.union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);

    /// True when kernels may store and compute f16 (`enable f16;`): what mixed-precision
    /// plans need.
    pub fn supports_f16(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F16)
    }

    /// True when the device can time each dispatch ([`crate::runtime::Runtime::profile`]).
    pub fn supports_timestamps(&self) -> bool {
        self.device.features().contains(Self::PROFILING_FEATURES)
    }

    /// Opens the best available adapter (a discrete GPU if there is one) and creates a device
    /// with the adapter's full limits.
    ///
    /// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and the other wgpu environment variables are honoured.
    pub fn new() -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async())
    }

    /// Async form of [`GpuContext::new`].
    pub async fn new_async() -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter {
                detail: e.to_string(),
            })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        // Timestamps are only for `netc bench --profile`, subgroups for the CPU drivers' conv
        // kernels (`subgroup_size`), f16 for mixed-precision plans; ask for them where they
        // exist.
        let features = adapter.features()
            & (Self::PROFILING_FEATURES | wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("netc"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice {
                adapter: info.name.clone(),
                detail: e.to_string(),
            })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut errors) = sink.lock() {
                errors.push(e.to_string());
            }
        }));
        Ok(Self {
            _instance: instance,
            adapter,
            device,
            queue,
            info,
            limits,
            uncaptured,
        })
    }

    /// Adapter name, vendor, backend and driver strings.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was created with (the adapter's own limits).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The wgpu adapter.
    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.adapter
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The device's queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// True for CPU implementations such as lavapipe/llvmpipe, where tiling choices differ
    /// (no shared memory, big register tiles).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The subgroup size kernels may rely on, on CPU drivers whose subgroups all have one size
    /// (lavapipe: 8 SIMD lanes); `None` elsewhere. On a CPU driver every storage-buffer load is
    /// a loop over the SIMD lanes, even one whose address all lanes share, so the conv row
    /// kernels let the lanes of a subgroup split such loads and broadcast the values
    /// (`ops::conv::rows`), and every workgroup barrier switches between SIMD
    /// groups, so per-channel reductions use one per chunk. GPUs broadcast uniform loads in
    /// hardware and get portable kernels.
    pub fn subgroup_size(&self) -> Option<u32> {
        let fixed = self.info.subgroup_min_size == self.info.subgroup_max_size;
        (self.is_software() && fixed && self.device.features().contains(wgpu::Features::SUBGROUP))
            .then_some(self.info.subgroup_min_size)
    }

    /// One line for logs: `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu] driver: llvmpipe Mesa 22.3.6`.
    pub fn describe(&self) -> String {
        format!(
            "{} [{:?}, {:?}] driver: {} {}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        )
    }

    /// Removes and returns errors wgpu reported outside any error scope.
    pub(crate) fn take_uncaptured_errors(&self) -> Vec<String> {
        match self.uncaptured.lock() {
            Ok(mut errors) => std::mem::take(&mut *errors),
            Err(_) => vec!["error sink poisoned".to_string()],
        }
    }
}
