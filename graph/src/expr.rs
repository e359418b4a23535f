//! The event expression language of ntuple layers: parsing and type checking.
//!
//! Pure (no I/O): the client checks expressions when a selection is built, the graph
//! checks them again when a graph arrives, and the worker compiles them before it
//! evaluates them column by column (`kaon-kernels`).
//!
//! ## The language
//! - numbers (`25`, `2.5`, `1e3`), `true`, `false`, and names of branches or defined
//!   columns (`lep_pt`, `Muon.Px`; any other name in backquotes: `` `a/b` ``);
//! - arithmetic `+ - * / % **` (`/` always divides as floats, `%` is the floor modulo of
//!   Python and NumPy, `**` binds tighter than unary minus: `-x**2` is `-(x**2)`);
//! - comparisons `== != < <= > >=`, logic `&&` `||` `!` (also `and`, `or`, `not`),
//!   parentheses;
//! - indexing into jagged branches: `lep_pt[0]`, `lep_pt[lep_n - 1]`, `lep_pt[-1]` (the
//!   last object);
//! - functions, listed in [`FUNCTIONS`].
//!
//! ## Types
//! A value is a number (integer or float) or a truth value, and is either one per event
//! or a list per event (*jagged*, e.g. `lep_pt`). Operators and element-wise functions
//! broadcast per-event values over the objects of jagged ones (`lep_pt > met / 2`); two
//! jagged operands must have the same number of objects in every event (else the task
//! fails with an error naming the expression). Per-event reductions (`sum`, `max`, `min`,
//! `mean`, `count`, `any`, `all`) and the physics helpers turn jagged values into one
//! value per event. All arithmetic is done in float64; integers are exact up to 2^53.
//!
//! ## Values that do not exist
//! Indexing past either end of an event's list gives NaN for numbers and `false` for
//! truth values, never an error: `lep_pt[1] > 25` is false for events with fewer than
//! two leptons, so such events fail a filter. `max`, `min` and `mean` of an empty list
//! are NaN, `sum` is 0, `count` is 0, `any` is false and `all` is true. Comparisons with
//! NaN are false (`!=` is true), as in IEEE arithmetic; histograms count NaN in the
//! overflow bin.

use std::collections::BTreeMap;
use std::fmt;

/// Kind of the elements of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    Bool,
    Int,
    Float,
}

/// Type of a value: its elements, and whether it is a list per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    pub elem: Elem,
    pub jagged: bool,
}

impl Type {
    pub const BOOL: Type = Type {
        elem: Elem::Bool,
        jagged: false,
    };
    pub const INT: Type = Type {
        elem: Elem::Int,
        jagged: false,
    };
    pub const FLOAT: Type = Type {
        elem: Elem::Float,
        jagged: false,
    };

    pub fn is_number(self) -> bool {
        self.elem != Elem::Bool
    }

    fn with_elem(self, elem: Elem) -> Type {
        Type {
            elem,
            jagged: self.jagged,
        }
    }

    /// Words users read in errors: "a per-event number", "a jagged list of true/false".
    pub fn describe(self) -> &'static str {
        match (self.elem, self.jagged) {
            (Elem::Bool, false) => "a per-event true/false value",
            (Elem::Int, false) => "a per-event integer",
            (Elem::Float, false) => "a per-event number",
            (Elem::Bool, true) => "a jagged (per-object) list of true/false values",
            (Elem::Int, true) => "a jagged (per-object) list of integers",
            (Elem::Float, true) => "a jagged (per-object) list of numbers",
        }
    }
}

/// An error in an expression, at a 1-based column.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// The expression as written.
    pub expr: String,
    /// 1-based column (in characters) of the offending part.
    pub column: usize,
    pub message: String,
}

impl ExprError {
    /// The expression with a caret under the offending column, for terminals.
    pub fn caret(&self) -> String {
        format!(
            "  {}\n  {}^",
            self.expr,
            " ".repeat(self.column.saturating_sub(1))
        )
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (column {} of \"{}\")",
            self.message, self.column, self.expr
        )
    }
}

impl std::error::Error for ExprError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
}

/// The functions of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Sqrt,
    Abs,
    Exp,
    Log,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Floor,
    Ceil,
    Round,
    IsNan,
    IsFinite,
    Atan2,
    Pow,
    Hypot,
    /// Element-wise minimum of two values.
    Minimum,
    /// Element-wise maximum of two values.
    Maximum,
    Where,
    Sum,
    Max,
    Min,
    Mean,
    Count,
    Any,
    All,
    Mass,
    MassM,
    MassXyze,
    DeltaPhi,
    DeltaR,
}

/// Every function: name, arguments, and what it does (for `--help` texts and docs).
pub const FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "sqrt abs exp log log10 sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh",
        "(x)",
        "element-wise math (abs of an integer is an integer)",
    ),
    (
        "floor ceil round",
        "(x)",
        "element-wise, to integers (round: half away from zero)",
    ),
    ("isnan isfinite", "(x)", "element-wise tests, true/false"),
    (
        "atan2 pow hypot",
        "(a, b)",
        "element-wise: atan2(y, x), a**b, sqrt(a*a + b*b)",
    ),
    (
        "min max",
        "(a, b)",
        "element-wise minimum / maximum of two values",
    ),
    (
        "where",
        "(cond, a, b)",
        "a where cond is true, else b, element-wise",
    ),
    (
        "sum max min mean",
        "(jagged)",
        "per event over its objects; empty: sum 0, max/min/mean NaN",
    ),
    (
        "count",
        "(jagged)",
        "per event: the number of objects, or of true values of a jagged true/false",
    ),
    (
        "any all",
        "(jagged true/false)",
        "per event; empty: any false, all true",
    ),
    (
        "mass",
        "(pt, eta, phi, e [, mask])",
        "invariant mass of the sum of an event's objects (those mask keeps)",
    ),
    (
        "mass_m",
        "(pt, eta, phi, m [, mask])",
        "the same from masses: e = sqrt(p^2 + m^2)",
    ),
    (
        "mass_xyze",
        "(px, py, pz, e [, mask])",
        "the same from Cartesian momenta",
    ),
    (
        "delta_phi",
        "(phi1, phi2)",
        "phi1 - phi2 wrapped into [-pi, pi), element-wise",
    ),
    (
        "delta_r",
        "(eta1, phi1, eta2, phi2)",
        "sqrt(deta^2 + delta_phi^2), element-wise",
    ),
];

/// A parsed (and, after [`check`], typed) expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub node: Node,
    /// 1-based column where this part of the expression starts.
    pub column: usize,
    /// Set by [`check`].
    pub ty: Type,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Num(f64),
    Bool(bool),
    /// A branch or a defined column.
    Name(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Logic(LogicOp, Box<Expr>, Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

impl Expr {
    /// Names (branches or defined columns) the expression reads, without repeats, in
    /// the order they first appear.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Node::Name(n) = &e.node
                && !out.contains(n)
            {
                out.push(n.clone());
            }
        });
        out
    }

    /// The parts of a chain of `&&` (`a && b && c` gives `a`, `b`, `c`; any other
    /// expression is its own only part), in the order written: a filter keeps the
    /// events every part keeps, so it may test them one after the other.
    pub fn conjuncts(&self) -> Vec<&Expr> {
        match &self.node {
            Node::Logic(LogicOp::And, a, b) => {
                let mut parts = a.conjuncts();
                parts.extend(b.conjuncts());
                parts
            }
            _ => vec![self],
        }
    }

    fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.node {
            Node::Num(_) | Node::Bool(_) | Node::Name(_) => {}
            Node::Neg(a) | Node::Not(a) => a.walk(f),
            Node::Arith(_, a, b) | Node::Cmp(_, a, b) | Node::Logic(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Node::Index(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Node::Call(_, args) => args.iter().for_each(|a| a.walk(f)),
        }
    }
}

// ------------------------------------------------------------------ lexing

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64, bool),
    Ident(String),
    Op(&'static str),
    End,
}

struct Lexed {
    toks: Vec<(Tok, usize)>,
}

const OPS: [&str; 21] = [
    "**", "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "!", "(", ")",
    "[", "]", ",", "=",
];

fn lex(src: &str) -> Result<Lexed, (usize, String)> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            let mut is_int = true;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                is_int = false;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    is_int = false;
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            if i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                return Err((
                    i + 1,
                    format!(
                        "unexpected '{}' after the number {}",
                        chars[i],
                        chars[start..i].iter().collect::<String>()
                    ),
                ));
            }
            let text: String = chars[start..i].iter().collect();
            let value: f64 = text
                .parse()
                .map_err(|_| (col, format!("'{text}' is not a number")))?;
            toks.push((Tok::Num(value, is_int), col));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            toks.push((Tok::Ident(chars[start..i].iter().collect()), col));
            continue;
        }
        if c == '`' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '`' {
                i += 1;
            }
            if i >= chars.len() {
                return Err((col, "a name in backquotes is not closed".into()));
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                return Err((col, "empty name in backquotes".into()));
            }
            toks.push((Tok::Ident(name), col));
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(*op)) {
            Some(op) => {
                toks.push((Tok::Op(op), col));
                i += op.chars().count();
            }
            None => return Err((col, format!("unexpected character '{c}'"))),
        }
    }
    toks.push((Tok::End, chars.len() + 1));
    Ok(Lexed { toks })
}

// ------------------------------------------------------------------ parsing

struct Parser<'a> {
    toks: &'a [(Tok, usize)],
    at: usize,
    depth: usize,
}

/// Deepest nesting accepted (guards the recursive parser and checker).
const MAX_DEPTH: usize = 200;

type PResult<T> = Result<T, (usize, String)>;

fn describe_tok(t: &Tok) -> String {
    match t {
        Tok::Num(v, _) => format!("the number {v}"),
        Tok::Ident(n) => format!("'{n}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::End => "the end of the expression".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn col(&self) -> usize {
        self.toks[self.at].1
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(n) if n == w)
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn expect(&mut self, op: &str, opened: Option<(usize, &str)>) -> PResult<()> {
        if self.is_op(op) {
            self.bump();
            return Ok(());
        }
        let found = describe_tok(self.peek());
        Err((
            self.col(),
            match opened {
                Some((col, what)) => {
                    format!("expected '{op}' to close the '{what}' at column {col}, found {found}")
                }
                None => format!("expected '{op}', found {found}"),
            },
        ))
    }

    fn node(&self, node: Node, column: usize) -> Expr {
        Expr {
            node,
            column,
            ty: Type::FLOAT,
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.col(), format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut lhs = self.and()?;
        while self.is_op("||") || self.is_word("or") {
            let (_, col) = self.bump();
            let rhs = self.and()?;
            lhs = self.node(Node::Logic(LogicOp::Or, Box::new(lhs), Box::new(rhs)), col);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut lhs = self.cmp()?;
        while self.is_op("&&") || self.is_word("and") {
            let (_, col) = self.bump();
            let rhs = self.cmp()?;
            lhs = self.node(Node::Logic(LogicOp::And, Box::new(lhs), Box::new(rhs)), col);
        }
        Ok(lhs)
    }

    fn cmp(&mut self) -> PResult<Expr> {
        let lhs = self.add()?;
        let op = match self.peek() {
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            Tok::Op("=") => return Err((self.col(), "use '==' to compare".into())),
            _ => return Ok(lhs),
        };
        let (_, col) = self.bump();
        let rhs = self.add()?;
        if let Tok::Op(o @ ("==" | "!=" | "<" | "<=" | ">" | ">=")) = self.peek() {
            return Err((
                self.col(),
                format!(
                    "comparisons do not chain: write 'a < b && b < c' instead of a second '{o}'"
                ),
            ));
        }
        Ok(self.node(Node::Cmp(op, Box::new(lhs), Box::new(rhs)), col))
    }

    fn add(&mut self) -> PResult<Expr> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => ArithOp::Add,
                Tok::Op("-") => ArithOp::Sub,
                _ => return Ok(lhs),
            };
            let (_, col) = self.bump();
            let rhs = self.mul()?;
            lhs = self.node(Node::Arith(op, Box::new(lhs), Box::new(rhs)), col);
        }
    }

    fn mul(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => ArithOp::Mul,
                Tok::Op("/") => ArithOp::Div,
                Tok::Op("%") => ArithOp::Mod,
                _ => return Ok(lhs),
            };
            let (_, col) = self.bump();
            let rhs = self.unary()?;
            lhs = self.node(Node::Arith(op, Box::new(lhs), Box::new(rhs)), col);
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let col = self.col();
        let e = if self.is_op("-") {
            self.bump();
            let a = self.unary()?;
            self.node(Node::Neg(Box::new(a)), col)
        } else if self.is_op("+") {
            self.bump();
            self.unary()?
        } else if self.is_op("!") || self.is_word("not") {
            self.bump();
            let a = self.unary()?;
            self.node(Node::Not(Box::new(a)), col)
        } else {
            self.power()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn power(&mut self) -> PResult<Expr> {
        let base = self.postfix()?;
        if self.is_op("**") {
            let (_, col) = self.bump();
            // Right-associative, and the exponent may carry a sign: 2**-1.
            let exp = self.unary()?;
            return Ok(self.node(
                Node::Arith(ArithOp::Pow, Box::new(base), Box::new(exp)),
                col,
            ));
        }
        Ok(base)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        while self.is_op("[") {
            let (_, col) = self.bump();
            self.enter()?;
            let idx = self.or()?;
            self.depth -= 1;
            self.expect("]", Some((col, "[")))?;
            e = self.node(Node::Index(Box::new(e), Box::new(idx)), col);
        }
        Ok(e)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let (tok, col) = self.bump();
        match tok {
            Tok::Num(v, is_int) => {
                let mut e = self.node(Node::Num(v), col);
                e.ty = if is_int { Type::INT } else { Type::FLOAT };
                Ok(e)
            }
            Tok::Ident(name) => {
                if name == "true" || name == "false" {
                    return Ok(self.node(Node::Bool(name == "true"), col));
                }
                if self.is_op("(") {
                    let (_, open) = self.bump();
                    let mut args = Vec::new();
                    if !self.is_op(")") {
                        loop {
                            self.enter()?;
                            args.push(self.or()?);
                            self.depth -= 1;
                            if self.is_op(",") {
                                self.bump();
                                continue;
                            }
                            break;
                        }
                    }
                    self.expect(")", Some((open, "(")))?;
                    let func = resolve_func(&name, args.len()).map_err(|m| (col, m))?;
                    return Ok(self.node(Node::Call(func, args), col));
                }
                Ok(self.node(Node::Name(name), col))
            }
            Tok::Op("(") => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                self.expect(")", Some((col, "(")))?;
                Ok(e)
            }
            Tok::End => Err((col, "the expression ends too early".into())),
            other => Err((col, format!("unexpected {}", describe_tok(&other)))),
        }
    }
}

fn resolve_func(name: &str, nargs: usize) -> Result<Func, String> {
    use Func::*;
    let unary = [
        ("sqrt", Sqrt),
        ("abs", Abs),
        ("exp", Exp),
        ("log", Log),
        ("log10", Log10),
        ("sin", Sin),
        ("cos", Cos),
        ("tan", Tan),
        ("asin", Asin),
        ("acos", Acos),
        ("atan", Atan),
        ("sinh", Sinh),
        ("cosh", Cosh),
        ("tanh", Tanh),
        ("asinh", Asinh),
        ("acosh", Acosh),
        ("atanh", Atanh),
        ("floor", Floor),
        ("ceil", Ceil),
        ("round", Round),
        ("isnan", IsNan),
        ("isfinite", IsFinite),
        ("sum", Sum),
        ("mean", Mean),
        ("count", Count),
        ("any", Any),
        ("all", All),
    ];
    let fixed: [(&str, Func, &[usize]); 9] = [
        ("atan2", Atan2, &[2]),
        ("pow", Pow, &[2]),
        ("hypot", Hypot, &[2]),
        ("where", Where, &[3]),
        ("mass", Mass, &[4, 5]),
        ("mass_m", MassM, &[4, 5]),
        ("mass_xyze", MassXyze, &[4, 5]),
        ("delta_phi", DeltaPhi, &[2]),
        ("delta_r", DeltaR, &[4]),
    ];
    let want = |n: &[usize]| -> String {
        let n: Vec<String> = n.iter().map(|k| k.to_string()).collect();
        format!(
            "{name}() takes {} argument{}, not {nargs}",
            n.join(" or "),
            if n == ["1"] { "" } else { "s" }
        )
    };
    if let Some((_, f)) = unary.iter().find(|(n, _)| *n == name) {
        return if nargs == 1 { Ok(*f) } else { Err(want(&[1])) };
    }
    if let Some((_, f, n)) = fixed.iter().find(|(n, _, _)| *n == name) {
        return if n.contains(&nargs) {
            Ok(*f)
        } else {
            Err(want(n))
        };
    }
    match (name, nargs) {
        ("max", 1) => return Ok(Max),
        ("min", 1) => return Ok(Min),
        ("max", 2) => return Ok(Maximum),
        ("min", 2) => return Ok(Minimum),
        ("max" | "min", _) => {
            return Err(format!(
                "{name}() takes 1 argument (per event over a jagged list) or 2 (element-wise), not {nargs}"
            ));
        }
        _ => {}
    }
    let mut known: Vec<&str> = unary.iter().map(|(n, _)| *n).collect();
    known.extend(fixed.iter().map(|(n, _, _)| *n));
    known.extend(["max", "min"]);
    let near = nearest(name, known.iter().copied());
    Err(if near.is_empty() {
        format!("unknown function '{name}'")
    } else {
        format!(
            "unknown function '{name}'; did you mean {}?",
            near.join(", ")
        )
    })
}

/// Parses an expression (syntax only).
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let err = |(column, message): (usize, String)| ExprError {
        expr: src.to_string(),
        column,
        message,
    };
    let lexed = lex(src).map_err(err)?;
    let mut p = Parser {
        toks: &lexed.toks,
        at: 0,
        depth: 0,
    };
    if matches!(p.peek(), Tok::End) {
        return Err(err((1, "the expression is empty".into())));
    }
    let e = p.or().map_err(err)?;
    if !matches!(p.peek(), Tok::End) {
        return Err(err((
            p.col(),
            format!(
                "unexpected {} after a complete expression",
                describe_tok(p.peek())
            ),
        )));
    }
    Ok(e)
}

// ------------------------------------------------------------------ checking

/// What a name stands for when expressions are checked.
#[derive(Clone, Debug, PartialEq)]
pub enum NameType {
    Value(Type),
    /// A branch that exists but that expressions cannot use, with the reason.
    Unusable(String),
}

/// The names an expression may use: branches and defined columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    names: BTreeMap<String, NameType>,
}

impl Scope {
    pub fn new() -> Scope {
        Scope::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, ty: NameType) {
        self.names.insert(name.into(), ty);
    }

    pub fn get(&self, name: &str) -> Option<&NameType> {
        self.names.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(|s| s.as_str())
    }
}

/// Up to three names close to `name` (edit distance, or equal ignoring case).
pub fn nearest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, String)> = candidates
        .filter_map(|c| {
            let d = if c.to_lowercase() == lower {
                0
            } else {
                strsim::levenshtein(name, c)
            };
            (d <= limit).then(|| (d, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Parses and type-checks an expression against `scope`.
pub fn compile(src: &str, scope: &Scope) -> Result<Expr, ExprError> {
    let mut e = parse(src)?;
    check(&mut e, scope).map_err(|(column, message)| ExprError {
        expr: src.to_string(),
        column,
        message,
    })?;
    Ok(e)
}

fn name_of(func: Func) -> &'static str {
    use Func::*;
    match func {
        Sqrt => "sqrt",
        Abs => "abs",
        Exp => "exp",
        Log => "log",
        Log10 => "log10",
        Sin => "sin",
        Cos => "cos",
        Tan => "tan",
        Asin => "asin",
        Acos => "acos",
        Atan => "atan",
        Sinh => "sinh",
        Cosh => "cosh",
        Tanh => "tanh",
        Asinh => "asinh",
        Acosh => "acosh",
        Atanh => "atanh",
        Floor => "floor",
        Ceil => "ceil",
        Round => "round",
        IsNan => "isnan",
        IsFinite => "isfinite",
        Atan2 => "atan2",
        Pow => "pow",
        Hypot => "hypot",
        Minimum => "min",
        Maximum => "max",
        Where => "where",
        Sum => "sum",
        Max => "max",
        Min => "min",
        Mean => "mean",
        Count => "count",
        Any => "any",
        All => "all",
        Mass => "mass",
        MassM => "mass_m",
        MassXyze => "mass_xyze",
        DeltaPhi => "delta_phi",
        DeltaR => "delta_r",
    }
}

fn op_text(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
        ArithOp::Pow => "**",
    }
}

fn cmp_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

fn number(e: &Expr, what: &str) -> PResult<()> {
    if e.ty.is_number() {
        Ok(())
    } else {
        Err((
            e.column,
            format!("{what} needs numbers, but this is {}", e.ty.describe()),
        ))
    }
}

fn truth(e: &Expr, what: &str) -> PResult<()> {
    if e.ty.elem == Elem::Bool {
        Ok(())
    } else {
        Err((
            e.column,
            format!(
                "{what} needs true/false values, but this is {}; compare it to something",
                e.ty.describe()
            ),
        ))
    }
}

fn promote(a: Elem, b: Elem) -> Elem {
    if a == Elem::Int && b == Elem::Int {
        Elem::Int
    } else {
        Elem::Float
    }
}

fn check(e: &mut Expr, scope: &Scope) -> PResult<()> {
    let col = e.column;
    let ty = match &mut e.node {
        Node::Num(_) => e.ty,
        Node::Bool(_) => Type::BOOL,
        Node::Name(name) => match scope.get(name) {
            Some(NameType::Value(t)) => *t,
            Some(NameType::Unusable(why)) => {
                return Err((col, format!("branch '{name}' cannot be used here: {why}")));
            }
            None => {
                let near = nearest(name, scope.names());
                return Err((
                    col,
                    if near.is_empty() {
                        format!("unknown branch or column '{name}'")
                    } else {
                        format!(
                            "unknown branch or column '{name}'; did you mean {}?",
                            near.join(", ")
                        )
                    },
                ));
            }
        },
        Node::Neg(a) => {
            check(a, scope)?;
            number(a, "'-'")?;
            a.ty
        }
        Node::Not(a) => {
            check(a, scope)?;
            truth(a, "'!'")?;
            a.ty
        }
        Node::Arith(op, a, b) => {
            check(a, scope)?;
            check(b, scope)?;
            let what = format!("'{}'", op_text(*op));
            number(a, &what)?;
            number(b, &what)?;
            let elem = match op {
                ArithOp::Div | ArithOp::Pow => Elem::Float,
                _ => promote(a.ty.elem, b.ty.elem),
            };
            Type {
                elem,
                jagged: a.ty.jagged || b.ty.jagged,
            }
        }
        Node::Cmp(op, a, b) => {
            check(a, scope)?;
            check(b, scope)?;
            let both_bool = a.ty.elem == Elem::Bool && b.ty.elem == Elem::Bool;
            if !(matches!(op, CmpOp::Eq | CmpOp::Ne) && both_bool) {
                let what = format!("'{}'", cmp_text(*op));
                number(a, &what)?;
                number(b, &what)?;
            }
            Type {
                elem: Elem::Bool,
                jagged: a.ty.jagged || b.ty.jagged,
            }
        }
        Node::Logic(op, a, b) => {
            check(a, scope)?;
            check(b, scope)?;
            let what = if *op == LogicOp::And { "'&&'" } else { "'||'" };
            truth(a, what)?;
            truth(b, what)?;
            Type {
                elem: Elem::Bool,
                jagged: a.ty.jagged || b.ty.jagged,
            }
        }
        Node::Index(a, i) => {
            check(a, scope)?;
            check(i, scope)?;
            if !a.ty.jagged {
                return Err((
                    a.column,
                    format!(
                        "only jagged (per-object) values can be indexed, but this is {}",
                        a.ty.describe()
                    ),
                ));
            }
            if i.ty != Type::INT {
                return Err((
                    i.column,
                    format!(
                        "an index must be a per-event integer, but this is {}",
                        i.ty.describe()
                    ),
                ));
            }
            Type {
                elem: a.ty.elem,
                jagged: false,
            }
        }
        Node::Call(func, args) => {
            for a in args.iter_mut() {
                check(a, scope)?;
            }
            check_call(*func, args, col)?
        }
    };
    e.ty = ty;
    Ok(())
}

fn check_call(func: Func, args: &[Expr], col: usize) -> PResult<Type> {
    use Func::*;
    let name = name_of(func);
    let what = format!("{name}()");
    let jagged_any = args.iter().any(|a| a.ty.jagged);
    let need_jagged = |a: &Expr| -> PResult<()> {
        if a.ty.jagged {
            Ok(())
        } else {
            Err((
                a.column,
                format!(
                    "{name}() works on the objects of each event, so it needs a jagged \
                     (per-object) value such as a branch like lep_pt, but this is {}",
                    a.ty.describe()
                ),
            ))
        }
    };
    let _ = col;
    Ok(match func {
        Sqrt | Exp | Log | Log10 | Sin | Cos | Tan | Asin | Acos | Atan | Sinh | Cosh | Tanh
        | Asinh | Acosh | Atanh => {
            number(&args[0], &what)?;
            args[0].ty.with_elem(Elem::Float)
        }
        Abs => {
            number(&args[0], &what)?;
            args[0].ty
        }
        Floor | Ceil | Round => {
            number(&args[0], &what)?;
            args[0].ty.with_elem(Elem::Int)
        }
        IsNan | IsFinite => {
            number(&args[0], &what)?;
            args[0].ty.with_elem(Elem::Bool)
        }
        Atan2 | Pow | Hypot | DeltaPhi | DeltaR => {
            for a in args {
                number(a, &what)?;
            }
            Type {
                elem: Elem::Float,
                jagged: jagged_any,
            }
        }
        Minimum | Maximum => {
            number(&args[0], &what)?;
            number(&args[1], &what)?;
            Type {
                elem: promote(args[0].ty.elem, args[1].ty.elem),
                jagged: jagged_any,
            }
        }
        Where => {
            truth(&args[0], "the condition of where()")?;
            let (a, b) = (&args[1], &args[2]);
            let elem = match (a.ty.elem, b.ty.elem) {
                (Elem::Bool, Elem::Bool) => Elem::Bool,
                (Elem::Bool, _) | (_, Elem::Bool) => {
                    let bad = if a.ty.elem == Elem::Bool { a } else { b };
                    return Err((
                        bad.column,
                        "where() needs two numbers or two true/false values to choose from".into(),
                    ));
                }
                (x, y) => promote(x, y),
            };
            Type {
                elem,
                jagged: jagged_any,
            }
        }
        Sum => {
            need_jagged(&args[0])?;
            let elem = match args[0].ty.elem {
                Elem::Float => Elem::Float,
                _ => Elem::Int,
            };
            Type {
                elem,
                jagged: false,
            }
        }
        Max | Min => {
            need_jagged(&args[0])?;
            number(&args[0], &what)?;
            Type {
                elem: args[0].ty.elem,
                jagged: false,
            }
        }
        Mean => {
            need_jagged(&args[0])?;
            number(&args[0], &what)?;
            Type::FLOAT
        }
        Count => {
            need_jagged(&args[0])?;
            Type::INT
        }
        Any | All => {
            need_jagged(&args[0])?;
            truth(&args[0], &what)?;
            Type::BOOL
        }
        Mass | MassM | MassXyze => {
            for a in &args[..4] {
                need_jagged(a)?;
                number(a, &what)?;
            }
            if let Some(mask) = args.get(4) {
                need_jagged(mask)?;
                truth(mask, &format!("the mask of {name}()"))?;
            }
            Type::FLOAT
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::new();
        let jf = Type {
            elem: Elem::Float,
            jagged: true,
        };
        let ji = Type {
            elem: Elem::Int,
            jagged: true,
        };
        for b in ["lep_pt", "lep_eta", "lep_phi", "lep_E"] {
            s.insert(b, NameType::Value(jf));
        }
        s.insert("lep_charge", NameType::Value(ji));
        s.insert("lep_n", NameType::Value(Type::INT));
        s.insert("met_et", NameType::Value(Type::FLOAT));
        s.insert("trigE", NameType::Value(Type::BOOL));
        s.insert("name", NameType::Unusable("it holds strings".into()));
        s
    }

    fn err(src: &str) -> ExprError {
        compile(src, &scope()).expect_err(src)
    }

    fn ty(src: &str) -> Type {
        compile(src, &scope()).unwrap_or_else(|e| panic!("{e}")).ty
    }

    #[test]
    fn conjuncts_split_a_chain_of_and_only() {
        let e = compile(
            "lep_n == 2 && (trigE || met_et > 30) && !(lep_n > 3 && trigE)",
            &scope(),
        )
        .unwrap();
        assert_eq!(e.conjuncts().len(), 3);
        assert!(matches!(e.conjuncts()[0].node, Node::Cmp(CmpOp::Eq, ..)));
        assert!(matches!(
            e.conjuncts()[1].node,
            Node::Logic(LogicOp::Or, ..)
        ));
        assert!(matches!(e.conjuncts()[2].node, Node::Not(_)));
        let single = compile("trigE || lep_n == 2 && met_et > 1", &scope()).unwrap();
        assert_eq!(single.conjuncts().len(), 1);
    }

    #[test]
    fn precedence_and_associativity() {
        let e = parse("1 + 2 * 3 ** 2 ** 2").unwrap();
        let Node::Arith(ArithOp::Add, _, rhs) = &e.node else {
            panic!("{e:?}")
        };
        let Node::Arith(ArithOp::Mul, _, pow) = &rhs.node else {
            panic!("{rhs:?}")
        };
        let Node::Arith(ArithOp::Pow, _, inner) = &pow.node else {
            panic!("{pow:?}")
        };
        assert!(matches!(inner.node, Node::Arith(ArithOp::Pow, _, _)));
        // -x**2 is -(x**2); a && b || c is (a && b) || c
        let e = parse("-met_et ** 2").unwrap();
        assert!(matches!(e.node, Node::Neg(_)));
        let e = parse("trigE && trigE || trigE").unwrap();
        assert!(matches!(e.node, Node::Logic(LogicOp::Or, _, _)));
        let e = parse("a - b - c").unwrap();
        let Node::Arith(ArithOp::Sub, lhs, _) = &e.node else {
            panic!()
        };
        assert!(matches!(lhs.node, Node::Arith(ArithOp::Sub, _, _)));
    }

    #[test]
    fn the_dilepton_selection_types() {
        let sel =
            "lep_n == 2 && lep_charge[0] != lep_charge[1] && lep_pt[0] > 25 && lep_pt[1] > 25";
        assert_eq!(ty(sel), Type::BOOL);
        assert_eq!(ty("mass(lep_pt, lep_eta, lep_phi, lep_E)"), Type::FLOAT);
        assert_eq!(
            ty("mass(lep_pt, lep_eta, lep_phi, lep_E, lep_pt > 25)"),
            Type::FLOAT
        );
        assert_eq!(ty("count(lep_pt > 25) >= 2"), Type::BOOL);
        assert_eq!(ty("sum(lep_charge) == 0"), Type::BOOL);
        assert_eq!(ty("any(abs(lep_eta) < 1) and not trigE"), Type::BOOL);
        assert_eq!(
            ty("lep_pt * 2"),
            Type {
                elem: Elem::Float,
                jagged: true
            }
        );
        assert_eq!(ty("lep_n - 1"), Type::INT);
        assert_eq!(ty("lep_pt[lep_n - 1]"), Type::FLOAT);
        assert_eq!(ty("lep_pt[-1]"), Type::FLOAT);
        assert_eq!(ty("max(lep_charge)"), Type::INT);
        assert_eq!(ty("max(met_et, 3)"), Type::FLOAT);
        assert_eq!(
            ty("delta_r(lep_eta[0], lep_phi[0], lep_eta[1], lep_phi[1])"),
            Type::FLOAT
        );
        assert_eq!(ty("where(trigE, met_et, -1)"), Type::FLOAT);
        assert_eq!(ty("trigE == true"), Type::BOOL);
        assert_eq!(ty("floor(met_et / 10)"), Type::INT);
        assert_eq!(ty("`met_et` + .5e1"), Type::FLOAT);
    }

    #[test]
    fn unknown_names_suggest_near_matches_at_their_column() {
        let e = err("lep_n == 2 && lep_ptt[0] > 25");
        assert_eq!(e.column, 15);
        assert!(e.message.contains("'lep_ptt'"), "{e}");
        assert!(e.message.contains("did you mean lep_pt"), "{e}");
        let e = err("LEP_N == 2");
        assert!(e.message.contains("lep_n"), "{e}");
        let e = err("zzzzzzzz > 1");
        assert_eq!(e.column, 1);
        assert!(!e.message.contains("did you mean"), "{e}");
        let e = err("name == 1");
        assert!(e.message.contains("strings"), "{e}");
        let e = err("sqr(met_et)");
        assert!(e.message.contains("did you mean sqrt"), "{e}");
        assert_eq!(e.column, 1);
    }

    #[test]
    fn type_mismatches_point_at_the_operand() {
        let e = err("lep_n == 2 && met_et");
        assert_eq!(e.column, 15, "{e}");
        assert!(e.message.contains("'&&' needs true/false"), "{e}");
        let e = err("met_et + trigE");
        assert_eq!(e.column, 10, "{e}");
        let e = err("met_et[0]");
        assert_eq!(e.column, 1, "{e}");
        assert!(e.message.contains("only jagged"), "{e}");
        let e = err("lep_pt[0.5]");
        assert_eq!(e.column, 8, "{e}");
        assert!(e.message.contains("integer"), "{e}");
        let e = err("lep_pt[lep_charge]");
        assert_eq!(e.column, 8, "{e}");
        let e = err("1 + sum(met_et)");
        assert_eq!(e.column, 9, "{e}");
        assert!(e.message.contains("jagged"), "{e}");
        let e = err("any(lep_pt)");
        assert_eq!(e.column, 5, "{e}");
        let e = err("mass(lep_pt, lep_eta, lep_phi, met_et)");
        assert_eq!(e.column, 32, "{e}");
        let e = err("mass(lep_pt, lep_eta, lep_phi, lep_E, lep_pt)");
        assert_eq!(e.column, 39, "{e}");
        assert!(e.message.contains("mask"), "{e}");
        let e = err("!met_et");
        assert_eq!(e.column, 2, "{e}");
        let e = err("trigE < 1");
        assert_eq!(e.column, 1, "{e}");
        let e = err("where(met_et, 1, 2)");
        assert_eq!(e.column, 7, "{e}");
    }

    #[test]
    fn syntax_errors_carry_the_column() {
        for (src, col, part) in [
            ("lep_n == ", 10, "ends too early"),
            ("(lep_n == 2", 12, "close the '(' at column 1"),
            ("lep_pt[0 > 25", 14, "close the '[' at column 7"),
            ("lep_n = 2", 7, "'=='"),
            ("met_et @ 2", 8, "unexpected character '@'"),
            ("met_et 2", 8, "after a complete expression"),
            ("1 < met_et < 3", 12, "do not chain"),
            ("2x", 2, "after the number"),
            ("", 1, "empty"),
            ("   ", 1, "empty"),
            ("sqrt(1, 2)", 1, "takes 1 argument"),
            ("mass(lep_pt)", 1, "4 or 5"),
            ("max(1, 2, 3)", 1, "max() takes"),
            ("`unclosed", 1, "not closed"),
            ("f(,)", 3, "unexpected ','"),
        ] {
            let e = err(src);
            assert_eq!(e.column, col, "{src}: {e}");
            assert!(e.message.contains(part), "{src}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&src).message.contains("nested deeper"));
        let src = format!("{}1", "-".repeat(10_000));
        assert!(err(&src).message.contains("nested deeper"));
    }

    #[test]
    fn names_are_collected_once_in_order() {
        let e = compile("lep_pt[0] + lep_pt[1] > met_et", &scope()).unwrap();
        assert_eq!(e.names(), vec!["lep_pt", "met_et"]);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = err("\"µ\" == 1");
        assert_eq!(e.column, 1);
        let e = err("µ_pt > 1");
        assert_eq!(e.column, 1);
        let e = err("1 + /* */");
        assert_eq!(e.column, 5);
        let e = err("met_et > 1 + µ");
        assert_eq!(e.column, 14);
    }
}
