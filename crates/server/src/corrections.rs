//! The operator's side of rectification: `mestring feedback …` and
//! `mestring corrections …`.
//!
//! A user asks for a correction through the feedback form; the operator
//! cannot reply (the platform has no way to reach a user), but can see
//! which account sent an item and that account's own entries, and correct
//! them. Every command acts only on the sending account's data, writes an
//! audit row (who, when, what as ids, why; never the content) and marks the
//! item handled; handled items are deleted after
//! [`retention::HANDLED_FEEDBACK`] by the maintenance sweep.
//!
//! stdout carries the listing a script reads; confirmations go to stderr.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use mestring_crypto::shred::SharedKekRing;
use mestring_domain::clock::Clock;
use mestring_domain::content::FieldValue;
use mestring_domain::id::Id;
use mestring_domain::policy::retention;
use mestring_store::feedback::{FeedbackOutcome, FeedbackRow};
use mestring_store::registrations::RegistrationRow;
use mestring_store::responses::ResponseRow;
use mestring_store::security::{AuditRow, NewAudit};
use mestring_store::{Store, StoreError};

use crate::config::Config;

/// `mestring feedback …`.
#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Show all feedback, newest first, one line per item: reference,
    /// status (open, corrected, closed), time (UTC), kind, account id,
    /// topic, ratings, text.
    List,
    /// Show one item and the sender's entries it may be about (answers and
    /// registrations with their ids; never the access code).
    Show {
        /// The item's reference from `feedback list`.
        reference: String,
    },
    /// Close an item without changing anything.
    Done {
        /// The item's reference from `feedback list`.
        reference: String,
        /// Why (kept in the audit log; write no personal data here).
        #[arg(long, default_value = "closed without a change")]
        reason: String,
    },
}

/// `mestring corrections …`.
#[derive(Debug, Subcommand)]
pub enum CorrectionsCommand {
    /// Void one of the sender's questionnaire answers (it leaves their
    /// results, charts and the clinician's view; it cannot be undone).
    VoidAnswer {
        /// The feedback item's reference.
        reference: String,
        /// The answer's id from `feedback show`.
        answer_id: String,
        /// Why (kept in the audit log; write no personal data here).
        #[arg(long)]
        reason: String,
    },
    /// Delete one of the sender's registrations for good.
    DeleteRegistration {
        /// The feedback item's reference.
        reference: String,
        /// The registration's id from `feedback show`.
        registration_id: String,
        /// Why (kept in the audit log; write no personal data here).
        #[arg(long)]
        reason: String,
    },
}

/// Who runs the command, for the audit log: `MESTRING_OPERATOR` when set
/// (a shared operator login should set it), else the login name.
pub fn operator() -> String {
    ["MESTRING_OPERATOR", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| escape_controls(v.trim()))
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The most characters a reason may have.
const MAX_REASON_CHARS: usize = 500;

fn checked_reason(reason: &str) -> anyhow::Result<String> {
    let reason = reason.trim();
    anyhow::ensure!(
        !reason.is_empty() && reason.chars().count() <= MAX_REASON_CHARS,
        "--reason must be 1 to {MAX_REASON_CHARS} characters"
    );
    Ok(reason.to_owned())
}

/// The one item `reference` names, or a message saying why not.
async fn find_item(
    store: &Store,
    keks: &SharedKekRing,
    reference: &str,
) -> anyhow::Result<FeedbackRow> {
    let wanted = reference.to_owned();
    let keks = keks.clone();
    let mut rows = store
        .run(move |conn| FeedbackRow::find_by_reference(conn, &keks, &wanted))
        .await?;
    match rows.len() {
        0 => anyhow::bail!(
            "no feedback item with reference {:?} (see `mestring feedback list`)",
            escape_controls(reference)
        ),
        1 => Ok(rows.remove(0)),
        _ => anyhow::bail!(
            "reference {:?} matches more than one item; give more characters of the id",
            escape_controls(reference)
        ),
    }
}

/// Runs a `feedback` subcommand.
pub async fn run_feedback(
    command: FeedbackCommand,
    config: &Config,
    clock: std::sync::Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    let keks = crate::keys::keks(&config.data_dir, clock.now())?;
    match command {
        FeedbackCommand::List => list(&store, &keks).await,
        FeedbackCommand::Show { reference } => show(&store, &keks, &reference).await,
        FeedbackCommand::Done { reference, reason } => {
            let reason = checked_reason(&reason)?;
            let item = find_item(&store, &keks, &reference).await?;
            if let Some(at) = item.handled_at {
                eprintln!(
                    "feedback {} was already handled ({}) on {}; nothing changed",
                    item.reference(),
                    item.status(),
                    at.format("%Y-%m-%d")
                );
                return Ok(());
            }
            let now = clock.now();
            let actor = operator();
            let subject = format!("feedback={}", item.reference());
            let id = item.id.clone();
            store
                .transaction(move |conn| {
                    FeedbackRow::mark_handled(conn, id.as_str(), FeedbackOutcome::Closed, now)?;
                    audit(conn, now, &actor, "feedback_done", &subject, &reason)
                })
                .await?;
            eprintln!(
                "feedback {} closed; it is deleted {} days from now",
                item.reference(),
                retention::HANDLED_FEEDBACK.num_days()
            );
            Ok(())
        }
    }
}

/// Runs a `corrections` subcommand.
pub async fn run_corrections(
    command: CorrectionsCommand,
    config: &Config,
    clock: std::sync::Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    let now = clock.now();
    let keks = crate::keys::keks(&config.data_dir, now)?;
    let actor = operator();
    match command {
        CorrectionsCommand::VoidAnswer {
            reference,
            answer_id,
            reason,
        } => {
            let reason = checked_reason(&reason)?;
            let item = find_item(&store, &keks, &reference).await?;
            let account = item.account_id.clone();
            let answer = Id::parse(&answer_id)
                .map_err(|_| anyhow::anyhow!("{answer_id:?} is not an answer id"))?;
            let (check_account, check_answer) = (account.clone(), answer.clone());
            let row = store
                .run(move |conn| {
                    ResponseRow::find_for_account(conn, &check_account, check_answer.as_str())
                })
                .await
                .map_err(|e| not_theirs(e, "answer", item.reference()))?;
            if let Some(at) = row.voided_at {
                anyhow::bail!(
                    "answer {answer} was already voided on {}; nothing changed",
                    at.format("%Y-%m-%d")
                );
            }
            let subject = format!("feedback={} answer={answer}", item.reference());
            let id = item.id.clone();
            store
                .transaction(move |conn| {
                    ResponseRow::void(conn, &account, answer.as_str(), now)?;
                    FeedbackRow::mark_handled(conn, id.as_str(), FeedbackOutcome::Corrected, now)?;
                    audit(
                        conn,
                        now,
                        &actor,
                        "correction_void_answer",
                        &subject,
                        &reason,
                    )
                })
                .await?;
            eprintln!(
                "answer voided; feedback {} marked corrected",
                item.reference()
            );
            Ok(())
        }
        CorrectionsCommand::DeleteRegistration {
            reference,
            registration_id,
            reason,
        } => {
            let reason = checked_reason(&reason)?;
            let item = find_item(&store, &keks, &reference).await?;
            let account = item.account_id.clone();
            let entry = Id::parse(&registration_id)
                .map_err(|_| anyhow::anyhow!("{registration_id:?} is not a registration id"))?;
            let subject = format!("feedback={} registration={entry}", item.reference());
            let id = item.id.clone();
            let keks = keks.clone();
            store
                .transaction(move |conn| {
                    RegistrationRow::delete_for_account(
                        conn,
                        &keks,
                        &account,
                        entry.as_str(),
                        now,
                    )?;
                    FeedbackRow::mark_handled(conn, id.as_str(), FeedbackOutcome::Corrected, now)?;
                    audit(
                        conn,
                        now,
                        &actor,
                        "correction_delete_registration",
                        &subject,
                        &reason,
                    )
                })
                .await
                .map_err(|e| not_theirs(e, "registration", item.reference()))?;
            // The text is overwritten in the file (secure_delete); the
            // checkpoint takes it out of the WAL too.
            store.checkpoint().await?;
            eprintln!(
                "registration deleted; feedback {} marked corrected",
                item.reference()
            );
            Ok(())
        }
    }
}

/// Writes the audit row of one corrective action on one subject.
fn audit(
    conn: &mut mestring_store::DbConn,
    at: chrono::DateTime<chrono::Utc>,
    actor: &str,
    action: &str,
    subject: &str,
    reason: &str,
) -> Result<(), StoreError> {
    AuditRow::insert(
        conn,
        &NewAudit {
            at,
            actor,
            action,
            subject,
            reason,
            row_count: 1,
        },
    )
}

/// `NotFound` for an id of someone else's (or nobody's) entry, said so.
fn not_theirs(e: StoreError, what: &str, reference: &str) -> anyhow::Error {
    match e {
        StoreError::NotFound => anyhow::anyhow!(
            "no {what} with that id among the entries of the account that sent {reference}; \
             nothing changed"
        ),
        other => other.into(),
    }
}

/// `mestring feedback list`.
async fn list(store: &Store, keks: &SharedKekRing) -> anyhow::Result<()> {
    let keks = keks.clone();
    let rows = store
        .run(move |conn| FeedbackRow::list_all(conn, &keks))
        .await?;
    let mut out = std::io::stdout().lock();
    for r in &rows {
        let rating = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\thelpful={}\tease={}\t{}",
            r.reference(),
            r.status(),
            r.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.kind,
            r.account_id,
            r.topic.as_deref().unwrap_or("-"),
            rating(r.helpful),
            rating(r.ease),
            escape_controls(&r.body)
        )?;
    }
    if rows.is_empty() {
        eprintln!("no feedback");
    }
    Ok(())
}

/// `mestring feedback show REF`.
async fn show(store: &Store, keks: &SharedKekRing, reference: &str) -> anyhow::Result<()> {
    let item = find_item(store, keks, reference).await?;
    let account = item.account_id.clone();
    let keks = keks.clone();
    let (answers, voided, registrations) = store
        .run(move |conn| {
            Ok((
                ResponseRow::list_for_account(conn, &account)?,
                ResponseRow::list_voided(conn, &account)?,
                RegistrationRow::list_with_values(conn, &keks, &account)?,
            ))
        })
        .await
        .context("failed to read the sender's entries")?;
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let mut out = std::io::stdout().lock();
    writeln!(out, "reference\t{}", item.reference())?;
    writeln!(out, "status\t{}", item.status())?;
    if let Some(at) = item.handled_at {
        writeln!(out, "handled\t{}", day(at))?;
    }
    writeln!(out, "sent\t{}", day(item.created_at))?;
    writeln!(out, "kind\t{}", item.kind)?;
    writeln!(out, "topic\t{}", item.topic.as_deref().unwrap_or("-"))?;
    writeln!(out, "account\t{}", item.account_id)?;
    writeln!(out, "text\t{}", escape_controls(&item.body))?;
    writeln!(out)?;
    let mut all: Vec<&ResponseRow> = answers.iter().chain(voided.iter()).collect();
    all.sort_by_key(|r| (r.completed_at, r.id.clone()));
    writeln!(out, "answers\t{}", all.len())?;
    for r in all {
        let state = r.voided_at.map_or_else(
            || "valid".to_owned(),
            |at| format!("voided {}", at.format("%Y-%m-%d")),
        );
        writeln!(
            out,
            "answer\t{}\t{}\t{}\ttotal={}\t{state}",
            r.id,
            day(r.completed_at),
            r.questionnaire_id,
            r.total
        )?;
    }
    writeln!(out, "registrations\t{}", registrations.len())?;
    for (r, entry) in &registrations {
        let edited = r.edited_at.map_or_else(String::new, |at| {
            format!("edited {}", at.format("%Y-%m-%d"))
        });
        let values = entry
            .iter()
            .map(|(field, value)| format!("{field}={}", value_text(value)))
            .collect::<Vec<_>>()
            .join("; ");
        writeln!(
            out,
            "registration\t{}\t{}\t{}\t{edited}\t{}",
            r.id,
            day(r.created_at),
            r.registration_id,
            escape_controls(&values)
        )?;
    }
    Ok(())
}

/// A stored value as the operator reads it: numbers, category ids, text.
fn value_text(value: &FieldValue) -> String {
    match value {
        FieldValue::Scale(n) => n.to_string(),
        FieldValue::Choice(c) => c.to_string(),
        FieldValue::MultiChoice(cs) => cs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        FieldValue::Rated(rs) => rs
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(","),
        FieldValue::Note(t) => format!("\"{t}\""),
    }
}

/// Text typed by users or staff, made safe for one terminal line: control
/// characters (line breaks, terminal escapes) and backslashes are shown
/// escaped, so the text can neither drive the terminal nor break columns.
/// Letters such as æ, ø and å stay as they are.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{checked_reason, escape_controls};

    #[test]
    fn escape_controls_keeps_letters_and_escapes_controls() {
        assert_eq!(escape_controls("Klinikk Sør"), "Klinikk Sør");
        assert_eq!(escape_controls("a\nb\u{1b}[2J\\"), "a\\nb\\u{1b}[2J\\\\");
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert!(checked_reason("  ").is_err());
        assert!(checked_reason(&"x".repeat(501)).is_err());
        assert_eq!(
            checked_reason(" wrong date ").expect("ok"),
            "wrong date".to_owned()
        );
    }
}
