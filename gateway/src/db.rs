//! The cluster records in SQLite: one table, one row per cluster, written on every
//! change so that a restarted gateway finds all its clusters again.

use crate::backend::{ClusterOptions, SchedulerHandle, WorkerHandle};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;

/// A cluster's life: pending (scheduler starting), running, stopping, and the two
/// ends, stopped and failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Stopping,
    Stopped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pending" => Status::Pending,
            "running" => Status::Running,
            "stopping" => Status::Stopping,
            "stopped" => Status::Stopped,
            "failed" => Status::Failed,
            _ => return None,
        })
    }

    /// Pending, running or stopping: it holds resources and counts for quotas.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Pending | Status::Running | Status::Stopping)
    }
}

/// A worker job the gateway started, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedWorker {
    #[serde(flatten)]
    pub handle: WorkerHandle,
    /// Unix time it was started.
    pub started: f64,
    /// Whether the scheduler has listed it (so leaving means it retired or died).
    #[serde(default)]
    pub joined: bool,
}

/// Adaptive scaling bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdaptRange {
    pub minimum: u64,
    pub maximum: u64,
}

/// One cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRecord {
    pub name: String,
    pub user: String,
    pub token: String,
    pub backend: String,
    pub options: ClusterOptions,
    pub status: Status,
    pub reason: Option<String>,
    pub scheduler: Option<SchedulerHandle>,
    pub workers: Vec<TrackedWorker>,
    pub desired_workers: u64,
    pub adapt: Option<AdaptRange>,
    /// The owner's groups when last seen (quotas applied without a request of theirs).
    pub groups: Vec<String>,
    /// Unix times.
    pub created: f64,
    pub updated: f64,
}

/// Unix time now, in seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The database; calls are short, so one connection behind a mutex serves all.
pub struct Db {
    conn: Mutex<Connection>,
}

const COLUMNS: &str = "name, user, token, backend, options, status, reason, scheduler, \
                       workers, desired_workers, adapt, created, updated, groups";

fn err(e: impl std::fmt::Display) -> String {
    format!("gateway database: {e}")
}

impl Db {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Db, String> {
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the database {}: {e}", path.display()))?;
        Self::init(conn).map_err(|e| format!("database {}: {e}", path.display()))
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Db, String> {
        Self::init(Connection::open_in_memory().map_err(err)?)
    }

    fn init(conn: Connection) -> Result<Db, String> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // WAL keeps readers and the writer apart; in-memory databases ignore it.
        let _: Option<String> = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS clusters (
                name TEXT PRIMARY KEY,
                user TEXT NOT NULL,
                token TEXT NOT NULL,
                backend TEXT NOT NULL,
                options TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                scheduler TEXT,
                workers TEXT NOT NULL,
                desired_workers INTEGER NOT NULL,
                adapt TEXT,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                groups TEXT NOT NULL DEFAULT '[]'
            );
            CREATE INDEX IF NOT EXISTS clusters_user ON clusters(user);
            CREATE INDEX IF NOT EXISTS clusters_status ON clusters(status);",
        )
        .map_err(err)?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a new cluster; fails if the name is taken.
    pub fn insert(&self, r: &ClusterRecord) -> Result<(), String> {
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO clusters ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            params![
                r.name,
                r.user,
                r.token,
                r.backend,
                to_json(&r.options)?,
                r.status.as_str(),
                r.reason,
                r.scheduler.as_ref().map(to_json).transpose()?,
                to_json(&r.workers)?,
                r.desired_workers as i64,
                r.adapt.as_ref().map(to_json).transpose()?,
                r.created,
                r.updated,
                to_json(&r.groups)?,
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    /// Writes every field of an existing cluster (its `updated` time is set now).
    pub fn update(&self, r: &mut ClusterRecord) -> Result<(), String> {
        r.updated = now();
        let conn = self.conn();
        let n = conn
            .execute(
                "UPDATE clusters SET user = ?2, token = ?3, backend = ?4, options = ?5, \
                 status = ?6, reason = ?7, scheduler = ?8, workers = ?9, desired_workers = ?10, \
                 adapt = ?11, created = ?12, updated = ?13, groups = ?14 WHERE name = ?1",
                params![
                    r.name,
                    r.user,
                    r.token,
                    r.backend,
                    to_json(&r.options)?,
                    r.status.as_str(),
                    r.reason,
                    r.scheduler.as_ref().map(to_json).transpose()?,
                    to_json(&r.workers)?,
                    r.desired_workers as i64,
                    r.adapt.as_ref().map(to_json).transpose()?,
                    r.created,
                    r.updated,
                    to_json(&r.groups)?,
                ],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(format!("gateway database: no cluster {} to update", r.name));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Option<ClusterRecord>, String> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM clusters WHERE name = ?1"),
            [name],
            row,
        )
        .optional()
        .map_err(err)?
        .transpose()
    }

    /// Clusters, oldest first: of one user or of everyone, all or only those not
    /// stopped.
    pub fn list(
        &self,
        user: Option<&str>,
        include_stopped: bool,
    ) -> Result<Vec<ClusterRecord>, String> {
        let conn = self.conn();
        let mut sql = format!("SELECT {COLUMNS} FROM clusters WHERE (?1 IS NULL OR user = ?1)");
        if !include_stopped {
            sql.push_str(" AND status != 'stopped'");
        }
        sql.push_str(" ORDER BY created, name");
        let mut stmt = conn.prepare(&sql).map_err(err)?;
        let rows = stmt.query_map([user], row).map_err(err)?;
        rows.map(|r| r.map_err(err)?).collect()
    }

    /// Clusters that hold resources (pending, running, stopping).
    pub fn active(&self, user: Option<&str>) -> Result<Vec<ClusterRecord>, String> {
        Ok(self
            .list(user, false)?
            .into_iter()
            .filter(|c| c.status.is_active())
            .collect())
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string(v).map_err(err)
}

fn from_json<T: for<'de> Deserialize<'de>>(
    name: &str,
    column: &str,
    text: &str,
) -> Result<T, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("gateway database: cluster {name}: column {column} is damaged: {e}"))
}

/// One row; a damaged row is an error that names the cluster, not a panic.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ClusterRecord, String>> {
    let name: String = r.get(0)?;
    let status: String = r.get(5)?;
    let options: String = r.get(4)?;
    let scheduler: Option<String> = r.get(7)?;
    let workers: String = r.get(8)?;
    let adapt: Option<String> = r.get(10)?;
    let desired: i64 = r.get(9)?;
    let groups: String = r.get(13)?;
    let (user, token, backend, reason, created, updated) = (
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(6)?,
        r.get(11)?,
        r.get(12)?,
    );
    Ok((|| {
        Ok(ClusterRecord {
            status: Status::parse(&status).ok_or_else(|| {
                format!("gateway database: cluster {name}: unknown status {status:?}")
            })?,
            options: from_json(&name, "options", &options)?,
            scheduler: scheduler
                .map(|s| from_json(&name, "scheduler", &s))
                .transpose()?,
            workers: from_json(&name, "workers", &workers)?,
            adapt: adapt.map(|s| from_json(&name, "adapt", &s)).transpose()?,
            groups: from_json(&name, "groups", &groups)?,
            desired_workers: desired.max(0) as u64,
            user,
            token,
            backend,
            reason,
            created,
            updated,
            name,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn record(name: &str, user: &str) -> ClusterRecord {
        ClusterRecord {
            name: name.into(),
            user: user.into(),
            token: "t".into(),
            backend: "local".into(),
            options: ClusterOptions {
                worker_threads: 1,
                worker_memory: 1 << 30,
                image: None,
                environment: BTreeMap::new(),
                idle_timeout: 60,
            },
            status: Status::Pending,
            reason: None,
            scheduler: None,
            workers: vec![],
            desired_workers: 0,
            adapt: None,
            groups: vec!["g".into()],
            created: now(),
            updated: now(),
        }
    }

    #[test]
    fn records_round_trip_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite");
        {
            let db = Db::open(&path).unwrap();
            let mut a = record("alice-1", "alice");
            db.insert(&a).unwrap();
            assert!(db.insert(&a).is_err(), "names are unique");
            db.insert(&record("bob-1", "bob")).unwrap();
            a.status = Status::Running;
            a.scheduler = Some(SchedulerHandle {
                address: "127.0.0.1:1".into(),
                dashboard: "127.0.0.1:2".into(),
                job: serde_json::json!({"pid": 5}),
            });
            a.workers.push(TrackedWorker {
                handle: WorkerHandle {
                    name: "w".into(),
                    job: serde_json::json!({"pid": 6}),
                },
                started: 1.0,
                joined: false,
            });
            a.adapt = Some(AdaptRange {
                minimum: 1,
                maximum: 3,
            });
            db.update(&mut a).unwrap();
        }
        let db = Db::open(&path).unwrap();
        let a = db.get("alice-1").unwrap().unwrap();
        assert_eq!(a.status, Status::Running);
        assert_eq!(a.workers.len(), 1);
        assert_eq!(a.adapt.unwrap().maximum, 3);
        assert_eq!(a.groups, vec!["g".to_string()]);
        assert_eq!(db.list(Some("alice"), false).unwrap().len(), 1);
        assert_eq!(db.list(None, false).unwrap().len(), 2);
        let mut b = db.get("bob-1").unwrap().unwrap();
        b.status = Status::Stopped;
        db.update(&mut b).unwrap();
        assert_eq!(db.list(None, false).unwrap().len(), 1);
        assert_eq!(db.list(None, true).unwrap().len(), 2);
        assert_eq!(db.active(None).unwrap().len(), 1);
        assert!(db.get("nobody").unwrap().is_none());
    }
}
