//! The TTree record: the tree, its branches (TBranch, TBranchElement,
//! TBranchObject), their leaves (TLeaf*) and the baskets kept inside the record.

use std::collections::HashMap;

use crate::error::{Fault, PResult};
use crate::objects::{Factory, Slot, read_objarray, read_object_any};
use crate::rbuf::RBuf;

/// One leaf (TLeafI, TLeafF, TLeafElement, ...).
#[derive(Debug, Clone)]
pub(crate) struct LeafMeta {
    pub class: String,
    pub name: String,
    pub title: String,
    /// Number of values per entry (product of fixed dimensions), or the maximum for a
    /// counted array.
    pub len: i32,
    pub is_unsigned: bool,
    /// The leaf holding the count of a `T[n]` array.
    pub count: Option<usize>,
    /// The count pointer refers to something that is not a leaf read before.
    pub count_unresolved: bool,
    /// TLeafElement's streamer type.
    pub element_type: Option<i32>,
}

/// Extra members of a TBranchElement.
#[derive(Debug, Clone)]
pub(crate) struct ElementMeta {
    pub class_name: String,
    pub clones_name: String,
    pub class_version: i32,
    pub id: i32,
    pub btype: i32,
    pub streamer_type: i32,
}

/// One branch at any level of the tree.
#[derive(Debug, Clone)]
pub(crate) struct BranchMeta {
    pub class: String,
    pub name: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub leaves: Vec<usize>,
    pub entries: i64,
    pub write_basket: usize,
    pub basket_bytes: Vec<i32>,
    pub basket_entry: Vec<i64>,
    pub basket_seek: Vec<i64>,
    /// (slot in fBaskets, index into [`TreeMeta::embedded`]).
    pub embedded: Vec<(usize, usize)>,
    pub file_name: String,
    pub element: Option<ElementMeta>,
    /// TBranchObject's class name.
    pub object_class: Option<String>,
}

/// A basket serialized inside the TTree record (ROOT writes the baskets still in
/// memory when the tree is saved this way).
#[derive(Debug, Clone)]
pub(crate) struct EmbeddedBasket {
    pub nev_buf: usize,
    pub nev_buf_size: i32,
    /// Entry data (without the key header and without the offset table).
    pub data: Vec<u8>,
    /// Start of each entry in `data`, plus the end (n + 1 values), when entries
    /// have variable size.
    pub offsets: Option<Vec<usize>>,
}

/// The parts of a TTree record this reader uses.
#[derive(Debug, Clone)]
pub(crate) struct TreeMeta {
    pub name: String,
    pub title: String,
    pub entries: i64,
    pub auto_flush: i64,
    pub cluster_range_end: Vec<i64>,
    pub cluster_size: Vec<i64>,
    pub branches: Vec<BranchMeta>,
    pub top: Vec<usize>,
    pub leaves: Vec<LeafMeta>,
    pub embedded: Vec<EmbeddedBasket>,
}

#[derive(Clone, Debug)]
enum TObj {
    Branch(usize),
    Leaf(usize),
    Basket(usize),
    Other,
}

#[derive(Default)]
struct TreeFactory {
    refs: HashMap<usize, Slot<TObj>>,
    branches: Vec<Option<BranchMeta>>,
    leaves: Vec<LeafMeta>,
    embedded: Vec<EmbeddedBasket>,
}

impl Factory for TreeFactory {
    type Obj = TObj;

    fn refs(&mut self) -> &mut HashMap<usize, Slot<TObj>> {
        &mut self.refs
    }

    fn unresolved(&self) -> TObj {
        TObj::Other
    }

    fn read_class(&mut self, buf: &mut RBuf, class: &str, key: usize) -> PResult<TObj> {
        match class {
            "TBranch" | "TBranchElement" | "TBranchObject" => {
                let idx = self.branches.len();
                self.branches.push(None);
                self.refs.insert(key, Slot::Obj(TObj::Branch(idx)));
                let b = self.read_branch(buf, class)?;
                for &c in &b.children {
                    if let Some(Some(child)) = self.branches.get_mut(c) {
                        child.parent = Some(idx);
                    }
                }
                self.branches[idx] = Some(b);
                Ok(TObj::Branch(idx))
            }
            c if c.starts_with("TLeaf") => {
                let leaf = read_leaf(self, buf, class)?;
                self.leaves.push(leaf);
                Ok(TObj::Leaf(self.leaves.len() - 1))
            }
            "TBasket" => match read_embedded_basket(buf)? {
                Some(b) => {
                    self.embedded.push(b);
                    Ok(TObj::Basket(self.embedded.len() - 1))
                }
                None => Ok(TObj::Other),
            },
            other => {
                buf.skip_object(other)?;
                Ok(TObj::Other)
            }
        }
    }
}

fn read_leaf(f: &mut TreeFactory, buf: &mut RBuf, class: &str) -> PResult<LeafMeta> {
    let h = buf.header()?;
    let lh = buf.header()?;
    let (name, title) = buf.tnamed()?;
    let len = buf.i32()?;
    let _len_type = buf.i32()?;
    let _offset = buf.i32()?;
    let _is_range = buf.u8()?;
    let is_unsigned = buf.u8()? != 0;
    let (count, count_unresolved) = match read_object_any(f, buf)? {
        None => (None, false),
        Some(TObj::Leaf(i)) => (Some(i), false),
        Some(_) => (None, true),
    };
    buf.finish(&lh, "TLeaf")?;
    let element_type = if class == "TLeafElement" {
        let _id = buf.i32()?;
        Some(buf.i32()?)
    } else {
        None
    };
    buf.finish(&h, class)?;
    Ok(LeafMeta {
        class: class.to_string(),
        name,
        title,
        len,
        is_unsigned,
        count,
        count_unresolved,
        element_type,
    })
}

fn read_embedded_basket(buf: &mut RBuf) -> PResult<Option<EmbeddedBasket>> {
    let start = buf.pos();
    let _nbytes = buf.i32()?;
    let _key_version = buf.i16()?;
    let _objlen = buf.i32()?;
    let _datime = buf.u32()?;
    let keylen = buf.i16()?;
    if keylen < 19 {
        return Err(Fault::corrupt(format!(
            "embedded basket with a {keylen}-byte key"
        )));
    }
    let keylen = keylen as usize;
    buf.seek(start + keylen - 19)?;
    let _version = buf.u16()?;
    let _buffer_size = buf.i32()?;
    let nev_buf_size = buf.i32()?;
    let nev_buf = buf.i32()?;
    let last = buf.i32()?;
    let flag = buf.u8()?;
    if nev_buf < 0 || last < keylen as i32 {
        return Err(Fault::corrupt(format!(
            "embedded basket with {nev_buf} entries ending at byte {last} of a {keylen}-byte key"
        )));
    }
    let nev_buf = nev_buf as usize;
    let last = last as usize;
    if flag == 0 {
        return Ok(None);
    }
    let mut offsets = None;
    if flag % 10 != 2 {
        let n = buf.count(4)?;
        if n < nev_buf {
            return Err(Fault::corrupt(format!(
                "embedded basket with {nev_buf} entries has {n} entry offsets"
            )));
        }
        let mut offs = Vec::with_capacity(nev_buf + 1);
        for i in 0..n {
            let o = buf.i32()?;
            if i < nev_buf {
                let rel = (o as i64) - keylen as i64;
                let prev = offs.last().copied().unwrap_or(0) as i64;
                if rel < prev || rel as usize > last - keylen {
                    return Err(Fault::corrupt(format!(
                        "embedded basket entry offset {o} outside its data"
                    )));
                }
                offs.push(rel as usize);
            }
        }
        offs.push(last - keylen);
        offsets = Some(offs);
        if flag > 20 && flag < 40 {
            // displacements (entries of TClonesArray-like buffers); not needed
            let n = buf.count(4)?;
            buf.skip(4 * n)?;
        }
    }
    if !(flag == 1 || flag > 10) {
        return Ok(None);
    }
    let all = buf.bytes(last)?;
    Ok(Some(EmbeddedBasket {
        nev_buf,
        nev_buf_size,
        data: all[keylen..].to_vec(),
        offsets,
    }))
}

impl TreeFactory {
    fn read_branch(&mut self, buf: &mut RBuf, class: &str) -> PResult<BranchMeta> {
        let outer = if class == "TBranch" {
            None
        } else {
            Some(buf.header()?)
        };
        let mut b = self.read_tbranch(buf)?;
        b.class = class.to_string();
        if let Some(h) = outer {
            if class == "TBranchElement" {
                if h.version < 8 {
                    return Err(Fault::unsupported(format!(
                        "TBranchElement version {} (written by ROOT < 5)",
                        h.version
                    )));
                }
                let class_name = buf.tstring()?;
                let _parent_name = buf.tstring()?;
                let clones_name = buf.tstring()?;
                let _checksum = buf.u32()?;
                let class_version = if h.version >= 10 {
                    buf.i16()? as i32
                } else {
                    buf.i32()?
                };
                let id = buf.i32()?;
                let btype = buf.i32()?;
                let streamer_type = buf.i32()?;
                let _maximum = buf.i32()?;
                let _count = read_object_any(self, buf)?;
                let _count2 = read_object_any(self, buf)?;
                b.element = Some(ElementMeta {
                    class_name,
                    clones_name,
                    class_version,
                    id,
                    btype,
                    streamer_type,
                });
            } else {
                b.object_class = Some(buf.tstring()?);
            }
            buf.finish(&h, class)?;
        }
        Ok(b)
    }

    fn read_tbranch(&mut self, buf: &mut RBuf) -> PResult<BranchMeta> {
        let h = buf.header()?;
        if h.version < 10 {
            return Err(Fault::unsupported(format!(
                "TBranch version {} (written by ROOT < 5)",
                h.version
            )));
        }
        let (name, _title) = buf.tnamed()?;
        buf.skip_object("TAttFill")?;
        let _compress = buf.i32()?;
        let _basket_size = buf.i32()?;
        let _entry_offset_len = buf.i32()?;
        let write_basket = buf.i32()?;
        let _entry_number = buf.i64()?;
        if h.version >= 13 {
            buf.skip_object("TIOFeatures")?;
        }
        let _offset = buf.i32()?;
        let max_baskets = buf.i32()?;
        let _split_level = buf.i32()?;
        let entries = buf.i64()?;
        if h.version >= 11 {
            let _first_entry = buf.i64()?;
        }
        let _tot_bytes = buf.i64()?;
        let _zip_bytes = buf.i64()?;
        let children = read_objarray(self, buf)?;
        let leaves = read_objarray(self, buf)?;
        let baskets = read_objarray(self, buf)?;
        if max_baskets < 0 || write_basket < 0 || write_basket > max_baskets {
            return Err(Fault::corrupt(format!(
                "branch {name:?}: {write_basket} baskets written of at most {max_baskets}"
            )));
        }
        let nb = max_baskets as usize;
        let basket_bytes = buf.i32_array_bump(nb)?;
        let basket_entry = buf.i64_array_bump(nb)?;
        let basket_seek = buf.i64_array_bump(nb)?;
        let file_name = buf.tstring().unwrap_or_default();
        buf.finish(&h, "TBranch")?;
        let children = children
            .into_iter()
            .flatten()
            .filter_map(|o| match o {
                TObj::Branch(i) => Some(i),
                _ => None,
            })
            .collect();
        let mut leaf_ids = Vec::new();
        for l in leaves.into_iter().flatten() {
            match l {
                TObj::Leaf(i) => leaf_ids.push(i),
                other => {
                    return Err(Fault::corrupt(format!(
                        "branch {name:?}: a leaf slot holds {other:?}"
                    )));
                }
            }
        }
        let embedded = baskets
            .into_iter()
            .enumerate()
            .filter_map(|(slot, o)| match o {
                Some(TObj::Basket(i)) => Some((slot, i)),
                _ => None,
            })
            .collect();
        Ok(BranchMeta {
            class: "TBranch".into(),
            name,
            parent: None,
            children,
            leaves: leaf_ids,
            entries,
            write_basket: write_basket as usize,
            basket_bytes,
            basket_entry,
            basket_seek,
            embedded,
            file_name,
            element: None,
            object_class: None,
        })
    }
}

/// Parses the TTree record (`data` is the uncompressed object, `keylen` the length
/// of the key in front of it, which counts in object positions).
pub(crate) fn parse_tree(data: &[u8], keylen: usize, class: &str) -> PResult<TreeMeta> {
    let mut buf = RBuf::new(data, keylen);
    if class != "TTree" {
        // TNtuple / TNtupleD: a TTree base class followed by the variable count
        let _outer = buf.header()?;
    }
    let h = buf.header()?;
    let version = h.version;
    if !(16..=20).contains(&version) {
        return Err(Fault::unsupported(format!(
            "TTree version {version} (this reader knows versions 16 to 20: ROOT 5.16 and later)"
        )));
    }
    let (name, title) = buf.tnamed()?;
    buf.skip_object("TAttLine")?;
    buf.skip_object("TAttFill")?;
    buf.skip_object("TAttMarker")?;
    let entries = buf.i64()?;
    let _tot_bytes = buf.i64()?;
    let _zip_bytes = buf.i64()?;
    let _saved_bytes = buf.i64()?;
    if version >= 18 {
        let _flushed = buf.i64()?;
    }
    let _weight = buf.f64()?;
    let _timer = buf.i32()?;
    let _scan = buf.i32()?;
    let _update = buf.i32()?;
    if version >= 17 {
        let _default_offset_len = buf.i32()?;
    }
    let n_cluster = if version >= 19 { buf.i32()? } else { 0 };
    let _max_entries = buf.i64()?;
    let _max_entry_loop = buf.i64()?;
    let _max_virtual = buf.i64()?;
    let _auto_save = buf.i64()?;
    let auto_flush = if version >= 18 { buf.i64()? } else { 0 };
    let _estimate = buf.i64()?;
    let (cluster_range_end, cluster_size) = if version >= 19 {
        let n = buf.check_count(n_cluster as i64, 16)?;
        (buf.i64_array_bump(n)?, buf.i64_array_bump(n)?)
    } else {
        (Vec::new(), Vec::new())
    };
    if version >= 20 {
        buf.skip_object("TIOFeatures")?;
    }
    let mut f = TreeFactory::default();
    let top = read_objarray(&mut f, &mut buf)?;
    // fLeaves, fAliases, indices, friends, user info: not needed
    let top = top
        .into_iter()
        .flatten()
        .filter_map(|o| match o {
            TObj::Branch(i) => Some(i),
            _ => None,
        })
        .collect();
    let mut branches = Vec::with_capacity(f.branches.len());
    for (i, b) in f.branches.into_iter().enumerate() {
        branches.push(b.ok_or_else(|| Fault::corrupt(format!("branch {i} was never completed")))?);
    }
    if entries < 0 {
        return Err(Fault::corrupt(format!("tree with {entries} entries")));
    }
    Ok(TreeMeta {
        name,
        title,
        entries,
        auto_flush,
        cluster_range_end,
        cluster_size,
        branches,
        top,
        leaves: f.leaves,
        embedded: f.embedded,
    })
}
