//! What the dashboard endpoint serves, computed from the core's state: the JSON
//! snapshot the page and the API use, and Prometheus metrics.

use super::core::{Core, worker_label};
use crate::state::GraphStatus;
use serde_json::{Value, json};
use std::fmt::Write;

impl Core {
    fn workers_json(&self) -> Vec<Value> {
        let held: std::collections::HashMap<_, _> = self
            .state
            .workers()
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut ids: Vec<_> = self.workers.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .map(|id| {
                let w = &self.workers[id];
                let view = held.get(id);
                json!({
                    "id": id,
                    "name": w.register.name,
                    "address": w.register.data_address,
                    "nthreads": w.register.nthreads,
                    "pid": w.register.pid,
                    "cpu_percent": w.heartbeat.cpu_percent,
                    "memory": w.heartbeat.memory,
                    "memory_limit": w.register.memory_limit,
                    "spilled": w.heartbeat.spilled,
                    "executing": w.heartbeat.executing,
                    "ready": w.heartbeat.ready,
                    "processing": view.map_or(0, |v| v.processing),
                    "in_memory": view.map_or(0, |v| v.held_tasks),
                    "held_bytes": view.map_or(0, |v| v.held_bytes),
                    "transfer_bytes": w.heartbeat.transfer_bytes,
                    "paused": w.heartbeat.paused,
                    "retiring": w.retiring,
                })
            })
            .collect()
    }

    fn graphs_json(&self) -> Vec<Value> {
        let mut ids: Vec<_> = self.graphs.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|&id| {
                let p = self.state.graph_progress(id)?;
                let (status, error) = match &p.status {
                    GraphStatus::Running => ("running", Value::Null),
                    GraphStatus::Finished => ("finished", Value::Null),
                    GraphStatus::Failed(f) => {
                        ("failed", json!({"key": f.key, "message": f.message}))
                    }
                };
                let layers: Vec<Value> = p
                    .layers
                    .iter()
                    .map(|l| {
                        json!({
                            "id": format!("{id}-{}", l.layer),
                            "graph": id, "layer": l.layer, "name": l.name,
                            "total": l.total, "done": l.done, "running": l.running,
                            "waiting": l.waiting, "erred": l.erred,
                        })
                    })
                    .collect();
                Some(json!({"id": id, "status": status, "error": error, "layers": layers}))
            })
            .collect()
    }

    /// Cluster-wide figures: `GET /api/v1/status`.
    fn status_json(&self) -> Value {
        let mut tasks = [0u64; 4]; // waiting, running, done, erred
        for g in self.graphs.keys() {
            if let Some(p) = self.state.graph_progress(*g) {
                for l in p.layers {
                    tasks[0] += l.waiting;
                    tasks[1] += l.running;
                    tasks[2] += l.done;
                    tasks[3] += l.erred;
                }
            }
        }
        let hb = self.workers.values().map(|w| &w.heartbeat);
        let memory: u64 = hb.clone().map(|h| h.memory).sum();
        let spilled: u64 = hb.map(|h| h.spilled).sum();
        let adaptive = match &self.adaptive {
            Some(a) => {
                json!({"active": true, "minimum": a.config().minimum, "maximum": a.config().maximum})
            }
            None => json!({"active": false}),
        };
        json!({
            "workers": self.workers.len(),
            "threads": self.workers.values().map(|w| w.register.nthreads as u64).sum::<u64>(),
            "memory": memory,
            "memory_limit": self.workers.values().map(|w| w.register.memory_limit).sum::<u64>(),
            "spilled": spilled,
            "desired_workers": self.desired.unwrap_or(self.live_workers()),
            "adaptive": adaptive,
            "graphs_running": self.state.graphs_running(),
            "transitions": self.state.transitions(),
            "tasks_done_total": self.monitor.tasks_done,
            "tasks_per_s": self.monitor.tasks_per_s(),
            "tasks": {"waiting": tasks[0], "running": tasks[1], "done": tasks[2], "erred": tasks[3]},
            "errors": self.monitor.errors(),
        })
    }

    /// Everything the page shows, in one message.
    pub(super) fn snapshot(&mut self, since: Option<u64>) -> Value {
        json!({
            "status": self.status_json(),
            "workers": self.workers_json(),
            "graphs": self.graphs_json(),
            "task_stream": self.monitor.stream_since(since),
            "samples": self.monitor.samples(),
            "seq": self.monitor.last_seq(),
        })
    }

    /// One layer's tasks and their states: `GET /api/v1/layers/{graph}-{layer}/tasks`.
    pub(super) fn layer_tasks(&self, graph: u64, layer: u32) -> Option<Value> {
        let g = self.graphs.get(&graph)?;
        if layer as usize >= g.graph.layers().len() {
            return None;
        }
        let states = self.state.task_states(graph, layer)?;
        let tasks: Vec<Value> = states
            .into_iter()
            .take(100_000)
            .enumerate()
            .map(|(chunk, (state, holders))| {
                let task = kaon_graph::TaskId {
                    layer,
                    chunk: chunk as u64,
                };
                json!({
                    "key": g.graph.task_key(task),
                    "state": state,
                    "workers": holders.iter().map(|w| worker_label(&self.workers, *w)).collect::<Vec<_>>(),
                })
            })
            .collect();
        Some(json!({
            "graph": graph, "layer": layer, "name": g.graph.layer(layer).name,
            "total": g.graph.layer_tasks(layer), "tasks": tasks,
        }))
    }

    /// Prometheus text exposition.
    pub(super) fn metrics(&self) -> String {
        let s = self.status_json();
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let num = |v: &Value| v.as_f64().unwrap_or(0.0);
        let tasks = &s["tasks"];
        gauge(
            "kaon_scheduler_tasks",
            "Tasks of live graphs by state.",
            "gauge",
            &["waiting", "running", "done", "erred"]
                .iter()
                .map(|st| (format!("{{state=\"{st}\"}}"), num(&tasks[*st])))
                .collect::<Vec<_>>(),
        );
        gauge(
            "kaon_scheduler_transitions_total",
            "Task state transitions since the scheduler started.",
            "counter",
            &[(String::new(), num(&s["transitions"]))],
        );
        gauge(
            "kaon_scheduler_tasks_finished_total",
            "Tasks finished since the scheduler started.",
            "counter",
            &[(String::new(), num(&s["tasks_done_total"]))],
        );
        gauge(
            "kaon_scheduler_workers",
            "Connected workers.",
            "gauge",
            &[(String::new(), num(&s["workers"]))],
        );
        gauge(
            "kaon_scheduler_desired_workers",
            "Workers the cluster is scaling to.",
            "gauge",
            &[(String::new(), num(&s["desired_workers"]))],
        );
        gauge(
            "kaon_scheduler_graphs_running",
            "Graphs submitted and not finished.",
            "gauge",
            &[(String::new(), num(&s["graphs_running"]))],
        );
        let workers = self.workers_json();
        let per_worker = |field: &str| -> Vec<(String, f64)> {
            workers
                .iter()
                .map(|w| {
                    let name = w["name"]
                        .as_str()
                        .unwrap_or("")
                        .replace(['"', '\\', '\n'], "_");
                    (format!("{{worker=\"{name}\"}}"), num(&w[field]))
                })
                .collect()
        };
        for (name, field, help, kind) in [
            (
                "kaon_worker_memory_bytes",
                "memory",
                "Resident memory of the worker process.",
                "gauge",
            ),
            (
                "kaon_worker_memory_limit_bytes",
                "memory_limit",
                "The worker's memory limit.",
                "gauge",
            ),
            (
                "kaon_worker_spilled_bytes",
                "spilled",
                "Results spilled to disk.",
                "gauge",
            ),
            (
                "kaon_worker_executing",
                "executing",
                "Tasks running.",
                "gauge",
            ),
            (
                "kaon_worker_ready",
                "ready",
                "Tasks queued on the worker.",
                "gauge",
            ),
            ("kaon_worker_results", "in_memory", "Results held.", "gauge"),
            (
                "kaon_worker_cpu_percent",
                "cpu_percent",
                "CPU use, percent of one core.",
                "gauge",
            ),
            (
                "kaon_worker_transfer_bytes_total",
                "transfer_bytes",
                "Bytes fetched from peers.",
                "counter",
            ),
        ] {
            gauge(name, help, kind, &per_worker(field));
        }
        out
    }
}
