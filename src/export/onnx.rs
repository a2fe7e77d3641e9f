//! The forward graph as an ONNX model (opset 17), each IR op lowered to standard operators.
//!
//! Values are named after the IR: graph inputs and outputs keep their `.net` names,
//! parameters become initializers named like netc's safetensors keys (e.g.
//! `res_block.3.conv1.weight`), and intermediate values are `%ID` (the IR node id), so that
//! an exported model can be read beside `netc compile --emit ir`.

use super::onnx_proto::*;
use crate::ir::{Activation, Graph, NodeId, Op, TensorType, Window};
use crate::ops::pool;
use crate::predict::Normalize;
use crate::tensor::TensorMap;
use prost::Message;

/// The ONNX operator set the exporter targets. 17 has every operator used here except
/// Gelu (opset 20), which is written as its Erf form.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
const IR_VERSION: i64 = 8;
/// The name of the symbolic batch dimension of `--batch dynamic`.
pub const BATCH_PARAM: &str = "N";

/// The batch dimension of the exported inputs and outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Fixed to this size.
    Fixed(usize),
    /// Symbolic ([`BATCH_PARAM`]): any size at run time.
    Dynamic,
}

impl Batch {
    /// Parses `--batch`: a positive count or `dynamic`.
    pub fn parse(s: &str) -> Result<Batch, String> {
        if s == "dynamic" {
            return Ok(Batch::Dynamic);
        }
        match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Batch::Fixed(n)),
            _ => Err(format!(
                "`{s}` is not a batch size: use a positive count or `dynamic`"
            )),
        }
    }
}

/// What to export besides the graph.
#[derive(Clone, Debug)]
pub struct Options {
    pub batch: Batch,
    /// Prepend `(x - mean) / std` per channel to the (single, image) input.
    pub normalize: Option<Normalize>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error("cannot export op `{op}` (node {node}{at}) to ONNX: {why}")]
    Unsupported {
        op: &'static str,
        node: NodeId,
        at: String,
        why: &'static str,
    },
    #[error("parameter `{0}` is missing from the weights")]
    MissingParam(String),
    #[error("parameter `{name}` has shape {got:?} in the weights, the model needs {want:?}")]
    ParamShape {
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    #[error("cannot export value {node} of type {ty}: {why}")]
    Type {
        node: NodeId,
        ty: TensorType,
        why: &'static str,
    },
    #[error("{0}")]
    Normalize(String),
    #[error("the graph has a cycle through node {0}")]
    Cycle(NodeId),
}

/// The ONNX model of `g` (a forward graph) with `params`, serialised.
pub fn to_onnx(g: &Graph, params: &TensorMap, opts: &Options) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder::new(g, opts.batch);
    b.lower(params, opts.normalize.as_ref())?;
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "netc".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("model {} exported by netc", g.name),
        graph: Some(GraphProto {
            node: b.nodes,
            name: g.name.clone(),
            initializer: b.initializers,
            input: b.inputs,
            output: b.outputs,
        }),
    };
    Ok(model.encode_to_vec())
}

/// Accumulates the ONNX graph while walking the IR in topological order.
struct Builder<'g> {
    g: &'g Graph,
    batch: Batch,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    /// ONNX value name of each IR node's result, indexed by node id.
    names: Vec<String>,
}

impl<'g> Builder<'g> {
    fn new(g: &'g Graph, batch: Batch) -> Builder<'g> {
        let size = g.node_ids().map(|id| id.index() + 1).max().unwrap_or(0);
        Builder {
            g,
            batch,
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            names: vec![String::new(); size],
        }
    }

    fn lower(
        &mut self,
        params: &TensorMap,
        normalize: Option<&Normalize>,
    ) -> Result<(), ExportError> {
        let g = self.g;
        let order = g.topo_order().map_err(ExportError::Cycle)?;
        if let Some(n) = normalize {
            let inputs = g.inputs_of_model();
            let &[only] = inputs.as_slice() else {
                return Err(ExportError::Normalize(format!(
                    "--with-normalize needs a model with one input, this one has {}",
                    inputs.len()
                )));
            };
            let c = g.node(only).ty.chw().map(|(c, _, _)| c);
            if c != Some(n.mean.len()) || n.mean.len() != n.std.len() {
                return Err(ExportError::Normalize(format!(
                    "the normalisation has {} means and {} stds, the model's input is {}",
                    n.mean.len(),
                    n.std.len(),
                    g.node(only).ty
                )));
            }
        }
        for id in order {
            let node = g.node(id);
            let mut operands = g.in_edges(id);
            operands.sort_by_key(|(_, e)| e.operand);
            let xs: Vec<String> = operands
                .iter()
                .map(|(src, _)| self.names[src.index()].clone())
                .collect();
            let out = format!("%{}", id.index());
            let name = match &node.op {
                Op::Input { name } => {
                    self.float_value(id)?;
                    self.inputs.push(self.value_info(name, &node.ty));
                    match normalize {
                        Some(n) => self.normalize(name, n),
                        None => name.clone(),
                    }
                }
                Op::Param { .. } => {
                    let name = g.param_name(id).unwrap_or_else(|| out.clone());
                    let t = params
                        .get(&name)
                        .ok_or_else(|| ExportError::MissingParam(name.clone()))?;
                    if t.dims != node.ty.dims {
                        return Err(ExportError::ParamShape {
                            name,
                            got: t.dims.clone(),
                            want: node.ty.dims.clone(),
                        });
                    }
                    self.initializer(&name, &t.dims, &t.data);
                    name
                }
                Op::Conv2d { groups, window, .. } => {
                    crate::ops::conv::onnx::conv2d(self, window, *groups, &xs, &out);
                    out
                }
                Op::BatchNorm { eps, act, .. } => {
                    let bn = format!("{out}.bn");
                    crate::ops::norm::onnx::batch_norm(self, *eps, &xs, &bn);
                    self.activation_or_rename(*act, &bn, out)
                }
                Op::Activation(a) => {
                    self.activation(*a, &xs[0], &out);
                    out
                }
                Op::MaxPool2d(w) => {
                    pool::onnx::max_pool2d(self, w, &xs, &out);
                    out
                }
                Op::AvgPool2d(w) => {
                    pool::onnx::avg_pool2d(self, w, &xs, &out);
                    out
                }
                Op::GlobalAvgPool => {
                    pool::onnx::global_avg_pool(self, &xs, &out);
                    out
                }
                Op::Flatten => {
                    crate::ops::linear::onnx::flatten(self, &xs, &out);
                    out
                }
                Op::Linear { .. } => {
                    crate::ops::linear::onnx::linear(self, &xs, &out);
                    out
                }
                Op::Add { act } => {
                    let sum = format!("{out}.sum");
                    crate::ops::elementwise::onnx::add(self, &xs, &sum);
                    self.activation_or_rename(*act, &sum, out)
                }
                Op::Concat => {
                    crate::ops::elementwise::onnx::concat(self, &xs, &out);
                    out
                }
                Op::Softmax => {
                    crate::ops::loss::onnx::softmax(self, &xs, &out);
                    out
                }
                Op::Output { name } => {
                    self.float_value(id)?;
                    self.node("Identity", &xs, name, vec![]);
                    self.outputs.push(self.value_info(name, &node.ty));
                    name.clone()
                }
                Op::SoftmaxCrossEntropy | Op::Train(_) => {
                    return Err(ExportError::Unsupported {
                        op: node.op.name(),
                        node: id,
                        at: if node.path.is_empty() {
                            String::new()
                        } else {
                            format!(", `{}`", node.path)
                        },
                        why: "it is an op of training graphs, and only inference graphs export",
                    });
                }
            };
            self.names[id.index()] = name;
        }
        Ok(())
    }

    /// Only f32 values have an ONNX type here (netc's inference graphs are f32 throughout).
    fn float_value(&self, id: NodeId) -> Result<(), ExportError> {
        let ty = &self.g.node(id).ty;
        if ty.dtype != crate::ir::DType::F32 {
            return Err(ExportError::Type {
                node: id,
                ty: ty.clone(),
                why: "only f32 model inputs and outputs are exported",
            });
        }
        Ok(())
    }

    fn value_info(&self, name: &str, ty: &TensorType) -> ValueInfoProto {
        let mut dim = Vec::new();
        if ty.batched {
            dim.push(Dimension {
                value: Some(match self.batch {
                    Batch::Fixed(n) => DimensionValue::DimValue(n as i64),
                    Batch::Dynamic => DimensionValue::DimParam(BATCH_PARAM.into()),
                }),
            });
        }
        dim.extend(ty.dims.iter().map(|&d| Dimension {
            value: Some(DimensionValue::DimValue(d as i64)),
        }));
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: FLOAT,
                    shape: Some(TensorShapeProto { dim }),
                }),
            }),
        }
    }

    fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
    }

    /// A scalar constant, shared by every node that uses it.
    fn scalar(&mut self, name: &str, value: f32) -> String {
        if !self.initializers.iter().any(|t| t.name == name) {
            self.initializer(name, &[], &[value]);
        }
        name.into()
    }

    fn node(
        &mut self,
        op_type: &str,
        inputs: &[String],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.to_vec(),
            output: vec![output.into()],
            name: format!("{op_type}_{output}"),
            op_type: op_type.into(),
            attribute,
        });
    }

    fn activation_or_rename(&mut self, act: Option<Activation>, x: &str, out: String) -> String {
        match act {
            Some(a) => {
                self.activation(a, x, &out);
                out
            }
            None => x.into(),
        }
    }

    fn activation(&mut self, a: Activation, x: &str, out: &str) {
        (a.def().onnx)(self, x.to_string(), out);
    }

    /// `(input - mean) / std` per channel; returns the normalised value's name.
    fn normalize(&mut self, input: &str, n: &Normalize) -> String {
        let c = n.mean.len();
        let mean = format!("{input}.normalize.mean");
        let std = format!("{input}.normalize.std");
        self.initializer(&mean, &[1, c, 1, 1], &n.mean);
        self.initializer(&std, &[1, c, 1, 1], &n.std);
        let centred = format!("{input}.centred");
        let out = format!("{input}.normalized");
        self.node("Sub", &[input.into(), mean], &centred, vec![]);
        self.node("Div", &[centred, std], &out, vec![]);
        out
    }
}

/// What an op family's ONNX lowering writes through (`crate::ops::activation::onnx`).
pub trait OnnxNodes {
    /// A node `op_type(inputs) -> output` with these float attributes.
    fn add_node(&mut self, op_type: &str, inputs: &[String], output: &str, floats: &[(&str, f32)]);
    /// A scalar f32 constant named `name`, shared by every node that uses it; returns its name.
    fn constant(&mut self, name: &str, value: f32) -> String;
    /// A node `op_type(inputs) -> output` over `window` (`kernel_shape`, `strides`, `pads`)
    /// with these integer attributes after the window's.
    fn add_window_node(
        &mut self,
        op_type: &str,
        inputs: &[String],
        output: &str,
        window: &Window,
        ints: &[(&str, i64)],
    );
    /// A node `op_type(inputs) -> output` with these integer attributes.
    fn add_int_node(
        &mut self,
        op_type: &str,
        inputs: &[String],
        output: &str,
        ints: &[(&str, i64)],
    );
}

impl OnnxNodes for Builder<'_> {
    fn add_node(&mut self, op_type: &str, inputs: &[String], output: &str, floats: &[(&str, f32)]) {
        let attributes = floats.iter().map(|&(n, f)| float(n, f)).collect();
        self.node(op_type, inputs, output, attributes);
    }

    fn constant(&mut self, name: &str, value: f32) -> String {
        self.scalar(name, value)
    }

    fn add_window_node(
        &mut self,
        op_type: &str,
        inputs: &[String],
        output: &str,
        window: &Window,
        ints: &[(&str, i64)],
    ) {
        let mut attributes = window_attrs(window);
        attributes.extend(ints.iter().map(|&(n, i)| int(n, i)));
        self.node(op_type, inputs, output, attributes);
    }

    fn add_int_node(
        &mut self,
        op_type: &str,
        inputs: &[String],
        output: &str,
        ints: &[(&str, i64)],
    ) {
        let attributes = ints.iter().map(|&(n, i)| int(n, i)).collect();
        self.node(op_type, inputs, output, attributes);
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f,
        ..Default::default()
    }
}

fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints,
        ..Default::default()
    }
}

/// `kernel_shape`, `strides` and `pads` (ONNX orders pads as all begins, then all ends).
fn window_attrs(w: &Window) -> Vec<AttributeProto> {
    let [ph, pw] = w.padding.map(|p| p as i64);
    vec![
        ints("kernel_shape", w.kernel.iter().map(|&k| k as i64).collect()),
        ints("strides", w.stride.iter().map(|&s| s as i64).collect()),
        ints("pads", vec![ph, pw, ph, pw]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Sources;

    const MODEL: &str = "model Tiny() {
  input x: [3, 4, 4]
  return x |> conv(2, k = 3, pad = 1) |> bn |> gelu |> global_avg_pool |> flatten |> linear(3) as head
}";

    fn decoded(batch: Batch) -> (ModelProto, Vec<String>) {
        let e = crate::pipeline::front_end_str(&mut Sources::new(), "tiny.net", MODEL, &[])
            .unwrap_or_else(|_| panic!("the test model compiles"));
        let params = crate::params::init(&e.graph, &e.recipe.init, 1);
        let opts = Options {
            batch,
            normalize: None,
        };
        let bytes = to_onnx(&e.graph, &params, &opts).unwrap();
        let names = params.keys().cloned().collect();
        (ModelProto::decode(bytes.as_slice()).unwrap(), names)
    }

    fn batch_dim(m: &ModelProto) -> Option<DimensionValue> {
        let g = m.graph.as_ref().unwrap();
        let ty = g.input[0].r#type.as_ref().unwrap();
        let shape = ty.tensor_type.as_ref().unwrap().shape.as_ref().unwrap();
        shape.dim[0].value.clone()
    }

    #[test]
    fn parameters_are_initializers_under_their_netc_names() {
        let (m, params) = decoded(Batch::Dynamic);
        assert_eq!(m.opset_import[0].version, OPSET);
        let g = m.graph.unwrap();
        let mut names: Vec<String> = g
            .initializer
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| !n.starts_with("netc.const."))
            .collect();
        names.sort();
        assert_eq!(names, params);
        assert!(names.contains(&"head.weight".to_string()), "{names:?}");
        // Gelu is the Erf decomposition: opset 17 has no Gelu.
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert!(ops.contains(&"Erf") && !ops.contains(&"Gelu"), "{ops:?}");
    }

    #[test]
    fn the_batch_dimension_is_symbolic_or_fixed() {
        let (dynamic, _) = decoded(Batch::Dynamic);
        assert_eq!(
            batch_dim(&dynamic),
            Some(DimensionValue::DimParam(BATCH_PARAM.into()))
        );
        let (fixed, _) = decoded(Batch::Fixed(4));
        assert_eq!(batch_dim(&fixed), Some(DimensionValue::DimValue(4)));
    }

    #[test]
    fn batch_parses_counts_and_dynamic_only() {
        assert_eq!(Batch::parse("dynamic"), Ok(Batch::Dynamic));
        assert_eq!(Batch::parse("8"), Ok(Batch::Fixed(8)));
        for bad in ["0", "-1", "N", ""] {
            assert!(Batch::parse(bad).is_err(), "{bad}");
        }
    }
}
