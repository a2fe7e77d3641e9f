//! A restricted unpickler: reads the pickles `torch.save` writes, and nothing that could
//! run code.
//!
//! Python's pickle is a small stack machine whose `GLOBAL` opcode imports any callable and
//! whose `REDUCE` calls it: loading an untrusted pickle with Python runs whatever it names
//! (`os.system` included). This machine never imports or calls anything. It knows the few
//! globals `torch.save` emits for a state dict — the tensor rebuild functions, the typed
//! storage classes, `collections.OrderedDict` and the dtype objects — and treats each as
//! data; any other global, and the opcodes that build arbitrary objects (`INST`, `OBJ`,
//! `NEWOBJ` of an unknown class, the extension registry), stop the load with an error that
//! names it, before anything else is read. This is the set `torch.load(weights_only=True)`
//! accepts for state dicts, and Lightning's `AttributeDict` (a plain dict of
//! hyper-parameters in its checkpoints).
//!
//! Storages are persistent ids (`BINPERSID`): the pickle holds only
//! `('storage', <StorageClass>, key, location, numel)`, and the bytes live beside it in the
//! archive (`data/<key>`); [`Value::Tensor`] records where its elements are.
//!
//! serde-pickle (the maintained Rust pickle crate) keeps neither the names of globals nor
//! persistent ids, so it cannot rebuild torch tensors; hence this file.

use std::collections::HashMap;

/// An element type of a torch storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageDtype {
    F32,
    F16,
    BF16,
    F64,
    /// Integer and bool storages (`num_batches_tracked` is int64): read but never converted.
    Other(&'static str),
}

impl StorageDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageDtype::F32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 => 2,
            StorageDtype::F64 => 8,
            StorageDtype::Other(name) => match name {
                "int64" => 8,
                "int32" => 4,
                "int16" => 2,
                _ => 1,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StorageDtype::F32 => "float32",
            StorageDtype::F16 => "float16",
            StorageDtype::BF16 => "bfloat16",
            StorageDtype::F64 => "float64",
            StorageDtype::Other(name) => name,
        }
    }

    /// The dtype named by a torch storage class (`FloatStorage`) or dtype object (`float32`).
    fn from_torch_name(name: &str) -> Option<StorageDtype> {
        Some(match name {
            "FloatStorage" | "float32" | "float" => StorageDtype::F32,
            "HalfStorage" | "float16" | "half" => StorageDtype::F16,
            "BFloat16Storage" | "bfloat16" => StorageDtype::BF16,
            "DoubleStorage" | "float64" | "double" => StorageDtype::F64,
            "LongStorage" | "int64" | "long" => StorageDtype::Other("int64"),
            "IntStorage" | "int32" | "int" => StorageDtype::Other("int32"),
            "ShortStorage" | "int16" | "short" => StorageDtype::Other("int16"),
            "CharStorage" | "int8" => StorageDtype::Other("int8"),
            "ByteStorage" | "uint8" => StorageDtype::Other("uint8"),
            "BoolStorage" | "bool" => StorageDtype::Other("bool"),
            _ => return None,
        })
    }
}

/// Where a tensor's elements are: a storage in the archive and a strided view of it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// The storage's key: its bytes are the archive's `data/<key>`.
    pub key: String,
    pub dtype: StorageDtype,
    /// The storage's length in elements, as the pickle declares it.
    pub storage_numel: usize,
    /// Offset of the first element, in elements.
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// A callable `torch.save` emits, treated as data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Global {
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    OrderedDict,
    /// A dict subclass that holds plain data (Lightning's `AttributeDict`).
    DictClass,
    /// `_codecs.encode`, how protocol 2 writes `bytes`.
    Encode,
    Storage(StorageDtype),
    Dtype(StorageDtype),
}

/// An unpickled value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Entries in insertion order (an `OrderedDict` or a `dict`, whose order Python keeps).
    Dict(Vec<(Value, Value)>),
    Global(Global),
    /// A storage persistent id, before a rebuild function turns it into a tensor.
    Storage {
        key: String,
        dtype: StorageDtype,
        numel: usize,
    },
    Tensor(TensorRef),
}

/// Why a pickle was not read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    #[error(
        "the pickle imports `{0}`, which a state dict never needs; netc refuses pickles that could run code (only the globals torch.save writes for tensors are read)"
    )]
    ForbiddenGlobal(String),
    #[error(
        "the pickle uses opcode {name} (0x{code:02x}) at byte {pos}, which builds arbitrary objects; netc refuses pickles that could run code"
    )]
    ForbiddenOpcode {
        name: &'static str,
        code: u8,
        pos: usize,
    },
    #[error("unsupported pickle opcode 0x{code:02x} at byte {pos} (torch.save does not write it)")]
    UnknownOpcode { code: u8, pos: usize },
    #[error("the pickle ends at byte {0}, inside an opcode (the file is truncated)")]
    Truncated(usize),
    #[error("malformed pickle at byte {pos}: {message}")]
    Malformed { pos: usize, message: String },
}

/// Unpickle `bytes`, refusing anything but plain data and torch tensors.
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    Machine {
        bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    }
    .run()
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack heights at each `MARK` (Python's metastack).
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Values copied out of the memo so far.
    copied: usize,
}

/// Containers nest at most this deep (a checkpoint nests a few levels), so that nothing
/// recursive over a value — comparing, cloning, dropping — can exhaust the stack.
const MAX_DEPTH: usize = 100;

/// Values that memo references may copy in all (a state dict's references are to small
/// values: globals, strings, the empty hooks dict).
const COPY_BUDGET: usize = 1_000_000;

/// Refuse items that would make a container deeper than [`MAX_DEPTH`]. Every container is
/// checked when it is built, so this recursion is itself bounded by `MAX_DEPTH`.
fn check_depth(items: &[Value], at: usize) -> Result<(), PickleError> {
    if items.iter().any(|v| depth(v) >= MAX_DEPTH) {
        return Err(PickleError::Malformed {
            pos: at,
            message: format!("containers nest deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::List(items) | Value::Tuple(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Dict(items) => {
            1 + items
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fn nodes(v: &Value) -> usize {
    match v {
        Value::List(items) | Value::Tuple(items) => 1 + items.iter().map(nodes).sum::<usize>(),
        Value::Dict(items) => {
            1 + items
                .iter()
                .map(|(k, v)| nodes(k) + nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl Machine<'_> {
    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?; // PROTO n
                }
                0x95 => {
                    self.take(8)?; // FRAME length: a hint for buffered readers
                }
                b'.' => return self.pop(at), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                0x8f => self.stack.push(Value::List(Vec::new())), // EMPTY_SET, kept as a list
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.take(1)?[0];
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    let n = self.take(1)?[0] as usize;
                    let v = long(self.take(n)?)
                        .ok_or_else(|| self.malformed(at, "LONG1 wider than 64 bits"))?;
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.array()?) as usize;
                    let s = self.utf8(n, at)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.take(1)?[0] as usize;
                    let s = self.utf8(n, at)?;
                    self.stack.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.len8(at)?;
                    let s = self.utf8(n, at)?;
                    self.stack.push(Value::Str(s));
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.array()?) as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'C' => {
                    let n = self.take(1)?[0] as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                0x8e => {
                    let n = self.len8(at)?;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'q' => {
                    let k = self.take(1)?[0].into();
                    self.put(k, at)?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.array()?).into();
                    self.put(k, at)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.put(k, at)?;
                }
                b'h' => {
                    let k = self.take(1)?[0].into();
                    self.get(k, at)?;
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.array()?).into();
                    self.get(k, at)?;
                }
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let top = self.top(at)?.clone();
                    self.stack.push(top);
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    check_depth(&items, at)?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.malformed(at, "tuple of more items than the stack holds"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    check_depth(&items, at)?;
                    self.stack.push(Value::Tuple(items));
                }
                b'a' => {
                    let v = self.pop(at)?;
                    self.extend_list(vec![v], at)?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark(at)?;
                    self.extend_list(items, at)?;
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    self.extend_dict(vec![k, v], at)?;
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    self.extend_dict(items, at)?;
                }
                b'c' => {
                    let module = self.line(at)?;
                    let name = self.line(at)?;
                    let g = global(&module, &name)?;
                    self.stack.push(Value::Global(g));
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.malformed(at, "STACK_GLOBAL of non-strings"));
                    };
                    let g = global(&module, &name)?;
                    self.stack.push(Value::Global(g));
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let f = self.pop(at)?;
                    let v = self.reduce(f, args, at)?;
                    self.stack.push(v);
                }
                0x81 => {
                    // NEWOBJ: `cls.__new__(cls, *args)`; only plain-data dict classes.
                    let _args = self.pop(at)?;
                    match self.pop(at)? {
                        Value::Global(Global::DictClass | Global::OrderedDict) => {
                            self.stack.push(Value::Dict(Vec::new()))
                        }
                        _ => return Err(forbidden("NEWOBJ", op, at)),
                    }
                }
                b'b' => {
                    // BUILD: set an object's state. Dicts and tensors carry only attributes
                    // netc does not use (a state dict's `_metadata`), so the state is dropped.
                    let _state = self.pop(at)?;
                    match self.top(at)? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        _ => {
                            return Err(self
                                .malformed(at, "BUILD on an object that is not a dict or tensor"));
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    let v = self.persistent(pid, at)?;
                    self.stack.push(v);
                }
                b'i' => return Err(forbidden("INST", op, at)),
                b'o' => return Err(forbidden("OBJ", op, at)),
                0x92 => return Err(forbidden("NEWOBJ_EX", op, at)),
                0x82..=0x84 => return Err(forbidden("EXT", op, at)),
                b'P' => return Err(forbidden("PERSID", op, at)),
                _ => return Err(PickleError::UnknownOpcode { code: op, pos: at }),
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(PickleError::Truncated(self.bytes.len()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let s = self.take(N)?;
        Ok(s.try_into().expect("take returns N bytes"))
    }

    fn len8(&mut self, at: usize) -> Result<usize, PickleError> {
        usize::try_from(u64::from_le_bytes(self.array()?))
            .map_err(|_| self.malformed(at, "length beyond the address space"))
    }

    fn utf8(&mut self, n: usize, at: usize) -> Result<String, PickleError> {
        let b = self.take(n)?.to_vec();
        String::from_utf8(b).map_err(|_| self.malformed(at, "string is not UTF-8"))
    }

    /// A newline-terminated argument of `GLOBAL`.
    fn line(&mut self, at: usize) -> Result<String, PickleError> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated(self.bytes.len()))?;
        let s = self.utf8(n, at)?;
        self.pos += 1;
        Ok(s)
    }

    fn malformed(&self, pos: usize, message: &str) -> PickleError {
        PickleError::Malformed {
            pos,
            message: message.into(),
        }
    }

    fn pop(&mut self, at: usize) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.malformed(at, "pop across a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed(at, "pop from an empty stack"))
    }

    fn top(&mut self, at: usize) -> Result<&mut Value, PickleError> {
        let err = self.malformed(at, "the stack is empty");
        self.stack.last_mut().ok_or(err)
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>, PickleError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed(at, "no MARK to pop to"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn put(&mut self, k: u64, at: usize) -> Result<(), PickleError> {
        let v = self.top(at)?.clone();
        self.memo.insert(k, v);
        Ok(())
    }

    fn get(&mut self, k: u64, at: usize) -> Result<(), PickleError> {
        let v = self
            .memo
            .get(&k)
            .ok_or_else(|| self.malformed(at, &format!("memo key {k} was never stored")))?;
        // Values are copied, not shared as in Python: a budget keeps a pickle that refers to
        // a big value again and again (a "billion laughs") from taking all memory.
        self.copied += nodes(v);
        if self.copied > COPY_BUDGET {
            return Err(self.malformed(
                at,
                "it refers to its own values more than a state dict ever does",
            ));
        }
        let v = v.clone();
        self.stack.push(v);
        Ok(())
    }

    fn extend_list(&mut self, items: Vec<Value>, at: usize) -> Result<(), PickleError> {
        check_depth(&items, at)?;
        match self.top(at)? {
            Value::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(self.malformed(at, "APPEND to something that is not a list")),
        }
    }

    fn extend_dict(&mut self, items: Vec<Value>, at: usize) -> Result<(), PickleError> {
        check_depth(&items, at)?;
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed(at, "SETITEMS with an odd number of items"));
        }
        let Value::Dict(d) = self.top(at)? else {
            return Err(self.malformed(at, "SETITEM on something that is not a dict"));
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            // Python's dict: a repeated key keeps its first position, takes the new value.
            match d.iter_mut().find(|(dk, _)| *dk == k) {
                Some(entry) => entry.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(())
    }

    /// `('storage', StorageClass, key, location, numel)`.
    fn persistent(&self, pid: Value, at: usize) -> Result<Value, PickleError> {
        let Value::Tuple(t) = pid else {
            return Err(self.malformed(at, "persistent id is not a tuple"));
        };
        match t.as_slice() {
            [
                Value::Str(tag),
                Value::Global(Global::Storage(dtype)),
                key,
                _location,
                Value::Int(numel),
            ] if tag == "storage" => {
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(self.malformed(at, "storage key is not a string")),
                };
                let numel = usize::try_from(*numel)
                    .map_err(|_| self.malformed(at, "negative storage size"))?;
                Ok(Value::Storage {
                    key,
                    dtype: *dtype,
                    numel,
                })
            }
            _ => Err(self.malformed(
                at,
                "persistent id is not ('storage', <StorageClass>, key, location, numel)",
            )),
        }
    }

    fn reduce(&self, f: Value, args: Value, at: usize) -> Result<Value, PickleError> {
        let Value::Tuple(args) = args else {
            return Err(self.malformed(at, "REDUCE arguments are not a tuple"));
        };
        let Value::Global(g) = f else {
            return Err(self.malformed(at, "REDUCE of something that is not a known global"));
        };
        match (g, args.as_slice()) {
            (Global::OrderedDict | Global::DictClass, []) => Ok(Value::Dict(Vec::new())),
            (Global::OrderedDict | Global::DictClass, [Value::List(items)]) => {
                let mut d = Vec::new();
                for item in items {
                    match item {
                        Value::Tuple(kv) if kv.len() == 2 => d.push((kv[0].clone(), kv[1].clone())),
                        _ => return Err(self.malformed(at, "OrderedDict item is not a pair")),
                    }
                }
                Ok(Value::Dict(d))
            }
            (Global::RebuildTensorV2, [storage, offset, size, stride, ..])
            | (Global::RebuildTensorV3, [storage, offset, size, stride, ..]) => {
                self.tensor(storage, offset, size, stride, at)
            }
            (Global::RebuildParameter | Global::RebuildParameterWithState, [data, ..]) => {
                match data {
                    Value::Tensor(_) => Ok(data.clone()),
                    _ => {
                        Err(self
                            .malformed(at, "_rebuild_parameter of something that is not a tensor"))
                    }
                }
            }
            (Global::Encode, [Value::Str(s), ..]) => {
                // `_codecs.encode(s, 'latin1')`: each char is one byte.
                let bytes: Option<Vec<u8>> =
                    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                bytes
                    .map(Value::Bytes)
                    .ok_or_else(|| self.malformed(at, "_codecs.encode of a non-latin1 string"))
            }
            _ => Err(self.malformed(
                at,
                &format!("REDUCE of {g:?} with arguments it does not take"),
            )),
        }
    }

    fn tensor(
        &self,
        storage: &Value,
        offset: &Value,
        size: &Value,
        stride: &Value,
        at: usize,
    ) -> Result<Value, PickleError> {
        let Value::Storage { key, dtype, numel } = storage else {
            return Err(self.malformed(at, "tensor rebuilt from something that is not a storage"));
        };
        let ints = |v: &Value| -> Option<Vec<usize>> {
            match v {
                Value::Tuple(items) | Value::List(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::Int(n) => usize::try_from(*n).ok(),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        };
        let (Value::Int(offset), Some(size), Some(stride)) = (offset, ints(size), ints(stride))
        else {
            return Err(self.malformed(
                at,
                "tensor offset, size or stride is not made of non-negative ints",
            ));
        };
        if size.len() != stride.len() {
            return Err(self.malformed(at, "tensor size and stride differ in rank"));
        }
        Ok(Value::Tensor(TensorRef {
            key: key.clone(),
            dtype: *dtype,
            storage_numel: *numel,
            offset: usize::try_from(*offset)
                .map_err(|_| self.malformed(at, "negative tensor offset"))?,
            size,
            stride,
        }))
    }
}

fn forbidden(name: &'static str, code: u8, pos: usize) -> PickleError {
    PickleError::ForbiddenOpcode { name, code, pos }
}

/// The globals a state dict may name; anything else is refused here, when it is imported.
fn global(module: &str, name: &str) -> Result<Global, PickleError> {
    let g = match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("_codecs", "encode") => Global::Encode,
        (
            "lightning.fabric.utilities.data" | "pytorch_lightning.utilities.parsing",
            "AttributeDict",
        ) => Global::DictClass,
        ("torch", n) if n.ends_with("Storage") => {
            Global::Storage(StorageDtype::from_torch_name(n).ok_or_else(|| refuse(module, name))?)
        }
        ("torch", n) => {
            Global::Dtype(StorageDtype::from_torch_name(n).ok_or_else(|| refuse(module, name))?)
        }
        _ => return Err(refuse(module, name)),
    };
    Ok(g)
}

fn refuse(module: &str, name: &str) -> PickleError {
    PickleError::ForbiddenGlobal(format!("{module}.{name}"))
}

/// A little-endian two's-complement integer of up to 8 bytes (`LONG1`).
fn long(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return Some(0);
    }
    if b.len() > 8 {
        return None;
    }
    let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 8];
    buf[..b.len()].copy_from_slice(b);
    Some(i64::from_le_bytes(buf))
}
