//! The `mestring` executable itself: help, version and configuration
//! errors. (Also makes `cargo test --workspace` build the executable that
//! the end-to-end suite in `tests/it` drives as a process.)

use std::process::Command;

fn mestring() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mestring"))
}

#[test]
fn help_lists_every_command() {
    let out = mestring().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "serve", "migrate", "org", "codes", "content", "ip", "keys", "audit",
    ] {
        assert!(text.contains(cmd), "--help does not mention {cmd}");
    }
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
