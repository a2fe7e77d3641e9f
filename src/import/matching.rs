//! Which PyTorch tensor is which netc parameter: structure and shapes, no names.
//!
//! PyTorch and netc name the same layer differently (`blocks.3.net.0` is netc's
//! `res_block.3.conv1`), so names are used only for their structure. Both sides are cut into
//! *layers*: the tensors of one module (a conv's `weight` and `bias`; a batch norm's
//! `weight`, `bias`, `running_mean` and `running_var`). netc's layers come in graph order,
//! which follows the source. PyTorch's form a module tree (the key's dotted prefixes);
//! visiting it depth-first gives PyTorch's definition order, which is netc's order for a
//! model written the same way.
//!
//! A visit need not take a module's children in the file's order: children with numeric
//! names (`Sequential`, `ModuleList`) keep their numeric order, but named children
//! (`self.net`, `self.downsample`) may be taken in any order, since a PyTorch module may
//! define them in another order than its `forward` uses them, and a safetensors file sorts
//! them by name. The search tries the file's order first and every other order after it,
//! and keeps an assignment where each PyTorch layer fits its netc layer: the same tensor
//! suffixes with the same shapes.
//!
//! * The file's own order is taken when it fits and the file keeps definition order
//!   (`.pt`, `.ckpt`).
//! * Otherwise the fit must be unique: when two different assignments fit (a safetensors
//!   GoogleNet whose 1x1 branch and pool branch have one shape), nothing decides between
//!   them, and the error names the tensors so that `--map` can pin them.
//! * When nothing fits, the error names the first tensor that does not: the deepest point
//!   any visit reached.

use super::ImportError;
use std::collections::HashMap;

/// A netc layer: the parameters of one op, as (full name, suffix, shape).
#[derive(Clone, Debug)]
pub struct Layer {
    pub path: String,
    pub tensors: Vec<(String, String, Vec<usize>)>,
}

/// Cut named tensors (in order) into layers by their module path.
pub fn layers(tensors: &[(String, Vec<usize>)]) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (name, dims) in tensors {
        let (path, suffix) = name.rsplit_once('.').unwrap_or(("", name));
        let i = *index.entry(path.to_string()).or_insert_with(|| {
            out.push(Layer {
                path: path.to_string(),
                tensors: Vec::new(),
            });
            out.len() - 1
        });
        out[i]
            .tensors
            .push((name.clone(), suffix.to_string(), dims.clone()));
    }
    out
}

/// A module of the PyTorch tree: its own layer (if it holds tensors) and its children.
struct Module {
    own: Option<usize>,
    children: Vec<usize>,
    /// Numeric child names: the order is the numbers', never permuted.
    fixed: bool,
}

/// Search steps before giving up: far more than any model's search takes (a seed model
/// takes a few hundred), few enough to answer at once when a model is hopeless.
const STEP_LIMIT: usize = 200_000;

/// For each netc layer, the index of the PyTorch layer assigned to it.
pub fn assign(
    netc: &[Layer],
    torch: &[Layer],
    definition_order: bool,
    path: &str,
) -> Result<Vec<usize>, ImportError> {
    let modules = tree(torch, definition_order);
    let mut s = Search {
        netc,
        torch,
        modules: &modules,
        assigned: Vec::new(),
        solutions: Vec::new(),
        stop_at_first: definition_order,
        steps: 0,
        deepest: None,
    };
    s.dfs(vec![Task::Module(0)], false);
    if s.steps > STEP_LIMIT {
        return Err(ImportError::Undecided {
            path: path.into(),
            message:
                "too many orders of the PyTorch modules fit in part; pin some layers with --map"
                    .into(),
        });
    }
    match s.solutions.as_slice() {
        [] => Err(s.failure(path)),
        [(only, _)] => Ok(only.clone()),
        [(a, _), (b, _), ..] => {
            let i = (0..netc.len())
                .find(|&i| a[i] != b[i])
                .expect("two solutions differ");
            let (ta, tb) = (&torch[a[i]], &torch[b[i]]);
            Err(ImportError::Undecided {
                path: path.into(),
                message: format!(
                    "both PyTorch `{}` and `{}` fit netc's `{}` (same tensors, same shapes), and the file's order {}; pin one with --map, e.g. {{\"{}\": \"{}\"}}",
                    ta.path,
                    tb.path,
                    netc[i].path,
                    if definition_order {
                        "does not fit the model"
                    } else {
                        "is not the model's (safetensors sorts names)"
                    },
                    ta.path,
                    netc[i].path
                ),
            })
        }
    }
}

/// The module tree of PyTorch's layers; module 0 is the root.
fn tree(torch: &[Layer], definition_order: bool) -> Vec<Module> {
    let mut modules = vec![Module {
        own: None,
        children: Vec::new(),
        fixed: false,
    }];
    let mut names: Vec<String> = vec![String::new()];
    let mut by_path: HashMap<String, usize> = HashMap::from([(String::new(), 0)]);
    for (li, layer) in torch.iter().enumerate() {
        let mut parent = 0;
        let mut path = String::new();
        for part in layer.path.split('.').filter(|p| !p.is_empty()) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
            parent = match by_path.get(&path) {
                Some(&m) => m,
                None => {
                    modules.push(Module {
                        own: None,
                        children: Vec::new(),
                        fixed: false,
                    });
                    names.push(part.to_string());
                    let m = modules.len() - 1;
                    modules[parent].children.push(m);
                    by_path.insert(path.clone(), m);
                    m
                }
            };
        }
        modules[parent].own = Some(li);
    }
    for module in &mut modules {
        let mut children = std::mem::take(&mut module.children);
        let numbers: Option<Vec<u64>> = children.iter().map(|&c| names[c].parse().ok()).collect();
        if let Some(numbers) = numbers {
            let mut keyed: Vec<(u64, usize)> = numbers.into_iter().zip(children).collect();
            keyed.sort();
            children = keyed.into_iter().map(|(_, c)| c).collect();
            module.fixed = true;
        } else if !definition_order {
            children.sort_by(|&a, &b| names[a].cmp(&names[b]));
        }
        module.children = children;
    }
    modules
}

#[derive(Clone, Debug)]
enum Task {
    Layer(usize),
    Module(usize),
    /// Any remaining child next, preferred in this order.
    Choose(Vec<usize>),
}

/// Where a visit stopped: netc layer index and what failed there.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// PyTorch layer `t` does not fit netc layer `p`.
    Mismatch { p: usize, t: usize },
    /// netc layer `p` is left over: the file has no more layers.
    Missing { p: usize },
    /// PyTorch layer `t` is left over: netc has no more parameters.
    Extra { p: usize, t: usize },
}

impl Failure {
    fn depth(self) -> usize {
        match self {
            Failure::Mismatch { p, .. } | Failure::Missing { p } | Failure::Extra { p, .. } => p,
        }
    }
}

struct Search<'a> {
    netc: &'a [Layer],
    torch: &'a [Layer],
    modules: &'a [Module],
    assigned: Vec<usize>,
    /// Complete assignments, and whether each took children out of the file's order.
    solutions: Vec<(Vec<usize>, bool)>,
    stop_at_first: bool,
    steps: usize,
    deepest: Option<Failure>,
}

impl Search<'_> {
    fn done(&self) -> bool {
        self.steps > STEP_LIMIT
            || self.solutions.len() >= 2
            || (self.stop_at_first
                && self
                    .solutions
                    .first()
                    .is_some_and(|(_, reordered)| !reordered))
    }

    fn fail(&mut self, f: Failure) {
        if self.deepest.is_none_or(|d| f.depth() > d.depth()) {
            self.deepest = Some(f);
        }
    }

    fn dfs(&mut self, mut tasks: Vec<Task>, reordered: bool) {
        if self.done() {
            return;
        }
        self.steps += 1;
        let p = self.assigned.len();
        let Some(task) = tasks.pop() else {
            if p == self.netc.len() {
                self.solutions.push((self.assigned.clone(), reordered));
            } else {
                self.fail(Failure::Missing { p });
            }
            return;
        };
        match task {
            Task::Layer(t) => {
                if p == self.netc.len() {
                    self.fail(Failure::Extra { p, t });
                } else if fits(&self.torch[t], &self.netc[p]) {
                    self.assigned.push(t);
                    self.dfs(tasks, reordered);
                    self.assigned.pop();
                } else {
                    self.fail(Failure::Mismatch { p, t });
                }
            }
            Task::Module(m) => {
                let module = &self.modules[m];
                if module.fixed {
                    tasks.extend(module.children.iter().rev().map(|&c| Task::Module(c)));
                } else if !module.children.is_empty() {
                    tasks.push(Task::Choose(module.children.clone()));
                }
                if let Some(own) = module.own {
                    tasks.push(Task::Layer(own));
                }
                self.dfs(tasks, reordered);
            }
            Task::Choose(remaining) => {
                for (i, &c) in remaining.iter().enumerate() {
                    let mut next = tasks.clone();
                    let mut rest = remaining.clone();
                    rest.remove(i);
                    if !rest.is_empty() {
                        next.push(Task::Choose(rest));
                    }
                    next.push(Task::Module(c));
                    self.dfs(next, reordered || i > 0);
                    if self.done() {
                        return;
                    }
                }
            }
        }
    }

    /// The error for the deepest point any visit reached.
    fn failure(&self, path: &str) -> ImportError {
        let path = path.to_string();
        match self.deepest {
            Some(Failure::Mismatch { p, t }) => {
                let (theirs, ours) = (&self.torch[t], &self.netc[p]);
                // The first PyTorch tensor without a same-suffix, same-shape netc tensor.
                for (name, suffix, dims) in &theirs.tensors {
                    match ours.tensors.iter().find(|(_, s, _)| s == suffix) {
                        Some((netc_name, _, want)) if want != dims => {
                            return ImportError::Shape {
                                path,
                                name: name.clone(),
                                got: dims.clone(),
                                netc: netc_name.clone(),
                                want: want.clone(),
                            };
                        }
                        None => {
                            return ImportError::NoCounterpart {
                                path,
                                name: name.clone(),
                                dims: dims.clone(),
                                netc: ours.path.clone(),
                                has: describe(ours),
                            };
                        }
                        Some(_) => {}
                    }
                }
                // Every PyTorch tensor fits: netc's layer has one more.
                let (name, _, dims) = ours
                    .tensors
                    .iter()
                    .find(|(_, s, _)| !theirs.tensors.iter().any(|(_, ts, _)| ts == s))
                    .expect("layers that do not fit differ in some tensor");
                ImportError::Missing {
                    path,
                    netc: name.clone(),
                    dims: dims.clone(),
                    near: format!("PyTorch's `{}` has only {}", theirs.path, describe(theirs)),
                }
            }
            Some(Failure::Missing { p }) => {
                let (name, _, dims) = &self.netc[p].tensors[0];
                ImportError::Missing {
                    path,
                    netc: name.clone(),
                    dims: dims.clone(),
                    near: "the file has no tensors left for it".into(),
                }
            }
            Some(Failure::Extra { t, .. }) => {
                let (name, _, dims) = &self.torch[t].tensors[0];
                ImportError::Extra {
                    path,
                    name: name.clone(),
                    dims: dims.clone(),
                }
            }
            None => ImportError::Undecided {
                path,
                message: "no assignment was tried".into(),
            },
        }
    }
}

/// Same suffixes, same shapes.
fn fits(theirs: &Layer, ours: &Layer) -> bool {
    theirs.tensors.len() == ours.tensors.len()
        && ours.tensors.iter().all(|(_, suffix, dims)| {
            theirs
                .tensors
                .iter()
                .any(|(_, s, d)| s == suffix && d == dims)
        })
}

/// `weight [16, 3, 3, 3], bias [16]`.
fn describe(l: &Layer) -> String {
    l.tensors
        .iter()
        .map(|(_, s, d)| format!("{s} {d:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
