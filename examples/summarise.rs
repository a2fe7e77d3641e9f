//! Parse a model from a source string and print its Keras-style summary.
//!
//! Run with `cargo run --example summarise`.

use netc::diag::Sources;
use netc::pipeline;
use netc::summary::Summary;

const SOURCE: &str = r#"
// A small VGG-style network, written inline.
model TinyVgg(widths = [16, 32], num_classes = 10, act = relu) {
  input x: [3, 32, 32]
  for w in widths {
    x = x |> conv(w, k = 3, pad = 1) |> bn |> act |> max_pool(2)
  }
  return x |> global_avg_pool |> flatten |> linear(num_classes)
}
"#;

fn main() {
    let mut sources = Sources::new();
    // `--set`-style overrides work from the library too.
    let overrides = vec!["widths=[8, 16, 32]".to_string()];
    match pipeline::front_end_str(&mut sources, "tiny_vgg.net", SOURCE, &overrides) {
        Ok(model) => print!("{}", Summary::new(&model).to_table()),
        Err(diags) => {
            eprint!("{}", sources.render(&diags.0, false));
            std::process::exit(1);
        }
    }
}
