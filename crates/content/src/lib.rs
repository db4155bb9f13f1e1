//! Loads and validates Mestring's content (questionnaires, registration
//! forms, programs) from a directory, and renders its Markdown to HTML.
//!
//! Layout of the content directory:
//!
//! ```text
//! questionnaires/<id>.toml          Questionnaire (id = file stem)
//! registrations/<id>.toml           RegistrationForm (id = file stem)
//! programs/<slug>/program.toml      ProgramManifest (slug = directory name)
//! programs/<slug>/intro.<lang>.md   program introduction, one file per language
//! programs/<slug>/<module>/module.toml         Module (id = directory name)
//! programs/<slug>/<module>/<step>.<lang>.md    body of a page or exercise step
//! ```
//!
//! [`load`] reads everything, validates it with the domain's rules plus
//! file-level checks (names match ids, every Markdown file present and
//! used, no raw HTML), and either returns a [`Catalog`] or a
//! [`ContentError`] listing every problem with the file it is in.

mod markdown;

/// The content shipped with the source, compiled in (see `build.rs`).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use mestring_domain::content::{
    Lang, Localized, Module, ModuleId, Program, ProgramManifest, ProgramSlug, Questionnaire,
    QuestionnaireId, RegistrationForm, RegistrationId, StepId,
};

pub use markdown::render as render_markdown;

/// The content shipped in this repository (`<workspace>/content`), for
/// tests and for a server started from a checkout.
pub fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../content")
}

/// One problem, in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file, relative to the content directory.
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// Content that failed to load: every problem found, each with its file.
///
/// Invariant: `problems` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// The problems, grouped by file in the order they were found.
    pub problems: Vec<FileProblem>,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in content:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ContentError {}

/// Validated content, with Markdown rendered to HTML.
///
/// Invariants: every questionnaire, form and program passed validation;
/// every program reference resolves inside the catalog; every page and
/// exercise step has rendered HTML in every [`Lang`]. The HTML contains no
/// raw HTML from the sources and may be inserted into templates unescaped.
#[derive(Debug, Clone)]
pub struct Catalog {
    questionnaires: BTreeMap<QuestionnaireId, Questionnaire>,
    registrations: BTreeMap<RegistrationId, RegistrationForm>,
    programs: BTreeMap<ProgramSlug, Program>,
    intro_html: BTreeMap<ProgramSlug, Localized>,
    step_html: BTreeMap<(ProgramSlug, StepId), Localized>,
}

impl Catalog {
    /// The questionnaire with id `id` (e.g. `phq9`).
    pub fn questionnaire(&self, id: &str) -> Option<&Questionnaire> {
        self.questionnaires.get(id)
    }

    /// Every questionnaire, by id.
    pub fn questionnaires(&self) -> impl Iterator<Item = &Questionnaire> {
        self.questionnaires.values()
    }

    /// The registration form with id `id` (e.g. `daily-checkin`).
    pub fn registration(&self, id: &str) -> Option<&RegistrationForm> {
        self.registrations.get(id)
    }

    /// Every registration form, by id.
    pub fn registrations(&self) -> impl Iterator<Item = &RegistrationForm> {
        self.registrations.values()
    }

    /// The program with slug `slug` (e.g. `angst`).
    pub fn program(&self, slug: &str) -> Option<&Program> {
        self.programs.get(slug)
    }

    /// Every program, by slug.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.programs.values()
    }

    /// The program's introduction as HTML.
    pub fn intro_html(&self, program: &str, lang: Lang) -> Option<&str> {
        self.intro_html.get(program).map(|h| h.get(lang))
    }

    /// The body of page or exercise step `step` of `program` as HTML.
    /// `None` for unknown steps and for questionnaire/registration steps.
    pub fn step_html(&self, program: &str, step: &str, lang: Lang) -> Option<&str> {
        self.step_html
            .get(&(ProgramSlug::new(program), StepId::new(step)))
            .map(|h| h.get(lang))
    }
}

/// Loads, validates and renders the content in `dir`.
///
/// Reports every problem found (not just the first), each naming its file
/// relative to `dir`.
pub fn load(dir: &Path) -> Result<Catalog, ContentError> {
    load_from(Source::Dir(dir.to_owned()))
}

/// Loads, validates and renders the content compiled into the binary: the
/// `content/` directory as it was at build time.
pub fn load_embedded() -> Result<Catalog, ContentError> {
    let files = embedded::FILES
        .iter()
        .map(|(rel, text)| (PathBuf::from(rel), *text))
        .collect();
    load_from(Source::Embedded(files))
}

fn load_from(source: Source) -> Result<Catalog, ContentError> {
    let mut l = Loader {
        source,
        problems: Vec::new(),
    };
    let questionnaires = l.load_documents("questionnaires", |text| {
        let q = Questionnaire::from_toml(text)?;
        let problems = q.validate();
        Ok((q.id.to_string(), q, problems))
    });
    let registrations = l.load_documents("registrations", |text| {
        let r = RegistrationForm::from_toml(text)?;
        let problems = r.validate();
        Ok((r.id.to_string(), r, problems))
    });
    // References resolve against every document that parsed, valid or
    // not, so one broken questionnaire is reported once rather than again
    // at every step that uses it.
    let q_ids: BTreeSet<QuestionnaireId> = questionnaires.iter().map(|q| q.id.clone()).collect();
    let r_ids: BTreeSet<RegistrationId> = registrations.iter().map(|r| r.id.clone()).collect();
    let questionnaires: BTreeMap<QuestionnaireId, Questionnaire> = questionnaires
        .into_iter()
        .map(|q| (q.id.clone(), q))
        .collect();
    let registrations: BTreeMap<RegistrationId, RegistrationForm> = registrations
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();

    let mut programs = BTreeMap::new();
    for slug_dir in l.subdirs(Path::new("programs")) {
        if let Some(p) = l.load_program(&slug_dir, &q_ids, &r_ids) {
            programs.insert(p.slug.clone(), p);
        }
    }

    if !l.problems.is_empty() {
        return Err(ContentError {
            problems: l.problems,
        });
    }
    let render = |t: &Localized| Localized::from_fn(|lang| markdown::render(t.get(lang)));
    let intro_html = programs
        .values()
        .map(|p: &Program| (p.slug.clone(), render(&p.intro)))
        .collect();
    let step_html = programs
        .values()
        .flat_map(|p: &Program| {
            p.steps().filter_map(move |(_, s)| {
                s.kind
                    .body()
                    .map(|b| ((p.slug.clone(), s.id.clone()), render(b)))
            })
        })
        .collect();
    Ok(Catalog {
        questionnaires,
        registrations,
        programs,
        intro_html,
        step_html,
    })
}

/// Where content files come from; paths are relative to its root.
enum Source {
    /// A directory on disk.
    Dir(PathBuf),
    /// Files compiled into the binary, by relative path.
    Embedded(BTreeMap<PathBuf, &'static str>),
}

impl Source {
    /// Sorted names of the entries directly in `rel` (relative paths).
    fn entries(&self, rel: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = match self {
            Self::Dir(root) => fs::read_dir(root.join(rel))?
                .filter_map(Result::ok)
                .map(|e| rel.join(e.file_name()))
                .collect(),
            Self::Embedded(files) => {
                let children: BTreeSet<PathBuf> = files
                    .keys()
                    .filter_map(|p| p.strip_prefix(rel).ok())
                    .filter_map(|rest| rest.components().next())
                    .map(|first| rel.join(first))
                    .collect();
                if children.is_empty() {
                    return Err(std::io::ErrorKind::NotFound.into());
                }
                children.into_iter().collect()
            }
        };
        v.retain(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        });
        v.sort();
        Ok(v)
    }

    fn is_dir(&self, rel: &Path) -> bool {
        match self {
            Self::Dir(root) => root.join(rel).is_dir(),
            Self::Embedded(files) => files.keys().any(|p| p != rel && p.starts_with(rel)),
        }
    }

    fn exists(&self, rel: &Path) -> bool {
        match self {
            Self::Dir(root) => root.join(rel).exists(),
            Self::Embedded(files) => files.contains_key(rel) || self.is_dir(rel),
        }
    }

    fn read(&self, rel: &Path) -> std::io::Result<String> {
        match self {
            Self::Dir(root) => fs::read_to_string(root.join(rel)),
            Self::Embedded(files) => files
                .get(rel)
                .map(|s| (*s).to_owned())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into()),
        }
    }
}

/// Collects problems while reading; paths are relative to the source.
struct Loader {
    source: Source,
    problems: Vec<FileProblem>,
}

/// What a document parser returns: its id, the document, and its own
/// validation problems.
type Parsed<T> = (String, T, Vec<mestring_domain::content::Problem>);

impl Loader {
    fn problem(&mut self, file: &Path, message: impl Into<String>) {
        self.problems.push(FileProblem {
            file: file.to_owned(),
            message: message.into(),
        });
    }

    /// Sorted entries of a directory (relative paths), hidden files left
    /// out. A missing directory is a problem.
    fn entries(&mut self, rel: &Path) -> Vec<PathBuf> {
        match self.source.entries(rel) {
            Err(e) => {
                self.problem(rel, format!("cannot read directory: {e}"));
                Vec::new()
            }
            Ok(v) => v,
        }
    }

    fn subdirs(&mut self, rel: &Path) -> Vec<PathBuf> {
        let entries = self.entries(rel);
        entries
            .into_iter()
            .filter(|p| self.source.is_dir(p))
            .collect()
    }

    fn read(&mut self, rel: &Path) -> Option<String> {
        match self.source.read(rel) {
            Ok(s) => Some(s),
            Err(e) => {
                let msg = if e.kind() == std::io::ErrorKind::NotFound {
                    "missing file".to_owned()
                } else {
                    format!("cannot read: {e}")
                };
                self.problem(rel, msg);
                None
            }
        }
    }

    /// Loads every `*.toml` in `dir` that parses (problems recorded); the
    /// id must equal the file stem.
    fn load_documents<T>(
        &mut self,
        dir: &str,
        parse: impl Fn(&str) -> Result<Parsed<T>, mestring_domain::content::ParseError>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for rel in self.entries(Path::new(dir)) {
            if rel.extension().is_none_or(|e| e != "toml") {
                self.problem(&rel, "unexpected file (only .toml files belong here)");
                continue;
            }
            let Some(text) = self.read(&rel) else {
                continue;
            };
            match parse(&text) {
                Err(e) => self.problem(&rel, e.to_string()),
                Ok((id, doc, problems)) => {
                    let stem = rel.file_stem().map(|s| s.to_string_lossy().into_owned());
                    if stem.as_deref() != Some(id.as_str()) {
                        self.problem(&rel, format!("id `{id}` must equal the file name"));
                    }
                    for p in problems {
                        self.problem(&rel, p.to_string());
                    }
                    // Kept even with problems: the catalog is only built
                    // when there are none, and callers use the ids.
                    out.push(doc);
                }
            }
        }
        out
    }

    /// Reads `<base>.{nb,nn,en}.md` next to each other,
    /// checking the Markdown, and notes them as used.
    fn read_markdown(&mut self, dir: &Path, base: &str, used: &mut BTreeSet<PathBuf>) -> Localized {
        Localized::from_fn(|lang| {
            let rel = dir.join(format!("{base}.{}.md", lang.as_str()));
            used.insert(rel.clone());
            let text = self.read(&rel).unwrap_or_default();
            if self.source.exists(&rel) && text.trim().is_empty() {
                self.problem(&rel, "empty file");
            }
            for m in markdown::problems(&text) {
                self.problem(&rel, m);
            }
            text
        })
    }

    fn load_program(
        &mut self,
        dir: &Path,
        questionnaires: &BTreeSet<QuestionnaireId>,
        registrations: &BTreeSet<RegistrationId>,
    ) -> Option<Program> {
        let manifest_path = dir.join("program.toml");
        let text = self.read(&manifest_path)?;
        let manifest = match ProgramManifest::from_toml(&text) {
            Ok(m) => m,
            Err(e) => {
                self.problem(&manifest_path, e.to_string());
                return None;
            }
        };
        let dir_name = dir.file_name().map(|s| s.to_string_lossy().into_owned());
        if dir_name.as_deref() != Some(manifest.slug.as_str()) {
            self.problem(
                &manifest_path,
                format!("slug `{}` must equal the directory name", manifest.slug),
            );
        }
        let mut used: BTreeSet<PathBuf> = BTreeSet::new();
        used.insert(manifest_path.clone());
        let intro = self.read_markdown(dir, "intro", &mut used);

        let mut modules = Vec::new();
        let mut module_files = Vec::new();
        for id in &manifest.modules {
            let mdir = dir.join(id.as_str());
            let mpath = mdir.join("module.toml");
            used.insert(mpath.clone());
            let Some(text) = self.read(&mpath) else {
                continue;
            };
            match Module::from_toml(ModuleId::new(id.as_str()), &text) {
                Err(e) => self.problem(&mpath, e.to_string()),
                Ok(mut module) => {
                    for step in &mut module.steps {
                        let base = step.id.to_string();
                        if let Some(body) = step.kind.body_mut() {
                            *body = self.read_markdown(&mdir, &base, &mut used);
                        }
                    }
                    modules.push(module);
                    module_files.push(mpath);
                }
            }
        }
        self.report_unused(dir, &used);

        let program = Program::new(manifest, intro, modules);
        let problems = program.validate(questionnaires, registrations);
        let clean = problems.is_empty();
        for pp in problems {
            let file = match pp.module.and_then(|i| module_files.get(i)) {
                Some(f) => f.clone(),
                None if pp.problem.at == "intro" => dir.join("intro.{nb,en}.md"),
                None => manifest_path.clone(),
            };
            self.problem(&file, pp.problem.to_string());
        }
        clean.then_some(program)
    }

    /// Files in a program directory that no step uses are most likely a
    /// misspelt step id; report them rather than ignore them.
    fn report_unused(&mut self, dir: &Path, used: &BTreeSet<PathBuf>) {
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for rel in self.entries(&d) {
                if self.source.is_dir(&rel) {
                    if used.iter().any(|u| u.starts_with(&rel)) {
                        stack.push(rel);
                    } else {
                        self.problem(&rel, "directory is not listed in program.toml `modules`");
                    }
                } else if !used.contains(&rel) {
                    self.problem(&rel, "file is not used by any step");
                }
            }
        }
    }
}
