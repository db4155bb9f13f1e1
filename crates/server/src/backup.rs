//! `mestring backup` and `mestring restore` (docs/deletion.md, "Backups").
//!
//! A backup is a directory: the database as one consistent copy
//! (SQLite: `VACUUM INTO`; PostgreSQL: `pg_dump --format=custom`), the
//! installation's key files (without them the copy cannot be read: the
//! data keys in it are wrapped under the key-encryption keys current when
//! it was taken), and a manifest.
//!
//! A restore goes into an empty database, puts back key files that are
//! missing, then re-applies every deletion the ledger recorded (the ledger
//! lives in the data directory, not in the database, so it knows about
//! deletions after the backup), seals anything stored in clear, and
//! rotates the key-encryption keys: the ones brought back from the backup
//! are destroyed once nothing is wrapped under them.
//!
//! Between putting the database back and re-applying the ledger, the
//! restored database holds accounts their users deleted. So a marker file
//! (`crate::restore_pending::RESTORE_PENDING_FILE`) is written to the data directory before the
//! database is touched and removed only once every step after it has
//! succeeded. While it exists, whatever opens the database (`serve` and
//! every command, `crate::db`) first finishes the restore
//! (`crate::restore_pending::finish_restore`, every step idempotent) or refuses to go on: a
//! restore that fails or is killed half-way never lets a deleted account
//! log in or be read.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use chrono::{DateTime, Utc};
use mestring_crypto::keyfile;
use mestring_domain::clock::Clock;
use mestring_store::{DatabaseUrl, Store};

use crate::config::Config;
use crate::keys;
use crate::restore_pending::{
    Finished, finish_restore, mark_pending, read_pending, restore_pending,
};

/// The manifest's first line; names the format version.
const MANIFEST_HEADER: &str = "mestring-backup 1";
const MANIFEST: &str = "manifest.txt";
const SQLITE_FILE: &str = "mestring.sqlite3";
const PG_FILE: &str = "mestring.pgdump";
const KEYS_DIR: &str = "keys";

/// The key files a backup carries, relative to the data directory.
fn key_files(data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = vec![
        PathBuf::from(keys::PEPPER_FILE),
        PathBuf::from(keys::SEAL_FILE),
        PathBuf::from(crate::iplayer::KEYRING_FILE),
        PathBuf::from(keys::LEDGER_KEY_FILE),
    ];
    let kek_dir = data_dir.join(keys::KEK_DIR);
    let mut keks: Vec<PathBuf> = fs::read_dir(&kek_dir)
        .with_context(|| format!("cannot list {}", kek_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".key"))
        .map(|n| Path::new(keys::KEK_DIR).join(n))
        .collect();
    keks.sort();
    files.extend(keks);
    Ok(files)
}

/// `mestring backup DIR`.
pub async fn backup(config: &Config, clock: &dyn Clock, dir: &Path) -> anyhow::Result<()> {
    let store = crate::db::open_cli_store(config).await?;
    let now = clock.now();
    // Make sure every key exists before copying them.
    keys::keks(&config.data_dir, now)?;
    keys::ledger(&config.data_dir)?;
    if dir.exists() {
        let used = fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some();
        anyhow::ensure!(
            !used,
            "{} is not empty; give a new directory",
            dir.display()
        );
    }
    keyfile::create_private_dir(dir)?;
    let db_file = match &config.database_url {
        DatabaseUrl::Sqlite(_) => {
            let target = dir.join(SQLITE_FILE);
            let path = target
                .to_str()
                .context("the backup directory's path is not UTF-8")?
                .to_owned();
            store
                .run(move |conn| mestring_store::backup::sqlite_copy_into(conn, &path))
                .await
                .context("the SQLite copy failed")?;
            restrict(&target)?;
            SQLITE_FILE
        }
        DatabaseUrl::Postgres(url) => {
            let target = dir.join(PG_FILE);
            run_pg_tool(
                Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg("--no-owner")
                    .arg("--file")
                    .arg(&target)
                    .arg("--dbname")
                    .arg(url),
                "pg_dump",
            )?;
            restrict(&target)?;
            PG_FILE
        }
    };
    let keys_dir = dir.join(KEYS_DIR);
    let files = key_files(&config.data_dir)?;
    for rel in &files {
        let from = config.data_dir.join(rel);
        let bytes = fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
        keyfile::create_new(&keys_dir.join(rel), &bytes)?;
    }
    let manifest = format!(
        "{MANIFEST_HEADER}\nbackend {}\ndatabase {db_file}\ntaken {}\nkeys {}\n",
        match config.database_url {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        },
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files.len()
    );
    keyfile::create_new(&dir.join(MANIFEST), manifest.as_bytes())?;
    eprintln!(
        "backup written to {} ({db_file} and {} key files); it holds keys: keep it as \
         protected as the data directory, and delete it when its retention ends",
        dir.display(),
        files.len()
    );
    Ok(())
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

fn read_manifest(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("{} is not a Mestring backup (no {MANIFEST})", dir.display()))?;
    let mut lines = text.lines();
    anyhow::ensure!(
        lines.next() == Some(MANIFEST_HEADER),
        "{} was written by another version of mestring backup",
        path.display()
    );
    Ok(lines
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// Where a backup is restored to.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// `mestring restore DIR`.
pub async fn restore(config: &Config, clock: &dyn Clock, dir: &Path) -> anyhow::Result<()> {
    let manifest = read_manifest(dir)?;
    let backend = manifest.get("backend").map(String::as_str);
    let taken = manifest
        .get("taken")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .context("the backup's manifest has no valid 'taken' line")?;
    // Keys first: refuse a backup of another installation before touching
    // the database.
    restore_keys(&dir.join(KEYS_DIR), &config.data_dir)?;

    let target = match (&config.database_url, backend) {
        (DatabaseUrl::Sqlite(path), Some("sqlite")) => Target::Sqlite(path.clone()),
        (DatabaseUrl::Postgres(url), Some("postgres")) => Target::Postgres(url.clone()),
        (_, other) => anyhow::bail!(
            "the backup is of a {} database; MESTRING_DATABASE_URL names another kind",
            other.unwrap_or("unknown")
        ),
    };
    let refusal = match &target {
        Target::Sqlite(path) => sqlite_refusal(path).await?,
        Target::Postgres(_) => postgres_refusal(&config.database_url).await?,
    };
    if let Some(refusal) = refusal {
        if restore_pending(&config.data_dir)? {
            return resume(config, clock, taken).await;
        }
        anyhow::bail!(refusal);
    }

    // From here until `finish_restore` has succeeded, the database may
    // hold accounts their users deleted: the marker makes whatever opens
    // it next finish the restore first.
    mark_pending(&config.data_dir, taken)?;
    match &target {
        Target::Sqlite(path) => restore_sqlite(dir, path)?,
        Target::Postgres(url) => restore_postgres(dir, url)?,
    }
    // Migrates a backup taken by an older version forward.
    let store = crate::db::open_store_unfinished(config).await?;
    let finished = finish_restore(&store, &config.data_dir, clock.now()).await?;
    eprintln!(
        "restored the backup taken {}",
        taken.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    report(&finished);
    Ok(())
}

/// `mestring restore DIR` again after a restore that put its database in
/// place and then stopped (failed or killed): finishes that one. Succeeds
/// only if it was the same backup; the database is never restored over.
async fn resume(config: &Config, clock: &dyn Clock, taken: DateTime<Utc>) -> anyhow::Result<()> {
    let earlier = read_pending(&config.data_dir)?;
    let store = crate::db::open_store_unfinished(config).await?;
    let finished = finish_restore(&store, &config.data_dir, clock.now()).await?;
    eprintln!("an earlier restore into this database had not finished; it is finished now");
    report(&finished);
    let holds_data = !store.run(mestring_store::backup::holds_no_data).await?;
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    anyhow::ensure!(
        holds_data && earlier == Some(taken),
        "the database holds {}, not the backup taken {}: restore only into a new or empty \
         database (stop the server, move the database away or create a new one, then restore)",
        match earlier {
            Some(t) if holds_data => format!("the backup taken {}", stamp(t)),
            _ if holds_data => "another restored backup".to_owned(),
            _ => "tables but no data".to_owned(),
        },
        stamp(taken)
    );
    eprintln!("restored the backup taken {}", stamp(taken));
    Ok(())
}

fn report(finished: &Finished) {
    eprintln!(
        "deletions re-applied from the ledger: {}",
        finished.reapplied
    );
    eprintln!(
        "data keys re-wrapped under a new key-encryption key: {}",
        finished.rewrapped
    );
}

/// Copies the backup's key files into the data directory where missing;
/// refuses when one exists with other contents (another installation's
/// backup would make every code and sealed value unreadable).
fn restore_keys(from: &Path, data_dir: &Path) -> anyhow::Result<()> {
    keyfile::create_private_dir(data_dir)?;
    let mut pending = Vec::new();
    for rel in key_files_in_backup(from)? {
        let source = fs::read(from.join(&rel))
            .with_context(|| format!("cannot read {}", from.join(&rel).display()))?;
        let target = data_dir.join(&rel);
        match fs::read(&target) {
            Ok(existing) if existing == source => {}
            // The IP key file gains keys as they rotate, so the current one
            // differs from an older copy; it stays (security-log rows in the
            // backup sealed under keys since retired no longer open, which
            // their short retention allows).
            Ok(_) if rel == Path::new(crate::iplayer::KEYRING_FILE) => {}
            Ok(_) => anyhow::bail!(
                "{} differs from the backup's copy: the backup belongs to another \
                 installation; nothing was restored",
                target.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => pending.push((target, source)),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
        }
    }
    for (target, source) in pending {
        keyfile::create_new(&target, &source)?;
    }
    Ok(())
}

fn key_files_in_backup(from: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        let name = PathBuf::from(entry.file_name());
        if entry.file_type()?.is_dir() {
            for inner in fs::read_dir(entry.path())? {
                out.push(name.join(inner?.file_name()));
            }
        } else {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Why the SQLite database at `path` cannot be restored into (it holds
/// data); `None` if it is missing or empty.
async fn sqlite_refusal(path: &Path) -> anyhow::Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let url = DatabaseUrl::Sqlite(path.to_owned());
    let empty = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let store = Store::connect(&url, 1)?;
        store.migrate()?;
        Ok(store.run_blocking(mestring_store::backup::holds_no_data)?)
    })
    .await??;
    Ok((!empty).then(|| {
        format!(
            "{} holds data; restore only into a new or empty database (stop the server, move \
             the file away, then restore)",
            path.display()
        )
    }))
}

/// Why the PostgreSQL database cannot be restored into (it has tables:
/// `pg_restore` recreates every table); `None` if it has none.
async fn postgres_refusal(parsed: &DatabaseUrl) -> anyhow::Result<Option<String>> {
    let parsed = parsed.clone();
    let tables = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let store = Store::connect(&parsed, 1)?;
        Ok(store.run_blocking(mestring_store::backup::pg_table_count)?)
    })
    .await??;
    Ok((tables != 0).then(|| {
        "the database holds tables; restore only into a new, empty database (createdb)".to_owned()
    }))
}

/// Puts the backup's SQLite file in place of the missing or empty one.
fn restore_sqlite(dir: &Path, path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match fs::remove_file(PathBuf::from(p)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("cannot remove the empty database"),
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        keyfile::create_private_dir(parent)?;
    }
    let bytes = fs::read(dir.join(SQLITE_FILE)).context("the backup has no SQLite file")?;
    anyhow::ensure!(
        keyfile::create_new(path, &bytes)?,
        "{} appeared while restoring (is a server running on it?); stop it, move the file \
         away, then restore",
        path.display()
    );
    Ok(())
}

fn restore_postgres(dir: &Path, url: &str) -> anyhow::Result<()> {
    run_pg_tool(
        Command::new("pg_restore")
            .arg("--no-owner")
            .arg("--exit-on-error")
            .arg("--single-transaction")
            .arg("--dbname")
            .arg(url)
            .arg(dir.join(PG_FILE)),
        "pg_restore",
    )
}

/// Runs a PostgreSQL client tool; its own message when it fails.
fn run_pg_tool(cmd: &mut Command, name: &str) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {name} (install the PostgreSQL client tools)"))?;
    anyhow::ensure!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
