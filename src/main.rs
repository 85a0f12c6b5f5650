#![forbid(unsafe_code)]
//! The `authgate` binary: parse the command line and run the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;

use authgate::cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    // kube pulls in ring and reqwest aws-lc-rs; name the process-wide provider before any TLS use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => {
            init_tracing(args.common.log_format);
            run_async(authgate::serve::serve(args))
        }
        Command::Dev(args) => {
            init_tracing(args.common.log_format.or(Some(LogFormat::Text)));
            run_async(authgate::dev::dev(args))
        }
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

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> i32 {
    match actix_web::rt::System::new().block_on(fut) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("authgate: {e:#}");
            1
        }
    }
}

fn init_tracing(format: Option<LogFormat>) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        Some(f) => f == LogFormat::Json,
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
