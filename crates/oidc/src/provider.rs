//! One configured OpenID Connect provider: discovery (cached), the
//! authorization request with PKCE, `state` and `nonce`, and the code
//! exchange with ID token verification, all through `openidconnect`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, Client,
    ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::http::Http;

/// How long a discovery document (and its key set) is trusted before it
/// is fetched again. A signature that does not verify fetches at once, so
/// a provider's key rotation is picked up on the next login.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// Every claim of the ID token beyond the ones `openidconnect` names, so
/// the platform can see (and refuse) what a provider should not send.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

type Fields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResp = StandardTokenResponse<Fields, CoreTokenType>;
type RpClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResp,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a round trip with the provider failed. Each names a stable reason
/// for the log (never a claim value, code or token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Discovery, keys or the token endpoint could not be reached.
    Unavailable,
    /// The token endpoint refused the code (used, expired, wrong verifier).
    CodeRefused,
    /// The token response or ID token does not parse (e.g. no `sub`).
    Unparseable,
    /// No ID token in the response.
    NoIdToken,
    /// The signature does not verify against the provider's keys.
    Signature,
    /// Another issuer.
    Issuer,
    /// Not for this client.
    Audience,
    /// Expired.
    Expired,
    /// Not the nonce sent.
    Nonce,
    /// Any other verification failure.
    Invalid,
}

impl Problem {
    /// A stable word for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "provider_unavailable",
            Self::CodeRefused => "code_refused",
            Self::Unparseable => "unparseable_token",
            Self::NoIdToken => "no_id_token",
            Self::Signature => "bad_signature",
            Self::Issuer => "wrong_issuer",
            Self::Audience => "wrong_audience",
            Self::Expired => "expired",
            Self::Nonce => "wrong_nonce",
            Self::Invalid => "invalid_token",
        }
    }
}

fn classify(e: &ClaimsVerificationError) -> Problem {
    match e {
        ClaimsVerificationError::Expired(_) => Problem::Expired,
        ClaimsVerificationError::InvalidAudience(_) => Problem::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => Problem::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => Problem::Nonce,
        ClaimsVerificationError::SignatureVerification(_) => Problem::Signature,
        _ => Problem::Invalid,
    }
}

/// An authorization request ready to send. `Debug` is not derived: it
/// holds the `state`, nonce and PKCE verifier.
pub struct Begun {
    /// Where to send the browser.
    pub url: String,
    /// The `state`.
    pub state: String,
    /// The nonce.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
}

/// What a verified ID token says. `Debug` is not derived: it holds the
/// subject and every claim.
pub struct Verified {
    /// The `sub`.
    pub subject: String,
    /// Names of the claims present beyond the protocol's own.
    pub claim_names: Vec<String>,
    extra: BTreeMap<String, serde_json::Value>,
}

impl Verified {
    /// A string claim beyond the protocol's own.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(serde_json::Value::as_str)
    }
}

/// The client's credential at the token endpoint.
enum Credential {
    Secret(ClientSecret),
    Key {
        key: jsonwebtoken::EncodingKey,
        kid: Option<String>,
    },
}

/// `client_assertion_type` for RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid (Helsenorge asks for at most 60 s).
const ASSERTION_SECS: i64 = 60;

/// The claims of a client assertion (RFC 7523 §3).
#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

/// A provider as configured. `Debug` prints no secret.
pub struct Provider {
    issuer: IssuerUrl,
    client_id: ClientId,
    credential: Credential,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    cached: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("credential", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A provider setting that cannot be used (the message names the file,
/// never key material).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderConfigError(String);

impl Provider {
    /// A provider for this client registration, returning to `redirect`,
    /// asking for `scopes` beyond `openid`. Reads the client's key file
    /// for `private_key_jwt`.
    pub fn new(
        client: &crate::ClientSettings,
        redirect: &str,
        scopes: &[&str],
    ) -> Result<Self, ProviderConfigError> {
        let credential = match &client.auth {
            crate::ClientAuth::Secret(s) => Credential::Secret(ClientSecret::new(s.clone())),
            crate::ClientAuth::PrivateKeyJwt { key_file, key_id } => {
                let pem = std::fs::read(key_file).map_err(|e| {
                    ProviderConfigError(format!(
                        "cannot read the client key file {}: {e}",
                        key_file.display()
                    ))
                })?;
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).map_err(|_| {
                    ProviderConfigError(format!(
                        "the client key file {} is not an RSA private key in PEM",
                        key_file.display()
                    ))
                })?;
                Credential::Key {
                    key,
                    kid: key_id.clone(),
                }
            }
        };
        Ok(Self {
            issuer: IssuerUrl::new(client.issuer.clone())
                .map_err(|_| ProviderConfigError("the issuer is not a URL".into()))?,
            client_id: ClientId::new(client.client_id.clone()),
            credential,
            redirect: RedirectUrl::new(redirect.to_owned())
                .map_err(|_| ProviderConfigError("the redirect address is not a URL".into()))?,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            cached: Mutex::new(None),
        })
    }

    async fn metadata(&self, http: &Http, fresh: bool) -> Result<CoreProviderMetadata, Problem> {
        if !fresh
            && let Ok(guard) = self.cached.lock()
            && let Some((at, md)) = guard.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(md.clone());
        }
        let call = |req| http.call(req);
        let md = CoreProviderMetadata::discover_async(self.issuer.clone(), &call)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OpenID Connect discovery failed");
                Problem::Unavailable
            })?;
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((Instant::now(), md.clone()));
        }
        Ok(md)
    }

    async fn client(&self, http: &Http, fresh: bool) -> Result<RpClient, Problem> {
        let md = self.metadata(http, fresh).await?;
        Ok(match &self.credential {
            Credential::Secret(s) => {
                RpClient::from_provider_metadata(md, self.client_id.clone(), Some(s.clone()))
            }
            // The assertion goes in the body, beside `client_id`.
            Credential::Key { .. } => {
                RpClient::from_provider_metadata(md, self.client_id.clone(), None)
                    .set_auth_type(openidconnect::AuthType::RequestBody)
            }
        }
        .set_redirect_uri(self.redirect.clone()))
    }

    /// A signed client assertion for the token endpoint `audience`:
    /// RS256, valid 60 seconds, a random `jti` (RFC 7523).
    fn assertion(&self, audience: &str, now: DateTime<Utc>) -> Result<Option<String>, Problem> {
        let Credential::Key { key, kid } = &self.credential else {
            return Ok(None);
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = kid.clone();
        let id = self.client_id.as_str();
        let claims = Assertion {
            iss: id,
            sub: id,
            aud: audience,
            jti: CsrfToken::new_random().secret().clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + ASSERTION_SECS,
        };
        jsonwebtoken::encode(&header, &claims, key)
            .map(Some)
            .map_err(|_| Problem::Invalid)
    }

    /// A fresh authorization request (authorization code flow, PKCE S256).
    pub async fn begin(&self, http: &Http) -> Result<Begun, Problem> {
        let client = self.client(http, false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` and verifies the ID token: signature (the
    /// provider's JWKS), issuer, audience, expiry at `now`, and `nonce`.
    pub async fn finish(
        &self,
        http: &Http,
        code: &str,
        verifier: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, Problem> {
        let client = self.client(http, false).await?;
        let call = |req| http.call(req);
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| Problem::Unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        let audience = client.token_uri().map(|u| u.as_str().to_owned());
        // The provider checks the assertion's times against its own clock,
        // so they come from the system clock, not the app's (tests move
        // the app's).
        if let Some(assertion) =
            self.assertion(audience.as_deref().unwrap_or_default(), Utc::now())?
        {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion);
        }
        let response = request.request_async(&call).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(_) => Problem::CodeRefused,
            RequestTokenError::Parse(..) => Problem::Unparseable,
            RequestTokenError::Request(_) => Problem::Unavailable,
            _ => Problem::Invalid,
        })?;
        let token = response.id_token().ok_or(Problem::NoIdToken)?;
        let nonce = Nonce::new(nonce.to_owned());
        fn verify(
            c: &RpClient,
            now: DateTime<Utc>,
        ) -> openidconnect::IdTokenVerifier<'_, CoreJsonWebKey> {
            c.id_token_verifier()
                .set_time_fn(move || now)
                .require_issuer_match(true)
        }
        let claims = match token.claims(&verify(&client, now), &nonce) {
            Ok(c) => c.clone(),
            Err(e) if classify(&e) == Problem::Signature => {
                // The provider may have rotated its keys: fetch them once.
                let fresh = self.client(http, true).await?;
                token
                    .claims(&verify(&fresh, now), &nonce)
                    .map_err(|e| classify(&e))?
                    .clone()
            }
            Err(e) => return Err(classify(&e)),
        };
        let mut claim_names: Vec<String> =
            claims.additional_claims().rest.keys().cloned().collect();
        // Standard profile claims that `openidconnect` parses itself.
        let standard = [
            ("name", claims.name().is_some()),
            ("given_name", claims.given_name().is_some()),
            ("family_name", claims.family_name().is_some()),
            ("middle_name", claims.middle_name().is_some()),
            ("nickname", claims.nickname().is_some()),
            ("preferred_username", claims.preferred_username().is_some()),
            ("birthdate", claims.birthdate().is_some()),
            ("email", claims.email().is_some()),
            ("phone_number", claims.phone_number().is_some()),
            ("address", claims.address().is_some()),
            ("gender", claims.gender().is_some()),
            ("picture", claims.picture().is_some()),
            ("profile", claims.profile().is_some()),
        ];
        claim_names.extend(
            standard
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(n, _)| n.to_owned()),
        );
        Ok(Verified {
            subject: claims.subject().as_str().to_owned(),
            claim_names,
            extra: claims.additional_claims().rest.clone(),
        })
    }
}
