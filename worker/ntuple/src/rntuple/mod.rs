//! RNTuple (ROOT 6.34+ columnar format, binary format 1.x) as a second source
//! behind [`crate::Tree`]: the anchor, header and footer envelopes, page lists,
//! the mapping of fields to Arrow types, and reading entry ranges of fields by
//! decoding only the pages that overlap the range (clusters in parallel).
//!
//! What is read: fields of `bool`, `char`, `std::[u]int{8,16,32,64}_t`, `float`,
//! `double` (any compatible column type: plain, split, zigzag, half precision),
//! `std::string`, `std::array<T,N>` of those, collections (`std::vector`, `RVec`,
//! sets, untyped collections) of numbers, and members of records (`rec.x`),
//! also inside one collection (`muons.pt`). Nested collections, variants,
//! optionals and streamed objects are listed with the reason they are not read.

mod column;
mod meta;
mod wire;

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, StringArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Fault, NtupleError, PResult};
use crate::file::{FileInner, KeyEntry};
use crate::interp::ScalarType;

use column::{ColType, Kind, Values, col_type, compatible, decode_page, index_values};
use meta::{
    COLUMN_DEFERRED, Cluster, FIELD_REPETITIVE, FieldDesc, ROLE_COLLECTION, ROLE_LEAF, ROLE_RECORD,
    parse_footer, parse_header, parse_page_list,
};
use wire::{FOOTER, HEADER, Locator, MAX_BLOCK, PAGE_LIST, envelope, inflate, parse_anchor};

/// How a readable field's entries are laid out.
#[derive(Debug, Clone)]
enum Shape {
    /// One value per entry.
    Scalar,
    /// `n` values per entry.
    Fixed(usize),
    /// A list per entry; the collection field holding the offsets.
    List(u32),
    /// A string per entry (the leaf has an index and a char column).
    Str,
}

/// One field as [`crate::Tree::branches`] lists it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Dotted path: `lep_pt`, `muon.pt`.
    pub path: String,
    /// C++-like type (`std::vector<float>`, `float[]` for members of collections).
    pub type_name: String,
    /// The field that holds the value column(s).
    leaf: u32,
    scalar: Option<ScalarType>,
    shape: Shape,
    pub unsupported: Option<String>,
}

impl Plan {
    pub(crate) fn data_type(&self) -> Option<DataType> {
        if self.unsupported.is_some() {
            return None;
        }
        let item = |t: DataType| Arc::new(Field::new("item", t, false));
        Some(match (&self.shape, self.scalar) {
            (Shape::Str, _) => DataType::Utf8,
            (_, None) => return None,
            (Shape::Scalar, Some(t)) => crate::tree::scalar_data_type(t),
            (Shape::Fixed(n), Some(t)) => {
                DataType::FixedSizeList(item(crate::tree::scalar_data_type(t)), *n as i32)
            }
            (Shape::List(_), Some(t)) => DataType::List(item(crate::tree::scalar_data_type(t))),
        })
    }
}

/// An RNTuple with its metadata loaded; pages are read on demand.
pub(crate) struct Ntuple {
    pub file: Arc<FileInner>,
    /// Path of the anchor key in the file (`dir/ntuple`).
    pub path: String,
    pub name: String,
    pub description: String,
    pub entries: u64,
    fields: Vec<FieldDesc>,
    /// Column types by physical column id.
    col_types: Vec<PResult<ColType>>,
    col_flags: Vec<(u16, i64)>,
    /// Columns of each field, by representation index, in order.
    reprs: Vec<Vec<Vec<u32>>>,
    clusters: Vec<Cluster>,
    /// Blobs larger than this are split over several keys (0: never).
    max_key_size: u64,
    pub plans: Vec<Plan>,
}

fn scalar_of(type_name: &str) -> Option<ScalarType> {
    use ScalarType::*;
    Some(match type_name {
        "bool" => Bool,
        "char" | "std::int8_t" | "int8_t" => I8,
        "std::uint8_t" | "uint8_t" | "std::byte" => U8,
        "std::int16_t" | "int16_t" => I16,
        "std::uint16_t" | "uint16_t" => U16,
        "std::int32_t" | "int32_t" => I32,
        "std::uint32_t" | "uint32_t" => U32,
        "std::int64_t" | "int64_t" => I64,
        "std::uint64_t" | "uint64_t" => U64,
        "float" => F32,
        "double" => F64,
        _ => return None,
    })
}

impl Ntuple {
    pub(crate) fn load(file: Arc<FileInner>, entry: &KeyEntry) -> Result<Ntuple, NtupleError> {
        let name = file.name.clone();
        let fail = |f: Fault, what: &str| f.at(&name, what).in_tree(&entry.path);
        let obj = file
            .object_bytes(&entry.key)
            .map_err(|f| fail(f, "RNTuple anchor"))?;
        let anchor = parse_anchor(&obj).map_err(|f| fail(f, "RNTuple anchor"))?;
        if anchor.version[0] != 1 {
            return Err(fail(
                Fault::unsupported(format!(
                    "RNTuple format version {}.{}.{}.{} (only epoch 1, ROOT 6.34+, is read)",
                    anchor.version[0], anchor.version[1], anchor.version[2], anchor.version[3]
                )),
                "RNTuple anchor",
            ));
        }
        let too_big = |l: &wire::Link| anchor.max_key_size > 0 && l.loc.size > anchor.max_key_size;
        if too_big(&anchor.header) || too_big(&anchor.footer) {
            return Err(fail(
                Fault::unsupported("RNTuple envelope split over several keys"),
                "RNTuple anchor",
            ));
        }
        let head = envelope(&file, anchor.header, HEADER).map_err(|f| fail(f, "RNTuple header"))?;
        let header = parse_header(&head.payload).map_err(|f| fail(f, "RNTuple header"))?;
        let foot = envelope(&file, anchor.footer, FOOTER).map_err(|f| fail(f, "RNTuple footer"))?;
        let mut schema = header.schema;
        let footer =
            parse_footer(&foot.payload, &mut schema).map_err(|f| fail(f, "RNTuple footer"))?;
        if footer.header_checksum != head.checksum {
            return Err(fail(
                Fault::corrupt("the footer belongs to another header (checksums differ)"),
                "RNTuple footer",
            ));
        }
        let mut clusters = Vec::new();
        for (g, group) in footer.groups.iter().enumerate() {
            let what = format!("RNTuple page list of cluster group {g}");
            if too_big(&group.page_list) {
                return Err(fail(
                    Fault::unsupported("RNTuple envelope split over several keys"),
                    &what,
                ));
            }
            let env = envelope(&file, group.page_list, PAGE_LIST).map_err(|f| fail(f, &what))?;
            let list = parse_page_list(&env.payload).map_err(|f| fail(f, &what))?;
            if list.header_checksum != head.checksum {
                return Err(fail(
                    Fault::corrupt("the page list belongs to another header (checksums differ)"),
                    &what,
                ));
            }
            if list.clusters.len() != group.clusters as usize {
                return Err(fail(
                    Fault::corrupt(format!(
                        "{} clusters, the footer says {}",
                        list.clusters.len(),
                        group.clusters
                    )),
                    &what,
                ));
            }
            let span = group.min_entry..group.min_entry.saturating_add(group.entry_span);
            for c in &list.clusters {
                if c.first_entry < span.start || c.first_entry.saturating_add(c.entries) > span.end
                {
                    return Err(fail(
                        Fault::corrupt(format!(
                            "cluster of entries {}+{} outside the group's {span:?}",
                            c.first_entry, c.entries
                        )),
                        &what,
                    ));
                }
            }
            clusters.extend(list.clusters);
        }
        clusters.sort_by_key(|c| c.first_entry);
        let mut entries = 0u64;
        for c in &clusters {
            if c.first_entry != entries {
                return Err(fail(
                    Fault::corrupt(format!(
                        "clusters do not tile the entries: one starts at {}, {entries} expected",
                        c.first_entry
                    )),
                    "RNTuple cluster list",
                ));
            }
            entries = entries.checked_add(c.entries).ok_or_else(|| {
                fail(
                    Fault::corrupt("more than 2^64 entries"),
                    "RNTuple cluster list",
                )
            })?;
        }
        clusters.retain(|c| c.entries > 0);

        let n_fields = schema.fields.len();
        let mut reprs: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n_fields];
        let mut attach = |field: u32, col: u32, repr: u16| -> PResult<()> {
            let slot = reprs.get_mut(field as usize).ok_or_else(|| {
                Fault::corrupt(format!(
                    "column {col} of field {field}, there are {n_fields}"
                ))
            })?;
            let r = repr as usize;
            if r > slot.len() {
                return Err(Fault::corrupt(format!(
                    "column {col}: representation {r} before representation {}",
                    slot.len()
                )));
            }
            if r == slot.len() {
                slot.push(Vec::new());
            }
            slot[r].push(col);
            Ok(())
        };
        for (i, c) in schema.columns.iter().enumerate() {
            attach(c.field, i as u32, c.repr).map_err(|f| fail(f, "RNTuple column list"))?;
        }
        for &(phys, field) in &schema.aliases {
            let c = schema.columns.get(phys as usize).ok_or_else(|| {
                fail(
                    Fault::corrupt(format!("alias of column {phys}, which does not exist")),
                    "RNTuple column list",
                )
            })?;
            attach(field, phys, c.repr).map_err(|f| fail(f, "RNTuple column list"))?;
        }
        let col_types = schema
            .columns
            .iter()
            .map(|c| col_type(c.ty, c.bits))
            .collect();
        let col_flags = schema
            .columns
            .iter()
            .map(|c| (c.flags, c.first_element))
            .collect();
        let mut nt = Ntuple {
            file: file.clone(),
            path: entry.path.clone(),
            name: header.name,
            description: header.description,
            entries,
            fields: schema.fields,
            col_types,
            col_flags,
            reprs,
            clusters,
            max_key_size: anchor.max_key_size,
            plans: Vec::new(),
        };
        nt.plans = nt.make_plans();
        Ok(nt)
    }

    /// Entry ranges of the clusters.
    pub(crate) fn clusters(&self) -> Vec<Range<u64>> {
        self.clusters
            .iter()
            .map(|c| c.first_entry..c.first_entry + c.entries)
            .collect()
    }

    fn is_top(&self, id: usize) -> bool {
        self.fields[id].parent as usize == id
    }

    fn children(&self) -> Vec<Vec<usize>> {
        let mut ch = vec![Vec::new(); self.fields.len()];
        for (i, f) in self.fields.iter().enumerate() {
            if !self.is_top(i) && (f.parent as usize) < self.fields.len() {
                ch[f.parent as usize].push(i);
            }
        }
        ch
    }

    fn make_plans(&self) -> Vec<Plan> {
        let children = self.children();
        let mut out = Vec::new();
        for i in 0..self.fields.len() {
            if self.is_top(i) {
                self.plan_field(i, String::new(), None, None, &children, &mut out, 0);
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_field(
        &self,
        id: usize,
        parent_path: String,
        collection: Option<u32>,
        fixed: Option<usize>,
        children: &[Vec<usize>],
        out: &mut Vec<Plan>,
        depth: usize,
    ) {
        let f = &self.fields[id];
        let named = parent_path.is_empty()
            || (!self.is_top(id)
                && self.fields.get(f.parent as usize).map(|p| p.role) == Some(ROLE_RECORD));
        let path = match (parent_path.is_empty(), named) {
            (true, _) => f.name.clone(),
            (false, true) => format!("{parent_path}.{}", f.name),
            (false, false) => parent_path,
        };
        let unsupported = |out: &mut Vec<Plan>, why: String| {
            out.push(Plan {
                path: path.clone(),
                type_name: f.type_name.clone(),
                leaf: id as u32,
                scalar: None,
                shape: Shape::Scalar,
                unsupported: Some(why),
            })
        };
        if depth > 32 {
            return unsupported(out, "fields nested too deep".into());
        }
        let kids = &children[id];
        let has_columns = self.reprs[id].iter().any(|r| !r.is_empty());
        if f.flags & FIELD_REPETITIVE != 0 {
            if has_columns {
                return unsupported(out, format!("{} (a bit set)", f.type_name));
            }
            if collection.is_some() || fixed.is_some() {
                return unsupported(out, format!("{} (nested arrays)", f.type_name));
            }
            let n = usize::try_from(f.repetition).unwrap_or(usize::MAX);
            if n == 0 || n > i32::MAX as usize {
                return unsupported(out, format!("array of size {}", f.repetition));
            }
            for &k in kids {
                self.plan_field(k, path.clone(), None, Some(n), children, out, depth + 1);
            }
            return;
        }
        match f.role {
            ROLE_COLLECTION => {
                if f.type_name.starts_with("std::optional<")
                    || f.type_name.starts_with("std::unique_ptr<")
                {
                    return unsupported(
                        out,
                        format!("{} (values that may be missing)", f.type_name),
                    );
                }
                if collection.is_some() || fixed.is_some() {
                    return unsupported(
                        out,
                        format!("{} (nested collections)", type_or_untyped(f)),
                    );
                }
                if kids.is_empty() {
                    return unsupported(out, "a collection without item field".into());
                }
                let before = out.len();
                for &k in kids {
                    self.plan_field(
                        k,
                        path.clone(),
                        Some(id as u32),
                        None,
                        children,
                        out,
                        depth + 1,
                    );
                }
                // a vector of numbers is listed under the vector's own type
                if out.len() == before + 1
                    && out[before].path == path
                    && out[before].unsupported.is_none()
                    && !f.type_name.is_empty()
                {
                    out[before].type_name = f.type_name.clone();
                }
            }
            ROLE_RECORD => {
                for &k in kids {
                    self.plan_field(k, path.clone(), collection, fixed, children, out, depth + 1);
                }
            }
            ROLE_LEAF if !has_columns && !kids.is_empty() => {
                // std::atomic<T>, enums: the value is in the one subfield
                for &k in kids {
                    self.plan_field(k, path.clone(), collection, fixed, children, out, depth + 1);
                }
            }
            ROLE_LEAF => match self.leaf_plan(id, collection, fixed) {
                Ok((scalar, shape)) => {
                    let type_name = match (&shape, collection) {
                        (Shape::List(_), _) => format!("{}[]", f.type_name),
                        (Shape::Fixed(n), _) => format!("std::array<{},{n}>", f.type_name),
                        _ => f.type_name.clone(),
                    };
                    out.push(Plan {
                        path,
                        type_name,
                        leaf: id as u32,
                        scalar,
                        shape,
                        unsupported: None,
                    })
                }
                Err(why) => unsupported(out, why),
            },
            3 => unsupported(out, format!("{} (std::variant)", f.type_name)),
            4 => unsupported(
                out,
                format!("{} (streamed with ROOT's streamer)", f.type_name),
            ),
            r => unsupported(out, format!("field of structural role {r}")),
        }
    }

    /// Columns of a leaf field, checked against its type.
    fn leaf_plan(
        &self,
        id: usize,
        collection: Option<u32>,
        fixed: Option<usize>,
    ) -> Result<(Option<ScalarType>, Shape), String> {
        let f = &self.fields[id];
        let reprs = &self.reprs[id];
        let check = |want: &[&dyn Fn(ColType) -> bool]| -> Result<(), String> {
            for r in reprs {
                if r.len() != want.len() {
                    return Err(format!("{} with {} columns", f.type_name, r.len()));
                }
                for (&c, ok) in r.iter().zip(want) {
                    let ct = self.col_type(c).map_err(|e| fault_text(&e))?;
                    if !ok(ct) {
                        return Err(format!("{} stored in a {} column", f.type_name, ct.name));
                    }
                    let (flags, first) = self.col_flags[c as usize];
                    if flags & COLUMN_DEFERRED != 0 && first != 0 {
                        return Err(format!(
                            "{} added while writing (deferred column)",
                            f.type_name
                        ));
                    }
                }
            }
            Ok(())
        };
        if let Some(c) = collection {
            let creprs = &self.reprs[c as usize];
            for r in creprs {
                let ok = r.len() == 1 && self.col_type(r[0]).is_ok_and(|ct| ct.kind == Kind::Index);
                if !ok {
                    return Err("a collection without an index column".into());
                }
            }
            if creprs.is_empty() {
                return Err("a collection without an index column".into());
            }
        }
        if f.type_name == "std::string" {
            if collection.is_some() || fixed.is_some() {
                return Err("strings inside collections or arrays".into());
            }
            check(&[&|ct| ct.kind == Kind::Index, &|ct| {
                ct.width == 1 && ct.kind != Kind::Bit
            }])?;
            return Ok((None, Shape::Str));
        }
        let Some(t) = scalar_of(&f.type_name) else {
            return Err(format!(
                "{} (a type this reader does not decode)",
                type_or_untyped(f)
            ));
        };
        check(&[&|ct| compatible(ct, t)])?;
        if reprs.is_empty() {
            return Err(format!("{} without columns", f.type_name));
        }
        let shape = match (collection, fixed) {
            (None, None) => Shape::Scalar,
            (None, Some(n)) => Shape::Fixed(n),
            (Some(c), None) => Shape::List(c),
            (Some(_), Some(_)) => return Err("arrays inside collections".into()),
        };
        Ok((Some(t), shape))
    }

    fn col_type(&self, c: u32) -> PResult<ColType> {
        match self.col_types.get(c as usize) {
            Some(r) => r.clone(),
            None => Err(Fault::corrupt(format!("no column {c}"))),
        }
    }

    /// Finds a field by path.
    pub(crate) fn plan(&self, name: &str) -> Result<&Plan, NtupleError> {
        if let Some(p) = self.plans.iter().find(|p| p.path == name) {
            return Ok(p);
        }
        // also accept "/" as separator, like TTree branch paths
        let dotted = name.replace('/', ".");
        if let Some(p) = self.plans.iter().find(|p| p.path == dotted) {
            return Ok(p);
        }
        let mut near: Vec<(usize, &String)> = self
            .plans
            .iter()
            .map(|p| {
                let leaf = p.path.rsplit('.').next().unwrap_or(&p.path);
                let d = strsim::levenshtein(name, leaf).min(strsim::levenshtein(name, &p.path));
                let d = if p.path.contains(name) || name.contains(leaf) {
                    d.min(1)
                } else {
                    d
                };
                (d, &p.path)
            })
            .collect();
        near.sort();
        let limit = (name.len() / 2).max(2);
        Err(NtupleError::MissingBranch {
            file: self.file.name.clone(),
            tree: self.path.clone(),
            name: name.to_string(),
            near: near
                .into_iter()
                .filter(|(d, _)| *d <= limit)
                .take(5)
                .map(|(_, p)| p.clone())
                .collect(),
        })
    }

    /// Reads entries `range` of a field (range already checked).
    pub(crate) fn read(&self, plan: &Plan, range: Range<u64>) -> Result<ArrayRef, NtupleError> {
        let file = &self.file.name;
        let ctx = |f: Fault, what: String| f.at(file, what).in_branch(&self.path, &plan.path);
        if let Some(why) = &plan.unsupported {
            return Err(ctx(Fault::unsupported(why.clone()), String::new()));
        }
        let wanted: Vec<(usize, u64, u64)> = self
            .clusters
            .iter()
            .enumerate()
            .filter(|(_, c)| c.first_entry < range.end && c.first_entry + c.entries > range.start)
            .map(|(i, c)| {
                (
                    i,
                    range.start.max(c.first_entry) - c.first_entry,
                    range.end.min(c.first_entry + c.entries) - c.first_entry,
                )
            })
            .collect();
        let pieces = wanted
            .par_iter()
            .map(|&(k, lo, hi)| {
                self.read_cluster(plan, k, lo, hi).map_err(|f| {
                    let c = &self.clusters[k];
                    ctx(
                        f,
                        format!(
                            "cluster of entries {}..{}",
                            c.first_entry,
                            c.first_entry + c.entries
                        ),
                    )
                })
            })
            .collect::<Result<Vec<Piece>, NtupleError>>()?;
        let n = (range.end - range.start) as usize;
        assemble(plan, pieces, n)
            .map_err(|f| ctx(f, format!("entries {}..{}", range.start, range.end)))
    }

    fn read_cluster(&self, plan: &Plan, k: usize, lo: u64, hi: u64) -> PResult<Piece> {
        let leaf = plan.leaf as usize;
        match plan.shape {
            Shape::Scalar | Shape::Fixed(_) => {
                let m = match plan.shape {
                    Shape::Fixed(n) => n as u64,
                    _ => 1,
                };
                let (a, b) = (lo.checked_mul(m), hi.checked_mul(m));
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(Fault::corrupt("element index overflows"));
                };
                let (ct, plain) = self.elements(k, leaf, 0, a, b)?;
                let mut v = Values::new(plan.scalar.unwrap_or(ScalarType::U8));
                v.push(ct, &plain);
                Ok(Piece {
                    offsets: None,
                    values: v,
                    chars: Vec::new(),
                })
            }
            Shape::List(coll) => {
                let (offsets, begin, end) = self.offsets_in(k, coll as usize, 0, None, lo, hi)?;
                let (ct, plain) = self.elements(k, leaf, 0, begin, end)?;
                let mut v = Values::new(plan.scalar.unwrap_or(ScalarType::U8));
                v.push(ct, &plain);
                Ok(Piece {
                    offsets: Some(offsets),
                    values: v,
                    chars: Vec::new(),
                })
            }
            Shape::Str => {
                let (offsets, begin, end) = self.offsets_in(k, leaf, 0, Some(1), lo, hi)?;
                let (_, chars) = self.elements(k, leaf, 1, begin, end)?;
                Ok(Piece {
                    offsets: Some(offsets),
                    values: Values::new(ScalarType::U8),
                    chars,
                })
            }
        }
    }

    /// Offsets (from 0) of entries `lo..hi` in cluster `k` from the index column
    /// at `index_pos` of `field`, and the range of item elements they span. When
    /// the items are column `item_pos` of the same field (strings), their count is
    /// checked here; otherwise reading the items checks it.
    fn offsets_in(
        &self,
        k: usize,
        field: usize,
        index_pos: usize,
        item_pos: Option<usize>,
        lo: u64,
        hi: u64,
    ) -> PResult<(Vec<u64>, u64, u64)> {
        let first = lo.saturating_sub(1);
        let (ct, plain) = self.elements(k, field, index_pos, first, hi)?;
        let idx = index_values(ct, &plain);
        let (begin, ends) = if lo > 0 {
            (
                idx.first().copied().unwrap_or(0),
                idx.get(1..).unwrap_or(&[]),
            )
        } else {
            (0, &idx[..])
        };
        let mut offsets = Vec::with_capacity(ends.len() + 1);
        offsets.push(0);
        let mut prev = begin;
        for &e in ends {
            if e < prev {
                return Err(Fault::corrupt(format!(
                    "collection offsets decrease ({prev} then {e})"
                )));
            }
            offsets.push(e - begin);
            prev = e;
        }
        if let Some(item_pos) = item_pos {
            let (_, col) = self.column_in(k, field, item_pos)?;
            let have = self.clusters[k].columns[col as usize].elements;
            if prev > have {
                return Err(Fault::corrupt(format!(
                    "offsets reach item {prev}, the cluster has {have}"
                )));
            }
        }
        Ok((offsets, begin, prev))
    }

    /// The column at position `pos` of a field's representation that is active in
    /// cluster `k`.
    fn column_in(&self, k: usize, field: usize, pos: usize) -> PResult<(ColType, u32)> {
        let cluster = &self.clusters[k];
        let reprs = self
            .reprs
            .get(field)
            .ok_or_else(|| Fault::corrupt(format!("no field {field}")))?;
        for r in reprs {
            let active = r.iter().all(|&c| {
                cluster
                    .columns
                    .get(c as usize)
                    .is_some_and(|p| p.element_offset.is_some())
            });
            if active && let Some(&c) = r.get(pos) {
                return Ok((self.col_type(c)?, c));
            }
        }
        Err(Fault::corrupt(format!(
            "no column of field {:?} is stored in this cluster",
            self.fields
                .get(field)
                .map(|f| f.name.as_str())
                .unwrap_or("?")
        )))
    }

    /// Elements `lo..hi` (cluster-relative) of column `pos` of `field` in cluster
    /// `k`, decoded to plain little-endian values; only the overlapping pages are
    /// read.
    fn elements(
        &self,
        k: usize,
        field: usize,
        pos: usize,
        lo: u64,
        hi: u64,
    ) -> PResult<(ColType, Vec<u8>)> {
        let (ct, col) = self.column_in(k, field, pos)?;
        let pages = &self.clusters[k].columns[col as usize];
        if hi > pages.elements || lo > hi {
            return Err(Fault::corrupt(format!(
                "{} column {col}: elements {lo}..{hi} wanted, the cluster has {}",
                ct.name, pages.elements
            )));
        }
        let mut start = 0u64;
        let mut wanted = Vec::new();
        for p in &pages.pages {
            let stop = start + p.elements;
            if stop > lo && start < hi && p.elements > 0 {
                wanted.push((p, start, stop));
            }
            start = stop;
        }
        let w = ct.width as u64;
        let parts = wanted
            .par_iter()
            .map(|&(p, s, e)| {
                let plain = self.page(ct, p.loc, p.elements, p.checksum)?;
                let a = ((lo.max(s) - s) * w) as usize;
                let b = ((hi.min(e) - s) * w) as usize;
                if a == 0 && b == plain.len() {
                    return Ok(plain); // the whole page: no copy
                }
                Ok(plain.get(a..b).map(|x| x.to_vec()).unwrap_or_default())
            })
            .collect::<PResult<Vec<Vec<u8>>>>()?;
        let plain = if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            parts.concat()
        };
        Ok((ct, plain))
    }

    /// Reads, checks, uncompresses and decodes one page.
    fn page(&self, ct: ColType, loc: Locator, n: u64, checksum: bool) -> PResult<Vec<u8>> {
        let stored = ct
            .stored_bytes(n)
            .filter(|&s| s <= MAX_BLOCK)
            .ok_or_else(|| Fault::corrupt(format!("page of {n} elements")))?;
        if self.max_key_size > 0 && loc.size > self.max_key_size {
            return Err(Fault::unsupported(format!(
                "RNTuple page of {} bytes split over several keys",
                loc.size
            )));
        }
        let extra = if checksum { 8 } else { 0 };
        if loc.size > MAX_BLOCK || loc.size + extra > self.file.source.size() {
            return Err(Fault::corrupt(format!(
                "page of {} bytes in a file of {}",
                loc.size,
                self.file.source.size()
            )));
        }
        let raw = self.file.read(loc.offset, (loc.size + extra) as usize)?;
        let (data, sum) = raw.split_at(loc.size as usize);
        if checksum {
            let mut s = [0u8; 8];
            s.copy_from_slice(sum);
            let want = u64::from_le_bytes(s);
            let got = xxh3_64(data);
            if got != want {
                return Err(Fault::corrupt(format!(
                    "page at byte {}: checksum {got:016x} differs from the stored {want:016x}",
                    loc.offset
                )));
            }
        }
        let data = inflate(data, stored)?;
        decode_page(ct, data, n as usize)
    }
}

fn type_or_untyped(f: &FieldDesc) -> String {
    if f.type_name.is_empty() {
        "untyped collection or record".into()
    } else {
        f.type_name.clone()
    }
}

fn fault_text(f: &Fault) -> String {
    match f {
        Fault::Corrupt(s) => format!("corrupt: {s}"),
        Fault::Compression(s) => format!("bad compression: {s}"),
        Fault::Unsupported(s) => s.clone(),
    }
}

/// The part of a field's entries that one cluster holds.
struct Piece {
    /// Entry offsets (from 0) for lists and strings.
    offsets: Option<Vec<u64>>,
    values: Values,
    chars: Vec<u8>,
}

/// Joins the clusters' pieces into one Arrow array of `n` entries.
fn assemble(plan: &Plan, pieces: Vec<Piece>, n: usize) -> PResult<ArrayRef> {
    let scalar = plan.scalar.unwrap_or(ScalarType::U8);
    let mut values = Values::new(scalar);
    let mut chars = Vec::new();
    let mut offsets: Vec<i32> = vec![0];
    let mut base = 0u64;
    for p in pieces {
        if let Some(o) = &p.offsets {
            for &x in &o[1..] {
                let v = i32::try_from(base + x).map_err(|_| {
                    Fault::unsupported("more than 2^31 items in one read (read fewer entries)")
                })?;
                offsets.push(v);
            }
            base += o.last().copied().unwrap_or(0);
        }
        values.append(p.values);
        chars.extend(p.chars);
    }
    let arr: ArrayRef = match plan.shape {
        Shape::Scalar => values.into_array(),
        Shape::Fixed(m) => {
            let field = Arc::new(Field::new(
                "item",
                crate::tree::scalar_data_type(scalar),
                false,
            ));
            let len = values.len();
            if Some(len) != n.checked_mul(m) {
                return Err(Fault::corrupt(format!(
                    "{len} values for {n} arrays of {m}"
                )));
            }
            Arc::new(
                arrow_array::FixedSizeListArray::try_new(
                    field,
                    m as i32,
                    values.into_array(),
                    None,
                )
                .map_err(|e| Fault::corrupt(e.to_string()))?,
            )
        }
        Shape::List(_) => {
            let field = Arc::new(Field::new(
                "item",
                crate::tree::scalar_data_type(scalar),
                false,
            ));
            if offsets.last().copied().unwrap_or(0) as usize != values.len() {
                return Err(Fault::corrupt("collection offsets and items disagree"));
            }
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values.into_array(),
                    None,
                )
                .map_err(|e| Fault::corrupt(e.to_string()))?,
            )
        }
        Shape::Str => {
            if offsets.last().copied().unwrap_or(0) as usize != chars.len() {
                return Err(Fault::corrupt("string offsets and characters disagree"));
            }
            Arc::new(
                StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    chars.into(),
                    None,
                )
                .map_err(|e| Fault::corrupt(format!("string that is not UTF-8: {e}")))?,
            )
        }
    };
    if arr.len() != n {
        return Err(Fault::corrupt(format!(
            "decoded {} entries, {n} expected",
            arr.len()
        )));
    }
    Ok(arr)
}
