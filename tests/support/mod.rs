//! Real clusters for integration tests: `kaon scheduler` and `kaon worker` processes
//! on loopback, stopped (by SIGKILL) when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const KAON: &str = env!("CARGO_BIN_EXE_kaon");

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Whether it exited within `timeout`.
    pub fn exits_within(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kaon scheduler` on free ports; returns it and its gRPC address.
pub fn scheduler(extra: &[&str]) -> (Proc, String) {
    let mut child = Command::new(KAON)
        .args(["scheduler", "--port", "0", "--dashboard-port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kaon scheduler");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("scheduler output").expect("read");
    let address = first
        .strip_prefix("Scheduler at ")
        .unwrap_or_else(|| panic!("unexpected scheduler output: {first}"))
        .to_string();
    // Keep draining stdout so the scheduler never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Proc { child }, address)
}

/// Starts `kaon worker` for `address`.
pub fn worker(address: &str, name: &str, extra: &[&str]) -> Proc {
    let child = Command::new(KAON)
        .args(["worker", address, "--nthreads", "1", "--name", name])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kaon worker");
    Proc { child }
}

/// Waits until the scheduler reports `n` workers.
pub async fn wait_for_workers(client: &kaon_client::Client, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = client.cluster_info().await.unwrap().workers.len();
        if got == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cluster has {got} workers, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn connect(address: &str) -> kaon_client::Client {
    kaon_client::Client::connect(address, Duration::from_secs(10))
        .await
        .expect("connect to the scheduler")
}

/// The seed expression computed directly, element by element, as the reference.
pub fn seed_reference(shape: [u64; 3], chunks: [u64; 3]) -> Vec<f64> {
    let grid = kaon_graph::ChunkGrid::regular(&shape, &chunks).unwrap();
    let mut out = vec![0.0f64; shape[0] as usize];
    for c in 0..grid.num_chunks() {
        let idx = grid.block_index(c);
        let cs = grid.chunk_shape(&idx);
        let off = grid.chunk_offset(&idx);
        let per_row = cs[1] * cs[2];
        for r in 0..cs[0] {
            let mut s = 0.0;
            for k in 0..per_row {
                let e = r * per_row + k;
                let x = kaon_kernels::uniform(1, c, e);
                let y = kaon_kernels::uniform(2, c, e);
                s += x.asin() + y.acos();
            }
            out[(off[0] + r) as usize] += s;
        }
    }
    out
}

pub fn assert_close(got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs().max(1.0),
            "element {i}: got {g}, want {w}"
        );
    }
}
