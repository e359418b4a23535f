//! Scaling a cluster: the [`Scaler`] a cluster manager provides (a local cluster
//! spawning `kaon worker` processes, a gateway backend submitting jobs or pods), and the
//! bookkeeping of workers asked for but not yet joined.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// Starts workers for a cluster. Retiring is the scheduler's own business: it moves
/// the results a worker holds, then tells the worker to exit.
pub trait Scaler: Send + Sync + 'static {
    /// Starts `n` more workers; they join the scheduler by themselves.
    fn start_workers(&self, n: usize) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

/// Workers asked for and not yet joined; forgotten after a while, so a start that
/// silently failed does not block scaling forever.
#[derive(Debug, Default)]
pub(crate) struct Starting {
    pending: Vec<Instant>,
}

/// How long a requested worker may take to join before it is no longer counted.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Starting {
    pub fn add(&mut self, n: usize) {
        let now = Instant::now();
        self.pending.extend(std::iter::repeat_n(now, n));
    }

    /// A worker joined: it was one of those asked for, if any.
    pub fn joined(&mut self) {
        if !self.pending.is_empty() {
            self.pending.remove(0);
        }
    }

    pub fn failed(&mut self, n: usize) {
        let n = n.min(self.pending.len());
        self.pending.truncate(self.pending.len() - n);
    }

    pub fn count(&mut self) -> usize {
        self.pending.retain(|t| t.elapsed() < START_TIMEOUT);
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_workers_are_counted_until_they_join_or_fail() {
        let mut s = Starting::default();
        s.add(3);
        s.joined();
        assert_eq!(s.count(), 2);
        s.failed(5);
        assert_eq!(s.count(), 0);
        s.joined();
        assert_eq!(s.count(), 0);
    }
}
