//! The `mestring` command line.
//!
//! stdout carries only what a script wants (ids, codes, revealed rows);
//! messages for people and logs go to stderr.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_store::StoreError;
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::StaffHome;

use crate::config::Config;
use crate::corrections::escape_controls;
use crate::{Application, clock, corrections, demo, iplayer, keys, seed, telemetry};

use mestring_domain::policy::code::MAX_PER_CLI_ISSUE as MAX_CODES_PER_ISSUE;

#[derive(Debug, Parser)]
#[command(
    name = "mestring",
    version,
    about = "Mestring: pseudonymous self-help therapy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server.
    Serve {
        /// Seed a demo organisation and print a code to log in with.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Channels (e.g. direct, helsenorge): every organisation is in one.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Staff accounts (clinicians, superusers, tool managers).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Access codes.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
    /// Programs and questionnaires in the content directory.
    Content {
        #[command(subcommand)]
        command: ContentCommand,
    },
    /// The sealed security log and IP blocks (break-glass, audited).
    Ip {
        #[command(subcommand)]
        command: iplayer::IpCommand,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: iplayer::KeysCommand,
    },
    /// The operator audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Feedback sent by users ("Foreslå endringer", "Evalueringsskjema").
    Feedback {
        #[command(subcommand)]
        command: corrections::FeedbackCommand,
    },
    /// Corrections the operator makes on a user's request (audited).
    Corrections {
        #[command(subcommand)]
        command: corrections::CorrectionsCommand,
    },
    /// Private purchases through Stripe (docs/payments.md).
    Purchases {
        #[command(subcommand)]
        command: crate::purchases::PurchasesCommand,
    },
    /// Write a consistent copy of the database and the key files to a new
    /// directory (docs/deletion.md, "Backups").
    Backup {
        /// The directory to create (must not exist or be empty).
        dir: std::path::PathBuf,
    },
    /// Restore a backup into a new, empty database; deletions made since
    /// the backup are applied again from the deletion ledger.
    Restore {
        /// A directory written by `mestring backup`.
        dir: std::path::PathBuf,
    },
    /// Fill the database with synthetic organisations and accounts (for
    /// load tests and benchmarks; never on a production database).
    Seed {
        /// How many accounts.
        #[arg(long)]
        accounts: u64,
        /// Spread over this many weeks back from now.
        #[arg(long, default_value_t = 26)]
        weeks: u32,
        /// How many organisations share the accounts.
        #[arg(long, default_value_t = 1)]
        orgs: u32,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 1)]
        rng_seed: u64,
        /// Put the organisations in this channel (created when missing)
        /// and print a tool manager login for it.
        #[arg(long)]
        channel: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ChannelCommand {
    /// Create a channel; prints its slug as the last line.
    Create {
        /// The slug: a-z, 0-9 and -, starting with a letter (e.g. helsenorge).
        #[arg(conflicts_with = "slug_flag")]
        slug: Option<String>,
        /// The slug, as a flag (the same as the argument).
        #[arg(long = "slug", id = "slug_flag")]
        slug_flag: Option<String>,
        /// Display name, shown to its tool managers (default: the slug).
        /// Without a slug, a name that is itself a valid slug is the slug.
        #[arg(long)]
        name: Option<String>,
    },
    /// List channels: slug, number of organisations and name,
    /// tab-separated, one per line.
    List,
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id as the last line.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The channel it belongs to (must exist).
        #[arg(long, default_value = mestring_domain::channel::DIRECT)]
        channel: String,
    },
    /// List organisations, oldest first: id, creation date (UTC) and name,
    /// tab-separated, one per line.
    List,
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Invite a staff member: e-mails the one-time link and prints it as
    /// the last line.
    Create {
        /// Organisation id (clinicians and superusers).
        #[arg(long, required_unless_present = "channel", conflicts_with = "channel")]
        org: Option<String>,
        /// Channel slug (tool managers).
        #[arg(long)]
        channel: Option<String>,
        /// E-mail address (the invitation goes there).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// `clinician` or `superuser` (with --org), `tool-manager` (with --channel).
        #[arg(long, value_parser = ["clinician", "superuser", "tool-manager"])]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum CodesCommand {
    /// Issue new access codes; prints one per line and nothing else.
    Issue {
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// How many codes.
        #[arg(long)]
        count: u32,
        /// Program slug the codes are for.
        #[arg(long)]
        program: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ContentCommand {
    /// Validate all content; exits non-zero naming each problem.
    Check,
    /// Print the shipped questionnaires as FHIR R4 `Questionnaire`
    /// resources (JSON): all of them as a collection Bundle, or one.
    Fhir {
        /// Only this questionnaire (e.g. `phq9`), as a bare resource.
        #[arg(long)]
        questionnaire: Option<String>,
        /// Language of the texts: `nb` or `en`.
        #[arg(long, default_value = "nb")]
        lang: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Show audit rows, newest first.
    List,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = actix_web::rt::System::new().block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let clock = clock::from_env();
    crate::db::prepare_data_dir(&config)?;
    match command {
        Command::Serve { demo } => serve(config, clock, demo).await,
        Command::Migrate => {
            let store = crate::db::open_cli_store(&config).await?;
            let now = clock.now();
            let keks = keys::keks(&config.data_dir, now)?;
            let sealed = keys::seal_legacy(&store, &keks, now).await?;
            if sealed > 0 {
                eprintln!("sealed {sealed} values an older version stored in clear");
            }
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Channel { command } => channel_command(command, &config, clock).await,
        Command::Org {
            command: OrgCommand::Create { name, channel },
        } => {
            let name = name.trim().to_owned();
            anyhow::ensure!(
                !name.is_empty() && name.chars().count() <= 200,
                "--name must be 1 to 200 characters"
            );
            let channel =
                ChannelSlug::parse(&channel).map_err(|e| anyhow::anyhow!("--channel: {e}"))?;
            let store = crate::db::open_cli_store(&config).await?;
            let now = clock.now();
            let id = store
                .run(move |conn| {
                    if ChannelRow::find(conn, &channel)?.is_none() {
                        return Ok(None);
                    }
                    OrganisationRow::insert_in(conn, &name, &channel, now).map(Some)
                })
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no such channel; create it first with `mestring channel create`"
                    )
                })?;
            println!("{id}");
            Ok(())
        }
        Command::Org {
            command: OrgCommand::List,
        } => {
            let store = crate::db::open_cli_store(&config).await?;
            let rows = store.run(OrganisationRow::list_all).await?;
            let mut out = std::io::stdout().lock();
            for org in &rows {
                let name = escape_controls(&org.name);
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    org.id,
                    org.created_at.format("%Y-%m-%d"),
                    name
                )?;
            }
            if rows.is_empty() {
                eprintln!("no organisations");
            }
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Create {
                    org,
                    channel,
                    email,
                    name,
                    role,
                },
        } => {
            let home = match (org, channel) {
                (Some(org), None) => StaffHome::Organisation(
                    Id::parse(&org)
                        .map_err(|_| anyhow::anyhow!("--org is not a valid organisation id"))?,
                ),
                (None, Some(ch)) => StaffHome::Channel(
                    ChannelSlug::parse(&ch).map_err(|e| anyhow::anyhow!("--channel: {e}"))?,
                ),
                _ => anyhow::bail!("give either --org or --channel"),
            };
            staff_create(&config, clock, &home, &email, &name, &role).await
        }
        Command::Codes {
            command:
                CodesCommand::Issue {
                    org,
                    count,
                    program,
                },
        } => {
            anyhow::ensure!(
                (1..=MAX_CODES_PER_ISSUE).contains(&count),
                "--count must be between 1 and {MAX_CODES_PER_ISSUE}"
            );
            let org = Id::parse(&org)
                .map_err(|_| anyhow::anyhow!("--org is not a valid organisation id"))?;
            if let Some(slug) = &program {
                let catalog = config.load_content()?;
                anyhow::ensure!(
                    catalog.program(slug).is_some(),
                    "no program with slug {slug:?}"
                );
            }
            let store = crate::db::open_cli_store(&config).await?;
            let check_org = org.clone();
            store
                .run(move |conn| OrganisationRow::find(conn, &check_org))
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => anyhow::anyhow!("no organisation with that id"),
                    other => other.into(),
                })?;
            let pepper = keys::pepper(&config.data_dir)?;
            let seal = keys::seal_key(&config.data_dir)?;
            // Only the codes' HMACs are stored, plus each code sealed as the
            // organisation's pseudonym (see `mestring_dashboard::codes`).
            let (_batch, codes) = mestring_dashboard::codes::issue(
                &store,
                &pepper,
                Some(&seal),
                Some(&org),
                None,
                program.as_deref(),
                count,
                clock.now(),
            )
            .await?;
            let mut out = std::io::stdout().lock();
            for code in codes {
                writeln!(out, "{}", code.reveal())?;
            }
            Ok(())
        }
        Command::Content {
            command: ContentCommand::Check,
        } => match config.load_content() {
            Ok(catalog) => {
                eprintln!("content OK: {} program(s)", catalog.programs().count());
                Ok(())
            }
            Err(e) => anyhow::bail!("content check failed: {e:#}"),
        },
        Command::Content {
            command:
                ContentCommand::Fhir {
                    questionnaire,
                    lang,
                },
        } => content_fhir(&config, clock, questionnaire.as_deref(), &lang),
        Command::Ip { command } => iplayer::run_ip_command(command, &config, clock).await,
        Command::Keys { command } => iplayer::run_keys_command(command, &config, clock).await,
        Command::Audit {
            command: AuditCommand::List,
        } => iplayer::list_audit(&config).await,
        Command::Feedback { command } => corrections::run_feedback(command, &config, clock).await,
        Command::Corrections { command } => {
            corrections::run_corrections(command, &config, clock).await
        }
        Command::Purchases { command } => crate::purchases::run(command, &config, clock).await,
        Command::Backup { dir } => crate::backup::backup(&config, clock.as_ref(), &dir).await,
        Command::Restore { dir } => crate::backup::restore(&config, clock.as_ref(), &dir).await,
        Command::Seed {
            accounts,
            weeks,
            orgs,
            rng_seed,
            channel,
        } => {
            let channel = channel
                .map(|c| ChannelSlug::parse(&c))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--channel: {e}"))?;
            seed::run(
                &config,
                clock,
                seed::SeedArgs {
                    channel,
                    accounts,
                    weeks,
                    orgs,
                    rng_seed,
                },
            )
            .await
        }
    }
}

/// `mestring content fhir`: the questionnaires as FHIR, on stdout.
fn content_fhir(
    config: &Config,
    clock: std::sync::Arc<dyn mestring_domain::clock::Clock>,
    only: Option<&str>,
    lang: &str,
) -> anyhow::Result<()> {
    use mestring_domain::content::Lang;
    use mestring_domain::fhir;
    let lang = Lang::parse(lang)
        .filter(|l| Lang::ALL.contains(l))
        .ok_or_else(|| anyhow::anyhow!("--lang must be one of the offered languages"))?;
    let catalog = config.load_content()?;
    let json = match only {
        Some(id) => {
            let q = catalog
                .questionnaire(id)
                .ok_or_else(|| anyhow::anyhow!("no questionnaire with id {id:?}"))?;
            serde_json::to_string_pretty(&fhir::questionnaire(q, &config.base_url, lang))?
        }
        None => serde_json::to_string_pretty(&fhir::questionnaire_bundle(
            catalog.questionnaires(),
            &config.base_url,
            lang,
            clock.now(),
            || fhir::urn_uuid(rand::random()),
        ))?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}")?;
    Ok(())
}

async fn staff_create(
    config: &Config,
    clock: std::sync::Arc<dyn mestring_domain::clock::Clock>,
    home: &StaffHome,
    email: &str,
    name: &str,
    role: &str,
) -> anyhow::Result<()> {
    let role = mestring_store::staff::StaffRole::parse(role)
        .ok_or_else(|| anyhow::anyhow!("--role must be clinician, superuser or tool-manager"))?;
    let store = crate::db::open_cli_store(config).await?;
    let mail = std::sync::Arc::new(
        mestring_mail::Mailer::new(config.smtp_url.as_deref(), config.data_dir.join("outbox"))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let invitation = mestring_dashboard::invite::invite(
        &store,
        &mail,
        &config.base_url,
        home,
        email,
        name,
        role,
        clock.now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if invitation.mailed {
        eprintln!("invitation e-mailed");
    } else {
        eprintln!("warning: the invitation e-mail could not be sent; give the link by hand");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", invitation.staff_id)?;
    writeln!(out, "{}", invitation.link)?;
    out.flush()?;
    Ok(())
}

async fn channel_command(
    command: ChannelCommand,
    config: &Config,
    clock: std::sync::Arc<dyn mestring_domain::clock::Clock>,
) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    match command {
        ChannelCommand::Create {
            slug,
            slug_flag,
            name,
        } => {
            let slug = slug.or(slug_flag).or_else(|| name.clone()).ok_or_else(|| {
                anyhow::anyhow!(
                    "give the channel's slug, e.g. `mestring channel create helsenorge`"
                )
            })?;
            let slug = ChannelSlug::parse(&slug).map_err(|e| anyhow::anyhow!("{e}"))?;
            let name = name.map_or_else(|| slug.to_string(), |n| n.trim().to_owned());
            anyhow::ensure!(
                !name.is_empty()
                    && name.chars().count() <= 200
                    && !name.chars().any(char::is_control),
                "--name must be 1 to 200 characters"
            );
            let now = clock.now();
            let insert_slug = slug.clone();
            let created = store
                .run(move |conn| {
                    if ChannelRow::find(conn, &insert_slug)?.is_some() {
                        return Ok(false);
                    }
                    ChannelRow::insert(conn, &insert_slug, &name, now).map(|()| true)
                })
                .await?;
            anyhow::ensure!(created, "a channel with that slug exists");
            println!("{slug}");
        }
        ChannelCommand::List => {
            let rows = store.run(ChannelRow::list_all).await?;
            let mut out = std::io::stdout().lock();
            for (ch, orgs) in &rows {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    ch.slug(),
                    orgs,
                    escape_controls(&ch.name)
                )?;
            }
        }
    }
    Ok(())
}

async fn serve(
    config: Config,
    clock: std::sync::Arc<dyn mestring_domain::clock::Clock>,
    demo: bool,
) -> anyhow::Result<()> {
    let base_url = config.base_url.clone();
    let app = Application::build(config, clock).await?;
    if demo {
        let codes = demo::seed(app.state()).await?;
        let mut out = std::io::stdout().lock();
        for code in &codes {
            writeln!(out, "demo code: {}", code.reveal())?;
        }
        writeln!(out, "Log in at {base_url}/login")?;
        if let Some(staff) = demo::seed_staff(app.state()).await? {
            writeln!(out, "demo staff email: {}", staff.email)?;
            writeln!(out, "demo staff password: {}", staff.password)?;
            writeln!(out, "demo staff totp secret: {}", staff.totp_secret)?;
            writeln!(out, "Staff log in at {base_url}/staff/login")?;
        }
        out.flush()?;
    }
    tracing::info!(port = app.port(), "listening");
    app.serve_until_signal().await
}
