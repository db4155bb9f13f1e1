//! Export: everything held about the account, as JSON, as a readable page,
//! and the scores as CSV.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_domain::content::OptionValue;
use mestring_domain::fhir;
use mestring_store::export::{self, ExportTable};
use mestring_store::responses::ResponseRow;
use mestring_web::page::html;
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde_json::{Map, Value, json};

async fn collect(state: &AppState, user: &UserSession) -> Result<Vec<ExportTable>, AppError> {
    let account = user.account_id();
    let keks = state.keks.clone();
    Ok(state
        .store
        .run(move |conn| export::export_account(conn, &keks, &account))
        .await?)
}

/// `GET /settings/export.json`: a download.
pub async fn export_json(
    state: web::Data<AppState>,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let tables = collect(&state, &user).await?;
    let mut data = Map::new();
    for t in tables {
        data.insert(
            t.name,
            Value::Array(t.rows.into_iter().map(Value::Object).collect()),
        );
    }
    let body = json!({
        "format": "mestring-export-v1",
        "exported_at": state.clock.now().to_rfc3339(),
        "data": data,
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"mestring-export.json\"",
        ))
        .body(serde_json::to_string_pretty(&body).map_err(|e| AppError::internal(e.to_string()))?))
}

/// `GET /settings/export.fhir.json`: the user's questionnaire answers as a
/// FHIR R4 collection Bundle (see [`mestring_domain::fhir`]): no identifier
/// of the person, voided answers as `entered-in-error`, texts in the
/// user's language.
pub async fn export_fhir(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let account = user.account_id();
    let keks = state.keks.clone();
    let stored = state
        .store
        .run(move |conn| {
            let mut all = ResponseRow::list_for_account(conn, &account)?;
            all.extend(ResponseRow::list_voided(conn, &account)?);
            all.sort_by(|a, b| (a.completed_at, &a.id).cmp(&(b.completed_at, &b.id)));
            all.into_iter()
                .map(|r| {
                    let answers = r.answers(conn, &keks)?;
                    Ok((r, answers))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let answered: Vec<fhir::Answered<'_>> = stored
        .iter()
        .filter_map(|(r, answers)| {
            // A questionnaire no longer shipped cannot be described; its
            // answers stay in the JSON export.
            let questionnaire = state.content.questionnaire(&r.questionnaire_id)?;
            Some(fhir::Answered {
                questionnaire,
                version: u32::try_from(r.questionnaire_version).unwrap_or(0),
                authored: r.completed_at,
                answers: answers
                    .iter()
                    .map(|a| {
                        (
                            a.item_id.clone(),
                            OptionValue(u32::try_from(a.option_value).unwrap_or(0)),
                        )
                    })
                    .collect(),
                total: r.total_u32(),
                voided: r.voided_at.is_some(),
            })
        })
        .collect();
    let bundle = fhir::answers_bundle(
        &answered,
        &state.config.base_url,
        ctx.lang,
        state.clock.now(),
        || fhir::urn_uuid(rand::random()),
    );
    Ok(HttpResponse::Ok()
        .content_type("application/fhir+json; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"mestring-fhir.json\"",
        ))
        .body(
            serde_json::to_string_pretty(&bundle).map_err(|e| AppError::internal(e.to_string()))?,
        ))
}

/// One table on the readable page.
pub struct Section {
    /// Heading.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Cells, already turned into text.
    pub rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "settings/export.html")]
struct ExportPage {
    ctx: Ctx,
    sections: Vec<Section>,
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `GET /settings/export`: the same content as the JSON, readable.
pub async fn show_export(
    state: web::Data<AppState>,
    ctx: Ctx,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let tables = collect(&state, &user).await?;
    let sections = tables
        .into_iter()
        .map(|t| Section {
            title: ctx
                .tr
                .find(&format!("export.table.{}", t.name))
                .map_or_else(|| t.name.clone(), str::to_owned),
            rows: t
                .rows
                .iter()
                .map(|r| t.columns.iter().map(|c| cell(r.get(c))).collect())
                .collect(),
            columns: t.columns,
        })
        .collect();
    Ok(html(ExportPage { ctx, sections }.render()?))
}

/// Quotes a CSV field when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The columns of the scores CSV, taken from the questionnaire responses
/// table when it exists.
const SCORE_TABLE: &str = "questionnaire_responses";
const SCORE_COLUMNS: &[&str] = &[
    "completed_at",
    "questionnaire_id",
    "total",
    "band_id",
    "flags",
];

/// `GET /settings/export/scores.csv`.
pub async fn export_scores_csv(
    state: web::Data<AppState>,
    user: UserSession,
) -> Result<HttpResponse, AppError> {
    let tables = collect(&state, &user).await?;
    let mut out = SCORE_COLUMNS.join(",");
    out.push_str("\r\n");
    if let Some(t) = tables.iter().find(|t| t.name == SCORE_TABLE) {
        for row in &t.rows {
            let line: Vec<String> = SCORE_COLUMNS
                .iter()
                .map(|c| csv_field(&cell(row.get(*c))))
                .collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"mestring-scores.csv\"",
        ))
        .body(out))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("phq9"), "phq9");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
