//! `authgate dev` (policy §7), run as a user would: start it on free loopback ports, take the printed token, and
//! check the allow, the deny without a token, the role that is not allowed and the role switch; run the printed
//! curl lines with curl and check each against what its comment says; and check that a non-loopback listener is
//! refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::http::{send_tolerant, with_headers};
use common::raw::http_get_status;
use common::service::bin;
use common::{free_port, temp_dir};

/// A running `authgate dev`; killed when dropped.
struct DevProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr_path: PathBuf,
}

impl DevProcess {
    fn start(listen: &str, admin: &str) -> DevProcess {
        let stderr_path = temp_dir("dev").join("dev.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(bin())
            .args(["dev", "--listen", listen, "--admin-listen", admin])
            .args(["--grpc-listen", &format!("127.0.0.1:{}", free_port())])
            .env_remove("AUTHGATE_LISTEN")
            .env_remove("AUTHGATE_ADMIN_LISTEN")
            .env_remove("AUTHGATE_GRPC_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn authgate dev");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        DevProcess {
            child,
            lines,
            stderr_path,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Read stdout lines until one satisfies `done`, at most until `deadline`.
    fn read_until(
        &self,
        deadline: Instant,
        out: &mut Vec<String>,
        done: impl Fn(&str) -> bool,
    ) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = done(&l);
                    out.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Lines printed within `quiet` of each other (the rest of the banner).
    fn drain(&self, quiet: Duration, deadline: Instant, out: &mut Vec<String>) {
        while Instant::now() < deadline {
            match self.lines.recv_timeout(quiet) {
                Ok(l) => out.push(l),
                Err(_) => return,
            }
        }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The first three-digit HTTP status named in a comment line (`# denied: 401, no token`).
fn status_in_comment(line: &str) -> Option<u16> {
    line.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 3)
        .and_then(|w| w.parse().ok())
        .filter(|s| (200..600).contains(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_prints_a_working_token_and_curl_lines() {
    let (data, admin) = (free_port(), free_port());
    let dev = DevProcess::start(&format!("127.0.0.1:{data}"), &format!("127.0.0.1:{admin}"));
    let base = format!("http://127.0.0.1:{data}");

    let mut printed = Vec::new();
    let found = dev.read_until(
        Instant::now() + Duration::from_secs(20),
        &mut printed,
        |l| l.starts_with("export TOKEN="),
    );
    assert!(
        found,
        "no `export TOKEN=` line; stdout:\n{}\nstderr:\n{}",
        printed.join("\n"),
        dev.stderr()
    );
    let token = printed
        .last()
        .and_then(|l| l.strip_prefix("export TOKEN="))
        .expect("token line")
        .trim()
        .to_owned();
    assert_eq!(
        token.split('.').count(),
        3,
        "the printed token is a JWT: {token}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("development")),
        "dev must say loudly that it is for development; stdout:\n{}",
        printed.join("\n")
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = false;
    while Instant::now() < deadline {
        if http_get_status(&format!("http://127.0.0.1:{admin}/readyz")) == Some(200) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready, "/readyz never 200; stderr:\n{}", dev.stderr());
    dev.drain(
        Duration::from_millis(300),
        Instant::now() + Duration::from_secs(3),
        &mut printed,
    );

    let client = common::http::client();
    let url = format!("{base}/");
    // The body is judged below where it matters; one that cannot be read is taken as empty.
    let get = |headers: &[(&str, &str)]| send_tolerant(with_headers(client.get(&url), headers));
    let bearer = format!("Bearer {token}");

    // Allowed: the token's default role and user id.
    let a = get(&[("authorization", &bearer)]).await;
    assert_eq!(a.status, 200, "allow: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("user"));
    assert_eq!(a.header("x-hasura-user-id"), Some("user_2dev"));

    // No token: 401 with a bare Bearer challenge.
    let a = get(&[]).await;
    assert_eq!(a.status, 401, "no token: {}", a.body);
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert!(a.header("x-hasura-role").is_none());
    let body: serde_json::Value = serde_json::from_str(&a.body).expect("JSON error body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "missing_token");

    // A role the token does not allow: 403.
    let a = get(&[("authorization", &bearer), ("x-hasura-role", "admin")]).await;
    assert_eq!(a.status, 403, "role admin: {}", a.body);
    assert!(a.header("x-hasura-role").is_none());

    // Role switch to another allowed role: 200 as editor.
    let a = get(&[("authorization", &bearer), ("x-hasura-role", "editor")]).await;
    assert_eq!(a.status, 200, "role editor: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("editor"));
    assert_eq!(a.header("x-hasura-user-id"), Some("user_2dev"));

    // The printed curl lines name this listener, and do what their comments say: each one is run as a user would
    // run it (through `sh`, with `TOKEN` exported), and its answer checked against the status and every
    // `x-hasura-*` header that its comment names.
    let mut statuses = Vec::new();
    let mut curls = 0;
    for (i, line) in printed.iter().enumerate() {
        if !line.trim_start().starts_with("curl ") {
            continue;
        }
        curls += 1;
        let comment = i
            .checked_sub(1)
            .map(|p| printed[p].as_str())
            .filter(|p| p.trim_start().starts_with('#'))
            .unwrap_or_else(|| {
                panic!("`{line}` has no comment line above it saying what it shows")
            });
        let want = status_in_comment(comment)
            .unwrap_or_else(|| panic!("the comment `{comment}` above `{line}` names no status"));
        let words = shell_words(line);
        let target = words
            .iter()
            .rev()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {line}"));
        assert!(
            target.starts_with(&format!("{base}/")),
            "curl line names {target}, not the data listener {base}: {line}"
        );
        let (status, headers, raw) = run_curl(line, &token);
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
        }
        statuses.push(status);
    }
    assert!(
        curls >= 3,
        "expected curl lines for an allow, a deny and a role switch; stdout:\n{}",
        printed.join("\n")
    );
    for want in [200, 401, 403] {
        assert!(
            statuses.contains(&want),
            "no curl line shows a {want}: {statuses:?}"
        );
    }
}

/// Run one printed curl line through `sh` with `TOKEN` set (and no proxy), as a user pasting it would. curl is a
/// tool this test needs: without it the test fails, it does not skip. Returns the status, the headers (names
/// lower-cased) and the raw answer.
fn run_curl(line: &str, token: &str) -> (u16, Vec<(String, String)>, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{line} --silent --show-error --max-time 10"))
        .env("TOKEN", token)
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
    let head = raw.split("\n\n").next().unwrap_or_default();
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
    (status, headers, raw)
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

#[test]
fn dev_refuses_a_non_loopback_listener() {
    for (listen, admin) in [
        (
            format!("0.0.0.0:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            format!("127.0.0.1:{}", free_port()),
            format!("0.0.0.0:{}", free_port()),
        ),
    ] {
        let mut dev = DevProcess::start(&listen, &admin);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = dev.child.try_wait().expect("try_wait") {
                break Some(s);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status = status.unwrap_or_else(|| {
            panic!("dev --listen {listen} --admin-listen {admin} kept running; it must refuse")
        });
        assert!(
            !status.success(),
            "dev --listen {listen} --admin-listen {admin} exited successfully"
        );
        let stderr = dev.stderr();
        assert!(
            stderr.to_ascii_lowercase().contains("loopback"),
            "the refusal must mention loopback; stderr:\n{stderr}"
        );
        let mut stdout = Vec::new();
        dev.drain(
            Duration::from_millis(100),
            Instant::now() + Duration::from_secs(1),
            &mut stdout,
        );
        assert!(
            !stdout.iter().any(|l| l.starts_with("export TOKEN=")),
            "a refused dev must not print a token"
        );
    }
}
