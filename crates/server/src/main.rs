//! The `mestring` command: server, migrations and operator tools.

fn main() -> std::process::ExitCode {
    mestring_server::cli::main()
}
