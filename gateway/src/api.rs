//! The REST API (`docs/gateway-api.md`): routes, authentication of each request,
//! JSON bodies in and out, and errors as `{"error": ..., "limit"?: ...}` with the
//! right status.

use crate::auth::{AuthError, User};
use crate::backend::LaunchError;
use crate::clusters::{Gateway, GatewayError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub type AppState = Arc<Gateway>;

/// All routes, under the public URL's path.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let base = gateway.base_path().to_string();
    let api = Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/options", get(options))
        .route("/api/v1/clusters", get(list).post(create))
        .route("/api/v1/clusters/{name}", get(show).delete(stop))
        .route("/api/v1/clusters/{name}/scale", post(scale))
        .route("/api/v1/clusters/{name}/adapt", post(adapt))
        .route(
            "/api/v1/internal/clusters/{name}/workers",
            post(add_workers),
        )
        .route(
            "/clusters/{name}",
            axum::routing::any(crate::proxy::proxy_root),
        )
        .route(
            "/clusters/{name}/",
            axum::routing::any(crate::proxy::proxy_root),
        )
        .route(
            "/clusters/{name}/{*rest}",
            axum::routing::any(crate::proxy::proxy),
        )
        .fallback(not_found)
        .with_state(gateway);
    if base.is_empty() {
        api
    } else {
        Router::new().nest(&base, api).fallback(not_found)
    }
}

/// An error answer.
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub limit: Option<&'static str>,
    pub basic_realm: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            limit: None,
            basic_realm: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if let Some(l) = self.limit {
            body["limit"] = json!(l);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.basic_realm {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"kaon-gateway\""),
            );
        }
        response
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> ApiError {
        let status = match &e {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::Forbidden(_) | GatewayError::Quota(_) => StatusCode::FORBIDDEN,
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Conflict(_) => StatusCode::CONFLICT,
            GatewayError::Launch {
                error: LaunchError::Timeout { .. },
                ..
            } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Launch { .. } | GatewayError::Scheduler(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let limit = match &e {
            GatewayError::Quota(q) => Some(q.limit),
            _ => None,
        };
        ApiError {
            status,
            message: e.to_string(),
            limit,
            basic_realm: false,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let status = match &e {
            AuthError::Missing(_) => StatusCode::UNAUTHORIZED,
            AuthError::Invalid(_) => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError {
            status,
            message: e.to_string(),
            limit: None,
            basic_realm: false,
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// The caller, from the `Authorization` header.
pub async fn user(gateway: &Gateway, headers: &HeaderMap) -> Result<User, ApiError> {
    let header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::from(AuthError::Missing(
                "malformed Authorization header: not text".into(),
            ))
        })?),
    };
    gateway.auth.authenticate(header).await.map_err(|e| {
        let mut e = ApiError::from(e);
        // Browsers then ask for a user name and password (the dashboard).
        e.basic_realm = e.status == StatusCode::UNAUTHORIZED && gateway.auth.kind() == "simple";
        e
    })
}

/// Parses a JSON body; an empty body is `{}`.
fn body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    }
    Ok(v)
}

/// A whole number field of a body.
fn count(v: &Value, field: &str) -> Result<Option<u64>, ApiError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_u64().map(Some).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{field} must be a whole number of workers, not {x}"),
            )
        }),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route; the API is under /api/v1/",
    )
}

async fn health(State(gw): State<AppState>) -> ApiResult {
    let clusters = gw.db.active(None).map_err(GatewayError::from)?.len();
    Ok(axum::Json(json!({
        "status": "ok",
        "backend": gw.backend.name(),
        "auth": gw.auth.kind(),
        "clusters": clusters,
    }))
    .into_response())
}

async fn options(State(gw): State<AppState>, headers: HeaderMap) -> ApiResult {
    let user = user(&gw, &headers).await?;
    Ok(axum::Json(crate::options::describe(
        &gw.config.options,
        &gw.limits(&user),
    ))
    .into_response())
}

async fn list(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let user = user(&gw, &headers).await?;
    let all = query
        .get("all")
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let who = if user.admin {
        None
    } else {
        Some(user.name.as_str())
    };
    let records = gw.db.list(who, all).map_err(GatewayError::from)?;
    let clusters: Vec<Value> = records.iter().map(|r| gw.view(r, &user)).collect();
    Ok(axum::Json(json!({ "clusters": clusters })).into_response())
}

async fn create(State(gw): State<AppState>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let user = user(&gw, &headers).await?;
    let body = body(&bytes)?;
    for key in body.as_object().into_iter().flat_map(|m| m.keys()) {
        if key != "options" && key != "workers" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown field {key:?}; the body is {{\"options\": {{...}}, \"workers\": N}}"
                ),
            ));
        }
    }
    let workers = count(&body, "workers")?.unwrap_or(0);
    let options = body.get("options").cloned().unwrap_or(Value::Null);
    let r = gw.create(&user, &options, workers).await?;
    Ok((StatusCode::CREATED, axum::Json(gw.view(&r, &user))).into_response())
}

async fn show(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let user = user(&gw, &headers).await?;
    let r = gw.owned(&user, &name)?;
    gw.refresh(&r).await;
    Ok(axum::Json(gw.view(&r, &user)).into_response())
}

async fn stop(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let user = user(&gw, &headers).await?;
    gw.owned(&user, &name)?;
    let r = gw.stop(&name, format!("stopped by {}", user.name)).await?;
    Ok(axum::Json(gw.view(&r, &user)).into_response())
}

async fn scale(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let user = user(&gw, &headers).await?;
    gw.owned(&user, &name)?;
    let n = count(&body(&bytes)?, "n")?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "scale needs {\"n\": N}"))?;
    let r = gw.scale(&user, &name, n).await?;
    Ok(axum::Json(gw.view(&r, &user)).into_response())
}

async fn adapt(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let user = user(&gw, &headers).await?;
    gw.owned(&user, &name)?;
    let body = body(&bytes)?;
    let active = match body.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(x) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("active must be true or false, not {x}"),
            ));
        }
    };
    let range = if active {
        let minimum = count(&body, "minimum")?.unwrap_or(0);
        let maximum = count(&body, "maximum")?.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "adapt needs {\"minimum\": A, \"maximum\": B} or {\"active\": false}",
            )
        })?;
        Some((minimum, maximum))
    } else {
        None
    };
    let r = gw.adapt(&user, &name, range).await?;
    Ok(axum::Json(gw.view(&r, &user)).into_response())
}

/// The scaler callback, authenticated with the cluster's own token.
async fn add_workers(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer_token)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the scaler callback needs Authorization: Bearer <cluster token>",
            )
        })?;
    let record = gw.db.get(&name).map_err(GatewayError::from)?;
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("not the token of cluster {name}"),
        )
    };
    let record = record.ok_or_else(forbidden)?;
    if !crate::same_secret(token, &record.token) {
        return Err(forbidden());
    }
    let n = count(&body(&bytes)?, "n")?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the callback needs {\"n\": N}"))?;
    let (started, refused) = gw.add_workers(&name, n).await?;
    match refused {
        None => Ok(axum::Json(json!({ "started": started })).into_response()),
        Some(q) => {
            let mut e = ApiError::from(GatewayError::Quota(q));
            e.message = format!("{} (started {started} of {n})", e.message);
            Err(e)
        }
    }
}
