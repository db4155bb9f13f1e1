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
    /// Norwegian nynorsk.
    Nn,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order they are offered to the user.
    pub const ALL: [Lang; 3] = [Lang::Nb, Lang::Nn, Lang::En];

    /// Parses a language tag from a cookie, a query string or an
    /// `Accept-Language` entry: `nb`, `no`, `nb-NO`, `nn`, `nn-NO`, `en`,
    /// `en-GB`, …
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
            "nn" => Some(Lang::Nn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The BCP 47 tag, suitable for `<html lang="…">`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::Nn => "nn",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Nb => "Bokmål",
            Lang::Nn => "Nynorsk",
            Lang::En => "English",
        }
    }

    /// The best offered language for an `Accept-Language` header (RFC 9110
    /// §12.5.4): the highest `q` among tags [`Lang::parse`] knows, the
    /// earlier one on a tie; `q=0` means "not this one". `None` when no
    /// tag is offered, so the caller picks the default.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::parse) else {
                continue;
            };
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .map_or(Some(1000), |q| {
                    q.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        // Thousandths are the most precision RFC 9110 allows.
                        .map(|q| (q * 1000.0).round() as u16)
                });
            let Some(q) = q.filter(|q| *q > 0) else {
                continue;
            };
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
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
    /// Nynorsk.
    #[serde(default)]
    pub nn: String,
    /// English.
    #[serde(default)]
    pub en: String,
}

impl Localized {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Nb => &self.nb,
            Lang::Nn => &self.nn,
            Lang::En => &self.en,
        }
    }

    /// Mutable access to the text in `lang` (used by loaders that fill in
    /// Markdown bodies read from separate files).
    pub fn get_mut(&mut self, lang: Lang) -> &mut String {
        match lang {
            Lang::Nb => &mut self.nb,
            Lang::Nn => &mut self.nn,
            Lang::En => &mut self.en,
        }
    }

    /// Builds a text from a function of the language.
    pub fn from_fn(mut f: impl FnMut(Lang) -> String) -> Self {
        Self {
            nb: f(Lang::Nb),
            nn: f(Lang::Nn),
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
    fn accept_language_picks_the_best_offered_language() {
        assert_eq!(
            Lang::from_accept_language("nn-NO,nn;q=0.9,en;q=0.5"),
            Some(Lang::Nn)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8,nb;q=0.7"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.4, no;q=0.8"),
            Some(Lang::Nb)
        );
        assert_eq!(
            Lang::from_accept_language("nb;q=0, en;q=0.1"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("en;q=bad, nn;q=2"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::from_accept_language("*"), None);
    }

    #[test]
    fn parses_tags() {
        assert_eq!(Lang::parse("nb"), Some(Lang::Nb));
        assert_eq!(Lang::parse("NB-no"), Some(Lang::Nb));
        assert_eq!(Lang::parse("no"), Some(Lang::Nb));
        assert_eq!(Lang::parse("en-GB"), Some(Lang::En));
        assert_eq!(Lang::parse("nn-NO"), Some(Lang::Nn));
        assert_eq!(Lang::parse(""), None);
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.as_str()), Some(l));
        }
    }

    proptest::proptest! {
        /// The language cookie and `Accept-Language` are whatever the
        /// client sends: any value gives one of our languages or none, and
        /// a language only when the value names it.
        #[test]
        fn any_cookie_or_header_gives_a_named_language_or_none(value in proptest::prelude::any::<String>()) {
            if let Some(l) = Lang::parse(&value) {
                let primary = value.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
                proptest::prop_assert!(primary == l.as_str() || (primary == "no" && l == Lang::Nb));
            }
            if let Some(l) = Lang::from_accept_language(&value) {
                proptest::prop_assert!(value
                    .split(',')
                    .any(|part| part.split(';').next().and_then(Lang::parse) == Some(l)));
            }
        }

        /// With well-formed weights, the highest `q` wins, the earlier
        /// entry on a tie, and `q=0` never.
        #[test]
        fn the_highest_weight_wins(entries in proptest::collection::vec((0usize..6, 0u16..=1000), 0..8)) {
            let tags = ["nb", "nn-NO", "en-GB", "no", "de", "fr"];
            let header = entries
                .iter()
                .map(|(t, q)| format!("{};q={}.{:03}", tags[*t], q / 1000, q % 1000))
                .collect::<Vec<_>>()
                .join(", ");
            let mut best: Option<(u16, Lang)> = None;
            for (t, q) in &entries {
                if let Some(l) = Lang::parse(tags[*t]).filter(|_| *q > 0)
                    && best.is_none_or(|(b, _)| *q > b)
                {
                    best = Some((*q, l));
                }
            }
            proptest::prop_assert_eq!(Lang::from_accept_language(&header), best.map(|(_, l)| l));
        }
    }

    #[test]
    fn missing_lists_empty_languages() {
        let t = Localized {
            nb: "hei".into(),
            nn: "hei".into(),
            en: "  ".into(),
        };
        assert_eq!(t.missing(), vec![Lang::En]);
        assert_eq!(t.get(Lang::Nb), "hei");
    }
}
