//! The Stripe calls the platform makes, on async-stripe 1.0: create a
//! Checkout Session, read one back, refund a payment. Nothing that names
//! the buyer or the code is sent: no Customer, no metadata, no client
//! reference; the buyer's e-mail only if they typed one for a receipt.

use std::time::Duration;

use mestring_domain::content::Lang;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData, RetrieveCheckoutSession,
};
use stripe_client_core::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_shared::{
    CheckoutSessionLocale, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus,
};

/// Why a Stripe call failed. The text never quotes Stripe's reply (which
/// can echo what was sent, e.g. an address).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Stripe answered with an error status.
    #[error("Stripe refused the request (status {0})")]
    Refused(u16),
    /// Stripe could not be reached or answered something unreadable.
    #[error("Stripe unreachable or unreadable reply ({0})")]
    Transport(&'static str),
    /// The client could not be configured.
    #[error("Stripe client configuration: {0}")]
    Config(&'static str),
}

impl From<StripeError> for GatewayError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(_, status) => Self::Refused(status),
            StripeError::JSONDeserialize(_) => Self::Transport("unreadable reply"),
            StripeError::ClientError(_) => Self::Transport("connection"),
            StripeError::ConfigError(_) => Self::Config("invalid"),
            StripeError::Timeout => Self::Transport("timeout"),
        }
    }
}

/// A created Checkout Session.
#[derive(Debug)]
pub struct CreatedSession {
    /// Stripe's id (`cs_…`).
    pub id: String,
    /// Stripe's hosted payment page.
    pub url: String,
}

/// What the platform needs to know about a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// Paid (fulfil).
    pub paid: bool,
    /// Expired unpaid (forget the claim and any receipt address).
    pub expired: bool,
    /// Stripe's PaymentIntent id, for the receipt and refunds.
    pub payment_ref: Option<String>,
}

/// What one session sells.
#[derive(Debug)]
pub struct Sale<'a> {
    /// The idempotency key (the purchase id): a retried create returns the
    /// same session.
    pub key: &'a str,
    /// The product name Stripe shows (the program's title).
    pub product: &'a str,
    /// Price in øre.
    pub amount_ore: i64,
    /// The receipt address, if the buyer typed one.
    pub email: Option<&'a str>,
    /// Where Stripe sends the buyer after paying; carries
    /// `{CHECKOUT_SESSION_ID}`.
    pub success_url: &'a str,
    /// Where Stripe sends the buyer who cancels.
    pub cancel_url: &'a str,
    /// The page language.
    pub lang: Lang,
}

/// A Stripe API client.
pub struct Gateway {
    client: Client,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gateway([REDACTED])")
    }
}

impl Gateway {
    /// A client for `secret_key`, talking to `api_base` (tests) or Stripe.
    pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, GatewayError> {
        let mut builder = ClientBuilder::new(secret_key).timeout(Duration::from_secs(20));
        if let Some(base) = api_base {
            builder = builder.url(base.trim_end_matches('/'));
        }
        Ok(Self {
            client: builder.build()?,
        })
    }

    /// Creates a Checkout Session in payment mode with inline price data.
    pub async fn create_session(&self, sale: &Sale<'_>) -> Result<CreatedSession, GatewayError> {
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(stripe_types::Currency::NOK);
        price.unit_amount = Some(sale.amount_ore);
        price.product_data = Some(ProductData::new(sale.product));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price);
        item.quantity = Some(1);
        let locale = match sale.lang {
            Lang::En => CheckoutSessionLocale::En,
            // Stripe has one Norwegian; nynorsk readers get bokmål there.
            Lang::Nb | Lang::Nn => CheckoutSessionLocale::Nb,
        };
        let mut request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![item])
            .success_url(sale.success_url)
            .cancel_url(sale.cancel_url)
            .locale(locale);
        if let Some(email) = sale.email {
            request = request.customer_email(email);
        }
        let key = IdempotencyKey::new(sale.key).map_err(|_| GatewayError::Config("key"))?;
        let session = request
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await?;
        let url = session
            .url
            .ok_or(GatewayError::Transport("session without a URL"))?;
        Ok(CreatedSession {
            id: session.id.as_str().to_owned(),
            url,
        })
    }

    /// Reads a session back (the success page, when the webhook has not
    /// arrived yet).
    pub async fn session_state(&self, id: &str) -> Result<SessionState, GatewayError> {
        let session = RetrieveCheckoutSession::new(id).send(&self.client).await?;
        Ok(state_of(&session))
    }

    /// Refunds a payment in full. `key` makes a retried refund one refund.
    pub async fn refund(&self, payment_ref: &str, key: &str) -> Result<(), GatewayError> {
        let key = IdempotencyKey::new(format!("refund-{key}"))
            .map_err(|_| GatewayError::Config("key"))?;
        stripe_core::refund::CreateRefund::new()
            .payment_intent(payment_ref)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await?;
        Ok(())
    }
}

/// The parts of a session the platform uses (nothing about the buyer).
pub fn state_of(session: &stripe_shared::CheckoutSession) -> SessionState {
    SessionState {
        paid: matches!(
            session.payment_status,
            CheckoutSessionPaymentStatus::Paid | CheckoutSessionPaymentStatus::NoPaymentRequired
        ),
        expired: matches!(session.status, Some(CheckoutSessionStatus::Expired)),
        payment_ref: session
            .payment_intent
            .as_ref()
            .map(|p| p.id().as_str().to_owned()),
    }
}
