//! Conversion between the graph model and its protobuf form, validating on receipt.

use crate::graph::{Blockwise, ChunkHistogram, ChunkReduce, Combine, Layer, LayerOp, Stored};
use crate::grid::ChunkGrid;
use crate::layout::{AxisMap, Compress, Literal, LiteralValues, Rearrange, Reshape};
use crate::linalg::{MatMul, Scan};
use crate::ntuple::{
    BranchDecl, BranchKind, HistAxis, HistSpec, NtupleOutput, NtupleScan, Partition, Prim, Reducer,
    Step,
};
use crate::program::{
    BinaryOp, DType, Distribution, Fault, Instr, Program, ReduceOp, UnaryOp, ValueId,
};
use crate::{Graph, GraphError, LayerId};
use kaon_proto as pb;

impl Graph {
    /// Decodes and validates a graph received from the network.
    pub fn from_proto(g: &pb::Graph) -> Result<Graph, GraphError> {
        let mut layers = Vec::with_capacity(g.layers.len());
        for (id, l) in g.layers.iter().enumerate() {
            let at = |message: String| GraphError::Layer {
                layer: id as LayerId,
                name: l.name.clone(),
                message,
            };
            let op = match &l.op {
                Some(pb::layer::Op::Blockwise(b)) => {
                    let domain = grid_from_proto(b.domain.as_ref())
                        .map_err(|e| at(format!("has a bad domain: {e}")))?;
                    let program = program_from_proto(&b.program).map_err(&at)?;
                    let reduce = match &b.reduce {
                        None => None,
                        Some(r) => Some(ChunkReduce {
                            op: reduce_op(r.op).map_err(&at)?,
                            axes: r.axes.iter().map(|&a| a as usize).collect(),
                        }),
                    };
                    let histogram = b.histogram.as_ref().map(|h| ChunkHistogram {
                        bins: h.bins,
                        lo: h.lo,
                        hi: h.hi,
                        weight: h.weight,
                        float32: h.float32,
                    });
                    LayerOp::Blockwise(Blockwise {
                        domain,
                        inputs: b.inputs.clone(),
                        program,
                        reduce,
                        histogram,
                    })
                }
                Some(pb::layer::Op::Rearrange(r)) => LayerOp::Rearrange(Rearrange {
                    inputs: r.inputs.clone(),
                    concat_axis: r.concat_axis,
                    axes: r
                        .axes
                        .iter()
                        .map(|m| AxisMap {
                            source: m.source,
                            start: m.start,
                            step: m.step,
                        })
                        .collect(),
                    fixed: r.fixed.iter().map(|f| (f.axis, f.position)).collect(),
                    grid: grid_from_proto(r.grid.as_ref())
                        .map_err(|e| at(format!("has a bad grid: {e}")))?,
                }),
                Some(pb::layer::Op::Reshape(r)) => LayerOp::Reshape(Reshape {
                    input: r.input,
                    grid: grid_from_proto(r.grid.as_ref())
                        .map_err(|e| at(format!("has a bad grid: {e}")))?,
                }),
                Some(pb::layer::Op::Literal(l)) => LayerOp::Literal(Literal {
                    grid: grid_from_proto(l.grid.as_ref())
                        .map_err(|e| at(format!("has a bad grid: {e}")))?,
                    values: if l.integer {
                        LiteralValues::I64(l.int_values.clone().into())
                    } else {
                        LiteralValues::F64(l.values.clone().into())
                    },
                }),
                Some(pb::layer::Op::Matmul(m)) => LayerOp::MatMul(MatMul { a: m.a, b: m.b }),
                Some(pb::layer::Op::Stored(st)) => LayerOp::Stored(Stored {
                    graph: st.graph,
                    layer: st.layer,
                    grid: grid_from_proto(st.grid.as_ref())
                        .map_err(|e| at(format!("has a bad grid: {e}")))?,
                }),
                Some(pb::layer::Op::Compress(c)) => LayerOp::Compress(Compress {
                    data: c.data,
                    mask: c.mask,
                    sources: c.sources.clone(),
                    grid: grid_from_proto(c.grid.as_ref())
                        .map_err(|e| at(format!("has a bad grid: {e}")))?,
                }),
                Some(pb::layer::Op::Scan(sc)) => LayerOp::Scan(Scan {
                    input: sc.input,
                    totals: sc.totals,
                    axis: sc.axis,
                    op: reduce_op(sc.op).map_err(&at)?,
                }),
                Some(pb::layer::Op::Combine(c)) => LayerOp::Combine(Combine {
                    input: c.input,
                    op: reduce_op(c.op).map_err(&at)?,
                    axes: c.axes.iter().map(|&a| a as usize).collect(),
                    split_every: c.split_every,
                }),
                Some(pb::layer::Op::Ntuple(n)) => {
                    LayerOp::Ntuple(ntuple_from_proto(n).map_err(&at)?)
                }
                None => return Err(at("has no operation".into())),
            };
            layers.push(Layer {
                name: l.name.clone(),
                op,
            });
        }
        Graph::new(layers, g.outputs.clone())
    }

    pub fn to_proto(&self) -> pb::Graph {
        pb::Graph {
            layers: self
                .layers()
                .iter()
                .map(|l| pb::Layer {
                    name: l.name.clone(),
                    op: Some(match &l.op {
                        LayerOp::Blockwise(b) => pb::layer::Op::Blockwise(pb::Blockwise {
                            domain: Some(grid_to_proto(&b.domain)),
                            inputs: b.inputs.clone(),
                            program: program_to_proto(&b.program),
                            reduce: b.reduce.as_ref().map(|r| pb::ChunkReduce {
                                op: reduce_op_to_proto(r.op) as i32,
                                axes: r.axes.iter().map(|&a| a as u32).collect(),
                            }),
                            histogram: b.histogram.as_ref().map(|h| pb::ChunkHistogram {
                                bins: h.bins,
                                lo: h.lo,
                                hi: h.hi,
                                weight: h.weight,
                                float32: h.float32,
                            }),
                        }),
                        LayerOp::Combine(c) => pb::layer::Op::Combine(pb::Combine {
                            input: c.input,
                            op: reduce_op_to_proto(c.op) as i32,
                            axes: c.axes.iter().map(|&a| a as u32).collect(),
                            split_every: c.split_every,
                        }),
                        LayerOp::Ntuple(n) => pb::layer::Op::Ntuple(ntuple_to_proto(n)),
                        LayerOp::Rearrange(r) => pb::layer::Op::Rearrange(pb::Rearrange {
                            inputs: r.inputs.clone(),
                            concat_axis: r.concat_axis,
                            axes: r
                                .axes
                                .iter()
                                .map(|m| pb::AxisMap {
                                    source: m.source,
                                    start: m.start,
                                    step: m.step,
                                })
                                .collect(),
                            grid: Some(grid_to_proto(&r.grid)),
                            fixed: r
                                .fixed
                                .iter()
                                .map(|&(axis, position)| pb::FixedAxis { axis, position })
                                .collect(),
                        }),
                        LayerOp::Reshape(r) => pb::layer::Op::Reshape(pb::Reshape {
                            input: r.input,
                            grid: Some(grid_to_proto(&r.grid)),
                        }),
                        LayerOp::Literal(l) => pb::layer::Op::Literal(match &l.values {
                            LiteralValues::F64(v) => pb::Literal {
                                grid: Some(grid_to_proto(&l.grid)),
                                values: v.to_vec(),
                                ..Default::default()
                            },
                            LiteralValues::I64(v) => pb::Literal {
                                grid: Some(grid_to_proto(&l.grid)),
                                int_values: v.to_vec(),
                                integer: true,
                                ..Default::default()
                            },
                        }),
                        LayerOp::MatMul(m) => pb::layer::Op::Matmul(pb::MatMul { a: m.a, b: m.b }),
                        LayerOp::Stored(st) => pb::layer::Op::Stored(pb::Stored {
                            graph: st.graph,
                            layer: st.layer,
                            grid: Some(grid_to_proto(&st.grid)),
                        }),
                        LayerOp::Compress(c) => pb::layer::Op::Compress(pb::Compress {
                            data: c.data,
                            mask: c.mask,
                            sources: c.sources.clone(),
                            grid: Some(grid_to_proto(&c.grid)),
                        }),
                        LayerOp::Scan(sc) => pb::layer::Op::Scan(pb::Scan {
                            input: sc.input,
                            totals: sc.totals,
                            axis: sc.axis,
                            op: reduce_op_to_proto(sc.op) as i32,
                        }),
                    }),
                })
                .collect(),
            outputs: self.outputs().to_vec(),
        }
    }
}

pub fn grid_from_proto(g: Option<&pb::ChunkGrid>) -> Result<ChunkGrid, GraphError> {
    let g = g.ok_or_else(|| GraphError::grid("missing".into()))?;
    ChunkGrid::new(g.axes.iter().map(|a| a.sizes.clone()).collect())
}

pub fn grid_to_proto(g: &ChunkGrid) -> pb::ChunkGrid {
    pb::ChunkGrid {
        axes: g
            .chunks()
            .iter()
            .map(|s| pb::AxisChunks { sizes: s.clone() })
            .collect(),
    }
}

const PRIMS: [(pb::NtuplePrim, Prim); 11] = [
    (pb::NtuplePrim::Bool, Prim::Bool),
    (pb::NtuplePrim::I8, Prim::I8),
    (pb::NtuplePrim::U8, Prim::U8),
    (pb::NtuplePrim::I16, Prim::I16),
    (pb::NtuplePrim::U16, Prim::U16),
    (pb::NtuplePrim::I32, Prim::I32),
    (pb::NtuplePrim::U32, Prim::U32),
    (pb::NtuplePrim::I64, Prim::I64),
    (pb::NtuplePrim::U64, Prim::U64),
    (pb::NtuplePrim::F32, Prim::F32),
    (pb::NtuplePrim::F64, Prim::F64),
];

fn prim_from_proto(p: i32, branch: &str) -> Result<Prim, String> {
    PRIMS
        .iter()
        .find(|(q, _)| *q as i32 == p)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("declares branch '{branch}' with an unknown type ({p})"))
}

fn prim_to_proto(p: Prim) -> i32 {
    PRIMS.iter().find(|(_, t)| *t == p).unwrap().0 as i32
}

fn ntuple_from_proto(n: &pb::NtupleScan) -> Result<NtupleScan, String> {
    use pb::ntuple_branch::Kind as BKind;
    use pb::ntuple_reducer::Kind as RKind;
    use pb::ntuple_scan::Output;
    use pb::ntuple_step::Kind as SKind;
    let branches = n
        .branches
        .iter()
        .map(|b| {
            let kind = match &b.kind {
                Some(BKind::Scalar(p)) => BranchKind::Scalar(prim_from_proto(*p, &b.name)?),
                Some(BKind::List(p)) => BranchKind::List(prim_from_proto(*p, &b.name)?),
                Some(BKind::Other(why)) => BranchKind::Other(why.clone()),
                None => return Err(format!("declares branch '{}' without a type", b.name)),
            };
            Ok(BranchDecl {
                name: b.name.clone(),
                kind,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let steps = n
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.kind {
            Some(SKind::Define(d)) => Ok(Step::Define {
                name: d.name.clone(),
                expr: d.expr.clone(),
            }),
            Some(SKind::Filter(f)) => Ok(Step::Filter(f.clone())),
            None => Err(format!("step {i} is empty")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let output = match &n.output {
        Some(Output::Reduce(r)) => NtupleOutput::Reduce(
            r.reducers
                .iter()
                .enumerate()
                .map(|(i, r)| match &r.kind {
                    Some(RKind::Count(_)) => Ok(Reducer::Count),
                    Some(RKind::Sum(e)) => Ok(Reducer::Sum(e.clone())),
                    Some(RKind::Histogram(h)) => Ok(Reducer::Histogram(HistSpec {
                        axes: h
                            .axes
                            .iter()
                            .map(|a| HistAxis {
                                expr: a.expr.clone(),
                                bins: a.bins,
                                low: a.low,
                                high: a.high,
                            })
                            .collect(),
                        weight: (!h.weight.is_empty()).then(|| h.weight.clone()),
                    })),
                    None => Err(format!("reducer {i} is empty")),
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
        Some(Output::Table(t)) => NtupleOutput::Table(t.names.clone()),
        None => return Err("has no output".into()),
    };
    Ok(NtupleScan {
        tree: n.tree.clone(),
        files: n.files.clone(),
        partitions: n
            .partitions
            .iter()
            .map(|p| Partition {
                file: p.file,
                start: p.start,
                stop: p.stop,
            })
            .collect(),
        branches,
        steps,
        output,
    })
}

fn ntuple_to_proto(n: &NtupleScan) -> pb::NtupleScan {
    use pb::ntuple_branch::Kind as BKind;
    use pb::ntuple_reducer::Kind as RKind;
    use pb::ntuple_scan::Output;
    use pb::ntuple_step::Kind as SKind;
    pb::NtupleScan {
        tree: n.tree.clone(),
        files: n.files.clone(),
        partitions: n
            .partitions
            .iter()
            .map(|p| pb::NtuplePartition {
                file: p.file,
                start: p.start,
                stop: p.stop,
            })
            .collect(),
        branches: n
            .branches
            .iter()
            .map(|b| pb::NtupleBranch {
                name: b.name.clone(),
                kind: Some(match &b.kind {
                    BranchKind::Scalar(p) => BKind::Scalar(prim_to_proto(*p)),
                    BranchKind::List(p) => BKind::List(prim_to_proto(*p)),
                    BranchKind::Other(why) => BKind::Other(why.clone()),
                }),
            })
            .collect(),
        steps: n
            .steps
            .iter()
            .map(|s| pb::NtupleStep {
                kind: Some(match s {
                    Step::Define { name, expr } => SKind::Define(pb::NtupleDefine {
                        name: name.clone(),
                        expr: expr.clone(),
                    }),
                    Step::Filter(f) => SKind::Filter(f.clone()),
                }),
            })
            .collect(),
        output: Some(match &n.output {
            NtupleOutput::Reduce(rs) => Output::Reduce(pb::NtupleReducers {
                reducers: rs
                    .iter()
                    .map(|r| pb::NtupleReducer {
                        kind: Some(match r {
                            Reducer::Count => RKind::Count(true),
                            Reducer::Sum(e) => RKind::Sum(e.clone()),
                            Reducer::Histogram(h) => RKind::Histogram(pb::NtupleHistogram {
                                axes: h
                                    .axes
                                    .iter()
                                    .map(|a| pb::HistAxis {
                                        expr: a.expr.clone(),
                                        bins: a.bins,
                                        low: a.low,
                                        high: a.high,
                                    })
                                    .collect(),
                                weight: h.weight.clone().unwrap_or_default(),
                            }),
                        }),
                    })
                    .collect(),
            }),
            NtupleOutput::Table(names) => Output::Table(pb::NtupleColumns {
                names: names.clone(),
            }),
        }),
    }
}

fn reduce_op(op: i32) -> Result<ReduceOp, String> {
    Ok(match pb::ReduceOp::try_from(op) {
        Ok(pb::ReduceOp::Sum) => ReduceOp::Sum,
        Ok(pb::ReduceOp::Prod) => ReduceOp::Prod,
        Ok(pb::ReduceOp::Min) => ReduceOp::Min,
        Ok(pb::ReduceOp::Max) => ReduceOp::Max,
        _ => return Err(format!("has an unknown reduction ({op})")),
    })
}

fn reduce_op_to_proto(op: ReduceOp) -> pb::ReduceOp {
    match op {
        ReduceOp::Sum => pb::ReduceOp::Sum,
        ReduceOp::Prod => pb::ReduceOp::Prod,
        ReduceOp::Min => pb::ReduceOp::Min,
        ReduceOp::Max => pb::ReduceOp::Max,
    }
}

const UNARY: [(pb::UnaryOp, UnaryOp); 39] = [
    (pb::UnaryOp::Neg, UnaryOp::Neg),
    (pb::UnaryOp::Abs, UnaryOp::Abs),
    (pb::UnaryOp::Sqrt, UnaryOp::Sqrt),
    (pb::UnaryOp::Exp, UnaryOp::Exp),
    (pb::UnaryOp::Log, UnaryOp::Log),
    (pb::UnaryOp::Sin, UnaryOp::Sin),
    (pb::UnaryOp::Cos, UnaryOp::Cos),
    (pb::UnaryOp::Tan, UnaryOp::Tan),
    (pb::UnaryOp::Arcsin, UnaryOp::Arcsin),
    (pb::UnaryOp::Arccos, UnaryOp::Arccos),
    (pb::UnaryOp::Arctan, UnaryOp::Arctan),
    (pb::UnaryOp::Sign, UnaryOp::Sign),
    (pb::UnaryOp::Cbrt, UnaryOp::Cbrt),
    (pb::UnaryOp::Square, UnaryOp::Square),
    (pb::UnaryOp::Expm1, UnaryOp::Expm1),
    (pb::UnaryOp::Log1p, UnaryOp::Log1p),
    (pb::UnaryOp::Log10, UnaryOp::Log10),
    (pb::UnaryOp::Log2, UnaryOp::Log2),
    (pb::UnaryOp::Sinh, UnaryOp::Sinh),
    (pb::UnaryOp::Cosh, UnaryOp::Cosh),
    (pb::UnaryOp::Tanh, UnaryOp::Tanh),
    (pb::UnaryOp::Arcsinh, UnaryOp::Arcsinh),
    (pb::UnaryOp::Arccosh, UnaryOp::Arccosh),
    (pb::UnaryOp::Arctanh, UnaryOp::Arctanh),
    (pb::UnaryOp::Floor, UnaryOp::Floor),
    (pb::UnaryOp::Ceil, UnaryOp::Ceil),
    (pb::UnaryOp::Rint, UnaryOp::Rint),
    (pb::UnaryOp::Trunc, UnaryOp::Trunc),
    (pb::UnaryOp::Isnan, UnaryOp::IsNan),
    (pb::UnaryOp::Isinf, UnaryOp::IsInf),
    (pb::UnaryOp::Isfinite, UnaryOp::IsFinite),
    (pb::UnaryOp::LogicalNot, UnaryOp::LogicalNot),
    (pb::UnaryOp::Invert, UnaryOp::Invert),
    (pb::UnaryOp::CastF32, UnaryOp::CastF32),
    (pb::UnaryOp::CastI64, UnaryOp::CastI64),
    (pb::UnaryOp::CastI32, UnaryOp::CastI32),
    (pb::UnaryOp::CastU8, UnaryOp::CastU8),
    (pb::UnaryOp::CastBool, UnaryOp::CastBool),
    (pb::UnaryOp::CastF64, UnaryOp::CastF64),
];

const BINARY: [(pb::BinaryOp, BinaryOp); 27] = [
    (pb::BinaryOp::Add, BinaryOp::Add),
    (pb::BinaryOp::Sub, BinaryOp::Sub),
    (pb::BinaryOp::Mul, BinaryOp::Mul),
    (pb::BinaryOp::Div, BinaryOp::Div),
    (pb::BinaryOp::Pow, BinaryOp::Pow),
    (pb::BinaryOp::Max, BinaryOp::Max),
    (pb::BinaryOp::Min, BinaryOp::Min),
    (pb::BinaryOp::FloorDiv, BinaryOp::FloorDiv),
    (pb::BinaryOp::Mod, BinaryOp::Mod),
    (pb::BinaryOp::IntFloorDiv, BinaryOp::IntFloorDiv),
    (pb::BinaryOp::IntMod, BinaryOp::IntMod),
    (pb::BinaryOp::Eq, BinaryOp::Eq),
    (pb::BinaryOp::Ne, BinaryOp::Ne),
    (pb::BinaryOp::Lt, BinaryOp::Lt),
    (pb::BinaryOp::Le, BinaryOp::Le),
    (pb::BinaryOp::Gt, BinaryOp::Gt),
    (pb::BinaryOp::Ge, BinaryOp::Ge),
    (pb::BinaryOp::LogicalAnd, BinaryOp::LogicalAnd),
    (pb::BinaryOp::LogicalOr, BinaryOp::LogicalOr),
    (pb::BinaryOp::LogicalXor, BinaryOp::LogicalXor),
    (pb::BinaryOp::BitAnd, BinaryOp::BitAnd),
    (pb::BinaryOp::BitOr, BinaryOp::BitOr),
    (pb::BinaryOp::BitXor, BinaryOp::BitXor),
    (pb::BinaryOp::Shl, BinaryOp::Shl),
    (pb::BinaryOp::Shr, BinaryOp::Shr),
    (pb::BinaryOp::Arctan2, BinaryOp::Arctan2),
    (pb::BinaryOp::Hypot, BinaryOp::Hypot),
];

fn program_from_proto(instrs: &[pb::Instr]) -> Result<Program, String> {
    use pb::instr::Kind;
    let mut program = Program::default();
    for (i, instr) in instrs.iter().enumerate() {
        let bad = |what: &str| format!("instruction {i} has {what}");
        let decoded = match &instr.kind {
            Some(Kind::Input(slot)) => Instr::Input(*slot),
            Some(Kind::Random(r)) => match pb::Distribution::try_from(r.distribution) {
                Ok(pb::Distribution::Uniform) => Instr::Random {
                    seed: r.seed,
                    distribution: Distribution::Uniform,
                },
                _ => return Err(bad("an unknown distribution")),
            },
            Some(Kind::Constant(c)) => Instr::Const(*c),
            Some(Kind::ConstantInt(c)) => Instr::ConstInt(*c),
            Some(Kind::Unary(u)) => {
                let op = UNARY
                    .iter()
                    .find(|(p, _)| *p as i32 == u.op)
                    .ok_or_else(|| bad("an unknown unary operation"))?
                    .1;
                Instr::Unary(op, u.operand)
            }
            Some(Kind::Binary(b)) => {
                let op = BINARY
                    .iter()
                    .find(|(p, _)| *p as i32 == b.op)
                    .ok_or_else(|| bad("an unknown binary operation"))?
                    .1;
                Instr::Binary(op, b.lhs, b.rhs)
            }
            Some(Kind::Iota(axis)) => Instr::Iota { axis: *axis },
            Some(Kind::Select(s)) => Instr::Select(s.cond, s.if_true, s.if_false),
            Some(Kind::InputBroadcast(b)) => {
                if b.axes.len() > crate::MAX_NDIM {
                    return Err(bad("a broadcast of too many axes"));
                }
                Instr::InputBroadcast {
                    slot: b.slot,
                    axes: b.axes.clone(),
                }
            }
            Some(Kind::Fault(f)) => match &f.kind {
                Some(pb::fault::Kind::Error(msg)) => Instr::Fault(Fault::Error(msg.clone())),
                Some(pb::fault::Kind::ExitWorker(_)) => Instr::Fault(Fault::ExitWorker),
                None => return Err(bad("an empty fault")),
            },
            None => return Err(bad("no operation")),
        };
        let dtype = match instr.dtype {
            0 => DType::F64,
            d => match DType::from_proto(d) {
                Some(DType::Table) | None => return Err(bad("an unknown dtype")),
                Some(d) => d,
            },
        };
        program.push_typed(decoded, dtype);
    }
    Ok(program)
}

fn program_to_proto(program: &Program) -> Vec<pb::Instr> {
    (0..program.instrs.len())
        .map(|i| {
            let mut p = instr_to_proto(&program.instrs[i]);
            p.dtype = program.dtype(i as ValueId).to_proto() as i32;
            p
        })
        .collect()
}

fn instr_to_proto(instr: &Instr) -> pb::Instr {
    use pb::instr::Kind;
    let kind = match instr {
        Instr::Input(slot) => Kind::Input(*slot),
        Instr::Random { seed, distribution } => Kind::Random(pb::Random {
            seed: *seed,
            distribution: match distribution {
                Distribution::Uniform => pb::Distribution::Uniform as i32,
            },
        }),
        Instr::Const(c) => Kind::Constant(*c),
        Instr::ConstInt(c) => Kind::ConstantInt(*c),
        Instr::Unary(op, a) => Kind::Unary(pb::Unary {
            op: UNARY.iter().find(|(_, o)| o == op).unwrap().0 as i32,
            operand: *a,
        }),
        Instr::Binary(op, a, b) => Kind::Binary(pb::Binary {
            op: BINARY.iter().find(|(_, o)| o == op).unwrap().0 as i32,
            lhs: *a,
            rhs: *b,
        }),
        Instr::Iota { axis } => Kind::Iota(*axis),
        Instr::InputBroadcast { slot, axes } => Kind::InputBroadcast(pb::InputBroadcast {
            slot: *slot,
            axes: axes.clone(),
        }),
        Instr::Select(c, a, b) => Kind::Select(pb::Select {
            cond: *c,
            if_true: *a,
            if_false: *b,
        }),
        Instr::Fault(Fault::Error(msg)) => Kind::Fault(pb::Fault {
            kind: Some(pb::fault::Kind::Error(msg.clone())),
        }),
        Instr::Fault(Fault::ExitWorker) => Kind::Fault(pb::Fault {
            kind: Some(pb::fault::Kind::ExitWorker(true)),
        }),
    };
    pb::Instr {
        kind: Some(kind),
        dtype: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{seed_expression_graph, sum_tree_graph};
    use prost::Message;

    #[test]
    fn graphs_round_trip_through_protobuf() {
        for g in [
            sum_tree_graph(10, 3),
            seed_expression_graph([6, 4, 2], [3, 2, 2], 4),
            crate::testing::ntuple_histogram_graph(&["/data/a.root", "/data/b.root"], 7, 50, 2),
        ] {
            let bytes = g.to_proto().encode_to_vec();
            let back = Graph::from_proto(&pb::Graph::decode(&bytes[..]).unwrap()).unwrap();
            assert_eq!(back.layers(), g.layers());
            assert_eq!(back.num_tasks(), g.num_tasks());
        }
    }

    #[test]
    fn a_persisted_layer_round_trips_and_names_its_source() {
        let grid = ChunkGrid::regular(&[10, 4], &[3, 4]).unwrap();
        let stored = Layer {
            name: "persisted".into(),
            op: LayerOp::Stored(Stored {
                graph: 41,
                layer: 2,
                grid: grid.clone(),
            }),
        };
        let g = Graph::new(vec![stored], vec![0]).unwrap();
        let bytes = g.to_proto().encode_to_vec();
        let back = Graph::from_proto(&pb::Graph::decode(&bytes[..]).unwrap()).unwrap();
        assert_eq!(back.layers(), g.layers());
        assert_eq!(back.num_tasks(), 4);
        let task = crate::TaskId { layer: 0, chunk: 3 };
        assert_eq!(
            back.stored_source(task),
            Some((41, crate::TaskId { layer: 2, chunk: 3 }))
        );
        let mut inputs = Vec::new();
        back.inputs_of(task, &mut inputs);
        assert!(
            inputs.is_empty(),
            "the source is not an input inside the graph"
        );
        // A missing grid is refused on receipt, naming the layer.
        let mut p = g.to_proto();
        if let Some(pb::layer::Op::Stored(st)) = &mut p.layers[0].op {
            st.grid = None;
        }
        let err = Graph::from_proto(&p).unwrap_err().to_string();
        assert!(err.contains("persisted") && err.contains("grid"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        let good = seed_expression_graph([6, 4, 2], [3, 2, 2], 4)
            .to_proto()
            .encode_to_vec();
        // Truncations and bit flips either fail to decode or fail validation, or decode
        // to some valid graph; none may panic.
        for cut in 0..good.len() {
            if let Ok(g) = pb::Graph::decode(&good[..cut]) {
                let _ = Graph::from_proto(&g);
            }
        }
        let mut state = 0x9e3779b97f4a7c15u64;
        for _ in 0..2000 {
            let mut bytes = good.clone();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let pos = (state >> 33) as usize % bytes.len();
            bytes[pos] ^= (state >> 13) as u8 | 1;
            if let Ok(g) = pb::Graph::decode(&bytes[..]) {
                let _ = Graph::from_proto(&g);
            }
        }
    }

    #[test]
    fn ntuple_layers_round_trip_every_variant() {
        use crate::ntuple::*;
        let g = crate::testing::ntuple_histogram_graph(&["a.root"], 3, 10, 2);
        let mut layers = g.layers().to_vec();
        let LayerOp::Ntuple(s) = &mut layers[0].op else {
            panic!()
        };
        s.branches.push(BranchDecl {
            name: "tag".into(),
            kind: BranchKind::Other("strings".into()),
        });
        s.branches.push(BranchDecl {
            name: "w".into(),
            kind: BranchKind::Scalar(Prim::F64),
        });
        s.output = NtupleOutput::Reduce(vec![
            Reducer::Sum("w".into()),
            Reducer::Histogram(HistSpec {
                axes: vec![
                    HistAxis {
                        expr: "lep_pt".into(),
                        bins: 3,
                        low: 0.0,
                        high: 1.0,
                    },
                    HistAxis {
                        expr: "lep_eta".into(),
                        bins: 4,
                        low: -2.5,
                        high: 2.5,
                    },
                ],
                weight: Some("w".into()),
            }),
        ]);
        let grid = s.grid().unwrap();
        layers.truncate(1);
        let (out, _) =
            crate::push_tree_reduction(&mut layers, 0, &grid, ReduceOp::Sum, &[0], 2, "c");
        let g = Graph::new(layers, vec![out]).unwrap();
        let back = Graph::from_proto(&g.to_proto()).unwrap();
        assert_eq!(back.layers(), g.layers());
        assert_eq!(back.grid(0).chunks()[1], vec![1 + 5 * 6 * 2]);

        let table = crate::testing::ntuple_histogram_graph(&["a.root"], 3, 10, 2);
        let mut layers = table.layers()[..1].to_vec();
        if let LayerOp::Ntuple(s) = &mut layers[0].op {
            s.output = NtupleOutput::Table(vec!["mll".into(), "lep_pt".into()]);
        }
        let g = Graph::new(layers, vec![0]).unwrap();
        let back = Graph::from_proto(&g.to_proto()).unwrap();
        assert_eq!(back.layers(), g.layers());
    }

    #[test]
    fn malformed_ntuple_layers_are_refused() {
        let good = crate::testing::ntuple_histogram_graph(&["a.root"], 3, 10, 2).to_proto();
        let mut p = good.clone();
        if let Some(pb::layer::Op::Ntuple(n)) = &mut p.layers[0].op {
            n.branches[0].kind = Some(pb::ntuple_branch::Kind::Scalar(77));
        }
        let err = Graph::from_proto(&p).unwrap_err().to_string();
        assert!(err.contains("'dilepton'") && err.contains("lep_n"), "{err}");
        let mut p = good.clone();
        if let Some(pb::layer::Op::Ntuple(n)) = &mut p.layers[0].op {
            n.output = None;
        }
        assert!(
            Graph::from_proto(&p)
                .unwrap_err()
                .to_string()
                .contains("no output")
        );
        let mut p = good;
        if let Some(pb::layer::Op::Ntuple(n)) = &mut p.layers[0].op {
            n.partitions[1].file = 9;
        }
        assert!(
            Graph::from_proto(&p)
                .unwrap_err()
                .to_string()
                .contains("file 9")
        );
    }

    #[test]
    fn every_op_and_select_round_trip() {
        let mut p = Program::default();
        let x = p.push(Instr::Input(0));
        let mut last = x;
        for (_, op) in UNARY {
            last = p.push(Instr::Unary(op, last));
        }
        for (_, op) in BINARY {
            last = p.push(Instr::Binary(op, last, x));
        }
        p.push(Instr::Select(x, last, x));
        p.push_typed(Instr::ConstInt(-(1 << 62) - 3), DType::I64);
        p.push_typed(Instr::Iota { axis: 2 }, DType::I32);
        p.push(Instr::InputBroadcast {
            slot: 1,
            axes: vec![-1, 0],
        });
        let back = program_from_proto(&program_to_proto(&p));
        assert_eq!(back.unwrap(), p);
        // Every proto enum value but 0 has an op.
        assert_eq!(UNARY.len(), pb::UnaryOp::CastF64 as usize);
        assert_eq!(BINARY.len(), pb::BinaryOp::Hypot as usize);
    }

    #[test]
    fn unknown_enum_values_are_refused_with_the_layer_name() {
        let mut p = sum_tree_graph(4, 2).to_proto();
        if let Some(pb::layer::Op::Combine(c)) = &mut p.layers[1].op {
            c.op = 99;
        }
        let err = Graph::from_proto(&p).unwrap_err().to_string();
        assert!(err.contains("unknown reduction"), "{err}");
        assert!(err.contains("sum-combine"), "{err}");
    }
}
