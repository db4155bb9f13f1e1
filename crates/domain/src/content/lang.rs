//! Languages the content is written in, and text in all of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A language every shipped text exists in.
///
/// Invariant: validated content has a non-empty text for every variant, so
/// [`Localized::get`] never has to fall back.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Norwegian bokmål, the default.
    #[default]
    Nb,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order they are offered to the user.
    pub const ALL: [Lang; 2] = [Lang::Nb, Lang::En];

    /// Parses a language tag from a cookie, a query string or an
    /// `Accept-Language` entry: `nb`, `no`, `nb-NO`, `en`, `en-GB`, …
    /// (case-insensitive). Returns `None` for anything else, so callers
    /// choose the fallback explicitly.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            // "no" is the macro-language tag many browsers send for bokmål.
            "nb" | "no" => Some(Lang::Nb),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The BCP 47 tag, suitable for `<html lang="…">`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text in every [`Lang`].
///
/// Missing languages deserialize as empty strings (rather than failing the
/// whole file) so that validation can report every missing translation at
/// once; validated content never contains an empty text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    /// Bokmål.
    #[serde(default)]
    pub nb: String,
    /// English.
    #[serde(default)]
    pub en: String,
}

impl Localized {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Nb => &self.nb,
            Lang::En => &self.en,
        }
    }

    /// Mutable access to the text in `lang` (used by loaders that fill in
    /// Markdown bodies read from separate files).
    pub fn get_mut(&mut self, lang: Lang) -> &mut String {
        match lang {
            Lang::Nb => &mut self.nb,
            Lang::En => &mut self.en,
        }
    }

    /// Builds a text from a function of the language.
    pub fn from_fn(mut f: impl FnMut(Lang) -> String) -> Self {
        Self {
            nb: f(Lang::Nb),
            en: f(Lang::En),
        }
    }

    /// The languages whose text is empty or only whitespace.
    pub fn missing(&self) -> Vec<Lang> {
        Lang::ALL
            .into_iter()
            .filter(|l| self.get(*l).trim().is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags() {
        assert_eq!(Lang::parse("nb"), Some(Lang::Nb));
        assert_eq!(Lang::parse("NB-no"), Some(Lang::Nb));
        assert_eq!(Lang::parse("no"), Some(Lang::Nb));
        assert_eq!(Lang::parse("en-GB"), Some(Lang::En));
        assert_eq!(Lang::parse("nn"), None);
        assert_eq!(Lang::parse(""), None);
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.as_str()), Some(l));
        }
    }

    #[test]
    fn missing_lists_empty_languages() {
        let t = Localized {
            nb: "hei".into(),
            en: "  ".into(),
        };
        assert_eq!(t.missing(), vec![Lang::En]);
        assert_eq!(t.get(Lang::Nb), "hei");
    }
}
