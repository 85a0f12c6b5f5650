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
            match init_tracing(args.common.log_format, args.otlp_endpoint.as_deref()) {
                Ok(_flush_on_exit) => run_async(authgate::cmd::serve::serve(args)),
                Err(e) => {
                    eprintln!("authgate: {e}");
                    2
                }
            }
        }
        Command::Dev(args) => {
            match init_tracing(args.common.log_format.or(Some(LogFormat::Text)), None) {
                Ok(_flush_on_exit) => run_async(authgate::cmd::dev::dev(args)),
                Err(e) => {
                    eprintln!("authgate: {e}");
                    2
                }
            }
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

/// The log (and, when an OTLP endpoint is configured, the trace exporter); the returned guard flushes both at exit.
/// Unreadable tracing settings end the process before it serves anything.
fn init_tracing(
    format: Option<LogFormat>,
    otlp_endpoint: Option<&str>,
) -> Result<authgate::telemetry::Flush, String> {
    let otel = authgate::telemetry::from_env(otlp_endpoint, |k| std::env::var(k).ok())?;
    authgate::telemetry::init(format.map(|f| f == LogFormat::Json), otel.as_ref())
}
