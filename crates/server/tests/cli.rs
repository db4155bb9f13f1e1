//! The `mestring` executable itself: help and configuration errors.
//!
//! Everything else about the command line is tested in `tests/it`. This
//! file stays in the server package on purpose: an integration test of the
//! package that owns the binary is what makes `cargo test --workspace`
//! build `target/debug/mestring`, which the end-to-end suite runs.

use std::process::Command;

fn mestring() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mestring"))
}

#[test]
fn help_lists_every_command() {
    let out = mestring().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The first word of each line under "Commands:", in order.
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        [
            "serve",
            "migrate",
            "channel",
            "org",
            "staff",
            "codes",
            "content",
            "ip",
            "keys",
            "audit",
            "feedback",
            "corrections",
            "purchases",
            "backup",
            "restore",
            "seed",
            "help"
        ],
        "{text}"
    );
}

#[test]
fn a_bad_database_url_is_refused_with_the_variable_named() {
    let out = mestring()
        .arg("migrate")
        .env("MESTRING_DATABASE_URL", "mysql://nope")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MESTRING_DATABASE_URL"), "stderr: {err}");
    assert!(out.stdout.is_empty());
}
