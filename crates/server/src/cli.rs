//! The `mestring` command line.
//!
//! stdout carries only what a script wants (ids, codes, revealed rows);
//! messages for people and logs go to stderr.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use mestring_domain::access_code::{AccessCode, CodePepper};
use mestring_domain::id::Id;
use mestring_store::accounts::{AccountRow, NewAccount};
use mestring_store::organisations::OrganisationRow;
use mestring_store::{Store, StoreError};

use crate::config::Config;
use crate::{Application, clock, demo, iplayer, keys, telemetry};

/// Largest batch `codes issue` accepts in one call.
pub const MAX_CODES_PER_ISSUE: u32 = 10_000;

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
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
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
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id as the last line.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
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
    match command {
        Command::Serve { demo } => serve(config, clock, demo).await,
        Command::Migrate => {
            crate::app::open_store(&config).await?;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Org {
            command: OrgCommand::Create { name },
        } => {
            let name = name.trim().to_owned();
            anyhow::ensure!(
                !name.is_empty() && name.chars().count() <= 200,
                "--name must be 1 to 200 characters"
            );
            let store = crate::app::open_store(&config).await?;
            let now = clock.now();
            let id = store
                .run(move |conn| OrganisationRow::insert(conn, &name, now))
                .await?;
            println!("{id}");
            Ok(())
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
                let catalog = mestring_content::load(&config.content_dir)
                    .map_err(|e| anyhow::anyhow!("content is invalid: {e}"))?;
                anyhow::ensure!(
                    catalog.program(slug).is_some(),
                    "no program with slug {slug:?}"
                );
            }
            let store = crate::app::open_store(&config).await?;
            let check_org = org.clone();
            store
                .run(move |conn| OrganisationRow::find(conn, &check_org))
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => anyhow::anyhow!("no organisation with that id"),
                    other => other.into(),
                })?;
            let pepper = keys::pepper(&config.data_dir)?;
            let codes = issue_codes(
                &store,
                &pepper,
                Some(&org),
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
        } => match mestring_content::load(&config.content_dir) {
            Ok(catalog) => {
                eprintln!("content OK: {} program(s)", catalog.programs().count());
                Ok(())
            }
            Err(e) => anyhow::bail!("content check failed:\n{e}"),
        },
        Command::Ip { command } => iplayer::run_ip_command(command, &config, clock).await,
        Command::Keys { command } => iplayer::run_keys_command(command, &config, clock).await,
        Command::Audit {
            command: AuditCommand::List,
        } => iplayer::list_audit(&config).await,
    }
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
        out.flush()?;
    }
    tracing::info!(port = app.port(), "listening");
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            handle.stop(true).await;
        }
    });
    app.run_until_stopped().await?;
    Ok(())
}

/// Issues `count` codes in one transaction and returns them; only their
/// HMACs are stored.
pub async fn issue_codes(
    store: &Store,
    pepper: &CodePepper,
    org: Option<&Id>,
    program: Option<&str>,
    count: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<AccessCode>> {
    let pepper = pepper.clone();
    let org = org.cloned();
    let program = program.map(str::to_owned);
    let codes = store
        .transaction(move |conn| {
            let mut codes = Vec::with_capacity(count as usize);
            while codes.len() < count as usize {
                let code = AccessCode::generate();
                let hash = pepper.hash(&code);
                // A collision of 75-bit codes is practically impossible;
                // if the unique index ever refuses one, draw another.
                if AccountRow::find_by_code_hash(conn, &hash)?.is_some() {
                    continue;
                }
                AccountRow::insert(
                    conn,
                    &NewAccount {
                        code_hash: &hash,
                        org_id: org.as_ref(),
                        program_slug: program.as_deref(),
                    },
                    now,
                )?;
                codes.push(code);
            }
            Ok(codes)
        })
        .await?;
    Ok(codes)
}
