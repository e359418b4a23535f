//! Kaon's numeric kernels: the code a worker runs for one task.
//!
//! [`run_task`] evaluates one chunk of a layer of a [`Graph`]:
//! - a blockwise layer's fused [`Program`](kaon_graph::Program) runs over cache-sized tiles
//!   of the chunk with one reusable buffer per instruction per thread, optionally reduced
//!   inside the chunk as it streams (no intermediate array the size of the chunk exists);
//! - a combine layer reduces a group of input chunks (one tree-reduction step).
//!
//! Chunks of float arrays hold float64 values ([`ChunkData::F64`]); chunks of integer
//! and bool arrays hold int64 values ([`ChunkData::I64`]), computed in wrapping int64
//! arithmetic so they are exact and overflow as NumPy's do ([`Repr`]; a program's
//! dtypes say which each value is).
//!
//! The work inside one chunk is spread over the threads of the rayon pool the caller
//! runs in; tile and piece boundaries and the order of combination depend on the shapes
//! only, so results are bitwise the same for any number of threads. Hot loops have copies
//! compiled for AVX-512 and for AVX2 + FMA, chosen at run time ([`kernel_isa`]); every
//! code path gives the same bits. arcsin, arccos, log, sin and cos are branch-free
//! polynomial kernels (within 1 ulp, arcsin 3; [`fastmath`] and `math`); the other unary
//! ops call the standard library.
//!
//! Other layers: rearranges, reshapes, boolean selections and literal arrays are copies
//! (`layout`); matrix products (dgemm per block pair) and cumulative scans are in
//! `linalg`; per-chunk histograms, NumPy's binning, in `histogram`.
//!
//! Random chunks come from the counter-based generator [`uniform`]: any element of any
//! chunk is a pure function of (seed, chunk index, element index).
//!
//! An ntuple layer's task ([`ntuple`]) reads one partition of a ROOT tree with
//! `kaon-ntuple` and evaluates the layer's event program column by column; it produces
//! a float64 chunk of histograms, counts and sums, or a table chunk
//! ([`ChunkData::Table`], an Arrow record batch that travels and spills as an Arrow
//! IPC stream).

mod broadcast;
mod eval;
pub mod fastmath;
mod histogram;
mod intmath;
mod layout;
mod linalg;
mod math;
pub mod ntuple;
mod reduce;

use arrow_array::RecordBatch;
use kaon_graph::{Blockwise, Combine, DType, Fault, Graph, Instr, LayerOp, TaskId};

use crate::eval::Plan;
use crate::reduce::{Reducer, Source};

/// One chunk of an array (its shape and its values in C order), or one table chunk
/// (its shape in the layer's grid, and an Arrow record batch).
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub shape: Vec<u64>,
    pub data: ChunkData,
}

/// The values of a chunk, by how kernels hold them.
#[derive(Clone, Debug, PartialEq)]
pub enum ChunkData {
    /// Values of float dtypes (float32 values are float64 values rounded to float32).
    F64(Vec<f64>),
    /// Values of integer and bool dtypes, exact (narrower dtypes stay in their range).
    I64(Vec<i64>),
    /// Rows of a table: what ntuple layers that collect columns produce.
    Table(RecordBatch),
}

/// How kernels hold an array value in 8 bytes: a float64, or an int64 for integer and
/// bool dtypes. Loops that only move values (layouts, broadcasts) treat both alike, as
/// 8-byte lanes; see [`Chunk::lanes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr {
    F64,
    I64,
}

impl Repr {
    /// The representation of values of `dtype`.
    pub fn of(dtype: DType) -> Repr {
        if dtype.is_float() {
            Repr::F64
        } else {
            Repr::I64
        }
    }

    /// The dtype chunks of this representation travel as.
    pub fn dtype(self) -> DType {
        match self {
            Repr::F64 => DType::F64,
            Repr::I64 => DType::I64,
        }
    }
}

impl Chunk {
    /// A float64 chunk. `values` should hold `product(shape)` values in C order;
    /// [`run_task`] refuses chunks where it does not.
    pub fn f64(shape: Vec<u64>, values: Vec<f64>) -> Chunk {
        Chunk {
            shape,
            data: ChunkData::F64(values),
        }
    }

    /// An int64 chunk (an array of an integer or bool dtype).
    pub fn i64(shape: Vec<u64>, values: Vec<i64>) -> Chunk {
        Chunk {
            shape,
            data: ChunkData::I64(values),
        }
    }

    /// A chunk of 8-byte lanes holding values as `repr` says.
    pub fn from_lanes(shape: Vec<u64>, lanes: Vec<f64>, repr: Repr) -> Chunk {
        match repr {
            Repr::F64 => Chunk::f64(shape, lanes),
            // Same size and alignment: the collect reuses the allocation.
            Repr::I64 => Chunk::i64(
                shape,
                lanes.into_iter().map(|x| x.to_bits() as i64).collect(),
            ),
        }
    }

    /// A table chunk; `shape` is the chunk's shape in its layer's grid.
    pub fn table(shape: Vec<u64>, batch: RecordBatch) -> Chunk {
        Chunk {
            shape,
            data: ChunkData::Table(batch),
        }
    }

    /// The dtype the chunk travels as: float64, int64 or table.
    pub fn dtype(&self) -> DType {
        match self.data {
            ChunkData::F64(_) => DType::F64,
            ChunkData::I64(_) => DType::I64,
            ChunkData::Table(_) => DType::Table,
        }
    }

    /// Number of values held (rows of a table).
    pub fn len(&self) -> usize {
        match &self.data {
            ChunkData::F64(v) => v.len(),
            ChunkData::I64(v) => v.len(),
            ChunkData::Table(t) => t.num_rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the chunk takes: its values (as written by [`Chunk::write_le_bytes`]), or
    /// the memory of a table's buffers.
    pub fn nbytes(&self) -> usize {
        match &self.data {
            ChunkData::F64(v) => v.len() * 8,
            ChunkData::I64(v) => v.len() * 8,
            ChunkData::Table(t) => t.get_array_memory_size(),
        }
    }

    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            ChunkData::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            ChunkData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The values as 8-byte lanes (an int64 chunk's bits seen as float64 slots, for
    /// loops that move or convert values) and how they hold them; None for tables.
    pub fn lanes(&self) -> Option<(&[f64], Repr)> {
        match &self.data {
            ChunkData::F64(v) => Some((v, Repr::F64)),
            ChunkData::I64(v) => Some((bytemuck::cast_slice(v), Repr::I64)),
            ChunkData::Table(_) => None,
        }
    }

    /// The values converted to float64 (NumPy's `astype(float64)` for integers).
    pub fn to_f64(&self) -> Option<std::borrow::Cow<'_, [f64]>> {
        match &self.data {
            ChunkData::F64(v) => Some(std::borrow::Cow::Borrowed(v)),
            ChunkData::I64(v) => Some(std::borrow::Cow::Owned(
                v.iter().map(|&x| x as f64).collect(),
            )),
            ChunkData::Table(_) => None,
        }
    }

    pub fn as_table(&self) -> Option<&RecordBatch> {
        match &self.data {
            ChunkData::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Appends the chunk's bytes as they travel and spill: raw little-endian values, or
    /// for a table an Arrow IPC stream (schema, then the batch).
    pub fn write_le_bytes(&self, out: &mut Vec<u8>) {
        match &self.data {
            ChunkData::F64(_) | ChunkData::I64(_) => {
                // A float64 slot's bytes are the int64's it holds.
                let (v, _) = self.lanes().expect("an array chunk");
                out.reserve(v.len() * 8);
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            ChunkData::Table(t) => {
                let start = out.len();
                if write_ipc(t, out).is_err() {
                    // Unreachable for the types tables hold; what is left reads back as
                    // an error, never as a wrong table.
                    out.truncate(start);
                }
            }
        }
    }

    /// A chunk from the bytes [`Chunk::write_le_bytes`] writes: for arrays, raw
    /// little-endian float64 or int64 values (`product(shape) * 8` bytes); for tables,
    /// an Arrow IPC stream.
    pub fn from_le_bytes(
        dtype: DType,
        shape: Vec<u64>,
        bytes: &[u8],
    ) -> Result<Chunk, KernelError> {
        if dtype == DType::Table {
            return Ok(Chunk::table(shape, read_ipc(bytes)?));
        }
        if dtype != DType::F64 && dtype != DType::I64 {
            return Err(KernelError::UnsupportedDtype {
                dtype: dtype.name(),
            });
        }
        let expected = element_count(&shape)
            .and_then(|n| n.checked_mul(dtype.itemsize()))
            .ok_or_else(|| KernelError::TooLarge {
                what: format!("a chunk of shape {shape:?} and dtype {}", dtype.name()),
            })?;
        if bytes.len() != expected {
            return Err(KernelError::ByteLength {
                shape,
                dtype: dtype.name(),
                expected,
                actual: bytes.len(),
            });
        }
        let words = bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
        Ok(if dtype == DType::I64 {
            Chunk::i64(shape, words.map(|w| w as i64).collect())
        } else {
            Chunk::f64(shape, words.map(f64::from_bits).collect())
        })
    }
}

fn write_ipc(t: &RecordBatch, out: &mut Vec<u8>) -> Result<(), arrow_schema::ArrowError> {
    let mut w = arrow_ipc::writer::StreamWriter::try_new(out, &t.schema())?;
    w.write(t)?;
    w.finish()
}

/// The one record batch of an Arrow IPC stream (batches are concatenated; a stream
/// with none is an empty table of its schema).
pub fn read_ipc(bytes: &[u8]) -> Result<RecordBatch, KernelError> {
    let bad = |e: arrow_schema::ArrowError| KernelError::Table {
        message: e.to_string(),
    };
    if bytes.is_empty() {
        return Err(KernelError::Table {
            message: "empty bytes where an Arrow IPC stream was expected".into(),
        });
    }
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(bad)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.into_iter().next().unwrap()),
        _ => arrow_select::concat::concat_batches(&schema, &batches).map_err(bad),
    }
}

/// How a worker runs kernels.
#[derive(Clone, Debug, Default)]
pub struct KernelOptions {
    /// Whether `Fault::ExitWorker` may end the process (tests of recovery only).
    pub allow_fault_injection: bool,
}

/// Why a task could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("task (layer {layer}, chunk {chunk}) is not in the graph")]
    UnknownTask { layer: u32, chunk: u64 },
    #[error("task {task} reads {expected} input chunks, but {actual} were given")]
    InputCount {
        task: String,
        expected: usize,
        actual: usize,
    },
    #[error("task {task}: input {input} has shape {actual:?}, expected shape {expected:?}")]
    InputShape {
        task: String,
        input: usize,
        expected: Vec<u64>,
        actual: Vec<u64>,
    },
    #[error(
        "task {task}: input {input} has shape {shape:?} ({expected} elements) but holds {actual} values"
    )]
    InputLength {
        task: String,
        input: usize,
        shape: Vec<u64>,
        expected: usize,
        actual: usize,
    },
    #[error("task {task}: input {input} has dtype {actual}, expected {expected}")]
    InputDtype {
        task: String,
        input: usize,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("dtype {dtype} is not supported by these kernels (only float64, int64 and tables)")]
    UnsupportedDtype { dtype: &'static str },
    #[error(
        "{actual} bytes do not hold a {dtype} chunk of shape {shape:?}: expected {expected} bytes"
    )]
    ByteLength {
        shape: Vec<u64>,
        dtype: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("task {task} failed: injected fault: {message}")]
    Fault { task: String, message: String },
    #[error(
        "task {task} asks the worker to exit, but fault injection is not allowed on this worker"
    )]
    FaultInjectionNotAllowed { task: String },
    #[error("{what} is too large for this machine")]
    TooLarge { what: String },
    #[error("task {task}: invalid program: {message}")]
    InvalidProgram { task: String, message: String },
    #[error(
        "task {task} failed on entries {start}..{stop} of tree \"{tree}\" in {file}: {message}"
    )]
    Ntuple {
        task: String,
        file: String,
        tree: String,
        start: u64,
        stop: u64,
        message: String,
    },
    #[error("bad table chunk: {message}")]
    Table { message: String },
}

/// Element `element` (C-order index inside the chunk) of chunk `chunk` (linear chunk
/// index) of a uniform [0, 1) random array with `seed`.
///
/// The exact formula, in wrapping (mod 2^64) unsigned arithmetic:
///
/// ```text
/// mix(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
///          z = (z ^ (z >> 27)) * 0x94D049BB133111EB
///          return z ^ (z >> 31)                      # SplitMix64's finalizer
/// key     = mix(mix(seed ^ 0x5851F42D4C957F2D) ^ chunk)
/// bits    = mix(key + element * 0x9E3779B97F4A7C15)
/// uniform = (bits >> 11) * 2^-53                     # 53 random bits, exact in float64
/// ```
///
/// Each (seed, chunk) pair is a SplitMix64 stream started at a hashed key, so every
/// element is computable on its own and recomputation gives the same bits.
pub fn uniform(seed: u64, chunk: u64, element: u64) -> f64 {
    let key = math::stream_key(seed, chunk);
    math::unit_from_bits::<false>(math::mix64(
        key.wrapping_add(element.wrapping_mul(math::GOLDEN)),
    ))
}

/// The instruction set the hot loops run with on this machine: `avx512`, `avx2+fma` or
/// `generic`. The environment variable `KAON_KERNELS_ISA` (`generic`, `avx2`) caps it;
/// every path gives bitwise the same results.
pub fn kernel_isa() -> &'static str {
    eval::isa().name()
}

/// Runs one task: `inputs` are the results of `graph.inputs_of(task)`, in that order.
pub fn run_task(
    graph: &Graph,
    task: TaskId,
    inputs: &[&Chunk],
    opts: &KernelOptions,
) -> Result<Chunk, KernelError> {
    if !graph.contains(task) {
        return Err(KernelError::UnknownTask {
            layer: task.layer,
            chunk: task.chunk,
        });
    }
    match &graph.layer(task.layer).op {
        LayerOp::Blockwise(b) => run_blockwise(graph, task, b, inputs, opts),
        LayerOp::Combine(c) => run_combine(graph, task, c, inputs),
        LayerOp::Ntuple(scan) => ntuple::run_scan(graph, task, scan, inputs),
        LayerOp::Rearrange(r) => layout::run_rearrange(graph, task, r, inputs),
        // A persisted chunk is copied as it is (workers alias it instead, see kaon-worker).
        LayerOp::Reshape(_) | LayerOp::Stored(_) => layout::run_reshape(graph, task, inputs),
        LayerOp::Literal(l) => layout::run_literal(graph, task, l),
        LayerOp::MatMul(m) => linalg::run_matmul(graph, task, m, inputs),
        LayerOp::Scan(sc) => linalg::run_scan(graph, task, sc, inputs),
        LayerOp::Compress(c) => layout::run_compress(graph, task, c, inputs),
    }
}

fn element_count(shape: &[u64]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
}

fn to_usize_shape(graph: &Graph, task: TaskId, shape: &[u64]) -> Result<Vec<usize>, KernelError> {
    let too_large = || KernelError::TooLarge {
        what: format!(
            "the chunk of shape {shape:?} of task {}",
            graph.task_key(task)
        ),
    };
    element_count(shape).ok_or_else(too_large)?;
    shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| too_large()))
        .collect()
}

fn alloc(graph: &Graph, task: TaskId, shape: &[u64]) -> Result<Vec<f64>, KernelError> {
    let n = element_count(shape).ok_or_else(|| KernelError::TooLarge {
        what: format!(
            "the result of shape {shape:?} of task {}",
            graph.task_key(task)
        ),
    })?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| KernelError::TooLarge {
        what: format!(
            "the result of shape {shape:?} of task {}",
            graph.task_key(task)
        ),
    })?;
    v.resize(n, 0.0);
    Ok(v)
}

/// A task's input chunks as [`check_inputs`] returns them: the tasks they are, their
/// values as 8-byte slots, and how each holds its values.
type Inputs<'a> = (Vec<TaskId>, Vec<&'a [f64]>, Vec<Repr>);

/// Checks the inputs against the tasks that the graph says they are, returning their
/// values.
fn check_inputs<'a>(
    graph: &Graph,
    task: TaskId,
    inputs: &[&'a Chunk],
) -> Result<Inputs<'a>, KernelError> {
    let mut deps = Vec::new();
    graph.inputs_of(task, &mut deps);
    if graph.stored_source(task).is_some() {
        // The same chunk of an equal grid in another graph: shaped like this task's.
        deps.push(task);
    }
    if deps.len() != inputs.len() {
        return Err(KernelError::InputCount {
            task: graph.task_key(task),
            expected: deps.len(),
            actual: inputs.len(),
        });
    }
    let mut values = Vec::with_capacity(inputs.len());
    let mut reprs = Vec::with_capacity(inputs.len());
    for (i, (dep, chunk)) in deps.iter().zip(inputs).enumerate() {
        let grid = graph.grid(dep.layer);
        let expected = grid.chunk_shape(&grid.block_index(dep.chunk));
        if chunk.shape != expected {
            return Err(KernelError::InputShape {
                task: graph.task_key(task),
                input: i,
                expected,
                actual: chunk.shape.clone(),
            });
        }
        let Some((v, repr)) = chunk.lanes() else {
            return Err(KernelError::InputDtype {
                task: graph.task_key(task),
                input: i,
                expected: "an array dtype",
                actual: chunk.dtype().name(),
            });
        };
        let n = element_count(&expected).unwrap_or(usize::MAX);
        if v.len() != n {
            return Err(KernelError::InputLength {
                task: graph.task_key(task),
                input: i,
                shape: expected,
                expected: n,
                actual: v.len(),
            });
        }
        values.push(v);
        reprs.push(repr);
    }
    Ok((deps, values, reprs))
}

/// The one representation of inputs that are copied together (a rearrange's pieces, a
/// combine's partial results); an error where they differ.
fn common_repr(graph: &Graph, task: TaskId, reprs: &[Repr]) -> Result<Repr, KernelError> {
    let first = reprs.first().copied().unwrap_or(Repr::F64);
    match reprs.iter().position(|&r| r != first) {
        None => Ok(first),
        Some(i) => Err(KernelError::InputDtype {
            task: graph.task_key(task),
            input: i,
            expected: first.dtype().name(),
            actual: reprs[i].dtype().name(),
        }),
    }
}

/// The values of `dep` among a task's inputs as [`check_inputs`] returned them (for
/// layers whose inputs are looked up by chunk rather than by slot).
fn input_values<'a>(
    graph: &Graph,
    task: TaskId,
    deps: &[TaskId],
    values: &[&'a [f64]],
    dep: TaskId,
) -> Result<&'a [f64], KernelError> {
    match deps.iter().position(|d| *d == dep) {
        Some(pos) => Ok(values[pos]),
        None => Err(KernelError::InvalidProgram {
            task: graph.task_key(task),
            message: format!("input chunk {} is missing", graph.task_key(dep)),
        }),
    }
}

fn run_blockwise(
    graph: &Graph,
    task: TaskId,
    b: &Blockwise,
    inputs: &[&Chunk],
    opts: &KernelOptions,
) -> Result<Chunk, KernelError> {
    for instr in &b.program.instrs {
        match instr {
            Instr::Fault(Fault::Error(message)) => {
                return Err(KernelError::Fault {
                    task: graph.task_key(task),
                    message: message.clone(),
                });
            }
            Instr::Fault(Fault::ExitWorker) => {
                if opts.allow_fault_injection {
                    std::process::exit(101);
                }
                return Err(KernelError::FaultInjectionNotAllowed {
                    task: graph.task_key(task),
                });
            }
            _ => {}
        }
    }
    let (deps, mut values, mut reprs) = check_inputs(graph, task, inputs)?;
    // Input slot -> position of its layer in the deduplicated input list.
    let mut input_pos: Vec<usize> = b
        .inputs
        .iter()
        .map(|&layer| {
            deps.iter()
                .position(|d| d.layer == layer)
                .unwrap_or(usize::MAX)
        })
        .collect();
    if input_pos.contains(&usize::MAX) {
        return Err(KernelError::InvalidProgram {
            task: graph.task_key(task),
            message: "an input layer is missing from the task's inputs".into(),
        });
    }
    let idx = b.domain.block_index(task.chunk);
    let shape = b.domain.chunk_shape(&idx);
    let ushape = to_usize_shape(graph, task, &shape)?;
    // Broadcast inputs are repeated into chunk-sized buffers first.
    let mut expanded: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    for instr in &b.program.instrs {
        if let Instr::InputBroadcast { slot, axes } = instr
            && !done.contains(slot)
        {
            done.push(*slot);
            let pos = input_pos[*slot as usize];
            let in_shape = to_usize_shape(graph, task, &inputs[pos].shape)?;
            expanded.push((
                *slot as usize,
                broadcast::expand(values[pos], &in_shape, axes, &ushape),
            ));
        }
    }
    for (i, (slot, _)) in expanded.iter().enumerate() {
        reprs.push(reprs[input_pos[*slot]]);
        input_pos[*slot] = values.len() + i;
    }
    values.extend(expanded.iter().map(|(_, v)| &v[..]));
    let plan_of = |program: &kaon_graph::Program| {
        let mut plan = Plan::typed(program, task.chunk, &input_pos, &reprs).map_err(|message| {
            KernelError::InvalidProgram {
                task: graph.task_key(task),
                message,
            }
        })?;
        plan.locate(ushape.clone(), b.domain.chunk_offset(&idx));
        Ok::<_, KernelError>(plan)
    };
    let mut plan = plan_of(&b.program)?;
    if let Some(h) = &b.histogram {
        // Values and weights are binned as floats. The weights are the program cut after
        // their value, planned on their own.
        plan.convert_result(Repr::F64);
        let weight_plan = match h.weight {
            Some(w) => {
                let mut p = plan_of(&b.program.truncated(w))?;
                p.convert_result(Repr::F64);
                Some(p)
            }
            None => None,
        };
        let weights = weight_plan.as_ref().map(|plan| Source::Program {
            plan,
            inputs: values.clone(),
        });
        let source = Source::Program {
            plan: &plan,
            inputs: values,
        };
        let len = ushape.iter().product();
        let counts = histogram::histogram(h, &source, weights.as_ref(), len);
        let out_grid = graph.grid(task.layer);
        let out_shape = out_grid.chunk_shape(&out_grid.block_index(task.chunk));
        return Ok(Chunk::f64(out_shape, counts));
    }
    let repr = plan.result_repr();
    let source = Source::Program {
        plan: &plan,
        inputs: values,
    };
    match &b.reduce {
        None => {
            let mut out = alloc(graph, task, &shape)?;
            reduce::evaluate(&source, &mut out);
            Ok(Chunk::from_lanes(shape, out, repr))
        }
        Some(r) => {
            let out_shape = keepdims(&shape, &r.axes);
            let mut out = alloc(graph, task, &out_shape)?;
            let reducer = Reducer::new(r.op, repr);
            reduce::reduce(&source, &ushape, &r.axes, reducer, &mut out);
            Ok(Chunk::from_lanes(out_shape, out, repr))
        }
    }
}

fn keepdims(shape: &[u64], axes: &[usize]) -> Vec<u64> {
    shape
        .iter()
        .enumerate()
        .map(|(axis, &d)| if axes.contains(&axis) { 1 } else { d })
        .collect()
}

fn run_combine(
    graph: &Graph,
    task: TaskId,
    c: &Combine,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (_, values, reprs) = check_inputs(graph, task, inputs)?;
    let repr = common_repr(graph, task, &reprs)?;
    let op = Reducer::new(c.op, repr);
    let out_grid = graph.grid(task.layer);
    let out_shape = out_grid.chunk_shape(&out_grid.block_index(task.chunk));
    let mut out = alloc(graph, task, &out_shape)?;
    // Each input reduced over the combined axes where its extent is not 1.
    let mut reduced: Vec<Vec<f64>> = Vec::new();
    let mut parts: Vec<&[f64]> = Vec::with_capacity(values.len());
    let mut which: Vec<Option<usize>> = Vec::with_capacity(values.len());
    for (chunk, v) in inputs.iter().zip(&values) {
        let kept = keepdims(&chunk.shape, &c.axes);
        if kept != out_shape {
            return Err(KernelError::InputShape {
                task: graph.task_key(task),
                input: which.len(),
                expected: out_shape.clone(),
                actual: chunk.shape.clone(),
            });
        }
        if kept == chunk.shape {
            which.push(None);
        } else {
            let ushape = to_usize_shape(graph, task, &chunk.shape)?;
            let mut r = vec![op.identity(); out.len()];
            reduce::reduce(&Source::Memory(v), &ushape, &c.axes, op, &mut r);
            reduced.push(r);
            which.push(Some(reduced.len() - 1));
        }
    }
    for (w, v) in which.iter().zip(&values) {
        parts.push(match w {
            Some(i) => &reduced[*i],
            None => v,
        });
    }
    reduce::combine_vectors(op, &parts, &mut out);
    Ok(Chunk::from_lanes(out_shape, out, repr))
}
