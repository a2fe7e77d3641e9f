//! Kernel timing on the device, and the runtime as the tuner's [`TuningDevice`].
//!
//! [`time_dispatches`] measures a list of dispatches (one submission per sample, after a
//! warm-up that compiles the pipelines); [`Runtime::time_work`] allocates the buffers a
//! [`TimedWork`] describes and times its kernels over them. The tuner
//! (`codegen::tune`) decides what to time; this module only runs it.

use std::time::Instant;

use super::error::GpuError;
use super::exec::{Dispatch, GpuBuffer, Runtime};
use crate::codegen::kernels::KernelSource;
use crate::codegen::tune::{DeviceFacts, TimedBuffer, TimedWork, TuningDevice};

/// Seconds per execution of `dispatches`: the median of `samples` submissions of `reps`
/// back-to-back copies each (one submission amortises the ~100 µs submit cost the way a real
/// plan does), after one untimed run that compiles the pipelines.
pub fn time_dispatches(
    rt: &Runtime,
    dispatches: &[Dispatch<'_>],
    reps: usize,
    samples: usize,
) -> Result<f64, GpuError> {
    let reps = reps.max(1);
    let batch: Vec<Dispatch<'_>> = (0..reps).flat_map(|_| dispatches.iter().cloned()).collect();
    // Pipelines and bind groups are made once, as a model does; only submissions are timed,
    // after one untimed submission (the driver's first use of a pipeline costs extra).
    let batch = rt.record(&batch)?;
    rt.run_recorded(&batch, &[])?;
    let mut times = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        rt.run_recorded(&batch, &[])?;
        times.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Deterministic pseudo-random contents in [-1, 1) (the values do not affect timing, but
/// denormals or NaNs could).
fn filler(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// The cache key of a device: adapter name, backend and driver (a driver update can change
/// which tiling wins).
pub fn device_key(rt: &Runtime) -> String {
    let i = rt.context().adapter_info();
    format!(
        "{} [{:?}] {} {}",
        i.name, i.backend, i.driver, i.driver_info
    )
}

impl Runtime {
    /// Seconds per execution of `work` (see [`time_dispatches`]), over buffers allocated for
    /// it now.
    pub fn time_work(
        &self,
        work: &TimedWork,
        reps: usize,
        samples: usize,
    ) -> Result<f64, GpuError> {
        let owned: Vec<GpuBuffer> = work
            .buffers
            .iter()
            .map(|b| match *b {
                TimedBuffer::Filled { len, seed } => self.upload(&filler(len, seed)),
                TimedBuffer::Zeroed { len } => self.create_buffer(len),
            })
            .collect::<Result<_, _>>()?;
        let binds: Vec<Vec<&GpuBuffer>> = work
            .bindings
            .iter()
            .map(|b| b.iter().map(|&i| &owned[i]).collect())
            .collect();
        let dispatches: Vec<Dispatch<'_>> = work
            .kernels
            .iter()
            .zip(&binds)
            .map(|(k, b)| Dispatch::new(k, b))
            .collect();
        time_dispatches(self, &dispatches, reps, samples)
    }
}

impl TuningDevice for Runtime {
    type Error = GpuError;

    fn facts(&self) -> DeviceFacts {
        let ctx = self.context();
        DeviceFacts {
            key: device_key(self),
            software: ctx.is_software(),
            subgroup_size: ctx.subgroup_size(),
            max_storage_buffers: ctx.limits().max_storage_buffers_per_shader_stage,
        }
    }

    fn needs_compiling(&self, kernel: &KernelSource) -> bool {
        self.check_kernel(kernel).is_ok() && !self.has_pipeline(kernel)
    }

    fn compile_all(&self, kernels: &[KernelSource]) {
        // Errors are met again (and the candidate skipped) when it is timed.
        let _ = self.prepare_all(kernels);
    }

    fn time(&self, work: &TimedWork, reps: usize, samples: usize) -> Result<f64, GpuError> {
        self.time_work(work, reps, samples)
    }
}
