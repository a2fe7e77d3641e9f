//! Lowering the training ops of a training graph (`ir::train_ops`) to kernels.
//!
//! Long reductions (weight and bias gradients, batch statistics, BN's gamma gradient)
//! are two dispatches with a scratch buffer. `Assign`s are collected while lowering and
//! become copies into the parameter buffers at the very end of the step, so every read
//! of a parameter in the step sees its old value, whatever order the dispatches take.
//! Optimizer updates `super::optim_fusion` recognises skip all that: each becomes one
//! in-place dispatch after those copies.

use super::kernels::train::reduce;
use super::kernels::{Conv2dParams, Elem, KernelError, Reduction};
use super::optim_fusion::UpdateKind;
use super::plan::{
    BufferId, BufferRole, Builder, CodegenError, DeferredUpdate, MAX_PARAMS_PER_UPDATE,
    check_out_hw, kernel_window,
};
use super::tiling::ConvKind;
use crate::ir::{LOSS_SCALER, NodeId, TrainOp};
use crate::ops::optim::{kernel as optim, loss_scale};
use crate::ops::{activation, conv, norm, pool};

/// The scalar output of a scaled step: 1 when its updates were skipped.
pub const SKIPPED: &str = "skipped";

impl Builder<'_> {
    /// Lower one training op whose operands are `ins` (in buffers `inb`).
    pub(super) fn train_node(
        &mut self,
        id: NodeId,
        t: &TrainOp,
        ins: &[NodeId],
        inb: &[BufferId],
        layer: &str,
    ) -> Result<(), CodegenError> {
        let g = self.g;
        let n = self.batch as u32;
        let dims =
            |i: NodeId| -> Vec<u32> { g.node(i).ty.dims.iter().map(|&d| d as u32).collect() };
        let batch = self.batch;
        let elems = |i: NodeId| -> u64 {
            let ty = &g.node(i).ty;
            (if ty.batched { batch } else { 1 } * ty.numel()) as u64
        };
        let unsupported = |message: String| CodegenError::Unsupported {
            layer: layer.to_string(),
            message,
        };
        let out_of = |this: &mut Builder<'_>| this.activation(id);
        match t {
            TrainOp::Assign => {
                // Deferred to the end of the step (see the module docs).
                self.assigns.push((inb[1], inb[0], layer.to_string()));
                self.value.insert(id, inb[0]);
                return Ok(());
            }
            TrainOp::Reshape { .. } => {
                self.value.insert(id, inb[0]);
                return Ok(());
            }
            _ => {}
        }
        if self.scaler.is_some()
            && matches!(
                t,
                TrainOp::SgdBuffer { .. }
                    | TrainOp::SgdStep { .. }
                    | TrainOp::AdamMoment { .. }
                    | TrainOp::AdamStep { .. }
            )
        {
            return Err(unsupported(
                "a mixed-precision step updates its parameters with the fused optimizer kernels only, which undo the loss scale and skip non-finite steps (drop --no-optimizer-fusion)".into(),
            ));
        }
        let out = out_of(self);
        self.value.insert(id, out);
        match t {
            TrainOp::BatchStats => {
                let x = dims(ins[0]);
                self.emit_reduction(
                    layer,
                    norm::train_kernel::batch_stats_lanes(
                        n,
                        x[0],
                        x[1],
                        x[2],
                        self.opts.subgroup_size,
                        self.elem(ins[0]),
                    ),
                    vec![inb[0]],
                    &[out],
                )
            }
            TrainOp::BatchNormTrain { eps, act } => {
                let x = dims(ins[0]);
                self.emit(
                    layer,
                    norm::train_kernel::batch_norm_train(
                        n,
                        x[0],
                        x[1],
                        x[2],
                        *eps,
                        *act,
                        self.elem(id),
                    ),
                    vec![inb[0], inb[1], inb[2], inb[3], out],
                )
            }
            TrainOp::RunningUpdate { momentum, row } => {
                let c = dims(ins[0])[0];
                self.emit(
                    layer,
                    norm::train_kernel::running_update(c, *momentum, *row as u32),
                    vec![inb[0], inb[1], out],
                )
            }
            TrainOp::ActivationGrad(a) => self.emit(
                layer,
                activation::kernel::activation_grad(elems(ins[0]), *a, self.elem(id)),
                vec![inb[0], inb[1], out],
            ),
            TrainOp::ActivationGradFromOutput(a) => self.emit(
                layer,
                activation::kernel::activation_grad_from_output(elems(ins[0]), *a, self.elem(id)),
                vec![inb[0], inb[1], out],
            ),
            TrainOp::Conv2dGradInput {
                window,
                groups,
                input_hw,
                accumulate,
            } => {
                let win = kernel_window(window).map_err(unsupported)?;
                let (dy, w) = (dims(ins[0]), dims(ins[1]));
                let params = Conv2dParams::new(
                    n,
                    w[1] * *groups as u32,
                    (input_hw[0] as u32, input_hw[1] as u32),
                    dy[0],
                    1,
                )
                .with_window(win)
                .with_groups(*groups as u32)
                .with_elem(self.elem(id))
                .with_accumulate(*accumulate);
                check_out_hw((params.out_h(), params.out_w()), &g.node(ins[0]).ty.dims);
                // One kernel, or one per stride phase, each writing its part of dx.
                let kernels = conv::grad_kernel::conv2d_grad_input(
                    &params,
                    &self.opts.tiling_for(ConvKind::GradInput, &params),
                )
                .map_err(|source| CodegenError::Kernel {
                    layer: layer.to_string(),
                    source,
                })?;
                // dy, w, then the accumulation's addend where there is one, then dx.
                let mut bufs = inb.to_vec();
                bufs.push(out);
                for k in kernels {
                    self.emit(layer, Ok(k), bufs.clone())?;
                }
                Ok(())
            }
            TrainOp::Conv2dGradWeight { window, groups } => {
                let win = kernel_window(window).map_err(unsupported)?;
                let (x, dy) = (dims(ins[0]), dims(ins[1]));
                let params = Conv2dParams::new(n, x[0], (x[1], x[2]), dy[0], 1)
                    .with_window(win)
                    .with_groups(*groups as u32)
                    .with_elem(self.elem(ins[0]));
                check_out_hw((params.out_h(), params.out_w()), &g.node(ins[1]).ty.dims);
                self.emit_reduction(
                    layer,
                    conv::grad_kernel::conv2d_grad_weight(
                        &params,
                        &self.opts.tiling_for(ConvKind::GradWeight, &params),
                    ),
                    vec![inb[0], inb[1]],
                    &[out],
                )
            }
            TrainOp::BiasGrad { .. } | TrainOp::BatchNormGradGamma { .. }
                if self.bn_pairs.first.contains_key(&id) =>
            {
                let pair = self.bn_pairs.first[&id];
                // This node's buffer exists; the other one's is made here, before its readers.
                let other = if pair.gamma == id {
                    pair.beta
                } else {
                    pair.gamma
                };
                let other_buf = self.activation(other);
                self.value.insert(other, other_buf);
                let (dgamma, dbeta) = (self.value[&pair.gamma], self.value[&pair.beta]);
                let crate::ir::Op::Train(TrainOp::BatchNormGradGamma { eps, act_grad }) =
                    g.node(pair.gamma).op
                else {
                    unreachable!("pairs start from batch_norm_grad_gamma");
                };
                let gamma_ins: Vec<BufferId> =
                    g.inputs(pair.gamma).iter().map(|i| self.value[i]).collect();
                let x = dims(g.inputs(pair.gamma)[0]);
                self.emit_reduction(
                    layer,
                    norm::train_kernel::bn_grad_params_lanes(
                        [n, x[0], x[1], x[2]],
                        eps,
                        act_grad,
                        self.opts.subgroup_size,
                        self.elem(g.inputs(pair.gamma)[0]),
                    ),
                    gamma_ins,
                    &[dgamma, dbeta],
                )
            }
            TrainOp::BiasGrad { act_grad } => {
                let dy = dims(ins[0]);
                let inner = dy[1..].iter().product::<u32>().max(1);
                self.emit_reduction(
                    layer,
                    reduce::bias_grad_lanes(
                        n,
                        dy[0],
                        inner,
                        *act_grad,
                        self.opts.subgroup_size,
                        self.elem(ins[0]),
                    ),
                    inb.to_vec(),
                    &[out],
                )
            }
            TrainOp::BatchNormGradGamma { eps, act_grad } => {
                let x = dims(ins[0]);
                self.emit_reduction(
                    layer,
                    norm::train_kernel::bn_grad_gamma(
                        n,
                        x[0],
                        x[1],
                        x[2],
                        *eps,
                        *act_grad,
                        self.elem(ins[0]),
                    ),
                    inb.to_vec(),
                    &[out],
                )
            }
            TrainOp::BatchNormGradInput {
                eps,
                act_grad,
                accumulate,
            } => {
                let x = dims(ins[0]);
                let mut bufs = inb.to_vec();
                bufs.push(out);
                self.emit(
                    layer,
                    norm::train_kernel::bn_grad_input(
                        n,
                        x[0],
                        x[1],
                        x[2],
                        *eps,
                        *act_grad,
                        *accumulate,
                        self.elem(id),
                    ),
                    bufs,
                )
            }
            TrainOp::MaxPool2dGrad(w) | TrainOp::AvgPool2dGrad { window: w, .. } => {
                let win = kernel_window(w).map_err(unsupported)?;
                let x = dims(id);
                let params = pool::Pool2dParams::new(n, x[0], (x[1], x[2]), 1, 1, 0)
                    .with_window(win)
                    .with_elem(self.elem(id));
                // dy is the last operand (max pooling's first is x).
                let dy = ins[ins.len() - 1];
                check_out_hw((params.out_h(), params.out_w()), &g.node(dy).ty.dims);
                match t {
                    TrainOp::MaxPool2dGrad(_) => {
                        let k = pool::grad_kernel::max_pool2d_grad(&params).map_err(|source| {
                            CodegenError::Kernel {
                                layer: layer.to_string(),
                                source,
                            }
                        })?;
                        // The forward pool stored the positions where it could (`pool_args`).
                        let arg = match self.pool_args.get(&(ins[0], *w)) {
                            Some(&arg) => arg,
                            None => {
                                let arg = self.buffer(
                                    format!("{layer}.argmax"),
                                    k.arg_len as usize,
                                    BufferRole::Activation,
                                );
                                self.emit(layer, Ok(k.argmax), vec![inb[0], arg])?;
                                arg
                            }
                        };
                        self.emit(layer, Ok(k.gather), vec![arg, inb[1], out])
                    }
                    _ => self.emit(
                        layer,
                        pool::grad_kernel::avg_pool2d_grad(&params),
                        vec![inb[0], out],
                    ),
                }
            }
            TrainOp::GlobalAvgPoolGrad { input_hw } => {
                let c = dims(ins[0])[0];
                self.emit(
                    layer,
                    pool::grad_kernel::global_avg_pool_grad(
                        n,
                        c,
                        input_hw[0] as u32,
                        input_hw[1] as u32,
                        self.elem(id),
                    ),
                    vec![inb[0], out],
                )
            }
            TrainOp::LinearGradInput => {
                let w = dims(ins[1]);
                self.emit(
                    layer,
                    crate::ops::linear::grad_kernel::linear_grad_input(
                        n,
                        w[1],
                        w[0],
                        self.elem(id),
                    ),
                    vec![inb[0], inb[1], out],
                )
            }
            TrainOp::LinearGradWeight => {
                let (x, dy) = (dims(ins[0]), dims(ins[1]));
                self.emit_reduction(
                    layer,
                    crate::ops::linear::grad_kernel::linear_grad_weight(
                        n,
                        x[0],
                        dy[0],
                        self.elem(ins[0]),
                    ),
                    vec![inb[0], inb[1]],
                    &[out],
                )
            }
            TrainOp::ChannelSlice { offset, channels } => {
                let x = dims(ins[0]);
                self.emit(
                    layer,
                    crate::ops::elementwise::grad_kernel::channel_slice(
                        n,
                        x[0],
                        x[1] * x[2],
                        *offset as u32,
                        *channels as u32,
                        self.elem(id),
                    ),
                    vec![inb[0], out],
                )
            }
            TrainOp::SoftmaxCrossEntropyGrad => {
                let k = dims(ins[0])[0];
                let elem = self.elem(ins[0]);
                let mut bufs = vec![inb[0], inb[1]];
                // f16 gradients start from the scaled loss (dynamic loss scaling).
                let scaled = elem == Elem::F16;
                if scaled {
                    bufs.push(self.loss_scaler());
                }
                bufs.push(out);
                self.emit(
                    layer,
                    crate::ops::loss::train_kernel::softmax_cross_entropy_grad(n, k, elem, scaled),
                    bufs,
                )
            }
            TrainOp::CorrectCount => {
                let k = dims(ins[0])[0];
                self.emit(
                    layer,
                    crate::ops::loss::train_kernel::correct_count(n, k, self.elem(ins[0])),
                    vec![inb[0], inb[1], out],
                )
            }
            TrainOp::SgdBuffer {
                momentum,
                weight_decay,
            } => self.emit(
                layer,
                optim::sgd_buffer(elems(ins[0]), *momentum, *weight_decay),
                vec![inb[0], inb[1], inb[2], out],
            ),
            TrainOp::SgdStep {
                momentum,
                weight_decay,
                nesterov,
            } => self.emit(
                layer,
                optim::sgd_step(elems(ins[0]), *momentum, *weight_decay, *nesterov),
                vec![inb[0], inb[1], inb[2], inb[3], out],
            ),
            TrainOp::AdamMoment { beta, square, l2 } => self.emit(
                layer,
                optim::adam_moment(elems(ins[0]), *beta, *square, *l2),
                vec![inb[0], inb[1], inb[2], out],
            ),
            TrainOp::AdamStep {
                beta1,
                beta2,
                eps,
                decoupled_wd,
            } => {
                let mut bufs = inb.to_vec();
                bufs.push(out);
                self.emit(
                    layer,
                    optim::adam_step(elems(ins[0]), *beta1, *beta2, *eps, *decoupled_wd),
                    bufs,
                )
            }
            TrainOp::Assign | TrainOp::Reshape { .. } => unreachable!("handled above"),
        }
    }

    /// A two-dispatch reduction through a fresh scratch buffer (its inputs are `inputs`, in
    /// binding order; the finish writes `outs`).
    fn emit_reduction(
        &mut self,
        layer: &str,
        r: Result<Reduction, KernelError>,
        inputs: Vec<BufferId>,
        outs: &[BufferId],
    ) -> Result<(), CodegenError> {
        let r = r.map_err(|source| CodegenError::Kernel {
            layer: layer.to_string(),
            source,
        })?;
        let scratch = self.buffer(
            format!("{layer}.scratch"),
            r.scratch_len as usize,
            BufferRole::Activation,
        );
        let mut first = inputs;
        first.push(scratch);
        self.emit(layer, Ok(r.partial), first)?;
        let finish = std::iter::once(scratch)
            .chain(outs.iter().copied())
            .collect();
        self.emit(layer, Ok(r.finish), finish)
    }

    /// Note the fused optimizer update anchored at `id` (the `Assign` into its parameter),
    /// if any; the other nodes it replaces lower to nothing.
    pub(super) fn defer_update(&mut self, id: NodeId) {
        let Some(u) = self.fusion.at.get(&id) else {
            return;
        };
        // `reads` is the gradient (or batch statistics) then the step's scalars.
        let (own_reads, shared) = u.reads.split_at(1);
        let own = own_reads
            .iter()
            .chain(&u.writes)
            .map(|i| self.value[i])
            .collect();
        let shared = shared.iter().map(|i| self.value[i]).collect();
        let len = self.len_of(u.writes[0]) as u64;
        let node = self.g.node(id);
        let layer = if node.path.is_empty() {
            node.op.name().to_string()
        } else {
            node.path.clone()
        };
        self.updates.push(DeferredUpdate {
            kind: u.kind,
            shared,
            own,
            len,
            layer,
        });
    }

    /// Emit the fused updates, after every other dispatch of the step (see `optim_fusion`
    /// for why that order keeps the unfused semantics). Consecutive optimizer updates with
    /// the same constants share a dispatch, as many as the device lets one kernel bind.
    pub(super) fn finish_updates(&mut self) -> Result<(), CodegenError> {
        // Updates are independent of each other (each writes only its own buffers), so they
        // may run in any order: like ones are brought together, in their original order.
        let mut updates: Vec<DeferredUpdate> = Vec::new();
        for u in std::mem::take(&mut self.updates) {
            let at = updates
                .iter()
                .rposition(|v| v.kind == u.kind && v.shared == u.shared)
                .map_or(updates.len(), |i| i + 1);
            updates.insert(at, u);
        }
        if let Some(scaler) = self.scaler {
            self.check_gradients(&updates, scaler)?;
        }
        let scaled = self.scaler.is_some();
        let mut rest = &updates[..];
        while let Some(first) = rest.first() {
            let per_param = first.own.len() as u32;
            let room = self
                .opts
                .max_storage_buffers
                .saturating_sub(first.shared.len() as u32);
            let most = match first.kind {
                // One batch norm per dispatch: its two statistics already share one.
                UpdateKind::Running { .. } => 1,
                _ => (room / per_param).clamp(1, MAX_PARAMS_PER_UPDATE) as usize,
            };
            let group = rest
                .iter()
                .take(most)
                .take_while(|u| u.kind == first.kind && u.shared == first.shared)
                .count();
            let (batch, tail) = rest.split_at(group);
            rest = tail;
            let lens: Vec<u64> = batch.iter().map(|u| u.len).collect();
            let kernel = match first.kind {
                UpdateKind::Sgd {
                    momentum,
                    weight_decay,
                    nesterov,
                } => optim::sgd_update(&lens, momentum, weight_decay, nesterov, scaled),
                UpdateKind::Adam {
                    betas,
                    eps,
                    l2,
                    decoupled_wd,
                } => optim::adam_update(&lens, betas, eps, l2, decoupled_wd, scaled),
                UpdateKind::Running { momentum, rows } => {
                    norm::train_kernel::running_update_pair(first.len as u32, momentum, rows)
                }
            };
            let optimizer = !matches!(first.kind, UpdateKind::Running { .. });
            let scaler = self.scaler.filter(|_| optimizer);
            let bufs = first
                .shared
                .iter()
                .chain(batch.iter().flat_map(|u| &u.own))
                .copied()
                .chain(scaler)
                .collect();
            let layer = match batch.len() {
                1 => first.layer.clone(),
                n => format!("{} (+{} more)", first.layer, n - 1),
            };
            self.emit(&layer, kernel, bufs)?;
        }
        if let Some(scaler) = self.scaler {
            self.finish_loss_scaling(scaler)?;
        }
        Ok(())
    }

    /// The loss scaler's state buffer, made on first use: a persistent `[4]` state kept with
    /// the parameters (see `ops::optim::loss_scale`), initialised from
    /// `Options::grad_scaler` when the parameters given to the device do not hold it.
    pub(super) fn loss_scaler(&mut self) -> BufferId {
        if let Some(b) = self.scaler {
            return b;
        }
        let name = LOSS_SCALER.to_string();
        let b = self.buffer(
            name.clone(),
            loss_scale::STATE_LEN,
            BufferRole::Param(name.clone()),
        );
        self.plan
            .param_shapes
            .insert(name.clone(), vec![loss_scale::STATE_LEN]);
        self.plan
            .initial_state
            .insert(name, self.opts.grad_scaler.initial_state());
        self.scaler = Some(b);
        b
    }

    /// Before the updates of a scaled step: flag the step if any parameter gradient holds
    /// an inf or a NaN, as many gradients per dispatch as the device lets a kernel bind.
    fn check_gradients(
        &mut self,
        updates: &[DeferredUpdate],
        scaler: BufferId,
    ) -> Result<(), CodegenError> {
        let grads: Vec<(BufferId, u64)> = updates
            .iter()
            .filter(|u| !matches!(u.kind, UpdateKind::Running { .. }))
            .map(|u| (u.own[0], u.len))
            .collect();
        let per_dispatch = (self.opts.max_storage_buffers.saturating_sub(1) as usize)
            .clamp(1, MAX_PARAMS_PER_UPDATE as usize);
        for batch in grads.chunks(per_dispatch) {
            let lens: Vec<u64> = batch.iter().map(|&(_, l)| l).collect();
            let bufs = batch.iter().map(|&(b, _)| b).chain([scaler]).collect();
            self.emit("loss_scale", loss_scale::grads_finite(&lens), bufs)?;
        }
        Ok(())
    }

    /// The step's last dispatch in a scaled step: the scale update, and the `skipped`
    /// output (1 when the step's updates were skipped), logged like the loss.
    fn finish_loss_scaling(&mut self, scaler: BufferId) -> Result<(), CodegenError> {
        let skipped = self.buffer(SKIPPED.into(), 1, BufferRole::Activation);
        self.emit(
            "loss_scale",
            loss_scale::loss_scale_update(&self.opts.grad_scaler),
            vec![scaler, skipped],
        )?;
        self.plan.outputs.push((SKIPPED.into(), skipped, vec![]));
        Ok(())
    }

    /// Copy every assigned value into its parameter buffer: the step's last dispatches
    /// (but for the fused optimizer updates).
    pub(super) fn finish_assigns(&mut self) -> Result<(), CodegenError> {
        for (value, target, layer) in std::mem::take(&mut self.assigns) {
            let len = self.plan.buffers[target.0].len as u32;
            // A plain copy is a one-input channel concat over a 1x1 plane.
            self.emit(
                &layer,
                crate::ops::elementwise::kernel::concat_channels(1, len, 1, 0, len, Elem::F32),
                vec![value, target],
            )?;
        }
        Ok(())
    }
}
