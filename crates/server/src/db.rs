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

/// Connects the server's pool and migrates.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_sized(config, SERVER_POOL_SIZE).await
}

/// Connects a one-connection store for a CLI command and migrates. The
/// command drops it before `main` returns (see [`Store::connect`]).
pub async fn open_cli_store(config: &Config) -> anyhow::Result<Store> {
    open_store_sized(config, 1).await
}

async fn open_store_sized(config: &Config, pool_size: u32) -> anyhow::Result<Store> {
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
