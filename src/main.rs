//! The `bomizzel` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = bomizzel::cli::Cli::parse();
    bomizzel::run(cli)
}
