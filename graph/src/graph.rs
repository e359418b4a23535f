//! Graphs of layers: construction with validation, and expansion to tasks.
//!
//! Expansion is a pure function of the graph: the scheduler and the worker both call
//! [`Graph::inputs_of`] and [`Graph::dependents_of`] instead of shipping task lists.

use crate::grid::ChunkGrid;
use crate::layout::{Compress, Literal, Rearrange, Reshape};
use crate::linalg::{MatMul, Scan};
use crate::ntuple::NtupleScan;
use crate::program::{Instr, Program, ReduceOp, ValueId};
use crate::{GraphError, LayerId, TaskId};

/// Most tasks one graph may expand to; beyond it a graph is refused at submission.
pub const MAX_TASKS: u64 = 100_000_000;

/// One operation over a chunk grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub op: LayerOp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LayerOp {
    Blockwise(Blockwise),
    Combine(Combine),
    /// Reads partitions of ROOT trees (one task each) and runs an event program.
    Ntuple(NtupleScan),
    /// Moves elements between chunks: transposes, slices, rechunks, concatenations.
    Rearrange(Rearrange),
    Reshape(Reshape),
    /// An array given as data.
    Literal(Literal),
    MatMul(MatMul),
    Scan(Scan),
    /// The elements a boolean mask keeps.
    Compress(Compress),
    /// Chunks another graph computed and the cluster still holds (a persisted array).
    Stored(Stored),
}

/// Chunk `i` of this layer is chunk `i` of layer `layer` of the earlier graph `graph`,
/// whose results the cluster keeps (`persist`): later graphs read them instead of
/// recomputing them. The graph itself does not know that graph: the scheduler checks
/// `grid` against it and refuses the reference if it is unknown or different.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub graph: u64,
    pub layer: LayerId,
    pub grid: ChunkGrid,
}

/// A fused program run on every chunk of `domain`, reading the same-index chunk of each
/// input, optionally reduced inside the chunk over some axes (kept with size 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Blockwise {
    pub domain: ChunkGrid,
    pub inputs: Vec<LayerId>,
    pub program: Program,
    pub reduce: Option<ChunkReduce>,
    /// Instead of `reduce`: a histogram of the program's values in each chunk.
    pub histogram: Option<ChunkHistogram>,
}

/// NumPy's `histogram` with `bins` regular bins over `[lo, hi]` (the last bin holds
/// `hi`; values outside, and NaN, are not counted), of one chunk. The layer's grid has
/// one chunk of size 1 per domain chunk along each axis, and a last axis of `bins`, so
/// a tree of sums over the leading axes merges the chunks' histograms.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkHistogram {
    pub bins: u32,
    pub lo: f64,
    pub hi: f64,
    /// The program value that weighs each element (None: each counts 1).
    pub weight: Option<ValueId>,
    /// Bin in float32 arithmetic (NumPy's binning of float32 values).
    pub float32: bool,
}

impl ChunkHistogram {
    /// The grid of per-chunk histograms over `domain`.
    pub fn grid(&self, domain: &ChunkGrid) -> ChunkGrid {
        let mut chunks: Vec<Vec<u64>> = domain.chunks().iter().map(|c| vec![1; c.len()]).collect();
        chunks.push(vec![self.bins as u64]);
        ChunkGrid::new(chunks).expect("a histogram's grid is valid")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChunkReduce {
    pub op: ReduceOp,
    pub axes: Vec<usize>,
}

/// One tree-reduction step: each output chunk reduces a group of up to `split_every`
/// input chunks along each of `axes` (each input chunk reduced over `axes` first).
#[derive(Clone, Debug, PartialEq)]
pub struct Combine {
    pub input: LayerId,
    pub op: ReduceOp,
    pub axes: Vec<usize>,
    pub split_every: u32,
}

/// A validated graph of layers in dependency order.
#[derive(Clone, Debug)]
pub struct Graph {
    layers: Vec<Layer>,
    outputs: Vec<LayerId>,
    /// Output grid of each layer.
    grids: Vec<ChunkGrid>,
    /// Dense index of each layer's first task; the last entry is the task count.
    offsets: Vec<u64>,
    /// Layers that read each layer.
    consumers: Vec<Vec<LayerId>>,
    /// For each layer, for each input slot of a blockwise layer, how the input is
    /// broadcast (None: it has the layer's own grid).
    input_maps: Vec<Vec<Option<Vec<i32>>>>,
}

impl Graph {
    /// Builds a graph, refusing anything inconsistent with an error that names the layer.
    pub fn new(layers: Vec<Layer>, outputs: Vec<LayerId>) -> Result<Self, GraphError> {
        if layers.is_empty() {
            return Err(GraphError::Invalid("the graph has no layers".into()));
        }
        let mut grids: Vec<ChunkGrid> = Vec::with_capacity(layers.len());
        let mut consumers = vec![Vec::new(); layers.len()];
        let mut input_maps: Vec<Vec<Option<Vec<i32>>>> = Vec::with_capacity(layers.len());
        for (id, layer) in layers.iter().enumerate() {
            let at = |msg: String| GraphError::Layer {
                layer: id as LayerId,
                name: layer.name.clone(),
                message: msg,
            };
            let check_input = |input: LayerId| -> Result<(), GraphError> {
                let table = |l: &Layer| matches!(&l.op, LayerOp::Ntuple(s) if s.produces_table());
                if input as usize >= layers.len() {
                    Err(at(format!(
                        "reads layer {input}, which does not exist (the graph has {} layers)",
                        layers.len()
                    )))
                } else if input as usize >= id {
                    Err(at(format!(
                        "reads layer {input} ('{}'), which is not before it: the graph has a \
                         cycle or its layers are not in dependency order",
                        layers[input as usize].name
                    )))
                } else if table(&layers[input as usize]) {
                    Err(at(format!(
                        "reads layer {input} ('{}'), which produces tables, not arrays",
                        layers[input as usize].name
                    )))
                } else {
                    Ok(())
                }
            };
            let mut maps = Vec::new();
            let grid = match &layer.op {
                LayerOp::Blockwise(b) => {
                    validate_program(&b.program, b.inputs.len()).map_err(&at)?;
                    maps = slot_maps(&b.program, b.inputs.len()).map_err(&at)?;
                    for (i, instr) in b.program.instrs.iter().enumerate() {
                        if let Instr::Iota { axis } = instr
                            && *axis as usize >= b.domain.ndim()
                        {
                            return Err(at(format!(
                                "instruction {i} numbers axis {axis} of a {}-dimensional layer",
                                b.domain.ndim()
                            )));
                        }
                    }
                    for (slot, &input) in b.inputs.iter().enumerate() {
                        check_input(input)?;
                        let input_grid = &grids[input as usize];
                        if let Some(axes) = &maps[slot] {
                            check_broadcast(input_grid, axes, &b.domain).map_err(|m| {
                                at(format!(
                                    "input {slot} (layer '{}', shape {:?}) {m}",
                                    layers[input as usize].name,
                                    input_grid.shape()
                                ))
                            })?;
                            let other = b
                                .inputs
                                .iter()
                                .zip(&maps)
                                .any(|(&l, m)| l == input && m != &maps[slot]);
                            if other {
                                return Err(at(format!(
                                    "reads layer '{}' in two slots with different broadcasts",
                                    layers[input as usize].name
                                )));
                            }
                        } else if input_grid != &b.domain {
                            return Err(at(format!(
                                "input {slot} (layer '{}') has shape {:?} and chunks {:?}, \
                                 but the layer runs over shape {:?} with chunks {:?}",
                                layers[input as usize].name,
                                input_grid.shape(),
                                input_grid.chunks(),
                                b.domain.shape(),
                                b.domain.chunks()
                            )));
                        }
                    }
                    match (&b.reduce, &b.histogram) {
                        (Some(_), Some(_)) => {
                            return Err(at("both reduces and histograms its chunks".into()));
                        }
                        (Some(r), None) => {
                            validate_axes(&r.axes, b.domain.ndim()).map_err(&at)?;
                            b.domain.reduced_per_chunk(&r.axes)
                        }
                        (None, Some(h)) => {
                            validate_histogram(h, &b.program).map_err(&at)?;
                            h.grid(&b.domain)
                        }
                        (None, None) => b.domain.clone(),
                    }
                }
                LayerOp::Combine(c) => {
                    check_input(c.input)?;
                    let input_grid = &grids[c.input as usize];
                    validate_axes(&c.axes, input_grid.ndim()).map_err(&at)?;
                    if c.split_every < 2 {
                        return Err(at(format!(
                            "split_every is {}, it must be at least 2",
                            c.split_every
                        )));
                    }
                    input_grid.combined(&c.axes, c.split_every as u64)
                }
                LayerOp::Ntuple(scan) => {
                    scan.compile().map_err(&at)?;
                    scan.grid().map_err(&at)?
                }
                LayerOp::Rearrange(r) => {
                    for &input in &r.inputs {
                        check_input(input)?;
                    }
                    let input_grids: Vec<&ChunkGrid> =
                        r.inputs.iter().map(|&i| &grids[i as usize]).collect();
                    r.validate(&input_grids).map_err(&at)?;
                    r.grid.clone()
                }
                LayerOp::Reshape(r) => {
                    check_input(r.input)?;
                    r.validate(&grids[r.input as usize]).map_err(&at)?;
                    r.grid.clone()
                }
                LayerOp::Literal(l) => {
                    l.validate().map_err(&at)?;
                    l.grid.clone()
                }
                LayerOp::Stored(st) => st.grid.clone(),
                LayerOp::MatMul(m) => {
                    check_input(m.a)?;
                    check_input(m.b)?;
                    MatMul::grid(&grids[m.a as usize], &grids[m.b as usize]).map_err(&at)?
                }
                LayerOp::Compress(c) => {
                    check_input(c.data)?;
                    check_input(c.mask)?;
                    c.validate(&grids[c.data as usize], &grids[c.mask as usize])
                        .map_err(&at)?;
                    c.grid.clone()
                }
                LayerOp::Scan(sc) => {
                    check_input(sc.input)?;
                    check_input(sc.totals)?;
                    let input = &grids[sc.input as usize];
                    sc.validate(input, &grids[sc.totals as usize])
                        .map_err(&at)?;
                    input.clone()
                }
            };
            for input in layer_inputs(&layer.op) {
                if !consumers[input as usize].contains(&(id as LayerId)) {
                    consumers[input as usize].push(id as LayerId);
                }
            }
            grids.push(grid);
            input_maps.push(maps);
        }
        if outputs.is_empty() {
            return Err(GraphError::Invalid(
                "the graph names no output layer".into(),
            ));
        }
        for &o in &outputs {
            if o as usize >= layers.len() {
                return Err(GraphError::Invalid(format!(
                    "output layer {o} does not exist (the graph has {} layers)",
                    layers.len()
                )));
            }
        }
        for (id, layer) in layers.iter().enumerate() {
            if consumers[id].is_empty() && !outputs.contains(&(id as LayerId)) {
                return Err(GraphError::Layer {
                    layer: id as LayerId,
                    name: layer.name.clone(),
                    message: "is neither an output nor read by another layer".into(),
                });
            }
        }
        let mut offsets = Vec::with_capacity(layers.len() + 1);
        let mut total: u64 = 0;
        for g in &grids {
            offsets.push(total);
            total += g.num_chunks();
            if total > MAX_TASKS {
                return Err(GraphError::Invalid(format!(
                    "the graph expands to more than {MAX_TASKS} tasks; use larger chunks"
                )));
            }
        }
        offsets.push(total);
        Ok(Self {
            layers,
            outputs,
            grids,
            offsets,
            consumers,
            input_maps,
        })
    }

    /// The chunk of input `slot`'s layer that chunk `chunk` of blockwise layer `layer`
    /// reads.
    fn input_chunk(&self, layer: LayerId, slot: usize, input: LayerId, chunk: u64) -> u64 {
        match &self.input_maps[layer as usize][slot] {
            None => chunk,
            Some(axes) => {
                let idx = self.grids[layer as usize].block_index(chunk);
                let in_grid = &self.grids[input as usize];
                let nb = in_grid.numblocks();
                let in_idx: Vec<u64> = axes
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| {
                        if d < 0 || nb[k] == 1 {
                            0
                        } else {
                            idx[d as usize]
                        }
                    })
                    .collect();
                in_grid.linear_index(&in_idx)
            }
        }
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id as usize]
    }

    pub fn outputs(&self) -> &[LayerId] {
        &self.outputs
    }

    pub fn is_output(&self, layer: LayerId) -> bool {
        self.outputs.contains(&layer)
    }

    /// The chunk grid of a layer's result.
    pub fn grid(&self, id: LayerId) -> &ChunkGrid {
        &self.grids[id as usize]
    }

    /// Layers that read `id`.
    pub fn consumers(&self, id: LayerId) -> &[LayerId] {
        &self.consumers[id as usize]
    }

    /// Total number of tasks.
    pub fn num_tasks(&self) -> u64 {
        *self.offsets.last().unwrap()
    }

    /// Number of tasks (chunks) of one layer.
    pub fn layer_tasks(&self, id: LayerId) -> u64 {
        self.offsets[id as usize + 1] - self.offsets[id as usize]
    }

    /// Dense index of a task in `0..num_tasks()`, layer by layer.
    pub fn task_index(&self, task: TaskId) -> u64 {
        self.offsets[task.layer as usize] + task.chunk
    }

    /// The task with a dense index.
    pub fn task_at(&self, index: u64) -> TaskId {
        let layer = self.offsets.partition_point(|&o| o <= index) - 1;
        TaskId {
            layer: layer as LayerId,
            chunk: index - self.offsets[layer],
        }
    }

    /// Whether a task id names a task of this graph.
    pub fn contains(&self, task: TaskId) -> bool {
        (task.layer as usize) < self.layers.len() && task.chunk < self.layer_tasks(task.layer)
    }

    /// Appends the tasks whose results `task` reads, without duplicates.
    pub fn inputs_of(&self, task: TaskId, out: &mut Vec<TaskId>) {
        match &self.layers[task.layer as usize].op {
            LayerOp::Blockwise(b) => {
                let start = out.len();
                for (slot, &input) in b.inputs.iter().enumerate() {
                    let dep = TaskId {
                        layer: input,
                        chunk: self.input_chunk(task.layer, slot, input, task.chunk),
                    };
                    if !out[start..].contains(&dep) {
                        out.push(dep);
                    }
                }
            }
            LayerOp::Combine(c) => {
                let in_grid = &self.grids[c.input as usize];
                let out_grid = &self.grids[task.layer as usize];
                let idx = out_grid.block_index(task.chunk);
                let nb = in_grid.numblocks();
                let split = c.split_every as u64;
                // Iterate over the group: along combined axes a range, elsewhere one block.
                let ranges: Vec<(u64, u64)> = idx
                    .iter()
                    .enumerate()
                    .map(|(axis, &i)| {
                        if c.axes.contains(&axis) {
                            (i * split, ((i + 1) * split).min(nb[axis]))
                        } else {
                            (i, i + 1)
                        }
                    })
                    .collect();
                let mut cur: Vec<u64> = ranges.iter().map(|r| r.0).collect();
                loop {
                    out.push(TaskId {
                        layer: c.input,
                        chunk: in_grid.linear_index(&cur),
                    });
                    let mut axis = cur.len();
                    loop {
                        if axis == 0 {
                            return;
                        }
                        axis -= 1;
                        cur[axis] += 1;
                        if cur[axis] < ranges[axis].1 {
                            break;
                        }
                        cur[axis] = ranges[axis].0;
                    }
                }
            }
            LayerOp::Ntuple(_) | LayerOp::Literal(_) | LayerOp::Stored(_) => {}
            LayerOp::Rearrange(r) => {
                let start = out.len();
                let grids = self.input_grids(r);
                let idx = self.grids[task.layer as usize].block_index(task.chunk);
                for p in r.pieces(&grids, &idx) {
                    let dep = TaskId {
                        layer: r.inputs[p.slot],
                        chunk: grids[p.slot].linear_index(&p.block),
                    };
                    if !out[start..].contains(&dep) {
                        out.push(dep);
                    }
                }
            }
            LayerOp::Reshape(r) => out.push(TaskId {
                layer: r.input,
                chunk: task.chunk,
            }),
            LayerOp::Compress(c) => {
                if let Some(&source) = c.sources.get(task.chunk as usize) {
                    out.push(TaskId {
                        layer: c.data,
                        chunk: source,
                    });
                    if c.mask != c.data {
                        out.push(TaskId {
                            layer: c.mask,
                            chunk: source,
                        });
                    }
                }
            }
            LayerOp::Scan(sc) => {
                out.push(TaskId {
                    layer: sc.input,
                    chunk: task.chunk,
                });
                let mut idx = self.grids[task.layer as usize].block_index(task.chunk);
                let axis = sc.axis as usize;
                let totals = &self.grids[sc.totals as usize];
                for k in 0..idx[axis] {
                    idx[axis] = k;
                    out.push(TaskId {
                        layer: sc.totals,
                        chunk: totals.linear_index(&idx),
                    });
                }
            }
            LayerOp::MatMul(m) => {
                let start = out.len();
                let idx = self.grids[task.layer as usize].block_index(task.chunk);
                let (ga, gb) = (&self.grids[m.a as usize], &self.grids[m.b as usize]);
                for (ab, bb) in MatMul::operands(ga, idx[0], idx[1]) {
                    for dep in [
                        TaskId {
                            layer: m.a,
                            chunk: ga.linear_index(&ab),
                        },
                        TaskId {
                            layer: m.b,
                            chunk: gb.linear_index(&bb),
                        },
                    ] {
                        if !out[start..].contains(&dep) {
                            out.push(dep);
                        }
                    }
                }
            }
        }
    }

    /// The grids of a rearrange layer's inputs.
    pub fn input_grids(&self, r: &Rearrange) -> Vec<&ChunkGrid> {
        r.inputs.iter().map(|&i| &self.grids[i as usize]).collect()
    }

    /// Appends the tasks that read `task`'s result.
    pub fn dependents_of(&self, task: TaskId, out: &mut Vec<TaskId>) {
        for &consumer in &self.consumers[task.layer as usize] {
            match &self.layers[consumer as usize].op {
                LayerOp::Blockwise(b) => {
                    let Some(slot) = b.inputs.iter().position(|&l| l == task.layer) else {
                        continue;
                    };
                    match &self.input_maps[consumer as usize][slot] {
                        None => out.push(TaskId {
                            layer: consumer,
                            chunk: task.chunk,
                        }),
                        Some(axes) => {
                            self.broadcast_dependents(task, consumer, axes, out);
                        }
                    }
                }
                // Read no layer, so they are nobody's consumers.
                LayerOp::Ntuple(_) | LayerOp::Literal(_) | LayerOp::Stored(_) => {}
                LayerOp::Reshape(_) => out.push(TaskId {
                    layer: consumer,
                    chunk: task.chunk,
                }),
                LayerOp::Compress(c) => {
                    if let Ok(i) = c.sources.binary_search(&task.chunk) {
                        out.push(TaskId {
                            layer: consumer,
                            chunk: i as u64,
                        });
                    }
                }
                LayerOp::Scan(sc) => {
                    if sc.input == task.layer {
                        out.push(TaskId {
                            layer: consumer,
                            chunk: task.chunk,
                        });
                    }
                    if sc.totals == task.layer {
                        let axis = sc.axis as usize;
                        let grid = &self.grids[consumer as usize];
                        let mut idx = self.grids[task.layer as usize].block_index(task.chunk);
                        for k in idx[axis] + 1..grid.numblocks()[axis] {
                            idx[axis] = k;
                            out.push(TaskId {
                                layer: consumer,
                                chunk: grid.linear_index(&idx),
                            });
                        }
                    }
                }
                LayerOp::Rearrange(r) => {
                    let start = out.len();
                    let grids = self.input_grids(r);
                    let in_idx = self.grids[task.layer as usize].block_index(task.chunk);
                    let out_grid = &self.grids[consumer as usize];
                    for (slot, _) in r
                        .inputs
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| **l == task.layer)
                    {
                        for reader in r.readers(&grids, slot, &in_idx) {
                            let t = TaskId {
                                layer: consumer,
                                chunk: out_grid.linear_index(&reader),
                            };
                            if !out[start..].contains(&t) {
                                out.push(t);
                            }
                        }
                    }
                }
                LayerOp::MatMul(m) => {
                    let start = out.len();
                    let idx = self.grids[task.layer as usize].block_index(task.chunk);
                    let out_grid = &self.grids[consumer as usize];
                    let nb = out_grid.numblocks();
                    let mut push = |i: u64, j: u64| {
                        let t = TaskId {
                            layer: consumer,
                            chunk: out_grid.linear_index(&[i, j]),
                        };
                        if !out[start..].contains(&t) {
                            out.push(t);
                        }
                    };
                    if m.a == task.layer {
                        (0..nb[1]).for_each(|j| push(idx[0], j));
                    }
                    if m.b == task.layer {
                        (0..nb[0]).for_each(|i| push(i, idx[1]));
                    }
                }
                LayerOp::Combine(c) => {
                    let in_grid = &self.grids[task.layer as usize];
                    let mut idx = in_grid.block_index(task.chunk);
                    for &axis in &c.axes {
                        idx[axis] /= c.split_every as u64;
                    }
                    out.push(TaskId {
                        layer: consumer,
                        chunk: self.grids[consumer as usize].linear_index(&idx),
                    });
                }
            }
        }
    }

    /// Every chunk of blockwise layer `consumer` that reads `task` through a broadcast.
    fn broadcast_dependents(
        &self,
        task: TaskId,
        consumer: LayerId,
        axes: &[i32],
        out: &mut Vec<TaskId>,
    ) {
        let in_grid = &self.grids[task.layer as usize];
        let in_idx = in_grid.block_index(task.chunk);
        let nb_in = in_grid.numblocks();
        let grid = &self.grids[consumer as usize];
        let nb = grid.numblocks();
        // Fixed coordinates where an input axis with several blocks maps; all others vary.
        let mut fixed: Vec<Option<u64>> = vec![None; nb.len()];
        for (k, &d) in axes.iter().enumerate() {
            if d >= 0 && nb_in[k] > 1 {
                fixed[d as usize] = Some(in_idx[k]);
            }
        }
        if nb.contains(&0) {
            return;
        }
        let mut cur: Vec<u64> = fixed.iter().map(|f| f.unwrap_or(0)).collect();
        loop {
            out.push(TaskId {
                layer: consumer,
                chunk: grid.linear_index(&cur),
            });
            let mut axis = cur.len();
            loop {
                if axis == 0 {
                    return;
                }
                axis -= 1;
                if fixed[axis].is_some() {
                    continue;
                }
                cur[axis] += 1;
                if cur[axis] < nb[axis] {
                    break;
                }
                cur[axis] = 0;
            }
        }
    }

    /// Number of distinct tasks `task` reads.
    pub fn num_inputs(&self, task: TaskId) -> usize {
        let mut v = Vec::new();
        self.inputs_of(task, &mut v);
        v.len()
    }

    /// For a task of a [`Stored`] layer, the graph and task whose result it reads; its
    /// only input, which [`Graph::inputs_of`] does not list (it is in another graph).
    pub fn stored_source(&self, task: TaskId) -> Option<(u64, TaskId)> {
        match &self.layers.get(task.layer as usize)?.op {
            LayerOp::Stored(st) => Some((
                st.graph,
                TaskId {
                    layer: st.layer,
                    chunk: task.chunk,
                },
            )),
            _ => None,
        }
    }

    /// The task's key as users see it in errors: `('layer-name', i, j, ...)`.
    pub fn task_key(&self, task: TaskId) -> String {
        let name = &self.layers[task.layer as usize].name;
        if !self.contains(task) {
            return format!("('{name}', #{})", task.chunk);
        }
        let idx = self.grids[task.layer as usize].block_index(task.chunk);
        let mut key = format!("('{name}'");
        for i in idx {
            key.push_str(&format!(", {i}"));
        }
        key.push(')');
        key
    }
}

/// Layers a layer operation reads.
pub fn layer_inputs(op: &LayerOp) -> Vec<LayerId> {
    match op {
        LayerOp::Blockwise(b) => b.inputs.clone(),
        LayerOp::Combine(c) => vec![c.input],
        LayerOp::Ntuple(_) | LayerOp::Literal(_) | LayerOp::Stored(_) => vec![],
        LayerOp::Rearrange(r) => r.inputs.clone(),
        LayerOp::Reshape(r) => vec![r.input],
        LayerOp::MatMul(m) => vec![m.a, m.b],
        LayerOp::Scan(sc) => vec![sc.input, sc.totals],
        LayerOp::Compress(c) if c.data == c.mask => vec![c.data],
        LayerOp::Compress(c) => vec![c.data, c.mask],
    }
}

fn validate_histogram(h: &ChunkHistogram, program: &Program) -> Result<(), String> {
    if h.bins == 0 {
        return Err("histograms into 0 bins".into());
    }
    if !(h.lo.is_finite() && h.hi.is_finite() && h.lo < h.hi) {
        return Err(format!(
            "histograms over the range [{}, {}], which is not finite and increasing",
            h.lo, h.hi
        ));
    }
    if let Some(w) = h.weight
        && w as usize + 1 >= program.instrs.len()
    {
        return Err(format!(
            "weighs its histogram by value {w}, which is not a value before the result"
        ));
    }
    Ok(())
}

fn validate_axes(axes: &[usize], ndim: usize) -> Result<(), String> {
    for (i, &a) in axes.iter().enumerate() {
        if a >= ndim {
            return Err(format!("reduces axis {a} of a {ndim}-dimensional array"));
        }
        if axes[..i].contains(&a) {
            return Err(format!("reduces axis {a} twice"));
        }
    }
    Ok(())
}

/// How each input slot of a program is read: as is (None) or broadcast. A slot must
/// be read one way only.
fn slot_maps(program: &Program, num_inputs: usize) -> Result<Vec<Option<Vec<i32>>>, String> {
    let mut maps: Vec<Option<Option<Vec<i32>>>> = vec![None; num_inputs];
    for (i, instr) in program.instrs.iter().enumerate() {
        let (slot, map) = match instr {
            Instr::Input(s) => (*s as usize, None),
            Instr::InputBroadcast { slot, axes } => (*slot as usize, Some(axes.clone())),
            _ => continue,
        };
        let Some(entry) = maps.get_mut(slot) else {
            continue; // validate_program reports it
        };
        match entry {
            None => *entry = Some(map),
            Some(prev) if *prev == map => {}
            Some(_) => {
                return Err(format!(
                    "instruction {i} reads input {slot} with another broadcast than before"
                ));
            }
        }
    }
    Ok(maps.into_iter().map(|m| m.flatten()).collect())
}

/// Checks that an input of `grid` broadcasts over `domain` with `axes`.
fn check_broadcast(grid: &ChunkGrid, axes: &[i32], domain: &ChunkGrid) -> Result<(), String> {
    if axes.len() != grid.ndim() {
        return Err(format!(
            "has {} axes, but its broadcast names {}",
            grid.ndim(),
            axes.len()
        ));
    }
    let mut last: i64 = -1;
    for (k, &d) in axes.iter().enumerate() {
        let chunks = &grid.chunks()[k];
        if d < 0 {
            if d != -1 || chunks != &[1] {
                return Err(format!(
                    "cannot drop axis {k} (chunks {chunks:?}): only axes of length 1 can be"
                ));
            }
            continue;
        }
        if d as usize >= domain.ndim() || (d as i64) <= last {
            return Err(format!(
                "maps axis {k} to axis {d} of a {}-dimensional layer (axes must map in order)",
                domain.ndim()
            ));
        }
        last = d as i64;
        let want = &domain.chunks()[d as usize];
        if chunks != want && chunks != &[1] {
            return Err(format!(
                "has chunks {chunks:?} on axis {k}, which cannot broadcast over the layer's \
                 chunks {want:?} on axis {d}"
            ));
        }
    }
    Ok(())
}

fn validate_program(program: &Program, num_inputs: usize) -> Result<(), String> {
    if program.instrs.is_empty() {
        return Err("has an empty program".into());
    }
    for (i, instr) in program.instrs.iter().enumerate() {
        let slot = match instr {
            Instr::Input(slot) | Instr::InputBroadcast { slot, .. } => Some(*slot),
            _ => None,
        };
        if let Some(slot) = slot
            && slot as usize >= num_inputs
        {
            return Err(format!(
                "instruction {i} reads input {slot}, but the layer has {num_inputs} inputs"
            ));
        }
        for operand in instr.operands() {
            if operand as usize >= i {
                return Err(format!(
                    "instruction {i} reads value {operand}, which is not defined before it"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{seed_expression_graph, sum_tree_graph};
    use crate::{BinaryOp, ChunkReduce, Instr};

    fn source(name: &str, shape: &[u64], chunks: &[u64]) -> Layer {
        let mut program = Program::default();
        program.push(Instr::Const(1.0));
        Layer {
            name: name.into(),
            op: LayerOp::Blockwise(Blockwise {
                domain: ChunkGrid::regular(shape, chunks).unwrap(),
                inputs: vec![],
                program,
                reduce: None,
                histogram: None,
            }),
        }
    }

    fn add(name: &str, shape: &[u64], chunks: &[u64], inputs: Vec<LayerId>) -> Layer {
        let mut program = Program::default();
        let a = program.push(Instr::Input(0));
        let b = program.push(Instr::Input(1));
        program.push(Instr::Binary(BinaryOp::Add, a, b));
        Layer {
            name: name.into(),
            op: LayerOp::Blockwise(Blockwise {
                domain: ChunkGrid::regular(shape, chunks).unwrap(),
                inputs,
                program,
                reduce: None,
                histogram: None,
            }),
        }
    }

    #[test]
    fn a_missing_layer_is_named() {
        let err = Graph::new(
            vec![source("x", &[4], &[2]), add("add", &[4], &[2], vec![0, 7])],
            vec![1],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'add'") && err.contains("layer 7"), "{err}");
    }

    #[test]
    fn a_cycle_is_refused() {
        let err = Graph::new(
            vec![
                add("a", &[4], &[2], vec![1, 1]),
                add("b", &[4], &[2], vec![0, 0]),
            ],
            vec![1],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn a_chunk_mismatch_names_both_grids() {
        let err = Graph::new(
            vec![
                source("x", &[4], &[2]),
                source("y", &[4], &[4]),
                add("add", &[4], &[2], vec![0, 1]),
            ],
            vec![2],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("'y'") && err.contains("[[4]]") && err.contains("[[2, 2]]"),
            "{err}"
        );
    }

    #[test]
    fn bad_programs_and_axes_are_refused() {
        let mut bad = add("add", &[4], &[2], vec![0, 0]);
        if let LayerOp::Blockwise(b) = &mut bad.op {
            b.program.instrs[2] = Instr::Binary(BinaryOp::Add, 0, 5);
        }
        let err = Graph::new(vec![source("x", &[4], &[2]), bad], vec![1]).unwrap_err();
        assert!(err.to_string().contains("value 5"), "{err}");

        let mut bad = source("x", &[4], &[2]);
        if let LayerOp::Blockwise(b) = &mut bad.op {
            b.reduce = Some(ChunkReduce {
                op: ReduceOp::Sum,
                axes: vec![3],
            });
        }
        let err = Graph::new(vec![bad], vec![0]).unwrap_err();
        assert!(err.to_string().contains("axis 3"), "{err}");
    }

    #[test]
    fn unused_layers_are_refused() {
        let err = Graph::new(
            vec![source("x", &[4], &[2]), source("y", &[4], &[2])],
            vec![1],
        )
        .unwrap_err();
        assert!(err.to_string().contains("neither an output"), "{err}");
    }

    #[test]
    fn inputs_and_dependents_agree() {
        for g in [
            sum_tree_graph(37, 4),
            seed_expression_graph([9, 8, 3], [2, 3, 2], 3),
            crate::testing::ntuple_histogram_graph(&["a.root", "b.root"], 11, 100, 3),
        ] {
            let mut inputs = Vec::new();
            let mut deps = Vec::new();
            let mut edges = 0;
            for i in 0..g.num_tasks() {
                let t = g.task_at(i);
                assert_eq!(g.task_index(t), i);
                inputs.clear();
                g.inputs_of(t, &mut inputs);
                for &input in &inputs {
                    deps.clear();
                    g.dependents_of(input, &mut deps);
                    assert!(deps.contains(&t), "{t:?} reads {input:?}");
                    edges += 1;
                }
            }
            // Every non-root task reads something; every non-output is read.
            assert!(edges >= g.num_tasks() - g.layer_tasks(0));
            let out = g.outputs()[0];
            assert_eq!(g.layer_tasks(out), g.grid(out).num_chunks());
        }
    }

    #[test]
    fn broadcast_inputs_expand_and_are_validated() {
        // A (1, 3)-chunked row read by every chunk of a (4, 6) grid.
        let row = Layer {
            name: "row".into(),
            op: LayerOp::Blockwise(Blockwise {
                domain: ChunkGrid::regular(&[1, 6], &[1, 3]).unwrap(),
                inputs: vec![],
                program: {
                    let mut p = Program::default();
                    p.push(Instr::Const(2.0));
                    p
                },
                reduce: None,
                histogram: None,
            }),
        };
        let mut p = Program::default();
        p.push(Instr::InputBroadcast {
            slot: 0,
            axes: vec![0, 1],
        });
        let wide = |program: Program| Layer {
            name: "wide".into(),
            op: LayerOp::Blockwise(Blockwise {
                domain: ChunkGrid::regular(&[4, 6], &[2, 3]).unwrap(),
                inputs: vec![0],
                program,
                reduce: None,
                histogram: None,
            }),
        };
        let g = Graph::new(vec![row.clone(), wide(p.clone())], vec![1]).unwrap();
        let mut v = Vec::new();
        g.inputs_of(TaskId { layer: 1, chunk: 3 }, &mut v);
        assert_eq!(v, vec![TaskId { layer: 0, chunk: 1 }]);
        v.clear();
        g.dependents_of(TaskId { layer: 0, chunk: 1 }, &mut v);
        assert_eq!(
            v,
            vec![TaskId { layer: 1, chunk: 1 }, TaskId { layer: 1, chunk: 3 }]
        );
        for (axes, want) in [
            (vec![1, 0], "in order"),
            (vec![0], "broadcast names 1"),
            (vec![-1, 0], "cannot broadcast"),
            (vec![0, 5], "axis 5"),
        ] {
            let mut bad = Program::default();
            bad.push(Instr::InputBroadcast { slot: 0, axes });
            let err = Graph::new(vec![row.clone(), wide(bad)], vec![1]).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        // One slot read two ways.
        let mut bad = p;
        bad.push(Instr::Input(0));
        let err = Graph::new(vec![row, wide(bad)], vec![1]).unwrap_err();
        assert!(err.to_string().contains("another broadcast"), "{err}");
    }

    #[test]
    fn tree_reduction_reaches_one_chunk() {
        let g = sum_tree_graph(37, 4);
        // 37 -> 10 -> 3 -> 1
        assert_eq!(g.layers().len(), 4);
        assert_eq!(g.num_tasks(), 37 + 10 + 3 + 1);
        let mut inputs = Vec::new();
        g.inputs_of(TaskId { layer: 1, chunk: 9 }, &mut inputs);
        assert_eq!(
            inputs,
            vec![TaskId {
                layer: 0,
                chunk: 36
            }]
        );
    }

    #[test]
    fn ntuple_layers_are_roots_and_reduce_by_tree() {
        let g = crate::testing::ntuple_histogram_graph(&["a.root"], 10, 1000, 4);
        // 10 partitions -> 3 -> 1
        assert_eq!(g.layers().len(), 3);
        assert_eq!(g.layer_tasks(0), 10);
        assert_eq!(g.grid(0).chunks(), &[vec![1; 10], vec![53]]);
        assert_eq!(g.grid(2).chunks(), &[vec![1], vec![53]]);
        let mut inputs = Vec::new();
        g.inputs_of(TaskId { layer: 0, chunk: 4 }, &mut inputs);
        assert!(inputs.is_empty());
        g.inputs_of(TaskId { layer: 1, chunk: 2 }, &mut inputs);
        assert_eq!(
            inputs,
            vec![TaskId { layer: 0, chunk: 8 }, TaskId { layer: 0, chunk: 9 }]
        );
        let p = crate::depth_first_priorities(&g);
        assert_eq!(p.len() as u64, g.num_tasks());
        assert_eq!(
            g.task_key(TaskId { layer: 0, chunk: 7 }),
            "('dilepton', 7, 0)"
        );
    }

    #[test]
    fn bad_ntuple_layers_are_refused_with_their_name() {
        let g = crate::testing::ntuple_histogram_graph(&["a.root"], 2, 10, 2);
        let mut layers = g.layers().to_vec();
        if let LayerOp::Ntuple(s) = &mut layers[0].op {
            s.steps[0] = crate::Step::Filter("lep_n == 2 &&".into());
        }
        let err = Graph::new(layers, g.outputs().to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'dilepton'") && err.contains("filter 1"),
            "{err}"
        );
        assert!(err.contains("column 14"), "{err}");

        // Tables cannot be summed.
        let mut layers = g.layers().to_vec();
        if let LayerOp::Ntuple(s) = &mut layers[0].op {
            s.output = crate::NtupleOutput::Table(vec!["lep_pt".into()]);
        }
        let err = Graph::new(layers, g.outputs().to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("produces tables"), "{err}");
    }

    #[test]
    fn task_keys_show_block_indices() {
        let g = seed_expression_graph([4, 4, 2], [2, 2, 2], 4);
        assert_eq!(
            g.task_key(TaskId { layer: 0, chunk: 3 }),
            "('sum-partial', 1, 1, 0)"
        );
    }
}
