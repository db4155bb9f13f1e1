//! `mestring seed`: synthetic organisations and accounts for load tests and
//! benchmarks, on either backend, written in bulk (many rows per statement,
//! one transaction per chunk of accounts).
//!
//! The data is plausible rather than realistic in every detail: accounts
//! are issued over the last `--weeks` weeks in batches per organisation;
//! about four in five are used; of those, three in five share with their
//! organisation (a tenth of them withdraw later) and the rest decline;
//! users answer PHQ-9 and GAD-7 every 14 days while they keep going (each
//! measurement is followed by another with probability 0.8), with totals
//! that drift downwards with noise, spread over the items so the item
//! answers add up to the total and flags (PHQ-9 item 9) follow from them;
//! they complete steps and make daily check-ins at a pace set by their
//! engagement; about 2 % of codes end as deletion records. Codes are real
//! random codes under the installation's pepper, so a printed one logs in.

use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use mestring_content::Catalog;
use mestring_crypto::shred::KekRing;
use mestring_domain::access_code::{AccessCode, CodePepper};
use mestring_domain::channel::{ChannelSlug, DIRECT};
use mestring_domain::clock::Clock;
use mestring_domain::content::Questionnaire;
use mestring_domain::id::Id;
use mestring_store::bulk::{
    self, Account, ActivityDay, Batch, Chunk, Consent, Progress, Registration, Response,
};
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::StaffHome;
use mestring_store::{Store, StoreError};
use mestring_web::seal::SealKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;

/// Accounts written per transaction.
const CHUNK: u64 = 5_000;
/// Codes per issued batch (one printed sheet's worth of the CLI).
const BATCH: u64 = 1_000;
/// Days between measurements (the programs' schedule).
const MEASURE_EVERY_DAYS: i64 = 14;

/// What to make.
#[derive(Debug, Clone)]
pub struct SeedArgs {
    /// The channel the organisations go in (created when missing); a tool
    /// manager login for it is printed too.
    pub channel: Option<ChannelSlug>,
    /// Accounts in all.
    pub accounts: u64,
    /// Spread over this many weeks back from now.
    pub weeks: u32,
    /// Organisations, sharing the accounts round-robin.
    pub orgs: u32,
    /// Seed of the random generator (same seed, same data shape).
    pub rng_seed: u64,
}

/// Runs the seeder; prints the organisation ids (and a staff login for the
/// first one) on stdout, progress and rates on stderr.
pub async fn run(
    config: &Config,
    clock: std::sync::Arc<dyn Clock>,
    args: SeedArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000_000).contains(&args.accounts),
        "--accounts must be 1 to 10000000"
    );
    anyhow::ensure!((1..=520).contains(&args.weeks), "--weeks must be 1 to 520");
    anyhow::ensure!(
        (1..=10_000).contains(&args.orgs),
        "--orgs must be 1 to 10000"
    );
    let catalog = config.load_content()?;
    let store = crate::db::open_cli_store(config).await?;
    let pepper = crate::keys::pepper(&config.data_dir)?;
    let seal = crate::keys::seal_key(&config.data_dir)?;
    let now = clock.now();
    let keks = crate::keys::keks(&config.data_dir, now)?.snapshot()?;
    let channel = args
        .channel
        .clone()
        .unwrap_or_else(|| ChannelSlug::from_trusted(DIRECT.to_owned()));
    let mut orgs = Vec::new();
    for i in 1..=args.orgs {
        let name = format!("Syntetisk klinikk {i}");
        let channel = channel.clone();
        let id = store
            .run(move |conn| {
                if ChannelRow::find(conn, &channel)?.is_none() {
                    ChannelRow::insert(conn, &channel, channel.as_str(), now)?;
                }
                OrganisationRow::insert_in(conn, &name, &channel, now)
            })
            .await?;
        orgs.push(id);
    }
    let mut generator = Generator::new(&catalog, &pepper, &seal, now, args.clone());
    let started = Instant::now();
    // Into a fresh database the rows go in without their secondary
    // indexes, which are built once at the end (also when the load
    // failed, so the database is never left without them).
    let indexes = if store.run(bulk::is_fresh).await? {
        store.run(bulk::drop_secondary_indexes).await?
    } else {
        Vec::new()
    };
    let loaded = load(&store, &mut generator, &orgs, &keks, &args, now, started).await;
    let building = Instant::now();
    let dropped = indexes.len();
    let built = store
        .run(move |conn| bulk::create_indexes(conn, &indexes))
        .await;
    let rows = loaded?;
    built?;
    if dropped > 0 {
        eprintln!(
            "built {dropped} indexes in {:.1} s",
            building.elapsed().as_secs_f64()
        );
    }
    let secs = started.elapsed().as_secs_f64().max(0.001);
    eprintln!(
        "done: {} accounts, {rows} rows in {secs:.1} s ({:.0} rows/s, {:.0} accounts/s)",
        args.accounts,
        rows as f64 / secs,
        args.accounts as f64 / secs
    );
    let login = mestring_dashboard::demo::login_for(
        &store,
        &seal,
        &StaffHome::Organisation(orgs[0].clone()),
        "seed.fagperson@mestring.invalid",
        "Syntetisk Fagperson",
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    for org in &orgs {
        writeln!(out, "org: {org}")?;
    }
    writeln!(out, "staff email: {}", login.email)?;
    writeln!(out, "staff password: {}", login.password)?;
    writeln!(out, "staff totp secret: {}", login.totp_secret)?;
    if let Some(channel) = &args.channel {
        let manager = mestring_dashboard::demo::login_for(
            &store,
            &seal,
            &StaffHome::Channel(channel.clone()),
            &format!("seed.verktoy.{channel}@mestring.invalid"),
            "Syntetisk Verktøyforvalter",
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        writeln!(out, "tool manager email: {}", manager.email)?;
        writeln!(out, "tool manager password: {}", manager.password)?;
        writeln!(out, "tool manager totp secret: {}", manager.totp_secret)?;
    }
    Ok(())
}

/// Generates and writes the accounts in chunks: the next chunk is made
/// while the previous one is written (on the blocking pool), so the two
/// cores of a small machine both work. Returns the rows written.
async fn load(
    store: &Store,
    generator: &mut Generator<'_>,
    orgs: &[Id],
    keks: &KekRing,
    args: &SeedArgs,
    now: DateTime<Utc>,
    started: Instant,
) -> anyhow::Result<usize> {
    let mut rows = 0usize;
    let mut done = 0u64;
    let mut writing: Option<tokio::task::JoinHandle<Result<(), StoreError>>> = None;
    while done < args.accounts {
        let n = CHUNK.min(args.accounts - done);
        let chunk = generator.chunk(orgs, done, n);
        if let Some(previous) = writing.take() {
            previous.await??;
            let secs = started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "seeded {done}/{} accounts, {rows} rows, {:.0} rows/s",
                args.accounts,
                rows as f64 / secs
            );
        }
        rows += bulk::rows(&chunk);
        done += n;
        let (store, keks) = (store.clone(), keks.clone());
        writing = Some(tokio::task::spawn_blocking(move || {
            store.run_blocking(|conn| bulk::insert(conn, &keks, &chunk, now))
        }));
    }
    if let Some(last) = writing {
        last.await??;
    }
    Ok(rows)
}

/// Makes the rows; all randomness comes from one seeded generator (the
/// codes and ids excepted, which are always fresh).
struct Generator<'a> {
    rng: StdRng,
    pepper: &'a CodePepper,
    seal: &'a SealKey,
    now: DateTime<Utc>,
    weeks: u32,
    programs: Vec<(String, Vec<String>)>,
    phq9: Option<&'a Questionnaire>,
    gad7: Option<&'a Questionnaire>,
}

impl<'a> Generator<'a> {
    fn new(
        catalog: &'a Catalog,
        pepper: &'a CodePepper,
        seal: &'a SealKey,
        now: DateTime<Utc>,
        args: SeedArgs,
    ) -> Self {
        Self {
            rng: StdRng::seed_from_u64(args.rng_seed),
            pepper,
            seal,
            now,
            weeks: args.weeks,
            programs: catalog
                .programs()
                .map(|p| {
                    (
                        p.slug.to_string(),
                        p.steps().map(|(_, s)| s.id.to_string()).collect(),
                    )
                })
                .collect(),
            phq9: catalog.questionnaire("phq9"),
            gad7: catalog.questionnaire("gad7"),
        }
    }

    /// Accounts `first..first + n` (numbered across the whole run, so
    /// batches and organisations continue from chunk to chunk).
    fn chunk(&mut self, orgs: &[Id], first: u64, n: u64) -> Chunk {
        let mut chunk = Chunk::default();
        let org_count = orgs.len() as u64;
        // Each organisation's open batch in this chunk (index in
        // `chunk.batches`): accounts go to their own organisation's batch.
        let mut open: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
        for i in first..first + n {
            let org_index = usize::try_from(i % org_count).unwrap_or(0);
            let org = &orgs[org_index];
            let nth_in_org = i / org_count;
            if nth_in_org.is_multiple_of(BATCH) || !open.contains_key(&org_index) {
                let (slug, _) = &self.programs[self.rng.gen_range(0..self.programs.len())];
                chunk.batches.push(Batch {
                    id: Id::generate().to_string(),
                    org_id: org.to_string(),
                    program_slug: slug.clone(),
                    created_at: self.now - Duration::days(i64::from(self.weeks) * 7),
                    items: Vec::new(),
                });
                open.insert(org_index, chunk.batches.len() - 1);
            }
            let batch = open[&org_index];
            self.account(&mut chunk, org, batch);
        }
        // Batches that ended up with no items (deleted codes only) are
        // dropped rather than written empty.
        chunk.batches.retain(|b| !b.items.is_empty());
        chunk
    }

    fn account(&mut self, chunk: &mut Chunk, org: &Id, batch: usize) {
        let span = i64::from(self.weeks) * 7 * 24 * 60;
        let created = self.now - Duration::minutes(self.rng.gen_range(60..span.max(61)));
        if self.rng.gen_bool(0.02) {
            // The user deleted everything: only the record is left.
            let at = created + (self.now - created) / 2;
            chunk.deletions.push((org.to_string(), at));
            return;
        }
        let code = AccessCode::generate_with(&mut self.rng);
        let hash = self.pepper.hash(&code).as_str().to_owned();
        let pseudonym = self.seal.seal(
            mestring_dashboard::codes::PSEUDONYM_PURPOSE,
            org.as_str(),
            code.reveal().as_bytes(),
        );
        let (slug, steps) = self.programs[self.rng.gen_range(0..self.programs.len())].clone();
        let id = Id::generate().to_string();
        let used = self.rng.gen_bool(0.8);
        let active_until = if used {
            created + (self.now - created) * self.rng.gen_range(10..=100) / 100
        } else {
            created
        };
        chunk.batches[batch].items.push((id.clone(), hash.clone()));
        chunk.accounts.push(Account {
            id: id.clone(),
            code_hash: hash,
            org_id: Some(org.to_string()),
            program_slug: Some(slug.clone()),
            created_at: created,
            last_login_at: used.then_some(active_until),
            pseudonym: Some(pseudonym),
        });
        if !used {
            return;
        }
        let first_login = created + Duration::minutes(self.rng.gen_range(5..60 * 24 * 7));
        let first_login = first_login.min(active_until);
        if self.rng.gen_bool(0.6) {
            chunk.consents.push(Consent {
                account_id: id.clone(),
                kind: "given",
                at: first_login,
            });
            // A withdrawal needs a later login than the consent: two events
            // at one instant would leave their order to the database (the
            // domain keeps same-instant events in the order given).
            if self.rng.gen_bool(0.1) && active_until - first_login >= Duration::seconds(2) {
                chunk.consents.push(Consent {
                    account_id: id.clone(),
                    kind: "withdrawn",
                    at: first_login + (active_until - first_login) / 2,
                });
            }
        } else {
            chunk.consents.push(Consent {
                account_id: id.clone(),
                kind: "declined",
                at: first_login,
            });
        }
        let responses_before = chunk.responses.len();
        let registrations_before = chunk.registrations.len();
        let progress_before = chunk.progress.len();
        self.measurements(chunk, &id, first_login, active_until);
        // Steps: about two a week while active, in program order.
        let active_days = (active_until - first_login).num_days().max(0);
        let done_steps = usize::try_from(active_days * 2 / 7 + 1)
            .unwrap_or(usize::MAX)
            .min(steps.len());
        for (k, step) in steps.iter().take(done_steps).enumerate() {
            let at = first_login + Duration::days(i64::try_from(k).unwrap_or(0) * 7 / 2);
            chunk.progress.push(Progress {
                account_id: id.clone(),
                program_slug: slug.clone(),
                step_id: step.clone(),
                seen_at: at.min(active_until),
                completed_at: Some(at.min(active_until)),
            });
        }
        // Daily check-ins on some of the active days.
        let checkins = self.rng.gen_range(0..=active_days.min(60) / 3 + 1);
        for _ in 0..checkins {
            let at = first_login + Duration::minutes(self.rng.gen_range(0..=active_days * 24 * 60));
            let mood: i64 = self.rng.gen_range(0..=10);
            let worry: i64 = self.rng.gen_range(0..=10);
            let sleep = ["good", "ok", "poor", "very-poor"][self.rng.gen_range(0..4)];
            let activity = ["none", "little", "some", "much"][self.rng.gen_range(0..4)];
            chunk.registrations.push(Registration {
                id: Id::generate().to_string(),
                account_id: id.clone(),
                registration_id: "daily-checkin",
                created_at: at,
                values: vec![
                    ("mood", "scale", String::new(), Some(mood)),
                    ("worry", "scale", String::new(), Some(worry)),
                    ("sleep", "choice", sleep.to_owned(), None),
                    ("activity", "choice", activity.to_owned(), None),
                ],
            });
        }
        // A day of use for every day something was done, and the first
        // and last logins (what group data counts as started and active).
        let mut days = std::collections::BTreeMap::new();
        let times = [first_login, active_until]
            .into_iter()
            .chain(
                chunk.responses[responses_before..]
                    .iter()
                    .map(|r| r.completed_at),
            )
            .chain(
                chunk.registrations[registrations_before..]
                    .iter()
                    .map(|r| r.created_at),
            )
            .chain(
                chunk.progress[progress_before..]
                    .iter()
                    .filter_map(|p| p.completed_at),
            );
        for at in times {
            let day = mestring_web::fmt::oslo_date(at)
                .format("%Y-%m-%d")
                .to_string();
            let last = days.entry(day).or_insert(at);
            *last = (*last).max(at);
        }
        for (day, last_seen_at) in days {
            chunk.activity.push(ActivityDay {
                account_id: id.clone(),
                day,
                minutes: 5 * self.rng.gen_range(1..=12),
                last_seen_at,
            });
        }
    }

    /// PHQ-9 and GAD-7 every 14 days from `from` while the user keeps
    /// going (probability 0.8 per next measurement) and before `until`.
    fn measurements(
        &mut self,
        chunk: &mut Chunk,
        account: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        let (Some(phq9), Some(gad7)) = (self.phq9, self.gad7) else {
            return;
        };
        let mut phq: f64 = self.rng.gen_range(4.0..25.0);
        let mut gad: f64 = self.rng.gen_range(3.0..20.0);
        let mut at = from;
        while at <= until {
            for (q, level, max) in [(phq9, phq, 27.0), (gad7, gad, 21.0)] {
                // Truncation is the point: totals are whole numbers.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let total = level.round().clamp(0.0, max) as u32;
                chunk.responses.push(self.response(q, account, total, at));
            }
            phq += self.rng.gen_range(-4.0..2.5);
            gad += self.rng.gen_range(-3.0..2.0);
            at += Duration::days(MEASURE_EVERY_DAYS);
            if !self.rng.gen_bool(0.8) {
                break;
            }
        }
    }

    /// One response whose scored items add up to `total`.
    fn response(
        &mut self,
        q: &Questionnaire,
        account: &str,
        total: u32,
        at: DateTime<Utc>,
    ) -> Response {
        let scored: Vec<String> = q
            .items
            .iter()
            .filter(|i| i.scored)
            .map(|i| i.id.to_string())
            .collect();
        let mut values = vec![0i64; scored.len()];
        let mut left = total;
        while left > 0 {
            let k = self.rng.gen_range(0..values.len());
            if values[k] < 3 {
                values[k] += 1;
                left -= 1;
            }
        }
        let flags: Vec<&str> = q
            .flags
            .iter()
            .filter(|f| {
                scored
                    .iter()
                    .position(|s| s == f.item.as_str())
                    .is_some_and(|k| values[k] >= i64::from(f.min_weight))
            })
            .map(|f| f.id.as_str())
            .collect();
        let band = q
            .bands
            .iter()
            .find(|b| b.contains(total))
            .map_or_else(String::new, |b| b.id.to_string());
        Response {
            id: Id::generate().to_string(),
            account_id: account.to_owned(),
            questionnaire_id: if q.id.as_str() == "phq9" {
                "phq9"
            } else {
                "gad7"
            },
            total: i64::from(total),
            band_id: band,
            flags: flags.join(" "),
            completed_at: at,
            answers: scored.into_iter().zip(values).collect(),
        }
    }
}
