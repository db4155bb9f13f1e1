//! `POST /stripe/webhook`: Stripe's events about Checkout Sessions.
//!
//! The `Stripe-Signature` header is checked by async-stripe's
//! `construct_event_with_timestamp`: every `v1` value is tried (secret
//! rotation), each an HMAC-SHA256 over `"{t}.{raw body}"` compared in
//! constant time, and `t` must be within 300 s of the platform's clock.
//! Forged, stale or unreadable signatures get 400 and a security event.
//! The raw body and the buyer's details in it are never stored or logged.

use actix_web::{HttpRequest, HttpResponse, web};
use mestring_ipcrypt::{RequestIp, SecurityEventKind};
use mestring_web::{AppError, AppState};
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::Checkout;
use crate::gateway::state_of;

/// The largest event body accepted (Stripe's are a few kilobytes).
const MAX_BODY: usize = 64 * 1024;

/// `POST /stripe/webhook`.
pub async fn receive(
    state: web::Data<AppState>,
    checkout: web::Data<Checkout>,
    ip: RequestIp,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let Some(secret) = checkout.webhook_secret() else {
        return Err(AppError::NotFound);
    };
    let refuse = |why: &'static str| {
        tracing::warn!(reason = why, "Stripe webhook refused");
        state.ip.record_event(&ip, SecurityEventKind::BadWebhook);
        Ok(HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("webhook refused: {why}\n")))
    };
    let Some(signature) = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return refuse("missing Stripe-Signature header");
    };
    if body.len() > MAX_BODY {
        return refuse("body too large");
    }
    let Ok(payload) = std::str::from_utf8(&body) else {
        return refuse("body is not UTF-8");
    };
    let now = state.clock.now();
    let event = match Webhook::construct_event_with_timestamp(
        payload,
        signature,
        secret,
        now.timestamp(),
    ) {
        Ok(event) => event,
        Err(WebhookError::BadTimestamp(_)) => return refuse("signature timestamp too old or new"),
        Err(WebhookError::BadParse(_)) => {
            // Signed by Stripe but not an event this version reads: no
            // security event, but no 2xx either, so Stripe retries and
            // the dashboard shows the failure.
            tracing::warn!("Stripe webhook: signed event could not be read");
            return Ok(HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body("webhook refused: unreadable event\n"));
        }
        Err(_) => return refuse("bad signature"),
    };
    let event_id = event.id.as_str().to_owned();
    let session = match &event.data.object {
        EventObject::CheckoutSessionCompleted(s)
        | EventObject::CheckoutSessionAsyncPaymentSucceeded(s)
        | EventObject::CheckoutSessionAsyncPaymentFailed(s)
        | EventObject::CheckoutSessionExpired(s) => Some(s),
        _ => None,
    };
    let Some(session) = session else {
        tracing::debug!(kind = %event.type_.as_str(), "Stripe event ignored");
        return Ok(HttpResponse::Ok().finish());
    };
    let mut outcome = state_of(session);
    if matches!(
        event.data.object,
        EventObject::CheckoutSessionAsyncPaymentFailed(_)
    ) {
        outcome.paid = false;
        outcome.expired = true;
    }
    let id = session.id.as_str().to_owned();
    let changed =
        crate::fulfil::apply(&state.store, id, outcome.clone(), Some(event_id), now).await?;
    tracing::info!(changed, paid = outcome.paid, "Stripe event handled");
    if changed && outcome.paid {
        crate::receipt::send_soon(&state);
    }
    Ok(HttpResponse::Ok().finish())
}
