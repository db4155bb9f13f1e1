//! The content model: questionnaires, registration forms and programs.
//!
//! Content is data (TOML + Markdown under `content/`), parsed here with serde
//! and checked by pure validation functions. Loading files from disk and
//! rendering Markdown is the `mestring-content` crate's job; this module
//! does no I/O.
//!
//! Validation never stops at the first problem: every `validate` returns
//! all [`Problem`]s found, so an author fixes a file in one round.

mod ids;
mod lang;
mod program;
mod questionnaire;
mod registration;

use std::fmt;

pub use ids::{
    BandId, CategoryId, FieldId, FlagId, ItemId, MAX_ID_LEN, ModuleId, ProgramSlug,
    QuestionnaireId, RegistrationId, StepId, valid_id,
};
pub use lang::{Lang, Localized};
pub use program::{
    Module, Program, ProgramManifest, ProgramProblem, ScheduleEntry, Step, StepKind, StepState,
    StepStatus,
};
pub use questionnaire::{
    AnswerOption, Band, Direction, FlagRule, Item, Licence, Loinc, MissingRule, OptionValue,
    Questionnaire, ScoringMethod, ScoringRule,
};
pub use registration::{
    Category, Entry, EntryError, Field, FieldKind, FieldValue, MAX_NOTE_CHARS, RegistrationForm,
};

/// One thing wrong with a piece of content.
///
/// `at` names the place inside the document (e.g. ``item `phq9-9` ``), so
/// that together with the file name the author can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the document, for people.
    pub at: String,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

/// A TOML document that could not be parsed into the content model.
///
/// The message carries the line and column from the TOML parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl From<toml::de::Error> for ParseError {
    fn from(e: toml::de::Error) -> Self {
        Self(e.to_string().trim_end().to_owned())
    }
}

/// Collects problems; helpers for the checks every document repeats.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }

    /// Every language must have a non-empty text.
    pub(crate) fn text(&mut self, at: impl fmt::Display, what: &str, text: &Localized) {
        for lang in text.missing() {
            self.push(at.to_string(), format!("{what} is missing in `{lang}`"));
        }
    }

    /// Ids must be stable, URL-safe strings.
    pub(crate) fn id(&mut self, at: impl fmt::Display, id: &str) {
        if !valid_id(id) {
            self.push(
                at.to_string(),
                format!(
                    "id `{id}` must be 1-{MAX_ID_LEN} characters of a-z, 0-9 and '-', not starting with '-'"
                ),
            );
        }
    }
}
