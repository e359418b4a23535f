//! The chunk store: results held by this worker, with a memory limit.
//!
//! Above `target` bytes in memory the least-recently-used chunks are written to the
//! spill directory; they are read back on the next access. The executor pauses
//! (takes no new tasks) while the process uses more than the pause mark.

use kaon_graph::DType;
use kaon_kernels::Chunk;
use kaon_proto::{DiskIo, TaskRef};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Key of a stored chunk: (graph, layer, chunk).
pub type ChunkKey = (u64, u32, u64);

pub fn key_of(t: &TaskRef) -> ChunkKey {
    (t.graph, t.layer, t.chunk)
}

enum Slot {
    Memory(Arc<Chunk>),
    Spilled {
        path: PathBuf,
        dtype: DType,
        shape: Vec<u64>,
    },
}

struct Entry {
    slot: Slot,
    nbytes: u64,
    last_used: u64,
}

/// Figures the worker reports in heartbeats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub memory_bytes: u64,
    pub spilled_bytes: u64,
    pub chunks: u64,
}

pub struct ChunkStore {
    entries: HashMap<ChunkKey, Entry>,
    spill_dir: PathBuf,
    target_bytes: u64,
    clock: u64,
    stats: StoreStats,
    /// Spills and read-backs since the executor last reported them (task stream).
    disk_io: Vec<DiskIo>,
}

impl ChunkStore {
    /// A store that spills to `spill_dir` above `target_bytes` held in memory.
    pub fn new(spill_dir: &Path, target_bytes: u64) -> Self {
        Self {
            entries: HashMap::new(),
            spill_dir: spill_dir.to_path_buf(),
            target_bytes,
            clock: 0,
            disk_io: Vec::new(),
            stats: StoreStats::default(),
        }
    }

    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    pub fn contains(&self, key: &ChunkKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Stores a result, spilling older ones if memory goes over the target.
    pub fn insert(&mut self, key: ChunkKey, chunk: Arc<Chunk>) -> std::io::Result<()> {
        self.remove(&key);
        let nbytes = chunk.nbytes() as u64;
        self.clock += 1;
        self.entries.insert(
            key,
            Entry {
                slot: Slot::Memory(chunk),
                nbytes,
                last_used: self.clock,
            },
        );
        self.stats.memory_bytes += nbytes;
        self.stats.chunks += 1;
        self.spill_to_target(Some(key))
    }

    /// The chunk, read back from disk if it was spilled.
    pub fn get(&mut self, key: &ChunkKey) -> std::io::Result<Option<Arc<Chunk>>> {
        self.clock += 1;
        let clock = self.clock;
        let Some(entry) = self.entries.get_mut(key) else {
            return Ok(None);
        };
        entry.last_used = clock;
        let chunk = match &entry.slot {
            Slot::Memory(c) => return Ok(Some(c.clone())),
            Slot::Spilled { path, dtype, shape } => {
                let start = (crate::executor::unix_us(), Instant::now());
                let bytes = std::fs::read(path)?;
                self.disk_io.push(DiskIo {
                    write: false,
                    bytes: bytes.len() as u64,
                    start_unix_us: start.0,
                    duration_us: start.1.elapsed().as_micros() as u64,
                });
                let chunk = Chunk::from_le_bytes(*dtype, shape.clone(), &bytes)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let _ = std::fs::remove_file(path);
                Arc::new(chunk)
            }
        };
        entry.slot = Slot::Memory(chunk.clone());
        self.stats.spilled_bytes -= entry.nbytes;
        self.stats.memory_bytes += entry.nbytes;
        self.spill_to_target(Some(*key))?;
        Ok(Some(chunk))
    }

    /// Drops a result; returns whether it was held.
    pub fn remove(&mut self, key: &ChunkKey) -> bool {
        let Some(entry) = self.entries.remove(key) else {
            return false;
        };
        self.stats.chunks -= 1;
        match entry.slot {
            Slot::Memory(_) => self.stats.memory_bytes -= entry.nbytes,
            Slot::Spilled { path, .. } => {
                self.stats.spilled_bytes -= entry.nbytes;
                let _ = std::fs::remove_file(path);
            }
        }
        true
    }

    /// Drops every result of a graph.
    pub fn remove_graph(&mut self, graph: u64) {
        let keys: Vec<ChunkKey> = self
            .entries
            .keys()
            .filter(|k| k.0 == graph)
            .copied()
            .collect();
        for k in keys {
            self.remove(&k);
        }
    }

    /// Writes every chunk held in memory to disk.
    pub fn spill_all(&mut self) -> std::io::Result<()> {
        let target = std::mem::replace(&mut self.target_bytes, 0);
        let result = self.spill_to_target(None);
        self.target_bytes = target;
        result
    }

    /// Writes least-recently-used chunks to disk until memory is at most the target.
    /// `keep` (the chunk just used) stays in memory.
    fn spill_to_target(&mut self, keep: Option<ChunkKey>) -> std::io::Result<()> {
        if self.stats.memory_bytes <= self.target_bytes {
            return Ok(());
        }
        let mut candidates: Vec<(u64, ChunkKey)> = self
            .entries
            .iter()
            .filter(|(k, e)| matches!(e.slot, Slot::Memory(_)) && Some(**k) != keep)
            .map(|(k, e)| (e.last_used, *k))
            .collect();
        candidates.sort_unstable();
        let start = (crate::executor::unix_us(), Instant::now());
        let spilled_before = self.stats.spilled_bytes;
        let result = self.spill_candidates(candidates);
        let written = self.stats.spilled_bytes - spilled_before;
        if written > 0 {
            self.disk_io.push(DiskIo {
                write: true,
                bytes: written,
                start_unix_us: start.0,
                duration_us: start.1.elapsed().as_micros() as u64,
            });
        }
        result
    }

    /// Spills and read-backs since the last call, oldest first.
    pub fn take_disk_io(&mut self) -> Vec<DiskIo> {
        std::mem::take(&mut self.disk_io)
    }

    fn spill_candidates(&mut self, candidates: Vec<(u64, ChunkKey)>) -> std::io::Result<()> {
        for (_, key) in candidates {
            if self.stats.memory_bytes <= self.target_bytes {
                break;
            }
            let entry = self.entries.get_mut(&key).unwrap();
            let Slot::Memory(chunk) = &entry.slot else {
                continue;
            };
            let path = self
                .spill_dir
                .join(format!("{}-{}-{}.chunk", key.0, key.1, key.2));
            let mut bytes = Vec::with_capacity(entry.nbytes as usize);
            chunk.write_le_bytes(&mut bytes);
            let mut file = std::fs::File::create(&path)?;
            file.write_all(&bytes)?;
            entry.slot = Slot::Spilled {
                path,
                dtype: chunk.dtype(),
                shape: chunk.shape.clone(),
            };
            self.stats.memory_bytes -= entry.nbytes;
            self.stats.spilled_bytes += entry.nbytes;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(value: f64, n: usize) -> Arc<Chunk> {
        Arc::new(Chunk::f64(vec![n as u64], vec![value; n]))
    }

    #[test]
    fn least_recently_used_chunks_spill_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        // Room for two chunks of 100 f64 (800 bytes each).
        let mut store = ChunkStore::new(dir.path(), 1600);
        store.insert((1, 0, 0), chunk(0.0, 100)).unwrap();
        store.insert((1, 0, 1), chunk(1.0, 100)).unwrap();
        store.get(&(1, 0, 0)).unwrap(); // chunk 0 is now more recent than 1
        store.insert((1, 0, 2), chunk(2.0, 100)).unwrap();
        let s = store.stats();
        assert_eq!((s.memory_bytes, s.spilled_bytes, s.chunks), (1600, 800, 3));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(
            dir.path().join("1-0-1.chunk").exists(),
            "chunk 1 was least recently used"
        );
        // Reading it back returns the same values and spills another.
        let back = store.get(&(1, 0, 1)).unwrap().unwrap();
        assert_eq!(back.as_f64().unwrap(), &[1.0; 100][..]);
        assert_eq!(store.stats().spilled_bytes, 800);
        assert!(!dir.path().join("1-0-1.chunk").exists());
    }

    #[test]
    fn everything_spills_at_the_pause_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ChunkStore::new(dir.path(), 1 << 20);
        store.insert((1, 0, 0), chunk(0.0, 100)).unwrap();
        store.insert((1, 0, 1), chunk(1.0, 100)).unwrap();
        store.spill_all().unwrap();
        assert_eq!(
            (store.stats().memory_bytes, store.stats().spilled_bytes),
            (0, 1600)
        );
        // The target is unchanged: reading back keeps the chunk in memory.
        store.get(&(1, 0, 1)).unwrap();
        assert_eq!(store.stats().memory_bytes, 800);
    }

    #[test]
    fn removal_frees_memory_and_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ChunkStore::new(dir.path(), 800);
        store.insert((1, 0, 0), chunk(0.0, 100)).unwrap();
        store.insert((2, 0, 0), chunk(1.0, 100)).unwrap();
        store.remove_graph(1);
        store.remove_graph(2);
        assert_eq!(store.stats(), StoreStats::default());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!store.remove(&(1, 0, 0)));
    }
}
