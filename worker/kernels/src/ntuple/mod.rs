//! Ntuple kernels: one task reads one partition (an entry range of a tree) with Kaon's
//! ROOT reader, runs the layer's event program over whole columns, and produces the
//! partition's histograms, counts and sums (a float64 chunk that a tree of `Sum`
//! combines merges) or its selected columns (a table chunk).
//!
//! Branches are read in parallel (and their baskets decompressed in parallel) in the
//! rayon pool the task runs in. The parts of a filter's `&&` chain cut one after the
//! other. After each cut, the computed columns that later steps or the output still
//! use are compacted to the surviving events; branches stay as read, behind a row
//! selection, until an expression first needs them whole.

pub mod eval;
mod files;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use kaon_graph::ntuple::{CompiledOutput, CompiledReducer, CompiledStep};
use kaon_graph::{BranchKind, Graph, HistAxis, NtupleScan, Prim, TaskId};
use rayon::prelude::*;

use crate::{Chunk, KernelError};
use eval::{Env, Lane, Lookup, OffsetCache, Offsets, Val, compact, for_each, zip};

/// The element type of a primitive Arrow type, if it is one expressions can use.
pub fn prim_of(dt: &DataType) -> Option<Prim> {
    Some(match dt {
        DataType::Boolean => Prim::Bool,
        DataType::Int8 => Prim::I8,
        DataType::UInt8 => Prim::U8,
        DataType::Int16 => Prim::I16,
        DataType::UInt16 => Prim::U16,
        DataType::Int32 => Prim::I32,
        DataType::UInt32 => Prim::U32,
        DataType::Int64 => Prim::I64,
        DataType::UInt64 => Prim::U64,
        DataType::Float32 => Prim::F32,
        DataType::Float64 => Prim::F64,
        _ => return None,
    })
}

/// What a branch of this Arrow type is to expressions: a per-event value, a list per
/// event (variable or fixed length), or something only tables can hold.
pub fn branch_kind(dt: &DataType) -> BranchKind {
    if let Some(p) = prim_of(dt) {
        return BranchKind::Scalar(p);
    }
    match dt {
        DataType::List(f) | DataType::FixedSizeList(f, _) => match prim_of(f.data_type()) {
            Some(p) => BranchKind::List(p),
            None => BranchKind::Other(format!(
                "it holds lists of {}, which expressions cannot use (only tables can hold it)",
                f.data_type()
            )),
        },
        DataType::Utf8 | DataType::LargeUtf8 => BranchKind::Other(
            "it holds strings, which expressions cannot use (only tables can hold it)".into(),
        ),
        other => BranchKind::Other(format!(
            "it holds {other}, which expressions cannot use (only tables can hold it)"
        )),
    }
}

/// Values of a primitive array as float64 (booleans as 0 and 1).
fn to_f64(a: &dyn Array) -> Option<Vec<f64>> {
    macro_rules! conv {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .values()
                .iter()
                .map(|&v| v as f64)
                .collect()
        };
    }
    Some(match a.data_type() {
        DataType::Int8 => conv!(Int8Type),
        DataType::UInt8 => conv!(UInt8Type),
        DataType::Int16 => conv!(Int16Type),
        DataType::UInt16 => conv!(UInt16Type),
        DataType::Int32 => conv!(Int32Type),
        DataType::UInt32 => conv!(UInt32Type),
        DataType::Int64 => conv!(Int64Type),
        DataType::UInt64 => conv!(UInt64Type),
        DataType::Float32 => conv!(Float32Type),
        DataType::Float64 => a.as_primitive::<Float64Type>().values().to_vec(),
        _ => return None,
    })
}

fn flat_val(a: &dyn Array) -> Option<FlatVal> {
    if let DataType::Boolean = a.data_type() {
        return Some(FlatVal::Bool(a.as_boolean().values().iter().collect()));
    }
    to_f64(a).map(FlatVal::Num)
}

enum FlatVal {
    Num(Vec<f64>),
    Bool(Vec<bool>),
}

/// An Arrow column as an expression value; jagged offsets equal to those of a value in
/// `env` are shared with it (so operations on both compare pointers, not contents).
fn to_val(a: &ArrayRef, env: &Env) -> Option<Val> {
    let (offsets, values): (Vec<u32>, FlatVal) = match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let off = l.value_offsets();
            let (first, last) = (off[0] as usize, off[off.len() - 1] as usize);
            let child = l.values().slice(first, last - first);
            (
                off.iter().map(|&o| (o as usize - first) as u32).collect(),
                flat_val(child.as_ref())?,
            )
        }
        DataType::FixedSizeList(_, size) => {
            let l = a.as_fixed_size_list();
            let size = *size as usize;
            let child = l.values().slice(l.offset() * size, l.len() * size);
            (
                (0..=l.len()).map(|i| (i * size) as u32).collect(),
                flat_val(child.as_ref())?,
            )
        }
        _ => {
            return Some(match flat_val(a.as_ref())? {
                FlatVal::Num(v) => Val::Num(Lane::Event(Arc::new(v))),
                FlatVal::Bool(v) => Val::Bool(Lane::Event(Arc::new(v))),
            });
        }
    };
    let offsets = shared_offsets(offsets, env);
    Some(match values {
        FlatVal::Num(v) => Val::Num(Lane::Jagged(offsets, Arc::new(v))),
        FlatVal::Bool(v) => Val::Bool(Lane::Jagged(offsets, Arc::new(v))),
    })
}

/// Gives list columns with equal offsets (branches with the same counter, such as
/// `lep_pt[lep_n]` and `lep_eta[lep_n]`) one offsets buffer, so that filters work out
/// what they keep of them once, and operations on them compare pointers.
fn share_list_offsets(arrays: &mut [ArrayRef]) {
    for i in 1..arrays.len() {
        let Some(list) = arrays[i].as_list_opt::<i32>() else {
            continue;
        };
        let (field, offsets) = match list.data_type() {
            DataType::List(f) => (f.clone(), list.offsets()),
            _ => continue,
        };
        let same = arrays[..i].iter().find_map(|a| {
            let o = a.as_list_opt::<i32>()?.offsets();
            (o.len() == offsets.len() && **o == **offsets).then(|| o.clone())
        });
        if let Some(shared) = same
            && let Ok(l) =
                ListArray::try_new(field, shared, list.values().clone(), list.nulls().cloned())
        {
            arrays[i] = Arc::new(l);
        }
    }
}

/// The runs of elements a compaction keeps from Arrow columns with the same offsets
/// buffer (or from flat columns), with the compacted offsets: worked out once per
/// buffer, not once per column.
#[derive(Default)]
struct RawCache(Vec<(Option<*const i32>, Arc<KeptRuns>)>);

struct KeptRuns {
    /// Runs `[start, end)` of kept elements.
    runs: Vec<(usize, usize)>,
    offsets: Option<Offsets>,
}

impl RawCache {
    fn runs(&mut self, offsets: Option<&[i32]>, kept: &[u32], env: &Env) -> Arc<KeptRuns> {
        let key = offsets.map(<[i32]>::as_ptr);
        if let Some((_, r)) = self.0.iter().find(|(k, _)| *k == key) {
            return r.clone();
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut push = |s: usize, e: usize| match runs.last_mut() {
            Some(r) if r.1 == s => r.1 = e,
            _ if e > s => runs.push((s, e)),
            _ => {}
        };
        let offsets = match offsets {
            Some(o) => {
                let mut new = Vec::with_capacity(kept.len() + 1);
                new.push(0u32);
                let mut at = 0u32;
                for &i in kept {
                    let (s, e) = (o[i as usize] as usize, o[i as usize + 1] as usize);
                    push(s, e);
                    at += (e - s) as u32;
                    new.push(at);
                }
                Some(shared_offsets(new, env))
            }
            None => {
                kept.iter().for_each(|&i| push(i as usize, i as usize + 1));
                None
            }
        };
        let r = Arc::new(KeptRuns { runs, offsets });
        self.0.push((key, r.clone()));
        r
    }
}

/// The events at positions `kept` of an Arrow column (primitives, or lists of them), as
/// an expression value; jagged offsets are shared with an equal one in `env`.
fn compact_raw(a: &ArrayRef, kept: &[u32], env: &Env, cache: &mut RawCache) -> Option<Val> {
    let (offsets, child): (Option<&[i32]>, &ArrayRef) = match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            (Some(l.value_offsets()), l.values())
        }
        dt if prim_of(dt).is_some() => (None, a),
        _ => return None,
    };
    let kept = cache.runs(offsets, kept, env);
    let total = kept.runs.iter().map(|&(s, e)| e - s).sum();
    macro_rules! take {
        ($t:ty) => {{
            let v = child.as_primitive::<$t>().values();
            let mut out = Vec::with_capacity(total);
            for &(s, e) in &kept.runs {
                out.extend(v[s..e].iter().map(|&x| x as f64));
            }
            FlatVal::Num(out)
        }};
    }
    let values = match child.data_type() {
        DataType::Boolean => {
            let v = child.as_boolean();
            FlatVal::Bool(
                kept.runs
                    .iter()
                    .flat_map(|&(s, e)| (s..e).map(|j| v.value(j)))
                    .collect(),
            )
        }
        DataType::Int8 => take!(Int8Type),
        DataType::UInt8 => take!(UInt8Type),
        DataType::Int16 => take!(Int16Type),
        DataType::UInt16 => take!(UInt16Type),
        DataType::Int32 => take!(Int32Type),
        DataType::UInt32 => take!(UInt32Type),
        DataType::Int64 => take!(Int64Type),
        DataType::UInt64 => take!(UInt64Type),
        DataType::Float32 => take!(Float32Type),
        DataType::Float64 => take!(Float64Type),
        _ => return None,
    };
    Some(match (&kept.offsets, values) {
        (None, FlatVal::Num(v)) => Val::Num(Lane::Event(Arc::new(v))),
        (None, FlatVal::Bool(v)) => Val::Bool(Lane::Event(Arc::new(v))),
        (Some(o), FlatVal::Num(v)) => Val::Num(Lane::Jagged(o.clone(), Arc::new(v))),
        (Some(o), FlatVal::Bool(v)) => Val::Bool(Lane::Jagged(o.clone(), Arc::new(v))),
    })
}

/// Offsets equal to those of a jagged value in `env` are that value's (so operations
/// on both compare pointers, not contents).
fn shared_offsets(offsets: Vec<u32>, env: &Env) -> Offsets {
    env.values()
        .find_map(|v| {
            let o = match v {
                Val::Num(Lane::Jagged(o, _)) | Val::Bool(Lane::Jagged(o, _)) => o,
                _ => return None,
            };
            (*o.0 == offsets).then(|| o.clone())
        })
        .unwrap_or_else(|| Offsets(Arc::new(offsets)))
}

/// `a[idx]` per event, straight from an Arrow list column of primitives (no conversion
/// of the whole column); NaN or false past either end, as [`eval::eval`] gives. The
/// events are the column's rows `sel` (all of them for `None`).
fn index_raw(a: &ArrayRef, idx: &Lane<f64>, sel: Option<&[u32]>) -> Option<Result<Val, String>> {
    if !matches!(a.data_type(), DataType::List(_)) {
        return None;
    }
    let l = a.as_list::<i32>();
    let (offsets, child) = (l.value_offsets(), l.values());
    let n = sel.map_or(offsets.len() - 1, <[u32]>::len);
    let at = |i: usize, k: f64| -> Option<usize> {
        let i = sel.map_or(i, |s| s[i] as usize);
        let len = (offsets[i + 1] - offsets[i]) as i64;
        if !k.is_finite() || k.abs() > 1e18 {
            return None;
        }
        let k = k as i64;
        let k = if k < 0 { k + len } else { k };
        (0..len)
            .contains(&k)
            .then(|| offsets[i] as usize + k as usize)
    };
    let ks: &[f64] = match idx {
        Lane::Const(_) => &[],
        Lane::Event(v) if v.len() == n => v,
        _ => return Some(Err("an index that is not one value per event".into())),
    };
    let k_of = |i: usize| match idx {
        Lane::Const(k) => *k,
        _ => ks[i],
    };
    macro_rules! pick {
        ($t:ty) => {{
            let v = child.as_primitive::<$t>().values();
            Val::Num(Lane::Event(Arc::new(
                (0..n)
                    .map(|i| at(i, k_of(i)).map_or(f64::NAN, |j| v[j] as f64))
                    .collect(),
            )))
        }};
    }
    Some(Ok(match child.data_type() {
        DataType::Boolean => {
            let v = child.as_boolean();
            Val::Bool(Lane::Event(Arc::new(
                (0..n)
                    .map(|i| at(i, k_of(i)).is_some_and(|j| v.value(j)))
                    .collect(),
            )))
        }
        DataType::Int8 => pick!(Int8Type),
        DataType::UInt8 => pick!(UInt8Type),
        DataType::Int16 => pick!(Int16Type),
        DataType::UInt16 => pick!(UInt16Type),
        DataType::Int32 => pick!(Int32Type),
        DataType::UInt32 => pick!(UInt32Type),
        DataType::Int64 => pick!(Int64Type),
        DataType::UInt64 => pick!(UInt64Type),
        DataType::Float32 => pick!(Float32Type),
        DataType::Float64 => pick!(Float64Type),
        _ => return None,
    }))
}

/// A value as an Arrow column of `n` events (numbers as float64).
fn to_arrow(v: &Val, n: usize) -> ArrayRef {
    fn list(o: &Offsets, values: ArrayRef, item: DataType) -> ArrayRef {
        let offs: Vec<i32> = o.0.iter().map(|&x| x as i32).collect();
        Arc::new(ListArray::new(
            Arc::new(Field::new("item", item, false)),
            OffsetBuffer::new(ScalarBuffer::from(offs)),
            values,
            None,
        ))
    }
    match v {
        Val::Num(Lane::Const(x)) => Arc::new(Float64Array::from(vec![*x; n])),
        Val::Num(Lane::Event(xs)) => Arc::new(Float64Array::from(xs.to_vec())),
        Val::Num(Lane::Jagged(o, xs)) => list(
            o,
            Arc::new(Float64Array::from(xs.to_vec())),
            DataType::Float64,
        ),
        Val::Bool(Lane::Const(x)) => Arc::new(BooleanArray::from(vec![*x; n])),
        Val::Bool(Lane::Event(xs)) => Arc::new(BooleanArray::from(xs.to_vec())),
        Val::Bool(Lane::Jagged(o, xs)) => list(
            o,
            Arc::new(BooleanArray::from(xs.to_vec())),
            DataType::Boolean,
        ),
    }
}

/// Runs one partition of an ntuple layer.
pub(crate) fn run_scan(
    graph: &Graph,
    task: TaskId,
    scan: &NtupleScan,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let key = || graph.task_key(task);
    if !inputs.is_empty() {
        return Err(KernelError::InputCount {
            task: key(),
            expected: 0,
            actual: inputs.len(),
        });
    }
    let program = scan
        .compile()
        .map_err(|message| KernelError::InvalidProgram {
            task: key(),
            message,
        })?;
    let part = scan.partitions[task.chunk as usize];
    let path = &scan.files[part.file as usize];
    let range = part.start..part.stop;
    let fail = |message: String| KernelError::Ntuple {
        task: key(),
        file: path.clone(),
        tree: scan.tree.clone(),
        start: part.start,
        stop: part.stop,
        message,
    };
    // Reader errors name the file first; the task's message names it already.
    let reader = |e: kaon_ntuple::NtupleError| {
        let text = e.to_string();
        fail(
            text.strip_prefix(&format!("{path}: "))
                .map_or(text.clone(), String::from),
        )
    };
    let tree = files::open_tree(path, &scan.tree).map_err(reader)?;

    // Names each step and the output still need after it.
    let out_names: Vec<String> = match &program.output {
        CompiledOutput::Reduce(rs) => rs.iter().flat_map(reducer_names).collect(),
        CompiledOutput::Table(cols) => cols.iter().map(|(n, _)| n.clone()).collect(),
    };
    let mut live_after: Vec<HashSet<String>> = vec![HashSet::new(); program.steps.len()];
    let mut live: HashSet<String> = out_names.iter().cloned().collect();
    for (i, step) in program.steps.iter().enumerate().rev() {
        live_after[i] = live.clone();
        match step {
            CompiledStep::Define { name, expr } => {
                live.remove(name);
                live.extend(expr.names());
            }
            CompiledStep::Filter(e) => live.extend(e.names()),
        }
    }
    let table_branches: HashSet<&str> = match &program.output {
        CompiledOutput::Table(cols) => cols
            .iter()
            .filter(|(n, _)| scan.branches.iter().any(|b| &b.name == n))
            .map(|(n, _)| n.as_str())
            .collect(),
        _ => HashSet::new(),
    };

    // Read every branch that is used, in parallel.
    let wanted: Vec<&kaon_graph::BranchDecl> = scan
        .branches
        .iter()
        .filter(|b| live.contains(&b.name) || table_branches.contains(b.name.as_str()))
        .collect();
    let mut arrays: Vec<ArrayRef> = wanted
        .par_iter()
        .map(|b| {
            let a = tree.read(&b.name, range.clone()).map_err(reader)?;
            let found = branch_kind(a.data_type());
            if found != b.kind {
                return Err(fail(format!(
                    "branch \"{}\" holds {} in this file, but the plan expected {} (every \
                     file of a dataset must have the same branch types)",
                    b.name,
                    found.describe(),
                    b.kind.describe()
                )));
            }
            Ok(a)
        })
        .collect::<Result<_, _>>()?;
    share_list_offsets(&mut arrays);
    // Branches stay Arrow arrays (filters narrow `Columns::sel` over them) until an
    // expression first needs them whole.
    let mut cols = Columns::default();
    let mut originals: Vec<(String, ArrayRef)> = Vec::new();
    for (b, a) in wanted.iter().zip(&arrays) {
        if live.contains(&b.name) && !matches!(b.kind, BranchKind::Other(_)) {
            cols.raw.insert(b.name.clone(), a.clone());
        }
        if table_branches.contains(b.name.as_str()) {
            originals.push((b.name.clone(), a.clone()));
        }
    }
    drop(arrays);

    // The event program.
    let mut n = (part.stop - part.start) as usize;
    let (mut defines, mut filters) = (0, 0);
    for (i, step) in program.steps.iter().enumerate() {
        match step {
            CompiledStep::Define { name, expr } => {
                defines += 1;
                if !live_after[i].contains(name) {
                    continue;
                }
                cols.need(expr);
                let v = eval::eval(expr, &cols).map_err(|m| {
                    fail(format!(
                        "define {defines} ({name} = \"{}\"): {m}",
                        source(&scan.steps[i])
                    ))
                })?;
                cols.env.insert(name.clone(), v);
            }
            CompiledStep::Filter(expr) => {
                filters += 1;
                let fail_at = |m: String| {
                    fail(format!(
                        "filter {filters} (\"{}\"): {m}",
                        source(&scan.steps[i])
                    ))
                };
                // `a && b && c` keeps the events every part keeps, so each part is
                // tested only on the events the parts before it kept (as `&&` in C++
                // and RDataFrame): a cheap first cut spares the later ones most events.
                let parts = expr.conjuncts();
                for (j, part) in parts.iter().enumerate() {
                    let mut live = live_after[i].clone();
                    parts[j + 1..].iter().for_each(|p| live.extend(p.names()));
                    cols.need(part);
                    let mask = eval::eval(part, &cols)
                        .and_then(|v| v.boolean())
                        .map_err(fail_at)?;
                    let kept = match mask {
                        // A part true for every event keeps them all.
                        Lane::Const(true) => continue,
                        Lane::Const(false) => Vec::new(),
                        Lane::Event(v) => eval::kept_events(&v),
                        Lane::Jagged(..) => {
                            return Err(fail(format!(
                                "filter {filters} gave a jagged value, not one per event"
                            )));
                        }
                    };
                    if kept.len() == n {
                        continue;
                    }
                    cols.compact(&kept, &live);
                    n = kept.len();
                }
            }
        }
    }

    match &program.output {
        CompiledOutput::Reduce(reducers) => {
            let width: u64 = reducers.iter().map(|r| r.width()).sum();
            let mut out = vec![0.0f64; width as usize];
            let mut at = 0usize;
            for (k, r) in reducers.iter().enumerate() {
                let w = r.width() as usize;
                reducer_exprs(r).for_each(|e| cols.need(e));
                fill(r, &cols, n, &mut out[at..at + w])
                    .map_err(|m| fail(format!("reducer {k}: {m}")))?;
                at += w;
            }
            Ok(Chunk::f64(vec![1, width], out))
        }
        CompiledOutput::Table(names) => {
            let indices = cols.sel.take().map(UInt32Array::from);
            let mut fields = Vec::with_capacity(names.len());
            let mut columns = Vec::with_capacity(names.len());
            for (name, _) in names {
                let col = match originals.iter().find(|(b, _)| b == name) {
                    Some((_, a)) => match &indices {
                        Some(idx) => arrow_select::take::take(a.as_ref(), idx, None)
                            .map_err(|e| fail(format!("selecting column '{name}': {e}")))?,
                        None => a.clone(),
                    },
                    None => {
                        let v = cols
                            .env
                            .get(name)
                            .ok_or_else(|| fail(format!("column '{name}' was not computed")))?;
                        to_arrow(v, n)
                    }
                };
                fields.push(Field::new(name, col.data_type().clone(), false));
                columns.push(col);
            }
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| fail(format!("building the table: {e}")))?;
            Ok(Chunk::table(vec![1], batch))
        }
    }
}

/// Names a reducer's expressions read.
fn reducer_names(r: &CompiledReducer) -> Vec<String> {
    reducer_exprs(r).flat_map(|e| e.names()).collect()
}

fn reducer_exprs(r: &CompiledReducer) -> impl Iterator<Item = &kaon_graph::expr::Expr> {
    let (a, b): (&[_], Option<&_>) = match r {
        CompiledReducer::Count => (&[], None),
        CompiledReducer::Sum(e) => (std::slice::from_ref(e), None),
        CompiledReducer::Histogram { axes, weight, .. } => (axes, weight.as_ref()),
    };
    a.iter().chain(b)
}

/// The columns of a partition's events: values expressions have read, and branches
/// still as read from the file.
#[derive(Default)]
struct Columns {
    env: Env,
    raw: HashMap<String, ArrayRef>,
    /// The rows of the branches in `raw` that are the current events, once a filter
    /// dropped some: filters only narrow this, and a branch is gathered (and converted)
    /// once, when an expression first needs it whole.
    sel: Option<Vec<u32>>,
}

impl Lookup for Columns {
    fn value(&self, name: &str) -> Option<Val> {
        match self.env.get(name) {
            Some(v) => Some(v.clone()),
            // A branch `need` left in its Arrow form (used only indexed, where the
            // column does not allow indexing in place).
            None => self
                .raw
                .get(name)
                .and_then(|a| self.raw_val(a, &mut RawCache::default())),
        }
    }

    fn index(&self, name: &str, idx: &Lane<f64>) -> Option<Result<Val, String>> {
        self.raw
            .get(name)
            .and_then(|a| index_raw(a, idx, self.sel.as_deref()))
    }
}

impl Columns {
    /// The current events of a branch as an expression value.
    fn raw_val(&self, a: &ArrayRef, cache: &mut RawCache) -> Option<Val> {
        match &self.sel {
            None => to_val(a, &self.env),
            Some(sel) => compact_raw(a, sel, &self.env, cache).or_else(|| {
                // Fixed-size lists: gathered by Arrow, then converted.
                let rows = UInt32Array::from(sel.clone());
                to_val(
                    &arrow_select::take::take(a.as_ref(), &rows, None).ok()?,
                    &self.env,
                )
            }),
        }
    }

    /// Converts the branches `e` needs whole that are still Arrow arrays.
    fn need(&mut self, e: &kaon_graph::expr::Expr) {
        let mut cache = RawCache::default();
        for n in eval::value_names(e) {
            if let Some(a) = self.raw.remove(&n)
                && let Some(v) = self.raw_val(&a, &mut cache)
            {
                self.env.insert(n, v);
            }
        }
    }

    /// Keeps the current events at positions `kept`, of the columns in `live`; drops
    /// the rest.
    fn compact(&mut self, kept: &[u32], live: &HashSet<String>) {
        self.env.retain(|name, _| live.contains(name));
        self.raw.retain(|name, _| live.contains(name));
        let mut cache = OffsetCache::default();
        for v in self.env.values_mut() {
            *v = match v {
                Val::Num(l) => Val::Num(compact(l, kept, &mut cache)),
                Val::Bool(l) => Val::Bool(compact(l, kept, &mut cache)),
            };
        }
        self.sel = Some(match self.sel.take() {
            None => kept.to_vec(),
            Some(s) => kept.iter().map(|&j| s[j as usize]).collect(),
        });
    }
}

/// The source text of a step.
fn source(step: &kaon_graph::Step) -> &str {
    match step {
        kaon_graph::Step::Define { expr, .. } => expr,
        kaon_graph::Step::Filter(e) => e,
    }
}

/// Adds one partition's contribution of a reducer into `out`.
fn fill(r: &CompiledReducer, env: &Columns, n: usize, out: &mut [f64]) -> Result<(), String> {
    match r {
        CompiledReducer::Count => out[0] += n as f64,
        CompiledReducer::Sum(e) => {
            let v = eval::eval(e, env)?.num();
            let mut s = 0.0;
            for_each(&v, n, |x| s += x);
            out[0] += s;
        }
        CompiledReducer::Histogram { spec, axes, weight } => {
            let slots = spec.slots() as usize;
            let x = eval::eval(&axes[0], env)?.num();
            let w = match weight {
                Some(w) => Some(eval::eval(w, env)?.num()),
                None => None,
            };
            let ax = &spec.axes[0];
            match (axes.len(), w) {
                (1, None) => for_each(&x, n, |x| out[ax.index(x)] += 1.0),
                (1, Some(w)) => {
                    let (sw, sw2) = out.split_at_mut(slots);
                    for_each(&zip(&x, &w, |x, w| (x, w))?, n, |(x, w)| {
                        let i = ax.index(x);
                        sw[i] += w;
                        sw2[i] += w * w;
                    });
                }
                (_, w) => {
                    let ay: &HistAxis = &spec.axes[1];
                    let ny = ay.slots() as usize;
                    let y = eval::eval(&axes[1], env)?.num();
                    let xy = zip(&x, &y, |x, y| (x, y))?;
                    match w {
                        None => {
                            for_each(&xy, n, |(x, y)| out[ax.index(x) * ny + ay.index(y)] += 1.0)
                        }
                        Some(w) => {
                            let (sw, sw2) = out.split_at_mut(slots);
                            for_each(&zip(&xy, &w, |p, w| (p, w))?, n, |((x, y), w)| {
                                let i = ax.index(x) * ny + ay.index(y);
                                sw[i] += w;
                                sw2[i] += w * w;
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
