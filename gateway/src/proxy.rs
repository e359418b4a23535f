//! The dashboard proxy: `/clusters/{name}/...` to the cluster's scheduler dashboard,
//! for its owner only (a user credential or the cluster's token, in a header, once
//! as `?token=`, then in a cookie scoped to the cluster's path), with responses
//! streamed (the dashboard's event stream stays open).

use crate::api::{ApiError, AppState};
use crate::auth::bearer_token;
use crate::clusters::GatewayError;
use crate::db::{ClusterRecord, Status};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use std::sync::OnceLock;
use std::time::Duration;

const COOKIE: &str = "kaon-gateway-token";
/// The largest request body the proxy forwards.
const MAX_BODY: usize = 8 << 20;

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// `/clusters/{name}` and `/clusters/{name}/`: to the status page.
pub async fn proxy_root(
    State(gw): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query.map(|q| format!("?{q}")).unwrap_or_default();
    let to = format!("{}/clusters/{name}/status{q}", gw.base_path());
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// The query without its `token` parameter, and that token.
fn split_token(query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(q) = query else {
        return (None, None);
    };
    let mut token = None;
    let rest: Vec<&str> = q
        .split('&')
        .filter(|p| {
            if let Some(t) = p.strip_prefix("token=") {
                token = Some(percent_decode(t));
                false
            } else {
                !p.is_empty()
            }
        })
        .collect();
    let rest = (!rest.is_empty()).then(|| rest.join("&"));
    (rest, token)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Whether the request comes from the cluster's owner: the cluster's token (query,
/// cookie or header), or the owner's own credentials.
async fn authorize(
    gw: &AppState,
    r: &ClusterRecord,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<(), ApiError> {
    let is_cluster_token = |t: &str| crate::same_secret(t, &r.token);
    if let Some(t) = query_token {
        if is_cluster_token(t) {
            return Ok(());
        }
        if let Some(h) = gw.auth.header_for_token(t) {
            let user = gw.auth.authenticate(Some(&h)).await?;
            return owner(r, &user.name);
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("not the token of cluster {}", r.name),
        ));
    }
    if let Some(t) = cookie_token(headers)
        && is_cluster_token(&t)
    {
        return Ok(());
    }
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(t) = header.and_then(bearer_token)
        && is_cluster_token(t)
    {
        return Ok(());
    }
    let user = crate::api::user(gw, headers).await?;
    owner(r, &user.name)
}

fn owner(r: &ClusterRecord, user: &str) -> Result<(), ApiError> {
    if r.user == user {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the dashboard of cluster {} is for its owner only, not for {user}",
                r.name
            ),
        ))
    }
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// `/clusters/{name}/{*rest}`: forwards the request to the scheduler's dashboard.
pub async fn proxy(
    State(gw): State<AppState>,
    Path((name, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let r = gw
        .db
        .get(&name)
        .map_err(GatewayError::from)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no cluster named {name}")))?;
    let (query, query_token) = split_token(query.as_deref());
    authorize(&gw, &r, &headers, query_token.as_deref()).await?;
    let path = format!("{}/clusters/{name}/{rest}", gw.base_path());
    let q = query.map(|q| format!("?{q}")).unwrap_or_default();
    if query_token.is_some() {
        // Remember the cluster's token for this path, and take it out of the URL.
        let cookie = format!(
            "{COOKIE}={}; Path={}/clusters/{name}; HttpOnly; SameSite=Lax",
            r.token,
            gw.base_path()
        );
        let mut response = if method == Method::GET || method == Method::HEAD {
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("{path}{q}"))],
            )
                .into_response()
        } else {
            forward(&r, &path, &q, method, &headers, body).await?
        };
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        return Ok(response);
    }
    forward(&r, &path, &q, method, &headers, body).await
}

async fn forward(
    r: &ClusterRecord,
    path: &str,
    query: &str,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let scheduler = match (&r.scheduler, r.status) {
        (Some(s), Status::Running) => s,
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "cluster {} is {}: its dashboard is not available",
                    r.name,
                    r.status.as_str()
                ),
            ));
        }
    };
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("cannot read the request body: {e}"),
        )
    })?;
    let url = format!("http://{}{path}{query}", scheduler.dashboard);
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|_| ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported method"))?;
    let mut request = http().request(method, &url);
    for (k, v) in headers {
        let k = k.as_str();
        if HOP_BY_HOP.contains(&k) || k == "authorization" || k == "cookie" || k == "content-length"
        {
            continue;
        }
        request = request.header(k, v.as_bytes());
    }
    let response = request
        .header("authorization", format!("Bearer {}", r.token))
        .body(body)
        .send()
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the dashboard of cluster {}: {e}", r.name),
            )
        })?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = Response::builder().status(status);
    for (k, v) in response.headers() {
        if HOP_BY_HOP.contains(&k.as_str()) || k.as_str() == "content-length" {
            continue;
        }
        out = out.header(k.as_str(), v.as_bytes());
    }
    let stream = response.bytes_stream().map_err(std::io::Error::other);
    out.body(Body::from_stream(stream)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("bad answer from the dashboard of cluster {}: {e}", r.name),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_leaves_the_query() {
        assert_eq!(split_token(None), (None, None));
        assert_eq!(
            split_token(Some("token=a%2Bb&x=1")),
            (Some("x=1".into()), Some("a+b".into()))
        );
        assert_eq!(split_token(Some("token=abc")), (None, Some("abc".into())));
        assert_eq!(split_token(Some("x=1&y=2")), (Some("x=1&y=2".into()), None));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn cookies_are_found() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kaon-gateway-token=xyz"),
        );
        assert_eq!(cookie_token(&h), Some("xyz".into()));
    }
}
