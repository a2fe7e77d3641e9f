//! The IR's text form (`netc compile --emit ir`).
//!
//! One line per node in topological order, numbered afresh from `%0` so the text is
//! stable under node removal:
//! `%7 = conv2d[16 k=3x3 s=1x1 p=1x1 no_bias](%5, %6) : [N,16,32,32]  # res_block.0.conv1`.
//! Parameters print their full checkpoint name. Snapshot tests pin this format.

use super::graph::{Graph, NodeId};
use super::ops::Op;
use std::collections::HashMap;
use std::fmt::Write;

pub fn print_graph(g: &Graph) -> String {
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
    let number: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "graph {} {{  // {} nodes, {} trainable parameters, {} MACs per example",
        g.name,
        g.node_count(),
        g.trainable_param_count(),
        g.macs()
    );
    for &id in &order {
        let node = g.node(id);
        let lhs = format!("%{}", number[&id]);
        let rhs = match &node.op {
            Op::Param { .. } => format!("param \"{}\"", g.param_name(id).unwrap_or_default()),
            op => {
                let args: Vec<String> = g
                    .inputs(id)
                    .iter()
                    .map(|i| format!("%{}", number[i]))
                    .collect();
                if args.is_empty() {
                    op.to_string()
                } else {
                    format!("{op}({})", args.join(", "))
                }
            }
        };
        let _ = write!(out, "  {lhs} = {rhs} : {}", node.ty);
        if !matches!(node.op, Op::Param { .. }) && !node.path.is_empty() {
            let _ = write!(out, "  # {}", node.path);
        }
        out.push('\n');
    }
    out.push_str("}\n");
    out
}
