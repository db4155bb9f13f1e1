//! The FHIR R4 export: a user's answers as a collection Bundle with LOINC
//! codes, and the shipped questionnaires as FHIR Questionnaires, both
//! checked here and by an independent validator (`tests/fhir/validate.py`,
//! the `fhir.resources` R4 models).

use std::path::PathBuf;
use std::process::Command;

use chrono::Duration;
use serde_json::Value;

use crate::helpers::{TestApp, backends, cli_command, workspace_root};

/// The Python with the validator installed, in `tests/fhir/.venv`. Made
/// on first use (once per test process, ~10 s, from PyPI) so that
/// `cargo test --workspace` works on a fresh machine; CI makes it
/// beforehand.
fn validator() -> Command {
    static READY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let python = READY
        .get_or_init(|| {
            let dir = workspace_root().join("tests/fhir");
            let python = dir.join(".venv/bin/python");
            let works = |p: &PathBuf| {
                Command::new(p)
                    .args(["-c", "import fhir.resources"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if works(&python) {
                return Ok(python);
            }
            let steps: [(&str, Vec<&str>); 2] = [
                ("python3", vec!["-m", "venv", ".venv"]),
                (
                    ".venv/bin/pip",
                    vec![
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        "-r",
                        "requirements.txt",
                    ],
                ),
            ];
            for (program, args) in steps {
                let program = if program.starts_with('.') {
                    dir.join(program).into_os_string()
                } else {
                    program.into()
                };
                let out = Command::new(&program)
                    .args(&args)
                    .current_dir(&dir)
                    .output()
                    .map_err(|e| format!("{program:?}: {e}"))?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
            Ok(python)
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("could not set up the FHIR validator in tests/fhir/.venv: {e}"));
    let mut cmd = Command::new(python);
    cmd.arg(workspace_root().join("tests/fhir/validate.py"));
    cmd
}

/// Runs the validator on `json` off the async runtime (the first run may
/// install it, and the app under test must keep serving meanwhile); panics
/// with its output when it fails.
async fn assert_valid_fhir(json: &str, what: &str) {
    let (json, what) = (json.to_owned(), what.to_owned());
    actix_web::rt::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("{what}.json"));
        std::fs::write(&path, json).expect("write");
        let out = validator().arg(&path).output().expect("validator runs");
        assert!(
            out.status.success(),
            "{what} is not valid FHIR R4:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .expect("validator task");
}

fn codes(resource: &Value, pointer: &str) -> Vec<String> {
    resource
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Two PHQ-9 and one GAD-7: three responses, three totals with the LOINC
/// codes, each derived from its response; valid R4; nothing about who.
#[actix_web::test]
async fn the_fhir_export_has_loinc_codes_and_passes_the_validator() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let code = app.issue_code().await;
        let c = app.client();
        assert_eq!(c.login(&code).await.status, 303);
        c.answer_all("phq9", 9, "1").await;
        app.clock.advance(Duration::minutes(10));
        c.answer_all("phq9", 9, "2").await;
        app.clock.advance(Duration::minutes(10));
        c.answer_all("gad7", 7, "3").await;

        let page = c.get("/settings/export").await.body;
        assert!(page.contains("href=\"/settings/export.fhir.json\""));
        let r = c.get("/settings/export.fhir.json").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("application/fhir+json; charset=utf-8")
        );
        assert!(
            r.header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment"))
        );
        let account = app.account_of(&code).await;
        assert!(!r.body.contains(&code), "no access code");
        assert!(!r.body.contains(account.as_str()), "no account id");

        let bundle: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "collection");
        let entries = bundle["entry"].as_array().expect("entries");
        assert_eq!(entries.len(), 6);
        let mut totals = Vec::new();
        for pair in entries.chunks(2) {
            let (qr, obs) = (&pair[0]["resource"], &pair[1]["resource"]);
            assert_eq!(qr["resourceType"], "QuestionnaireResponse");
            assert_eq!(qr["status"], "completed");
            assert_eq!(obs["resourceType"], "Observation");
            assert_eq!(obs["status"], "final");
            assert_eq!(codes(obs, "/category/0/coding"), ["survey"]);
            assert_eq!(obs["derivedFrom"][0]["reference"], pair[0]["fullUrl"]);
            assert!(qr.get("subject").is_none() && obs.get("subject").is_none());
            totals.push((
                codes(obs, "/code/coding")[0].clone(),
                obs["valueInteger"].as_i64().expect("total"),
                qr["questionnaire"].as_str().expect("canonical").to_owned(),
            ));
        }
        let base = &app.state.config.base_url;
        assert_eq!(
            totals,
            [
                (
                    "44261-6".to_owned(),
                    9,
                    format!("{base}/fhir/Questionnaire/phq9|1")
                ),
                (
                    "44261-6".to_owned(),
                    18,
                    format!("{base}/fhir/Questionnaire/phq9|1")
                ),
                (
                    "70274-6".to_owned(),
                    21,
                    format!("{base}/fhir/Questionnaire/gad7|1")
                ),
            ]
        );
        // Answers carry the LOINC answer codes ("Several days" = LA6569-3).
        let first = &entries[0]["resource"]["item"][0];
        assert_eq!(first["linkId"], "phq9-1");
        assert_eq!(first["answer"][0]["valueCoding"]["code"], "LA6569-3");
        assert_eq!(
            first["answer"][0]["valueCoding"]["system"],
            "http://loinc.org"
        );
        assert_valid_fhir(&r.body, "answers").await;

        // A voided answer stays, as entered-in-error, and still validates.
        let results = c.get("/app/results").await.body;
        let voided = results
            .split("href=\"/app/results/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a result link")
            .to_owned();
        let done = c.post(&format!("/app/results/{voided}/void"), &[]).await;
        assert_eq!(done.status, 303);
        let body = c.get("/settings/export.fhir.json").await.body;
        assert_eq!(body.matches("\"entered-in-error\"").count(), 2, "{body}");
        assert_valid_fhir(&body, "answers-with-voided").await;

        // Logged out: no export; but the canonical URL of the questionnaire
        // the responses point to resolves, for anyone.
        let anon = app.client();
        let r = anon.get("/settings/export.fhir.json").await;
        assert_eq!(r.status, 303);
        let q = anon.get("/fhir/Questionnaire/phq9").await;
        assert_eq!(q.status, 200);
        let q: Value = serde_json::from_str(&q.body).expect("json");
        assert_eq!(
            q["url"]
                .as_str()
                .map(|u| format!("{u}|{}", q["version"].as_str().unwrap_or(""))),
            Some(format!("{base}/fhir/Questionnaire/phq9|1"))
        );
        assert_eq!(anon.get("/fhir/Questionnaire/nope").await.status, 404);
    }
}

/// `mestring content fhir`: every shipped questionnaire as a Questionnaire
/// with the panel, item and answer codes; one on its own with
/// `--questionnaire`; valid R4. (No database involved: run once.)
#[actix_web::test]
async fn the_shipped_questionnaires_export_as_fhir_questionnaires() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let out = cli_command(&app.db, &["content", "fhir"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let bundle: Value = serde_json::from_str(&text).expect("json");
    let mut panels: Vec<(String, Vec<String>)> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let q = &e["resource"];
            assert_eq!(q["resourceType"], "Questionnaire");
            (
                codes(q, "/code")[0].clone(),
                q["item"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter_map(|i| i["code"][0]["code"].as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .collect();
    panels.sort();
    assert_eq!(panels[0].0, "44249-1");
    assert_eq!(
        panels[0].1,
        [
            "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
            "44260-8", "69722-7"
        ]
    );
    assert_eq!(panels[1].0, "69737-5");
    assert_eq!(panels[1].1.len(), 7);
    assert_valid_fhir(&text, "questionnaires").await;

    let one = cli_command(
        &app.db,
        &["content", "fhir", "--questionnaire", "phq9", "--lang", "en"],
    )
    .output()
    .expect("runs");
    assert!(one.status.success());
    let q: Value = serde_json::from_slice(&one.stdout).expect("json");
    assert_eq!(q["id"], "phq9");
    assert_eq!(q["language"], "en");
    assert_eq!(
        q["item"][0]["text"],
        "Little interest or pleasure in doing things"
    );
    assert_valid_fhir(&String::from_utf8_lossy(&one.stdout), "phq9").await;

    let bad = cli_command(&app.db, &["content", "fhir", "--questionnaire", "nope"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no questionnaire with id"));
}
