//! What the gateway's integration tests share: where the `kaon` binary and the
//! repository are, free ports, a private single-node Slurm, and the seed expression's
//! direct computation. Each test binary uses a part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate lives in the workspace")
        .to_path_buf()
}

/// target/debug/kaon (or under `CARGO_TARGET_DIR`), with a clear message when it is
/// missing or older than the flags a test needs (`kaon SUBCOMMAND --help` must list
/// them).
pub fn kaon_binary(subcommand: &str, flags: &[&str]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let kaon = target.join("debug").join("kaon");
    assert!(
        kaon.is_file(),
        "{} is missing: run `cargo build -p kaon-cli` before these tests",
        kaon.display()
    );
    let help = Command::new(&kaon)
        .args([subcommand, "--help"])
        .output()
        .unwrap_or_else(|e| panic!("run kaon {subcommand} --help: {e}"));
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in flags {
        assert!(
            help.contains(flag),
            "{} {subcommand} has no {flag}: rebuild it with `cargo build -p kaon-cli`",
            kaon.display()
        );
    }
    kaon
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private single-node Slurm; stopped (jobs first) when dropped.
pub struct Slurm {
    pub dir: tempfile::TempDir,
    /// Wrappers of sbatch/squeue/scancel that point at this Slurm's configuration.
    pub bin: PathBuf,
}

impl Slurm {
    pub fn start() -> Slurm {
        let dir = tempfile::Builder::new()
            .prefix("kaon-slurm-test")
            .tempdir()
            .expect("scratch folder");
        let script = repo_root().join("tests/gateway/slurm/start.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .env("SLURMCTLD_PORT", free_port().to_string())
            .env("SLURMD_PORT", free_port().to_string())
            .output()
            .expect("run tests/gateway/slurm/start.sh");
        let slurm = Slurm {
            bin: dir.path().join("bin"),
            dir,
        };
        // Fail loudly: this test exists to exercise a real Slurm.
        assert!(
            out.status.success(),
            "cannot start Slurm with {} ({}):\n{}\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(&slurm.bin).unwrap();
        for cmd in ["sbatch", "squeue", "scancel"] {
            let path = slurm.bin.join(cmd);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\nSLURM_CONF={} exec {cmd} \"$@\"\n",
                    slurm.conf().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        slurm
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    pub fn scancel(&self, job_id: &str) {
        let out = Command::new("scancel")
            .env("SLURM_CONF", self.conf())
            .arg(job_id)
            .output()
            .expect("run scancel");
        assert!(out.status.success(), "scancel {job_id}: {out:?}");
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let stop = repo_root().join("tests/gateway/slurm/stop.sh");
        let _ = Command::new("bash").arg(stop).arg(self.dir.path()).status();
    }
}

/// Computes the seed expression over 80 chunks (about a second on two cores, long
/// enough to cancel a worker while it runs) twice: undisturbed, then with the worker
/// job `victim` cancelled by `scancel` once some but under half of its tasks are done.
/// The answers must be the same.
pub async fn survives_a_cancelled_worker_job(
    client: &kaon_client::Client,
    slurm: &Slurm,
    victim: &str,
) {
    let (shape, chunks) = ([8000u64, 1000, 50], [100u64, 1000, 50]);
    let z = kaon_client::seed_expression(&shape, &chunks).unwrap();
    let reference = client
        .compute(&[&z], |_| {})
        .await
        .expect("undisturbed run");
    let mut cancelled = false;
    let got = client
        .compute(&[&z], |p| {
            let done: u64 = p.layers.iter().map(|l| l.done).sum();
            let total: u64 = p.layers.iter().map(|l| l.total).sum();
            if !cancelled && done > 0 && done < total / 2 {
                slurm.scancel(victim);
                cancelled = true;
            }
        })
        .await
        .expect("the computation survives a cancelled worker job");
    assert!(
        cancelled,
        "the computation ended before the worker could be cancelled"
    );
    assert_eq!(got, reference, "the same answer as the undisturbed run");
}

/// The seed expression computed directly, element by element.
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
                s += kaon_kernels::uniform(1, c, e).asin() + kaon_kernels::uniform(2, c, e).acos();
            }
            out[(off[0] + r) as usize] += s;
        }
    }
    out
}
