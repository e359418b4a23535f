//! Cluster options: what a user asks for, checked against the configured bounds
//! and turned into the [`ClusterOptions`] a backend launches with; and the
//! description of those options that `GET /options` returns.

use crate::backend::ClusterOptions;
use crate::config::OptionsConfig;
use crate::quota::{Limits, SizeValue};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The option names users may set.
pub const NAMES: [&str; 5] = [
    "worker_threads",
    "worker_memory",
    "image",
    "environment",
    "idle_timeout",
];

/// Validates a user's options (a JSON object; absent fields take the defaults).
pub fn resolve(config: &OptionsConfig, requested: &Value) -> Result<ClusterOptions, String> {
    let empty = serde_json::Map::new();
    let map = match requested {
        Value::Null => &empty,
        Value::Object(m) => m,
        other => return Err(format!("options must be a JSON object, not {other}")),
    };
    for key in map.keys() {
        if !NAMES.contains(&key.as_str()) {
            return Err(format!(
                "unknown cluster option {key:?}; the options are {}",
                NAMES.join(", ")
            ));
        }
    }
    let get = |k: &str| map.get(k).filter(|v| !v.is_null());
    let worker_threads = match get("worker_threads") {
        None => config.worker_threads,
        Some(v) => {
            let n = v
                .as_u64()
                .ok_or_else(|| format!("worker_threads must be a whole number, not {v}"))?;
            if n == 0 || n > config.max_worker_threads as u64 {
                return Err(format!(
                    "worker_threads {n} is out of range: 1 to {}",
                    config.max_worker_threads
                ));
            }
            n as u32
        }
    };
    let worker_memory = match get("worker_memory") {
        None => config.worker_memory,
        Some(v) => {
            let size: SizeValue = serde_json::from_value(v.clone()).map_err(|_| {
                format!("worker_memory must be bytes or a size such as \"4GiB\", not {v}")
            })?;
            let bytes = size.bytes().map_err(|e| format!("worker_memory: {e}"))?;
            if bytes < config.min_worker_memory || bytes > config.max_worker_memory {
                return Err(format!(
                    "worker_memory {bytes} is out of range: {} to {} bytes",
                    config.min_worker_memory, config.max_worker_memory
                ));
            }
            bytes
        }
    };
    let image = match get("image") {
        None => config.image.clone(),
        Some(Value::String(s)) => {
            if !config.allowed_images.is_empty() && !config.allowed_images.contains(s) {
                return Err(format!(
                    "image {s:?} is not allowed; choose one of {}",
                    config.allowed_images.join(", ")
                ));
            }
            Some(s.clone())
        }
        Some(v) => return Err(format!("image must be a string, not {v}")),
    };
    let environment = match get("environment") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => {
            let mut env = BTreeMap::new();
            for (k, v) in m {
                let valid_name = !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid_name {
                    return Err(format!("environment: {k:?} is not a variable name"));
                }
                if k.starts_with("KAON_") {
                    return Err(format!(
                        "environment: {k} is set by the gateway and cannot be chosen"
                    ));
                }
                // Variables that change how programs are loaded would run the
                // user's code as the gateway's own user.
                if k.starts_with("LD_") || k.starts_with("DYLD_") || k == "GLIBC_TUNABLES" {
                    return Err(format!("environment: {k} may not be set"));
                }
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!("environment: {k} must be a string, not {other}"));
                    }
                };
                if v.contains('\0') {
                    return Err(format!("environment: {k} contains a NUL byte"));
                }
                env.insert(k.clone(), v);
            }
            env
        }
        Some(v) => return Err(format!("environment must be an object of strings, not {v}")),
    };
    let idle_timeout = match get("idle_timeout") {
        None => config.idle_timeout,
        Some(v) => {
            let n = v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f.ceil() as u64))
                .ok_or_else(|| format!("idle_timeout must be seconds (0: never), not {v}"))?;
            let max = config.max_idle_timeout;
            if max > 0 && (n == 0 || n > max) {
                return Err(format!(
                    "idle_timeout {n} is out of range: 1 to {max} seconds \
                     (clusters without work are stopped at the latest after {max} s)"
                ));
            }
            n
        }
    };
    Ok(ClusterOptions {
        worker_threads,
        worker_memory,
        image,
        environment,
        idle_timeout,
    })
}

/// `GET /options`: each option's type, default, bounds and description, with
/// the user's quota limits.
pub fn describe(config: &OptionsConfig, limits: &Limits) -> Value {
    let mut threads_max = config.max_worker_threads as u64;
    if let Some(c) = limits.max_cluster_cores {
        threads_max = threads_max.min(c.max(1));
    }
    let mut memory_max = config.max_worker_memory;
    if let Some(m) = limits.max_cluster_memory {
        memory_max = memory_max.min(m.max(config.min_worker_memory));
    }
    let mut images = json!({
        "type": "string",
        "default": config.image,
        "description": "Container image (Kubernetes) or software environment (Slurm) \
                        of the scheduler and workers",
    });
    if !config.allowed_images.is_empty() {
        images["choices"] = json!(config.allowed_images);
    }
    json!({
        "options": {
            "worker_threads": {
                "type": "integer", "default": config.worker_threads, "min": 1,
                "max": threads_max,
                "description": "Kernel threads (cores) of each worker",
            },
            "worker_memory": {
                "type": "integer", "default": config.worker_memory,
                "min": config.min_worker_memory, "max": memory_max,
                "description": "Memory limit of each worker, in bytes (or a size such as \"4GiB\")",
            },
            "image": images,
            "environment": {
                "type": "object", "default": {},
                "description": "Extra environment variables for the scheduler and workers",
            },
            "idle_timeout": {
                "type": "integer", "default": config.idle_timeout,
                "min": if config.max_idle_timeout > 0 { 1 } else { 0 },
                "max": config.max_idle_timeout,
                "description": "Seconds without work after which the cluster is stopped (0: never)",
            },
        },
        "limits": limits_json(limits),
    })
}

fn limits_json(l: &Limits) -> Value {
    json!({
        "max_clusters": l.max_clusters,
        "max_workers": l.max_workers,
        "max_cores": l.max_cores,
        "max_memory": l.max_memory,
        "max_cluster_workers": l.max_cluster_workers,
        "max_cluster_cores": l.max_cluster_cores,
        "max_cluster_memory": l.max_cluster_memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_bounds_are_checked() {
        let c = OptionsConfig::default();
        let o = resolve(&c, &Value::Null).unwrap();
        assert_eq!(o.worker_threads, c.worker_threads);
        assert_eq!(o.idle_timeout, c.idle_timeout);
        let o = resolve(
            &c,
            &json!({"worker_threads": 2, "worker_memory": "1GiB", "environment": {"A": "b"}}),
        )
        .unwrap();
        assert_eq!((o.worker_threads, o.worker_memory), (2, 1 << 30));
        assert_eq!(o.environment["A"], "b");
        for bad in [
            json!({"worker_threads": 0}),
            json!({"worker_threads": 1000}),
            json!({"worker_threads": "x"}),
            json!({"worker_memory": "1KB"}),
            json!({"colour": "blue"}),
            json!({"environment": {"KAON_TOKEN": "x"}}),
            json!({"environment": {"A B": "x"}}),
            json!({"environment": {"LD_PRELOAD": "/tmp/x.so"}}),
            json!({"idle_timeout": 0}),
            json!([1]),
        ] {
            assert!(resolve(&c, &bad).is_err(), "{bad}");
        }
        let e = resolve(&c, &json!({"colour": "blue"})).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn the_description_names_every_option() {
        let d = describe(&OptionsConfig::default(), &Limits::default());
        for n in NAMES {
            assert!(d["options"][n]["description"].is_string(), "{n}");
        }
    }
}
