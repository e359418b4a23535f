//! How the bytes of a branch's entries are laid out: the value type on disk and
//! the shape of an entry (one value, a fixed array, a counted or vector list, a
//! string). Derived from the leaf classes and titles, the TBranchElement types and,
//! for members of split classes, the streamer infos.

use crate::error::{Fault, PResult};
use crate::model::{BranchMeta, LeafMeta, TreeMeta};
use crate::streamers::{StreamerElement, StreamerInfo};

/// The type of the values of a column as they come out (Arrow's primitive type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl ScalarType {
    pub(crate) fn width(self) -> usize {
        match self {
            ScalarType::Bool | ScalarType::I8 | ScalarType::U8 => 1,
            ScalarType::I16 | ScalarType::U16 => 2,
            ScalarType::I32 | ScalarType::U32 | ScalarType::F32 => 4,
            ScalarType::I64 | ScalarType::U64 | ScalarType::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Bool => "bool",
            ScalarType::I8 => "int8",
            ScalarType::U8 => "uint8",
            ScalarType::I16 => "int16",
            ScalarType::U16 => "uint16",
            ScalarType::I32 => "int32",
            ScalarType::U32 => "uint32",
            ScalarType::I64 => "int64",
            ScalarType::U64 => "uint64",
            ScalarType::F32 => "float32",
            ScalarType::F64 => "float64",
        }
    }
}

/// How one value is stored on disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Storage {
    /// Big-endian value of the output type.
    Plain(ScalarType),
    /// Double32_t without a range: a float on disk, a double in memory.
    Double32AsFloat,
    /// Double32_t / Float16_t with a range: an unsigned 32-bit integer scaled into
    /// [min, max]; `double` selects the output type.
    Scaled { min: f64, scale: f64, double: bool },
    /// Double32_t / Float16_t with only a bit count: exponent byte and truncated
    /// 16-bit mantissa.
    Truncated { nbits: u32, double: bool },
}

impl Storage {
    pub(crate) fn disk_width(self) -> usize {
        match self {
            Storage::Plain(t) => t.width(),
            Storage::Double32AsFloat | Storage::Scaled { .. } => 4,
            Storage::Truncated { .. } => 3,
        }
    }

    pub(crate) fn output(self) -> ScalarType {
        match self {
            Storage::Plain(t) => t,
            Storage::Double32AsFloat => ScalarType::F64,
            Storage::Scaled { double, .. } | Storage::Truncated { double, .. } => {
                if double {
                    ScalarType::F64
                } else {
                    ScalarType::F32
                }
            }
        }
    }
}

/// The layout of one entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// One value.
    Scalar,
    /// A fixed array (dimensions outermost first).
    Fixed(Vec<usize>),
    /// A variable number of items, each item a fixed array of `inner` dimensions
    /// (empty: one value). `header` bytes precede the values of each entry.
    Jagged {
        inner: Vec<usize>,
        header: usize,
        list: ListKind,
    },
    /// A string per entry (1-byte length, or 255 and a 4-byte length), after
    /// `header` bytes.
    Str { header: usize },
}

/// What frames the items of a list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Items back to back; their number follows from the entry's length.
    Plain,
    /// A std::vector: the header is its byte count, version and size, and the
    /// size is checked against the entry's length.
    Vector,
    /// TObject::fBits of the objects of a split collection: a 4-byte value, and
    /// 2 more bytes (a process id) when the object is referenced (bit 4).
    TObjectBits,
}

/// Everything needed to decode a branch.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub storage: Storage,
    pub shape: Shape,
    /// C++-like description, e.g. `float[lep_n]`, `std::vector<double>`.
    pub description: String,
}

fn basic_type(code: i32) -> Option<Storage> {
    use ScalarType::*;
    Some(Storage::Plain(match code {
        1 => I8,
        2 => I16,
        3 => I32,
        // kCounter: an Int_t that counts; uproot reads it as unsigned
        6 => U32,
        4 | 16 => I64,
        5 => F32,
        8 => F64,
        9 => return Some(Storage::Double32AsFloat),
        11 => U8,
        12 => U16,
        13 | 15 => U32,
        14 | 17 => U64,
        18 => Bool,
        _ => return None,
    }))
}

fn c_type_name(s: ScalarType) -> &'static str {
    match s {
        ScalarType::Bool => "bool",
        ScalarType::I8 => "int8_t",
        ScalarType::U8 => "uint8_t",
        ScalarType::I16 => "int16_t",
        ScalarType::U16 => "uint16_t",
        ScalarType::I32 => "int32_t",
        ScalarType::U32 => "uint32_t",
        ScalarType::I64 => "int64_t",
        ScalarType::U64 => "uint64_t",
        ScalarType::F32 => "float",
        ScalarType::F64 => "double",
    }
}

fn describe_storage(s: Storage) -> String {
    match s {
        Storage::Plain(t) => c_type_name(t).to_string(),
        Storage::Double32AsFloat => "Double32_t".into(),
        Storage::Scaled { double: true, .. } | Storage::Truncated { double: true, .. } => {
            "Double32_t".into()
        }
        _ => "Float16_t".into(),
    }
}

/// The primitive named by a C++ type name, as ROOT spells them in class names.
fn named_type(name: &str) -> Option<Storage> {
    use ScalarType::*;
    let t = match name.trim() {
        "bool" | "Bool_t" => Bool,
        "char" | "Char_t" | "int8_t" | "signed char" => I8,
        "unsigned char" | "UChar_t" | "uint8_t" | "Byte_t" => U8,
        "short" | "Short_t" | "int16_t" | "short int" => I16,
        "unsigned short" | "UShort_t" | "uint16_t" | "unsigned short int" => U16,
        "int" | "Int_t" | "int32_t" => I32,
        "unsigned int" | "UInt_t" | "uint32_t" | "unsigned" => U32,
        "long" | "Long_t" | "Long64_t" | "long long" | "int64_t" | "long int" | "long long int" => {
            I64
        }
        "unsigned long"
        | "ULong_t"
        | "ULong64_t"
        | "unsigned long long"
        | "uint64_t"
        | "unsigned long int"
        | "unsigned long long int" => U64,
        "float" | "Float_t" => F32,
        "double" | "Double_t" => F64,
        "Double32_t" => return Some(Storage::Double32AsFloat),
        _ => return None,
    };
    Some(Storage::Plain(t))
}

/// A std::vector (or std::set, or ROOT::VecOps::RVec: the same serialization) of a
/// primitive, with the default or ROOT's adopting allocator.
fn vector_of(class: &str) -> Option<Storage> {
    let c = class.trim();
    let c = c.strip_prefix("std::").unwrap_or(c);
    let inner = ["vector<", "set<", "ROOT::VecOps::RVec<"]
        .iter()
        .find_map(|p| c.strip_prefix(p))?
        .strip_suffix('>')?;
    let (elem, alloc) = match inner.split_once(',') {
        Some((e, a)) => (e, Some(a)),
        None => (inner, None),
    };
    if elem.contains('<') || alloc.is_some_and(|a| !a.contains("Allocator<")) {
        return None;
    }
    named_type(elem)
}

/// Dimensions written after a name: `x[3][4]` -> ["3", "4"].
fn bracket_groups(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) => {
                out.push(rest[open + 1..open + close].trim().to_string());
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out
}

/// The `[min, max]` or `[min, max, nbits]` of a Double32_t/Float16_t declaration
/// (in a leaf title or a member comment); `None` when there are no brackets. The
/// decoding follows uproot's (which the tests compare against): `nbits` outside
/// 2..=32 or absent means 32; `[0, 0, nbits]` means a truncated mantissa.
fn parse_range(text: &str, double: bool) -> PResult<Option<Storage>> {
    let Some(open) = text.find('[') else {
        return Ok(None);
    };
    let Some(close) = text[open..].find(']') else {
        return Ok(None);
    };
    let spec = &text[open + 1..open + close];
    let parts: Vec<&str> = spec.split(',').collect();
    if parts.len() < 2 || parts.len() > 3 {
        // e.g. an array dimension "[3]": no range
        return Ok(None);
    }
    let bad = || Fault::unsupported(format!("Double32_t/Float16_t range {spec:?}"));
    let min = eval_number(parts[0]).ok_or_else(bad)?;
    let max = eval_number(parts[1]).ok_or_else(bad)?;
    let mut nbits = match parts.get(2) {
        Some(p) => p.trim().parse::<i64>().map_err(|_| bad())?,
        None => 32,
    };
    if !(2..=32).contains(&nbits) {
        nbits = 32;
    }
    let nbits = nbits as u32;
    if min == 0.0 && max == 0.0 {
        if nbits > 23 {
            return Err(bad());
        }
        return Ok(Some(Storage::Truncated { nbits, double }));
    }
    if max <= min {
        return Err(bad());
    }
    Ok(Some(Storage::Scaled {
        min,
        scale: (max - min) / (1u64 << nbits) as f64,
        double,
    }))
}

/// Numbers in ranges: `1.5`, `-pi`, `2*pi`, `pi/2`, `2pi`.
fn eval_number(s: &str) -> Option<f64> {
    let s = s.trim().replace(' ', "");
    let s = s.to_ascii_lowercase();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, s.trim_start_matches('+').to_string()),
    };
    let pi = std::f64::consts::PI;
    let v = if body == "pi" {
        pi
    } else if let Some(d) = body.strip_prefix("pi/") {
        pi / d.parse::<f64>().ok()?
    } else if let Some(m) = body.strip_suffix("*pi") {
        m.parse::<f64>().ok()? * pi
    } else if let Some(m) = body.strip_suffix("pi") {
        m.parse::<f64>().ok()? * pi
    } else if let Some((a, b)) = body.split_once("*pi/") {
        a.parse::<f64>().ok()? * pi / b.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn dims_of(groups: &[String]) -> Option<Vec<usize>> {
    groups.iter().map(|g| g.parse::<usize>().ok()).collect()
}

fn leaf_storage(leaf: &LeafMeta) -> PResult<Option<Storage>> {
    use ScalarType::*;
    let u = leaf.is_unsigned;
    let t = match leaf.class.as_str() {
        "TLeafO" => Bool,
        "TLeafB" => {
            if u {
                U8
            } else {
                I8
            }
        }
        "TLeafS" => {
            if u {
                U16
            } else {
                I16
            }
        }
        "TLeafI" => {
            if u {
                U32
            } else {
                I32
            }
        }
        "TLeafL" | "TLeafG" => {
            if u {
                U64
            } else {
                I64
            }
        }
        "TLeafF" => F32,
        "TLeafD" => F64,
        "TLeafF16" => {
            return Ok(Some(parse_range(&leaf.title, false)?.unwrap_or(
                Storage::Truncated {
                    nbits: 12,
                    double: false,
                },
            )));
        }
        "TLeafD32" => {
            return Ok(Some(
                parse_range(&leaf.title, true)?.unwrap_or(Storage::Double32AsFloat),
            ));
        }
        _ => return Ok(None),
    };
    Ok(Some(Storage::Plain(t)))
}

/// Finds the streamer element a TBranchElement member refers to.
fn find_element<'a>(
    infos: &'a [StreamerInfo],
    class: &str,
    version: i32,
    id: i32,
    branch_name: &str,
) -> Option<&'a StreamerElement> {
    let candidates: Vec<&StreamerInfo> = infos.iter().filter(|i| i.name == class).collect();
    let info = candidates
        .iter()
        .find(|i| i.class_version == version)
        .or_else(|| candidates.first())?;
    let member = branch_name.rsplit('.').next().unwrap_or(branch_name);
    let member = member.split('[').next().unwrap_or(member);
    if let Some(e) = usize::try_from(id).ok().and_then(|i| info.elements.get(i))
        && e.name == member
    {
        return Some(e);
    }
    info.elements.iter().find(|e| e.name == member)
}

/// Works out how to decode `branch`. `infos` is called when the streamer infos are
/// needed (members of split classes).
pub(crate) fn layout(
    tree: &TreeMeta,
    branch: &BranchMeta,
    infos: &dyn Fn() -> PResult<std::sync::Arc<Vec<StreamerInfo>>>,
) -> PResult<Layout> {
    if branch.leaves.len() != 1 {
        return Err(Fault::unsupported(if branch.leaves.is_empty() {
            format!("branch class {} without leaves", branch.class)
        } else {
            format!(
                "leaf list with {} leaves (read as a record by uproot)",
                branch.leaves.len()
            )
        }));
    }
    let leaf = tree
        .leaves
        .get(branch.leaves[0])
        .ok_or_else(|| Fault::corrupt("leaf index out of range"))?;
    if leaf.count_unresolved {
        return Err(Fault::corrupt(format!(
            "leaf {:?}: its count leaf cannot be found",
            leaf.name
        )));
    }
    match &branch.element {
        None => plain_leaf_layout(tree, branch, leaf),
        Some(e) => element_layout(tree, branch, leaf, e, infos),
    }
}

fn plain_leaf_layout(tree: &TreeMeta, branch: &BranchMeta, leaf: &LeafMeta) -> PResult<Layout> {
    if branch.class == "TBranchObject" || leaf.class == "TLeafObject" {
        return Err(Fault::unsupported(format!(
            "object branch of class {}",
            branch.object_class.as_deref().unwrap_or("?")
        )));
    }
    if leaf.class == "TLeafC" {
        return Ok(Layout {
            storage: Storage::Plain(ScalarType::U8),
            shape: Shape::Str { header: 0 },
            description: "char*".into(),
        });
    }
    let storage = leaf_storage(leaf)?
        .ok_or_else(|| Fault::unsupported(format!("leaf class {}", leaf.class)))?;
    // the title carries the dimensions: "x[3]" or "x[n][3]" (or "x[n]/F")
    // (a group with commas is a Double32_t/Float16_t range, not a dimension)
    let dims_in = |s: &str| -> Vec<String> {
        bracket_groups(s)
            .into_iter()
            .filter(|g| !g.contains(','))
            .collect()
    };
    let title_dims = {
        let t = leaf.title.split('/').next().unwrap_or("");
        let g = dims_in(t);
        if g.is_empty() { dims_in(&leaf.name) } else { g }
    };
    let base = describe_storage(storage);
    if let Some(ci) = leaf.count {
        let count = tree
            .leaves
            .get(ci)
            .ok_or_else(|| Fault::corrupt("count leaf index out of range"))?;
        let inner = if title_dims.len() > 1 {
            dims_of(&title_dims[1..]).ok_or_else(|| {
                Fault::unsupported(format!("dimensions {:?} of a counted array", leaf.title))
            })?
        } else {
            Vec::new()
        };
        let fixed: String = inner.iter().map(|d| format!("[{d}]")).collect();
        return Ok(Layout {
            storage,
            shape: Shape::Jagged {
                inner,
                header: 0,
                list: ListKind::Plain,
            },
            description: format!("{base}[{}]{fixed}", count.name),
        });
    }
    if title_dims.iter().any(|g| g.parse::<usize>().is_err()) {
        return Err(Fault::corrupt(format!(
            "leaf {:?} has a variable dimension but no count leaf",
            leaf.title
        )));
    }
    let len = leaf.len.max(1) as usize;
    let mut dims = dims_of(&title_dims).unwrap_or_default();
    if dims.iter().product::<usize>() != len {
        dims = if len > 1 { vec![len] } else { Vec::new() };
    }
    if dims.is_empty() || len == 1 && dims.iter().all(|&d| d == 1) && title_dims.is_empty() {
        Ok(Layout {
            storage,
            shape: Shape::Scalar,
            description: base,
        })
    } else {
        let fixed: String = dims.iter().map(|d| format!("[{d}]")).collect();
        Ok(Layout {
            storage,
            shape: Shape::Fixed(dims),
            description: format!("{base}{fixed}"),
        })
    }
}

const K_OFFSET_L: i32 = 20;
const K_OFFSET_P: i32 = 40;
const K_TSTRING: i32 = 65;
const K_STL: i32 = 300;
const K_STL_STRING: i32 = 365;
const K_STREAMER: i32 = 500;

fn element_layout(
    tree: &TreeMeta,
    branch: &BranchMeta,
    leaf: &LeafMeta,
    e: &crate::model::ElementMeta,
    infos: &dyn Fn() -> PResult<std::sync::Arc<Vec<StreamerInfo>>>,
) -> PResult<Layout> {
    let _ = tree;
    // counters of split TClonesArray / STL collections
    if e.btype == 3 || e.btype == 4 {
        return Ok(Layout {
            storage: Storage::Plain(ScalarType::I32),
            shape: Shape::Scalar,
            description: "int32_t (collection size)".into(),
        });
    }
    // a whole object of class fClassName (not split into members)
    if e.id < 0 {
        if !branch.children.is_empty() {
            return Err(Fault::unsupported(format!(
                "split object of class {} (read its sub-branches)",
                e.class_name
            )));
        }
        if let Some(storage) = vector_of(&e.class_name) {
            return Ok(Layout {
                storage,
                shape: Shape::Jagged {
                    inner: Vec::new(),
                    header: 10,
                    list: ListKind::Vector,
                },
                description: format!("std::vector<{}>", describe_storage(storage)),
            });
        }
        if e.class_name == "string" || e.class_name == "std::string" {
            return Ok(Layout {
                storage: Storage::Plain(ScalarType::U8),
                shape: Shape::Str { header: 0 },
                description: "std::string".into(),
            });
        }
        if e.class_name == "TString" {
            return Ok(Layout {
                storage: Storage::Plain(ScalarType::U8),
                shape: Shape::Str { header: 0 },
                description: "TString".into(),
            });
        }
        return Err(Fault::unsupported(format!(
            "object of class {} (not a primitive, vector of primitives or string)",
            e.class_name
        )));
    }
    let in_collection = e.btype == 31 || e.btype == 41;
    let mut code = e.streamer_type;
    if code <= 0 {
        code = leaf.element_type.unwrap_or(-1);
    }
    // the member's declaration, when the type needs more than the code says
    let needs_element = matches!(code, 9 | 19 | 29 | 39 | 49 | 59 | K_STL | K_STREAMER)
        || (code > K_OFFSET_L && code < K_OFFSET_P);
    let element = if needs_element {
        let infos = infos()?;
        find_element(&infos, &e.class_name, e.class_version, e.id, &branch.name).cloned()
    } else {
        None
    };
    let member_storage = |code: i32| -> PResult<Storage> {
        let base = code % 20;
        let (base, is_float16) = match base {
            19 => (19, true),
            _ => (base, false),
        };
        if base == 9 || is_float16 {
            let title = element.as_ref().map(|el| el.title.clone()).ok_or_else(|| {
                Fault::unsupported(format!(
                    "Double32_t/Float16_t member without a streamer element in class {}",
                    e.class_name
                ))
            })?;
            let double = !is_float16;
            return Ok(parse_range(&title, double)?.unwrap_or(if double {
                Storage::Double32AsFloat
            } else {
                Storage::Truncated {
                    nbits: 12,
                    double: false,
                }
            }));
        }
        basic_type(base).ok_or_else(|| Fault::unsupported(format!("member streamer type {code}")))
    };
    let (storage, mut shape, desc) = match code {
        1..=19 => {
            let s = member_storage(code)?;
            (s, Shape::Scalar, describe_storage(s))
        }
        21..=39 => {
            let s = member_storage(code)?;
            let n = element
                .as_ref()
                .map(|el| el.array_length)
                .filter(|&n| n > 0)
                .unwrap_or(leaf.len.max(1)) as usize;
            (
                s,
                Shape::Fixed(vec![n]),
                format!("{}[{n}]", describe_storage(s)),
            )
        }
        41..=59 => {
            if in_collection {
                return Err(Fault::unsupported(
                    "variable-size array member inside a collection (doubly jagged)",
                ));
            }
            let s = member_storage(code)?;
            (
                s,
                Shape::Jagged {
                    inner: Vec::new(),
                    header: 1,
                    list: ListKind::Plain,
                },
                format!("{}[]", describe_storage(s)),
            )
        }
        K_TSTRING => (
            Storage::Plain(ScalarType::U8),
            Shape::Str { header: 0 },
            "TString".into(),
        ),
        K_STL_STRING => (
            Storage::Plain(ScalarType::U8),
            Shape::Str { header: 6 },
            "std::string".into(),
        ),
        K_STL | K_STREAMER => {
            let type_name = element
                .as_ref()
                .map(|el| el.type_name.clone())
                .unwrap_or_default();
            if in_collection {
                return Err(Fault::unsupported(format!(
                    "{type_name} member inside a collection (doubly jagged)"
                )));
            }
            if type_name == "string" || type_name == "std::string" {
                (
                    Storage::Plain(ScalarType::U8),
                    Shape::Str { header: 6 },
                    "std::string".into(),
                )
            } else {
                let s = vector_of(&type_name).ok_or_else(|| {
                    Fault::unsupported(format!(
                        "member of type {:?} (only std::vector of primitives and strings)",
                        if type_name.is_empty() {
                            "unknown"
                        } else {
                            &type_name
                        }
                    ))
                })?;
                (
                    s,
                    Shape::Jagged {
                        inner: Vec::new(),
                        header: 10,
                        list: ListKind::Vector,
                    },
                    format!("std::vector<{}>", describe_storage(s)),
                )
            }
        }
        other => {
            return Err(Fault::unsupported(format!(
                "member of streamer type {other} in class {}",
                e.class_name
            )));
        }
    };
    let mut desc = desc;
    if in_collection {
        shape = match shape {
            Shape::Scalar => Shape::Jagged {
                inner: Vec::new(),
                header: 0,
                list: if code == 15 && branch.name.ends_with("fBits") {
                    ListKind::TObjectBits
                } else {
                    ListKind::Plain
                },
            },
            Shape::Fixed(dims) => Shape::Jagged {
                inner: dims,
                header: 0,
                list: ListKind::Plain,
            },
            Shape::Str { .. } => {
                return Err(Fault::unsupported(
                    "string member inside a collection (jagged strings)",
                ));
            }
            other => other,
        };
        desc = format!("{desc} per item of {}", e.clones_name_or(&e.class_name));
    }
    Ok(Layout {
        storage,
        shape,
        description: desc,
    })
}

impl crate::model::ElementMeta {
    fn clones_name_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        if self.clones_name.is_empty() {
            fallback
        } else {
            &self.clones_name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(eval_number("-pi"), Some(-std::f64::consts::PI));
        assert_eq!(eval_number("2*pi"), Some(2.0 * std::f64::consts::PI));
        assert_eq!(eval_number("1.5"), Some(1.5));
        match parse_range("[0, 1, 8]", true).unwrap() {
            Some(Storage::Scaled { min, scale, double }) => {
                assert_eq!(min, 0.0);
                assert_eq!(scale, 1.0 / 256.0);
                assert!(double);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_range("[0,0,10]", false).unwrap(),
            Some(Storage::Truncated { nbits: 10, .. })
        ));
        assert_eq!(parse_range("no range", true).unwrap(), None);
    }

    #[test]
    fn vectors() {
        assert_eq!(
            vector_of("vector<float>"),
            Some(Storage::Plain(ScalarType::F32))
        );
        assert_eq!(
            vector_of("std::vector<unsigned int>"),
            Some(Storage::Plain(ScalarType::U32))
        );
        assert_eq!(vector_of("vector<vector<int> >"), None);
        assert_eq!(
            vector_of("vector<float,ROOT::Detail::VecOps::RAdoptAllocator<float> >"),
            Some(Storage::Plain(ScalarType::F32))
        );
        assert_eq!(vector_of("set<int>"), Some(Storage::Plain(ScalarType::I32)));
        assert_eq!(
            bracket_groups("x[n][3]"),
            vec!["n".to_string(), "3".to_string()]
        );
    }
}
