//! A compiled model on the device: its plan's buffers allocated, parameters uploaded
//! once, and a whole forward pass recorded into one command buffer per run.

use super::{Dispatch, GpuBuffer, GpuError, Recorded, Runtime, storage};
use crate::codegen::batch_limit::BatchTooLarge;
use crate::codegen::kernels::Elem;
use crate::codegen::plan::{BufferId, BufferRole, Plan};
use crate::tensor::{Tensor, TensorMap};
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a model could not be placed on, or run on, the device.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(
        "tensor `{name}` needs {bytes} bytes, over the device limit max_storage_buffer_binding_size = {limit} bytes{hint}"
    )]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
        hint: String,
    },
    /// A batch too large for the device's buffers (`codegen::batch_limit::check_batch`).
    #[error(transparent)]
    BatchTooLarge(#[from] BatchTooLarge),
    #[error("no value for parameter `{0}`")]
    MissingParam(String),
    #[error("parameter `{name}` has {got} elements, the model expects {want}")]
    ParamLen {
        name: String,
        got: usize,
        want: usize,
    },
    #[error("no value for input `{0}`")]
    MissingInput(String),
    #[error("input `{name}` has {got} elements, the plan expects {want} (batch {batch})")]
    InputLen {
        name: String,
        got: usize,
        want: usize,
        batch: usize,
    },
    #[error(
        "the device log of `{name}` holds {capacity} entries and {count} runs wrote to it; read it at least every {capacity} runs"
    )]
    LogOverflow {
        name: String,
        count: usize,
        capacity: usize,
    },
}

pub struct DeviceModel<'r> {
    runtime: &'r Runtime,
    plan: Plan,
    buffers: Vec<GpuBuffer>,
    /// The plan's dispatches with pipelines and bind groups resolved once, submitted each run.
    recorded: Recorded,
    /// The last [`DeviceModel::step`]'s submission while it may still be running.
    in_flight: Mutex<Option<wgpu::SubmissionIndex>>,
}

impl<'r> DeviceModel<'r> {
    /// Allocate every buffer of `plan` and upload `params`.
    pub fn new(
        runtime: &'r Runtime,
        plan: Plan,
        params: &TensorMap,
    ) -> Result<DeviceModel<'r>, ModelError> {
        let ctx = runtime.context();
        if plan.buffers.iter().any(|b| b.elem == Elem::F16) && !ctx.supports_f16() {
            return Err(GpuError::MissingFeature {
                what: "mixed precision (f16 activations)",
                feature: "SHADER_F16",
                adapter: ctx.adapter_info().name.clone(),
            }
            .into());
        }
        let limit = ctx.limits().max_storage_buffer_binding_size;
        for b in &plan.buffers {
            let bytes = b.len as u64 * 4;
            if bytes > limit {
                let hint = match b.role {
                    BufferRole::Param(_) => String::new(),
                    _ => {
                        let per_example = (b.len / plan.batch.max(1)).max(1) as u64 * 4;
                        format!("; the largest batch that fits is {}", limit / per_example)
                    }
                };
                return Err(ModelError::TooLarge {
                    name: b.name.clone(),
                    bytes,
                    limit,
                    hint,
                });
            }
        }
        let arenas = plan
            .arenas()
            .iter()
            .map(|&len| runtime.create_arena(len))
            .collect::<Result<Vec<_>, _>>()?;
        let mut buffers = Vec::with_capacity(plan.buffers.len());
        for (i, b) in plan.buffers.iter().enumerate() {
            if let Some(p) = plan.placement(BufferId(i)) {
                buffers.push(runtime.view(&arenas[p.arena], p.offset, b.len)?);
                continue;
            }
            let buf = match &b.role {
                BufferRole::Param(name) => {
                    // State the plan introduced itself starts from the plan's value.
                    let data = match (params.get(name), plan.initial_state.get(name)) {
                        (Some(t), _) => &t.data,
                        (None, Some(initial)) => initial,
                        (None, None) => return Err(ModelError::MissingParam(name.clone())),
                    };
                    if data.len() != b.len {
                        return Err(ModelError::ParamLen {
                            name: name.clone(),
                            got: data.len(),
                            want: b.len,
                        });
                    }
                    runtime.upload(data)?
                }
                _ => runtime.create_buffer(b.len)?,
            };
            buffers.push(buf);
        }
        // Compile every pipeline on all cores first; `record` then finds them cached.
        for compiled in runtime.prepare_all(&plan.kernels) {
            compiled?;
        }
        let recorded = runtime.record(&dispatches(&plan, &buffers))?;
        Ok(DeviceModel {
            runtime,
            plan,
            buffers,
            recorded,
            in_flight: Mutex::new(None),
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Overwrite parameter and state buffers with `params` (those it names).
    pub fn write_params(&self, params: &TensorMap) -> Result<(), ModelError> {
        for (b, buf) in self.plan.buffers.iter().zip(&self.buffers) {
            if let BufferRole::Param(name) = &b.role
                && let Some(t) = params.get(name)
            {
                if t.numel() != b.len {
                    return Err(ModelError::ParamLen {
                        name: name.clone(),
                        got: t.numel(),
                        want: b.len,
                    });
                }
                self.runtime.write(buf, &t.data)?;
            }
        }
        Ok(())
    }

    /// Read every parameter and state buffer back from the device, by name (after
    /// training steps: parameters, running statistics, optimizer state).
    /// All of them are copied out by one submission: the trainer checks them for NaN every
    /// `--log-every` steps, and one wait per buffer would cost a round trip each.
    pub fn read_params(&self) -> Result<TensorMap, ModelError> {
        let (names, buffers): (Vec<&String>, Vec<&GpuBuffer>) = self
            .plan
            .buffers
            .iter()
            .zip(&self.buffers)
            .filter_map(|(b, buf)| match &b.role {
                BufferRole::Param(name) => Some((name, buf)),
                _ => None,
            })
            .unzip();
        let values = self.runtime.run_and_read(&[], &buffers)?;
        let mut out = TensorMap::new();
        for (name, data) in names.into_iter().zip(values) {
            let dims = self
                .plan
                .param_shapes
                .get(name)
                .cloned()
                .unwrap_or_else(|| vec![data.len()]);
            out.insert(name.clone(), Tensor::new(dims, data));
        }
        Ok(out)
    }

    /// Run one pass: upload the inputs, submit every dispatch at once, read back only
    /// the outputs.
    pub fn run(
        &self,
        inputs: &HashMap<String, Tensor>,
    ) -> Result<Vec<(String, Tensor)>, ModelError> {
        self.upload_inputs(inputs)?;
        let outs: Vec<&GpuBuffer> = self
            .plan
            .outputs
            .iter()
            .map(|(_, b, _)| &self.buffers[b.0])
            .collect();
        let data = self.runtime.run_recorded(&self.recorded, &outs)?;
        Ok(self
            .plan
            .outputs
            .iter()
            .zip(data)
            .map(|((name, b, dims), words)| {
                let len = dims.iter().product();
                let d = storage::decode(self.plan.buffers[b.0].elem, &words, len);
                (name.clone(), Tensor::new(dims.clone(), d))
            })
            .collect())
    }

    /// Run one pass and read nothing back: a training step whose metrics go to the
    /// device-side logs (`Options::log_capacity`), read with [`DeviceModel::read_logs`].
    ///
    /// The step is submitted without waiting for it: the call returns once the *previous*
    /// step has finished, so the CPU prepares and records step N+1 (and the caller loads its
    /// batch) while the GPU runs step N. Anything that reads from the device (logs,
    /// parameters, outputs) waits for every submitted step first.
    pub fn step(&self, inputs: &HashMap<String, Tensor>) -> Result<(), ModelError> {
        self.upload_inputs(inputs)?;
        let index = self.runtime.enqueue(&self.recorded)?;
        let previous = self
            .in_flight
            .lock()
            // A panic elsewhere cannot leave the Option half-written.
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(index);
        if let Some(previous) = previous {
            self.runtime.wait_for(previous)?;
        }
        Ok(())
    }

    /// Upload the inputs and run the plan once with a GPU timestamp after every dispatch,
    /// reading nothing back: for each dispatch, its kernel's name and the seconds it took (see
    /// [`crate::runtime::Runtime::profile`]).
    pub fn profile(
        &self,
        inputs: &HashMap<String, Tensor>,
    ) -> Result<Vec<(&str, f64)>, ModelError> {
        self.upload_inputs(inputs)?;
        let times = self.runtime.profile(&self.recorded)?;
        Ok(self
            .plan
            .steps
            .iter()
            .map(|s| self.plan.kernels[s.kernel].name.as_str())
            .zip(times)
            .collect())
    }

    /// Read every log back in one submission and empty it: for each logged output, the
    /// values of the runs since the last read, in run order.
    pub fn read_logs(&self) -> Result<Vec<(String, Vec<f32>)>, ModelError> {
        let bufs: Vec<&GpuBuffer> = self
            .plan
            .logs
            .iter()
            .map(|(_, b)| &self.buffers[b.0])
            .collect();
        let data = self.runtime.run_and_read(&[], &bufs)?;
        let capacity = self.plan.log_capacity;
        let mut out = Vec::with_capacity(data.len());
        for ((name, b), log) in self.plan.logs.iter().zip(data) {
            let count = log[0] as usize;
            if count > capacity {
                return Err(ModelError::LogOverflow {
                    name: name.clone(),
                    count,
                    capacity,
                });
            }
            self.runtime
                .write(&self.buffers[b.0], &vec![0.0; capacity + 1])?;
            out.push((name.clone(), log[1..=count].to_vec()));
        }
        Ok(out)
    }

    fn upload_inputs(&self, inputs: &HashMap<String, Tensor>) -> Result<(), ModelError> {
        for (name, buf) in &self.plan.inputs {
            let t = inputs
                .get(name)
                .ok_or_else(|| ModelError::MissingInput(name.clone()))?;
            let desc = &self.plan.buffers[buf.0];
            let words = storage::encode(desc.elem, &t.data);
            if words.len() != desc.len {
                return Err(ModelError::InputLen {
                    name: name.clone(),
                    got: t.numel(),
                    want: desc.elements,
                    batch: self.plan.batch,
                });
            }
            self.runtime.write(&self.buffers[buf.0], &words)?;
        }
        Ok(())
    }
}

/// The dispatches of `plan` over its allocated `buffers`.
fn dispatches<'a>(plan: &'a Plan, buffers: &'a [GpuBuffer]) -> Vec<Dispatch<'a>> {
    plan.steps
        .iter()
        .map(|s| {
            let bufs: Vec<&GpuBuffer> = s.buffers.iter().map(|b| &buffers[b.0]).collect();
            Dispatch::new(&plan.kernels[s.kernel], &bufs)
        })
        .collect()
}
