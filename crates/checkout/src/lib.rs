//! Private purchase with Stripe Checkout (docs/payments.md): a buyer pays
//! by card and gets an access code that nothing in the database links to
//! the payment.
//!
//! - [`gateway`]: the Stripe calls (async-stripe 1.0);
//! - [`pages`]: `/buy`, the success page that shows the code once;
//! - [`webhook`]: `POST /stripe/webhook`, signature-checked, idempotent;
//! - [`receipt`]: the optional receipt e-mail, whose address is erased
//!   once sent.

pub mod fulfil;
pub mod gateway;
pub mod pages;
pub mod receipt;
pub mod webhook;

use mestring_web::route;
use mestring_web::routes::RouteDef;

pub use gateway::Gateway;

/// Seal purpose of a stored receipt address (owner: the purchase id).
pub const RECEIPT_PURPOSE: &str = "purchase-receipt";

/// Stripe settings. Without keys, purchasing is switched off and the buy
/// pages say so.
pub struct Checkout {
    stripe: Option<Stripe>,
}

struct Stripe {
    gateway: Gateway,
    webhook_secret: String,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("enabled", &self.stripe.is_some())
            .finish_non_exhaustive()
    }
}

impl Checkout {
    /// Purchasing switched off.
    pub fn disabled() -> Self {
        Self { stripe: None }
    }

    /// Purchasing through Stripe with these keys; `api_base` replaces
    /// Stripe's API address (tests point it at a fake).
    pub fn new(
        secret_key: &str,
        webhook_secret: &str,
        api_base: Option<&str>,
    ) -> Result<Self, gateway::GatewayError> {
        Ok(Self {
            stripe: Some(Stripe {
                gateway: Gateway::new(secret_key, api_base)?,
                webhook_secret: webhook_secret.to_owned(),
            }),
        })
    }

    /// Whether purchasing is on.
    pub fn enabled(&self) -> bool {
        self.stripe.is_some()
    }

    /// The Stripe client, if purchasing is on.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.stripe.as_ref().map(|s| &s.gateway)
    }

    fn webhook_secret(&self) -> Option<&str> {
        self.stripe.as_ref().map(|s| s.webhook_secret.as_str())
    }
}

/// The purchase routes.
pub fn routes() -> Vec<RouteDef> {
    vec![
        route!(Get, "/buy", Public, pages::show_buy),
        route!(Post, "/buy", Public, pages::submit_buy),
        route!(Get, "/buy/done", Public, pages::show_done),
        route!(Post, "/stripe/webhook", Public, webhook::receive),
    ]
}
