//! An open ROOT file: header, directory tree, keys, streamer infos, and the
//! lookup of trees by path.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::compression;
use crate::directory::{DirRecord, FileHeader, Key, parse_key_list};
use crate::error::{Fault, NtupleError, PResult};
use crate::rbuf::RBuf;
use crate::source::{FileSource, MmapSource, ReadAt};
use crate::streamers::{StreamerInfo, parse_streamers};
use crate::tree::Tree;

/// Classes that are (or derive from) TTree.
const TREE_CLASSES: [&str; 3] = ["TTree", "TNtuple", "TNtupleD"];
const DIR_CLASSES: [&str; 2] = ["TDirectory", "TDirectoryFile"];
/// The anchor class of RNTuples (binary format 1.x, ROOT 6.34+).
const RNTUPLE_CLASS: &str = "ROOT::RNTuple";
/// The anchor class of RNTuple pre-releases (format epoch 0), not read.
const RNTUPLE_PRERELEASE: &str = "ROOT::Experimental::RNTuple";
/// Nesting limit for directories (guards against cycles in corrupt files).
const MAX_DEPTH: usize = 64;

/// One key with the directory path it lives in ("" for the top directory).
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// Path of the object, e.g. `dir/sub/tree`.
    pub path: String,
    pub key: Key,
}

pub(crate) struct FileInner {
    pub name: String,
    pub source: Box<dyn ReadAt>,
    pub header: FileHeader,
    pub keys: Vec<KeyEntry>,
    streamers: OnceLock<Result<Arc<Vec<StreamerInfo>>, Fault>>,
}

/// An open ROOT file. Cheap to clone; trees taken from it keep it open.
#[derive(Clone)]
pub struct RootFile {
    inner: Arc<FileInner>,
}

impl std::fmt::Debug for RootFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootFile")
            .field("name", &self.inner.name)
            .field("keys", &self.inner.keys.len())
            .finish()
    }
}

impl RootFile {
    /// Opens a local file with positioned reads.
    pub fn open(path: impl AsRef<Path>) -> Result<RootFile, NtupleError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let source = FileSource::open(path).map_err(|source| NtupleError::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_source(name, Box::new(source))
    }

    /// Opens a local file by mapping it into memory (no copies of uncompressed
    /// data). The file must not be truncated while it is open.
    pub fn open_mmap(path: impl AsRef<Path>) -> Result<RootFile, NtupleError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let source = MmapSource::open(path).map_err(|source| NtupleError::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_source(name, Box::new(source))
    }

    /// Opens a file from any byte source; `name` is used in error messages.
    pub fn from_source(
        name: impl Into<String>,
        source: Box<dyn ReadAt>,
    ) -> Result<RootFile, NtupleError> {
        let name = name.into();
        let size = source.size();
        let head = source
            .read_at(0, size.min(128) as usize)
            .map_err(|source| NtupleError::Io {
                file: name.clone(),
                source,
            })?;
        if head.len() < 4 || &head[..4] != b"root" {
            return Err(NtupleError::NotRoot {
                file: name,
                detail: format!("{} bytes, no \"root\" magic", size),
            });
        }
        let header = FileHeader::parse(&head).map_err(|f| f.at(&name, "file header"))?;
        drop(head);
        let mut inner = FileInner {
            name,
            source,
            header,
            keys: Vec::new(),
            streamers: OnceLock::new(),
        };
        let top = inner
            .header
            .begin
            .checked_add(inner.header.nbytes_name as u64)
            .ok_or_else(|| {
                Fault::corrupt("directory position overflows").at(&inner.name, "top directory")
            })?;
        let rec = inner
            .read_upto(top, 80)
            .and_then(|b| DirRecord::parse(&b))
            .map_err(|f| f.at(&inner.name, "top directory"))?;
        let mut keys = Vec::new();
        inner.collect_keys(&rec, "", 0, &mut keys)?;
        inner.keys = keys;
        Ok(RootFile {
            inner: Arc::new(inner),
        })
    }

    /// The name given when opening (the path for local files).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Every key of every directory, with its path.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.inner.keys
    }

    /// Paths of all trees (`dir/sub/tree`), TTrees and RNTuples, one per name
    /// (the highest cycle).
    pub fn list_trees(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inner
            .keys
            .iter()
            .filter(|k| {
                TREE_CLASSES.contains(&k.key.class_name.as_str())
                    || k.key.class_name == RNTUPLE_CLASS
            })
            .map(|k| k.path.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Paths of the RNTuples in the file (also listed by [`RootFile::list_trees`]).
    pub fn list_rntuples(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inner
            .keys
            .iter()
            .filter(|k| k.key.class_name == RNTUPLE_CLASS)
            .map(|k| k.path.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Opens the tree at `path` (`dir/tree`, optionally with `;cycle`): a TTree,
    /// or else an RNTuple of that name, read through the same [`Tree`] interface.
    pub fn tree(&self, path: &str) -> Result<Tree, NtupleError> {
        let (want, cycle) = match path.rsplit_once(';') {
            Some((p, c)) => match c.parse::<i16>() {
                Ok(c) => (p, Some(c)),
                Err(_) => (path, None),
            },
            None => (path, None),
        };
        let want = want.trim_start_matches('/');
        let find = |classes: &[&str]| {
            self.inner
                .keys
                .iter()
                .filter(|k| {
                    k.path == want
                        && classes.contains(&k.key.class_name.as_str())
                        && cycle.is_none_or(|c| c == k.key.cycle)
                })
                .max_by_key(|k| k.key.cycle)
        };
        if let Some(entry) = find(&TREE_CLASSES) {
            return Tree::load(self.inner.clone(), entry);
        }
        if let Some(entry) = find(&[RNTUPLE_CLASS]) {
            return Tree::load_rntuple(self.inner.clone(), entry);
        }
        if find(&[RNTUPLE_PRERELEASE]).is_some() {
            return Err(NtupleError::Unsupported {
                file: self.inner.name.clone(),
                tree: Some(path.to_string()),
                branch: None,
                what: "RNTuple pre-release (ROOT::Experimental::RNTuple, format epoch 0): \
                       only RNTuple 1.x (ROOT 6.34+) is read"
                    .into(),
            });
        }
        Err(NtupleError::MissingTree {
            file: self.inner.name.clone(),
            name: path.to_string(),
            available: self.list_trees(),
        })
    }

    /// The class layouts stored in the file.
    pub fn streamer_infos(&self) -> Result<Arc<Vec<StreamerInfo>>, NtupleError> {
        self.inner
            .streamers()
            .map_err(|f| f.at(&self.inner.name, "streamer info"))
    }
}

impl FileInner {
    /// Reads `len` bytes at `offset`, fewer if the file ends before.
    fn read_upto(&self, offset: u64, len: usize) -> PResult<Vec<u8>> {
        let size = self.source.size();
        if offset >= size {
            return Err(Fault::corrupt(format!(
                "position {offset} is past the end of the file ({size} bytes)"
            )));
        }
        let len = len.min((size - offset) as usize);
        self.read(offset, len).map(|c| c.into_owned())
    }

    pub fn read(&self, offset: u64, len: usize) -> PResult<std::borrow::Cow<'_, [u8]>> {
        self.source
            .read_at(offset, len)
            .map_err(|e| Fault::corrupt(e.to_string()))
    }

    fn collect_keys(
        &self,
        rec: &DirRecord,
        prefix: &str,
        depth: usize,
        out: &mut Vec<KeyEntry>,
    ) -> Result<(), NtupleError> {
        let what = if prefix.is_empty() {
            "key list of the top directory".to_string()
        } else {
            format!("key list of directory {prefix:?}")
        };
        if depth > MAX_DEPTH {
            return Err(Fault::corrupt("directories nested too deep").at(&self.name, what));
        }
        if rec.seek_keys == 0 {
            return Ok(()); // an empty directory that was never written
        }
        let keys = self
            .read(rec.seek_keys, rec.nbytes_keys as usize)
            .and_then(|b| parse_key_list(&b))
            .map_err(|f| f.at(&self.name, what))?;
        for key in keys {
            let path = if prefix.is_empty() {
                key.name.clone()
            } else {
                format!("{prefix}/{}", key.name)
            };
            if DIR_CLASSES.contains(&key.class_name.as_str()) {
                let what = format!("directory {path:?}");
                let sub = self
                    .read_upto(key.seek_key + key.keylen as u64, 80)
                    .and_then(|b| DirRecord::parse(&b))
                    .map_err(|f| f.at(&self.name, what))?;
                self.collect_keys(&sub, &path, depth + 1, out)?;
            }
            out.push(KeyEntry { path, key });
        }
        Ok(())
    }

    /// The uncompressed object a key points to.
    pub fn object_bytes(&self, key: &Key) -> PResult<Vec<u8>> {
        let raw = self.read(key.seek_key, key.nbytes as usize)?;
        let mut r = RBuf::new(&raw, 0);
        let here = Key::parse(&mut r)?;
        if here.name != key.name || here.keylen != key.keylen {
            return Err(Fault::corrupt(format!(
                "the key at byte {} is {:?}, not {:?}",
                key.seek_key, here.name, key.name
            )));
        }
        let data = raw
            .get(key.keylen as usize..)
            .ok_or_else(|| Fault::corrupt("key shorter than its header"))?;
        let objlen = key.objlen as usize;
        if objlen == data.len() {
            Ok(data.to_vec())
        } else if objlen > data.len() {
            compression::decompress(data, objlen)
        } else {
            Err(Fault::corrupt(format!(
                "key {:?}: object of {objlen} bytes stored in {} bytes",
                key.name,
                data.len()
            )))
        }
    }

    pub fn streamers(&self) -> PResult<Arc<Vec<StreamerInfo>>> {
        self.streamers
            .get_or_init(|| {
                let h = &self.header;
                if h.seek_info == 0 || h.nbytes_info == 0 {
                    return Ok(Arc::new(Vec::new()));
                }
                let raw = self.read(h.seek_info, h.nbytes_info as usize)?;
                let mut r = RBuf::new(&raw, 0);
                let key = Key::parse(&mut r)?;
                drop(raw);
                let data = self.object_bytes(&key)?;
                Ok(Arc::new(parse_streamers(&data, key.keylen as usize)?))
            })
            .clone()
    }
}
