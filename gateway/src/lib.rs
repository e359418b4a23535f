//! # kaon-gateway: per-user Kaon clusters behind one authenticated REST API
//!
//! Like dask-gateway: every user (a JupyterHub user, or a static user in `simple`
//! mode) asks the gateway for clusters; the gateway launches each cluster's
//! scheduler and workers through a [`backend::Backend`] (local processes, Slurm
//! jobs, Kubernetes pods), enforces per-user quotas, shuts idle clusters down, and
//! keeps its records in an embedded database so that a restart loses nothing.
//! The REST API is documented in `docs/gateway-api.md`.
//!
//! The gateway uses `kaon-proto` and `kaon-client` only: it talks to a cluster's
//! scheduler as any client does, with the cluster's secret, and never links the
//! scheduler's or the worker's insides.

pub mod api;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod clusters;
pub mod config;
pub mod db;
pub mod options;
pub mod proxy;
pub mod quota;
pub mod reconcile;
pub mod server;

/// Fills `buf` from the kernel's random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))
}

/// `n` random bytes as lowercase hex (falls back to time and pid, never panics).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if random_bytes(&mut buf).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ ((std::process::id() as u128) << 64);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left((i * 8) as u32 % 128) & 0xff) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
