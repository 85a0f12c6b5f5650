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
            let _flush_on_exit = init_tracing(args.common.log_format);
            run_async(authgate::cmd::serve::serve(args))
        }
        Command::Dev(args) => {
            let _flush_on_exit = init_tracing(args.common.log_format.or(Some(LogFormat::Text)));
            run_async(authgate::cmd::dev::dev(args))
        }
        Command::Check(args) => {
            let mut out = std::io::stdout().lock();
            match authgate::cmd::check::check(&args, &mut out) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("authgate: cannot write output: {e}");
                    1
                }
            }
        }
        Command::Explain(args) => authgate::cmd::explain::run(
            &args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Schema => authgate::cmd::schema::schema(
            authgate::config::schema::authconfig_schema_text(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
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

/// Log lines are written to stderr by a background thread, never by a request's worker: a slow log reader (a full
/// pipe to the container runtime) must not stall decisions. Up to 64k lines wait in memory; past that, lines are
/// dropped rather than blocking (every decision is still counted in the metrics). The returned guard flushes the
/// remaining lines when dropped at exit.
fn init_tracing(format: Option<LogFormat>) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(65_536)
        .thread_name("authgate-log")
        .finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        Some(f) => f == LogFormat::Json,
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    guard
}
