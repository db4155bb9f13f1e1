//! FHIR R4 (4.0.1) for questionnaires: a shipped [`Questionnaire`] as a FHIR
//! `Questionnaire`, and a user's answers as a `collection` Bundle of one
//! `QuestionnaireResponse` per answer and one score `Observation` per total
//! (LOINC codes from the content; category `survey`; `derivedFrom` the
//! response).
//!
//! Plain serde structs for the few resource types emitted: no maintained
//! crate covers R4. Invariants kept by construction: every item has an
//! answer and no nested items (qrs-1); every Observation has a value and
//! no `dataAbsentReason` (obs-6).
//!
//! **No identifier of the person.** `subject` is left out of every
//! resource (it is optional in base R4): the export is the user's own copy,
//! and whoever they hand it to attaches it to their record on their side.
//! Resource ids are fresh `urn:uuid:`s from the caller, not derived from
//! anything stored, so two exports cannot be matched by id.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::content::{AnswerOption, Lang, OptionValue, Questionnaire};

/// `http://loinc.org`.
pub const LOINC: &str = "http://loinc.org";
/// The code system of Observation categories.
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// A coded value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coding {
    /// The code system's URI.
    pub system: String,
    /// The code.
    pub code: String,
    /// Human text for the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Codings with optional text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeableConcept {
    /// The codings.
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A reference to another resource in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// `urn:uuid:…` of the target's `fullUrl`.
    pub reference: String,
}

/// A value: a LOINC answer code where the content has one, else the
/// stored number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Value {
    /// The answer as a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_coding: Option<Coding>,
    /// The answer as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
}

/// One item of a Questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireItem {
    /// Our item id (stable; stored answers refer to it).
    pub link_id: String,
    /// The item's LOINC code, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<Coding>,
    /// The question.
    pub text: String,
    /// Always `choice`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Scored items must be answered.
    pub required: bool,
    /// The options.
    pub answer_option: Vec<Value>,
}

/// A FHIR `Questionnaire`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResource {
    /// `Questionnaire`.
    pub resource_type: &'static str,
    /// Our questionnaire id.
    pub id: String,
    /// Its canonical URL.
    pub url: String,
    /// Its version.
    pub version: String,
    /// A computer-friendly name.
    pub name: String,
    /// The title in `language`.
    pub title: String,
    /// Always `active`.
    pub status: &'static str,
    /// `nb`, `nn` or `en`.
    pub language: String,
    /// The panel's LOINC code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<Coding>,
    /// The items.
    pub item: Vec<QuestionnaireItem>,
}

/// One answered item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseItem {
    /// The item's id in the Questionnaire.
    pub link_id: String,
    /// The question as shown.
    pub text: String,
    /// Exactly one answer.
    pub answer: Vec<Value>,
}

/// A FHIR `QuestionnaireResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireResponseResource {
    /// `QuestionnaireResponse`.
    pub resource_type: &'static str,
    /// `completed`, or `entered-in-error` for an answer the user voided.
    pub status: &'static str,
    /// `url|version` of the Questionnaire.
    pub questionnaire: String,
    /// When it was submitted.
    pub authored: String,
    /// The answered items.
    pub item: Vec<ResponseItem>,
}

/// A score `Observation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationResource {
    /// `Observation`.
    pub resource_type: &'static str,
    /// `final`, or `entered-in-error` for a voided answer's total.
    pub status: &'static str,
    /// `survey`.
    pub category: Vec<CodeableConcept>,
    /// The total score's LOINC code.
    pub code: CodeableConcept,
    /// When the questionnaire was answered.
    pub effective_date_time: String,
    /// The total.
    pub value_integer: i64,
    /// The response the total was computed from.
    pub derived_from: Vec<Reference>,
}

/// One resource of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// A questionnaire.
    Questionnaire(QuestionnaireResource),
    /// An answer.
    QuestionnaireResponse(QuestionnaireResponseResource),
    /// A total.
    Observation(ObservationResource),
}

/// One bundle entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `urn:uuid:…`.
    pub full_url: String,
    /// The resource.
    pub resource: Resource,
}

/// A FHIR `Bundle` of type `collection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `Bundle`.
    pub resource_type: &'static str,
    /// `collection`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the bundle was made.
    pub timestamp: String,
    /// The resources.
    pub entry: Vec<Entry>,
}

impl Bundle {
    /// A collection of `resources`, each under a fresh id from `uuid`.
    fn collection(now: DateTime<Utc>, entry: Vec<Entry>) -> Self {
        Self {
            resource_type: "Bundle",
            kind: "collection",
            timestamp: instant(now),
            entry,
        }
    }
}

/// A FHIR `instant`/`dateTime` in UTC, to the second.
fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A `urn:uuid:` (version 4 layout) from 16 random bytes.
pub fn urn_uuid(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The canonical URL of a shipped questionnaire under `base_url`.
pub fn canonical_url(base_url: &str, q: &Questionnaire) -> String {
    format!(
        "{}/fhir/Questionnaire/{}",
        base_url.trim_end_matches('/'),
        q.id
    )
}

fn option_value(option: &AnswerOption, lang: Lang) -> Value {
    match &option.code {
        Some(code) => Value {
            value_coding: Some(Coding {
                system: LOINC.to_owned(),
                code: code.clone(),
                display: Some(option.label.get(lang).to_owned()),
            }),
            value_integer: None,
        },
        None => Value {
            value_coding: None,
            value_integer: Some(i64::from(option.value.0)),
        },
    }
}

/// A shipped questionnaire as a FHIR `Questionnaire` in `lang`.
pub fn questionnaire(q: &Questionnaire, base_url: &str, lang: Lang) -> QuestionnaireResource {
    let loinc = |code: &str| Coding {
        system: LOINC.to_owned(),
        code: code.to_owned(),
        display: None,
    };
    QuestionnaireResource {
        resource_type: "Questionnaire",
        id: q.id.to_string(),
        url: canonical_url(base_url, q),
        version: q.version.to_string(),
        name: q
            .short_name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect(),
        title: q.title.get(lang).to_owned(),
        status: "active",
        language: lang.as_str().to_owned(),
        code: q.loinc.iter().map(|l| loinc(&l.panel)).collect(),
        item: q
            .items
            .iter()
            .map(|item| QuestionnaireItem {
                link_id: item.id.to_string(),
                code: item.loinc.iter().map(|c| loinc(c)).collect(),
                text: item.text.get(lang).to_owned(),
                kind: "choice",
                required: item.scored,
                answer_option: q
                    .options_for(item)
                    .iter()
                    .map(|o| option_value(o, lang))
                    .collect(),
            })
            .collect(),
    }
}

/// Every shipped questionnaire as one collection Bundle.
pub fn questionnaire_bundle<'a>(
    questionnaires: impl IntoIterator<Item = &'a Questionnaire>,
    base_url: &str,
    lang: Lang,
    now: DateTime<Utc>,
    mut uuid: impl FnMut() -> String,
) -> Bundle {
    let entry = questionnaires
        .into_iter()
        .map(|q| Entry {
            full_url: uuid(),
            resource: Resource::Questionnaire(questionnaire(q, base_url, lang)),
        })
        .collect();
    Bundle::collection(now, entry)
}

/// One stored answer to export.
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    /// The questionnaire as shipped now (texts and codes).
    pub questionnaire: &'a Questionnaire,
    /// The version it was answered under.
    pub version: u32,
    /// When it was submitted.
    pub authored: DateTime<Utc>,
    /// The chosen option per item, in any order.
    pub answers: Vec<(String, OptionValue)>,
    /// The stored total.
    pub total: u32,
    /// Whether the user voided it.
    pub voided: bool,
}

/// The user's answers as a collection Bundle: per answer a
/// `QuestionnaireResponse` and, when the questionnaire has a LOINC total
/// code, an `Observation` of the total derived from it. Voided answers are
/// included with status `entered-in-error`, as FHIR marks data that should
/// not count.
pub fn answers_bundle(
    answered: &[Answered<'_>],
    base_url: &str,
    lang: Lang,
    now: DateTime<Utc>,
    mut uuid: impl FnMut() -> String,
) -> Bundle {
    let mut entry = Vec::new();
    for a in answered {
        let q = a.questionnaire;
        let response_url = uuid();
        let item = q
            .items
            .iter()
            .filter_map(|item| {
                let (_, chosen) = a.answers.iter().find(|(id, _)| id == item.id.as_str())?;
                let option = q.options_for(item).iter().find(|o| o.value == *chosen);
                let value = option.map_or_else(
                    || Value {
                        value_coding: None,
                        value_integer: Some(i64::from(chosen.0)),
                    },
                    |o| option_value(o, lang),
                );
                Some(ResponseItem {
                    link_id: item.id.to_string(),
                    text: item.text.get(lang).to_owned(),
                    answer: vec![value],
                })
            })
            .collect();
        entry.push(Entry {
            full_url: response_url.clone(),
            resource: Resource::QuestionnaireResponse(QuestionnaireResponseResource {
                resource_type: "QuestionnaireResponse",
                status: if a.voided {
                    "entered-in-error"
                } else {
                    "completed"
                },
                questionnaire: format!("{}|{}", canonical_url(base_url, q), a.version),
                authored: instant(a.authored),
                item,
            }),
        });
        if let Some(loinc) = &q.loinc {
            entry.push(Entry {
                full_url: uuid(),
                resource: Resource::Observation(ObservationResource {
                    resource_type: "Observation",
                    status: if a.voided {
                        "entered-in-error"
                    } else {
                        "final"
                    },
                    category: vec![CodeableConcept {
                        coding: vec![Coding {
                            system: OBSERVATION_CATEGORY.to_owned(),
                            code: "survey".to_owned(),
                            display: Some("Survey".to_owned()),
                        }],
                        text: None,
                    }],
                    code: CodeableConcept {
                        coding: vec![Coding {
                            system: LOINC.to_owned(),
                            code: loinc.total.clone(),
                            display: None,
                        }],
                        text: Some(format!("{} total score", q.short_name)),
                    },
                    effective_date_time: instant(a.authored),
                    value_integer: i64::from(a.total),
                    derived_from: vec![Reference {
                        reference: response_url,
                    }],
                }),
            });
        }
    }
    Bundle::collection(now, entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PHQ9: &str = include_str!("../../../content/questionnaires/phq9.toml");
    const GAD7: &str = include_str!("../../../content/questionnaires/gad7.toml");

    fn counter() -> impl FnMut() -> String {
        let mut n = 0u8;
        move || {
            n += 1;
            urn_uuid([n; 16])
        }
    }

    fn answered(q: &Questionnaire, value: u32, voided: bool) -> Answered<'_> {
        let answers: Vec<(String, OptionValue)> = q
            .items
            .iter()
            .filter(|i| i.scored)
            .map(|i| (i.id.to_string(), OptionValue(value)))
            .collect();
        let total = value * u32::try_from(answers.len()).expect("few items");
        Answered {
            questionnaire: q,
            version: q.version,
            authored: Utc
                .with_ymd_and_hms(2026, 11, 30, 19, 15, 0)
                .single()
                .expect("date"),
            answers,
            total,
            voided,
        }
    }

    #[test]
    fn the_bundle_carries_loinc_codes_and_links_each_total_to_its_response() {
        let phq9 = Questionnaire::from_toml(PHQ9).expect("phq9");
        let gad7 = Questionnaire::from_toml(GAD7).expect("gad7");
        let now = Utc
            .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
            .single()
            .expect("date");
        let bundle = answers_bundle(
            &[answered(&phq9, 1, false), answered(&gad7, 2, false)],
            "https://mestring.test/",
            Lang::Nb,
            now,
            counter(),
        );
        assert_eq!(bundle.kind, "collection");
        assert_eq!(bundle.entry.len(), 4);
        let mut totals = Vec::new();
        for pair in bundle.entry.chunks(2) {
            let Resource::QuestionnaireResponse(qr) = &pair[0].resource else {
                panic!("a response first");
            };
            let Resource::Observation(obs) = &pair[1].resource else {
                panic!("then its total");
            };
            assert_eq!(qr.status, "completed");
            // qrs-1: every item has exactly one answer and no sub-items.
            assert!(qr.item.iter().all(|i| i.answer.len() == 1));
            assert_eq!(obs.derived_from[0].reference, pair[0].full_url);
            assert_eq!(obs.category[0].coding[0].code, "survey");
            assert_eq!(obs.status, "final");
            totals.push((obs.code.coding[0].code.clone(), obs.value_integer));
        }
        assert_eq!(
            totals,
            [("44261-6".to_owned(), 9), ("70274-6".to_owned(), 14)]
        );
        let Resource::QuestionnaireResponse(qr) = &bundle.entry[0].resource else {
            panic!("response");
        };
        assert_eq!(
            qr.questionnaire,
            "https://mestring.test/fhir/Questionnaire/phq9|1"
        );
        let coding = qr.item[0].answer[0].value_coding.as_ref().expect("coded");
        assert_eq!(
            (coding.system.as_str(), coding.code.as_str()),
            (LOINC, "LA6569-3")
        );
        assert_eq!(qr.authored, "2026-11-30T19:15:00Z");
    }

    #[test]
    fn a_voided_answer_is_entered_in_error() {
        let phq9 = Questionnaire::from_toml(PHQ9).expect("phq9");
        let bundle = answers_bundle(
            &[answered(&phq9, 3, true)],
            "https://mestring.test",
            Lang::En,
            Utc::now(),
            counter(),
        );
        let statuses: Vec<&str> = bundle
            .entry
            .iter()
            .map(|e| match &e.resource {
                Resource::QuestionnaireResponse(r) => r.status,
                Resource::Observation(o) => o.status,
                Resource::Questionnaire(_) => "questionnaire",
            })
            .collect();
        assert_eq!(statuses, ["entered-in-error", "entered-in-error"]);
    }

    #[test]
    fn the_questionnaire_has_the_panel_and_item_codes() {
        let gad7 = Questionnaire::from_toml(GAD7).expect("gad7");
        let q = questionnaire(&gad7, "https://mestring.test", Lang::Nb);
        assert_eq!(q.code[0].code, "69737-5");
        assert_eq!(q.name, "GAD7");
        let codes: Vec<&str> = q
            .item
            .iter()
            .filter_map(|i| i.code.first())
            .map(|c| c.code.as_str())
            .collect();
        assert_eq!(
            codes,
            [
                "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"
            ]
        );
        assert!(q.item.iter().all(|i| i.answer_option.len() == 4));
    }

    #[test]
    fn uuids_have_the_version_4_layout() {
        let u = urn_uuid([0xff; 16]);
        assert_eq!(u, "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    #[test]
    fn no_subject_is_serialised() {
        let phq9 = Questionnaire::from_toml(PHQ9).expect("phq9");
        let bundle = answers_bundle(
            &[answered(&phq9, 0, false)],
            "https://mestring.test",
            Lang::Nb,
            Utc::now(),
            counter(),
        );
        let text = serde_json::to_string(&bundle).expect("json");
        assert!(!text.contains("subject"));
        assert!(!text.contains("identifier"));
        assert!(text.contains("\"resourceType\":\"Observation\""));
        assert!(text.contains("\"effectiveDateTime\""));
    }
}
