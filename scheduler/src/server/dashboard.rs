//! The HTTP endpoint on the dashboard port: `/health` and a JSON status under
//! `/api/v1/status`. (The live status page builds on these.)

use super::core::CoreMsg;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use tokio::sync::{mpsc, oneshot};

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    core: mpsc::UnboundedSender<CoreMsg>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/api/v1/status", get(status))
        .with_state(core);
    axum::serve(listener, app).await
}

async fn status(State(core): State<mpsc::UnboundedSender<CoreMsg>>) -> impl IntoResponse {
    let (tx, rx) = oneshot::channel();
    if core.send(CoreMsg::Info { reply: tx }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let Ok(info) = rx.await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    let workers: Vec<serde_json::Value> = info
        .workers
        .iter()
        .map(|w| {
            serde_json::json!({
                "id": w.id, "name": w.name, "address": w.data_address,
                "nthreads": w.nthreads, "memory_limit": w.memory_limit,
                "memory": w.memory, "spilled": w.spilled, "executing": w.executing,
                "pid": w.pid, "paused": w.paused,
            })
        })
        .collect();
    Json(serde_json::json!({
        "workers": workers,
        "graphs_running": info.graphs_running,
    }))
    .into_response()
}
