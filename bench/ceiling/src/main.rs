//! The stack's own ceiling for `bench/run`: the least an authenticated
//! page of Mestring must do, on the same stack, so that each route's
//! throughput can be read as a fraction of what the stack allows.
//!
//! `GET /ceiling` with a user's `mestring_session` cookie:
//! 1. the session found by the SHA-256 of its token, joined to its account
//!    (the same hash function and tables as the server);
//! 2. ten rows of that account's data (its latest questionnaire answers,
//!    on the `(account_id, …)` index);
//! 3. one askama template rendered;
//!
//! through the server's pool ([`Store`], 8 connections) and its
//! blocking-pool pattern ([`Store::run`]), on actix-web with its default
//! worker count. No middleware, no session touch, no catalog: anything the
//! real pages do beyond this is what the ratio measures.
//!
//! Usage: `mestring-ceiling LISTEN_ADDR`, with `MESTRING_DATABASE_URL` as
//! for the server (the database must already be migrated and seeded).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use mestring_store::schema::questionnaire_responses as responses;
use mestring_store::schema::{accounts, sessions};
use mestring_store::{DatabaseUrl, Store, StoreError};
use mestring_web::names::SESSION_COOKIE;
use mestring_web::session::hash_token;

/// The server's pool size (`crates/server/src/db.rs`), so both wait alike.
const POOL_SIZE: u32 = 8;

/// One answer row as the page shows it.
struct Row {
    questionnaire: String,
    total: i64,
    completed_at: NaiveDateTime,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Tak</title></head>
<body><main><h1>Siste svar</h1>
<table><thead><tr><th>Skjema</th><th>Sum</th><th>Tidspunkt</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.questionnaire }}</td><td>{{ r.total }}</td><td>{{ r.completed_at.format("%d.%m.%Y %H:%M") }}</td></tr>
{% endfor %}</tbody></table></main></body></html>"#
)]
struct Page {
    rows: Vec<Row>,
}

async fn ceiling(req: HttpRequest, store: web::Data<Store>) -> HttpResponse {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return HttpResponse::Unauthorized().finish();
    };
    let hash = hash_token(cookie.value());
    let found = store
        .run(move |conn| {
            let account: Option<String> = sessions::table
                .inner_join(accounts::table)
                .filter(sessions::token_hash.eq(&hash))
                .select(accounts::id)
                .first(conn)
                .optional()?;
            let Some(account) = account else {
                return Ok(None);
            };
            let rows: Vec<(String, i64, NaiveDateTime)> = responses::table
                .filter(responses::account_id.eq(&account))
                .order(responses::completed_at.desc())
                .limit(10)
                .select((
                    responses::questionnaire_id,
                    responses::total,
                    responses::completed_at,
                ))
                .load(conn)?;
            Ok::<_, StoreError>(Some(rows))
        })
        .await;
    let rows = match found {
        Ok(Some(rows)) => rows,
        Ok(None) => return HttpResponse::Unauthorized().finish(),
        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
    };
    let page = Page {
        rows: rows
            .into_iter()
            .map(|(questionnaire, total, completed_at)| Row {
                questionnaire,
                total,
                completed_at,
            })
            .collect(),
    };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .context("usage: mestring-ceiling LISTEN_ADDR (e.g. 127.0.0.1:8099)")?;
    let url = std::env::var("MESTRING_DATABASE_URL").context("MESTRING_DATABASE_URL is not set")?;
    let url =
        DatabaseUrl::parse(&url).map_err(|e| anyhow::anyhow!("MESTRING_DATABASE_URL: {e}"))?;
    let store = tokio::task::spawn_blocking(move || Store::connect(&url, POOL_SIZE))
        .await
        .context("store task failed")?
        .context("failed to open the database")?;
    let data = web::Data::new(store.clone());
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/ceiling", web::get().to(ceiling))
    })
    .bind(&listen)
    .with_context(|| format!("failed to bind {listen}"))?
    .run()
    .await?;
    store.close(std::time::Duration::from_secs(5)).await;
    Ok(())
}
