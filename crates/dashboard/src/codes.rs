//! Issuing codes: the shared core (CLI and dashboard) and the printable
//! sheet.
//!
//! Each code is stored as its HMAC (to log in) and, sealed for the issuing
//! organisation, as the organisation's pseudonym for the patient. The
//! sealing binds the pseudonym to the organisation id, so it cannot be
//! opened as another organisation's.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use mestring_domain::access_code::{AccessCode, CodePepper};
use mestring_domain::content::Lang;
use mestring_domain::id::Id;
use mestring_store::accounts::{AccountRow, NewAccount};
use mestring_store::staff::CodeBatchRow;
use mestring_store::{Store, StoreError};
use mestring_web::i18n::Catalog;
use mestring_web::seal::SealKey;
use mestring_web::{AppError, AppState, Ctx};
use serde::Deserialize;

use crate::session::Staff;
use crate::{fmt_date, fmt_date_time, html_status};

/// Purpose label for sealing pseudonyms.
pub const PSEUDONYM_PURPOSE: &str = "pseudonym";
pub use mestring_domain::policy::code::MAX_PER_SHEET;

/// Opens an organisation's sealed pseudonym (the code it issued).
pub fn open_pseudonym(seal: &SealKey, org: &Id, sealed: &[u8]) -> Option<String> {
    seal.open(PSEUDONYM_PURPOSE, org.as_str(), sealed)
        .and_then(|b| String::from_utf8(b).ok())
}

/// The pseudonym as staff pages show it: the first and last group of the
/// issued code, the middle masked (`ABCD-····-····-WXYZ`). Enough to match
/// the journal, where the full code was written down; not enough to log in
/// as the user (seven random symbols, 35 bits, stay hidden behind the
/// login throttles). Search by the full code still works.
pub fn mask_code(code: &str) -> String {
    let groups: Vec<&str> = code.split('-').collect();
    match (groups.first(), groups.last()) {
        (Some(first), Some(last)) if groups.len() >= 3 => {
            let hidden = vec!["····"; groups.len() - 2].join("-");
            format!("{first}-{hidden}-{last}")
        }
        _ => "····".to_owned(),
    }
}

/// Opens an organisation's sealed pseudonym and masks it for display
/// ([`mask_code`]).
pub fn masked_pseudonym(seal: &SealKey, org: &Id, sealed: &[u8]) -> Option<String> {
    open_pseudonym(seal, org, sealed).map(|c| mask_code(&c))
}

/// Issues `count` codes in one transaction and returns them with the
/// batch id. With an organisation each code is recorded in a batch and,
/// given a key, kept sealed as the organisation's pseudonym; bought codes
/// (no organisation) keep nothing but the HMAC.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per caller; a parameter struct would only rename the list"
)]
pub async fn issue(
    store: &Store,
    pepper: &CodePepper,
    seal: Option<&SealKey>,
    org: Option<&Id>,
    staff: Option<&Id>,
    program: Option<&str>,
    count: u32,
    now: DateTime<Utc>,
) -> Result<(Option<Id>, Vec<AccessCode>), StoreError> {
    let pepper = pepper.clone();
    let seal = seal.cloned();
    let org = org.cloned();
    let staff = staff.cloned();
    let program = program.map(str::to_owned);
    store
        .transaction(move |conn| {
            let batch = match &org {
                Some(o) => Some(CodeBatchRow::insert(
                    conn,
                    o,
                    staff.as_ref(),
                    program.as_deref(),
                    now,
                )?),
                None => None,
            };
            let mut codes = Vec::with_capacity(count as usize);
            while codes.len() < count as usize {
                let code = AccessCode::generate();
                let hash = pepper.hash(&code);
                // A collision of 75-bit codes is practically impossible;
                // if one ever happens, draw another.
                if AccountRow::find_by_code_hash(conn, &hash)?.is_some() {
                    continue;
                }
                let sealed = match (&org, &seal) {
                    (Some(o), Some(k)) => {
                        Some(k.seal(PSEUDONYM_PURPOSE, o.as_str(), code.reveal().as_bytes()))
                    }
                    _ => None,
                };
                let id = AccountRow::insert(
                    conn,
                    &NewAccount {
                        code_hash: &hash,
                        org_id: org.as_ref(),
                        program_slug: program.as_deref(),
                        pseudonym: sealed.as_deref(),
                    },
                    now,
                )?;
                if let Some(b) = &batch {
                    CodeBatchRow::add_item(conn, b, &id, hash.as_str())?;
                }
                codes.push(code);
            }
            Ok((batch, codes))
        })
        .await
}

/// The issue form.
#[derive(Debug, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    program: String,
    #[serde(default)]
    count: String,
}

/// `POST /dashboard/codes`: issues up to 100 codes, then shows the sheet.
pub async fn submit_issue(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<IssueForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let count: u32 = form
        .count
        .trim()
        .parse()
        .map_err(|_| AppError::BadRequest)?;
    if !(1..=MAX_PER_SHEET).contains(&count) {
        return Err(AppError::BadRequest);
    }
    let program = state
        .content
        .program(form.program.trim())
        .ok_or(AppError::BadRequest)?;
    let slug = program.slug.to_string();
    let (batch, _codes) = issue(
        &state.store,
        &state.pepper,
        Some(&state.seal),
        Some(&staff.org()),
        Some(&staff.id()),
        Some(&slug),
        count,
        state.clock.now(),
    )
    .await?;
    let batch = batch.ok_or_else(|| AppError::internal("batch missing"))?;
    tracing::info!(staff = %staff.id(), count, "codes issued");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/dashboard/sheets/{batch}")))
        .finish())
}

#[derive(Template)]
#[template(path = "dashboard/sheet.html")]
struct SheetPage {
    ctx: Ctx,
    /// The slips are for patients and always in bokmål.
    nb: &'static Catalog,
    program: String,
    issued: String,
    codes: Vec<String>,
    /// When the sheet was shown before (then `codes` is empty).
    shown_before: Option<String>,
}

/// `GET /dashboard/sheets/{id}`: one slip per code, for printing.
pub async fn show_sheet(
    state: web::Data<AppState>,
    staff: Staff,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let batch = Id::parse(&path.into_inner()).map_err(|_| AppError::NotFound)?;
    let org = staff.org();
    let now = state.clock.now();
    let (row, accounts, shown_before) = state
        .store
        .transaction(move |conn| {
            let row = CodeBatchRow::find_for_org(conn, &org, &batch)?;
            if let Some(at) = CodeBatchRow::claim_sheet(conn, &org, &batch, now)? {
                return Ok((row, Vec::new(), Some(at)));
            }
            let ids = CodeBatchRow::account_ids(conn, &batch)?;
            let mut accounts = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(a) = mestring_store::staff::org_account(conn, &org, &id)? {
                    accounts.push(a);
                }
            }
            Ok((row, accounts, None))
        })
        .await?;
    let org = staff.org();
    let codes = accounts
        .iter()
        .filter_map(|a| a.pseudonym.as_deref())
        .filter_map(|p| open_pseudonym(&state.seal, &org, p))
        .collect();
    let program = row
        .program_slug
        .as_deref()
        .and_then(|s| state.content.program(s))
        .map(|p| p.title.get(ctx.lang).to_owned())
        .unwrap_or_default();
    let status = if shown_before.is_some() {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    let page = SheetPage {
        shown_before: shown_before.map(fmt_date_time),
        issued: fmt_date(row.created_at),
        nb: Catalog::get(Lang::Nb),
        ctx,
        program,
        codes,
    };
    tracing::info!(staff = %staff.id(), shown = status == StatusCode::OK, "code sheet requested");
    Ok(html_status(status, page.render()?))
}
