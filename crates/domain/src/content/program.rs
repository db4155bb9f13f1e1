//! Programs: modules of steps, unlocked one after another, with a schedule
//! of repeated measures.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{
    Lang, Localized, ModuleId, ParseError, Problem, Problems, ProgramSlug, QuestionnaireId,
    RegistrationId, StepId,
};

/// The longest allowed interval between repeated measures, in days.
const MAX_EVERY_DAYS: u32 = 365;

/// `content/programs/<slug>/program.toml`: the program's metadata and the
/// order of its modules (each a directory next to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramManifest {
    /// Stable slug, equal to the directory name; used in URLs.
    pub slug: ProgramSlug,
    /// Bumped when steps are added, removed or reordered.
    pub version: u32,
    /// Title shown to the user.
    pub title: Localized,
    /// One or two sentences for the program list.
    pub summary: Localized,
    /// Repeated measures while the program runs.
    #[serde(default)]
    pub schedule: Vec<ScheduleEntry>,
    /// Module directory names, in order; each is also the module's id.
    pub modules: Vec<ModuleId>,
}

impl ProgramManifest {
    /// Parses `program.toml`.
    pub fn from_toml(text: &str) -> Result<Self, ParseError> {
        Ok(toml::from_str(text)?)
    }
}

/// Questionnaire `questionnaire` is due when the program starts and then
/// every `every_days` calendar days after it was last completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// What to measure.
    pub questionnaire: QuestionnaireId,
    /// Interval in calendar days (1-365).
    pub every_days: u32,
}

impl ScheduleEntry {
    /// The date the measure is next due: the start date if it was never
    /// done, otherwise `every_days` after the last time.
    ///
    /// Dates are calendar dates in Europe/Oslo (the caller converts), so a
    /// daylight-saving change never moves a due date.
    pub fn next_due(&self, started_on: NaiveDate, last_done: Option<NaiveDate>) -> NaiveDate {
        match last_done {
            None => started_on,
            Some(d) => d
                .checked_add_days(Days::new(u64::from(self.every_days)))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    /// The next `count` dates the measure is due, from `today` on: the next
    /// due date (today if it is overdue), then every `every_days` after.
    /// What a calendar reminder file lists.
    pub fn upcoming(
        &self,
        started_on: NaiveDate,
        last_done: Option<NaiveDate>,
        today: NaiveDate,
        count: usize,
    ) -> Vec<NaiveDate> {
        let first = self.next_due(started_on, last_done).max(today);
        std::iter::successors(Some(first), |d| {
            d.checked_add_days(Days::new(u64::from(self.every_days)))
        })
        .take(count)
        .collect()
    }

    /// Whether the measure is due on `today`.
    pub fn is_due(
        &self,
        started_on: NaiveDate,
        last_done: Option<NaiveDate>,
        today: NaiveDate,
    ) -> bool {
        self.next_due(started_on, last_done) <= today
    }
}

/// `content/programs/<slug>/<module>/module.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// The directory name; set by the loader, not written in the file.
    #[serde(skip)]
    pub id: ModuleId,
    /// Title shown to the user.
    pub title: Localized,
    /// One or two sentences about the module.
    pub summary: Localized,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The module file's own fields; `deny_unknown_fields` lives here because
/// [`Module`] skips its id.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleFile {
    title: Localized,
    summary: Localized,
    steps: Vec<Step>,
}

impl Module {
    /// Parses `module.toml` of the module in directory `id`. Page and
    /// exercise bodies are left empty for the loader to fill in from the
    /// Markdown files.
    pub fn from_toml(id: ModuleId, text: &str) -> Result<Self, ParseError> {
        let f: ModuleFile = toml::from_str(text)?;
        Ok(Self {
            id,
            title: f.title,
            summary: f.summary,
            steps: f.steps,
        })
    }
}

impl Default for ModuleId {
    fn default() -> Self {
        ModuleId::new("")
    }
}

/// One step of a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Unique within the program.
    pub id: StepId,
    /// Title shown in the module's table of contents.
    pub title: Localized,
    /// What the step is.
    #[serde(flatten)]
    pub kind: StepKind,
}

/// What a step is; written as `kind = "page"` etc. in `module.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// A page to read. Completed when the user marks it read.
    Page {
        /// Markdown source, from `<step-id>.<lang>.md`.
        #[serde(skip)]
        body: Localized,
    },
    /// An exercise: instructions, optionally with a registration form to
    /// fill in. Completed when the user marks it done (or, with a form,
    /// saves an entry).
    Exercise {
        /// Markdown source, from `<step-id>.<lang>.md`.
        #[serde(skip)]
        body: Localized,
        /// The form filled in as part of the exercise.
        #[serde(default)]
        registration: Option<RegistrationId>,
    },
    /// Fill in a registration form. Completed by saving one entry.
    Registration {
        /// Which form.
        registration: RegistrationId,
    },
    /// Answer a questionnaire. Completed by submitting it.
    Questionnaire {
        /// Which questionnaire.
        questionnaire: QuestionnaireId,
    },
}

impl StepKind {
    /// The Markdown body, for pages and exercises.
    pub fn body(&self) -> Option<&Localized> {
        match self {
            StepKind::Page { body } | StepKind::Exercise { body, .. } => Some(body),
            StepKind::Registration { .. } | StepKind::Questionnaire { .. } => None,
        }
    }

    /// Mutable Markdown body, for loaders.
    pub fn body_mut(&mut self) -> Option<&mut Localized> {
        match self {
            StepKind::Page { body } | StepKind::Exercise { body, .. } => Some(body),
            StepKind::Registration { .. } | StepKind::Questionnaire { .. } => None,
        }
    }

    /// The registration form this step uses, if any.
    pub fn registration(&self) -> Option<&RegistrationId> {
        match self {
            StepKind::Exercise { registration, .. } => registration.as_ref(),
            StepKind::Registration { registration } => Some(registration),
            StepKind::Page { .. } | StepKind::Questionnaire { .. } => None,
        }
    }

    /// The questionnaire this step uses, if any.
    pub fn questionnaire(&self) -> Option<&QuestionnaireId> {
        match self {
            StepKind::Questionnaire { questionnaire } => Some(questionnaire),
            _ => None,
        }
    }
}

/// A whole program: manifest, intro and modules.
///
/// Invariants once [`Program::validate`] returns no problems: module ids
/// and step ids are unique in the program, every module has a step, every
/// referenced questionnaire and registration exists, schedule intervals are
/// 1-365 days with each questionnaire at most once, every text exists in
/// every language and the intro names the emergency number 113 in every
/// language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Stable slug; used in URLs.
    pub slug: ProgramSlug,
    /// Bumped when steps are added, removed or reordered.
    pub version: u32,
    /// Title shown to the user.
    pub title: Localized,
    /// One or two sentences for the program list.
    pub summary: Localized,
    /// Markdown source of the introduction (`intro.<lang>.md`).
    pub intro: Localized,
    /// Repeated measures.
    pub schedule: Vec<ScheduleEntry>,
    /// The modules, in order.
    pub modules: Vec<Module>,
}

/// Where in a program a [`Problem`] is: `module` is `None` for the
/// manifest or intro, otherwise the index into [`Program::modules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramProblem {
    /// The module, by index.
    pub module: Option<usize>,
    /// The problem.
    pub problem: Problem,
}

/// Whether a step can be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Done; can be reviewed.
    Completed,
    /// Unlocked and not yet done.
    Available,
    /// The previous step is not done yet.
    Locked,
}

/// A step with its module and state, in program order.
#[derive(Debug, Clone, Copy)]
pub struct StepStatus<'a> {
    /// The module the step is in.
    pub module: &'a Module,
    /// The step.
    pub step: &'a Step,
    /// Its state.
    pub state: StepState,
}

impl Program {
    /// Assembles a program from its manifest, intro and modules (in the
    /// manifest's order).
    pub fn new(manifest: ProgramManifest, intro: Localized, modules: Vec<Module>) -> Self {
        Self {
            slug: manifest.slug,
            version: manifest.version,
            title: manifest.title,
            summary: manifest.summary,
            intro,
            schedule: manifest.schedule,
            modules,
        }
    }

    /// Every step in program order, with its module.
    pub fn steps(&self) -> impl Iterator<Item = (&Module, &Step)> {
        self.modules
            .iter()
            .flat_map(|m| m.steps.iter().map(move |s| (m, s)))
    }

    /// The step with id `id`, with its module.
    pub fn step(&self, id: &str) -> Option<(&Module, &Step)> {
        self.steps().find(|(_, s)| s.id.as_str() == id)
    }

    /// The module with id `id`.
    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id.as_str() == id)
    }

    /// Every step with its state, in program order.
    ///
    /// A step is unlocked when it is the first step of the program or the
    /// step before it (across module boundaries) is completed. A completed
    /// step always stays open, even if content changed so that an earlier
    /// step is now incomplete. Completions of unknown steps are ignored.
    pub fn progress<'a>(&'a self, completed: &BTreeSet<StepId>) -> Vec<StepStatus<'a>> {
        let mut prev_done = true;
        self.steps()
            .map(|(module, step)| {
                let done = completed.contains(&step.id);
                let state = if done {
                    StepState::Completed
                } else if prev_done {
                    StepState::Available
                } else {
                    StepState::Locked
                };
                prev_done = done;
                StepStatus {
                    module,
                    step,
                    state,
                }
            })
            .collect()
    }

    /// The state of step `id`, or `None` if the program has no such step.
    pub fn step_state(&self, id: &str, completed: &BTreeSet<StepId>) -> Option<StepState> {
        self.progress(completed)
            .into_iter()
            .find(|s| s.step.id.as_str() == id)
            .map(|s| s.state)
    }

    /// How many modules have every step in `completed`.
    pub fn modules_completed(&self, completed: &BTreeSet<StepId>) -> usize {
        self.modules
            .iter()
            .filter(|m| m.steps.iter().all(|s| completed.contains(&s.id)))
            .count()
    }

    /// Whether step `id` may be opened.
    pub fn is_unlocked(&self, id: &str, completed: &BTreeSet<StepId>) -> bool {
        matches!(
            self.step_state(id, completed),
            Some(StepState::Completed | StepState::Available)
        )
    }

    /// The first step that is available and not completed: where "continue"
    /// leads. `None` when every step is done.
    pub fn next_step<'a>(&'a self, completed: &BTreeSet<StepId>) -> Option<StepStatus<'a>> {
        self.progress(completed)
            .into_iter()
            .find(|s| s.state == StepState::Available)
    }

    /// Every problem with this program, given the ids of the questionnaires
    /// and registration forms that exist.
    pub fn validate(
        &self,
        questionnaires: &BTreeSet<QuestionnaireId>,
        registrations: &BTreeSet<RegistrationId>,
    ) -> Vec<ProgramProblem> {
        let mut out = Vec::new();

        let mut p = Problems::default();
        p.id("slug", self.slug.as_str());
        if self.version == 0 {
            p.push("version", "must be at least 1");
        }
        p.text("title", "text", &self.title);
        p.text("summary", "text", &self.summary);
        p.text("intro", "text", &self.intro);
        for lang in Lang::ALL {
            if !self.intro.get(lang).trim().is_empty() && !self.intro.get(lang).contains("113") {
                p.push(
                    "intro",
                    format!("the `{lang}` intro must say this is self-help, not emergency help, and give 113"),
                );
            }
        }
        if self.modules.is_empty() {
            p.push("modules", "a program needs at least one module");
        }
        let mut seen_q = BTreeSet::new();
        for (n, s) in self.schedule.iter().enumerate() {
            let at = format!("schedule {}", n + 1);
            if !questionnaires.contains(&s.questionnaire) {
                p.push(&at, format!("unknown questionnaire `{}`", s.questionnaire));
            }
            if !seen_q.insert(&s.questionnaire) {
                p.push(
                    &at,
                    format!("questionnaire `{}` is scheduled twice", s.questionnaire),
                );
            }
            if s.every_days == 0 || s.every_days > MAX_EVERY_DAYS {
                p.push(
                    &at,
                    format!("every_days must be between 1 and {MAX_EVERY_DAYS}"),
                );
            }
        }
        let mut module_ids = BTreeSet::new();
        for m in &self.modules {
            p.id(format!("module `{}`", m.id), m.id.as_str());
            if !module_ids.insert(m.id.as_str()) {
                p.push(format!("module `{}`", m.id), "listed twice");
            }
        }
        out.extend(p.0.into_iter().map(|problem| ProgramProblem {
            module: None,
            problem,
        }));

        let mut step_ids = BTreeSet::new();
        for (index, m) in self.modules.iter().enumerate() {
            let mut p = Problems::default();
            p.text("title", "text", &m.title);
            p.text("summary", "text", &m.summary);
            if m.steps.is_empty() {
                p.push("steps", "a module needs at least one step");
            }
            for s in &m.steps {
                let at = format!("step `{}`", s.id);
                p.id(&at, s.id.as_str());
                if !step_ids.insert(s.id.as_str()) {
                    p.push(&at, "step id is used twice in the program");
                }
                p.text(&at, "title", &s.title);
                if let Some(body) = s.kind.body() {
                    p.text(&at, "Markdown body", body);
                }
                if let Some(q) = s.kind.questionnaire()
                    && !questionnaires.contains(q)
                {
                    p.push(&at, format!("unknown questionnaire `{q}`"));
                }
                if let Some(r) = s.kind.registration()
                    && !registrations.contains(r)
                {
                    p.push(&at, format!("unknown registration `{r}`"));
                }
            }
            out.extend(p.0.into_iter().map(|problem| ProgramProblem {
                module: Some(index),
                problem,
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> Step {
        Step {
            id: StepId::new(id),
            title: Localized::default(),
            kind: StepKind::Questionnaire {
                questionnaire: QuestionnaireId::new("phq9"),
            },
        }
    }

    fn program() -> Program {
        let module = |id: &str, steps: &[&str]| Module {
            id: ModuleId::new(id),
            title: Localized::default(),
            summary: Localized::default(),
            steps: steps.iter().map(|s| step(s)).collect(),
        };
        Program {
            slug: ProgramSlug::new("p"),
            version: 1,
            title: Localized::default(),
            summary: Localized::default(),
            intro: Localized::default(),
            schedule: vec![],
            modules: vec![module("m1", &["a", "b"]), module("m2", &["c"])],
        }
    }

    fn done(ids: &[&str]) -> BTreeSet<StepId> {
        ids.iter().map(|s| StepId::new(*s)).collect()
    }

    #[test]
    fn steps_unlock_one_after_another_across_modules() {
        let p = program();
        let states = |c: &[&str]| -> Vec<StepState> {
            p.progress(&done(c)).into_iter().map(|s| s.state).collect()
        };
        use StepState::*;
        assert_eq!(states(&[]), [Available, Locked, Locked]);
        assert_eq!(states(&["a"]), [Completed, Available, Locked]);
        assert_eq!(states(&["a", "b"]), [Completed, Completed, Available]);
        assert_eq!(states(&["a", "b", "c"]), [Completed, Completed, Completed]);
        assert!(p.is_unlocked("c", &done(&["a", "b"])));
        assert!(!p.is_unlocked("c", &done(&["a"])));
        assert!(!p.is_unlocked("nope", &done(&[])));
        assert_eq!(
            p.next_step(&done(&["a", "b"])).map(|s| s.step.id.as_str()),
            Some("c")
        );
        assert!(p.next_step(&done(&["a", "b", "c"])).is_none());
    }

    #[test]
    fn upcoming_dates_start_today_when_overdue_then_follow_the_interval() {
        let e = ScheduleEntry {
            questionnaire: QuestionnaireId::new("phq9"),
            every_days: 14,
        };
        let day = |m, d| NaiveDate::from_ymd_opt(2027, m, d).expect("date");
        // Done 1 March: next 15 March, then 29 March (across the change
        // to summer time on 28 March: dates, not hours, are added).
        assert_eq!(
            e.upcoming(day(2, 1), Some(day(3, 1)), day(3, 2), 3),
            vec![day(3, 15), day(3, 29), day(4, 12)]
        );
        // Overdue: today first.
        assert_eq!(
            e.upcoming(day(2, 1), Some(day(3, 1)), day(3, 20), 2),
            vec![day(3, 20), day(4, 3)]
        );
    }

    #[test]
    fn schedule_is_due_at_start_then_every_interval() {
        let s = ScheduleEntry {
            questionnaire: QuestionnaireId::new("phq9"),
            every_days: 14,
        };
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("valid date");
        assert!(s.is_due(d(3, 1), None, d(3, 1)));
        assert_eq!(s.next_due(d(3, 1), Some(d(3, 20)),), d(4, 3));
        assert!(!s.is_due(d(3, 1), Some(d(3, 20)), d(4, 2)));
        assert!(s.is_due(d(3, 1), Some(d(3, 20)), d(4, 3)));
    }

    #[test]
    fn dangling_references_are_reported_on_the_module() {
        let p = program();
        let problems = p.validate(&BTreeSet::new(), &BTreeSet::new());
        assert!(problems.iter().any(|pp| pp.module == Some(0)
            && pp.problem.message.contains("unknown questionnaire `phq9`")));
    }
}
