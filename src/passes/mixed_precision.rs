//! Mixed precision: stores every activation and every activation's gradient as f16.
//!
//! The pass changes the element type of the graph's batched float inputs (the images) to
//! f16 and re-derives every value's type in topological order with [`Op::infer`], whose one
//! element-type rule does the rest: a batched float result is stored like its first batched
//! float operand, so every activation of the forward pass and every gradient flowing back
//! through them becomes f16, while unbatched values — parameters, their gradients, batch
//! statistics, the loss, optimizer state — stay f32 (PyTorch autocast's split, with f32
//! master weights). Nothing else changes: the ops, and so the arithmetic, are the same;
//! kernels read f16 values into f32, compute and accumulate in f32, and round once when
//! they store (`codegen::kernels::Elem`). Dynamic loss scaling, which keeps small f16
//! gradients from flushing to zero, is part of lowering (`plan::Options::loss_scaling`).

use super::Config;
use crate::ir::{DType, Graph, Op, Precision};

pub fn run(g: &mut Graph, config: &Config) {
    if config.precision != Precision::Mixed {
        return;
    }
    let order = g
        .topo_order()
        .expect("passes run on verified, acyclic graphs");
    for id in order {
        let node = g.node(id);
        let ty = match &node.op {
            Op::Input { .. } if node.ty.batched && node.ty.dtype == DType::F32 => {
                let mut ty = node.ty.clone();
                ty.dtype = DType::F16;
                ty
            }
            Op::Input { .. } | Op::Param { .. } => continue,
            op => {
                let edges = g.in_edges(id);
                let operands: Vec<_> = edges.iter().map(|(_, e)| &e.ty).collect();
                op.infer(&operands)
                    .expect("a verified graph's ops accept f16 wherever they accept f32")
            }
        };
        if ty != g.node(id).ty {
            g.retype(id, ty);
        }
    }
}
