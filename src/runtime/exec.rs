//! Executing kernels: buffers, a pipeline cache, and single-submission runs.
//!
//! The unit of work is a slice of [`Dispatch`]es. [`Runtime::run`] records all of them into one
//! command encoder and one compute pass and submits once: on lavapipe a separate submit costs
//! 60–110 µs against 15–50 µs for a dispatch inside a pass, so a whole forward pass should be a
//! single `run`. Reads go through [`Runtime::run_and_read`], which appends copies of just the
//! requested buffers to the same command buffer.
//!
//! Pipelines are cached by (shader source, entry point): generated kernels bake their shapes into
//! the source, so the source *is* the specialisation key, and identical layers share a pipeline.
//! Several threads may compile into the cache at once ([`Runtime::prepare_all`]).
//!
//! wgpu reports errors asynchronously through error scopes; the runtime wraps pipeline creation
//! and submission in scopes and turns what they catch into [`GpuError::Wgpu`], so a bad kernel
//! is an error value, never a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::device::GpuContext;
use super::error::GpuError;
use crate::codegen::kernels::{BindingKind, KernelSource};

/// Size of one element; every netc tensor is f32.
const ELEM_BYTES: u64 = std::mem::size_of::<f32>() as u64;

/// A device buffer holding `len` f32 values, usable as a storage binding, copy source and copy
/// destination: a whole wgpu buffer, or a view of `len` elements from byte `offset` of a larger
/// one (an arena, [`Runtime::view`]).
#[derive(Debug)]
pub struct GpuBuffer {
    buffer: wgpu::Buffer,
    offset: u64,
    len: usize,
}

impl GpuBuffer {
    /// Number of f32 elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the contents in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.len as u64 * ELEM_BYTES
    }

    /// The underlying wgpu buffer (for interop; netc code should not need it).
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The binding of this buffer's elements (an empty buffer binds its one element of
    /// storage: wgpu rejects empty bindings).
    fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.size_bytes().max(ELEM_BYTES)),
        })
    }
}

/// One kernel launch: a kernel and the buffers for its bindings, in binding order.
#[derive(Debug, Clone)]
pub struct Dispatch<'a> {
    /// The kernel to run.
    pub kernel: &'a KernelSource,
    /// One buffer per entry of `kernel.bindings`.
    pub buffers: Vec<&'a GpuBuffer>,
}

impl<'a> Dispatch<'a> {
    /// A dispatch of `kernel` over `buffers`.
    pub fn new(kernel: &'a KernelSource, buffers: &[&'a GpuBuffer]) -> Self {
        Self {
            kernel,
            buffers: buffers.to_vec(),
        }
    }
}

/// Where a `map_async` callback leaves its outcome.
type MapReceiver = std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>;

/// How long a read-back may wait for its map callback after the device went idle.
const MAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Dispatches ready to submit: pipelines and bind groups resolved ([`Runtime::record`]).
/// Holds its buffers alive through the bind groups.
#[derive(Debug)]
pub struct Recorded {
    steps: Vec<RecordedDispatch>,
}

#[derive(Debug)]
struct RecordedDispatch {
    pipeline: Arc<Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

/// Stack size of [`Runtime::prepare_all`]'s compile threads.
const WORKER_STACK: usize = 8 << 20;

/// A compiled kernel with the bind group layout it was created with.
#[derive(Debug)]
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Buffers, pipelines and submissions on one [`GpuContext`].
///
/// `Runtime` is `Send + Sync`; tests share one per process.
#[derive(Debug)]
pub struct Runtime {
    ctx: GpuContext,
    pipelines: Mutex<HashMap<(String, &'static str), Arc<Pipeline>>>,
}

impl Runtime {
    /// Wraps an open device.
    pub fn new(ctx: GpuContext) -> Self {
        Self {
            ctx,
            pipelines: Mutex::new(HashMap::new()),
        }
    }

    /// Opens the default device ([`GpuContext::new`]) and wraps it.
    pub fn open() -> Result<Self, GpuError> {
        Ok(Self::new(GpuContext::new()?))
    }

    /// The device this runtime uses.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Number of distinct pipelines compiled so far.
    pub fn cached_pipelines(&self) -> usize {
        self.pipelines.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Checks `len` f32 elements fit the device's buffer limits. Every netc buffer is bound as a
    /// storage buffer, so the binding limit (128 MiB on lavapipe) is the one that usually bites.
    pub fn check_buffer_len(&self, len: usize) -> Result<(), GpuError> {
        let bytes = len as u64 * ELEM_BYTES;
        let limits = self.ctx.limits();
        for (limit_name, limit) in [
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
            ("max_buffer_size", limits.max_buffer_size),
        ] {
            if bytes > limit {
                return Err(GpuError::BufferTooLarge {
                    bytes,
                    elements: len,
                    limit_name,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Creates a zero-filled buffer of `len` f32 elements.
    pub fn create_buffer(&self, len: usize) -> Result<GpuBuffer, GpuError> {
        self.check_buffer_len(len)?;
        Ok(self.allocate(len, None))
    }

    /// A zero-filled wgpu buffer for `len` f32 elements (at least one: wgpu rejects zero-sized
    /// bindings), usable as storage, copy source and copy destination.
    fn allocate(&self, len: usize, label: Option<&str>) -> GpuBuffer {
        let buffer = self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label,
            size: (len as u64).max(1) * ELEM_BYTES,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        GpuBuffer {
            buffer,
            offset: 0,
            len,
        }
    }

    /// Creates a zero-filled arena of `len` f32 elements, to hold [`Runtime::view`]s. Only
    /// views are bound, so only the device's buffer-size limit applies to the arena.
    pub fn create_arena(&self, len: usize) -> Result<GpuBuffer, GpuError> {
        let bytes = len as u64 * ELEM_BYTES;
        let limit = self.ctx.limits().max_buffer_size;
        if bytes > limit {
            return Err(GpuError::BufferTooLarge {
                bytes,
                elements: len,
                limit_name: "max_buffer_size",
                limit,
            });
        }
        Ok(self.allocate(len, Some("netc arena")))
    }

    /// A view of `len` elements of `arena` from element `offset`, used like a buffer of
    /// its own. The offset must suit the device's binding alignment.
    pub fn view(
        &self,
        arena: &GpuBuffer,
        offset: usize,
        len: usize,
    ) -> Result<GpuBuffer, GpuError> {
        self.check_buffer_len(len)?;
        let start = arena.offset + offset as u64 * ELEM_BYTES;
        let align = u64::from(self.ctx.limits().min_storage_buffer_offset_alignment);
        if offset + len.max(1) > arena.len || !start.is_multiple_of(align) {
            return Err(GpuError::Unsupported(format!(
                "a view of elements {offset}..{} of a {}-element arena at alignment {align}",
                offset + len,
                arena.len
            )));
        }
        Ok(GpuBuffer {
            buffer: arena.buffer.clone(),
            offset: start,
            len,
        })
    }

    /// Creates a buffer holding `data`.
    pub fn upload(&self, data: &[f32]) -> Result<GpuBuffer, GpuError> {
        let buffer = self.create_buffer(data.len())?;
        self.write(&buffer, data)?;
        Ok(buffer)
    }

    /// Overwrites `buffer` with `data` (same length). The write is ordered before the next
    /// submission.
    pub fn write(&self, buffer: &GpuBuffer, data: &[f32]) -> Result<(), GpuError> {
        if data.len() != buffer.len {
            return Err(GpuError::LengthMismatch {
                buffer: buffer.len,
                data: data.len(),
            });
        }
        if !data.is_empty() {
            self.ctx.queue().write_buffer(
                &buffer.buffer,
                buffer.offset,
                bytemuck::cast_slice(data),
            );
        }
        Ok(())
    }

    /// Reads a buffer back (one submission with just a copy).
    pub fn read(&self, buffer: &GpuBuffer) -> Result<Vec<f32>, GpuError> {
        let mut out = self.run_and_read(&[], &[buffer])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Compiles `kernel` now (normally done lazily by [`Runtime::run`]) so a later run's timing
    /// excludes pipeline creation.
    pub fn prepare(&self, kernel: &KernelSource) -> Result<(), GpuError> {
        self.pipeline(kernel).map(|_| ())
    }

    /// True when `kernel`'s pipeline is compiled and cached.
    pub fn has_pipeline(&self, kernel: &KernelSource) -> bool {
        self.pipelines
            .lock()
            .is_ok_and(|c| c.contains_key(&(kernel.wgsl.clone(), kernel.entry)))
    }

    /// [`Runtime::prepare`]s `kernels` on up to [`std::thread::available_parallelism`]
    /// threads (pipeline creation — naga and the driver's compiler — is CPU work that runs
    /// in parallel; the pipeline cache compiles outside its lock, and wgpu's error scopes are
    /// per thread, so each compile gets its own errors). Returns one result per
    /// kernel, in order. Threads take the next kernel as they finish the last, so putting the
    /// biggest kernels first balances the work best.
    pub fn prepare_all(&self, kernels: &[KernelSource]) -> Vec<Result<(), GpuError>> {
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(kernels.len());
        if workers <= 1 {
            return kernels.iter().map(|k| self.prepare(k)).collect();
        }
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(k) = kernels.get(i) else {
                    return done;
                };
                done.push((i, self.prepare(k)));
            }
        };
        let mut results: Vec<Option<Result<(), GpuError>>> = std::iter::repeat_with(|| None)
            .take(kernels.len())
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    // Parsing a big shader can take more stack than a spawned thread's default
                    // (see `wgpu::Device::create_shader_module`): give workers a main thread's.
                    std::thread::Builder::new()
                        .name("netc-compile".into())
                        .stack_size(WORKER_STACK)
                        .spawn_scoped(s, work)
                })
                .collect();
            // A thread that could not start leaves its share to the others.
            for h in handles.into_iter().flatten() {
                match h.join() {
                    Ok(done) => {
                        for (i, r) in done {
                            results[i] = Some(r);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        // Kernels no thread got to (only when no thread could start) compile here.
        results
            .into_iter()
            .zip(kernels)
            .map(|(r, k)| r.unwrap_or_else(|| self.prepare(k)))
            .collect()
    }

    /// Runs `dispatches` in order in one compute pass and one submission, and waits for them to
    /// finish. Dispatches in one pass see each other's writes (wgpu inserts the barriers).
    pub fn run(&self, dispatches: &[Dispatch<'_>]) -> Result<(), GpuError> {
        self.run_and_read(dispatches, &[]).map(|_| ())
    }

    /// Like [`Runtime::run`], then copies each buffer of `read` back to the host, in the same
    /// submission. Returns one vector per requested buffer.
    pub fn run_and_read(
        &self,
        dispatches: &[Dispatch<'_>],
        read: &[&GpuBuffer],
    ) -> Result<Vec<Vec<f32>>, GpuError> {
        self.run_recorded(&self.record(dispatches)?, read)
    }

    /// Resolves the pipelines and bind groups of `dispatches` once, checking them against the
    /// device limits, for [`Runtime::run_recorded`] to submit as often as needed: a training
    /// loop submits the same few hundred dispatches every step, and creating their bind
    /// groups each time was CPU time the GPU waited for.
    pub fn record(&self, dispatches: &[Dispatch<'_>]) -> Result<Recorded, GpuError> {
        let device = self.ctx.device();
        // Resolve pipelines and check limits before creating anything.
        let mut pipelines = Vec::with_capacity(dispatches.len());
        for d in dispatches {
            self.check_dispatch(d)?;
            pipelines.push(self.pipeline(d.kernel)?);
        }
        let scopes = ErrorScopes::push(device);
        let steps = dispatches
            .iter()
            .zip(pipelines)
            .map(|(d, pipeline)| {
                let entries: Vec<wgpu::BindGroupEntry<'_>> = d
                    .buffers
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: b.binding(),
                    })
                    .collect();
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&d.kernel.name),
                    layout: &pipeline.layout,
                    entries: &entries,
                });
                RecordedDispatch {
                    pipeline,
                    bind_group,
                    workgroups: d.kernel.workgroups,
                }
            })
            .collect();
        scopes.pop("creating bind groups")?;
        Ok(Recorded { steps })
    }

    /// Submits a [`Recorded`] list of dispatches like [`Runtime::run_and_read`].
    pub fn run_recorded(
        &self,
        recorded: &Recorded,
        read: &[&GpuBuffer],
    ) -> Result<Vec<Vec<f32>>, GpuError> {
        self.submit(recorded, read, None).map(|(out, _)| out)
    }

    /// Runs `dispatches` like [`Runtime::run`] with a GPU timestamp written after each one,
    /// and returns the seconds each took: the time from the previous dispatch's end to its
    /// own, so a dispatch's figure includes the barrier in front of it. Needs
    /// [`GpuContext::supports_timestamps`]; the figures are for profiling (`netc bench
    /// --profile`), since timestamps change how the driver schedules a pass.
    pub fn profile(&self, recorded: &Recorded) -> Result<Vec<f64>, GpuError> {
        if !self.ctx.supports_timestamps() {
            return Err(GpuError::Unsupported(
                "GPU timestamps inside compute passes (TIMESTAMP_QUERY_INSIDE_PASSES)".into(),
            ));
        }
        let device = self.ctx.device();
        // One timestamp before the first dispatch and one after each; a query set holds at
        // most QUERY_SET_MAX_QUERIES.
        let stamps = recorded.steps.len() + 1;
        let per_set = wgpu::QUERY_SET_MAX_QUERIES as usize;
        let sets: Vec<wgpu::QuerySet> = (0..stamps.div_ceil(per_set))
            .map(|i| {
                device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("netc profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: (stamps - i * per_set).min(per_set) as u32,
                })
            })
            .collect();
        let resolved = self.create_raw_buffer(
            stamps as u64 * 8,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        );
        let (_, ticks) = self.submit(recorded, &[], Some((&sets, &resolved)))?;
        let period_ns = f64::from(self.ctx.queue().get_timestamp_period());
        let ticks = ticks.ok_or_else(|| GpuError::Map("no timestamps came back".into()))?;
        Ok(ticks
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]) as f64 * period_ns * 1e-9)
            .collect())
    }

    fn create_raw_buffer(&self, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage,
            mapped_at_creation: false,
        })
    }
}

/// Query sets to write one timestamp per dispatch into, and the buffer they resolve to.
type Timestamps<'q> = (&'q [wgpu::QuerySet], &'q wgpu::Buffer);

/// What a submission brings back: the contents of the buffers it read, and its raw
/// timestamps when it wrote any.
type Submitted = (Vec<Vec<f32>>, Option<Vec<u64>>);

impl Runtime {
    /// Records `recorded` into a new encoder as one compute pass, with a timestamp before the
    /// first dispatch and after each one when `timestamps` is given.
    fn encode(
        &self,
        recorded: &Recorded,
        timestamps: Option<Timestamps<'_>>,
    ) -> wgpu::CommandEncoder {
        let mut encoder =
            self.ctx
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("netc run"),
                });
        if !recorded.steps.is_empty() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("netc pass"),
                timestamp_writes: None,
            });
            // Timestamp i goes to set i / QUERY_SET_MAX_QUERIES, slot i % QUERY_SET_MAX_QUERIES.
            let stamp = |pass: &mut wgpu::ComputePass<'_>, i: usize| {
                if let Some((sets, _)) = timestamps {
                    let per_set = wgpu::QUERY_SET_MAX_QUERIES as usize;
                    pass.write_timestamp(&sets[i / per_set], (i % per_set) as u32);
                }
            };
            stamp(&mut pass, 0);
            for (i, d) in recorded.steps.iter().enumerate() {
                let [x, y, z] = d.workgroups;
                if x != 0 && y != 0 && z != 0 {
                    pass.set_pipeline(&d.pipeline.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(x, y, z);
                }
                stamp(&mut pass, i + 1);
            }
        }
        encoder
    }

    /// Submits `recorded` as one command buffer and returns without waiting for it, so the
    /// CPU can prepare the next submission while the GPU runs this one. Bound how far ahead
    /// the CPU runs with [`Runtime::wait_for`].
    pub fn enqueue(&self, recorded: &Recorded) -> Result<wgpu::SubmissionIndex, GpuError> {
        let scopes = ErrorScopes::push(self.ctx.device());
        let index = self
            .ctx
            .queue()
            .submit([self.encode(recorded, None).finish()]);
        scopes.pop("recording and submitting dispatches")?;
        Ok(index)
    }

    /// Waits until the submission `index` (from [`Runtime::enqueue`]) has finished, and
    /// reports errors the device raised meanwhile.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<(), GpuError> {
        self.ctx
            .device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Wgpu {
                context: "waiting for a submission".into(),
                detail: e.to_string(),
            })?;
        let uncaptured = self.ctx.take_uncaptured_errors();
        if !uncaptured.is_empty() {
            return Err(GpuError::Wgpu {
                context: "running dispatches".into(),
                detail: uncaptured.join("; "),
            });
        }
        Ok(())
    }

    /// Records `dispatches` in one pass (with a timestamp after each when `timestamps` is
    /// given), copies `read` back, submits once and waits. Returns the read buffers and, when
    /// asked, the raw timestamps.
    fn submit(
        &self,
        recorded: &Recorded,
        read: &[&GpuBuffer],
        timestamps: Option<Timestamps<'_>>,
    ) -> Result<Submitted, GpuError> {
        let device = self.ctx.device();
        let scopes = ErrorScopes::push(device);
        let mut encoder = self.encode(recorded, timestamps);
        let copy_back =
            |encoder: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, offset: u64, size: u64| {
                let s = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("netc readback"),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                encoder.copy_buffer_to_buffer(src, offset, &s, 0, size);
                s
            };
        let mut staging: Vec<Option<wgpu::Buffer>> = read
            .iter()
            .map(|b| {
                (!b.is_empty())
                    .then(|| copy_back(&mut encoder, &b.buffer, b.offset, b.size_bytes()))
            })
            .collect();
        // The timestamps come back as one more staging buffer after the requested ones.
        if let Some((sets, resolved)) = timestamps {
            let per_set = wgpu::QUERY_SET_MAX_QUERIES as u64;
            let stamps = resolved.size() / 8;
            for (i, set) in sets.iter().enumerate() {
                let first = i as u64 * per_set;
                let count = (stamps - first).min(per_set);
                encoder.resolve_query_set(set, 0..count as u32, resolved, first * 8);
            }
            staging.push(Some(copy_back(&mut encoder, resolved, 0, resolved.size())));
        }
        let index = self.ctx.queue().submit([encoder.finish()]);
        scopes.pop("recording and submitting dispatches")?;

        // Map every staging buffer, then wait once.
        let results: Vec<Option<MapReceiver>> = staging
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    let (tx, rx) = std::sync::mpsc::channel();
                    s.map_async(wgpu::MapMode::Read, .., move |r| {
                        // The receiver outlives the wait below; a send can only fail
                        // after an error return, when nobody needs the result.
                        let _ = tx.send(r);
                    });
                    rx
                })
            })
            .collect();
        // Earlier submissions (steps still in flight) finish first: the queue runs in order.
        self.wait_for(index)?;

        let mut out = Vec::with_capacity(read.len());
        for (s, rx) in staging.iter().zip(&results) {
            let (Some(s), Some(rx)) = (s, rx) else {
                out.push(Vec::new());
                continue;
            };
            // When several threads share the device, another thread's poll can be the one
            // that runs this map's callback, a moment after our own poll returned: wait
            // for it instead of assuming it already ran.
            let status = match rx.recv_timeout(MAP_WAIT) {
                Ok(status) => status,
                Err(_) => {
                    return Err(GpuError::Map(format!(
                        "the read-back was not mapped within {} s",
                        MAP_WAIT.as_secs()
                    )));
                }
            };
            status.map_err(|e| GpuError::Map(e.to_string()))?;
            let view = s
                .get_mapped_range(..)
                .map_err(|e| GpuError::Map(e.to_string()))?;
            // Copy rather than cast in place: the mapped bytes carry no alignment guarantee.
            out.push(view.to_vec());
            drop(view);
            s.unmap();
        }
        let ticks = timestamps
            .and_then(|_| out.pop())
            .map(|bytes| bytemuck::pod_collect_to_vec::<u8, u64>(&bytes));
        let values = out
            .iter()
            .map(|bytes| bytemuck::pod_collect_to_vec::<u8, f32>(bytes))
            .collect();
        Ok((values, ticks))
    }

    /// Rejects dispatches that do not match their kernel or exceed device limits, with errors
    /// that name the limit (wgpu's own messages are less direct).
    fn check_dispatch(&self, d: &Dispatch<'_>) -> Result<(), GpuError> {
        let k = d.kernel;
        if d.buffers.len() != k.bindings.len() {
            return Err(GpuError::BindingCount {
                kernel: k.name.clone(),
                expected: k.bindings.len(),
                got: d.buffers.len(),
            });
        }
        self.check_kernel(k)
    }
}

impl Runtime {
    /// Checks that `k` fits the device's compute limits (workgroup count and size, invocations,
    /// storage bindings), as [`Runtime::run`] does before dispatching it, with errors that name
    /// the limit.
    pub fn check_kernel(&self, k: &KernelSource) -> Result<(), GpuError> {
        let limits = self.ctx.limits();
        let limit_err = |limit_name, limit: u32, needed: u64| GpuError::ComputeLimit {
            kernel: k.name.clone(),
            limit_name,
            limit: u64::from(limit),
            needed,
        };
        let max_groups = limits.max_compute_workgroups_per_dimension;
        if let Some(&n) = k.workgroups.iter().find(|&&n| n > max_groups) {
            return Err(limit_err(
                "max_compute_workgroups_per_dimension",
                max_groups,
                u64::from(n),
            ));
        }
        let invocations = u64::from(k.invocations_per_workgroup());
        if invocations > u64::from(limits.max_compute_invocations_per_workgroup) {
            return Err(limit_err(
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup,
                invocations,
            ));
        }
        for (size, limit, name) in [
            (
                k.workgroup_size[0],
                limits.max_compute_workgroup_size_x,
                "max_compute_workgroup_size_x",
            ),
            (
                k.workgroup_size[1],
                limits.max_compute_workgroup_size_y,
                "max_compute_workgroup_size_y",
            ),
            (
                k.workgroup_size[2],
                limits.max_compute_workgroup_size_z,
                "max_compute_workgroup_size_z",
            ),
        ] {
            if size > limit {
                return Err(limit_err(name, limit, u64::from(size)));
            }
        }
        let storage = k.bindings.len() as u64;
        if storage > u64::from(limits.max_storage_buffers_per_shader_stage) {
            return Err(limit_err(
                "max_storage_buffers_per_shader_stage",
                limits.max_storage_buffers_per_shader_stage,
                storage,
            ));
        }
        Ok(())
    }

    /// Returns the cached pipeline for `kernel`, compiling it on first use.
    ///
    /// Safe to call from several threads at once: the cache's lock is held only to look up and
    /// to insert, never while compiling, so threads compiling different kernels run in
    /// parallel. Two threads that miss on the same kernel both compile it and the first insert
    /// wins (both get that pipeline). The error scopes are wgpu's per-thread ones (the `std`
    /// feature, on by default), and pipeline creation reports its errors synchronously on the
    /// calling thread, so each compile's errors land in its own scopes, never another
    /// thread's, and never in the uncaptured-error handler.
    fn pipeline(&self, kernel: &KernelSource) -> Result<Arc<Pipeline>, GpuError> {
        let key = (kernel.wgsl.clone(), kernel.entry);
        // The guard is a temporary of this statement: the lock is released before compiling.
        let cached = self
            .pipelines
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        if let Some(p) = cached {
            return Ok(p);
        }
        let device = self.ctx.device();
        let scopes = ErrorScopes::push(device);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&kernel.name),
            source: wgpu::ShaderSource::Wgsl(kernel.wgsl.as_str().into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .bindings
            .iter()
            .enumerate()
            .map(|(i, kind)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *kind == BindingKind::ReadOnly,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&kernel.name),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&kernel.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&kernel.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        scopes.pop(&format!(
            "creating the pipeline for kernel `{}`",
            kernel.name
        ))?;
        let p = Arc::new(Pipeline { pipeline, layout });
        match self.pipelines.lock() {
            // Another thread may have compiled the same kernel meanwhile: keep its pipeline.
            Ok(mut cache) => Ok(Arc::clone(cache.entry(key).or_insert(p))),
            Err(_) => Ok(p),
        }
    }
}

/// Validation, out-of-memory and internal error scopes pushed together and popped in reverse.
struct ErrorScopes {
    guards: Vec<wgpu::ErrorScopeGuard>,
}

impl ErrorScopes {
    fn push(device: &wgpu::Device) -> Self {
        let guards = [
            wgpu::ErrorFilter::Internal,
            wgpu::ErrorFilter::OutOfMemory,
            wgpu::ErrorFilter::Validation,
        ]
        .into_iter()
        .map(|f| device.push_error_scope(f))
        .collect();
        Self { guards }
    }

    /// Pops all scopes; the first captured error becomes a [`GpuError::Wgpu`].
    fn pop(mut self, context: &str) -> Result<(), GpuError> {
        let mut first = None;
        while let Some(guard) = self.guards.pop() {
            if let Some(e) = pollster::block_on(guard.pop()) {
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(e) => Err(GpuError::Wgpu {
                context: context.to_string(),
                detail: e.to_string(),
            }),
        }
    }
}
