//! `netc summary`: a Keras-style table of layers — output shape, parameters and
//! multiply-accumulates per layer or top-level block — with totals and the recipe.

use crate::elab::{Elaborated, Value};
use crate::ir::{Graph, Op};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Layer {
    /// Layer path (`conv1`) or top-level block invocation (`res_block.3`).
    pub name: String,
    /// The op (`conv2d`) or the block's name (`ResBlock`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Output type, batch first (`[N,16,32,32]`).
    pub output: String,
    pub params: u64,
    pub macs: u64,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub model: String,
    /// Trainable parameters (PyTorch's `sum(p.numel() for p in model.parameters())`).
    pub params: u64,
    /// Elements of non-trainable state (BN running statistics).
    pub buffers: u64,
    /// Forward multiply-accumulates per example (convs and linear layers).
    pub macs: u64,
    pub layers: Vec<Layer>,
    pub hparams: serde_json::Map<String, serde_json::Value>,
    pub recipe: crate::elab::Recipe,
}

impl Summary {
    pub fn new(e: &Elaborated) -> Summary {
        let g = &e.graph;
        Summary {
            model: g.name.clone(),
            params: g.trainable_param_count(),
            buffers: g
                .node_ids()
                .filter(|&id| matches!(g.node(id).op, Op::Param { role } if !role.trainable()))
                .map(|id| g.node(id).ty.numel() as u64)
                .fold(0, u64::saturating_add),
            macs: g.macs(),
            layers: layers(g),
            hparams: e
                .hparams
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
            recipe: e.recipe.clone(),
        }
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Model: {}", self.model);
        let w_name = self
            .layers
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let w_kind = self
            .layers
            .iter()
            .map(|l| l.kind.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_out = self
            .layers
            .iter()
            .map(|l| l.output.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let header = format!(
            "{:<w_name$}  {:<w_kind$}  {:<w_out$}  {:>10}  {:>13}",
            "Layer", "Type", "Output", "Params", "MACs"
        );
        let rule = "─".repeat(header.chars().count());
        let _ = writeln!(out, "{rule}\n{header}\n{rule}");
        for l in &self.layers {
            let _ = writeln!(
                out,
                "{:<w_name$}  {:<w_kind$}  {:<w_out$}  {:>10}  {:>13}",
                l.name,
                l.kind,
                l.output,
                group(l.params),
                group(l.macs)
            );
        }
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(out, "Trainable params:  {}", group(self.params));
        let _ = writeln!(
            out,
            "Buffers:           {} (batch-norm running statistics)",
            group(self.buffers)
        );
        let _ = writeln!(out, "MACs per example:  {}", group(self.macs));
        let hp: Vec<String> = self
            .hparams
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let _ = writeln!(out, "Hyper-parameters:  {}", hp.join(", "));
        let r = &self.recipe;
        let _ = writeln!(out, "Training recipe:");
        let _ = writeln!(out, "  optimizer       {}", json_inline(&r.optimizer));
        let _ = writeln!(out, "  schedule        {}", json_inline(&r.schedule));
        let _ = writeln!(
            out,
            "  epochs, batch   {} epochs of batch {} (warm-up {})",
            r.epochs, r.batch, r.warmup_epochs
        );
        let aug: Vec<String> = r.augment.iter().map(json_inline).collect();
        let _ = writeln!(
            out,
            "  augment         {}",
            if aug.is_empty() {
                "none".into()
            } else {
                aug.join(", ")
            }
        );
        let _ = writeln!(out, "  init            {}", json_inline(&r.init));
        let _ = writeln!(
            out,
            "  validation      {} images held out, seed {}",
            r.val_size, r.seed
        );
        if r.early_stopping > 0 {
            let _ = writeln!(
                out,
                "  early stopping  after {} epochs without improvement",
                r.early_stopping
            );
        }
        if r.precision == crate::ir::Precision::Mixed {
            let _ = writeln!(
                out,
                "  precision       mixed: f16 activations and gradients, f32 master weights, dynamic loss scaling"
            );
        }
        out
    }
}

/// One row per model-level op and per top-level block invocation, in graph order.
fn layers(g: &Graph) -> Vec<Layer> {
    // Top-level invocations: those not nested inside another invocation.
    let top: Vec<&crate::ir::BlockCall> = g
        .calls
        .iter()
        .filter(|c| {
            !g.calls
                .iter()
                .any(|o| o.path != c.path && c.path.starts_with(&format!("{}.", o.path)))
        })
        .collect();
    let mut rows: Vec<Layer> = Vec::new();
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
    for id in order {
        let n = g.node(id);
        if matches!(n.op, Op::Output { .. }) {
            continue;
        }
        let call = top
            .iter()
            .find(|c| n.scope == c.path || n.scope.starts_with(&format!("{}.", c.path)));
        let (name, kind) = match call {
            Some(c) => (c.path.clone(), c.block.clone()),
            None => (n.path.clone(), n.op.name().to_string()),
        };
        let idx = match rows.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                rows.push(Layer {
                    name,
                    kind,
                    output: String::new(),
                    params: 0,
                    macs: 0,
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[idx];
        match n.op {
            Op::Param { role } => {
                if role.trainable() {
                    row.params = row.params.saturating_add(n.ty.numel() as u64);
                }
            }
            ref op => {
                // A model-level layer's row is created by its first parameter; name it by the op.
                if call.is_none() {
                    row.kind = op.name().to_string();
                }
                row.output = n.ty.to_string();
                row.macs = row.macs.saturating_add(g.node_macs(id));
            }
        }
    }
    rows
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Int(i) => (*i).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Bool(b) => (*b).into(),
        Value::Str(s) => s.clone().into(),
        Value::List(items) => items.iter().map(to_json).collect(),
        Value::Record(entries) => entries
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.to_string().into(),
    }
}

fn json_inline<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
