//! Open ROOT files and trees, kept per process so that the partitions of one file do
//! not each parse its directory and tree metadata again.
//!
//! An entry is used only while the file's size and modification time are unchanged;
//! a file rewritten in place is opened afresh.

use std::sync::Mutex;
use std::time::SystemTime;

use kaon_ntuple::{NtupleError, RootFile, Tree};

/// Files kept open at most (each holds a file descriptor).
const CAPACITY: usize = 64;

struct Entry {
    path: String,
    len: u64,
    modified: Option<SystemTime>,
    file: RootFile,
    trees: Vec<(String, Tree)>,
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: Vec<Entry>,
    clock: u64,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: Vec::new(),
    clock: 0,
});

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tree at `tree` in the file at `path`, opened once per process while the file
/// stays the same.
#[allow(clippy::result_large_err)] // the reader's own error type, as it returns it
pub fn open_tree(path: &str, tree: &str) -> Result<Tree, NtupleError> {
    let meta = std::fs::metadata(path).map_err(|source| NtupleError::Io {
        file: path.to_string(),
        source,
    })?;
    let (len, modified) = (meta.len(), meta.modified().ok());
    let file = {
        let mut cache = lock();
        cache.clock += 1;
        let clock = cache.clock;
        match cache
            .entries
            .iter_mut()
            .find(|e| e.path == path && e.len == len && e.modified == modified)
        {
            Some(e) => {
                e.used = clock;
                if let Some((_, t)) = e.trees.iter().find(|(n, _)| n == tree) {
                    return Ok(t.clone());
                }
                Some(e.file.clone())
            }
            None => None,
        }
    };
    // Opening and parsing happen outside the lock.
    let file = match file {
        Some(f) => f,
        None => RootFile::open(path)?,
    };
    let t = file.tree(tree)?;
    let mut cache = lock();
    cache.clock += 1;
    let clock = cache.clock;
    cache
        .entries
        .retain(|e| e.path != path || (e.len == len && e.modified == modified));
    match cache.entries.iter_mut().find(|e| e.path == path) {
        Some(e) => {
            e.used = clock;
            if !e.trees.iter().any(|(n, _)| n == tree) {
                e.trees.push((tree.to_string(), t.clone()));
            }
        }
        None => {
            if cache.entries.len() >= CAPACITY
                && let Some(oldest) = cache
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(i, _)| i)
            {
                cache.entries.swap_remove(oldest);
            }
            cache.entries.push(Entry {
                path: path.to_string(),
                len,
                modified,
                file,
                trees: vec![(tree.to_string(), t.clone())],
                used: clock,
            });
        }
    }
    Ok(t)
}
