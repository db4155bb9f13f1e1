//! Loading the shipped content, and broken copies of it.

use std::fs;
use std::path::Path;

use mestring_content::{ContentError, load, shipped_dir};
use mestring_domain::content::{Lang, StepKind};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A copy of the shipped content in a temporary directory.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&shipped_dir(), dir.path());
    dir
}

fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = fs::read_to_string(&path).expect("read file to edit");
    assert!(text.contains(from), "{rel} does not contain {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).expect("write edited file");
}

fn load_err(dir: &Path) -> ContentError {
    match load(dir) {
        Ok(_) => panic!("broken content loaded"),
        Err(e) => e,
    }
}

fn mentions(e: &ContentError, file: &str, words: &str) -> bool {
    e.to_string()
        .lines()
        .any(|l| l.contains(file) && l.contains(words))
}

#[test]
fn shipped_content_loads_cleanly() {
    let catalog = match load(&shipped_dir()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    for q in ["phq9", "gad7"] {
        assert!(catalog.questionnaire(q).is_some(), "{q}");
    }
    for r in [
        "daily-checkin",
        "thought-record",
        "activity-log",
        "exposure-log",
    ] {
        assert!(catalog.registration(r).is_some(), "{r}");
    }
    for slug in ["angst", "nedstemthet"] {
        let p = catalog.program(slug).expect("program ships");
        assert!(
            p.modules.len() >= 6,
            "{slug} has {} modules",
            p.modules.len()
        );
        assert!(!p.schedule.is_empty(), "{slug} schedules measures");
        for lang in Lang::ALL {
            let intro = catalog.intro_html(slug, lang).expect("intro");
            assert!(intro.contains("113"), "{slug} {lang} intro names 113");
        }
        for (_, step) in p.steps() {
            if matches!(step.kind, StepKind::Page { .. } | StepKind::Exercise { .. }) {
                for lang in Lang::ALL {
                    let html = catalog
                        .step_html(slug, step.id.as_str(), lang)
                        .expect("rendered body");
                    assert!(html.contains("<p>"), "{slug}/{} {lang}", step.id);
                    assert!(!html.contains("<script"));
                }
            } else {
                assert!(
                    catalog
                        .step_html(slug, step.id.as_str(), Lang::Nb)
                        .is_none()
                );
            }
        }
    }
    assert_eq!(catalog.programs().count(), 2);
}

#[test]
fn a_band_gap_names_the_questionnaire_file() {
    let dir = copy();
    edit(
        dir.path(),
        "questionnaires/phq9.toml",
        "id = \"moderate\"\nmin = 10\nmax = 14",
        "id = \"moderate\"\nmin = 10\nmax = 13",
    );
    let e = load_err(dir.path());
    assert!(
        mentions(&e, "questionnaires/phq9.toml", "no band covers total(s) 14"),
        "{e}"
    );
}

#[test]
fn a_missing_translation_names_the_file() {
    let dir = copy();
    edit(
        dir.path(),
        "registrations/daily-checkin.toml",
        "en = \"Check in\"",
        "",
    );
    let e = load_err(dir.path());
    assert!(
        mentions(&e, "registrations/daily-checkin.toml", "missing in `en`"),
        "{e}"
    );
}

#[test]
fn a_missing_markdown_translation_names_the_file() {
    let dir = copy();
    let module = dir.path().join("programs/angst/01-forsta-angst");
    let victim = fs::read_dir(&module)
        .expect("module dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".en.md"))
        .expect("an English page");
    fs::remove_file(module.join(&victim)).expect("remove");
    let e = load_err(dir.path());
    assert!(mentions(&e, &victim, "missing file"), "{e}");
}

#[test]
fn a_dangling_reference_names_the_module_file() {
    let dir = copy();
    edit(
        dir.path(),
        "programs/nedstemthet/01-forsta-nedstemthet/module.toml",
        "questionnaire = \"phq9\"",
        "questionnaire = \"phq10\"",
    );
    let e = load_err(dir.path());
    assert!(
        mentions(
            &e,
            "programs/nedstemthet/01-forsta-nedstemthet/module.toml",
            "unknown questionnaire `phq10`"
        ),
        "{e}"
    );
}

#[test]
fn raw_html_in_markdown_is_refused() {
    let dir = copy();
    let intro = dir.path().join("programs/angst/intro.nb.md");
    let mut text = fs::read_to_string(&intro).expect("intro");
    text.push_str("\n<script>alert(1)</script>\n");
    fs::write(&intro, text).expect("write");
    let e = load_err(dir.path());
    assert!(
        mentions(&e, "programs/angst/intro.nb.md", "raw HTML"),
        "{e}"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let dir = copy();
    edit(
        dir.path(),
        "questionnaires/gad7.toml",
        "max = 21",
        "max = 20",
    );
    edit(
        dir.path(),
        "registrations/activity-log.toml",
        "max_chars = 280",
        "max_chars = 5000",
    );
    fs::write(dir.path().join("programs/angst/stray.nb.md"), "x").expect("write");
    let e = load_err(dir.path());
    assert!(mentions(&e, "questionnaires/gad7.toml", "21"), "{e}");
    assert!(
        mentions(&e, "registrations/activity-log.toml", "max_chars"),
        "{e}"
    );
    assert!(
        mentions(&e, "programs/angst/stray.nb.md", "not used"),
        "{e}"
    );
}

#[test]
fn ids_must_match_file_names() {
    let dir = copy();
    fs::rename(
        dir.path().join("questionnaires/gad7.toml"),
        dir.path().join("questionnaires/gad-7.toml"),
    )
    .expect("rename");
    let e = load_err(dir.path());
    assert!(
        mentions(&e, "questionnaires/gad-7.toml", "must equal the file name"),
        "{e}"
    );
}

#[test]
fn the_embedded_content_is_the_shipped_directory() {
    let from_disk = load(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let embedded = mestring_content::load_embedded().unwrap_or_else(|e| panic!("{e}"));
    let slugs = |c: &mestring_content::Catalog| {
        c.programs()
            .map(|p| (p.slug.to_string(), p.steps().count()))
            .collect::<Vec<_>>()
    };
    assert_eq!(slugs(&embedded), slugs(&from_disk));
    assert!(slugs(&embedded).len() >= 2);
    for slug in ["angst", "nedstemthet"] {
        for lang in Lang::ALL {
            assert_eq!(
                embedded.intro_html(slug, lang),
                from_disk.intro_html(slug, lang),
                "{slug} {lang}"
            );
        }
    }
    let ids = |c: &mestring_content::Catalog| {
        c.questionnaires()
            .map(|q| q.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&embedded), ids(&from_disk));
}
