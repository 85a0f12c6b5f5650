//! The curl lines `authgate dev` prints, run as a user pasting them would (through `sh`, with the printed `export`s
//! set) and each held to the comment line above it: its status, its reason code, and the `x-hasura-*` headers it
//! names. Shared by the dev test (the data listener's lines) and the gRPC dev test (the lines sent through Envoy).

use std::process::{Command, Stdio};

/// One printed curl line after it ran.
#[derive(Debug)]
pub struct Ran {
    pub line: String,
    /// The URL it names.
    pub url: String,
    /// The shell variable whose token it sends (`APP_TOKEN`), if any.
    pub token_var: Option<String>,
    pub status: u16,
}

/// The `export NAME=VALUE` lines printed.
pub fn exports(printed: &[String]) -> Vec<(String, String)> {
    printed
        .iter()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Split a printed shell line into words, honouring double quotes (enough for the lines `dev` prints).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The first three-digit HTTP status named in a comment line (`# denied: 401 missing_token, no token`), and the
/// word right after it (the reason code a denial names).
fn status_in_comment(line: &str) -> Option<(u16, &str)> {
    let at = line
        .match_indices(|c: char| c.is_ascii_digit())
        .map(|(i, _)| i)
        .find(|&i| {
            let word = &line[i..];
            let len = word
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(word.len());
            len == 3 && (i == 0 || !line.as_bytes()[i - 1].is_ascii_alphanumeric())
        })?;
    let status: u16 = line[at..at + 3].parse().ok()?;
    let after = line[at + 3..].trim_start();
    let reason = after
        .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .next()
        .unwrap_or_default();
    (200..600).contains(&status).then_some((status, reason))
}

/// The `x-hasura-NAME: VALUE` pairs a comment line names (`# allowed: 200 with x-hasura-role: user and …`).
fn hasura_headers_in_comment(comment: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = comment;
    while let Some(at) = rest.find("x-hasura-") {
        rest = &rest[at..];
        let Some((name, after)) = rest.split_once(':') else {
            break;
        };
        let value = after
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches([',', ';', '.', ')']);
        out.push((name.to_owned(), value.to_owned()));
        rest = after;
    }
    out
}

/// Run every curl line of `printed` as printed, with `env` set and `extra` curl options appended (the gRPC test
/// points Envoy's fixed port at the one it runs on with `--connect-to`), and check each against its comment: the
/// status; on a `200` every `x-hasura-*` header the comment names; on any other status no session header and the
/// reason code the comment names, in the JSON body. Every line must name a URL under `base`.
pub fn run_printed(
    printed: &[String],
    base: &str,
    env: &[(String, String)],
    extra: &[String],
) -> Vec<Ran> {
    let mut ran = Vec::new();
    for (i, line) in printed.iter().enumerate() {
        if !line.trim_start().starts_with("curl ") {
            continue;
        }
        let comment = i
            .checked_sub(1)
            .map(|p| printed[p].as_str())
            .filter(|p| p.trim_start().starts_with('#'))
            .unwrap_or_else(|| {
                panic!("`{line}` has no comment line above it saying what it shows")
            });
        let (want, reason) = status_in_comment(comment)
            .unwrap_or_else(|| panic!("the comment `{comment}` above `{line}` names no status"));
        let words = shell_words(line);
        let url = words
            .iter()
            .rev()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {line}"))
            .clone();
        assert!(
            url.starts_with(&format!("{base}/")),
            "curl line names {url}, not {base}: {line}"
        );
        let token_var = words
            .iter()
            .find_map(|w| w.split_once('$'))
            .map(|(_, v)| v.to_owned());
        let (status, headers, body, raw) = run_curl(line, env, extra);
        assert_eq!(status, want, "`{line}` ({comment}) answered:\n{raw}");
        let session: Vec<&(String, String)> = headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-hasura-"))
            .collect();
        if status == 200 {
            for (name, value) in hasura_headers_in_comment(comment) {
                assert!(
                    session.iter().any(|(n, v)| *n == name && *v == value),
                    "`{line}`: the comment says {name}: {value}; the answer:\n{raw}"
                );
            }
        } else {
            assert!(
                session.is_empty(),
                "`{line}`: a {status} carries session headers:\n{raw}"
            );
            assert!(
                !reason.is_empty(),
                "the comment `{comment}` names no reason code after {status}"
            );
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                panic!("`{line}`: a {status} without a JSON body ({e}):\n{raw}")
            });
            assert_eq!(
                json["errors"][0]["extensions"]["code"], reason,
                "`{line}` ({comment}) answered:\n{raw}"
            );
        }
        ran.push(Ran {
            line: line.clone(),
            url,
            token_var,
            status,
        });
    }
    ran
}

/// What `dev` promises of its two configs, in the lines that ran: through each config's URL (`url_of(name)`) its
/// own issuer's token is allowed and the other issuer's refused with `401`; a URL naming no config is `503`.
pub fn assert_two_issuers(ran: &[Ran], url_of: &dyn Fn(&str) -> String, no_config: &str) {
    for (config, own, other) in [
        ("app", "APP_TOKEN", "ADMIN_TOKEN"),
        ("admin", "ADMIN_TOKEN", "APP_TOKEN"),
    ] {
        let url = url_of(config);
        let with = |var: &str, status: u16| {
            ran.iter()
                .any(|r| r.url == url && r.token_var.as_deref() == Some(var) && r.status == status)
        };
        assert!(
            with(own, 200),
            "no printed line shows {own} allowed through {url}: {ran:#?}"
        );
        assert!(
            with(other, 401),
            "no printed line shows {other} refused through {url}: {ran:#?}"
        );
    }
    assert!(
        ran.iter().any(|r| r.url == no_config && r.status == 503),
        "no printed line shows {no_config} (no config named) answered 503: {ran:#?}"
    );
}

/// Run one printed curl line through `sh` with `env` set (and no proxy), as a user pasting it would. curl is a tool
/// these tests need: without it they fail, they do not skip. Returns the status, the headers (names lower-cased),
/// the body and the raw answer.
fn run_curl(
    line: &str,
    env: &[(String, String)],
    extra: &[String],
) -> (u16, Vec<(String, String)>, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{line} --silent --show-error --max-time 10 {}",
            extra.join(" ")
        ))
        .envs(env.iter().map(|(n, v)| (n, v)))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("no_proxy", "*")
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    let raw = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "`{line}` failed ({:?}; curl is needed to run the printed lines): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("`{line}` printed no status line:\n{raw}"));
    let headers = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    (status, headers, body.to_owned(), raw)
}
