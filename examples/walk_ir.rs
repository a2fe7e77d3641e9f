//! Load `models/resnet.net`, walk its IR graph and list every convolution with its
//! parameter name, weight shape, output shape and cost.
//!
//! Run with `cargo run --example walk_ir`.

use netc::diag::Sources;
use netc::ir::Op;
use netc::pipeline;
use std::path::Path;

fn main() {
    let mut sources = Sources::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/resnet.net");
    let model = match pipeline::front_end(&mut sources, &path, &[]) {
        Ok(m) => m,
        Err(diags) => {
            eprint!("{}", sources.render(&diags.0, false));
            std::process::exit(1);
        }
    };
    let g = &model.graph;
    println!(
        "{:<36} {:<16} {:<16} {:>12}",
        "weight", "shape", "output", "MACs"
    );
    for id in g.node_ids() {
        let node = g.node(id);
        if let Op::Conv2d { .. } = node.op {
            // Operand 1 of a conv is its weight parameter.
            let weight = g.inputs(id)[1];
            println!(
                "{:<36} {:<16} {:<16} {:>12}",
                g.param_name(weight).unwrap_or_default(),
                g.node(weight).ty.to_string(),
                node.ty.to_string(),
                g.node_macs(id)
            );
        }
    }
    println!(
        "{} convolutions, {} trainable parameters in total",
        g.node_ids()
            .filter(|&id| matches!(g.node(id).op, Op::Conv2d { .. }))
            .count(),
        g.trainable_param_count()
    );
}
