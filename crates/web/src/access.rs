//! Who may change the cluster. The server listens on loopback by default, where every
//! local user may; bound to another address it needs the cluster secret, and every
//! command (each `POST`) must then carry it as `Authorization: Bearer HEX`. Reads
//! (the page, the state, the event stream) stay open: they change nothing.
//!
//! Commands also only accept `Content-Type: application/json` bodies, which a page of
//! another origin cannot send without a CORS preflight this server never grants, so a
//! web page the user happens to visit cannot drive the cluster either.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The secret commands must carry, if any.
#[derive(Clone, Debug, Default)]
pub struct Access {
    secret: Option<Arc<str>>,
}

impl Access {
    /// Loopback only: commands need no secret.
    pub fn loopback() -> Access {
        Access::default()
    }

    /// Commands must carry `secret` (the hex text of the cluster secret).
    pub fn with_secret(secret: &str) -> Access {
        Access {
            secret: Some(Arc::from(secret.trim())),
        }
    }

    /// Whether a secret is required.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether `header` (the `Authorization` value) carries the secret.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some(secret) = &self.secret else {
            return true;
        };
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        equal_in_constant_time(token.trim().as_bytes(), secret.as_bytes())
    }
}

/// Compares without stopping at the first difference (a secret's length is no secret).
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware in front of every command: 401 without the secret when one is needed.
pub async fn require(access: Access, req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::GET {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !access.allows(auth) {
            return (
                StatusCode::UNAUTHORIZED,
                "this server is not on loopback: commands need the cluster secret (Authorization: Bearer HEX)",
            )
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_needed_only_when_set() {
        assert!(Access::loopback().allows(None));
        let a = Access::with_secret("00ff00ff00ff00ff00ff00ff00ff00ff");
        assert!(!a.allows(None));
        assert!(!a.allows(Some("Bearer 00ff")));
        assert!(!a.allows(Some("00ff00ff00ff00ff00ff00ff00ff00ff")));
        assert!(a.allows(Some("Bearer 00ff00ff00ff00ff00ff00ff00ff00ff")));
    }
}
