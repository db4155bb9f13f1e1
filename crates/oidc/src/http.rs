//! The HTTP client for discovery, JWKS and the token endpoint: hyper with
//! rustls (the client the Stripe integration already builds), no
//! redirects followed, a timeout and a size limit on every answer.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest wait for a provider's answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read (discovery documents and key sets are small).
const MAX_BODY: usize = 512 * 1024;

/// A failed request to a provider. The message names the kind of failure
/// only (never a URL with a code, a token or a secret).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer in time.
    #[error("the identity provider did not answer in time")]
    Timeout,
    /// Connecting or sending failed.
    #[error("cannot reach the identity provider")]
    Transport,
    /// The answer was too large or broke off.
    #[error("unreadable answer from the identity provider")]
    Body,
}

/// A shared client; cheap to clone.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// HTTPS with the web PKI roots; plain HTTP is allowed only because
    /// the configuration refuses it for anything but loopback.
    pub fn new() -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        // No idle pool: these calls are rare (one exchange per login), and
        // a pooled connection would belong to the worker runtime that
        // opened it.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https);
        Self { client }
    }

    /// Sends one request as `openidconnect` hands it over.
    pub async fn call(
        &self,
        request: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(|_| HttpError::Transport)?;
        let (parts, body) = response.into_parts();
        let bytes = tokio::time::timeout(TIMEOUT, Limited::new(body, MAX_BODY).collect())
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(|_| HttpError::Body)?
            .to_bytes();
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
}
