//! The actix middleware: extracts the client address, refuses blocked clients, and hands
//! the request on with a [`RequestIp`] instead of the address.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::{Either, MapOk, Ready, TryFutureExt, ready};

use crate::client_ip::{ClientIp, extract_client_ip};
use crate::events::SecurityEventKind;
use crate::state::{IpState, RequestIp};

/// Headers that carry client addresses. Removed after extraction so that nothing further
/// in (handlers, a request logger, `ConnectionInfo::realip_remote_addr`) can read or log
/// them.
const ADDRESS_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

/// The 403 page for blocked clients: bokmål first, then English. Plain and self-contained
/// (no template, no assets) because it is served before any other part of the app runs.
pub const BLOCKED_PAGE: &str = "<!doctype html>
<html lang=\"nb\">
<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Tilgangen er sperret / Access blocked</title></head>
<body>
<main>
<h1>Tilgangen er sperret</h1>
<p>Forespørsler fra nettverksadressen din er midlertidig sperret fordi vi har sett mistenkelig trafikk derfra. Prøv igjen senere. Har du spørsmål, kontakt oss.</p>
<section lang=\"en\">
<h2>Access blocked</h2>
<p>Requests from your network address are temporarily blocked because we have seen suspicious traffic from it. Please try again later. If you have questions, contact us.</p>
</section>
</main>
</body>
</html>
";

/// The IP layer as actix middleware. Wrap it outermost (`App::new().wrap(IpLayer::new(state))`
/// as the last `wrap`), so that every other middleware and handler runs after it.
///
/// For every request it:
/// 1. determines the client address from the peer address and, for trusted proxies only,
///    X-Forwarded-For ([`extract_client_ip`]); a request without a peer address (e.g. a
///    Unix socket) is treated as coming from `0.0.0.0`;
/// 2. removes `X-Forwarded-For`, `Forwarded` and `X-Real-IP` from the request;
/// 3. if the client's block hash is in the blocked set, answers 403 with
///    [`BLOCKED_PAGE`] and records a `blocked` security event;
/// 4. otherwise inserts a [`RequestIp`] into the request extensions and calls the inner
///    service.
#[derive(Clone)]
pub struct IpLayer {
    state: Arc<IpState>,
}

impl IpLayer {
    /// Middleware over the shared state.
    pub fn new(state: Arc<IpState>) -> Self {
        Self { state }
    }
}

impl<S, B> Transform<S, ServiceRequest> for IpLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = IpLayerMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IpLayerMiddleware {
            service,
            state: self.state.clone(),
        }))
    }
}

/// The service built by [`IpLayer`].
pub struct IpLayerMiddleware<S> {
    service: S,
    state: Arc<IpState>,
}

type LeftBody<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

fn into_left<B>(res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    res.map_into_left_body()
}

fn client_ip(req: &ServiceRequest, state: &IpState) -> ClientIp {
    let trusted = state.trusted_proxies();
    let peer = req.peer_addr();
    // Only read the header when it can matter: cheaper, and an untrusted header is never
    // even parsed.
    let xff: Option<Cow<'_, str>> = if peer.is_some_and(|p| trusted.contains(p.ip())) {
        let mut values = req.headers().get_all(header::X_FORWARDED_FOR);
        match (values.next(), values.next()) {
            (None, _) => None,
            // Bytes, not `to_str`: one non-ASCII byte a client put in its own
            // header must not blank the whole line, or the hop the trusted
            // proxy appended (the real client) would be lost and the proxy
            // itself taken for the client. Invalid bytes become U+FFFD and
            // only the garbage entry they sit in fails to parse.
            (Some(one), None) => Some(String::from_utf8_lossy(one.as_bytes())),
            (Some(first), Some(second)) => {
                // Several header lines form one list, in order (RFC 9110 §5.3).
                let mut joined = String::new();
                for v in [first, second].into_iter().chain(values) {
                    if !joined.is_empty() {
                        joined.push(',');
                    }
                    joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
                }
                Some(Cow::Owned(joined))
            }
        }
    } else {
        None
    };
    let ip = extract_client_ip(peer, xff.as_deref(), trusted)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    ClientIp::new(ip)
}

impl<S, B> Service<ServiceRequest> for IpLayerMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Either<Ready<Result<Self::Response, Error>>, MapOk<S::Future, LeftBody<B>>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let ip = client_ip(&req, &self.state);
        {
            let headers = req.headers_mut();
            for name in ADDRESS_HEADERS {
                headers.remove(HeaderName::from_static(name));
            }
        }
        let rip = RequestIp::new(ip, self.state.clone());
        if self.state.is_blocked(&ip) {
            self.state.record_event(&rip, SecurityEventKind::Blocked);
            let res = HttpResponse::Forbidden()
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ))
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .body(BLOCKED_PAGE);
            return Either::Left(ready(Ok(req.into_response(res).map_into_right_body())));
        }
        req.extensions_mut().insert(rip);
        Either::Right(self.service.call(req).map_ok(into_left::<B> as LeftBody<B>))
    }
}

/// Taking `RequestIp` as a handler argument. Fails with 500 if [`IpLayer`] is not
/// installed (a wiring bug, never a client error).
impl FromRequest for RequestIp {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        ready(RequestIp::from_http_request(req))
    }
}

impl RequestIp {
    /// The `RequestIp` of a request that went through [`IpLayer`].
    pub fn from_http_request(req: &HttpRequest) -> Result<Self, Error> {
        req.extensions().get::<RequestIp>().cloned().ok_or_else(|| {
            tracing::error!("RequestIp missing: IpLayer is not installed outermost");
            actix_web::error::ErrorInternalServerError("internal error")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LoginLimits;
    use crate::state::tests::{state_with, state_with_trusted};
    use actix_web::{App, HttpResponse, test, web};
    use std::collections::HashSet;

    async fn handler(rip: RequestIp, req: HttpRequest) -> HttpResponse {
        let xff = req.headers().contains_key("x-forwarded-for");
        HttpResponse::Ok().body(format!("{}|xff={xff}", rip.tag().to_hex()))
    }

    #[actix_web::test]
    async fn blocked_gets_403_others_pass_with_request_ip() {
        let (state, sink, _clock) = state_with(LoginLimits::default());
        let blocked_ip: IpAddr = "203.0.113.66".parse().expect("ip");
        let hash = state.sealing_keys().block_hash(blocked_ip);
        assert_eq!(
            state.set_blocked([hash, "junk".to_owned()].into_iter().collect()),
            1
        );

        let app = test::init_service(
            App::new()
                .wrap(IpLayer::new(state.clone()))
                .route("/", web::get().to(handler)),
        )
        .await;

        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr("203.0.113.66:40000".parse().expect("sa"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 403);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"text/html; charset=utf-8"[..])
        );
        let body = test::read_body(res).await;
        let body = std::str::from_utf8(&body).expect("utf8");
        let nb = body.find("Tilgangen er sperret").expect("nb text");
        let en = body.find("Access blocked</h2>").expect("en text");
        assert!(nb < en, "Norwegian first");
        assert_eq!(sink.count(SecurityEventKind::Blocked), 1);
        let ev = &sink.events()[0];
        assert_eq!(
            state
                .sealing_keys()
                .open(ev.sealed.as_bytes(), "blocked", ev.at),
            Ok(blocked_ip)
        );

        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr("198.51.100.5:40000".parse().expect("sa"))
            .insert_header(("x-forwarded-for", "203.0.113.66"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(
            res.status(),
            200,
            "untrusted peer cannot claim another address"
        );
        let body = test::read_body(res).await;
        let body = std::str::from_utf8(&body).expect("utf8");
        let (tag, xff) = body.split_once('|').expect("format");
        assert_eq!(tag.len(), 64);
        assert_eq!(xff, "xff=false", "address headers are stripped");
        assert!(!body.contains("198.51.100.5"));
    }

    #[actix_web::test]
    async fn ipv6_block_covers_its_slash64_and_no_peer_passes() {
        let (state, _sink, _clock) = state_with(LoginLimits::default());
        let hash = state
            .sealing_keys()
            .block_hash("2001:db8:1:2::1".parse().expect("ip"));
        state.set_blocked(HashSet::from([hash]));
        let app = test::init_service(
            App::new()
                .wrap(IpLayer::new(state.clone()))
                .route("/", web::get().to(handler)),
        )
        .await;
        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr("[2001:db8:1:2:aaaa::9]:443".parse().expect("sa"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 403);
        let req = test::TestRequest::get().uri("/").to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 200);
        state.set_blocked(HashSet::new());
        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr("[2001:db8:1:2:aaaa::9]:443".parse().expect("sa"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 200);
    }

    #[actix_web::test]
    async fn trusted_proxy_xff_is_used_across_header_lines() {
        let trusted = crate::TrustedProxies::parse("10.0.0.0/8").expect("parses");
        let (state, _sink, _clock) = state_with_trusted(LoginLimits::default(), trusted);
        let hash = state
            .sealing_keys()
            .block_hash("203.0.113.66".parse().expect("ip"));
        state.set_blocked(HashSet::from([hash]));
        let app = test::init_service(
            App::new()
                .wrap(IpLayer::new(state.clone()))
                .route("/", web::get().to(handler)),
        )
        .await;
        let proxy: std::net::SocketAddr = "10.0.0.1:443".parse().expect("sa");
        // Single header line: right-most untrusted hop is the blocked client.
        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.66, 10.2.2.2"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 403);
        // Two header lines form one list.
        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr(proxy)
            .append_header(("x-forwarded-for", "203.0.113.66"))
            .append_header(("x-forwarded-for", "10.1.1.1"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 403);
        // A forged left-most entry does not help a client behind the proxy.
        let req = test::TestRequest::get()
            .uri("/")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "203.0.113.66, 198.51.100.1"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 200);
        // A non-ASCII byte the client put in its own header (what nginx's
        // $proxy_add_x_forwarded_for passes on) must not hide the hop the
        // proxy appended: still blocked.
        for raw in [&b"\xff, 203.0.113.66"[..], &b"\xc3\xa6, 203.0.113.66"[..]] {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(proxy)
                .insert_header((
                    "x-forwarded-for",
                    actix_web::http::header::HeaderValue::from_bytes(raw).expect("obs-text"),
                ))
                .to_request();
            assert_eq!(test::call_service(&app, req).await.status(), 403, "{raw:?}");
        }
    }

    #[actix_web::test]
    async fn missing_layer_is_a_500() {
        let app = test::init_service(App::new().route("/", web::get().to(handler))).await;
        let req = test::TestRequest::get().uri("/").to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 500);
    }
}
