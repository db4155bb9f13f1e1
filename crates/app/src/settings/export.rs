//! Export: everything held about the account, as JSON, as a readable page,
//! and the scores as CSV.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use mestring_store::export::{self, ExportTable};
use mestring_web::page::html;
use mestring_web::session::UserSession;
use mestring_web::{AppError, AppState, Ctx};
use serde_json::{Map, Value, json};

async fn collect(state: &AppState, user: &UserSession) -> Result<Vec<ExportTable>, AppError> {
    let account = user.account_id();
    Ok(state
        .store
        .run(move |conn| export::export_account(conn, &account))
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
