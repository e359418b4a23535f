//! The dashboard endpoint (HTTP, default port 8787): the live `/status` page, its JSON
//! API under `/api/v1/`, a server-sent event stream, Prometheus `/metrics`,
//! `/health`, and the scaling controls.
//!
//! Everything is served under an optional path prefix (a JupyterHub proxy URL such as
//! `/user/NAME/proxy/8787`). The endpoints that change the cluster (`POST scale`,
//! `POST adapt`) require the cluster's token when it has one, as
//! `Authorization: Bearer <token>` (or `token <token>`).

use super::core::CoreMsg;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use futures::Stream;
use kaon_proto::auth::CheckToken;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The page, with its script and styles inline: no external assets, no CDN.
const STATUS_PAGE: &str = include_str!("status.html");

/// The parts of the page that can be shown alone (e.g. in JupyterLab panels).
const PARTS: [(&str, &str); 6] = [
    ("Progress", "progress"),
    ("Task Stream", "task-stream"),
    ("Workers", "workers"),
    ("Memory", "memory"),
    ("Throughput", "throughput"),
    ("Errors", "errors"),
];

/// How often the event stream sends an update.
const UPDATE_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
struct Dashboard {
    core: mpsc::UnboundedSender<CoreMsg>,
    token: CheckToken,
    prefix: String,
}

/// Normalizes a prefix to "" or "/a/b" (no trailing slash).
pub(crate) fn normalize_prefix(prefix: &str) -> String {
    let p = prefix.trim().trim_end_matches('/');
    if p.is_empty() {
        String::new()
    } else if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    core: mpsc::UnboundedSender<CoreMsg>,
    token: Option<String>,
    prefix: String,
) -> std::io::Result<()> {
    let state = Dashboard {
        core,
        token: CheckToken::new(token.as_deref()),
        prefix: normalize_prefix(&prefix),
    };
    let routes = Router::new()
        .route("/", get(redirect_to_status))
        .route("/status", get(page))
        .route("/individual-plots.json", get(individual_plots))
        .route("/individual-{part}", get(page))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(api_status))
        .route("/api/v1/workers", get(api_workers))
        .route("/api/v1/layers", get(api_layers))
        .route("/api/v1/layers/{id}/tasks", get(api_layer_tasks))
        .route("/api/v1/events", get(events))
        .route("/api/v1/scale", post(scale))
        .route("/api/v1/adapt", post(adapt))
        .with_state(state.clone());
    let app = if state.prefix.is_empty() {
        routes
    } else {
        Router::new().nest(&state.prefix, routes)
    };
    axum::serve(listener, app).await
}

impl Dashboard {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CoreMsg,
    ) -> Result<T, Response> {
        let (tx, rx) = oneshot::channel();
        let unavailable = || {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the scheduler is shutting down",
            )
                .into_response()
        };
        self.core.send(make(tx)).map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())
    }

    async fn snapshot(&self, since: Option<u64>) -> Result<serde_json::Value, Response> {
        self.ask(|reply| CoreMsg::Snapshot { since, reply }).await
    }

    /// Whether a request carries the cluster's token (always true without one).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // JupyterHub's own form, `token T`, is accepted too.
            .map(|h| match h.strip_prefix("token ") {
                Some(t) => format!("Bearer {t}"),
                None => h.to_string(),
            });
        self.token.accepts(header.as_deref())
    }
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "this cluster requires its token: send Authorization: Bearer <token>",
    )
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

async fn redirect_to_status(State(d): State<Dashboard>) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{}/status", d.prefix))],
    )
        .into_response()
}

async fn page(State(d): State<Dashboard>) -> Html<String> {
    // The page finds its API relative to the prefix it was served under.
    Html(STATUS_PAGE.replace("__KAON_PREFIX__", &d.prefix))
}

async fn individual_plots(State(d): State<Dashboard>) -> Json<serde_json::Value> {
    let map: serde_json::Map<String, serde_json::Value> = PARTS
        .iter()
        .map(|(title, part)| {
            (
                format!("Individual {title}"),
                serde_json::Value::String(format!("{}/individual-{part}", d.prefix)),
            )
        })
        .collect();
    Json(serde_json::Value::Object(map))
}

async fn metrics(State(d): State<Dashboard>) -> Response {
    match d.ask(|reply| CoreMsg::Metrics { reply }).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn api_status(State(d): State<Dashboard>) -> Response {
    match d.snapshot(None).await {
        Ok(s) => Json(s["status"].clone()).into_response(),
        Err(r) => r,
    }
}

async fn api_workers(State(d): State<Dashboard>) -> Response {
    match d.snapshot(None).await {
        Ok(s) => Json(serde_json::json!({"workers": s["workers"]})).into_response(),
        Err(r) => r,
    }
}

async fn api_layers(State(d): State<Dashboard>) -> Response {
    match d.snapshot(None).await {
        Ok(s) => Json(serde_json::json!({"graphs": s["graphs"]})).into_response(),
        Err(r) => r,
    }
}

async fn api_layer_tasks(State(d): State<Dashboard>, Path(id): Path<String>) -> Response {
    let parsed = id
        .split_once('-')
        .and_then(|(g, l)| Some((g.parse::<u64>().ok()?, l.parse::<u32>().ok()?)));
    let Some((graph, layer)) = parsed else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("layer id {id:?} is not GRAPH-LAYER, e.g. 3-0"),
        );
    };
    match d
        .ask(|reply| CoreMsg::LayerTasks {
            graph,
            layer,
            reply,
        })
        .await
    {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("no layer {layer} in a live graph {graph}"),
        ),
        Err(r) => r,
    }
}

/// Server-sent events: a full snapshot first, then every half second the figures and
/// the task-stream records that are new since the previous update.
async fn events(
    State(d): State<Dashboard>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let stream = futures::stream::unfold((d, None::<u64>, true), |(d, since, first)| async move {
        if !first {
            tokio::time::sleep(UPDATE_EVERY).await;
        }
        let snapshot = d.snapshot(since).await.ok()?;
        let next = snapshot["seq"].as_u64().or(since);
        let event = Event::default()
            .event("snapshot")
            .data(snapshot.to_string());
        Some((Ok(event), (d, next, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct ScaleBody {
    n: usize,
}

async fn scale(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> Response {
    if !d.authorized(&headers) {
        return unauthorized();
    }
    let Json(ScaleBody { n }) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be JSON {{\"n\": NUMBER_OF_WORKERS}}: {e}"),
            );
        }
    };
    scale_reply(d.ask(|reply| CoreMsg::Scale { n, reply }).await)
}

#[derive(Deserialize)]
struct AdaptBody {
    minimum: Option<usize>,
    maximum: Option<usize>,
    active: Option<bool>,
}

async fn adapt(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    body: Result<Json<AdaptBody>, JsonRejection>,
) -> Response {
    if !d.authorized(&headers) {
        return unauthorized();
    }
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the body must be JSON {{\"minimum\": A, \"maximum\": B}} or {{\"active\": false}}: {e}"
                ),
            );
        }
    };
    let range = if body.active == Some(false) {
        None
    } else {
        match (body.minimum, body.maximum) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "adapt needs both \"minimum\" and \"maximum\" (or \"active\": false)",
                );
            }
        }
    };
    scale_reply(d.ask(|reply| CoreMsg::Adapt { range, reply }).await)
}

fn scale_reply(r: Result<Result<kaon_proto::ScaleReply, tonic::Status>, Response>) -> Response {
    match r {
        Ok(Ok(reply)) => Json(serde_json::json!({
            "workers": reply.workers, "desired": reply.desired, "message": reply.message,
        }))
        .into_response(),
        Ok(Err(status)) => {
            let code = match status.code() {
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            error(code, status.message())
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized() {
        assert_eq!(normalize_prefix(""), "");
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(
            normalize_prefix("user/alice/proxy/8787/"),
            "/user/alice/proxy/8787"
        );
        assert_eq!(normalize_prefix("/x"), "/x");
    }
}
