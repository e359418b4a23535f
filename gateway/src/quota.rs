//! Per-user quotas: the limits that apply to a user (defaults and group overrides)
//! and the check of a cluster's planned size against them. Pure logic, no I/O.
//!
//! A limit a user's groups set overrides the default; when several of the user's
//! groups set the same limit, the most generous value wins (an unset value in a
//! group means "not overridden"; `0` is a real limit of zero).

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Limits; `None` is unlimited. Memory in bytes (the file also takes "16GiB").
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Clusters a user may have at once (pending, running or stopping).
    pub max_clusters: Option<u64>,
    /// Workers in all of a user's clusters together.
    pub max_workers: Option<u64>,
    /// Cores (workers x threads) in all of a user's clusters together.
    pub max_cores: Option<u64>,
    /// Worker memory in all of a user's clusters together.
    #[serde(deserialize_with = "size_opt")]
    pub max_memory: Option<u64>,
    /// Workers in one cluster.
    pub max_cluster_workers: Option<u64>,
    /// Cores in one cluster.
    pub max_cluster_cores: Option<u64>,
    /// Worker memory in one cluster.
    #[serde(deserialize_with = "size_opt")]
    pub max_cluster_memory: Option<u64>,
}

/// The names of the limits, as errors and the API's `limit` field give them.
pub const LIMIT_NAMES: [&str; 7] = [
    "max_clusters",
    "max_workers",
    "max_cores",
    "max_memory",
    "max_cluster_workers",
    "max_cluster_cores",
    "max_cluster_memory",
];

impl Limits {
    fn fields(&self) -> [Option<u64>; 7] {
        [
            self.max_clusters,
            self.max_workers,
            self.max_cores,
            self.max_memory,
            self.max_cluster_workers,
            self.max_cluster_cores,
            self.max_cluster_memory,
        ]
    }

    fn from_fields(f: [Option<u64>; 7]) -> Limits {
        Limits {
            max_clusters: f[0],
            max_workers: f[1],
            max_cores: f[2],
            max_memory: f[3],
            max_cluster_workers: f[4],
            max_cluster_cores: f[5],
            max_cluster_memory: f[6],
        }
    }

    /// The limits of a user in `groups`: per limit, the most generous value among
    /// the user's groups that set it, else the default.
    pub fn for_user(
        default: &Limits,
        overrides: &BTreeMap<String, Limits>,
        groups: &[String],
    ) -> Limits {
        let mut out = default.fields();
        let mut overridden = [false; 7];
        for g in groups {
            let Some(limits) = overrides.get(g) else {
                continue;
            };
            for (i, value) in limits.fields().into_iter().enumerate() {
                if let Some(v) = value {
                    out[i] = if overridden[i] {
                        out[i].map(|o| o.max(v))
                    } else {
                        Some(v)
                    };
                    overridden[i] = true;
                }
            }
        }
        Limits::from_fields(out)
    }
}

/// The size of one cluster, as the quota sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSize {
    pub name: String,
    pub workers: u64,
    pub threads: u64,
    pub memory: u64,
}

/// A refused request: which limit, whose, and the numbers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("quota {limit} of user {user}: {message}")]
pub struct QuotaError {
    pub limit: &'static str,
    pub user: String,
    pub message: String,
}

/// Whether `planned` (a new cluster, or a new size of one of `current`) fits the
/// limits next to the user's other clusters in `current`.
pub fn check(
    limits: &Limits,
    user: &str,
    current: &[ClusterSize],
    planned: &ClusterSize,
) -> Result<(), QuotaError> {
    let others: Vec<&ClusterSize> = current.iter().filter(|c| c.name != planned.name).collect();
    let is_new = others.len() == current.len();
    let fail = |limit: &'static str, message: String| QuotaError {
        limit,
        user: user.to_string(),
        message,
    };
    if is_new && let Some(max) = limits.max_clusters {
        let n = others.len() as u64 + 1;
        if n > max {
            return Err(fail(
                "max_clusters",
                format!(
                    "a new cluster would make {n} clusters, over the limit of {max} \
                     (stop one of {} first)",
                    others
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let cores = planned.workers.saturating_mul(planned.threads);
    let memory = planned.workers.saturating_mul(planned.memory);
    let per_cluster = [
        (
            "max_cluster_workers",
            planned.workers,
            limits.max_cluster_workers,
            "workers",
        ),
        (
            "max_cluster_cores",
            cores,
            limits.max_cluster_cores,
            "cores",
        ),
        (
            "max_cluster_memory",
            memory,
            limits.max_cluster_memory,
            "bytes of worker memory",
        ),
    ];
    for (limit, value, max, unit) in per_cluster {
        if let Some(max) = max
            && value > max
        {
            return Err(fail(
                limit,
                format!(
                    "cluster {} would have {value} {unit}, over the limit of {max} per cluster",
                    planned.name
                ),
            ));
        }
    }
    let sum = |f: &dyn Fn(&ClusterSize) -> u64| -> u64 {
        others.iter().map(|c| f(c)).fold(0u64, u64::saturating_add)
    };
    let total_workers = sum(&|c| c.workers).saturating_add(planned.workers);
    let total_cores = sum(&|c| c.workers.saturating_mul(c.threads)).saturating_add(cores);
    let total_memory = sum(&|c| c.workers.saturating_mul(c.memory)).saturating_add(memory);
    let per_user = [
        ("max_workers", total_workers, limits.max_workers, "workers"),
        ("max_cores", total_cores, limits.max_cores, "cores"),
        (
            "max_memory",
            total_memory,
            limits.max_memory,
            "bytes of worker memory",
        ),
    ];
    for (limit, value, max, unit) in per_user {
        if let Some(max) = max
            && value > max
        {
            return Err(fail(
                limit,
                format!(
                    "{value} {unit} in all their clusters (cluster {} with {} workers) would \
                     exceed the limit of {max}",
                    planned.name, planned.workers
                ),
            ));
        }
    }
    Ok(())
}

/// How many of `wanted` more workers `cluster` (one of `current`) may start; with
/// the limit that stops the rest, if any.
pub fn allowed_more(
    limits: &Limits,
    user: &str,
    current: &[ClusterSize],
    cluster: &ClusterSize,
    wanted: u64,
) -> (u64, Option<QuotaError>) {
    let mut first_error = None;
    for more in (0..=wanted).rev() {
        let planned = ClusterSize {
            workers: cluster.workers.saturating_add(more),
            ..cluster.clone()
        };
        match check(limits, user, current, &planned) {
            Ok(()) => return (more, first_error),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (0, first_error)
}

/// Parses a size: bytes, or a number with a unit (KB, MB, GB, TB: powers of 1000;
/// KiB, MiB, GiB, TiB: powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 4GiB or 500MB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        other => return Err(format!("{text:?}: unknown size unit {other:?}")),
    };
    let bytes = number * factor;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} is not a valid size"));
    }
    Ok(bytes as u64)
}

/// A size given as a number of bytes or as a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    pub(crate) fn bytes(self) -> Result<u64, String> {
        match self {
            SizeValue::Bytes(b) => Ok(b),
            SizeValue::Text(t) => parse_size(&t),
        }
    }
}

pub(crate) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    SizeValue::deserialize(d)?
        .bytes()
        .map_err(serde::de::Error::custom)
}

fn size_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v: Option<SizeValue> = Option::deserialize(d)?;
    v.map(|v| v.bytes().map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(name: &str, workers: u64) -> ClusterSize {
        ClusterSize {
            name: name.into(),
            workers,
            threads: 2,
            memory: 1 << 30,
        }
    }

    #[test]
    fn the_most_generous_group_wins_and_unset_means_default() {
        let default = Limits {
            max_clusters: Some(1),
            max_workers: Some(4),
            ..Limits::default()
        };
        let mut groups = BTreeMap::new();
        groups.insert(
            "a".to_string(),
            Limits {
                max_clusters: Some(3),
                ..Limits::default()
            },
        );
        groups.insert(
            "b".to_string(),
            Limits {
                max_clusters: Some(2),
                max_workers: Some(2),
                ..Limits::default()
            },
        );
        let l = Limits::for_user(&default, &groups, &["a".into(), "b".into()]);
        assert_eq!(l.max_clusters, Some(3));
        // Only group b sets max_workers: it overrides the default, even downwards.
        assert_eq!(l.max_workers, Some(2));
        let l = Limits::for_user(&default, &groups, &["nobody".into()]);
        assert_eq!(l, default);
    }

    #[test]
    fn cluster_counts_only_grow_with_new_clusters() {
        let limits = Limits {
            max_clusters: Some(1),
            ..Limits::default()
        };
        let current = vec![size("alice-1", 1)];
        let e = check(&limits, "alice", &current, &size("alice-2", 0)).unwrap_err();
        assert_eq!(e.limit, "max_clusters");
        assert!(e.to_string().contains("alice"), "{e}");
        assert!(e.to_string().contains("limit of 1"), "{e}");
        // Resizing the existing one is not a new cluster.
        check(&limits, "alice", &current, &size("alice-1", 5)).unwrap();
    }

    #[test]
    fn per_cluster_and_per_user_limits_name_the_numbers() {
        let limits = Limits {
            max_cluster_workers: Some(3),
            max_workers: Some(3),
            max_cores: Some(100),
            max_memory: Some(5 << 30),
            ..Limits::default()
        };
        let current = vec![size("a-1", 2), size("a-2", 1)];
        let e = check(&limits, "a", &current, &size("a-1", 4)).unwrap_err();
        assert_eq!(e.limit, "max_cluster_workers");
        assert!(e.message.contains("4 workers"), "{e}");
        let e = check(&limits, "a", &current, &size("a-1", 3)).unwrap_err();
        assert_eq!(e.limit, "max_workers");
        assert!(e.message.contains("4"), "{e}");
        check(&limits, "a", &current, &size("a-1", 2)).unwrap();
        let limits = Limits {
            max_cluster_cores: Some(3),
            ..Limits::default()
        };
        assert_eq!(
            check(&limits, "a", &[], &size("a-3", 2)).unwrap_err().limit,
            "max_cluster_cores"
        );
        let limits = Limits {
            max_memory: Some(2 << 30),
            ..Limits::default()
        };
        assert_eq!(
            check(&limits, "a", &current, &size("a-3", 1))
                .unwrap_err()
                .limit,
            "max_memory"
        );
    }

    #[test]
    fn allowed_more_stops_at_the_limit() {
        let limits = Limits {
            max_workers: Some(4),
            ..Limits::default()
        };
        let current = vec![size("a-1", 1), size("a-2", 1)];
        let (n, e) = allowed_more(&limits, "a", &current, &current[0], 5);
        assert_eq!(n, 2);
        assert_eq!(e.unwrap().limit, "max_workers");
        let (n, e) = allowed_more(&limits, "a", &current, &current[0], 1);
        assert_eq!((n, e), (1, None));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        assert!(parse_size("x").is_err());
        assert!(parse_size("3 parsecs").is_err());
        let l: Limits = toml::from_str("max_memory = \"1KiB\"\nmax_cluster_memory = 7").unwrap();
        assert_eq!(l.max_memory, Some(1024));
        assert_eq!(l.max_cluster_memory, Some(7));
    }
}
