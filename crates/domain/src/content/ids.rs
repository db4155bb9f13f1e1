//! Identifiers of content: stable strings written by content authors.
//!
//! They are stored in the database next to answers (an answer refers to
//! `phq9` / `phq9-9`, never to a question's text) and appear in URLs, so
//! they must never change once shipped and are limited to a URL-safe
//! alphabet (checked by [`valid_id`] during validation).

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest id content may use.
pub const MAX_ID_LEN: usize = 64;

/// Whether `s` is a well-formed content id: 1–64 characters of `a-z`, `0-9`
/// and `-`, starting with a letter or digit.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

macro_rules! content_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string. Well-formedness is checked by content
            /// validation, not here, so that every problem is reported.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

content_id!(
    /// A questionnaire, e.g. `phq9`. Unique in the catalog.
    QuestionnaireId
);
content_id!(
    /// An item of a questionnaire (FHIR `linkId`), e.g. `phq9-9`. Unique
    /// within its questionnaire.
    ItemId
);
content_id!(
    /// A severity band of a questionnaire, e.g. `moderate`.
    BandId
);
content_id!(
    /// A flag raised by an answer, e.g. `suicidal-ideation`.
    FlagId
);
content_id!(
    /// A program, e.g. `angst`. Unique in the catalog; used in URLs.
    ProgramSlug
);
content_id!(
    /// A module of a program. Unique within its program.
    ModuleId
);
content_id!(
    /// A step of a program. Unique within its program (not only within its
    /// module), so `(program, step)` identifies a step.
    StepId
);
content_id!(
    /// A registration form, e.g. `daily-checkin`. Unique in the catalog.
    RegistrationId
);
content_id!(
    /// A field of a registration form. Unique within its form.
    FieldId
);
content_id!(
    /// A category (answer option) of a registration field, e.g. `work`.
    /// Unique within its field.
    CategoryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_alphabet() {
        assert!(valid_id("phq9-9"));
        assert!(valid_id("01-forsta-angst"));
        assert!(!valid_id(""));
        assert!(!valid_id("-x"));
        assert!(!valid_id("Phq9"));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
