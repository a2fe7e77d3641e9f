//! Graphviz DOT output (`netc graph`): one node per op, block invocations as nested
//! clusters, parameters folded into their op's label so the picture stays readable.

use super::graph::Graph;
use super::ops::Op;
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn to_dot(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&g.name));
    out.push_str("  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f5f5f5\", fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");

    // Group the drawn nodes by scope, then emit the scope tree as nested clusters.
    let mut by_scope: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in g.node_ids() {
        let node = g.node(id);
        if matches!(node.op, Op::Param { .. }) {
            continue;
        }
        let params: Vec<String> = g
            .inputs(id)
            .into_iter()
            .filter(|&i| matches!(g.node(i).op, Op::Param { .. }))
            .map(|i| {
                format!(
                    "{} {}",
                    g.node(i).ty,
                    g.param_name(i)
                        .unwrap_or_default()
                        .rsplit('.')
                        .next()
                        .unwrap_or("")
                )
            })
            .collect();
        let mut label = format!("{}\\n{}", escape(&node.op.to_string()), node.ty);
        if !node.path.is_empty() {
            label = format!("{}\\n{label}", escape(&node.path));
        }
        for p in params {
            label.push_str(&format!("\\n{}", escape(&p)));
        }
        let fill = match node.op {
            Op::Input { .. } | Op::Output { .. } => "#d0e4ff",
            Op::Conv2d { .. } | Op::Linear { .. } => "#ffe2b8",
            _ => "#f5f5f5",
        };
        by_scope
            .entry(node.scope.clone())
            .or_default()
            .push(format!(
                "n{} [label=\"{label}\", fillcolor=\"{fill}\"];",
                id.index()
            ));
    }
    let scopes: Vec<String> = by_scope.keys().cloned().collect();
    emit_scope(&mut out, "", &scopes, &by_scope, 1);

    for id in g.node_ids() {
        for (src, e) in g.in_edges(id) {
            if matches!(g.node(src).op, Op::Param { .. }) {
                continue;
            }
            let _ = writeln!(
                out,
                "  n{} -> n{} [label=\"{}\"];",
                src.index(),
                id.index(),
                e.ty
            );
        }
    }
    out.push_str("}\n");
    out
}

/// Emit `scope`'s nodes, then each direct child scope as a cluster.
fn emit_scope(
    out: &mut String,
    scope: &str,
    all: &[String],
    nodes: &BTreeMap<String, Vec<String>>,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    for n in nodes.get(scope).into_iter().flatten() {
        let _ = writeln!(out, "{pad}{n}");
    }
    for child in all.iter().filter(|s| is_direct_child(scope, s, all)) {
        let _ = writeln!(out, "{pad}subgraph \"cluster_{}\" {{", escape(child));
        let _ = writeln!(
            out,
            "{pad}  label=\"{}\"; style=rounded; color=\"#888888\";",
            escape(child)
        );
        emit_scope(out, child, all, nodes, depth + 1);
        let _ = writeln!(out, "{pad}}}");
    }
}

/// `child` is nested in `parent` with no other known scope in between.
fn is_direct_child(parent: &str, child: &str, all: &[String]) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner != outer && (outer.is_empty() || inner.starts_with(&format!("{outer}.")))
    };
    inside(parent, child)
        && !all
            .iter()
            .any(|mid| inside(parent, mid) && inside(mid, child))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
