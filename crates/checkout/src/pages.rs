//! `/buy` and the success page `/buy/done`.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use mestring_domain::access_code::AccessCode;
use mestring_domain::id::Id;
use mestring_domain::policy::{self, purchase};
use mestring_store::accounts::AccountRow;
use mestring_store::purchases::{ClaimOutcome, NewPurchase, PurchaseRow, PurchaseStatus};
use mestring_web::page::{html_status, see_other};
use mestring_web::{AppError, AppState, Ctx};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::gateway::Sale;
use crate::receipt::kroner;
use crate::{Checkout, RECEIPT_PURPOSE};

/// The cookie that binds a purchase's code to the browser that paid: a
/// random value set when checkout starts; the purchase keeps its SHA-256.
pub const CLAIM_COOKIE: &str = "mestring_buy";

/// One program on sale.
pub struct Offer {
    slug: String,
    title: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "buy/buy.html")]
struct BuyPage {
    ctx: Ctx,
    enabled: bool,
    offers: Vec<Offer>,
    price: String,
    vat: String,
    no_recovery: String,
    lifetime: String,
    receipt_days: String,
    error: Option<String>,
    notice: Option<String>,
    chosen: String,
    email: String,
}

/// What the success page says.
#[derive(Debug, PartialEq, Eq)]
enum Done {
    Code(String),
    AlreadyShown,
    NotPaid,
    Cancelled,
    Unknown,
}

#[derive(Template)]
#[template(path = "buy/done.html")]
struct DonePage {
    ctx: Ctx,
    done: Done,
    lifetime: String,
}

fn offers(state: &AppState, ctx: &Ctx) -> Vec<Offer> {
    let mut list: Vec<Offer> = state
        .content
        .programs()
        .map(|p| Offer {
            slug: p.slug.to_string(),
            title: p.title.get(ctx.lang).to_owned(),
            summary: p.summary.get(ctx.lang).to_owned(),
        })
        .collect();
    list.sort_by(|a, b| a.title.cmp(&b.title));
    list
}

fn buy_page(
    state: &AppState,
    checkout: &Checkout,
    ctx: Ctx,
    error: Option<String>,
    notice: Option<String>,
    chosen: String,
    email: String,
) -> BuyPage {
    BuyPage {
        offers: offers(state, &ctx),
        enabled: checkout.enabled(),
        price: kroner(purchase::PRICE_ORE),
        vat: ctx.fill2(
            "buy.vat",
            "vat",
            kroner(purchase::vat_ore(purchase::PRICE_ORE)),
            "percent",
            purchase::VAT_PERCENT,
        ),
        no_recovery: ctx.t("buy.no_recovery").to_owned(),
        lifetime: ctx.fill1("buy.lifetime", "years", policy::code::LIFETIME_YEARS),
        receipt_days: ctx.fill1(
            "buy.receipt_hint",
            "days",
            purchase::RECEIPT_EMAIL_MAX.num_days(),
        ),
        ctx,
        error,
        notice,
        chosen,
        email,
    }
}

/// Query of `/buy`.
#[derive(Debug, Deserialize)]
pub struct BuyQuery {
    #[serde(default)]
    cancelled: bool,
}

/// `GET /buy`: what is on sale, what is stored, the form.
pub async fn show_buy(
    state: web::Data<AppState>,
    checkout: web::Data<Checkout>,
    ctx: Ctx,
    q: web::Query<BuyQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = q.cancelled.then(|| ctx.t("buy.cancelled").to_owned());
    let page = buy_page(
        &state,
        &checkout,
        ctx,
        None,
        notice,
        String::new(),
        String::new(),
    );
    Ok(html_status(StatusCode::OK, page.render()?))
}

/// The buy form. `Debug` is not derived: it holds an address.
#[derive(Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    program: String,
    #[serde(default)]
    email: String,
}

/// Whether `s` is usable as a receipt address: one `@`, something before
/// it, a dotted domain after it, no spaces or control characters.
fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.chars().count() <= purchase::EMAIL_MAX_CHARS
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

fn claim_value(req: &HttpRequest) -> Option<String> {
    req.cookie(CLAIM_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn hash_claim(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// `POST /buy`: creates the Checkout Session, then 303 to Stripe.
pub async fn submit_buy(
    state: web::Data<AppState>,
    checkout: web::Data<Checkout>,
    ctx: Ctx,
    req: HttpRequest,
    form: web::Form<BuyForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let Some(gateway) = checkout.gateway() else {
        let page = buy_page(
            &state,
            &checkout,
            ctx,
            None,
            None,
            String::new(),
            String::new(),
        );
        // Purchasing is off: the route does not exist, as for the success
        // page and the webhook; the page says so in words.
        return Ok(html_status(StatusCode::NOT_FOUND, page.render()?));
    };
    let slug = form.program.trim().to_owned();
    let email = form.email.trim().to_owned();
    let program = state.content.program(&slug);
    let error = if program.is_none() {
        Some("buy.choose_program")
    } else if !email.is_empty() && !plausible_email(&email) {
        Some("buy.bad_email")
    } else {
        None
    };
    if let Some(key) = error {
        let msg = ctx.t(key).to_owned();
        let page = buy_page(&state, &checkout, ctx, Some(msg), None, slug, email);
        return Ok(html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            page.render()?,
        ));
    }
    let title = program.map_or_else(String::new, |p| p.title.get(ctx.lang).to_owned());
    let id = Id::generate();
    let claim = claim_value(&req).unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    });
    let base = &state.config.base_url;
    let success_url = format!("{base}/buy/done?session_id={{CHECKOUT_SESSION_ID}}");
    let cancel_url = format!("{base}/buy?cancelled=true");
    let sale = Sale {
        key: id.as_str(),
        product: &title,
        amount_ore: purchase::PRICE_ORE,
        email: (!email.is_empty()).then_some(email.as_str()),
        success_url: &success_url,
        cancel_url: &cancel_url,
        lang: ctx.lang,
    };
    let session = match gateway.create_session(&sale).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "Checkout Session not created");
            let msg = ctx.t("buy.provider_down").to_owned();
            let page = buy_page(&state, &checkout, ctx, Some(msg), None, slug, String::new());
            return Ok(html_status(StatusCode::BAD_GATEWAY, page.render()?));
        }
    };
    let sealed = (!email.is_empty()).then(|| {
        state
            .seal
            .seal(RECEIPT_PURPOSE, id.as_str(), email.as_bytes())
    });
    let day = state.clock.now().date_naive();
    let claim_hash = hash_claim(&claim);
    let session_id = session.id.clone();
    state
        .store
        .run(move |conn| {
            PurchaseRow::insert(
                conn,
                &NewPurchase {
                    id: id.as_str(),
                    stripe_session: &session_id,
                    program_slug: &slug,
                    amount_ore: purchase::PRICE_ORE,
                    day,
                    claim_hash: &claim_hash,
                    receipt_sealed: sealed.as_deref(),
                },
            )
        })
        .await?;
    tracing::info!("checkout started");
    let cookie = Cookie::build(CLAIM_COOKIE, claim)
        .path("/buy")
        .http_only(true)
        .secure(state.config.secure_cookies)
        // Lax: sent on the top-level redirect back from Stripe.
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(1))
        .finish();
    let mut resp = see_other(&session.url);
    resp.add_cookie(&cookie)
        .map_err(|_| AppError::internal("cookie"))?;
    Ok(resp)
}

/// Query of the success page.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    session_id: String,
}

/// Whether `s` looks like a Checkout Session id.
fn session_id_ok(s: &str) -> bool {
    s.starts_with("cs_")
        && s.len() <= 255
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `GET /buy/done?session_id=…`: fulfils if the webhook has not yet, then
/// shows the code once, to the browser that started the checkout.
pub async fn show_done(
    state: web::Data<AppState>,
    checkout: web::Data<Checkout>,
    ctx: Ctx,
    req: HttpRequest,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(gateway) = checkout.gateway() else {
        return Err(AppError::NotFound);
    };
    let session = q.into_inner().session_id;
    if !session_id_ok(&session) {
        return Err(AppError::BadRequest);
    }
    let now = state.clock.now();
    let s = session.clone();
    let row = state
        .store
        .run(move |conn| PurchaseRow::find_by_session(conn, &s))
        .await?;
    let done = match row {
        None => Done::Unknown,
        Some(row) => {
            if row.status == PurchaseStatus::Open && !row.code_shown {
                // The webhook may not have arrived: ask Stripe (as its
                // fulfilment guide says), then fulfil the same way.
                match gateway.session_state(&session).await {
                    Ok(st) => {
                        let changed = crate::fulfil::apply(
                            &state.store,
                            session.clone(),
                            st.clone(),
                            None,
                            now,
                        )
                        .await?;
                        if changed && st.paid {
                            crate::receipt::send_soon(&state);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Checkout Session not read back"),
                }
            }
            match claim_value(&req) {
                None => Done::Unknown,
                Some(claim) => claim_code(&state, session, hash_claim(&claim), now).await?,
            }
        }
    };
    let status = match done {
        Done::Unknown => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    let page = DonePage {
        lifetime: ctx.fill1("buy.lifetime", "years", policy::code::LIFETIME_YEARS),
        ctx,
        done,
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // The code is on this page: no copy in any cache.
        .insert_header(("Cache-Control", "no-store"))
        .body(page.render()?))
}

async fn claim_code(
    state: &AppState,
    session: String,
    claim_hash: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Done, AppError> {
    let pepper = state.pepper.clone();
    let outcome = state
        .store
        .transaction(move |conn| {
            // Minted now, at the first showing: accounts appear in the
            // order codes are shown, not the order of purchases.
            let (code, hash) = loop {
                let code = AccessCode::generate();
                let hash = pepper.hash(&code);
                // A collision of 75-bit codes is practically impossible;
                // if one ever happens, draw another.
                if AccountRow::find_by_code_hash(conn, &hash)?.is_none() {
                    break (code, hash);
                }
            };
            let outcome = PurchaseRow::claim(conn, &session, &claim_hash, &hash, now)?;
            Ok((outcome, code))
        })
        .await?;
    Ok(match outcome {
        (ClaimOutcome::Minted, code) => {
            tracing::info!("bought code shown");
            Done::Code(code.reveal())
        }
        (ClaimOutcome::AlreadyShown, _) => Done::AlreadyShown,
        (ClaimOutcome::NotPaid, _) => Done::NotPaid,
        (ClaimOutcome::Expired, _) => Done::Cancelled,
        (ClaimOutcome::Unknown, _) => Done::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_addresses_are_checked_loosely() {
        assert!(plausible_email("a@b.no"));
        assert!(plausible_email("kari.nordmann+kvittering@example.org"));
        assert!(!plausible_email(""));
        assert!(!plausible_email("a@b"));
        assert!(!plausible_email("@b.no"));
        assert!(!plausible_email("a b@c.no"));
        assert!(!plausible_email("a@b@c.no"));
        assert!(!plausible_email(&format!("{}@b.no", "a".repeat(300))));
    }

    #[test]
    fn session_ids_are_checked() {
        assert!(session_id_ok("cs_test_a1B2"));
        assert!(!session_id_ok("pi_123"));
        assert!(!session_id_ok("cs_../x"));
        assert!(!session_id_ok(&format!("cs_{}", "a".repeat(300))));
    }
}
