//! Scoring questionnaires and classifying change between two scores.
//!
//! Everything is driven by the questionnaire's data (weights, bands, flag
//! rules, missing-answer rule, reliable-change threshold, caseness), never
//! by item text, so a fixed typo cannot change a score.
//!
//! Change conventions follow NHS Talking Therapies (mission reference §3.3):
//! reliable improvement/deterioration is a change of at least the
//! instrument's threshold (PHQ-9 6, GAD-7 4); recovery is moving from
//! caseness (PHQ-9 ≥ 10, GAD-7 ≥ 8) to below it; reliable recovery is
//! recovery together with reliable improvement.

use std::collections::BTreeMap;

use crate::content::{
    BandId, Direction, FlagId, ItemId, MissingRule, OptionValue, Questionnaire, ScoringMethod,
};

/// Answers to a questionnaire: the chosen option's value per item.
/// Unanswered items are absent.
pub type Answers = BTreeMap<ItemId, OptionValue>;

/// The result of scoring one set of answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    /// The total, within `min_total..=max_total` of the questionnaire.
    pub total: u32,
    /// The band the total falls in.
    pub band: BandId,
    /// Flags raised, in the questionnaire's order. Raised from the answers
    /// given, whatever the missing-answer rule did to the total.
    pub flags: Vec<FlagId>,
    /// How many scored items were answered.
    pub answered: usize,
    /// Whether the total was prorated because items were missing.
    pub prorated: bool,
}

impl Score {
    /// Whether flag `id` was raised.
    pub fn has_flag(&self, id: &str) -> bool {
        self.flags.iter().any(|f| f.as_str() == id)
    }
}

/// Why answers could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    /// An answer to an item the questionnaire does not have.
    #[error("unknown item `{0}`")]
    UnknownItem(ItemId),
    /// An answer with a value the item does not offer.
    #[error("item `{item}` has no option {value}")]
    UnknownOption {
        /// The item.
        item: ItemId,
        /// The value given.
        value: OptionValue,
    },
    /// A form value that is not a number.
    #[error("item `{0}` has a malformed answer")]
    Malformed(ItemId),
    /// More scored items are missing than the missing-answer rule allows.
    #[error("{} item(s) unanswered", missing.len())]
    Incomplete {
        /// The scored items without an answer, in questionnaire order.
        missing: Vec<ItemId>,
    },
    /// No band covers the total. Cannot happen for validated content.
    #[error("no band covers total {0}")]
    NoBand(u32),
}

/// Scores `answers` against `q`: total, band and flags, with the
/// questionnaire's missing-answer rule applied.
///
/// Every answer must name an item of `q` and one of its options. Answers to
/// unscored items are checked but do not count. The result does not depend
/// on the order answers were collected in.
pub fn score(q: &Questionnaire, answers: &Answers) -> Result<Score, ScoringError> {
    let mut weights = BTreeMap::new();
    for (id, value) in answers {
        let item = q
            .item(id.as_str())
            .ok_or_else(|| ScoringError::UnknownItem(id.clone()))?;
        let option = q
            .option(item, *value)
            .ok_or_else(|| ScoringError::UnknownOption {
                item: id.clone(),
                value: *value,
            })?;
        weights.insert(id.as_str(), option.weight);
    }

    let scored: Vec<_> = q.scored_items().collect();
    let missing: Vec<ItemId> = scored
        .iter()
        .filter(|i| !weights.contains_key(i.id.as_str()))
        .map(|i| i.id.clone())
        .collect();
    let answered = scored.len() - missing.len();
    let sum: u32 = match q.scoring.method {
        ScoringMethod::Sum => scored
            .iter()
            .filter_map(|i| weights.get(i.id.as_str()))
            .sum(),
    };

    let (total, prorated) = match q.scoring.missing {
        _ if missing.is_empty() => (sum, false),
        MissingRule::RequireAll => return Err(ScoringError::Incomplete { missing }),
        MissingRule::Prorate { max_missing } => {
            if answered == 0 || missing.len() > usize::try_from(max_missing).unwrap_or(0) {
                return Err(ScoringError::Incomplete { missing });
            }
            (prorate(sum, scored.len(), answered), true)
        }
    };

    let band = q
        .band_for_total(total)
        .ok_or(ScoringError::NoBand(total))?
        .id
        .clone();
    let flags = q
        .flags
        .iter()
        .filter(|f| {
            weights
                .get(f.item.as_str())
                .is_some_and(|w| *w >= f.min_weight)
        })
        .map(|f| f.id.clone())
        .collect();
    Ok(Score {
        total,
        band,
        flags,
        answered,
        prorated,
    })
}

/// `sum * items / answered`, rounded half up, in integers.
fn prorate(sum: u32, items: usize, answered: usize) -> u32 {
    let (sum, items, answered) = (u64::from(sum), items as u64, answered as u64);
    let total = (2 * sum * items + answered) / (2 * answered);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Builds [`Answers`] from submitted HTML form pairs `item_id=value`.
///
/// Pairs whose name is not an item (e.g. `csrf`) are ignored; empty values
/// mean "not answered". Values must be options of the item. Whether enough
/// items are answered is left to [`score`], which knows the rule.
pub fn answers_from_form<'a>(
    q: &Questionnaire,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Answers, ScoringError> {
    let mut answers = Answers::new();
    for (name, raw) in pairs {
        let Some(item) = q.item(name) else { continue };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let value = raw
            .parse::<u32>()
            .map(OptionValue)
            .map_err(|_| ScoringError::Malformed(item.id.clone()))?;
        if q.option(item, value).is_none() {
            return Err(ScoringError::UnknownOption {
                item: item.id.clone(),
                value,
            });
        }
        answers.insert(item.id.clone(), value);
    }
    Ok(answers)
}

/// How a total changed between two measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeClass {
    /// Better by at least the reliable-change threshold.
    ReliableImprovement,
    /// Less change than the threshold, either way.
    NoReliableChange,
    /// Worse by at least the reliable-change threshold.
    ReliableDeterioration,
}

/// Classifies the change from `before` to `after` using the
/// questionnaire's reliable-change threshold and direction.
pub fn classify_change(q: &Questionnaire, before: u32, after: u32) -> ChangeClass {
    let threshold = i64::from(q.scoring.reliable_change);
    // Positive `improvement` means better, whichever way the scale runs.
    let improvement = match q.scoring.direction {
        Direction::HigherIsWorse => i64::from(before) - i64::from(after),
        Direction::HigherIsBetter => i64::from(after) - i64::from(before),
    };
    if improvement >= threshold {
        ChangeClass::ReliableImprovement
    } else if -improvement >= threshold {
        ChangeClass::ReliableDeterioration
    } else {
        ChangeClass::NoReliableChange
    }
}

/// Whether `total` is at or past the caseness cut-off. `false` for a
/// questionnaire without one.
pub fn in_caseness(q: &Questionnaire, total: u32) -> bool {
    match (q.scoring.caseness, q.scoring.direction) {
        (None, _) => false,
        (Some(c), Direction::HigherIsWorse) => total >= c,
        (Some(c), Direction::HigherIsBetter) => total <= c,
    }
}

/// Recovery: in caseness at `before` and out of it at `after` (NHS Talking
/// Therapies' definition for one instrument). `false` when the
/// questionnaire has no caseness cut-off.
pub fn recovered(q: &Questionnaire, before: u32, after: u32) -> bool {
    q.scoring.caseness.is_some() && in_caseness(q, before) && !in_caseness(q, after)
}

/// Reliable recovery: [`recovered`] together with a reliable improvement.
pub fn reliably_recovered(q: &Questionnaire, before: u32, after: u32) -> bool {
    recovered(q, before, after)
        && classify_change(q, before, after) == ChangeClass::ReliableImprovement
}

/// How a user's totals moved from their first measurement to their latest,
/// as a clinician's overview summarises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trajectory {
    /// Reliably worse.
    Deteriorated,
    /// Less change than the reliable-change threshold.
    NoReliableChange,
    /// Reliably better, but not out of caseness.
    Improved,
    /// Reliably better and out of caseness ([`reliably_recovered`]).
    Recovered,
}

/// The trajectory from `first` to `latest`; `None` with one measurement.
pub fn trajectory(q: &Questionnaire, first: u32, latest: u32, count: usize) -> Option<Trajectory> {
    if count < 2 {
        return None;
    }
    Some(if reliably_recovered(q, first, latest) {
        Trajectory::Recovered
    } else {
        match classify_change(q, first, latest) {
            ChangeClass::ReliableImprovement => Trajectory::Improved,
            ChangeClass::NoReliableChange => Trajectory::NoReliableChange,
            ChangeClass::ReliableDeterioration => Trajectory::Deteriorated,
        }
    })
}

/// The least worsening (up for [`Direction::HigherIsWorse`], down for
/// [`Direction::HigherIsBetter`]) from the first total to the latest that
/// [`trajectory`] calls [`Trajectory::Deteriorated`], given two or more
/// measurements. Lets a query over stored first and latest totals select
/// the deteriorated without the rule written a second time (a property
/// test holds it to [`trajectory`]).
pub fn deterioration_bound(q: &Questionnaire) -> u32 {
    // With a zero threshold no change is an improvement: the least
    // worsening is one point.
    q.scoring.reliable_change.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trajectories_follow_the_change_rules() {
        let q = Questionnaire::from_toml(PHQ9).expect("phq9");
        assert_eq!(trajectory(&q, 20, 20, 1), None);
        assert_eq!(trajectory(&q, 20, 8, 2), Some(Trajectory::Recovered));
        assert_eq!(trajectory(&q, 26, 14, 3), Some(Trajectory::Improved));
        assert_eq!(
            trajectory(&q, 12, 10, 2),
            Some(Trajectory::NoReliableChange)
        );
        assert_eq!(trajectory(&q, 5, 11, 2), Some(Trajectory::Deteriorated));
        // Out of caseness but by less than the reliable change: not recovered.
        assert_eq!(trajectory(&q, 11, 8, 2), Some(Trajectory::NoReliableChange));
    }

    /// `deterioration_bound` selects exactly the trajectories called
    /// deteriorated, for either direction, every threshold up to 12 and
    /// every pair of totals up to 40 (all of them: a zero threshold with
    /// no change is one case in thousands).
    #[test]
    fn the_deterioration_bound_is_the_trajectory_rule() {
        let mut q = Questionnaire::from_toml(PHQ9).expect("phq9");
        for threshold in 0..=12 {
            for direction in [Direction::HigherIsWorse, Direction::HigherIsBetter] {
                q.scoring.reliable_change = threshold;
                q.scoring.direction = direction;
                let bound = i64::from(deterioration_bound(&q));
                for (first, latest) in (0..=40).flat_map(|f| (0..=40).map(move |l| (f, l))) {
                    let worsening = match direction {
                        Direction::HigherIsWorse => i64::from(latest) - i64::from(first),
                        Direction::HigherIsBetter => i64::from(first) - i64::from(latest),
                    };
                    for count in 1..=3 {
                        assert_eq!(
                            trajectory(&q, first, latest, count) == Some(Trajectory::Deteriorated),
                            count >= 2 && worsening >= bound,
                            "threshold {threshold}, {direction:?}, {first} → {latest}, {count}"
                        );
                    }
                }
            }
        }
    }

    const PHQ9: &str = include_str!("../../../content/questionnaires/phq9.toml");
    const GAD7: &str = include_str!("../../../content/questionnaires/gad7.toml");

    fn load(text: &str) -> Questionnaire {
        let q = Questionnaire::from_toml(text).expect("shipped questionnaire parses");
        assert_eq!(q.validate(), vec![], "shipped questionnaire is valid");
        q
    }

    fn all(q: &Questionnaire, value: u32) -> Answers {
        q.scored_items()
            .map(|i| (i.id.clone(), OptionValue(value)))
            .collect()
    }

    #[test]
    fn phq9_all_highest_is_27_severe_with_item9_flag() {
        let q = load(PHQ9);
        let s = score(&q, &all(&q, 3)).expect("complete answers score");
        assert_eq!(s.total, 27);
        assert_eq!(s.band.as_str(), "severe");
        assert_eq!(s.flags, vec![FlagId::new("suicidal-ideation")]);
        assert!(!s.prorated);
    }

    #[test]
    fn phq9_all_lowest_is_0_without_flag() {
        let q = load(PHQ9);
        let s = score(&q, &all(&q, 0)).expect("complete answers score");
        assert_eq!(s.total, 0);
        assert_eq!(s.band.as_str(), "minimal");
        assert!(s.flags.is_empty());
    }

    #[test]
    fn phq9_item9_at_one_raises_flag() {
        let q = load(PHQ9);
        let mut a = all(&q, 0);
        a.insert(ItemId::new("phq9-9"), OptionValue(1));
        let s = score(&q, &a).expect("complete answers score");
        assert_eq!(s.total, 1);
        assert!(s.has_flag("suicidal-ideation"));
    }

    #[test]
    fn phq9_bands_match_published_cut_offs() {
        let q = load(PHQ9);
        let band = |t| q.band_for_total(t).map(|b| b.id.as_str().to_owned());
        for (t, b) in [
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately-severe"),
            (19, "moderately-severe"),
            (20, "severe"),
        ] {
            assert_eq!(band(t).as_deref(), Some(b), "total {t}");
        }
    }

    #[test]
    fn gad7_bands_and_range() {
        let q = load(GAD7);
        assert_eq!((q.min_total(), q.max_total()), (0, 21));
        let s = score(&q, &all(&q, 3)).expect("complete answers score");
        assert_eq!((s.total, s.band.as_str()), (21, "severe"));
        for (t, b) in [
            (4, "minimal"),
            (5, "mild"),
            (10, "moderate"),
            (15, "severe"),
        ] {
            assert_eq!(q.band_for_total(t).map(|b| b.id.as_str()), Some(b));
        }
    }

    #[test]
    fn missing_answer_is_incomplete_under_require_all() {
        let q = load(PHQ9);
        let mut a = all(&q, 1);
        a.remove("phq9-4");
        assert_eq!(
            score(&q, &a),
            Err(ScoringError::Incomplete {
                missing: vec![ItemId::new("phq9-4")]
            })
        );
    }

    #[test]
    fn unscored_difficulty_item_is_optional_and_not_counted() {
        let q = load(PHQ9);
        let mut a = all(&q, 1);
        a.insert(ItemId::new("phq9-10"), OptionValue(3));
        assert_eq!(score(&q, &a).map(|s| s.total), Ok(9));
    }

    #[test]
    fn unknown_items_and_options_are_rejected() {
        let q = load(PHQ9);
        let mut a = all(&q, 0);
        a.insert(ItemId::new("nope"), OptionValue(0));
        assert!(matches!(score(&q, &a), Err(ScoringError::UnknownItem(_))));
        let mut a = all(&q, 0);
        a.insert(ItemId::new("phq9-1"), OptionValue(4));
        assert!(matches!(
            score(&q, &a),
            Err(ScoringError::UnknownOption { .. })
        ));
    }

    #[test]
    fn prorating_rounds_half_up_within_limit() {
        let mut q = load(PHQ9);
        q.scoring.missing = MissingRule::Prorate { max_missing: 2 };
        let mut a = all(&q, 1);
        a.remove("phq9-1");
        a.insert(ItemId::new("phq9-2"), OptionValue(2));
        // 9 answered-sum over 8 items → 9 * 9 / 8 = 10.125 → 10.
        let s = score(&q, &a).expect("one missing is allowed");
        assert_eq!((s.total, s.prorated, s.answered), (10, true, 8));
        a.remove("phq9-3");
        a.remove("phq9-4");
        assert!(matches!(
            score(&q, &a),
            Err(ScoringError::Incomplete { .. })
        ));
    }

    #[test]
    fn form_pairs_become_answers() {
        let q = load(GAD7);
        let pairs = [
            ("csrf", "x"),
            ("gad7-1", "2"),
            ("gad7-2", ""),
            ("gad7-3", "0"),
        ];
        let a = answers_from_form(&q, pairs).expect("valid pairs");
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("gad7-1"), Some(&OptionValue(2)));
        assert!(answers_from_form(&q, [("gad7-1", "7")]).is_err());
        assert!(answers_from_form(&q, [("gad7-1", "x")]).is_err());
    }

    #[test]
    fn change_and_recovery_follow_talking_therapies() {
        let phq = load(PHQ9);
        let gad = load(GAD7);
        assert_eq!(
            classify_change(&phq, 16, 10),
            ChangeClass::ReliableImprovement
        );
        assert_eq!(classify_change(&phq, 16, 11), ChangeClass::NoReliableChange);
        assert_eq!(
            classify_change(&phq, 10, 16),
            ChangeClass::ReliableDeterioration
        );
        assert_eq!(
            classify_change(&gad, 12, 8),
            ChangeClass::ReliableImprovement
        );
        assert_eq!(classify_change(&gad, 12, 9), ChangeClass::NoReliableChange);
        assert!(recovered(&phq, 10, 9));
        assert!(!reliably_recovered(&phq, 10, 9));
        assert!(reliably_recovered(&phq, 15, 9));
        assert!(!recovered(&phq, 9, 3), "not in caseness at start");
        assert!(recovered(&gad, 8, 7));
        assert!(!recovered(&gad, 12, 8), "still in caseness");
    }

    fn phq9_answers() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::vec(0u32..=3, 9)
    }

    proptest! {
        #[test]
        fn total_is_in_range_and_in_exactly_one_band(values in phq9_answers()) {
            let q = load(PHQ9);
            let answers: Answers = values
                .iter()
                .enumerate()
                .map(|(n, v)| (ItemId::new(format!("phq9-{}", n + 1)), OptionValue(*v)))
                .collect();
            let s = score(&q, &answers).expect("complete answers score");
            prop_assert!(s.total >= q.min_total() && s.total <= q.max_total());
            prop_assert_eq!(s.total, values.iter().sum::<u32>());
            prop_assert_eq!(q.bands.iter().filter(|b| b.contains(s.total)).count(), 1);
            prop_assert_eq!(s.has_flag("suicidal-ideation"), values[8] >= 1);
        }

        #[test]
        fn every_possible_total_is_in_exactly_one_band(t in 0u32..=27, g in 0u32..=21) {
            let phq = load(PHQ9);
            let gad = load(GAD7);
            prop_assert_eq!(phq.bands.iter().filter(|b| b.contains(t)).count(), 1);
            prop_assert_eq!(gad.bands.iter().filter(|b| b.contains(g)).count(), 1);
        }

        #[test]
        fn order_of_arrival_does_not_matter(
            values in proptest::collection::vec(0u32..=3, 7),
            order in Just((0usize..7).collect::<Vec<_>>()).prop_shuffle(),
        ) {
            let q = load(GAD7);
            let pairs: Vec<(String, String)> = values
                .iter()
                .enumerate()
                .map(|(n, v)| (format!("gad7-{}", n + 1), v.to_string()))
                .collect();
            let in_order = answers_from_form(&q, pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
                .expect("valid");
            let shuffled = answers_from_form(
                &q,
                order.iter().map(|i| (pairs[*i].0.as_str(), pairs[*i].1.as_str())),
            )
            .expect("valid");
            prop_assert_eq!(score(&q, &in_order), score(&q, &shuffled));
        }

        #[test]
        fn change_classes_are_mirror_images(a in 0u32..=27, b in 0u32..=27) {
            let q = load(PHQ9);
            let forward = classify_change(&q, a, b);
            let backward = classify_change(&q, b, a);
            let mirrored = match forward {
                ChangeClass::ReliableImprovement => ChangeClass::ReliableDeterioration,
                ChangeClass::ReliableDeterioration => ChangeClass::ReliableImprovement,
                ChangeClass::NoReliableChange => ChangeClass::NoReliableChange,
            };
            prop_assert_eq!(backward, mirrored);
        }
    }
}
