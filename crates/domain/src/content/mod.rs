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

/// The content parsers take files an author edits by hand: whatever the
/// text, they answer with the model or an error that says what and where,
/// and never panic.
#[cfg(test)]
mod parse_props {
    use super::*;
    use proptest::prelude::*;

    /// Shipped files of each kind, as damage to start from.
    const SHIPPED: [(&str, &str); 8] = [
        (
            "questionnaire",
            include_str!("../../../../content/questionnaires/phq9.toml"),
        ),
        (
            "questionnaire",
            include_str!("../../../../content/questionnaires/gad7.toml"),
        ),
        (
            "registration",
            include_str!("../../../../content/registrations/daily-checkin.toml"),
        ),
        (
            "registration",
            include_str!("../../../../content/registrations/thought-record.toml"),
        ),
        (
            "registration",
            include_str!("../../../../content/registrations/activity-log.toml"),
        ),
        (
            "registration",
            include_str!("../../../../content/registrations/exposure-log.toml"),
        ),
        (
            "program",
            include_str!("../../../../content/programs/nedstemthet/program.toml"),
        ),
        (
            "module",
            include_str!(
                "../../../../content/programs/nedstemthet/01-forsta-nedstemthet/module.toml"
            ),
        ),
    ];

    /// Parses `text` as a file of `kind`; the problems validation finds.
    fn parse(kind: &str, text: &str) -> Result<Vec<Problem>, ParseError> {
        match kind {
            "questionnaire" => Questionnaire::from_toml(text).map(|q| q.validate()),
            "registration" => RegistrationForm::from_toml(text).map(|r| r.validate()),
            "program" => ProgramManifest::from_toml(text).map(|_| Vec::new()),
            _ => Module::from_toml(ModuleId::new("modul"), text).map(|_| Vec::new()),
        }
    }

    /// The answer is a clear one: a non-empty error that gives the line
    /// when the text is not TOML at all, or problems that each say something.
    fn assert_clear(kind: &str, text: &str) -> Result<(), TestCaseError> {
        match parse(kind, text) {
            Err(e) => {
                prop_assert!(!e.0.trim().is_empty(), "empty error for {kind}");
                if toml::from_str::<toml::Table>(text).is_err() {
                    prop_assert!(e.0.contains("line"), "no line in {:?}", e.0);
                }
            }
            Ok(problems) => {
                for p in problems {
                    prop_assert!(!p.message.trim().is_empty(), "empty problem in {kind}");
                }
            }
        }
        Ok(())
    }

    /// Damage an author's edit can do to a file.
    #[derive(Debug, Clone)]
    enum Damage {
        Truncate(prop::sample::Index),
        DeleteLine(prop::sample::Index),
        DuplicateLine(prop::sample::Index),
        SwapLines(prop::sample::Index, prop::sample::Index),
        Insert(prop::sample::Index, String),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            any::<prop::sample::Index>().prop_map(Damage::Truncate),
            any::<prop::sample::Index>().prop_map(Damage::DeleteLine),
            any::<prop::sample::Index>().prop_map(Damage::DuplicateLine),
            (any::<prop::sample::Index>(), any::<prop::sample::Index>())
                .prop_map(|(a, b)| Damage::SwapLines(a, b)),
            (
                any::<prop::sample::Index>(),
                "[\\[\\]=\"'#a-z0-9 \n{},.\\-\u{0}\u{e6}]{1,12}|99999999999999999999999|-1|1e999|nan"
            )
                .prop_map(|(at, s)| Damage::Insert(at, s)),
        ]
    }

    fn apply(text: &str, d: &Damage) -> String {
        let mut lines: Vec<&str> = text.lines().collect();
        match d {
            Damage::Truncate(at) => {
                let mut end = at.index(text.len() + 1);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                return text[..end].to_owned();
            }
            Damage::Insert(at, s) => {
                let mut pos = at.index(text.len() + 1);
                while !text.is_char_boundary(pos) {
                    pos -= 1;
                }
                return format!("{}{s}{}", &text[..pos], &text[pos..]);
            }
            Damage::DeleteLine(i) => {
                lines.remove(i.index(lines.len()));
            }
            Damage::DuplicateLine(i) => {
                let i = i.index(lines.len());
                lines.insert(i, lines[i]);
            }
            Damage::SwapLines(a, b) => {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
            }
        }
        lines.join("\n")
    }

    /// One line of TOML-ish text: keys, tables, arrays of tables, and
    /// values of every type, including numbers no integer holds.
    fn tomlish_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\[\\[?[a-z_.]{1,12}\\]\\]?",
            "[a-z_]{1,10} = (\"[^\"\n]{0,12}\"|-?[0-9]{1,25}|-?[0-9]\\.[0-9]e-?[0-9]{1,4}|true|nan|inf|\\[\\]|\\{\\}|\\[1, \"a\"\\])",
            "(id|version|title|nb|nn|en|items|options|value|min|max|kind|steps|modules) = [^\n]{0,16}",
            "[^\n]{0,20}",
        ]
    }

    #[test]
    fn the_shipped_files_parse_and_validate() {
        for (kind, text) in SHIPPED {
            assert_eq!(parse(kind, text).map(|p| p.len()), Ok(0), "{kind}");
        }
    }

    proptest! {
        #[test]
        fn damaged_files_give_clear_errors(file in 0..SHIPPED.len(), d in damage()) {
            let (kind, text) = SHIPPED[file];
            assert_clear(kind, &apply(text, &d))?;
        }

        #[test]
        fn tomlish_text_gives_clear_errors(
            kind in prop::sample::select(vec!["questionnaire", "registration", "program", "module"]),
            lines in prop::collection::vec(tomlish_line(), 0..30),
        ) {
            assert_clear(kind, &lines.join("\n"))?;
        }

        #[test]
        fn arbitrary_text_gives_clear_errors(
            kind in prop::sample::select(vec!["questionnaire", "registration", "program", "module"]),
            text in any::<String>(),
        ) {
            assert_clear(kind, &text)?;
        }

        /// A registration form's submission is user input: any pairs give
        /// an entry that passes the form's own check, or errors.
        #[test]
        fn any_submission_is_an_entry_that_checks_or_errors(
            file in 2usize..6,
            pairs in prop::collection::vec(
                (
                    any::<prop::sample::Index>(),
                    any::<bool>(),
                    "[a-z\\-]{1,12}(\\.[a-z\\-]{0,12})?",
                    "[^\u{0}]{0,12}|-?[0-9]{1,25}| *[0-9] *|",
                ),
                0..24,
            ),
        ) {
            let form = RegistrationForm::from_toml(SHIPPED[file].1).expect("shipped form");
            let ids: Vec<String> = form.fields.iter().map(|f| f.id.to_string()).collect();
            // Many names are real field names (with any suffix), so the
            // parser's per-kind paths are reached.
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(pick, real, name, value)| {
                    if real {
                        let suffix = name
                            .split_once('.')
                            .map(|(_, s)| format!(".{s}"))
                            .unwrap_or_default();
                        (format!("{}{suffix}", pick.get(&ids)), value)
                    } else {
                        (name, value)
                    }
                })
                .collect();
            match form.parse_submission(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Ok(entry) => prop_assert!(form.check_entry(&entry).is_ok()),
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }
    }
}
