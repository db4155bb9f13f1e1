//! Registration forms: standardised answers about behaviour, emotions,
//! thoughts and situations (daily check-in, thought record, activity log).
//!
//! Forms are built from categories and scales on purpose: categorical
//! answers can be summarised and shared without free text, and free text is
//! where identifying details end up. The only free-text field kind,
//! [`FieldKind::Note`], is always optional, bounded in length, and must carry
//! a hint telling people not to write names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CategoryId, FieldId, Lang, Localized, ParseError, Problem, Problems, RegistrationId};

/// The longest note any form may allow, in characters.
pub const MAX_NOTE_CHARS: u32 = 1000;

/// A registration form, as written in `content/registrations/<id>.toml`.
///
/// Invariants once [`RegistrationForm::validate`] returns no problems:
/// field ids are unique, category ids are unique per field, scales have
/// `min < max`, notes are optional, at most [`MAX_NOTE_CHARS`] long and
/// carry a "don't write names" hint, every text exists in every language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationForm {
    /// Stable id, equal to the file stem.
    pub id: RegistrationId,
    /// Bumped when fields or categories change meaning.
    pub version: u32,
    /// Title shown to the user.
    pub title: Localized,
    /// Short introduction shown above the form.
    pub intro: Localized,
    /// The fields, in the order shown.
    pub fields: Vec<Field>,
}

/// One field of a registration form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Stable id; also the HTML form field name.
    pub id: FieldId,
    /// The question or label.
    pub label: Localized,
    /// Help text shown under the label.
    #[serde(default)]
    pub hint: Option<Localized>,
    /// Whether an answer is needed to save the entry.
    #[serde(default)]
    pub required: bool,
    /// What kind of answer.
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// A selectable category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Stable id; the stored value.
    pub id: CategoryId,
    /// The label shown.
    pub label: Localized,
}

/// The kinds of field, written as `kind = "scale"` etc. in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldKind {
    /// A whole number from `min` to `max` (e.g. mood 0-10).
    Scale {
        /// Lowest value.
        min: i32,
        /// Highest value.
        max: i32,
        /// What the lowest value means.
        min_label: Localized,
        /// What the highest value means.
        max_label: Localized,
    },
    /// Exactly one category.
    Choice {
        /// The categories.
        options: Vec<Category>,
    },
    /// Any number of categories, at most `max_selected` when given.
    MultiChoice {
        /// The categories.
        options: Vec<Category>,
        /// Upper bound on how many may be chosen.
        #[serde(default)]
        max_selected: Option<u32>,
    },
    /// Any number of categories, each with a rating from `min` to `max`
    /// (e.g. emotions with intensity 0-100).
    RatedChoice {
        /// The categories.
        options: Vec<Category>,
        /// Lowest rating.
        min: i32,
        /// Highest rating.
        max: i32,
    },
    /// Optional free text of at most `max_chars` characters.
    Note {
        /// Upper bound on length, in characters.
        max_chars: u32,
    },
}

/// An answer to one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum FieldValue {
    /// For [`FieldKind::Scale`].
    Scale(i32),
    /// For [`FieldKind::Choice`].
    Choice(CategoryId),
    /// For [`FieldKind::MultiChoice`].
    MultiChoice(BTreeSet<CategoryId>),
    /// For [`FieldKind::RatedChoice`].
    Rated(BTreeMap<CategoryId, i32>),
    /// For [`FieldKind::Note`]; trimmed, never empty.
    Note(String),
}

/// One saved registration: answers by field. Unanswered optional fields
/// are absent.
pub type Entry = BTreeMap<FieldId, FieldValue>;

/// Why an entry does not fit its form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A required field has no answer.
    #[error("`{0}` is required")]
    Required(FieldId),
    /// The form has no such field.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// The value is not of the field's kind, or not a number.
    #[error("`{0}` has a malformed value")]
    Malformed(FieldId),
    /// A number outside the field's range.
    #[error("`{field}` must be between {min} and {max}")]
    OutOfRange {
        /// The field.
        field: FieldId,
        /// Lowest allowed.
        min: i32,
        /// Highest allowed.
        max: i32,
    },
    /// A category the field does not offer.
    #[error("`{field}` has no category `{category}`")]
    UnknownCategory {
        /// The field.
        field: FieldId,
        /// What was sent.
        category: String,
    },
    /// More categories than allowed.
    #[error("`{field}` allows at most {max} choices")]
    TooMany {
        /// The field.
        field: FieldId,
        /// The limit.
        max: u32,
    },
    /// A note longer than allowed.
    #[error("`{field}` allows at most {max} characters")]
    TooLong {
        /// The field.
        field: FieldId,
        /// The limit.
        max: u32,
    },
}

impl FieldKind {
    fn options(&self) -> &[Category] {
        match self {
            FieldKind::Choice { options }
            | FieldKind::MultiChoice { options, .. }
            | FieldKind::RatedChoice { options, .. } => options,
            FieldKind::Scale { .. } | FieldKind::Note { .. } => &[],
        }
    }
}

impl Field {
    /// The category with id `id`, for choice fields.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.kind.options().iter().find(|c| c.id.as_str() == id)
    }

    /// Checks one answer against this field.
    pub fn check(&self, value: &FieldValue) -> Result<(), EntryError> {
        let field = || self.id.clone();
        let in_range = |v: i32, min: i32, max: i32| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(EntryError::OutOfRange {
                    field: field(),
                    min,
                    max,
                })
            }
        };
        let known = |c: &CategoryId| {
            if self.category(c.as_str()).is_some() {
                Ok(())
            } else {
                Err(EntryError::UnknownCategory {
                    field: field(),
                    category: c.to_string(),
                })
            }
        };
        match (&self.kind, value) {
            (FieldKind::Scale { min, max, .. }, FieldValue::Scale(v)) => in_range(*v, *min, *max),
            (FieldKind::Choice { .. }, FieldValue::Choice(c)) => known(c),
            (FieldKind::MultiChoice { max_selected, .. }, FieldValue::MultiChoice(cs)) => {
                cs.iter().try_for_each(known)?;
                match max_selected {
                    Some(max) if cs.len() > usize::try_from(*max).unwrap_or(usize::MAX) => {
                        Err(EntryError::TooMany {
                            field: field(),
                            max: *max,
                        })
                    }
                    _ => Ok(()),
                }
            }
            (FieldKind::RatedChoice { min, max, .. }, FieldValue::Rated(rs)) => {
                rs.iter().try_for_each(|(c, v)| {
                    known(c)?;
                    in_range(*v, *min, *max)
                })
            }
            (FieldKind::Note { max_chars }, FieldValue::Note(text)) => {
                if text.trim().is_empty() {
                    Err(EntryError::Malformed(field()))
                } else if text.chars().count() > usize::try_from(*max_chars).unwrap_or(usize::MAX) {
                    Err(EntryError::TooLong {
                        field: field(),
                        max: *max_chars,
                    })
                } else {
                    Ok(())
                }
            }
            _ => Err(EntryError::Malformed(field())),
        }
    }

    /// Whether `value` counts as an answer (an empty multi-choice or rated
    /// choice does not satisfy `required`).
    fn answered(value: &FieldValue) -> bool {
        match value {
            FieldValue::MultiChoice(cs) => !cs.is_empty(),
            FieldValue::Rated(rs) => !rs.is_empty(),
            _ => true,
        }
    }
}

impl RegistrationForm {
    /// Parses a registration form file. Does not validate; call
    /// [`RegistrationForm::validate`].
    pub fn from_toml(text: &str) -> Result<Self, ParseError> {
        Ok(toml::from_str(text)?)
    }

    /// The field with id `id`.
    pub fn field(&self, id: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.id.as_str() == id)
    }

    /// Checks a whole entry: no unknown fields, every value fits its field,
    /// every required field answered. Returns every problem.
    pub fn check_entry(&self, entry: &Entry) -> Result<(), Vec<EntryError>> {
        let mut errors = Vec::new();
        for (id, value) in entry {
            match self.field(id.as_str()) {
                None => errors.push(EntryError::UnknownField(id.to_string())),
                Some(f) => {
                    if let Err(e) = f.check(value) {
                        errors.push(e);
                    }
                }
            }
        }
        for f in &self.fields {
            if f.required && !entry.get(&f.id).is_some_and(Field::answered) {
                errors.push(EntryError::Required(f.id.clone()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Builds an entry from submitted HTML form pairs and checks it.
    ///
    /// Conventions (so templates can be written from the form alone):
    /// a scale or choice field is `field=value`; a multi-choice field repeats
    /// `field=category`; a rated choice sends `field.category=rating` for each
    /// category, where an empty rating means "not chosen"; a note is
    /// `field=text`, trimmed, and empty means "no note". Pairs whose name is
    /// not a field (e.g. `csrf`) are ignored, because the web layer adds its
    /// own.
    pub fn parse_submission<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Entry, Vec<EntryError>> {
        let mut entry = Entry::new();
        let mut errors = Vec::new();
        for (name, raw) in pairs {
            let raw = raw.trim();
            let (fname, sub) = match name.split_once('.') {
                Some((f, c)) => (f, Some(c)),
                None => (name, None),
            };
            let Some(field) = self.field(fname) else {
                continue;
            };
            let id = field.id.clone();
            let number = |s: &str| {
                s.parse::<i32>()
                    .map_err(|_| EntryError::Malformed(id.clone()))
            };
            let result = match (&field.kind, sub) {
                (FieldKind::Scale { .. }, None) if raw.is_empty() => Ok(()),
                (FieldKind::Scale { .. }, None) => number(raw).map(|v| {
                    entry.insert(id.clone(), FieldValue::Scale(v));
                }),
                (FieldKind::Choice { .. }, None) if raw.is_empty() => Ok(()),
                (FieldKind::Choice { .. }, None) => {
                    entry.insert(id.clone(), FieldValue::Choice(CategoryId::new(raw)));
                    Ok(())
                }
                (FieldKind::MultiChoice { .. }, None) => {
                    let slot = entry
                        .entry(id.clone())
                        .or_insert_with(|| FieldValue::MultiChoice(BTreeSet::new()));
                    if let FieldValue::MultiChoice(set) = slot
                        && !raw.is_empty()
                    {
                        set.insert(CategoryId::new(raw));
                    }
                    Ok(())
                }
                (FieldKind::RatedChoice { .. }, Some(cat)) => {
                    let slot = entry
                        .entry(id.clone())
                        .or_insert_with(|| FieldValue::Rated(BTreeMap::new()));
                    if raw.is_empty() {
                        Ok(())
                    } else {
                        number(raw).map(|v| {
                            if let FieldValue::Rated(map) = slot {
                                map.insert(CategoryId::new(cat), v);
                            }
                        })
                    }
                }
                (FieldKind::Note { .. }, None) => {
                    if !raw.is_empty() {
                        entry.insert(id.clone(), FieldValue::Note(raw.to_owned()));
                    }
                    Ok(())
                }
                _ => Err(EntryError::Malformed(id.clone())),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        // Empty selections carry no information; drop them so stored
        // entries only hold answers.
        entry.retain(|_, v| Field::answered(v));
        if let Err(mut more) = self.check_entry(&entry) {
            errors.append(&mut more);
        }
        if errors.is_empty() {
            Ok(entry)
        } else {
            Err(errors)
        }
    }

    /// Every problem with this form.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Problems::default();
        p.id("id", self.id.as_str());
        if self.version == 0 {
            p.push("version", "must be at least 1");
        }
        p.text("title", "text", &self.title);
        p.text("intro", "text", &self.intro);
        if self.fields.is_empty() {
            p.push("fields", "a form needs at least one field");
        }
        let mut ids = BTreeSet::new();
        for f in &self.fields {
            let at = format!("field `{}`", f.id);
            p.id(&at, f.id.as_str());
            if !ids.insert(f.id.as_str()) {
                p.push(&at, "duplicate field id");
            }
            p.text(&at, "label", &f.label);
            if let Some(hint) = &f.hint {
                p.text(&at, "hint", hint);
            }
            match &f.kind {
                FieldKind::Scale {
                    min,
                    max,
                    min_label,
                    max_label,
                } => {
                    check_range(&mut p, &at, *min, *max);
                    p.text(&at, "min_label", min_label);
                    p.text(&at, "max_label", max_label);
                }
                FieldKind::Choice { options } => check_options(&mut p, &at, options),
                FieldKind::MultiChoice {
                    options,
                    max_selected,
                } => {
                    check_options(&mut p, &at, options);
                    if *max_selected == Some(0) {
                        p.push(&at, "max_selected must be at least 1");
                    }
                }
                FieldKind::RatedChoice { options, min, max } => {
                    check_options(&mut p, &at, options);
                    check_range(&mut p, &at, *min, *max);
                }
                FieldKind::Note { max_chars } => check_note(&mut p, &at, f, *max_chars),
            }
        }
        p.0
    }
}

fn check_range(p: &mut Problems, at: &str, min: i32, max: i32) {
    if min >= max {
        p.push(at, format!("min {min} must be below max {max}"));
    }
}

fn check_options(p: &mut Problems, at: &str, options: &[Category]) {
    if options.len() < 2 {
        p.push(at, "needs at least two categories");
    }
    let mut ids = BTreeSet::new();
    for c in options {
        let at = format!("{at}, category `{}`", c.id);
        p.id(&at, c.id.as_str());
        if !ids.insert(c.id.as_str()) {
            p.push(&at, "duplicate category id");
        }
        p.text(&at, "label", &c.label);
    }
}

/// Free text is where names and other identifying details end up, so
/// notes must be optional, short, and say so.
fn check_note(p: &mut Problems, at: &str, f: &Field, max_chars: u32) {
    if f.required {
        p.push(at, "a note must be optional");
    }
    if max_chars == 0 || max_chars > MAX_NOTE_CHARS {
        p.push(
            at,
            format!("max_chars must be between 1 and {MAX_NOTE_CHARS}"),
        );
    }
    // The hint must warn against names in every language; the words are
    // checked so a translation cannot silently drop the warning.
    let warns = |lang: Lang, word: &str| {
        f.hint
            .as_ref()
            .is_some_and(|h| h.get(lang).to_lowercase().contains(word))
    };
    if !warns(Lang::Nb, "navn") || !warns(Lang::En, "name") {
        p.push(
            at,
            "a note needs a hint telling people not to write names (\"navn\" / \"name\")",
        );
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Scale(v) => write!(f, "{v}"),
            FieldValue::Choice(c) => write!(f, "{c}"),
            FieldValue::MultiChoice(cs) => {
                let v: Vec<&str> = cs.iter().map(CategoryId::as_str).collect();
                f.write_str(&v.join(", "))
            }
            FieldValue::Rated(rs) => {
                let v: Vec<String> = rs.iter().map(|(c, r)| format!("{c} {r}")).collect();
                f.write_str(&v.join(", "))
            }
            FieldValue::Note(t) => f.write_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THOUGHTS: &str = include_str!("../../../../content/registrations/thought-record.toml");
    const CHECKIN: &str = include_str!("../../../../content/registrations/daily-checkin.toml");

    fn load(text: &str) -> RegistrationForm {
        let f = RegistrationForm::from_toml(text).expect("shipped form parses");
        assert_eq!(f.validate(), vec![], "shipped form is valid");
        f
    }

    #[test]
    fn submission_with_rated_and_multi_choices() {
        let f = load(THOUGHTS);
        let entry = f
            .parse_submission([
                ("csrf", "token"),
                ("situation", "work-school"),
                ("emotions.anxious", "80"),
                ("emotions.sad", ""),
                ("thinking-traps", "catastrophising"),
                ("thinking-traps", "mind-reading"),
                ("belief-before", "90"),
                ("note", "  "),
            ])
            .expect("valid submission");
        assert_eq!(
            entry.get("emotions"),
            Some(&FieldValue::Rated(
                [(CategoryId::new("anxious"), 80)].into_iter().collect()
            ))
        );
        assert!(
            matches!(entry.get("thinking-traps"), Some(FieldValue::MultiChoice(s)) if s.len() == 2)
        );
        assert!(!entry.contains_key("note"), "an empty note is no note");
        assert!(!entry.contains_key("belief-after"));
    }

    #[test]
    fn submission_errors_are_all_reported() {
        let f = load(THOUGHTS);
        let errors = f
            .parse_submission([
                ("situation", "moon"),
                ("emotions.anxious", "101"),
                ("belief-before", "x"),
            ])
            .expect_err("invalid submission");
        assert!(errors.contains(&EntryError::UnknownCategory {
            field: FieldId::new("situation"),
            category: "moon".into()
        }));
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, EntryError::OutOfRange { .. }))
        );
        assert!(errors.contains(&EntryError::Malformed(FieldId::new("belief-before"))));
        assert!(errors.contains(&EntryError::Required(FieldId::new("belief-before"))));
    }

    #[test]
    fn notes_are_bounded() {
        let f = load(CHECKIN);
        let long = "a".repeat(281);
        let errors = f
            .parse_submission([
                ("mood", "5"),
                ("worry", "5"),
                ("sleep", "ok"),
                ("activity", "some"),
                ("note", long.as_str()),
            ])
            .expect_err("too long");
        assert_eq!(
            errors,
            vec![EntryError::TooLong {
                field: FieldId::new("note"),
                max: 280
            }]
        );
    }

    #[test]
    fn a_required_or_unwarned_note_is_invalid() {
        let mut f = load(CHECKIN);
        let note = f
            .fields
            .iter_mut()
            .find(|x| x.id.as_str() == "note")
            .expect("note field");
        note.required = true;
        note.hint = None;
        let problems = f.validate();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
