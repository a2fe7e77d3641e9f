//! Softmax and the loss: `softmax` (`torch.softmax(x, dim=1)`, an inference op), the mean
//! softmax cross-entropy (`F.cross_entropy`) every training graph ends in, its gradient with
//! respect to the logits (the seed of reverse mode, scaled in mixed precision) and the count of
//! correct predictions logged beside it. The members are `Op::{Softmax, SoftmaxCrossEntropy}`
//! and `TrainOp::{SoftmaxCrossEntropyGrad, CorrectCount}`, each over logits `[N,K]`. Everything
//! else about them lives here: the shape rules ([`shape`]), the CPU reference ([`reference`]),
//! the loss's backward rule ([`autodiff`]), softmax's kernel ([`kernel`]) and the training
//! kernels of the loss, its gradient and the count ([`train_kernel`]), rendering the `*.wgsl`
//! templates beside them, and ONNX export of softmax ([`onnx`]). The lowering in
//! `codegen::plan` / `codegen::train_plan` calls the kernels. Tested by `tests/ops/loss.rs`.

pub mod autodiff;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;
pub mod train_kernel;
