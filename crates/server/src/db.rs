//! Opening the database and the data directory: the one place the server
//! and the command line get a [`Store`] from.

use anyhow::Context;
use mestring_store::Store;

use crate::config::Config;

/// Creates the data directory (key files, outbox, the SQLite file) as
/// 0700 if it does not exist yet.
pub fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    mestring_store::create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "failed to create the data directory {}",
            config.data_dir.display()
        )
    })
}

/// Database connections the server's pool may hold.
const SERVER_POOL_SIZE: u32 = 8;

/// Connects the server's pool and migrates; finishes a restore that did
/// not finish (see `crate::backup`) or refuses to go on.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_sized(config, SERVER_POOL_SIZE).await
}

/// Connects a one-connection store for a CLI command and migrates (and
/// finishes a pending restore, as [`open_store`]). The command drops it
/// before `main` returns (see [`Store::connect`]).
pub async fn open_cli_store(config: &Config) -> anyhow::Result<Store> {
    open_store_sized(config, 1).await
}

async fn open_store_sized(config: &Config, pool_size: u32) -> anyhow::Result<Store> {
    let store = open_prepared(config, pool_size).await?;
    finish_pending_restore(&store, config).await?;
    Ok(store)
}

/// For `mestring restore`, which finishes its own restore: the store
/// opened like [`open_cli_store`], without finishing a pending restore.
pub(crate) async fn open_store_unfinished(config: &Config) -> anyhow::Result<Store> {
    open_prepared(config, 1).await
}

/// A `mestring restore` that put its database in place and then stopped
/// (an error, a killed process) left the database holding accounts their
/// users deleted. Nothing may use it before the deletion ledger is
/// re-applied: this finishes the restore (every step is idempotent) or
/// fails, so the server does not start and the command does not run.
async fn finish_pending_restore(store: &Store, config: &Config) -> anyhow::Result<()> {
    if !crate::restore_pending::restore_pending(&config.data_dir)? {
        return Ok(());
    }
    tracing::warn!(
        "an earlier `mestring restore` did not finish; finishing it (re-applying the deletion \
         ledger) before the database is used"
    );
    let now = crate::clock::from_env().now();
    let finished = crate::restore_pending::finish_restore(store, &config.data_dir, now)
        .await
        .with_context(|| {
            format!(
                "an earlier `mestring restore` did not finish ({} is in the data directory) and \
                 finishing it failed; until it does, the database may hold accounts whose users \
                 deleted them, so nothing may use it. Fix the cause (after this message), then \
                 run `mestring restore` with the same backup directory again, or start the \
                 server, which retries (docs/deletion.md)",
                crate::restore_pending::RESTORE_PENDING_FILE
            )
        })?;
    tracing::info!(
        deletions_reapplied = finished.reapplied,
        data_keys_rewrapped = finished.rewrapped,
        "the earlier restore is finished"
    );
    Ok(())
}

/// Connects, migrates, checks the key files and runs the one-off data
/// steps.
async fn open_prepared(config: &Config, pool_size: u32) -> anyhow::Result<Store> {
    let url = config.database_url.clone();
    let store = tokio::task::spawn_blocking(move || Store::connect(&url, pool_size))
        .await
        .context("store task failed")?
        .context("failed to open the database")?;
    let migrator = store.clone();
    let applied = tokio::task::spawn_blocking(move || migrator.migrate())
        .await
        .context("migration task failed")?
        .context("failed to migrate the database")?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    // Before anything reads a key file: create them on a fresh database,
    // refuse files that are not this database's. (The fingerprints' own
    // timestamps are the wall clock's; nothing decides on them.)
    crate::keys::provision(&store, &config.data_dir, chrono::Utc::now()).await?;
    // One-off data steps after migrations (each a cheap "done" read once
    // it has run).
    let filled = store
        .run(|conn| mestring_store::consent::backfill_windows(conn, chrono::Utc::now()))
        .await?;
    if filled > 0 {
        tracing::info!(
            accounts = filled,
            "sharing windows filled from consent histories"
        );
    }
    Ok(store)
}
