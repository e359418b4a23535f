//! Evaluation of a fused per-chunk program over one tile (a contiguous range of the
//! chunk's elements in C order), and reduction of one tile.
//!
//! A [`Plan`] is the program with dead code removed and constants folded; each remaining
//! instruction writes one tile-sized buffer of the thread's scratch space. A random
//! stream read by one unary op only is generated inside that op's loop instead, and
//! `op(f(u), g(v))` of two such streams, the seed expression's shape, is one loop: fewer
//! passes over the buffers (measured: 7% faster on the seed expression). Inputs are read
//! in place from the input chunks. The loops are plain loops over
//! `#[inline(always)]` element functions; [`eval_tile`] dispatches at run time to copies
//! compiled for AVX-512 (F/DQ/VL) or AVX2 + FMA where the CPU has them, [`reduce_slice`]
//! to AVX2 + FMA. Every path gives the same bits: the element functions use `mul_add`,
//! which is fused everywhere (an instruction, or glibc's exact `fma` without one), and
//! u64 -> f64 conversions are exact. (The AVX-512 target features need Rust 1.89.)
//!
//! Integer and bool values (see [`Repr`]) are computed in wrapping int64 arithmetic by
//! steps of their own; their buffers hold the int64 bits in the same 8-byte slots. A
//! value is converted where an instruction reads one of the other kind (an int64 operand
//! of `sqrt`, a float64 operand of a cast to an integer dtype).

use kaon_graph::{BinaryOp, Instr, Program, ReduceOp, UnaryOp};

use crate::Repr;
use crate::fastmath;
use crate::intmath;
use crate::math;
use crate::reduce::Reducer;

/// The int64 an integer value's slot holds.
#[inline(always)]
pub(crate) fn int_of(slot: f64) -> i64 {
    slot.to_bits() as i64
}

/// The slot holding int64 `i`.
#[inline(always)]
pub(crate) fn slot_of(i: i64) -> f64 {
    f64::from_bits(i as u64)
}

/// Elements per tile: the unit of evaluation. Small enough that the buffers of a
/// program stay in the L1/L2 cache, large enough that interpreting the program per tile
/// costs nothing.
pub const TILE: usize = 1024;

/// Where a value of the plan lives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Src {
    /// The same value for every element.
    Scalar(f64),
    /// A scratch buffer.
    Buf(usize),
    /// An input chunk (position in the task's deduplicated input list).
    Input(usize),
    /// A uniform random stream (its key), generated inside the loop of the one unary op
    /// that reads it.
    Random(u64),
    /// A unary op of a random stream, read by one op only: generated and computed inside
    /// the loop of a [`Step::RandomPair`], or stored by a step of its own for other readers.
    RandomUnary(UnaryOp, u64),
}

/// A scalar's slot: the value as `repr` holds it.
fn scalar_as(x: f64, from: Repr, to: Repr) -> f64 {
    match (from, to) {
        (Repr::I64, Repr::F64) => int_of(x) as f64,
        (Repr::F64, Repr::I64) => slot_of(x as i64),
        _ => x,
    }
}

#[derive(Clone, Debug)]
enum Step {
    Random {
        key: u64,
        out: usize,
    },

    Unary {
        op: UnaryOp,
        a: Src,
        out: usize,
    },
    Binary {
        op: BinaryOp,
        a: Src,
        b: Src,
        out: usize,
    },
    /// `out = op(f(u), g(v))` for random streams `u` and `v` (keys `ku`, `kv`) in one
    /// loop, for the ops [`pair_fuses`] accepts.
    RandomPair {
        op: BinaryOp,
        f: UnaryOp,
        ku: u64,
        g: UnaryOp,
        kv: u64,
        out: usize,
    },
    /// `out = if c != 0 { a } else { b }`; scalar operands are filled into buffers.
    /// `int_cond`: the condition is an integer value.
    Select {
        c: Src,
        int_cond: bool,
        a: Src,
        b: Src,
        out: usize,
    },
    /// Integer ops (of integer operands; see [`intmath`]).
    IntUnary {
        op: UnaryOp,
        a: Src,
        out: usize,
    },
    IntBinary {
        op: BinaryOp,
        a: Src,
        b: Src,
        out: usize,
    },
    /// Integer to float64 (rounding beyond 2**53, as NumPy's `astype`).
    ToFloat {
        a: Src,
        out: usize,
    },
    /// Float64 to integer: truncated toward zero, saturating, NaN gives 0.
    ToInt {
        a: Src,
        out: usize,
    },
    Fill {
        value: f64,
        out: usize,
    },
    /// Each element's index along `axis` of the whole array (an integer value).
    Iota {
        axis: usize,
        out: usize,
    },
}

/// A program ready to run over one chunk.
#[derive(Clone, Debug)]
pub struct Plan {
    steps: Vec<Step>,
    /// The chunk's shape and its first element's position in the array (for `Iota`).
    chunk_shape: Vec<usize>,
    chunk_offset: Vec<u64>,
    result: Src,
    /// How the result's slots hold it.
    result_repr: Repr,
    nbufs: usize,
}

/// The steps of a plan being built, and the buffers they write.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    nbufs: usize,
    /// Values already converted to the other representation, by value id.
    converted: Vec<(usize, Src)>,
}

impl Builder {
    /// The value of a new step, which writes a new buffer.
    fn push(&mut self, step: impl FnOnce(usize) -> Step) -> Src {
        let out = self.nbufs;
        self.nbufs += 1;
        self.steps.push(step(out));
        Src::Buf(out)
    }

    /// Value `i` where a loop reads it from memory: a random stream, or an op of one, is
    /// computed into a buffer, once for all its readers.
    fn stored(&mut self, vals: &mut [Src], i: usize) -> Src {
        match vals[i] {
            Src::Random(key) => vals[i] = self.push(|out| Step::Random { key, out }),
            Src::RandomUnary(op, key) => {
                let a = Src::Random(key);
                vals[i] = self.push(|out| Step::Unary { op, a, out });
            }
            _ => {}
        }
        vals[i]
    }

    /// `v` as a buffer or input: a scalar is filled into a buffer (for selects).
    fn filled(&mut self, v: Src) -> Src {
        match v {
            Src::Scalar(value) => self.push(|out| Step::Fill { value, out }),
            v => v,
        }
    }

    /// Value `i` held as `to`, where a loop reads it from memory (or a scalar).
    fn stored_as(&mut self, vals: &mut [Src], reprs: &[Repr], i: usize, to: Repr) -> Src {
        if reprs[i] == to {
            self.stored(vals, i)
        } else {
            self.held_as(vals, reprs, i, to)
        }
    }

    /// Value `i` (held as `reprs[i]`) held as `to`: converted once for all readers.
    fn held_as(&mut self, vals: &mut [Src], reprs: &[Repr], i: usize, to: Repr) -> Src {
        if reprs[i] == to {
            return vals[i];
        }
        if let Some(&(_, v)) = self.converted.iter().find(|(j, _)| *j == i) {
            return v;
        }
        // (A scalar stays a scalar: `stored` keeps it and `convert` folds it.)
        let a = self.stored(vals, i);
        let v = self.convert(a, to);
        self.converted.push((i, v));
        v
    }

    /// A stored (or scalar) value converted to `to`.
    fn convert(&mut self, a: Src, to: Repr) -> Src {
        match (a, to) {
            (Src::Scalar(x), to) => Src::Scalar(scalar_as(x, Repr::opposite(to), to)),
            (a, Repr::F64) => self.push(|out| Step::ToFloat { a, out }),
            (a, Repr::I64) => self.push(|out| Step::ToInt { a, out }),
        }
    }
}

impl Repr {
    fn opposite(self) -> Repr {
        match self {
            Repr::F64 => Repr::I64,
            Repr::I64 => Repr::F64,
        }
    }
}

impl Plan {
    /// Builds the plan of `program` for chunk `chunk` of float64 inputs. `input_pos[slot]`
    /// is the position of input slot `slot` in the task's input list. Faults must have
    /// been handled.
    #[cfg(test)]
    pub fn new(program: &Program, chunk: u64, input_pos: &[usize]) -> Result<Plan, String> {
        let reprs = vec![Repr::F64; input_pos.iter().map(|&p| p + 1).max().unwrap_or(0)];
        Plan::typed(program, chunk, input_pos, &reprs)
    }

    /// Like [`Plan::new`]; `input_reprs[p]` is how the input at position `p` holds its
    /// values.
    pub fn typed(
        program: &Program,
        chunk: u64,
        input_pos: &[usize],
        input_reprs: &[Repr],
    ) -> Result<Plan, String> {
        let n = program.instrs.len();
        if n == 0 {
            return Err("the program is empty".into());
        }
        // Live instructions, and how many live instructions read each value.
        let mut live = vec![false; n];
        let mut uses = vec![0usize; n];
        live[n - 1] = true;
        for i in (0..n).rev() {
            if !live[i] {
                continue;
            }
            for operand in program.instrs[i].operands() {
                let o = operand as usize;
                if o >= i {
                    return Err(format!(
                        "instruction {i} reads value {o}, which is not defined before it"
                    ));
                }
                live[o] = true;
                uses[o] += 1;
            }
        }
        let mut vals: Vec<Src> = Vec::with_capacity(n);
        let mut reprs: Vec<Repr> = Vec::with_capacity(n);
        let mut b = Builder::default();
        for (i, instr) in program.instrs.iter().enumerate() {
            if !live[i] {
                vals.push(Src::Scalar(f64::NAN));
                reprs.push(Repr::F64);
                continue;
            }
            let want = Repr::of(program.dtype(i as u32));
            let (v, repr) = match instr {
                Instr::Input(slot) | Instr::InputBroadcast { slot, .. } => {
                    match input_pos.get(*slot as usize) {
                        Some(&p) => (
                            Src::Input(p),
                            input_reprs.get(p).copied().unwrap_or(Repr::F64),
                        ),
                        None => {
                            return Err(format!(
                                "instruction {i} reads input {slot}, but the layer has {} inputs",
                                input_pos.len()
                            ));
                        }
                    }
                }
                Instr::Random { seed, distribution } => match distribution {
                    kaon_graph::Distribution::Uniform => {
                        (Src::Random(math::stream_key(*seed, chunk)), Repr::F64)
                    }
                },
                Instr::Const(c) => (Src::Scalar(*c), Repr::F64),
                Instr::ConstInt(c) => (Src::Scalar(slot_of(*c)), Repr::I64),
                Instr::Iota { axis } => (
                    b.push(|out| Step::Iota {
                        axis: *axis as usize,
                        out,
                    }),
                    Repr::I64,
                ),
                Instr::Unary(op, a) => {
                    let (op, a) = (*op, *a as usize);
                    if op == UnaryOp::CastF64 {
                        (b.held_as(&mut vals, &reprs, a, Repr::F64), Repr::F64)
                    } else if reprs[a] == Repr::I64 && intmath::unary_is_int(op) {
                        let v = match vals[a] {
                            Src::Scalar(x) => Src::Scalar(slot_of(intmath::unary(op, int_of(x)))),
                            _ => {
                                let a = b.stored(&mut vals, a);
                                b.push(|out| Step::IntUnary { op, a, out })
                            }
                        };
                        (v, Repr::I64)
                    } else {
                        let x = b.held_as(&mut vals, &reprs, a, Repr::F64);
                        let v = match x {
                            Src::Scalar(x) => Src::Scalar(math::unary(op, x)),
                            // Its only reader: computed where this op's value is read.
                            Src::Random(key) if uses[a] == 1 => Src::RandomUnary(op, key),
                            _ => {
                                let a = if reprs[a] == Repr::F64 {
                                    b.stored(&mut vals, a)
                                } else {
                                    x
                                };
                                b.push(|out| Step::Unary { op, a, out })
                            }
                        };
                        (v, Repr::F64)
                    }
                }
                Instr::Binary(op, x, y) => {
                    let (op, x, y) = (*op, *x as usize, *y as usize);
                    if reprs[x] == Repr::I64 && reprs[y] == Repr::I64 && intmath::binary_is_int(op)
                    {
                        let v = match (vals[x], vals[y]) {
                            (Src::Scalar(x), Src::Scalar(y)) => {
                                Src::Scalar(slot_of(intmath::binary(op, int_of(x), int_of(y))))
                            }
                            _ => {
                                let x = b.stored(&mut vals, x);
                                let y = b.stored(&mut vals, y);
                                b.push(|out| Step::IntBinary {
                                    op,
                                    a: x,
                                    b: y,
                                    out,
                                })
                            }
                        };
                        (v, Repr::I64)
                    } else {
                        let xv = b.held_as(&mut vals, &reprs, x, Repr::F64);
                        let yv = b.held_as(&mut vals, &reprs, y, Repr::F64);
                        let v = match (xv, yv) {
                            (Src::Scalar(x), Src::Scalar(y)) => Src::Scalar(math::binary(op, x, y)),
                            (Src::RandomUnary(f, ku), Src::RandomUnary(g, kv))
                                if uses[x] == 1 && uses[y] == 1 && pair_fuses(op, f, g) =>
                            {
                                b.push(|out| Step::RandomPair {
                                    op,
                                    f,
                                    ku,
                                    g,
                                    kv,
                                    out,
                                })
                            }
                            _ => {
                                let x = b.stored_as(&mut vals, &reprs, x, Repr::F64);
                                let y = b.stored_as(&mut vals, &reprs, y, Repr::F64);
                                b.push(|out| Step::Binary {
                                    op,
                                    a: x,
                                    b: y,
                                    out,
                                })
                            }
                        };
                        (v, Repr::F64)
                    }
                }
                Instr::Select(c, x, y) => {
                    let (c, x, y) = (*c as usize, *x as usize, *y as usize);
                    let repr = if reprs[x] == Repr::I64 && reprs[y] == Repr::I64 {
                        Repr::I64
                    } else {
                        Repr::F64
                    };
                    let int_cond = reprs[c] == Repr::I64;
                    let v = match vals[c] {
                        Src::Scalar(cv) => {
                            let truth = if int_cond { int_of(cv) != 0 } else { cv != 0.0 };
                            b.stored_as(&mut vals, &reprs, if truth { x } else { y }, repr)
                        }
                        _ => {
                            let c = b.stored(&mut vals, c);
                            let x = b.stored_as(&mut vals, &reprs, x, repr);
                            let y = b.stored_as(&mut vals, &reprs, y, repr);
                            let (x, y) = (b.filled(x), b.filled(y));
                            b.push(|out| Step::Select {
                                c,
                                int_cond,
                                a: x,
                                b: y,
                                out,
                            })
                        }
                    };
                    (v, repr)
                }
                Instr::Fault(_) => {
                    return Err(format!("instruction {i} is a fault that was not raised"));
                }
            };
            // Held as its dtype says.
            let v = if repr == want {
                v
            } else {
                let stored = match v {
                    Src::Random(key) => b.push(|out| Step::Random { key, out }),
                    Src::RandomUnary(op, key) => b.push(|out| Step::Unary {
                        op,
                        a: Src::Random(key),
                        out,
                    }),
                    v => v,
                };
                b.convert(stored, want)
            };
            vals.push(v);
            reprs.push(want);
        }
        let result = match vals[n - 1] {
            // A constant result is written to a buffer of its own.
            Src::Scalar(x) => {
                b.nbufs += 1;
                Src::Scalar(x)
            }
            _ => b.stored(&mut vals, n - 1),
        };
        Ok(Plan {
            steps: b.steps,
            chunk_shape: Vec::new(),
            chunk_offset: Vec::new(),
            result,
            result_repr: reprs[n - 1],
            nbufs: b.nbufs,
        })
    }

    /// How the result's slots hold its values.
    pub fn result_repr(&self) -> Repr {
        self.result_repr
    }

    /// Makes the plan give its result as `repr` (for histograms, which bin floats).
    pub fn convert_result(&mut self, repr: Repr) {
        if self.result_repr == repr {
            return;
        }
        let mut b = Builder {
            steps: std::mem::take(&mut self.steps),
            nbufs: self.nbufs,
            converted: Vec::new(),
        };
        // A constant result's buffer (see `typed`) is the last one and stays last.
        self.result = match self.result {
            Src::Scalar(x) => Src::Scalar(scalar_as(x, self.result_repr, repr)),
            a => b.convert(a, repr),
        };
        self.steps = b.steps;
        self.nbufs = b.nbufs;
        self.result_repr = repr;
    }

    /// Where the chunk lies in the array, for programs that number elements (`Iota`).
    pub fn locate(&mut self, shape: Vec<usize>, offset: Vec<u64>) {
        self.chunk_shape = shape;
        self.chunk_offset = offset;
    }

    /// Fills `out` with the index along `axis` of elements `start..` of the chunk (as
    /// integer slots).
    fn fill_iota(&self, axis: usize, out: &mut [f64], start: usize) {
        let (Some(&len), Some(&offset)) = (self.chunk_shape.get(axis), self.chunk_offset.get(axis))
        else {
            out.fill(f64::NAN);
            return;
        };
        let stride: usize = self.chunk_shape[axis + 1..].iter().product();
        for (i, o) in out.iter_mut().enumerate() {
            let e = start + i;
            *o = slot_of((offset + ((e / stride.max(1)) % len.max(1)) as u64) as i64);
        }
    }

    /// Fresh scratch buffers for one thread.
    pub fn scratch(&self) -> Vec<Vec<f64>> {
        vec![vec![0.0; TILE]; self.nbufs]
    }
}

/// The values of elements `start..start + len` of the chunk. `inputs` are the input
/// chunks' values (each at least `start + len` long), `bufs` from [`Plan::scratch`].
pub fn eval_tile<'a>(
    plan: &Plan,
    inputs: &[&'a [f64]],
    bufs: &'a mut [Vec<f64>],
    start: usize,
    len: usize,
) -> &'a [f64] {
    for b in bufs.iter_mut() {
        if b.len() < len {
            b.resize(len, 0.0);
        }
    }
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX-512 only where the CPU has these features.
        Isa::Avx512 => unsafe { eval_tile_avx512(plan, inputs, bufs, start, len) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX2 only where the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { eval_tile_avx2(plan, inputs, bufs, start, len) },
        _ => eval_tile_impl::<false>(plan, inputs, bufs, start, len),
    }
}

/// The instruction sets the kernels' hot loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Whatever the build targets (SSE2 on x86-64).
    Generic,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512 F/DQ/VL (+ AVX2, FMA).
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Generic => "generic",
            Isa::Avx2 => "avx2+fma",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The best code path this CPU runs, capped by the environment variable
/// `KAON_KERNELS_ISA` (`generic`, `avx2` or `avx512`; for benchmarks and tests).
pub fn isa() -> Isa {
    static DETECTED: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *DETECTED.get_or_init(|| {
        let cap = match std::env::var("KAON_KERNELS_ISA").as_deref() {
            Ok("generic") => Isa::Generic,
            Ok("avx2") => Isa::Avx2,
            _ => Isa::Avx512,
        };
        detect().min(cap)
    })
}

fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl");
        if avx2 && avx512 {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Generic
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512dq,avx512vl")]
fn eval_tile_avx512<'a>(
    plan: &Plan,
    inputs: &[&'a [f64]],
    bufs: &'a mut [Vec<f64>],
    start: usize,
    len: usize,
) -> &'a [f64] {
    eval_tile_impl::<true>(plan, inputs, bufs, start, len)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn eval_tile_avx2<'a>(
    plan: &Plan,
    inputs: &[&'a [f64]],
    bufs: &'a mut [Vec<f64>],
    start: usize,
    len: usize,
) -> &'a [f64] {
    eval_tile_impl::<false>(plan, inputs, bufs, start, len)
}

/// `HW_CONVERT`: whether the CPU converts u64 to f64 in vector registers (AVX-512DQ).
#[inline(always)]
fn eval_tile_impl<'a, const HW_CONVERT: bool>(
    plan: &Plan,
    inputs: &[&'a [f64]],
    bufs: &'a mut [Vec<f64>],
    start: usize,
    len: usize,
) -> &'a [f64] {
    let uniform = |key| math::Uniform::<HW_CONVERT>::new(key, start as u64);
    for step in &plan.steps {
        match *step {
            Step::Random { key, out } => {
                map1(&mut bufs[out][..len], uniform(key), |u| u);
            }
            Step::Unary { op, a, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                let dst = &mut rest[0][..len];
                match a {
                    Src::Random(key) => unary_loop(op, dst, uniform(key)),
                    a => unary_loop(op, dst, operand(a, inputs, before, start, len)),
                }
            }
            Step::RandomPair {
                op,
                f,
                ku,
                g,
                kv,
                out,
            } => pair_loop(op, f, g, &mut bufs[out][..len], uniform(ku), uniform(kv)),
            Step::Fill { value, out } => bufs[out][..len].fill(value),
            Step::Iota { axis, out } => plan.fill_iota(axis, &mut bufs[out][..len], start),
            Step::Select {
                c,
                int_cond,
                a,
                b,
                out,
            } => {
                let (before, rest) = bufs.split_at_mut(out);
                let dst = &mut rest[0][..len];
                let c = operand(c, inputs, before, start, len);
                let a = operand(a, inputs, before, start, len);
                let b = operand(b, inputs, before, start, len);
                let rows = dst.iter_mut().zip(c).zip(a).zip(b);
                if int_cond {
                    rows.for_each(|(((d, &c), &x), &y)| *d = if int_of(c) != 0 { x } else { y });
                } else {
                    rows.for_each(|(((d, &c), &x), &y)| *d = if c != 0.0 { x } else { y });
                }
            }
            Step::IntUnary { op, a, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                let a = operand(a, inputs, before, start, len);
                map1(&mut rest[0][..len], a, |x| {
                    slot_of(intmath::unary(op, int_of(x)))
                });
            }
            Step::IntBinary { op, a, b, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                int_binary_loop(op, &mut rest[0][..len], a, b, |s| {
                    operand(s, inputs, before, start, len)
                });
            }
            Step::ToFloat { a, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                let a = operand(a, inputs, before, start, len);
                map1(&mut rest[0][..len], a, |x| int_of(x) as f64);
            }
            Step::ToInt { a, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                let a = operand(a, inputs, before, start, len);
                map1(&mut rest[0][..len], a, |x| slot_of(x as i64));
            }
            Step::Binary { op, a, b, out } => {
                let (before, rest) = bufs.split_at_mut(out);
                let dst = &mut rest[0][..len];
                match (a, b) {
                    (Src::Scalar(x), b) => {
                        let b = operand(b, inputs, before, start, len);
                        binary_loop_sv(op, dst, x, b);
                    }
                    (a, Src::Scalar(y)) => {
                        let a = operand(a, inputs, before, start, len);
                        binary_loop_vs(op, dst, a, y);
                    }
                    (a, b) => {
                        let a = operand(a, inputs, before, start, len);
                        let b = operand(b, inputs, before, start, len);
                        binary_loop(op, dst, a, b);
                    }
                }
            }
        }
    }
    match plan.result {
        Src::Scalar(x) => {
            let last = bufs.len() - 1;
            let dst = &mut bufs[last][..len];
            dst.fill(x);
            dst
        }
        Src::Buf(b) => &bufs[b][..len],
        Src::Input(p) => &inputs[p][start..start + len],
        Src::Random(_) | Src::RandomUnary(..) => unreachable!("plans store random results"),
    }
}

#[inline(always)]
fn operand<'b>(
    src: Src,
    inputs: &[&'b [f64]],
    bufs: &'b [Vec<f64>],
    start: usize,
    len: usize,
) -> &'b [f64] {
    match src {
        Src::Buf(b) => &bufs[b][..len],
        Src::Input(p) => &inputs[p][start..start + len],
        // Plans never pass scalars here (they are folded or take the _sv/_vs loops), nor
        // random streams (only unary ops and pairs read them unstored).
        Src::Scalar(_) | Src::Random(_) | Src::RandomUnary(..) => &[],
    }
}

/// `dst[i] = op(a[i], b[i])` on integer values; either operand may be a scalar.
#[inline(always)]
fn int_binary_loop<'b>(
    op: BinaryOp,
    dst: &mut [f64],
    a: Src,
    b: Src,
    slice: impl Fn(Src) -> &'b [f64],
) {
    // The common ops get loops of their own (vectorized); the others match per element.
    macro_rules! go {
        ($f:expr) => {{
            let f = $f;
            let g = |x: f64, y: f64| slot_of(f(int_of(x), int_of(y)));
            match (a, b) {
                (Src::Scalar(x), b) => map1(dst, slice(b), |y| g(x, y)),
                (a, Src::Scalar(y)) => map1(dst, slice(a), |x| g(x, y)),
                (a, b) => map2(dst, slice(a), slice(b), g),
            }
        }};
    }
    match op {
        BinaryOp::Add => go!(i64::wrapping_add),
        BinaryOp::Sub => go!(i64::wrapping_sub),
        BinaryOp::Mul => go!(i64::wrapping_mul),
        op => go!(move |x, y| intmath::binary(op, x, y)),
    }
}

/// The values a loop reads: a slice, or a random stream generated in the loop.
trait Lanes: Copy {
    fn values(self) -> impl Iterator<Item = f64>;
    /// The values from `mid` on (`self` reads at least `mid`).
    fn from(self, mid: usize) -> Self;
    /// Whether every value is in the range where the vectorized sin and cos are exact.
    fn trig_in_range(self) -> bool;
}

impl Lanes for &[f64] {
    #[inline(always)]
    fn values(self) -> impl Iterator<Item = f64> {
        self.iter().copied()
    }

    #[inline(always)]
    fn from(self, mid: usize) -> Self {
        &self[mid..]
    }

    fn trig_in_range(self) -> bool {
        fastmath::trig_in_range(self)
    }
}

impl<const HW_CONVERT: bool> Lanes for math::Uniform<HW_CONVERT> {
    #[inline(always)]
    fn values(self) -> impl Iterator<Item = f64> {
        self
    }

    #[inline(always)]
    fn from(self, mid: usize) -> Self {
        self.ahead(mid as u64)
    }

    fn trig_in_range(self) -> bool {
        true // values in [0, 1)
    }
}

/// `dst[i] = f(a[i])`, the two halves of `dst` interleaved: twice the independent work
/// per iteration lets the CPU overlap more of the long dependency chains of the
/// polynomial kernels (measured: the arcsin and arccos loops 5% faster).
#[inline(always)]
fn map1(dst: &mut [f64], a: impl Lanes, f: impl Fn(f64) -> f64) {
    let mid = dst.len() / 2;
    let (lo, hi) = dst.split_at_mut(mid);
    let (hi, last) = hi.split_at_mut(mid);
    let values = a.values().zip(a.from(mid).values());
    for ((d0, d1), (x0, x1)) in lo.iter_mut().zip(hi).zip(values) {
        *d0 = f(x0);
        *d1 = f(x1);
    }
    if let ([d], Some(x)) = (last, a.from(2 * mid).values().next()) {
        *d = f(x);
    }
}

#[inline(always)]
fn map2(dst: &mut [f64], a: impl Lanes, b: impl Lanes, f: impl Fn(f64, f64) -> f64) {
    for ((d, x), y) in dst.iter_mut().zip(a.values()).zip(b.values()) {
        *d = f(x, y);
    }
}

#[inline(always)]
fn unary_loop(op: UnaryOp, dst: &mut [f64], a: impl Lanes) {
    match op {
        UnaryOp::Neg => map1(dst, a, |x| -x),
        UnaryOp::Abs => map1(dst, a, f64::abs),
        UnaryOp::Sqrt => map1(dst, a, f64::sqrt),
        UnaryOp::Exp => map1(dst, a, f64::exp),
        UnaryOp::Log => map1(dst, a, fastmath::log),
        // The vectorized forms reduce exactly below a bound; other tiles use std's.
        UnaryOp::Sin if a.trig_in_range() => map1(dst, a, fastmath::sin),
        UnaryOp::Cos if a.trig_in_range() => map1(dst, a, fastmath::cos),
        UnaryOp::Sin => map1(dst, a, f64::sin),
        UnaryOp::Cos => map1(dst, a, f64::cos),
        UnaryOp::Tan => map1(dst, a, f64::tan),
        UnaryOp::Arcsin => map1(dst, a, math::asin),
        UnaryOp::Arccos => map1(dst, a, math::acos),
        UnaryOp::Arctan => map1(dst, a, f64::atan),
        // The others (not in the seed expression): one loop with the op matched per
        // element. Measured: monomorphic loops for each of them here, or out of line,
        // made the seed expression's arcsin/arccos loops 15-40% slower.
        op => map1(dst, a, |x| math::unary(op, x)),
    }
}

/// Whether `op(f(u), g(v))` of two random streams is one [`Step::RandomPair`]: for the
/// seed expression's ops only, as each combination is a loop of its own per instruction
/// set. (Measured on the seed expression: 5% faster than a loop per unary op.)
fn pair_fuses(op: BinaryOp, f: UnaryOp, g: UnaryOp) -> bool {
    let fused = |u| matches!(u, UnaryOp::Arcsin | UnaryOp::Arccos);
    matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul) && fused(f) && fused(g)
}

/// `dst[i] = op(f(u[i]), g(v[i]))` for the ops [`pair_fuses`] accepts.
#[inline(always)]
fn pair_loop(op: BinaryOp, f: UnaryOp, g: UnaryOp, dst: &mut [f64], u: impl Lanes, v: impl Lanes) {
    // A loop per combination, with its element functions inlined.
    macro_rules! go {
        ($f:path, $g:path) => {
            match op {
                BinaryOp::Add => map2(dst, u, v, |x, y| $f(x) + $g(y)),
                BinaryOp::Sub => map2(dst, u, v, |x, y| $f(x) - $g(y)),
                _ => map2(dst, u, v, |x, y| $f(x) * $g(y)),
            }
        };
    }
    match (f, g) {
        (UnaryOp::Arcsin, UnaryOp::Arcsin) => go!(math::asin, math::asin),
        (UnaryOp::Arcsin, _) => go!(math::asin, math::acos),
        (_, UnaryOp::Arcsin) => go!(math::acos, math::asin),
        _ => go!(math::acos, math::acos),
    }
}

macro_rules! binary_dispatch {
    ($op:expr, $call:ident) => {
        match $op {
            BinaryOp::Add => $call!(|x: f64, y: f64| x + y),
            BinaryOp::Sub => $call!(|x: f64, y: f64| x - y),
            BinaryOp::Mul => $call!(|x: f64, y: f64| x * y),
            BinaryOp::Div => $call!(|x: f64, y: f64| x / y),
            BinaryOp::Pow => $call!(|x: f64, y: f64| x.powf(y)),
            BinaryOp::Max => $call!(math::maximum),
            BinaryOp::Min => $call!(math::minimum),
            op => $call!(move |x: f64, y: f64| math::binary(op, x, y)),
        }
    };
}

#[inline(always)]
fn binary_loop(op: BinaryOp, dst: &mut [f64], a: &[f64], b: &[f64]) {
    macro_rules! go {
        ($f:expr) => {
            map2(dst, a, b, $f)
        };
    }
    binary_dispatch!(op, go)
}

#[inline(always)]
fn binary_loop_sv(op: BinaryOp, dst: &mut [f64], x: f64, b: &[f64]) {
    macro_rules! go {
        ($f:expr) => {{
            let f = $f;
            map1(dst, b, |y| f(x, y))
        }};
    }
    binary_dispatch!(op, go)
}

#[inline(always)]
fn binary_loop_vs(op: BinaryOp, dst: &mut [f64], a: &[f64], y: f64) {
    macro_rules! go {
        ($f:expr) => {{
            let f = $f;
            map1(dst, a, |x| f(x, y))
        }};
    }
    binary_dispatch!(op, go)
}

// ---------------------------------------------------------------------------------------
// Reduction of one slice
// ---------------------------------------------------------------------------------------

/// Reduces a slice pairwise, like NumPy's summation: blocks of up to 1024 elements
/// reduced in 16 interleaved accumulators, blocks combined in a binary tree. Min and max
/// propagate NaN; an empty slice gives the op's identity. Integer slots reduce in
/// wrapping int64 arithmetic.
pub fn reduce_slice(r: Reducer, xs: &[f64]) -> f64 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX2 (or better) only where the CPU has AVX2 and FMA.
        Isa::Avx2 | Isa::Avx512 => unsafe { reduce_slice_avx2(r, xs) },
        _ => reduce_slice_impl(r, xs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn reduce_slice_avx2(r: Reducer, xs: &[f64]) -> f64 {
    reduce_slice_impl(r, xs)
}

#[inline(always)]
fn reduce_slice_impl(r: Reducer, xs: &[f64]) -> f64 {
    match (r.repr, r.op) {
        (Repr::F64, ReduceOp::Sum) => pairwise(xs, 0.0, |a, b| a + b),
        (Repr::F64, ReduceOp::Prod) => pairwise(xs, 1.0, |a, b| a * b),
        (Repr::F64, ReduceOp::Min) => pairwise(xs, f64::INFINITY, math::minimum),
        (Repr::F64, ReduceOp::Max) => pairwise(xs, f64::NEG_INFINITY, math::maximum),
        (Repr::I64, _) => pairwise(xs, r.identity(), |a, b| r.combine(a, b)),
    }
}

/// Elements of one block of [`pairwise`].
const BLOCK: usize = 1024;

/// Not recursive, so that it inlines into the callers compiled for AVX2.
#[inline(always)]
fn pairwise(xs: &[f64], identity: f64, f: impl Fn(f64, f64) -> f64 + Copy) -> f64 {
    // A binary counter of block results: entry i holds 2^i blocks when `full & (1 << i)`.
    let mut levels = [0.0f64; 64];
    let mut full: u64 = 0;
    for block in xs.chunks(BLOCK) {
        let mut v = reduce_block(block, identity, f);
        let mut i = 0;
        while full & (1 << i) != 0 {
            v = f(levels[i], v);
            full &= !(1 << i);
            i += 1;
        }
        levels[i] = v;
        full |= 1 << i;
    }
    let mut acc: Option<f64> = None;
    for (i, &level) in levels.iter().enumerate() {
        if full & (1 << i) != 0 {
            acc = Some(match acc {
                None => level,
                Some(a) => f(level, a),
            });
        }
    }
    acc.unwrap_or(identity)
}

/// Interleaved accumulators of a block: enough independent chains to hide the latency
/// of the vector adds.
const LANES: usize = 16;

#[inline(always)]
fn reduce_block(xs: &[f64], identity: f64, f: impl Fn(f64, f64) -> f64 + Copy) -> f64 {
    if xs.len() < LANES {
        let mut r = identity;
        for &x in xs {
            r = f(r, x);
        }
        return r;
    }
    let mut acc = [0.0; LANES];
    acc.copy_from_slice(&xs[..LANES]);
    let mut rows = xs[LANES..].chunks_exact(LANES);
    for row in &mut rows {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a = f(*a, x);
        }
    }
    // Fold the lanes in a tree: lane i with lane i + w.
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            acc[i] = f(acc[i], acc[i + w]);
        }
        w /= 2;
    }
    let mut r = acc[0];
    for &x in rows.remainder() {
        r = f(r, x);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_reductions_of_a_slice() {
        let xs: Vec<f64> = (0..10_000).map(|i| (i % 17) as f64 * 0.25).collect();
        let exact: f64 = xs.iter().sum(); // exact: all partial sums are small multiples of 1/4
        assert_eq!(reduce_slice(Reducer::float(ReduceOp::Sum), &xs), exact);
        assert_eq!(reduce_slice(Reducer::float(ReduceOp::Sum), &[]), 0.0);
        assert_eq!(reduce_slice(Reducer::float(ReduceOp::Prod), &[]), 1.0);
        assert_eq!(
            reduce_slice(Reducer::float(ReduceOp::Min), &[]),
            f64::INFINITY
        );
        assert_eq!(reduce_slice(Reducer::float(ReduceOp::Max), &xs), 4.0);
        assert_eq!(reduce_slice(Reducer::float(ReduceOp::Min), &xs[1..]), 0.0);
        assert_eq!(
            reduce_slice(Reducer::float(ReduceOp::Prod), &[2.0, 3.0, 0.5]),
            3.0
        );
        for n in [1, 7, 8, 9, 100, 128, 129, 1000] {
            let mut with_nan = xs[..n].to_vec();
            with_nan[n / 2] = f64::NAN;
            assert!(
                reduce_slice(Reducer::float(ReduceOp::Max), &with_nan).is_nan(),
                "{n}"
            );
            assert!(
                reduce_slice(Reducer::float(ReduceOp::Min), &with_nan).is_nan(),
                "{n}"
            );
            assert!(
                reduce_slice(Reducer::float(ReduceOp::Sum), &with_nan).is_nan(),
                "{n}"
            );
        }
    }

    #[test]
    fn pairwise_sum_is_accurate() {
        // 1 followed by 2^20 - 1 tiny values: a sequential sum loses every one of them.
        let mut xs = vec![1e-16; 1 << 20];
        xs[0] = 1.0;
        let want = 1.0 + 1e-16 * ((1 << 20) - 1) as f64;
        let got = reduce_slice(Reducer::float(ReduceOp::Sum), &xs);
        // (A sequential sum would be off by 1e-10; the first block of 128 loses a few.)
        assert!(((got - want) / want).abs() < 1e-14, "{got} vs {want}");
    }

    fn test_plan() -> Plan {
        // (arcsin(2u - 1) + arccos(2u - 1)) * x - sqrt(u) + max(x, 0.5)
        let mut p = Program::default();
        let u = p.push(Instr::Random {
            seed: 3,
            distribution: kaon_graph::Distribution::Uniform,
        });
        let two = p.push(Instr::Const(2.0));
        let y = p.push(Instr::Binary(BinaryOp::Mul, u, two));
        let one = p.push(Instr::Const(1.0));
        let y = p.push(Instr::Binary(BinaryOp::Sub, y, one));
        let a = p.push(Instr::Unary(UnaryOp::Arcsin, y));
        let b = p.push(Instr::Unary(UnaryOp::Arccos, y));
        let s = p.push(Instr::Binary(BinaryOp::Add, a, b));
        let x = p.push(Instr::Input(0));
        let s = p.push(Instr::Binary(BinaryOp::Mul, s, x));
        let r = p.push(Instr::Unary(UnaryOp::Sqrt, u));
        let s = p.push(Instr::Binary(BinaryOp::Sub, s, r));
        let half = p.push(Instr::Const(0.5));
        let m = p.push(Instr::Binary(BinaryOp::Max, x, half));
        p.push(Instr::Binary(BinaryOp::Add, s, m));
        Plan::new(&p, 5, &[0]).unwrap()
    }

    #[test]
    fn every_code_path_gives_the_same_bits() {
        let plan = test_plan();
        let x: Vec<f64> = (0..3 * TILE).map(|i| (i as f64 * 0.37).sin()).collect();
        let inputs = [&x[..]];
        let (start, len) = (TILE + 3, TILE - 5);
        let mut s = plan.scratch();
        let want = eval_tile_impl::<false>(&plan, &inputs, &mut s, start, len).to_vec();
        let want_sum = reduce_slice_impl(Reducer::float(ReduceOp::Sum), &want);
        let mut got = vec![(Isa::Generic, want.clone(), want_sum)];
        #[cfg(target_arch = "x86_64")]
        {
            if detect() >= Isa::Avx2 {
                let mut s = plan.scratch();
                // SAFETY: detect() found AVX2 and FMA.
                let v = unsafe { eval_tile_avx2(&plan, &inputs, &mut s, start, len) }.to_vec();
                // SAFETY: as above.
                let sum = unsafe { reduce_slice_avx2(Reducer::float(ReduceOp::Sum), &v) };
                got.push((Isa::Avx2, v, sum));
            }
            if detect() >= Isa::Avx512 {
                let mut s = plan.scratch();
                // SAFETY: detect() found AVX-512 F/DQ/VL, AVX2 and FMA.
                let v = unsafe { eval_tile_avx512(&plan, &inputs, &mut s, start, len) }.to_vec();
                got.push((Isa::Avx512, v, want_sum));
            }
        }
        for (isa, v, sum) in &got {
            assert_eq!(v.len(), len);
            for (i, (a, b)) in v.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{isa:?} element {i}: {a} vs {b}");
            }
            assert_eq!(sum.to_bits(), want_sum.to_bits(), "{isa:?}");
        }
        // And the values are right: asin(y) + acos(y) = pi/2.
        for (i, v) in want.iter().enumerate() {
            let e = start + i;
            let u = crate::uniform(3, 5, e as u64);
            let r = std::f64::consts::FRAC_PI_2 * x[e] - u.sqrt() + x[e].max(0.5);
            assert!((v - r).abs() < 1e-14, "element {e}: {v} vs {r}");
        }
    }

    #[test]
    fn fused_random_steps_give_the_bits_of_one_loop_per_op() {
        // (asin(u1) + acos(u2)) + sin(u3) + u4·u4 + log(u4) + (asin(u5) - asin(u6))
        let mut p = Program::default();
        let random = |p: &mut Program, seed| {
            p.push(Instr::Random {
                seed,
                distribution: kaon_graph::Distribution::Uniform,
            })
        };
        let [u1, u2, u3, u4, u5, u6] = [1, 2, 3, 4, 5, 6].map(|seed| random(&mut p, seed));
        let a = p.push(Instr::Unary(UnaryOp::Arcsin, u1));
        let b = p.push(Instr::Unary(UnaryOp::Arccos, u2));
        let t = p.push(Instr::Binary(BinaryOp::Add, a, b));
        let c = p.push(Instr::Unary(UnaryOp::Sin, u3));
        let t = p.push(Instr::Binary(BinaryOp::Add, t, c));
        let d = p.push(Instr::Binary(BinaryOp::Mul, u4, u4));
        let t = p.push(Instr::Binary(BinaryOp::Add, t, d));
        let e = p.push(Instr::Unary(UnaryOp::Log, u4));
        let t = p.push(Instr::Binary(BinaryOp::Add, t, e));
        let f = p.push(Instr::Unary(UnaryOp::Arcsin, u5));
        let g = p.push(Instr::Unary(UnaryOp::Arcsin, u6));
        let h = p.push(Instr::Binary(BinaryOp::Sub, f, g));
        p.push(Instr::Binary(BinaryOp::Add, t, h));
        let plan = Plan::new(&p, 7, &[]).unwrap();
        let count = |f: fn(&Step) -> bool| plan.steps.iter().filter(|s| f(s)).count();
        assert_eq!(
            count(|s| matches!(s, Step::RandomPair { .. })),
            2,
            "{plan:?}"
        );
        assert_eq!(
            count(|s| matches!(s, Step::Random { .. })),
            1,
            "u4, read thrice"
        );
        let fused_unary = |s: &Step| {
            matches!(
                s,
                Step::Unary {
                    a: Src::Random(_),
                    ..
                }
            )
        };
        assert_eq!(count(fused_unary), 1, "sin(u3)");

        let (start, len) = (3 * TILE + 1, TILE - 3);
        let want: Vec<f64> = (start..start + len)
            .map(|e| {
                let u = |seed| crate::uniform(seed, 7, e as u64);
                (math::asin(u(1)) + math::acos(u(2)))
                    + fastmath::sin(u(3))
                    + u(4) * u(4)
                    + fastmath::log(u(4))
                    + (math::asin(u(5)) - math::asin(u(6)))
            })
            .collect();
        let mut s = plan.scratch();
        let mut got = vec![eval_tile_impl::<false>(&plan, &[], &mut s, start, len).to_vec()];
        #[cfg(target_arch = "x86_64")]
        {
            if detect() >= Isa::Avx2 {
                // SAFETY: detect() found AVX2 and FMA.
                got.push(unsafe { eval_tile_avx2(&plan, &[], &mut s, start, len) }.to_vec());
            }
            if detect() >= Isa::Avx512 {
                // SAFETY: detect() found AVX-512 F/DQ/VL, AVX2 and FMA.
                got.push(unsafe { eval_tile_avx512(&plan, &[], &mut s, start, len) }.to_vec());
            }
        }
        for v in got {
            for (i, (a, b)) in v.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "element {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn dead_code_is_not_run_and_constants_are_folded() {
        let mut p = Program::default();
        let x = p.push(Instr::Random {
            seed: 1,
            distribution: kaon_graph::Distribution::Uniform,
        });
        let _dead = p.push(Instr::Unary(UnaryOp::Exp, x));
        let c = p.push(Instr::Const(4.0));
        let c = p.push(Instr::Unary(UnaryOp::Sqrt, c));
        p.push(Instr::Binary(BinaryOp::Mul, c, x));
        let plan = Plan::new(&p, 0, &[]).unwrap();
        assert_eq!(plan.steps.len(), 2, "{plan:?}");
        let mut s = plan.scratch();
        let v = eval_tile(&plan, &[], &mut s, 0, 10);
        assert_eq!(v[3], 2.0 * crate::uniform(1, 0, 3));

        let mut p = Program::default();
        let c = p.push(Instr::Const(4.0));
        p.push(Instr::Unary(UnaryOp::Neg, c));
        let plan = Plan::new(&p, 0, &[]).unwrap();
        let mut s = plan.scratch();
        assert_eq!(eval_tile(&plan, &[], &mut s, 7, 3), &[-4.0; 3]);
    }
}
