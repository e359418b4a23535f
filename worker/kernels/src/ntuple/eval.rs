//! Columnar evaluation of typed expressions (see `kaon_graph::expr`) over the events of
//! one partition.
//!
//! A value is a [`Lane`]: one constant, one value per event, or a jagged list per event
//! (offsets plus flat values). Every operator is one loop over whole columns, written
//! once as a generic function ([`map`], [`zip`]) and monomorphized per operation, so
//! there is no interpretation per event. Numbers are `f64`, truth values `bool`.
//! Jagged operands of one operation must have the same number of objects in every event;
//! columns read from the same counter share their offsets, which makes that check a
//! pointer comparison.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::Arc;

use kaon_graph::expr::{ArithOp, CmpOp, Elem, Expr, Func, LogicOp, Node};

/// Entry boundaries of a jagged column: `n + 1` increasing positions starting at 0.
#[derive(Clone, Debug)]
pub struct Offsets(pub Arc<Vec<u32>>);

impl Offsets {
    pub fn events(&self) -> usize {
        self.0.len() - 1
    }

    pub fn total(&self) -> usize {
        *self.0.last().unwrap_or(&0) as usize
    }

    #[inline]
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.0[i] as usize..self.0[i + 1] as usize
    }

    fn same(&self, other: &Offsets) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// A column of `T`: one constant, one value per event, or a list per event.
#[derive(Clone, Debug)]
pub enum Lane<T> {
    Const(T),
    Event(Arc<Vec<T>>),
    Jagged(Offsets, Arc<Vec<T>>),
}

/// A value: numbers or truth values.
#[derive(Clone, Debug)]
pub enum Val {
    Num(Lane<f64>),
    Bool(Lane<bool>),
}

impl Val {
    pub fn num(self) -> Lane<f64> {
        match self {
            Val::Num(l) => l,
            Val::Bool(l) => map(&l, |b| if b { 1.0 } else { 0.0 }),
        }
    }

    pub fn boolean(self) -> Result<Lane<bool>, String> {
        match self {
            Val::Bool(l) => Ok(l),
            Val::Num(_) => Err("a number where true/false was expected".into()),
        }
    }
}

/// Applies `f` to every element.
pub fn map<T: Copy, R>(a: &Lane<T>, f: impl Fn(T) -> R) -> Lane<R> {
    match a {
        Lane::Const(x) => Lane::Const(f(*x)),
        Lane::Event(v) => Lane::Event(Arc::new(v.iter().map(|&x| f(x)).collect())),
        Lane::Jagged(o, v) => Lane::Jagged(o.clone(), Arc::new(v.iter().map(|&x| f(x)).collect())),
    }
}

/// Why two jagged operands could not be combined.
fn mismatch(a: &Offsets, b: &Offsets) -> String {
    if a.events() != b.events() {
        return format!(
            "jagged operands cover {} and {} events",
            a.events(),
            b.events()
        );
    }
    let i = (0..a.events())
        .find(|&i| a.range(i).len() != b.range(i).len())
        .unwrap_or(0);
    format!(
        "jagged operands have different numbers of objects: {} and {} in event {i} of the \
         partition (counted after the filters before it)",
        a.range(i).len(),
        b.range(i).len()
    )
}

/// Combines two lanes element by element, broadcasting per-event values and constants
/// over the objects of jagged ones.
pub fn zip<A: Copy, B: Copy, R>(
    a: &Lane<A>,
    b: &Lane<B>,
    f: impl Fn(A, B) -> R,
) -> Result<Lane<R>, String> {
    use Lane::*;
    Ok(match (a, b) {
        (Const(x), Const(y)) => Const(f(*x, *y)),
        (Const(x), Event(ys)) => Event(Arc::new(ys.iter().map(|&y| f(*x, y)).collect())),
        (Event(xs), Const(y)) => Event(Arc::new(xs.iter().map(|&x| f(x, *y)).collect())),
        (Event(xs), Event(ys)) => {
            if xs.len() != ys.len() {
                return Err(format!(
                    "operands cover {} and {} events",
                    xs.len(),
                    ys.len()
                ));
            }
            Event(Arc::new(
                xs.iter().zip(ys.iter()).map(|(&x, &y)| f(x, y)).collect(),
            ))
        }
        (Jagged(o, xs), Const(y)) => {
            Jagged(o.clone(), Arc::new(xs.iter().map(|&x| f(x, *y)).collect()))
        }
        (Const(x), Jagged(o, ys)) => {
            Jagged(o.clone(), Arc::new(ys.iter().map(|&y| f(*x, y)).collect()))
        }
        (Jagged(o, xs), Event(ys)) => {
            if o.events() != ys.len() {
                return Err(format!(
                    "operands cover {} and {} events",
                    o.events(),
                    ys.len()
                ));
            }
            let mut out = Vec::with_capacity(xs.len());
            for (i, &y) in ys.iter().enumerate() {
                out.extend(xs[o.range(i)].iter().map(|&x| f(x, y)));
            }
            Jagged(o.clone(), Arc::new(out))
        }
        (Event(xs), Jagged(o, ys)) => {
            if o.events() != xs.len() {
                return Err(format!(
                    "operands cover {} and {} events",
                    xs.len(),
                    o.events()
                ));
            }
            let mut out = Vec::with_capacity(ys.len());
            for (i, &x) in xs.iter().enumerate() {
                out.extend(ys[o.range(i)].iter().map(|&y| f(x, y)));
            }
            Jagged(o.clone(), Arc::new(out))
        }
        (Jagged(o, xs), Jagged(p, ys)) => {
            if !o.same(p) {
                return Err(mismatch(o, p));
            }
            Jagged(
                o.clone(),
                Arc::new(xs.iter().zip(ys.iter()).map(|(&x, &y)| f(x, y)).collect()),
            )
        }
    })
}

/// Folds the objects of each event of a jagged lane into one value per event.
fn reduce<T: Copy, R>(a: &Lane<T>, init: R, f: impl Fn(R, T) -> R) -> Result<Lane<R>, String>
where
    R: Copy,
{
    match a {
        Lane::Jagged(o, xs) => Ok(Lane::Event(Arc::new(
            (0..o.events())
                .map(|i| xs[o.range(i)].iter().fold(init, |acc, &x| f(acc, x)))
                .collect(),
        ))),
        _ => Err("a per-event reduction of a value that is not jagged".into()),
    }
}

/// The element at a per-event index of each event's list; `missing` where the index is
/// outside the list (negative indices count from the end).
fn index<T: Copy>(a: &Lane<T>, idx: &Lane<f64>, missing: T) -> Result<Lane<T>, String> {
    let Lane::Jagged(o, xs) = a else {
        return Err("indexing a value that is not jagged".into());
    };
    let pick = |i: usize, k: f64| -> T {
        let r = o.range(i);
        let len = r.len() as i64;
        if !k.is_finite() || k.abs() > 1e18 {
            return missing;
        }
        let k = k as i64;
        let k = if k < 0 { k + len } else { k };
        if (0..len).contains(&k) {
            xs[r.start + k as usize]
        } else {
            missing
        }
    };
    Ok(Lane::Event(Arc::new(match idx {
        Lane::Const(k) => (0..o.events()).map(|i| pick(i, *k)).collect(),
        Lane::Event(ks) => {
            if ks.len() != o.events() {
                return Err("an index covers a different number of events".into());
            }
            ks.iter().enumerate().map(|(i, &k)| pick(i, k)).collect()
        }
        Lane::Jagged(..) => return Err("a jagged index".into()),
    })))
}

/// `a % b` with the sign of `b`, as Python's and NumPy's floor modulo.
#[inline]
fn floor_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m + b
    } else {
        m
    }
}

/// `a - b` wrapped into `[-pi, pi)`.
#[inline]
pub fn delta_phi(a: f64, b: f64) -> f64 {
    floor_mod(a - b + PI, 2.0 * PI) - PI
}

/// Four-momentum components of one object, by the coordinates a helper takes.
#[derive(Clone, Copy)]
enum Coords {
    PtEtaPhiE,
    PtEtaPhiM,
    XyzE,
}

/// The invariant mass of the sum of each event's objects (those `mask` keeps):
/// `m2 = E^2 - px^2 - py^2 - pz^2` of the sums (each summed in object order);
/// `m = sqrt(m2)`, or `-sqrt(-m2)` when `m2 < 0` (ROOT's `TLorentzVector::M`).
fn mass(
    args: &[Lane<f64>],
    mask: Option<&Lane<bool>>,
    coords: Coords,
) -> Result<Lane<f64>, String> {
    let mut offs: Option<&Offsets> = None;
    let mut cols: Vec<&[f64]> = Vec::with_capacity(4);
    for a in args {
        let Lane::Jagged(o, v) = a else {
            return Err("mass of values that are not jagged".into());
        };
        if let Some(first) = offs
            && !first.same(o)
        {
            return Err(mismatch(first, o));
        }
        offs = Some(o);
        cols.push(v);
    }
    let o = offs.ok_or("mass without arguments")?;
    let keep: Option<&[bool]> = match mask {
        None => None,
        Some(Lane::Jagged(m, k)) => {
            if !o.same(m) {
                return Err(mismatch(o, m));
            }
            Some(k)
        }
        Some(_) => return Err("a mask that is not jagged".into()),
    };
    let (c0, c1, c2, c3) = (cols[0], cols[1], cols[2], cols[3]);
    let out = (0..o.events())
        .map(|i| {
            let (mut px, mut py, mut pz, mut e) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for j in o.range(i) {
                if keep.is_some_and(|k| !k[j]) {
                    continue;
                }
                let (x, y, z, t) = match coords {
                    Coords::PtEtaPhiE => {
                        let (pt, eta, phi) = (c0[j], c1[j], c2[j]);
                        (pt * phi.cos(), pt * phi.sin(), pt * eta.sinh(), c3[j])
                    }
                    Coords::PtEtaPhiM => {
                        let (pt, eta, phi, m) = (c0[j], c1[j], c2[j], c3[j]);
                        let (x, y, z) = (pt * phi.cos(), pt * phi.sin(), pt * eta.sinh());
                        (x, y, z, (x * x + y * y + z * z + m * m).sqrt())
                    }
                    Coords::XyzE => (c0[j], c1[j], c2[j], c3[j]),
                };
                px += x;
                py += y;
                pz += z;
                e += t;
            }
            let m2 = e * e - px * px - py * py - pz * pz;
            if m2 < 0.0 { -(-m2).sqrt() } else { m2.sqrt() }
        })
        .collect();
    Ok(Lane::Event(Arc::new(out)))
}

/// Names in scope while a partition's program runs.
pub type Env = HashMap<String, Val>;

/// Where expressions find their columns.
pub trait Lookup {
    /// The value of a column.
    fn value(&self, name: &str) -> Option<Val>;

    /// `name[idx]`, computed without the whole column where the column allows it
    /// (a branch still in its Arrow form); `None` to use [`Lookup::value`].
    fn index(&self, _name: &str, _idx: &Lane<f64>) -> Option<Result<Val, String>> {
        None
    }
}

impl Lookup for Env {
    fn value(&self, name: &str) -> Option<Val> {
        self.get(name).cloned()
    }
}

/// Names whose whole values an expression needs: every name it reads, except where it
/// is only indexed (`lep_pt[0]`), which [`Lookup::index`] may answer on its own.
pub fn value_names(e: &Expr) -> Vec<String> {
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match &e.node {
            Node::Num(_) | Node::Bool(_) => {}
            Node::Name(n) => {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            Node::Neg(a) | Node::Not(a) => walk(a, out),
            Node::Arith(_, a, b) | Node::Cmp(_, a, b) | Node::Logic(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Node::Index(a, i) => {
                if !matches!(a.node, Node::Name(_)) {
                    walk(a, out);
                }
                walk(i, out);
            }
            Node::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}

/// Evaluates a checked expression over the current events.
pub fn eval(e: &Expr, env: &dyn Lookup) -> Result<Val, String> {
    Ok(match &e.node {
        Node::Num(v) => Val::Num(Lane::Const(*v)),
        Node::Bool(b) => Val::Bool(Lane::Const(*b)),
        Node::Name(n) => env
            .value(n)
            .ok_or_else(|| format!("column '{n}' is not available"))?,
        Node::Neg(a) => Val::Num(map(&eval(a, env)?.num(), |x| -x)),
        Node::Not(a) => Val::Bool(map(&eval(a, env)?.boolean()?, |x| !x)),
        Node::Arith(op, a, b) => {
            let (a, b) = (eval(a, env)?.num(), eval(b, env)?.num());
            Val::Num(match op {
                ArithOp::Add => zip(&a, &b, |x, y| x + y)?,
                ArithOp::Sub => zip(&a, &b, |x, y| x - y)?,
                ArithOp::Mul => zip(&a, &b, |x, y| x * y)?,
                ArithOp::Div => zip(&a, &b, |x, y| x / y)?,
                ArithOp::Mod => zip(&a, &b, floor_mod)?,
                ArithOp::Pow => zip(&a, &b, f64::powf)?,
            })
        }
        Node::Cmp(op, a, b) => {
            let (va, vb) = (eval(a, env)?, eval(b, env)?);
            if let (Val::Bool(x), Val::Bool(y)) = (&va, &vb) {
                return Ok(Val::Bool(match op {
                    CmpOp::Eq => zip(x, y, |p, q| p == q)?,
                    CmpOp::Ne => zip(x, y, |p, q| p != q)?,
                    _ => return Err("an order comparison of true/false values".into()),
                }));
            }
            let (x, y) = (va.num(), vb.num());
            Val::Bool(match op {
                CmpOp::Eq => zip(&x, &y, |p, q| p == q)?,
                CmpOp::Ne => zip(&x, &y, |p, q| p != q)?,
                CmpOp::Lt => zip(&x, &y, |p, q| p < q)?,
                CmpOp::Le => zip(&x, &y, |p, q| p <= q)?,
                CmpOp::Gt => zip(&x, &y, |p, q| p > q)?,
                CmpOp::Ge => zip(&x, &y, |p, q| p >= q)?,
            })
        }
        Node::Logic(op, a, b) => {
            let (x, y) = (eval(a, env)?.boolean()?, eval(b, env)?.boolean()?);
            Val::Bool(match op {
                LogicOp::And => zip(&x, &y, |p, q| p && q)?,
                LogicOp::Or => zip(&x, &y, |p, q| p || q)?,
            })
        }
        Node::Index(a, i) => {
            let idx = eval(i, env)?.num();
            if let Node::Name(n) = &a.node
                && let Some(v) = env.index(n, &idx)
            {
                return v;
            }
            match eval(a, env)? {
                Val::Num(l) => Val::Num(index(&l, &idx, f64::NAN)?),
                Val::Bool(l) => Val::Bool(index(&l, &idx, false)?),
            }
        }
        Node::Call(f, args) => call(*f, args, env)?,
    })
}

fn call(f: Func, args: &[Expr], env: &dyn Lookup) -> Result<Val, String> {
    use Func::*;
    let num = |k: usize| -> Result<Lane<f64>, String> { Ok(eval(&args[k], env)?.num()) };
    let unary = |g: fn(f64) -> f64| -> Result<Val, String> { Ok(Val::Num(map(&num(0)?, g))) };
    Ok(match f {
        Sqrt => unary(f64::sqrt)?,
        Abs => unary(f64::abs)?,
        Exp => unary(f64::exp)?,
        Log => unary(f64::ln)?,
        Log10 => unary(f64::log10)?,
        Sin => unary(f64::sin)?,
        Cos => unary(f64::cos)?,
        Tan => unary(f64::tan)?,
        Asin => unary(f64::asin)?,
        Acos => unary(f64::acos)?,
        Atan => unary(f64::atan)?,
        Sinh => unary(f64::sinh)?,
        Cosh => unary(f64::cosh)?,
        Tanh => unary(f64::tanh)?,
        Asinh => unary(f64::asinh)?,
        Acosh => unary(f64::acosh)?,
        Atanh => unary(f64::atanh)?,
        Floor => unary(f64::floor)?,
        Ceil => unary(f64::ceil)?,
        Round => unary(f64::round_ties_even)?,
        IsNan => Val::Bool(map(&num(0)?, f64::is_nan)),
        IsFinite => Val::Bool(map(&num(0)?, f64::is_finite)),
        Atan2 => Val::Num(zip(&num(0)?, &num(1)?, f64::atan2)?),
        Pow => Val::Num(zip(&num(0)?, &num(1)?, f64::powf)?),
        Hypot => Val::Num(zip(&num(0)?, &num(1)?, f64::hypot)?),
        // NaN-propagating, like NumPy's minimum and maximum.
        Minimum => Val::Num(zip(&num(0)?, &num(1)?, |a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        })?),
        Maximum => Val::Num(zip(&num(0)?, &num(1)?, |a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        })?),
        Where => {
            let c = eval(&args[0], env)?.boolean()?;
            match (eval(&args[1], env)?, eval(&args[2], env)?) {
                (Val::Bool(a), Val::Bool(b)) => {
                    let ca = zip(&c, &a, |c, a| (c, a))?;
                    Val::Bool(zip(&ca, &b, |(c, a), b| if c { a } else { b })?)
                }
                (a, b) => {
                    let ca = zip(&c, &a.num(), |c, a| (c, a))?;
                    Val::Num(zip(&ca, &b.num(), |(c, a), b| if c { a } else { b })?)
                }
            }
        }
        Sum => match eval(&args[0], env)? {
            Val::Num(l) => Val::Num(reduce(&l, 0.0, |s, x| s + x)?),
            Val::Bool(l) => Val::Num(reduce(&l, 0.0, |s, x| s + f64::from(u8::from(x)))?),
        },
        Max => Val::Num(reduce(&num(0)?, f64::NAN, |m, x| {
            if m.is_nan() && !x.is_nan() || x > m {
                x
            } else {
                m
            }
        })?),
        Min => Val::Num(reduce(&num(0)?, f64::NAN, |m, x| {
            if m.is_nan() && !x.is_nan() || x < m {
                x
            } else {
                m
            }
        })?),
        Mean => {
            let l = num(0)?;
            let Lane::Jagged(o, xs) = &l else {
                return Err("mean of a value that is not jagged".into());
            };
            Val::Num(Lane::Event(Arc::new(
                (0..o.events())
                    .map(|i| {
                        let r = &xs[o.range(i)];
                        r.iter().sum::<f64>() / r.len() as f64
                    })
                    .collect(),
            )))
        }
        Count => match eval(&args[0], env)? {
            Val::Bool(l) => Val::Num(reduce(&l, 0.0, |s, x| s + f64::from(u8::from(x)))?),
            Val::Num(Lane::Jagged(o, _)) => Val::Num(Lane::Event(Arc::new(
                (0..o.events()).map(|i| o.range(i).len() as f64).collect(),
            ))),
            Val::Num(_) => return Err("count of a value that is not jagged".into()),
        },
        Any => Val::Bool(reduce(&eval(&args[0], env)?.boolean()?, false, |a, x| {
            a || x
        })?),
        All => Val::Bool(reduce(&eval(&args[0], env)?.boolean()?, true, |a, x| {
            a && x
        })?),
        Mass | MassM | MassXyze => {
            let coords = match f {
                Mass => Coords::PtEtaPhiE,
                MassM => Coords::PtEtaPhiM,
                _ => Coords::XyzE,
            };
            let lanes = (0..4).map(num).collect::<Result<Vec<_>, _>>()?;
            let mask = match args.get(4) {
                Some(m) => Some(eval(m, env)?.boolean()?),
                None => None,
            };
            Val::Num(mass(&lanes, mask.as_ref(), coords)?)
        }
        DeltaPhi => Val::Num(zip(&num(0)?, &num(1)?, delta_phi)?),
        DeltaR => {
            let deta = zip(&num(0)?, &num(2)?, |a, b| a - b)?;
            let dphi = zip(&num(1)?, &num(3)?, delta_phi)?;
            Val::Num(zip(&deta, &dphi, |a, b| (a * a + b * b).sqrt())?)
        }
    })
}

/// Positions of the events `mask` keeps, in order. Written without a branch per
/// event: a filter that keeps a random fifth of the events would otherwise mispredict
/// on most of them, in every column it compacts.
pub fn kept_events(mask: &[bool]) -> Vec<u32> {
    let mut kept = vec![0u32; mask.len()];
    let mut w = 0;
    for (i, &k) in mask.iter().enumerate() {
        kept[w] = i as u32;
        w += usize::from(k);
    }
    kept.truncate(w);
    kept
}

/// Keeps the events at positions `kept` (from [`kept_events`]): the compacted lane.
pub fn compact<T: Copy>(l: &Lane<T>, kept: &[u32], cache: &mut OffsetCache) -> Lane<T> {
    match l {
        Lane::Const(x) => Lane::Const(*x),
        Lane::Event(v) => Lane::Event(Arc::new(kept.iter().map(|&i| v[i as usize]).collect())),
        Lane::Jagged(o, v) => {
            let new = cache.compacted(o, kept);
            let mut out = Vec::with_capacity(new.total());
            for &i in kept {
                out.extend_from_slice(&v[o.range(i as usize)]);
            }
            Lane::Jagged(new, Arc::new(out))
        }
    }
}

/// Compacted offsets of each offsets array met during one filter, so that columns that
/// shared offsets still share them.
#[derive(Default)]
pub struct OffsetCache(Vec<(Offsets, Offsets)>);

impl OffsetCache {
    fn compacted(&mut self, o: &Offsets, kept: &[u32]) -> Offsets {
        if let Some((_, n)) = self.0.iter().find(|(old, _)| Arc::ptr_eq(&old.0, &o.0)) {
            return n.clone();
        }
        let mut new = Vec::with_capacity(kept.len() + 1);
        new.push(0u32);
        let mut at = 0u32;
        for &i in kept {
            at += o.range(i as usize).len() as u32;
            new.push(at);
        }
        let n = Offsets(Arc::new(new));
        self.0.push((o.clone(), n.clone()));
        n
    }
}

/// Calls `f` on every element a lane holds over `n` events (a constant `n` times).
pub fn for_each<T: Copy>(l: &Lane<T>, n: usize, mut f: impl FnMut(T)) {
    match l {
        Lane::Const(x) => (0..n).for_each(|_| f(*x)),
        Lane::Event(v) => v.iter().for_each(|&x| f(x)),
        Lane::Jagged(_, v) => v.iter().for_each(|&x| f(x)),
    }
}

/// Whether the value's elements are truth values (for column types of tables).
pub fn elem_of(v: &Val) -> Elem {
    match v {
        Val::Num(_) => Elem::Float,
        Val::Bool(_) => Elem::Bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaon_graph::expr::{NameType, Scope, Type, compile};

    fn jagged(lists: &[&[f64]]) -> Lane<f64> {
        let mut off = vec![0u32];
        let mut vals = Vec::new();
        for l in lists {
            vals.extend_from_slice(l);
            off.push(vals.len() as u32);
        }
        Lane::Jagged(Offsets(Arc::new(off)), Arc::new(vals))
    }

    fn env() -> (Env, Scope) {
        let mut env = Env::new();
        let mut scope = Scope::new();
        let pt = jagged(&[&[50.0, 30.0], &[], &[40.0], &[26.0, 20.0, 10.0]]);
        let Lane::Jagged(o, _) = &pt else { panic!() };
        let o = o.clone();
        let with = |v: Vec<f64>| Lane::Jagged(o.clone(), Arc::new(v));
        env.insert("pt".into(), Val::Num(pt.clone()));
        env.insert(
            "eta".into(),
            Val::Num(with(vec![0.5, -1.0, 2.0, 0.1, 0.2, 0.3])),
        );
        env.insert(
            "phi".into(),
            Val::Num(with(vec![0.1, 3.0, -3.0, 1.0, -2.0, 0.0])),
        );
        env.insert(
            "q".into(),
            Val::Num(with(vec![1.0, -1.0, 1.0, -1.0, -1.0, 1.0])),
        );
        // Another counter with the same counts in the first event only.
        env.insert(
            "jet".into(),
            Val::Num(jagged(&[&[1.0, 2.0], &[3.0], &[], &[]])),
        );
        env.insert(
            "n".into(),
            Val::Num(Lane::Event(Arc::new(vec![2.0, 0.0, 1.0, 3.0]))),
        );
        env.insert(
            "flag".into(),
            Val::Bool(Lane::Event(Arc::new(vec![true, false, true, false]))),
        );
        let jf = NameType::Value(Type {
            elem: Elem::Float,
            jagged: true,
        });
        for n in ["pt", "eta", "phi", "jet"] {
            scope.insert(n, jf.clone());
        }
        scope.insert(
            "q",
            NameType::Value(Type {
                elem: Elem::Int,
                jagged: true,
            }),
        );
        scope.insert("n", NameType::Value(Type::INT));
        scope.insert("flag", NameType::Value(Type::BOOL));
        (env, scope)
    }

    fn run(src: &str) -> Result<Val, String> {
        let (env, scope) = env();
        let e = compile(src, &scope).map_err(|e| e.to_string())?;
        eval(&e, &env)
    }

    fn nums(src: &str) -> Vec<f64> {
        match run(src).unwrap_or_else(|e| panic!("{src}: {e}")) {
            Val::Num(Lane::Event(v)) => v.to_vec(),
            Val::Num(Lane::Jagged(_, v)) => v.to_vec(),
            other => panic!("{src}: {other:?}"),
        }
    }

    fn bools(src: &str) -> Vec<bool> {
        match run(src).unwrap_or_else(|e| panic!("{src}: {e}")) {
            Val::Bool(Lane::Event(v)) => v.to_vec(),
            Val::Bool(Lane::Jagged(_, v)) => v.to_vec(),
            other => panic!("{src}: {other:?}"),
        }
    }

    fn same(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() < 1e-12,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn indexing_out_of_range_gives_nan_or_false() {
        same(&nums("pt[0]"), &[50.0, f64::NAN, 40.0, 26.0]);
        same(&nums("pt[1]"), &[30.0, f64::NAN, f64::NAN, 20.0]);
        same(&nums("pt[-1]"), &[30.0, f64::NAN, 40.0, 10.0]);
        same(&nums("pt[-4]"), &[f64::NAN; 4]);
        same(&nums("pt[n - 1]"), &[30.0, f64::NAN, 40.0, 10.0]);
        same(&nums("pt[1000000000000000000000]"), &[f64::NAN; 4]);
        assert_eq!(bools("(pt > 25)[1]"), vec![true, false, false, false]);
        // Events without a second object fail a cut on it.
        assert_eq!(bools("pt[1] > 25"), vec![true, false, false, false]);
        assert_eq!(bools("!(pt[1] <= 25)"), vec![true, true, true, false]);
    }

    #[test]
    fn reductions_of_empty_lists_are_defined() {
        same(&nums("sum(pt)"), &[80.0, 0.0, 40.0, 56.0]);
        same(&nums("max(pt)"), &[50.0, f64::NAN, 40.0, 26.0]);
        same(&nums("min(pt)"), &[30.0, f64::NAN, 40.0, 10.0]);
        same(&nums("mean(pt)"), &[40.0, f64::NAN, 40.0, 56.0 / 3.0]);
        same(&nums("count(pt)"), &[2.0, 0.0, 1.0, 3.0]);
        same(&nums("count(pt > 25)"), &[2.0, 0.0, 1.0, 1.0]);
        same(&nums("sum(pt > 25)"), &[2.0, 0.0, 1.0, 1.0]);
        assert_eq!(bools("any(pt > 45)"), vec![true, false, false, false]);
        assert_eq!(bools("all(pt > 15)"), vec![true, true, true, false]);
        same(&nums("sum(q)"), &[0.0, 0.0, 1.0, -1.0]);
    }

    #[test]
    fn broadcasting_per_event_values_over_objects() {
        same(
            &nums("pt - n * 10"),
            &[30.0, 10.0, 30.0, -4.0, -10.0, -20.0],
        );
        same(&nums("pt * 2"), &[100.0, 60.0, 80.0, 52.0, 40.0, 20.0]);
        assert_eq!(
            bools("pt > 25 && flag"),
            vec![true, true, true, false, false, false]
        );
        same(&nums("where(flag, n, -1)"), &[2.0, -1.0, 1.0, -1.0]);
        same(
            &nums("where(pt > 25, pt, 0)"),
            &[50.0, 30.0, 40.0, 26.0, 0.0, 0.0],
        );
        same(&nums("max(pt, 35)"), &[50.0, 35.0, 40.0, 35.0, 35.0, 35.0]);
        // A constant-only expression stays a constant.
        assert!(matches!(run("1 + 2").unwrap(), Val::Num(Lane::Const(3.0))));
    }

    #[test]
    fn jagged_operands_with_different_counts_are_an_error() {
        let err = run("pt + jet").unwrap_err();
        assert!(err.contains("different numbers of objects"), "{err}");
        assert!(err.contains("event 1"), "{err}");
        // The same counts but separate offsets arrays are fine.
        let (mut env, scope) = env();
        let Some(Val::Num(Lane::Jagged(o, v))) = env.get("pt").cloned() else {
            panic!()
        };
        let copy = Offsets(Arc::new(o.0.to_vec()));
        env.insert("pt2".into(), Val::Num(Lane::Jagged(copy, v)));
        let mut scope = scope;
        scope.insert(
            "pt2",
            NameType::Value(Type {
                elem: Elem::Float,
                jagged: true,
            }),
        );
        let e = compile("pt - pt2", &scope).unwrap();
        let Val::Num(Lane::Jagged(_, d)) = eval(&e, &env).unwrap() else {
            panic!()
        };
        assert!(d.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn arithmetic_follows_numpy() {
        same(&nums("n % 2 - 1 + pt[0] * 0"), &[-1.0, f64::NAN, 0.0, 0.0]);
        same(&nums("(n - 3) % 2 + sum(pt) * 0"), &[1.0, 1.0, 0.0, 0.0]);
        same(
            &nums("n / 0 + sum(pt) * 0"),
            &[f64::INFINITY, f64::NAN, f64::INFINITY, f64::INFINITY],
        );
        same(
            &nums("round(n / 4 + 0.125 + sum(pt) * 0)"),
            &[1.0, 0.0, 0.0, 1.0],
        );
        same(
            &nums("round(n - 0.5 + sum(pt) * 0)"),
            &[2.0, -0.0, 0.0, 2.0],
        );
        same(&nums("-n ** 2"), &[-4.0, 0.0, -1.0, -9.0]);
        same(&nums("2 ** -n"), &[0.25, 1.0, 0.5, 0.125]);
    }

    #[test]
    fn physics_helpers() {
        let dphi = nums("delta_phi(phi[0], phi[1])");
        assert!((dphi[0] - (0.1 - 3.0)).abs() < 1e-12);
        assert!(dphi[1].is_nan() && dphi[2].is_nan());
        assert!((dphi[3] - 3.0).abs() < 1e-12, "{dphi:?}");
        same(&[delta_phi(3.0, -3.0)], &[6.0 - 2.0 * PI]);
        same(&[delta_phi(-3.0, 3.0)], &[2.0 * PI - 6.0]);
        for d in nums("delta_phi(phi, 3)") {
            assert!((-PI..PI).contains(&d), "{d}");
        }
        let dr = nums("delta_r(eta[0], phi[0], eta[1], phi[1])");
        assert!((dr[0] - (1.5f64.powi(2) + 2.9f64.powi(2)).sqrt()).abs() < 1e-12);

        // Two massless objects back to back in phi at eta 0: m = 2 * pt.
        let mut env = Env::new();
        let mut scope = Scope::new();
        let o = Offsets(Arc::new(vec![0, 2, 3, 3]));
        let lane = |v: Vec<f64>| Val::Num(Lane::Jagged(o.clone(), Arc::new(v)));
        env.insert("pt".into(), lane(vec![10.0, 10.0, 7.0]));
        env.insert("eta".into(), lane(vec![0.0, 0.0, 1.0]));
        env.insert("phi".into(), lane(vec![0.0, PI, 0.5]));
        env.insert("m".into(), lane(vec![0.0, 0.0, 3.0]));
        env.insert("e".into(), lane(vec![10.0, 10.0, 7.0 * 1f64.cosh()]));
        env.insert("px".into(), lane(vec![3.0, -3.0, 0.0]));
        env.insert("py".into(), lane(vec![0.0, 0.0, 0.0]));
        env.insert("pz".into(), lane(vec![0.0, 0.0, 4.0]));
        env.insert("E".into(), lane(vec![5.0, 5.0, 3.0]));
        for n in ["pt", "eta", "phi", "m", "e", "px", "py", "pz", "E"] {
            scope.insert(
                n,
                NameType::Value(Type {
                    elem: Elem::Float,
                    jagged: true,
                }),
            );
        }
        let get = |src: &str| match eval(&compile(src, &scope).unwrap(), &env).unwrap() {
            Val::Num(Lane::Event(v)) => v.to_vec(),
            other => panic!("{other:?}"),
        };
        let m = get("mass(pt, eta, phi, e)");
        assert!((m[0] - 20.0).abs() < 1e-12, "{m:?}");
        assert!(m[1].abs() < 1e-6, "{m:?}");
        assert_eq!(m[2], 0.0);
        let m = get("mass(pt, eta, phi, e, phi < 1)");
        assert!(m[0].abs() < 1e-12, "{m:?}");
        let m = get("mass_m(pt, eta, phi, m)");
        assert!(
            (m[0] - 20.0).abs() < 1e-12 && (m[1] - 3.0).abs() < 1e-9,
            "{m:?}"
        );
        let m = get("mass_xyze(px, py, pz, E)");
        assert_eq!(m, vec![10.0, -(7.0f64).sqrt(), 0.0]);
    }

    #[test]
    fn compaction_keeps_shared_offsets_shared() {
        let (env, _) = env();
        let mask = kept_events(&[true, false, false, true]);
        assert_eq!(mask, [0, 3]);
        assert!(kept_events(&[false; 3]).is_empty());
        let mut cache = OffsetCache::default();
        let (Some(Val::Num(pt)), Some(Val::Num(eta))) = (env.get("pt"), env.get("eta")) else {
            panic!()
        };
        let (Lane::Jagged(a, av), Lane::Jagged(b, bv)) = (
            compact(pt, &mask, &mut cache),
            compact(eta, &mask, &mut cache),
        ) else {
            panic!()
        };
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(*a.0, vec![0, 2, 5]);
        assert_eq!(*av, vec![50.0, 30.0, 26.0, 20.0, 10.0]);
        assert_eq!(*bv, vec![0.5, -1.0, 0.1, 0.2, 0.3]);
        let Lane::Event(n) = compact(&Lane::Event(Arc::new(vec![1, 2, 3, 4])), &mask, &mut cache)
        else {
            panic!()
        };
        assert_eq!(*n, vec![1, 4]);
    }
}
