//! What the dashboard shows over time: a bounded task stream (recent task runs and
//! transfers), cluster samples (memory, spilling, throughput) and recent errors.
//!
//! Everything here is bounded, so a graph of a million tasks costs a ring buffer, not a
//! history: the page receives summaries and the newest records only.

use serde::Serialize;
use std::collections::VecDeque;

/// Task runs and transfers kept for the task stream.
const STREAM_RECORDS: usize = 20_000;
/// At most this many stream records per update sent to a page.
pub(crate) const STREAM_PER_UPDATE: usize = 500;
/// One sample a second, ten minutes of history.
const SAMPLES: usize = 600;
const ERRORS: usize = 100;

#[derive(Clone, Debug, Serialize)]
pub(crate) struct StreamRecord {
    pub seq: u64,
    /// "compute", "transfer", or "spill" / "read-back" (results written to or read
    /// back from the worker's spill directory).
    pub kind: &'static str,
    pub worker: String,
    pub thread: u32,
    /// Layer name, or the peer a transfer came from.
    pub name: String,
    pub start_ms: f64,
    pub duration_ms: f64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Sample {
    pub time_ms: f64,
    pub memory: u64,
    pub spilled: u64,
    pub workers: usize,
    pub tasks_per_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ErrorRecord {
    pub time_ms: f64,
    pub graph: u64,
    pub key: String,
    pub message: String,
    pub worker: String,
}

#[derive(Default)]
pub(crate) struct Monitor {
    stream: VecDeque<StreamRecord>,
    next_seq: u64,
    samples: VecDeque<Sample>,
    errors: VecDeque<ErrorRecord>,
    /// Tasks finished since start, and at the last sample.
    pub tasks_done: u64,
    done_at_sample: u64,
    last_sample_ms: f64,
}

pub(crate) fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

impl Monitor {
    pub fn record(&mut self, mut r: StreamRecord) {
        r.seq = self.next_seq;
        self.next_seq += 1;
        if r.kind == "compute" {
            self.tasks_done += 1;
        }
        if self.stream.len() == STREAM_RECORDS {
            self.stream.pop_front();
        }
        self.stream.push_back(r);
    }

    pub fn error(&mut self, e: ErrorRecord) {
        if self.errors.len() == ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
    }

    /// Takes a sample if a second passed since the last one.
    pub fn sample(&mut self, memory: u64, spilled: u64, workers: usize) {
        let now = now_ms();
        let elapsed = now - self.last_sample_ms;
        if elapsed < 1000.0 {
            return;
        }
        let tasks_per_s = if self.last_sample_ms > 0.0 {
            (self.tasks_done - self.done_at_sample) as f64 / (elapsed / 1e3)
        } else {
            0.0
        };
        self.last_sample_ms = now;
        self.done_at_sample = self.tasks_done;
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            time_ms: now,
            memory,
            spilled,
            workers,
            tasks_per_s,
        });
    }

    /// The newest stream records after `since` (a seq), at most `STREAM_PER_UPDATE`.
    pub fn stream_since(&self, since: Option<u64>) -> Vec<StreamRecord> {
        let start = match since {
            None => self.stream.len().saturating_sub(STREAM_PER_UPDATE),
            Some(s) => self.stream.partition_point(|r| r.seq <= s),
        };
        let skip = (self.stream.len() - start).saturating_sub(STREAM_PER_UPDATE);
        self.stream.iter().skip(start + skip).cloned().collect()
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }

    pub fn errors(&self) -> Vec<ErrorRecord> {
        self.errors.iter().cloned().collect()
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.next_seq.checked_sub(1)
    }

    pub fn tasks_per_s(&self) -> f64 {
        self.samples.back().map_or(0.0, |s| s.tasks_per_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> StreamRecord {
        StreamRecord {
            seq: 0,
            kind: "compute",
            worker: "w".into(),
            thread: 0,
            name: name.into(),
            start_ms: 0.0,
            duration_ms: 1.0,
            bytes: 8,
        }
    }

    #[test]
    fn the_stream_is_bounded_and_incremental() {
        let mut m = Monitor::default();
        for i in 0..(STREAM_RECORDS + 10) {
            m.record(record(&i.to_string()));
        }
        assert_eq!(m.tasks_done, (STREAM_RECORDS + 10) as u64);
        // A first update gets the newest records only.
        let first = m.stream_since(None);
        assert_eq!(first.len(), STREAM_PER_UPDATE);
        assert_eq!(first.last().unwrap().name, (STREAM_RECORDS + 9).to_string());
        // Later updates get what is new since.
        let last = m.last_seq();
        m.record(record("new"));
        let next = m.stream_since(last);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].name, "new");
        assert!(m.stream_since(m.last_seq()).is_empty());
    }

    #[test]
    fn errors_are_bounded() {
        let mut m = Monitor::default();
        for i in 0..(ERRORS + 5) {
            m.error(ErrorRecord {
                time_ms: 0.0,
                graph: i as u64,
                key: "k".into(),
                message: "m".into(),
                worker: String::new(),
            });
        }
        let e = m.errors();
        assert_eq!(e.len(), ERRORS);
        assert_eq!(e[0].graph, 5);
    }
}
