//! A fake Stripe for the payment tests: an HTTP server on a free port that
//! speaks the subset of Stripe's API the platform uses (create and read a
//! Checkout Session, create a refund), plus a stand-in for the hosted
//! payment page. It records every request; [`FakeStripe::assert_never_saw`]
//! fails the test if any request carried a given value (a code, a session
//! token, an account id or code hash).
//!
//! It also refuses, at once, a session request with a Customer, a client
//! reference or metadata, so such a request can never pass unnoticed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
}

/// A session as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeSession {
    pub id: String,
    pub success_url: String,
    pub cancel_url: String,
    pub customer_email: Option<String>,
    pub amount: i64,
    pub product: String,
    pub paid: bool,
    pub expired: bool,
    pub payment_intent: Option<String>,
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    sessions: BTreeMap<String, FakeSession>,
    /// Sessions created per idempotency key (Stripe returns the first).
    by_key: BTreeMap<String, String>,
    refunds: Vec<String>,
    next: u64,
    /// Problems found while serving (e.g. a forbidden parameter).
    violations: Vec<String>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    handle: actix_web::dev::ServerHandle,
}

/// Parameters that would identify the buyer or the code to Stripe.
const FORBIDDEN_PARAMS: &[&str] = &[
    "customer",
    "customer_creation",
    "client_reference_id",
    "metadata",
    "payment_intent_data[metadata]",
];

fn decode_form(body: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(body)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

impl FakeStripe {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let data = web::Data::new(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Stripe");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let base_data = web::Data::new(base.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(base_data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base,
            inner,
            handle,
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").seen.clone()
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> FakeSession {
        self.inner
            .lock()
            .expect("lock")
            .sessions
            .get(id)
            .cloned()
            .expect("session known to the fake")
    }

    /// Payment intents refunded so far.
    pub fn refunds(&self) -> Vec<String> {
        self.inner.lock().expect("lock").refunds.clone()
    }

    /// The buyer pays on the hosted page: the session is paid (no webhook
    /// is sent; tests send it themselves, signed with the test clock).
    /// Returns the path and query of the success URL.
    pub fn pay(&self, id: &str) -> String {
        let mut inner = self.inner.lock().expect("lock");
        let s = inner.sessions.get_mut(id).expect("session");
        s.paid = true;
        s.payment_intent = Some(format!("pi_test_{}", &id[8..]));
        local_path(&s.success_url.replace("{CHECKOUT_SESSION_ID}", id))
    }

    /// The session expires unpaid (the buyer cancelled or walked away).
    pub fn expire(&self, id: &str) {
        let mut inner = self.inner.lock().expect("lock");
        inner.sessions.get_mut(id).expect("session").expired = true;
    }

    /// The session as Stripe's API renders it.
    pub fn session_json(&self, id: &str) -> Value {
        session_json(&self.session(id))
    }

    /// A `checkout.session.*` event for the session, as JSON text.
    pub fn event(&self, event_id: &str, kind: &str, session: &str, created: i64) -> String {
        json!({
            "id": event_id,
            "object": "event",
            "api_version": "2026-09-30.endive",
            "created": created,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": kind,
            "data": {"object": self.session_json(session)}
        })
        .to_string()
    }

    /// Fails the test if any request (path or body) carried one of
    /// `needles`, or if the fake saw a forbidden parameter.
    pub fn assert_never_saw(&self, needles: &[&str]) {
        let inner = self.inner.lock().expect("lock");
        assert!(
            inner.violations.is_empty(),
            "fake Stripe saw: {:?}",
            inner.violations
        );
        for seen in &inner.seen {
            for needle in needles.iter().filter(|n| !n.is_empty()) {
                let variants = [
                    needle.to_string(),
                    needle.replace('-', ""),
                    percent_encode(needle),
                ];
                for v in &variants {
                    assert!(
                        !seen.body.contains(v.as_str()) && !seen.path.contains(v.as_str()),
                        "fake Stripe received a forbidden value in {} {}",
                        seen.method,
                        seen.path
                    );
                }
            }
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `http://host:port/a?b` → `/a?b`.
pub fn local_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/".into(), |i| rest[i..].to_owned())
}

fn session_json(s: &FakeSession) -> Value {
    json!({
        "id": s.id,
        "object": "checkout.session",
        "amount_subtotal": s.amount,
        "amount_total": s.amount,
        "automatic_tax": {"enabled": false, "liability": null, "status": null},
        "cancel_url": s.cancel_url,
        "created": 1_764_806_400,
        "currency": "nok",
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer": null,
        "customer_creation": "if_required",
        "customer_details": if s.paid {
            json!({"email": s.customer_email.clone().unwrap_or_else(|| "buyer-at-stripe@example.com".into()), "name": "Card Holder", "address": null, "phone": null, "tax_exempt": "none", "tax_ids": []})
        } else { Value::Null },
        "customer_email": s.customer_email,
        "expires_at": 1_764_892_800,
        "livemode": false,
        "locale": "nb",
        "mode": "payment",
        "payment_intent": s.payment_intent,
        "payment_method_types": ["card"],
        "payment_status": if s.paid { "paid" } else { "unpaid" },
        "shipping_options": [],
        "status": if s.paid { "complete" } else if s.expired { "expired" } else { "open" },
        "success_url": s.success_url,
        "url": if s.paid || s.expired { Value::Null } else { json!(format!("/pay/{}", s.id)) },
    })
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Arc<Mutex<Inner>>>,
    base: web::Data<String>,
) -> HttpResponse {
    let body = String::from_utf8_lossy(&body).into_owned();
    let path = req.path().to_owned();
    let method = req.method().as_str().to_owned();
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut inner = inner.lock().expect("lock");
    inner.seen.push(Seen {
        method: method.clone(),
        path: format!("{}?{}", path, req.query_string()),
        body: body.clone(),
        idempotency_key: key.clone(),
    });
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "checkout", "sessions"]) => {
            if req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| !v.starts_with("Bearer sk_test_"))
            {
                return HttpResponse::Unauthorized().json(json!({"error": {"type": "invalid_request_error", "message": "no key"}}));
            }
            let form = decode_form(&body);
            for (k, _) in &form {
                if FORBIDDEN_PARAMS.iter().any(|f| k == f || k.starts_with(&format!("{f}[")))
                {
                    inner.violations.push(format!("forbidden parameter {k}"));
                }
            }
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("mode").as_deref() != Some("payment") {
                inner.violations.push("mode is not payment".into());
            }
            if let Some(k) = &key
                && let Some(existing) = inner.by_key.get(k).cloned()
            {
                let s = inner.sessions[&existing].clone();
                let mut v = session_json(&s);
                v["url"] = json!(format!("{}/pay/{}", base.get_ref(), s.id));
                return HttpResponse::Ok().json(v);
            }
            inner.next += 1;
            let id = format!("cs_test_{:04}{}", inner.next, "a1b2c3d4e5f6");
            let s = FakeSession {
                id: id.clone(),
                success_url: get("success_url").unwrap_or_default(),
                cancel_url: get("cancel_url").unwrap_or_default(),
                customer_email: get("customer_email"),
                amount: get("line_items[0][price_data][unit_amount]")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0),
                product: get("line_items[0][price_data][product_data][name]")
                    .unwrap_or_default(),
                paid: false,
                expired: false,
                payment_intent: None,
            };
            if get("line_items[0][price_data][currency]").as_deref() != Some("nok") {
                inner.violations.push("currency is not nok".into());
            }
            if let Some(k) = key {
                inner.by_key.insert(k, id.clone());
            }
            let mut v = session_json(&s);
            v["url"] = json!(format!("{}/pay/{}", base.get_ref(), id));
            inner.sessions.insert(id, s);
            HttpResponse::Ok().json(v)
        }
        ("GET", ["v1", "checkout", "sessions", id]) => match inner.sessions.get(*id) {
            Some(s) => HttpResponse::Ok().json(session_json(s)),
            None => HttpResponse::NotFound().json(json!({"error": {"type": "invalid_request_error", "message": "No such checkout.session"}})),
        },
        ("POST", ["v1", "refunds"]) => {
            let form = decode_form(&body);
            let pi = form
                .iter()
                .find(|(k, _)| k == "payment_intent")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let known = inner
                .sessions
                .values()
                .any(|s| s.payment_intent.as_deref() == Some(pi.as_str()));
            if !known {
                return HttpResponse::BadRequest().json(json!({"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}));
            }
            inner.refunds.push(pi.clone());
            HttpResponse::Ok().json(json!({
                "id": format!("re_test_{}", inner.refunds.len()),
                "object": "refund",
                "amount": 49000,
                "created": 1_764_806_400,
                "currency": "nok",
                "payment_intent": pi,
                "status": "succeeded",
                "metadata": {}
            }))
        }
        ("GET", ["pay", id]) => match inner.sessions.get(*id) {
            Some(s) => HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(format!(
                    "<!doctype html><html lang=en><title>Fake Stripe</title><main><h1>Pay NOK {}</h1>\
                     <form method=post action=/pay/{id}><button>Pay</button></form>\
                     <form method=post action=/pay/{id}/cancel><button>Cancel</button></form></main>",
                    s.amount / 100
                )),
            None => HttpResponse::NotFound().finish(),
        },
        _ => HttpResponse::NotFound().json(json!({"error": {"type": "invalid_request_error", "message": "unknown path"}})),
    }
}
