//! The cluster token: every call to a scheduler or worker of a cluster that has one
//! carries it as `authorization: Bearer <token>`, and every service checks it.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// A channel whose calls carry the cluster token.
pub type Authed =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, AddToken>;

/// Adds the token to outgoing calls (a no-op without one).
#[derive(Clone, Debug, Default)]
pub struct AddToken {
    header: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl AddToken {
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        let header = match token {
            None => None,
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| "the cluster token must be printable ASCII".to_string())?,
            ),
        };
        Ok(Self { header })
    }
}

impl Interceptor for AddToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            request.metadata_mut().insert("authorization", h.clone());
        }
        Ok(request)
    }
}

/// Refuses incoming calls without the token (accepts everything without one).
#[derive(Clone, Debug, Default)]
pub struct CheckToken {
    expected: Option<String>,
}

impl CheckToken {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            expected: token.map(|t| format!("Bearer {t}")),
        }
    }

    /// Whether an `authorization` header value carries the token.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        match &self.expected {
            None => true,
            Some(want) => header.is_some_and(|h| constant_time_eq(h.as_bytes(), want.as_bytes())),
        }
    }
}

impl Interceptor for CheckToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if self.accepts(header) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "this cluster requires its token (authorization: Bearer <token>)",
            ))
        }
    }
}

/// Compares without an early exit, so timing does not reveal a prefix of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        let check = CheckToken::new(Some("s3cret"));
        assert!(check.accepts(Some("Bearer s3cret")));
        assert!(!check.accepts(Some("Bearer s3cre")));
        assert!(!check.accepts(None));
        assert!(CheckToken::new(None).accepts(None));
        let mut add = AddToken::new(Some("s3cret")).unwrap();
        let r = add.call(Request::new(())).unwrap();
        let mut check = check;
        assert!(check.call(r).is_ok());
        assert!(check.call(Request::new(())).is_err());
        assert!(AddToken::new(Some("bad\ntoken")).is_err());
    }
}
