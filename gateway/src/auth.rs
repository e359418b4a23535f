//! Who is calling: the [`Authenticator`] trait and its two kinds, JupyterHub tokens
//! (checked with the hub, cached briefly) and static users with argon2 passwords.

use crate::config::{JupyterHubConfig, SimpleUser};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub admin: bool,
    pub groups: Vec<String>,
}

/// Why a request was not authenticated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials in a form this gateway does not take (401).
    #[error("{0}")]
    Missing(String),
    /// Credentials that are not valid (403).
    #[error("{0}")]
    Invalid(String),
    /// The identity provider could not answer (503).
    #[error("{0}")]
    Unavailable(String),
}

pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<User, AuthError>> + Send + 'a>>;

/// Turns an `Authorization` header (or a token from elsewhere) into a user.
pub trait Authenticator: Send + Sync + 'static {
    /// `jupyterhub` or `simple`.
    fn kind(&self) -> &'static str;
    /// Checks the value of an `Authorization` header.
    fn authenticate<'a>(&'a self, header: Option<&'a str>) -> AuthFuture<'a>;
    /// The `Authorization` header value that a bare token (`?token=`) stands for,
    /// if this kind of authentication takes bare tokens.
    fn header_for_token(&self, token: &str) -> Option<String>;
}

/// An answer and when it was given.
type Cached = (Instant, Result<User, AuthError>);

/// Answers kept for a while, keyed by the credential; pruned as it grows.
struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Cached>>,
}

impl Cache {
    fn new(ttl: Duration) -> Cache {
        Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<Result<User, AuthError>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, key: &str, value: Result<User, AuthError>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(key.to_string(), (Instant::now(), value));
    }
}

/// The token of `Authorization: token T` or `Authorization: Bearer T`.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        let t = rest.trim();
        (!t.is_empty()).then_some(t)
    } else {
        None
    }
}

// ---------------------------------------------------------------- JupyterHub

/// Validates JupyterHub API tokens with the hub's `GET {api_url}/user`, as a hub
/// service does, and requires the scope to access this service.
pub struct JupyterHubAuth {
    api_url: String,
    service_name: String,
    http: reqwest::Client,
    cache: Cache,
}

/// The part of the hub's answer the gateway uses.
#[derive(Deserialize)]
struct HubUser {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl JupyterHubAuth {
    /// Reads `JUPYTERHUB_API_URL`, `JUPYTERHUB_API_TOKEN` and `JUPYTERHUB_SERVICE_NAME`
    /// (they take precedence over the `[jupyterhub]` section).
    pub fn from_env(config: &JupyterHubConfig) -> Result<JupyterHubAuth, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let api_url = var("JUPYTERHUB_API_URL")
            .or_else(|| config.api_url.clone())
            .ok_or("--auth jupyterhub needs JUPYTERHUB_API_URL (the hub sets it for a managed service), or jupyterhub.api_url in the configuration")?;
        let api_token = var("JUPYTERHUB_API_TOKEN")
            .or_else(|| config.api_token.clone())
            .ok_or(
                "--auth jupyterhub needs JUPYTERHUB_API_TOKEN, the gateway's own service token",
            )?;
        let service_name = var("JUPYTERHUB_SERVICE_NAME")
            .or_else(|| config.service_name.clone())
            .ok_or(
                "--auth jupyterhub needs JUPYTERHUB_SERVICE_NAME, the service's name in the hub",
            )?;
        Self::new(
            &api_url,
            &api_token,
            &service_name,
            Duration::from_secs_f64(config.cache_seconds),
        )
    }

    pub fn new(
        api_url: &str,
        api_token: &str,
        service_name: &str,
        cache: Duration,
    ) -> Result<JupyterHubAuth, String> {
        // The hub answers `GET /user` for the token presented, so the user's token
        // goes with each lookup; the service's own token only has to exist (the
        // hub gives it to a managed service with the other variables).
        if api_token.trim().is_empty() {
            return Err("JUPYTERHUB_API_TOKEN is empty".into());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(JupyterHubAuth {
            api_url: api_url.trim_end_matches('/').to_string(),
            service_name: service_name.to_string(),
            http,
            cache: Cache::new(cache),
        })
    }

    async fn ask_hub(&self, token: &str) -> Result<User, AuthError> {
        let url = format!("{}/user", self.api_url);
        let unavailable = |e: String| {
            AuthError::Unavailable(format!(
                "cannot check the token with JupyterHub at {url}: {e}"
            ))
        };
        let response = self
            .http
            .get(&url)
            .header("Authorization", format!("token {token}"))
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::FORBIDDEN || status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AuthError::Invalid(
                "JupyterHub does not accept this token (invalid, expired or revoked)".into(),
            ));
        }
        if !status.is_success() {
            return Err(unavailable(format!("the hub answered {status}")));
        }
        let user: HubUser = response
            .json()
            .await
            .map_err(|e| unavailable(format!("unexpected answer: {e}")))?;
        if user.kind.as_deref().is_some_and(|k| k != "user") {
            return Err(AuthError::Invalid(format!(
                "this token belongs to the {} {:?}, not to a user",
                user.kind.as_deref().unwrap_or("?"),
                user.name
            )));
        }
        let needed = format!("access:services!service={}", self.service_name);
        if !user
            .scopes
            .iter()
            .any(|s| s == &needed || s == "access:services")
        {
            return Err(AuthError::Invalid(format!(
                "the token of user {} lacks the scope {needed}",
                user.name
            )));
        }
        Ok(User {
            name: user.name,
            admin: user.admin,
            groups: user.groups,
        })
    }
}

impl Authenticator for JupyterHubAuth {
    fn kind(&self) -> &'static str {
        "jupyterhub"
    }

    fn authenticate<'a>(&'a self, header: Option<&'a str>) -> AuthFuture<'a> {
        Box::pin(async move {
            let header = header.ok_or_else(|| {
                AuthError::Missing(
                    "authentication required: send Authorization: token <JupyterHub API token>"
                        .into(),
                )
            })?;
            let token = bearer_token(header).ok_or_else(|| {
                AuthError::Missing(
                    "malformed Authorization header: expected `token <T>` or `Bearer <T>`".into(),
                )
            })?;
            if let Some(answer) = self.cache.get(token) {
                return answer;
            }
            let answer = self.ask_hub(token).await;
            // A hub that could not answer is asked again next time.
            if !matches!(answer, Err(AuthError::Unavailable(_))) {
                self.cache.put(token, answer.clone());
            }
            answer
        })
    }

    fn header_for_token(&self, token: &str) -> Option<String> {
        Some(format!("token {token}"))
    }
}

// ---------------------------------------------------------------- simple

/// Static users with argon2 password hashes, via HTTP Basic authentication.
pub struct SimpleAuth {
    users: HashMap<String, SimpleUser>,
    cache: Cache,
}

impl SimpleAuth {
    pub fn new(users: &[SimpleUser]) -> Result<SimpleAuth, String> {
        let mut map = HashMap::new();
        for u in users {
            PasswordHash::new(&u.password_hash).map_err(|e| {
                format!(
                    "simple user {}: password_hash is not an argon2 hash ({e}); make one with \
                     `kaon gateway hash-password`",
                    u.name
                )
            })?;
            if map.insert(u.name.clone(), u.clone()).is_some() {
                return Err(format!("simple user {} is listed twice", u.name));
            }
        }
        Ok(SimpleAuth {
            users: map,
            // Verifying a hash is deliberately slow: remember good passwords a while.
            cache: Cache::new(Duration::from_secs(60)),
        })
    }
}

/// Hashes a password for `[[simple.users]]`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    crate::random_bytes(&mut bytes)?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Authenticator for SimpleAuth {
    fn kind(&self) -> &'static str {
        "simple"
    }

    fn authenticate<'a>(&'a self, header: Option<&'a str>) -> AuthFuture<'a> {
        Box::pin(async move {
            let header = header.ok_or_else(|| {
                AuthError::Missing(
                    "authentication required: send Authorization: Basic base64(user:password)"
                        .into(),
                )
            })?;
            let malformed = || {
                AuthError::Missing(
                    "malformed Authorization header: expected Basic base64(user:password)".into(),
                )
            };
            let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(malformed());
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| malformed())?;
            let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (name, password) = decoded.split_once(':').ok_or_else(malformed)?;
            if let Some(answer) = self.cache.get(&decoded) {
                return answer;
            }
            let invalid =
                || AuthError::Invalid(format!("wrong user name or password for {name:?}"));
            let Some(user) = self.users.get(name) else {
                return Err(invalid());
            };
            let (password_owned, hash) = (password.to_string(), user.password_hash.clone());
            let ok = tokio::task::spawn_blocking(move || verify_password(&password_owned, &hash))
                .await
                .unwrap_or(false);
            if !ok {
                return Err(invalid());
            }
            let answer = User {
                name: user.name.clone(),
                admin: user.admin,
                groups: user.groups.clone(),
            };
            self.cache.put(&decoded, Ok(answer.clone()));
            Ok(answer)
        })
    }

    fn header_for_token(&self, _token: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[tokio::test]
    async fn simple_users_need_the_right_password() {
        let hash = hash_password("secret").unwrap();
        let auth = SimpleAuth::new(&[SimpleUser {
            name: "alice".into(),
            password_hash: hash,
            admin: true,
            groups: vec!["physics".into()],
        }])
        .unwrap();
        let u = auth
            .authenticate(Some(&basic("alice", "secret")))
            .await
            .unwrap();
        assert_eq!(u.name, "alice");
        assert!(u.admin);
        assert_eq!(u.groups, vec!["physics".to_string()]);
        // Cached: still the same answer.
        assert!(
            auth.authenticate(Some(&basic("alice", "secret")))
                .await
                .is_ok()
        );
        for (header, forbidden) in [
            (Some(basic("alice", "wrong")), true),
            (Some(basic("bob", "secret")), true),
            (None, false),
            (Some("Basic !!!".to_string()), false),
            (Some("Bearer abc".to_string()), false),
            (Some("Basic".to_string()), false),
        ] {
            let e = auth.authenticate(header.as_deref()).await.unwrap_err();
            assert_eq!(
                matches!(e, AuthError::Invalid(_)),
                forbidden,
                "{header:?}: {e}"
            );
        }
        assert!(
            SimpleAuth::new(&[SimpleUser {
                name: "x".into(),
                password_hash: "plain".into(),
                admin: false,
                groups: vec![],
            }])
            .is_err()
        );
    }

    #[test]
    fn bearer_tokens_parse() {
        assert_eq!(bearer_token("token abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("token "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[tokio::test]
    async fn an_unreachable_hub_is_unavailable_not_forbidden() {
        let auth = JupyterHubAuth::new(
            "http://127.0.0.1:9/hub/api",
            "service",
            "kaon-gateway",
            Duration::from_secs(60),
        )
        .unwrap();
        let e = auth.authenticate(Some("token abc")).await.unwrap_err();
        assert!(matches!(e, AuthError::Unavailable(_)), "{e}");
        let e = auth.authenticate(Some("Basic abc")).await.unwrap_err();
        assert!(matches!(e, AuthError::Missing(_)), "{e}");
    }
}
