//! `authgate explain`: flags → an [`Input`], one decision explained on a runtime of its own, the report printed.
//! Exit status: 0 allowed, 1 denied (401/403), 2 usage or config error or not judged (`--offline` with a webhook or
//! a JWKS URL and no file), 3 a dependency was unavailable (the `503` of `serve`).

use std::io::Write;

use crate::cli::{ExplainArgs, Format};
use crate::config::LoadOptions;
use crate::explain::input::read_token;
use crate::explain::{Input, explain, render};
use crate::gate::GateSettings;

/// The input the flags describe (the token read from its argument, standard input or file).
pub fn input(args: &ExplainArgs) -> Result<Input, crate::explain::UsageError> {
    let token = read_token(args.token.as_deref(), args.token_file.as_deref())?;
    Ok(Input {
        config: args.config.clone(),
        config_name: args.config_name.clone(),
        token,
        headers: args.headers.clone(),
        role: args.role.clone(),
        jwks: args.jwks.clone(),
        at: args.at,
        offline: args.offline,
        settings: GateSettings {
            cache_size: 0,
            ..super::decision_settings(&args.decision)
        },
        load: LoadOptions {
            insecure_jwks_http: args.decision.insecure_jwks_http,
        },
        env: Vec::new(),
    })
}

/// Run `explain`, printing to `out` (the report) and `err` (usage errors); returns the exit status.
pub fn run(args: &ExplainArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let input = match input(args) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(err, "authgate explain: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "authgate explain: cannot start a runtime: {e}");
            return 2;
        }
    };
    match rt.block_on(explain(&input)) {
        Ok(report) => {
            let text = match args.format {
                Format::Text => render::text(&report),
                Format::Json => render::json(&report) + "\n",
            };
            if out.write_all(text.as_bytes()).is_err() {
                return 2;
            }
            report.exit_code()
        }
        Err(e) => {
            let _ = writeln!(err, "authgate explain: {e}");
            2
        }
    }
}
