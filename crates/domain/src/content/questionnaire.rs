//! Scored questionnaires such as PHQ-9 and GAD-7.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{BandId, FlagId, ItemId, Localized, ParseError, Problems, QuestionnaireId};
use crate::content::Problem;

/// A scored questionnaire, as written in `content/questionnaires/<id>.toml`.
///
/// Invariants once [`Questionnaire::validate`] returns no problems:
/// item, band and flag ids are unique; every item has at least one option
/// and option values are unique per item; the bands cover every possible
/// total from [`Questionnaire::min_total`] to [`Questionnaire::max_total`]
/// exactly once; every flag refers to an existing item; every text exists
/// in every language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    /// Stable id, equal to the file stem.
    pub id: QuestionnaireId,
    /// Bumped when items, options or scoring change, so stored answers can
    /// be interpreted with the definition they were given under.
    pub version: u32,
    /// The instrument's established abbreviation, e.g. `PHQ-9`; not
    /// translated.
    pub short_name: String,
    /// Title shown to the user.
    pub title: Localized,
    /// The stem shown above the items ("Over the last 2 weeks, …").
    pub instructions: Localized,
    /// The copyright/licence line that must be shown with the instrument.
    pub copyright: Localized,
    /// Whether the instrument may be used on a paid channel.
    pub licence: Licence,
    /// LOINC codes for FHIR export.
    #[serde(default)]
    pub loinc: Option<Loinc>,
    /// How answers become a total, a band, and a change classification.
    pub scoring: ScoringRule,
    /// Answer options shared by every item that has none of its own.
    #[serde(default)]
    pub options: Vec<AnswerOption>,
    /// The items, in the order shown.
    pub items: Vec<Item>,
    /// Severity bands over the total.
    pub bands: Vec<Band>,
    /// Safety and other flags raised by single answers.
    #[serde(default)]
    pub flags: Vec<FlagRule>,
}

/// Licence status of an instrument (see the instrument catalogue in the
/// mission reference, section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Licence {
    /// Free to reproduce, translate, display and distribute.
    Free,
    /// Free only for non-commercial use; not for the paid channel.
    NonCommercial,
    /// Needs a licence agreement.
    Licensed,
}

/// LOINC codes of the instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loinc {
    /// The panel (the questionnaire as a whole), e.g. `44249-1`.
    pub panel: String,
    /// The total score observation, e.g. `44261-6`.
    pub total: String,
}

/// How answers are turned into a total and interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRule {
    /// How item weights combine.
    pub method: ScoringMethod,
    /// What happens when scored items are unanswered.
    pub missing: MissingRule,
    /// Whether a higher total means more symptoms.
    #[serde(default)]
    pub direction: Direction,
    /// The smallest change in total that counts as reliable (PHQ-9: 6,
    /// GAD-7: 4, per the NHS Talking Therapies convention).
    pub reliable_change: u32,
    /// The caseness cut-off: a total at or above it (for
    /// [`Direction::HigherIsWorse`]) is "in caseness" (PHQ-9: 10, GAD-7: 8).
    #[serde(default)]
    pub caseness: Option<u32>,
}

/// How item weights combine into a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMethod {
    /// The total is the sum of the weights of the chosen options of scored
    /// items.
    Sum,
}

/// What to do with unanswered scored items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingRule {
    /// Every scored item must be answered, otherwise there is no score.
    RequireAll,
    /// Up to `max_missing` scored items may be unanswered; the total is the
    /// mean of the answered items times the number of scored items,
    /// rounded half up.
    Prorate {
        /// How many scored items may be missing.
        max_missing: u32,
    },
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Symptom scales: lower is better.
    #[default]
    HigherIsWorse,
    /// Well-being scales: higher is better.
    HigherIsBetter,
}

/// The value an answer is stored as: the `value` of the chosen option.
///
/// Kept apart from the option's weight so that a re-weighting of an
/// instrument (a new `version`) does not rewrite stored answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OptionValue(pub u32);

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One answer option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerOption {
    /// What is stored; unique within the item.
    pub value: OptionValue,
    /// What it adds to the total (FHIR `itemWeight`).
    pub weight: u32,
    /// LOINC answer code, e.g. `LA6568-5`.
    #[serde(default)]
    pub code: Option<String>,
    /// The label shown.
    pub label: Localized,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable id (FHIR `linkId`), e.g. `phq9-9`.
    pub id: ItemId,
    /// LOINC code of the item.
    #[serde(default)]
    pub loinc: Option<String>,
    /// The question.
    pub text: Localized,
    /// Whether the item counts towards the total. Unscored items (such as
    /// PHQ-9's "how difficult") are always optional and never affect the
    /// missing-answer rule.
    #[serde(default = "yes")]
    pub scored: bool,
    /// Options of this item; when absent the questionnaire's shared
    /// options apply.
    #[serde(default)]
    pub options: Option<Vec<AnswerOption>>,
}

fn yes() -> bool {
    true
}

/// A severity band: totals `min..=max` get `label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Stable id, e.g. `moderate`.
    pub id: BandId,
    /// Lowest total in the band (inclusive).
    pub min: u32,
    /// Highest total in the band (inclusive).
    pub max: u32,
    /// Plain-language label.
    pub label: Localized,
}

impl Band {
    /// Whether `total` falls in this band.
    pub fn contains(&self, total: u32) -> bool {
        self.min <= total && total <= self.max
    }
}

/// Raises `id` when item `item` is answered with an option of weight at
/// least `min_weight` (e.g. PHQ-9 item 9 ≥ 1: `suicidal-ideation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    /// Stable id of the flag.
    pub id: FlagId,
    /// The item it watches.
    pub item: ItemId,
    /// The lowest weight that raises it.
    pub min_weight: u32,
    /// What the user is shown at once when the flag is raised (crisis
    /// resources). Organisations may add their own text on top.
    pub message: Localized,
}

impl Questionnaire {
    /// Parses a questionnaire file. Does not validate; call
    /// [`Questionnaire::validate`].
    pub fn from_toml(text: &str) -> Result<Self, ParseError> {
        Ok(toml::from_str(text)?)
    }

    /// The item with id `id`.
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id.as_str() == id)
    }

    /// The items that count towards the total.
    pub fn scored_items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.scored)
    }

    /// The options offered for `item`.
    pub fn options_for<'a>(&'a self, item: &'a Item) -> &'a [AnswerOption] {
        item.options.as_deref().unwrap_or(&self.options)
    }

    /// The option of `item` with `value`.
    pub fn option<'a>(&'a self, item: &'a Item, value: OptionValue) -> Option<&'a AnswerOption> {
        self.options_for(item).iter().find(|o| o.value == value)
    }

    /// The band with id `id`.
    pub fn band(&self, id: &str) -> Option<&Band> {
        self.bands.iter().find(|b| b.id.as_str() == id)
    }

    /// The first band containing `total` (for validated content, the only
    /// one).
    pub fn band_for_total(&self, total: u32) -> Option<&Band> {
        self.bands.iter().find(|b| b.contains(total))
    }

    /// The flag rule with id `id`.
    pub fn flag(&self, id: &str) -> Option<&FlagRule> {
        self.flags.iter().find(|f| f.id.as_str() == id)
    }

    /// The lowest possible total: every scored item at its lowest weight.
    pub fn min_total(&self) -> u32 {
        self.scored_items()
            .map(|i| {
                self.options_for(i)
                    .iter()
                    .map(|o| o.weight)
                    .min()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The highest possible total: every scored item at its highest weight.
    pub fn max_total(&self) -> u32 {
        self.scored_items()
            .map(|i| {
                self.options_for(i)
                    .iter()
                    .map(|o| o.weight)
                    .max()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Every problem with this questionnaire on its own.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Problems::default();
        p.id("id", self.id.as_str());
        if self.version == 0 {
            p.push("version", "must be at least 1");
        }
        if self.short_name.trim().is_empty() {
            p.push("short_name", "must not be empty");
        }
        p.text("title", "text", &self.title);
        p.text("instructions", "text", &self.instructions);
        p.text("copyright", "text", &self.copyright);
        if let Some(loinc) = &self.loinc {
            check_loinc(&mut p, "loinc.panel", &loinc.panel);
            check_loinc(&mut p, "loinc.total", &loinc.total);
        }
        self.validate_options(&mut p, "options", &self.options);

        if self.items.is_empty() {
            p.push("items", "a questionnaire needs at least one item");
        }
        if self.scored_items().next().is_none() {
            p.push("items", "at least one item must be scored");
        }
        let mut seen = BTreeSet::new();
        for (n, item) in self.items.iter().enumerate() {
            let at = format!("item {} (`{}`)", n + 1, item.id);
            p.id(&at, item.id.as_str());
            if !seen.insert(item.id.as_str()) {
                p.push(&at, "duplicate item id");
            }
            p.text(&at, "text", &item.text);
            if let Some(code) = &item.loinc {
                check_loinc(&mut p, &at, code);
            }
            match &item.options {
                Some(own) => self.validate_options(&mut p, &format!("{at} options"), own),
                None if self.options.is_empty() => {
                    p.push(
                        &at,
                        "has no options and the questionnaire has no shared options",
                    );
                }
                None => {}
            }
        }

        self.validate_scoring(&mut p);
        self.validate_bands(&mut p);
        self.validate_flags(&mut p);
        p.0
    }

    fn validate_options(&self, p: &mut Problems, at: &str, options: &[AnswerOption]) {
        let mut values = BTreeSet::new();
        for o in options {
            let at = format!("{at}, option {}", o.value);
            if !values.insert(o.value) {
                p.push(&at, "duplicate option value");
            }
            p.text(&at, "label", &o.label);
            if let Some(code) = &o.code
                && code.trim().is_empty()
            {
                p.push(&at, "empty answer code");
            }
        }
    }

    fn validate_scoring(&self, p: &mut Problems) {
        let range = self.max_total().saturating_sub(self.min_total());
        let s = &self.scoring;
        if s.reliable_change == 0 || s.reliable_change > range {
            p.push(
                "scoring.reliable_change",
                format!("must be between 1 and the score range ({range})"),
            );
        }
        if let Some(c) = s.caseness
            && (c <= self.min_total() || c > self.max_total())
        {
            p.push(
                "scoring.caseness",
                format!(
                    "must be above the lowest total ({}) and at most the highest ({})",
                    self.min_total(),
                    self.max_total()
                ),
            );
        }
        if let MissingRule::Prorate { max_missing } = s.missing {
            let n = self.scored_items().count();
            if usize::try_from(max_missing).map_or(true, |m| m >= n) {
                p.push(
                    "scoring.missing",
                    format!("max_missing must be below the number of scored items ({n})"),
                );
            }
        }
    }

    /// Bands must tile `min_total..=max_total`: every total in exactly one
    /// band, no band reaching outside the possible range.
    fn validate_bands(&self, p: &mut Problems) {
        let (lo, hi) = (self.min_total(), self.max_total());
        let mut ids = BTreeSet::new();
        for b in &self.bands {
            let at = format!("band `{}`", b.id);
            p.id(&at, b.id.as_str());
            if !ids.insert(b.id.as_str()) {
                p.push(&at, "duplicate band id");
            }
            p.text(&at, "label", &b.label);
            if b.min > b.max {
                p.push(&at, format!("min {} is above max {}", b.min, b.max));
            }
            if b.min < lo || b.max > hi {
                p.push(
                    &at,
                    format!(
                        "{}-{} reaches outside the possible totals {lo}-{hi}",
                        b.min, b.max
                    ),
                );
            }
        }
        // Count bands per possible total; report runs of gaps and overlaps.
        let counts: BTreeMap<u32, usize> = (lo..=hi)
            .map(|t| (t, self.bands.iter().filter(|b| b.contains(t)).count()))
            .collect();
        let gaps: Vec<u32> = counts
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(t, _)| *t)
            .collect();
        let overlaps: Vec<u32> = counts
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(t, _)| *t)
            .collect();
        if !gaps.is_empty() {
            p.push(
                "bands",
                format!("no band covers total(s) {}", ranges(&gaps)),
            );
        }
        if !overlaps.is_empty() {
            p.push(
                "bands",
                format!("more than one band covers total(s) {}", ranges(&overlaps)),
            );
        }
    }

    fn validate_flags(&self, p: &mut Problems) {
        let mut ids = BTreeSet::new();
        for f in &self.flags {
            let at = format!("flag `{}`", f.id);
            p.id(&at, f.id.as_str());
            if !ids.insert(f.id.as_str()) {
                p.push(&at, "duplicate flag id");
            }
            p.text(&at, "message", &f.message);
            match self.item(f.item.as_str()) {
                None => p.push(&at, format!("refers to unknown item `{}`", f.item)),
                Some(item) => {
                    let weights: Vec<u32> =
                        self.options_for(item).iter().map(|o| o.weight).collect();
                    let (min, max) = (
                        weights.iter().copied().min().unwrap_or(0),
                        weights.iter().copied().max().unwrap_or(0),
                    );
                    // A flag no answer can raise, or every answer raises,
                    // is a mistake in the data.
                    if f.min_weight > max || f.min_weight <= min {
                        p.push(
                            &at,
                            format!(
                                "min_weight {} must be above the lowest ({min}) and at most the highest ({max}) weight of item `{}`",
                                f.min_weight, f.item
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// LOINC codes are digits, a dash and one check digit (`44261-6`); answer
/// codes have an `LA` prefix and are not checked here.
fn check_loinc(p: &mut Problems, at: &str, code: &str) {
    let ok = code.split_once('-').is_some_and(|(num, check)| {
        !num.is_empty()
            && num.len() <= 7
            && num.bytes().all(|b| b.is_ascii_digit())
            && check.len() == 1
            && check.bytes().all(|b| b.is_ascii_digit())
    });
    if !ok {
        p.push(at, format!("`{code}` is not a LOINC code (like 44261-6)"));
    }
}

/// `[1,2,3,7]` → `1-3, 7`.
fn ranges(totals: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = totals.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
        assert_eq!(ranges(&[]), "");
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    const PHQ9: &str = include_str!("../../../../content/questionnaires/phq9.toml");

    fn phq9() -> Questionnaire {
        Questionnaire::from_toml(PHQ9).expect("parses")
    }

    fn messages(q: &Questionnaire) -> Vec<String> {
        q.validate().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn overlapping_and_outside_bands_are_reported() {
        let mut q = phq9();
        q.bands[1].max = 10; // mild 5-10 overlaps moderate 10-14
        q.bands[4].max = 28; // severe beyond 27
        let m = messages(&q);
        assert!(
            m.iter()
                .any(|s| s.contains("more than one band covers total(s) 10")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.contains("outside the possible totals 0-27")),
            "{m:?}"
        );
    }

    #[test]
    fn duplicate_ids_bad_flags_and_missing_texts_are_reported() {
        let mut q = phq9();
        q.items[1].id = ItemId::new("phq9-1");
        q.flags[0].item = ItemId::new("phq9-99");
        q.items[2].text.en.clear();
        q.scoring.reliable_change = 0;
        let m = messages(&q);
        assert!(m.iter().any(|s| s.contains("duplicate item id")), "{m:?}");
        assert!(
            m.iter().any(|s| s.contains("unknown item `phq9-99`")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.contains("item 3") && s.contains("missing in `en`")),
            "{m:?}"
        );
        assert!(m.iter().any(|s| s.contains("reliable_change")), "{m:?}");
    }
}
