//! Lowering a graph to a kernel plan: buffers, kernels and the ordered dispatches of
//! one inference pass at a fixed batch size (batch norm in eval mode).
//!
//! * Every value gets a buffer, except where aliasing is free: `flatten` and `output`
//!   reuse their operand's buffer (same bytes, new shape).
//! * `concat` never copies what it does not have to: a conv whose only use is a concat
//!   writes straight into its channel slice of the concatenated buffer; other operands
//!   are copied in by a `concat_channels` dispatch.
//! * Kernels are deduplicated by source text, so identical layers share one shader.
//! * Values whose lifetimes do not overlap then share buffers ([`super::memory`]),
//!   unless `Options::memory` turns that off.
//!
//! The plan prints as text (`netc compile --emit plan`) and its shaders are the
//! `--emit wgsl` output.

use super::bn_grad_pairs;
use super::kernels::{self, BindingKind, ConvTiling, Elem, KernelError, KernelSource, WindowHw};
use super::memory::{MemoryMap, MemoryPlanning};
use super::optim_fusion::{self, Fusion, OptimizerLowering, UpdateKind};
use super::tiling::{self, ConvKind, TileRequest};
use crate::ir::{DType, Graph, NodeId, Op, TrainOp, Verified, Window};
use crate::ops::optim::loss_scale::GradScaler;
use crate::ops::{activation, norm, pool};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub usize);

/// What a buffer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufferRole {
    /// A model input, uploaded before each run.
    Input(String),
    /// A parameter or buffer, by its checkpoint name; uploaded once.
    Param(String),
    /// An intermediate value.
    Activation,
    /// The device-side log of a scalar output (`Plan::logs`); persists across runs.
    Log(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferDesc {
    /// Readable name: the parameter or input name, or the producing layer's path.
    pub name: String,
    /// Length in 32-bit words: elements for f32 (and the f32-coded labels and positions),
    /// half as many, rounded up, for f16.
    pub len: usize,
    /// Values it holds (`len` words hold two each where `elem` is f16).
    pub elements: usize,
    pub role: BufferRole,
    /// How the buffer stores its values.
    pub elem: Elem,
}

/// One dispatch: a kernel and its buffers in binding order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub kernel: usize,
    pub buffers: Vec<BufferId>,
    /// The layer it computes (for the printed plan and error messages).
    pub layer: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub batch: usize,
    pub buffers: Vec<BufferDesc>,
    pub kernels: Vec<KernelSource>,
    pub steps: Vec<Step>,
    pub inputs: Vec<(String, BufferId)>,
    /// The shape of each parameter and state buffer, by name.
    pub param_shapes: HashMap<String, Vec<usize>>,
    /// Outputs by name, with their full shape (batch first where batched).
    pub outputs: Vec<(String, BufferId, Vec<usize>)>,
    /// Scalar outputs each run appends to a device-side log (see [`Options::log_capacity`]):
    /// `(output name, log buffer)`, the log holding a count then the entries.
    pub logs: Vec<(String, BufferId)>,
    /// Entries each log holds before it must be read.
    pub log_capacity: usize,
    /// Which values share which buffer, when memory planning ran (`buffers` are then
    /// the physical buffers).
    pub memory: Option<MemoryMap>,
    /// The value of state buffers the plan itself introduces (the loss scaler of a
    /// mixed-precision step), used when the parameters given to the device lack them.
    pub initial_state: HashMap<String, Vec<f32>>,
}

/// Why a graph could not be lowered.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("{layer}: {message}")]
    Unsupported { layer: String, message: String },
    #[error("{layer}: {source}")]
    Kernel { layer: String, source: KernelError },
    #[error("generated shader `{name}` is invalid (a compiler bug): {message}")]
    InvalidShader { name: String, message: String },
}

/// Lowering options; tile shapes and binding counts are per-device choices.
#[derive(Clone, Debug)]
pub struct Options {
    /// When non-zero, every scalar output (a training step's `loss` and `correct`) is
    /// also appended to a device-side log of this many entries at the end of each run,
    /// so a trainer can read the metrics of many steps back at once, when it asks.
    pub log_capacity: usize,
    /// Share buffers between values with disjoint lifetimes (on by default).
    pub memory: MemoryPlanning,
    /// Tilings chosen for this device by [`TileRequest::key`] (`codegen::tune` fills it);
    /// kernels not listed get [`tiling::default_tiling`].
    pub tuned: HashMap<String, ConvTiling>,
    /// When set, every tiling request the lowering makes is appended here, so a tuner can
    /// learn which kernels a graph needs by lowering it once.
    pub record: Option<Arc<Mutex<Vec<TileRequest>>>>,
    /// Update each parameter and its optimizer state in one in-place dispatch (on by
    /// default; [`super::optim_fusion`]).
    pub optimizer: OptimizerLowering,
    /// Storage buffers one kernel may bind (the device's
    /// `max_storage_buffers_per_shader_stage`; `tune::plan_options` sets it). The
    /// fused optimizer updates batch as many parameters into one dispatch as fit (at most
    /// [`MAX_PARAMS_PER_UPDATE`]). The default, 8, is WebGPU's guaranteed minimum.
    pub max_storage_buffers: u32,
    /// A CPU driver's fixed subgroup size (`GpuContext::subgroup_size`;
    /// `tune::plan_options` sets it): the conv row kernels then share weight loads
    /// across a subgroup, and per-channel reductions give each chunk one SIMD group
    /// (`kernels::train::reduce::ChunkLanes`). `None` keeps the kernels portable and
    /// GPU-shaped.
    pub subgroup_size: Option<u32>,
    /// Dynamic loss scaling of a mixed-precision step (a graph whose loss gradient is f16):
    /// its settings and the scale of the first step (`ops::optim::loss_scale`).
    pub grad_scaler: GradScaler,
}

/// A fused update waiting for the end of the step (`Builder::finish_updates`).
#[derive(Debug)]
pub(super) struct DeferredUpdate {
    pub kind: UpdateKind,
    /// Buffers every parameter of a batched dispatch shares: `lr` (and Adam's `step`).
    pub shared: Vec<BufferId>,
    /// This parameter's buffers: its gradient (or, for running statistics, the batch
    /// statistics), then what the update writes in place.
    pub own: Vec<BufferId>,
    /// Elements of the updated parameter.
    pub len: u64,
    pub layer: String,
}

/// Most parameters one fused optimizer dispatch updates, so its kernel stays small.
pub const MAX_PARAMS_PER_UPDATE: u32 = 16;

impl Default for Options {
    fn default() -> Self {
        Self {
            log_capacity: 0,
            memory: MemoryPlanning::default(),
            tuned: HashMap::new(),
            record: None,
            optimizer: OptimizerLowering::default(),
            max_storage_buffers: 8,
            subgroup_size: None,
            grad_scaler: GradScaler::default(),
        }
    }
}

impl Options {
    /// The tiling for a `kind` kernel at the shape of `params`.
    pub fn tiling_for(&self, kind: ConvKind, params: &kernels::Conv2dParams) -> ConvTiling {
        let request = TileRequest::new(kind, params);
        if let Some(record) = &self.record
            && let Ok(mut log) = record.lock()
        {
            log.push(request);
        }
        self.tuned
            .get(&request.key())
            .copied()
            .unwrap_or_else(|| tiling::default_tiling(&request))
            .with_subgroup(self.subgroup_size)
    }
}

/// Every tiling request lowering `g` at `batch` makes, without duplicates, in plan order.
pub fn tile_requests(g: Verified<'_>, batch: usize) -> Result<Vec<TileRequest>, CodegenError> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let opts = Options {
        record: Some(Arc::clone(&log)),
        ..Options::default()
    };
    // Which kernels a graph needs does not depend on where their buffers live: no memory
    // planning.
    lower(g, optim_fusion::run(g, opts.optimizer), batch, &opts)?;
    let all = std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));
    let mut seen = std::collections::HashSet::new();
    Ok(all.into_iter().filter(|r| seen.insert(r.key())).collect())
}

/// Lower a verified graph at `batch`, with the optimizer updates `fusion` chose
/// ([`optim_fusion::run`]), to a plan with one buffer per value: memory planning
/// ([`super::memory::run`]) comes after (`crate::pipeline::plan` runs the steps in order).
pub fn lower(
    g: Verified<'_>,
    fusion: Fusion,
    batch: usize,
    opts: &Options,
) -> Result<Plan, CodegenError> {
    let g = g.graph();
    let mut b = Builder {
        g,
        batch,
        opts,
        plan: Plan {
            batch,
            buffers: vec![],
            kernels: vec![],
            steps: vec![],
            inputs: vec![],
            param_shapes: HashMap::new(),
            outputs: vec![],
            logs: vec![],
            log_capacity: opts.log_capacity,
            memory: None,
            initial_state: HashMap::new(),
        },
        kernel_index: HashMap::new(),
        value: HashMap::new(),
        assigns: Vec::new(),
        fusion,
        updates: Vec::new(),
        bn_pairs: bn_grad_pairs::Pairs::default(),
        pool_args: HashMap::new(),
        scaler: None,
    };
    let into_concat = concat_slices(g);
    let order = g.topo_order().expect("a verified graph is acyclic");
    b.bn_pairs = bn_grad_pairs::find(g, &order);
    // Concat buffers must exist before their producers write into them.
    for &id in &order {
        if matches!(g.node(id).op, Op::Concat) {
            let buf = b.activation(id);
            b.value.insert(id, buf);
        }
    }
    for &id in &order {
        if b.fusion.skip.contains(&id) {
            b.defer_update(id);
            continue;
        }
        // Lowered together with the first node of its pair.
        if b.bn_pairs.later.contains(&id) {
            continue;
        }
        b.node(id, &into_concat)?;
    }
    // Copies first, then the fused updates (the order `optim_fusion` argues is safe).
    b.finish_assigns()?;
    b.finish_updates()?;
    b.append_logs()?;
    validate_all(&b.plan.kernels)?;
    Ok(b.plan)
}

/// Validate every kernel with naga, spread over the machine's cores: validation is
/// nearly all of a model's compile time (a megabyte of WGSL for GoogleNet).
fn validate_all(kernels: &[KernelSource]) -> Result<(), CodegenError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(kernels.len().max(1));
    let chunk = kernels.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = kernels
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter().try_for_each(|k| {
                        kernels::validate_wgsl(&k.wgsl).map_err(|message| {
                            CodegenError::InvalidShader {
                                name: k.name.clone(),
                                message,
                            }
                        })
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("validation threads do not panic"))
    })
}

/// Producers that write straight into a slice of a concat: (concat, channel offset).
fn concat_slices(g: &Graph) -> HashMap<NodeId, (NodeId, usize)> {
    let mut out = HashMap::new();
    for id in g.node_ids() {
        if !matches!(g.node(id).op, Op::Concat) {
            continue;
        }
        let mut offset = 0;
        for p in g.inputs(id) {
            let only_use = g.users(p) == vec![id];
            // An operand appearing twice in one concat needs two slices: copy it.
            let once = g.inputs(id).iter().filter(|&&q| q == p).count() == 1;
            let conv = matches!(&g.node(p).op, Op::Conv2d { window, .. } if WindowHw::from_ir(window).is_some());
            if only_use && once && conv && !out.contains_key(&p) {
                out.insert(p, (id, offset));
            }
            offset += g.node(p).ty.dims[0];
        }
    }
    out
}

/// `w` as kernel parameters, or why not (a size past u32, which no verified graph has).
pub(super) fn kernel_window(w: &Window) -> Result<WindowHw, String> {
    WindowHw::from_ir(w).ok_or_else(|| format!("window ({w}) is too large for the GPU kernels"))
}

/// Checks that a kernel's output size is the one `Op::infer` gave the value: kernels take
/// sizes from the IR's rule, so this only fails if lowering passed them the wrong input.
pub(super) fn check_out_hw(kernel_hw: (u32, u32), value_dims: &[usize]) {
    debug_assert_eq!(
        (kernel_hw.0 as usize, kernel_hw.1 as usize),
        (
            value_dims[value_dims.len() - 2],
            value_dims[value_dims.len() - 1]
        ),
        "kernel output size disagrees with the inferred type"
    );
}

pub(super) struct Builder<'g> {
    pub(super) g: &'g Graph,
    pub(super) batch: usize,
    pub(super) opts: &'g Options,
    pub(super) plan: Plan,
    kernel_index: HashMap<String, usize>,
    pub(super) value: HashMap<NodeId, BufferId>,
    /// `(value, parameter, layer)` of each `Assign`, copied at the end of the step.
    pub(super) assigns: Vec<(BufferId, BufferId, String)>,
    /// The optimizer updates lowered as one dispatch each, and the nodes they replace.
    pub(super) fusion: Fusion,
    /// `(update, its buffers in binding order, elements, layer)` of each fused update met,
    /// emitted after the `Assign` copies.
    pub(super) updates: Vec<DeferredUpdate>,
    /// Batch norms whose `dgamma` and `dbeta` lower to one reduction.
    pub(super) bn_pairs: bn_grad_pairs::Pairs,
    /// Each window's first-maximum positions, written by a forward max pool of `(input,
    /// window)` whose gradient the graph also takes: that gradient reads them instead of
    /// running its own argmax pass.
    pub(super) pool_args: HashMap<(NodeId, Window), BufferId>,
    /// The loss scaler's state, once a scaled loss gradient asked for it
    /// (`Builder::loss_scaler`).
    pub(super) scaler: Option<BufferId>,
}

impl Builder<'_> {
    /// One log per scalar output, appended to after everything else of the run.
    fn append_logs(&mut self) -> Result<(), CodegenError> {
        if self.opts.log_capacity == 0 {
            return Ok(());
        }
        let capacity = u32::try_from(self.opts.log_capacity).unwrap_or(u32::MAX);
        let scalars: Vec<(String, BufferId)> = self
            .plan
            .outputs
            .iter()
            .filter(|(_, _, dims)| dims.is_empty())
            .map(|(name, b, _)| (name.clone(), *b))
            .collect();
        for (name, value) in scalars {
            let log = self.buffer(
                format!("log.{name}"),
                1 + self.opts.log_capacity,
                BufferRole::Log(name.clone()),
            );
            self.emit(
                &format!("log.{name}"),
                super::kernels::train::log::log_scalar(capacity),
                vec![value, log],
            )?;
            self.plan.logs.push((name, log));
        }
        Ok(())
    }

    /// A buffer of `len` f32 values.
    pub(super) fn buffer(&mut self, name: String, len: usize, role: BufferRole) -> BufferId {
        self.typed_buffer(name, len, role, Elem::F32)
    }

    /// A buffer of `len` values stored as `elem`.
    pub(super) fn typed_buffer(
        &mut self,
        name: String,
        len: usize,
        role: BufferRole,
        elem: Elem,
    ) -> BufferId {
        self.plan.buffers.push(BufferDesc {
            name,
            len: elem.words(len),
            elements: len,
            role,
            elem,
        });
        BufferId(self.plan.buffers.len() - 1)
    }

    /// A fresh buffer for the value of `id`: batch x elements, or just the elements of
    /// an unbatched value (a gradient of a parameter, statistics, a scalar), stored as the
    /// value's dtype says.
    pub(super) fn activation(&mut self, id: NodeId) -> BufferId {
        let n = self.g.node(id);
        let len = self.len_of(id);
        let elem = self.elem(id);
        self.typed_buffer(n.path.clone(), len, BufferRole::Activation, elem)
    }

    /// How the value of `id` is stored: f16 for the activations of a mixed-precision
    /// graph, else f32.
    pub(super) fn elem(&self, id: NodeId) -> Elem {
        match self.g.node(id).ty.dtype {
            DType::F16 => Elem::F16,
            DType::F32 | DType::I32 => Elem::F32,
        }
    }

    /// Elements of the value of `id` at this plan's batch size.
    pub(super) fn len_of(&self, id: NodeId) -> usize {
        let ty = &self.g.node(id).ty;
        if ty.batched {
            self.batch * ty.numel()
        } else {
            ty.numel()
        }
    }

    pub(super) fn emit(
        &mut self,
        layer: &str,
        kernel: Result<KernelSource, KernelError>,
        buffers: Vec<BufferId>,
    ) -> Result<(), CodegenError> {
        let kernel = kernel.map_err(|source| CodegenError::Kernel {
            layer: layer.to_string(),
            source,
        })?;
        debug_assert_eq!(
            kernel.bindings.len(),
            buffers.len(),
            "{}: binding count",
            kernel.name
        );
        let idx = match self.kernel_index.get(&kernel.wgsl) {
            Some(&i) => i,
            None => {
                self.kernel_index
                    .insert(kernel.wgsl.clone(), self.plan.kernels.len());
                self.plan.kernels.push(kernel);
                self.plan.kernels.len() - 1
            }
        };
        self.plan.steps.push(Step {
            kernel: idx,
            buffers,
            layer: layer.to_string(),
        });
        Ok(())
    }

    fn node(
        &mut self,
        id: NodeId,
        into_concat: &HashMap<NodeId, (NodeId, usize)>,
    ) -> Result<(), CodegenError> {
        let g = self.g;
        let node = g.node(id);
        let layer = if node.path.is_empty() {
            node.op.name().to_string()
        } else {
            node.path.clone()
        };
        let ins: Vec<NodeId> = g.inputs(id);
        let inb: Vec<BufferId> = ins.iter().map(|i| self.value[i]).collect();
        let dims = |i: NodeId| g.node(i).ty.dims.clone();
        let n = self.batch as u32;
        let unsupported = |message: String| CodegenError::Unsupported {
            layer: layer.clone(),
            message,
        };
        // Kernel parameters are u32: a size past that is refused, never truncated.
        let sizes = ins
            .iter()
            .flat_map(|&i| dims(i))
            .chain(node.ty.dims.iter().copied());
        if sizes.chain([self.batch]).any(|v| u32::try_from(v).is_err()) {
            return Err(unsupported(
                "a size of this layer does not fit in 32 bits".into(),
            ));
        }
        let u = |v: usize| u32::try_from(v).expect("checked above");
        match &node.op {
            Op::Input { name } => {
                let len = self.len_of(id);
                let elem = self.elem(id);
                let buf =
                    self.typed_buffer(name.clone(), len, BufferRole::Input(name.clone()), elem);
                self.plan.inputs.push((name.clone(), buf));
                self.value.insert(id, buf);
            }
            Op::Param { .. } => {
                let name = g.param_name(id).expect("param");
                self.plan
                    .param_shapes
                    .insert(name.clone(), node.ty.dims.clone());
                let buf = self.buffer(name.clone(), node.ty.numel(), BufferRole::Param(name));
                self.value.insert(id, buf);
            }
            Op::Flatten => {
                self.value.insert(id, inb[0]);
            }
            Op::Output { name } => {
                self.value.insert(id, inb[0]);
                let mut dims = node.ty.dims.clone();
                if node.ty.batched {
                    dims.insert(0, self.batch);
                }
                self.plan.outputs.push((name.clone(), inb[0], dims));
            }
            Op::Conv2d {
                out_channels,
                window,
                groups,
                bias,
            } => {
                let win = kernel_window(window).map_err(unsupported)?;
                let x = dims(ins[0]);
                let mut params =
                    kernels::Conv2dParams::new(n, u(x[0]), (u(x[1]), u(x[2])), u(*out_channels), 1)
                        .with_window(win)
                        .with_groups(u(*groups))
                        .with_bias(*bias)
                        .with_elem(self.elem(id));
                check_out_hw((params.out_h(), params.out_w()), &node.ty.dims);
                let out = match into_concat.get(&id) {
                    Some(&(concat, offset)) => {
                        params = params.with_output_slice(u(offset), u(g.node(concat).ty.dims[0]));
                        self.value[&concat]
                    }
                    None => self.activation(id),
                };
                let mut bufs = inb.clone();
                bufs.push(out);
                self.emit(
                    &layer,
                    crate::ops::conv::kernel::conv2d(
                        &params,
                        &self.opts.tiling_for(ConvKind::Forward, &params),
                    ),
                    bufs,
                )?;
                self.value.insert(id, out);
            }
            Op::BatchNorm { eps, act, .. } => {
                let x = dims(ins[0]);
                let out = self.activation(id);
                // Kernel order: x, running_mean, running_var, gamma, beta, y.
                let bufs = vec![inb[0], inb[3], inb[4], inb[1], inb[2], out];
                self.emit(
                    &layer,
                    norm::kernel::batch_norm(
                        n,
                        u(x[0]),
                        u(x[1]),
                        u(x[2]),
                        *eps,
                        *act,
                        self.elem(id),
                    ),
                    bufs,
                )?;
                self.value.insert(id, out);
            }
            Op::Activation(a) => {
                let out = self.activation(id);
                let len = (self.batch * node.ty.numel()) as u64;
                self.emit(
                    &layer,
                    activation::kernel::activation(len, *a, self.elem(id)),
                    vec![inb[0], out],
                )?;
                self.value.insert(id, out);
            }
            Op::MaxPool2d(w) | Op::AvgPool2d(w) => {
                let win = kernel_window(w).map_err(unsupported)?;
                let x = dims(ins[0]);
                let params = pool::Pool2dParams::new(n, u(x[0]), (u(x[1]), u(x[2])), 1, 1, 0)
                    .with_window(win)
                    .with_elem(self.elem(id));
                check_out_hw((params.out_h(), params.out_w()), &node.ty.dims);
                let out = self.activation(id);
                let gradient_taken = g.users(ins[0]).into_iter().any(
                    |u| matches!(&g.node(u).op, Op::Train(TrainOp::MaxPool2dGrad(v)) if v == w),
                );
                if matches!(node.op, Op::MaxPool2d(_)) && gradient_taken {
                    let arg = self.buffer(
                        format!("{layer}.argmax"),
                        params.output_len() as usize,
                        BufferRole::Activation,
                    );
                    let kernel = pool::kernel::max_pool2d_with_indices(&params);
                    self.emit(&layer, kernel, vec![inb[0], out, arg])?;
                    self.pool_args.insert((ins[0], *w), arg);
                } else {
                    let kernel = if matches!(node.op, Op::MaxPool2d(_)) {
                        pool::kernel::max_pool2d(&params)
                    } else {
                        pool::kernel::avg_pool2d(&params)
                    };
                    self.emit(&layer, kernel, vec![inb[0], out])?;
                }
                self.value.insert(id, out);
            }
            Op::GlobalAvgPool => {
                let x = dims(ins[0]);
                let out = self.activation(id);
                self.emit(
                    &layer,
                    pool::kernel::global_avg_pool(n, u(x[0]), u(x[1]), u(x[2]), self.elem(id)),
                    vec![inb[0], out],
                )?;
                self.value.insert(id, out);
            }
            Op::Linear { out_features, bias } => {
                let x = dims(ins[0]);
                let out = self.activation(id);
                let mut bufs = inb.clone();
                bufs.push(out);
                self.emit(
                    &layer,
                    crate::ops::linear::kernel::linear(
                        n,
                        u(x[0]),
                        u(*out_features),
                        *bias,
                        None,
                        // A linear layer is lowered to this 1x1 conv on a 1x1 map.
                        &self.opts.tiling_for(
                            ConvKind::Forward,
                            &kernels::Conv2dParams::new(n, u(x[0]), (1, 1), u(*out_features), 1)
                                .with_elem(self.elem(id)),
                        ),
                        self.elem(id),
                    ),
                    bufs,
                )?;
                self.value.insert(id, out);
            }
            Op::Add { act } => {
                let out = self.activation(id);
                let len = (self.batch * node.ty.numel()) as u64;
                self.emit(
                    &layer,
                    crate::ops::elementwise::kernel::add(len, *act, self.elem(id)),
                    vec![inb[0], inb[1], out],
                )?;
                self.value.insert(id, out);
            }
            Op::Concat => {
                let out = self.value[&id];
                let (c_total, h, w) = node.ty.chw().expect("concat of images");
                let mut offset = 0;
                for (p, &src) in ins.iter().zip(&inb) {
                    let c = g.node(*p).ty.dims[0];
                    let written_in_place = into_concat.get(p).is_some_and(|&(cat, _)| cat == id);
                    if !written_in_place {
                        let k = crate::ops::elementwise::kernel::concat_channels(
                            n,
                            u(c),
                            u(h * w),
                            u(offset),
                            u(c_total),
                            self.elem(id),
                        );
                        self.emit(&layer, k, vec![src, out])?;
                    }
                    offset += c;
                }
            }
            Op::Softmax => {
                let out = self.activation(id);
                self.emit(
                    &layer,
                    crate::ops::loss::kernel::softmax(n, u(node.ty.dims[0]), self.elem(id)),
                    vec![inb[0], out],
                )?;
                self.value.insert(id, out);
            }
            Op::Train(t) => return self.train_node(id, t, &ins, &inb, &layer),
            Op::SoftmaxCrossEntropy => {
                let out = self.activation(id);
                let k = u(g.node(ins[0]).ty.dims[0]);
                self.emit(
                    &layer,
                    crate::ops::loss::train_kernel::softmax_cross_entropy(n, k, self.elem(ins[0])),
                    vec![inb[0], inb[1], out],
                )?;
                self.value.insert(id, out);
            }
        }
        Ok(())
    }
}

impl Plan {
    /// Bytes of device memory the plan allocates (parameters, inputs and activations):
    /// after memory planning, the buffers of their own plus the arenas.
    pub fn total_bytes(&self) -> usize {
        let own: usize = (0..self.buffers.len())
            .filter(|&b| self.placement(BufferId(b)).is_none())
            .map(|b| self.buffers[b].len * 4)
            .sum();
        own + self.arenas().iter().map(|a| a * 4).sum::<usize>()
    }

    /// The plan as readable text: buffers, then one line per dispatch.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let params: usize = self
            .buffers
            .iter()
            .filter(|b| matches!(b.role, BufferRole::Param(_)))
            .count();
        let _ = writeln!(
            out,
            "plan: batch {}, {} buffers ({} parameters), {} kernels, {} dispatches, {}",
            self.batch,
            self.buffers.len(),
            params,
            self.kernels.len(),
            self.steps.len(),
            self.memory_summary()
        );
        if !self.arenas().is_empty() {
            let lens: Vec<String> = self.arenas().iter().map(|a| format!("{a} f32")).collect();
            let _ = writeln!(out, "arenas: {}", lens.join(", "));
        }
        out.push_str("buffers:\n");
        let notes = self.placement_notes();
        for ((i, b), note) in self.buffers.iter().enumerate().zip(notes) {
            let role = match &b.role {
                BufferRole::Input(_) => "input",
                BufferRole::Param(_) => "param",
                BufferRole::Activation => "act",
                BufferRole::Log(_) => "log",
            };
            let _ = writeln!(
                out,
                "  b{i:<4} {role:<6} {:>10} {}  {}{note}",
                b.elements,
                b.elem.wgsl(),
                b.name
            );
        }
        out.push_str("dispatches:\n");
        for (i, s) in self.steps.iter().enumerate() {
            let k = &self.kernels[s.kernel];
            let bufs: Vec<String> = s
                .buffers
                .iter()
                .zip(&k.bindings)
                .map(|(b, kind)| match kind {
                    BindingKind::ReadOnly => format!("b{}", b.0),
                    BindingKind::ReadWrite => format!("→b{}", b.0),
                })
                .collect();
            let _ = writeln!(
                out,
                "  {i:>4}  k{:<3} {:<40} wg {:?}  ({})  {}",
                s.kernel,
                k.name,
                k.workgroups,
                bufs.join(" "),
                s.layer
            );
        }
        for (name, b, dims) in &self.outputs {
            let _ = writeln!(out, "output {name} = b{} {dims:?}", b.0);
        }
        out
    }
}
