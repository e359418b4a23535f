//! A [`Scaler`] that asks a cluster manager over HTTP for workers: the gateway
//! passes `kaon scheduler --scaler-url URL`, and the scheduler POSTs `{"n": N}` to it
//! with the cluster's token whenever it wants more workers (manual scale, adaptive
//! scaling, replacing a lost worker).

use kaon_scheduler::server::Scaler;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long one request may take before the scheduler counts it as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpScaler {
    url: reqwest::Url,
    token: Option<String>,
    client: reqwest::Client,
}

impl HttpScaler {
    /// Checks the URL now, so a typo fails at start-up rather than at the first scale.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("--scaler-url {url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(format!(
                "--scaler-url {url:?} must be an http(s):// URL with a host (the gateway's \
                 internal address)"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client for --scaler-url: {e}"))?;
        Ok(Self {
            url: parsed,
            token,
            client,
        })
    }
}

impl Scaler for HttpScaler {
    fn start_workers(&self, n: usize) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let mut request = self
            .client
            .post(self.url.clone())
            .json(&serde_json::json!({ "n": n }));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let url = self.url.to_string();
        Box::pin(async move {
            let response = request
                .send()
                .await
                .map_err(|e| format!("cannot reach the scaler at {url}: {e}"))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = response.text().await.unwrap_or_default();
            Err(format!(
                "the scaler at {url} refused {n} more workers ({status}): {}",
                body.trim()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_urls_it_cannot_call() {
        assert!(HttpScaler::new("not a url", None).is_err());
        assert!(HttpScaler::new("ftp://gw/x", None).is_err());
        assert!(
            HttpScaler::new(
                "http://127.0.0.1:1/api/v1/internal/clusters/a/workers",
                None
            )
            .is_ok()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn posts_the_count_with_the_token_and_reports_refusals() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for status in ["200 OK", "403 Forbidden"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut text = Vec::new();
                let mut buf = vec![0u8; 4096];
                // Headers and body may come in separate reads.
                while !String::from_utf8_lossy(&text).ends_with('}') {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the request ended early");
                    text.extend_from_slice(&buf[..n]);
                }
                seen.push(String::from_utf8_lossy(&text).to_string());
                let body = "{\"error\": \"max_workers\"}";
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        let scaler =
            HttpScaler::new(&format!("http://127.0.0.1:{port}/w"), Some("s3cret".into())).unwrap();
        scaler.start_workers(2).await.unwrap();
        let refused = scaler.start_workers(5).await.unwrap_err();
        assert!(
            refused.contains("403") && refused.contains("max_workers"),
            "{refused}"
        );
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("POST /w "), "{}", seen[0]);
        assert!(
            seen[0]
                .to_ascii_lowercase()
                .contains("authorization: bearer s3cret")
        );
        assert!(seen[0].ends_with("{\"n\":2}"), "{}", seen[0]);
    }
}
