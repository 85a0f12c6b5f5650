#![forbid(unsafe_code)]
//! The `authgate` binary: parse the command line and run the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;

use authgate::cli::{Cli, Command};

fn main() -> ExitCode {
    // kube pulls in ring and reqwest aws-lc-rs; name the process-wide provider before any TLS use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => {
            let mut out = std::io::stdout().lock();
            match authgate::cli::check(&args, &mut out) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("authgate: cannot write output: {e}");
                    1
                }
            }
        }
        Command::Schema => {
            print!("{}", authgate::config::schema::authconfig_schema_text());
            0
        }
    };
    ExitCode::from(code as u8)
}
