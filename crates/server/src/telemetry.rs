//! Log setup. Log lines go to stderr; stdout is kept for command output
//! (codes, ids) so scripts can read it.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

/// Installs the global subscriber once; later calls are no-ops.
///
/// actix-server's start-up lines print the bound address; they are capped
/// at `warn` so the log never holds an IP address, whatever `MESTRING_LOG`
/// says.
pub fn init() {
    let filter = EnvFilter::try_from_env("MESTRING_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match "actix_server=warn".parse::<Directive>() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for people at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
