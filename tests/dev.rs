//! `authgate dev` (policy §7), run as a user would: start it on free loopback ports, take the printed token, and
//! check the allow, the deny without a token, the role that is not allowed and the role switch; run the printed
//! curl lines; and check that a non-loopback listener is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bin, free_port, http_get_status, temp_dir};

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
            .env_remove("AUTHGATE_LISTEN")
            .env_remove("AUTHGATE_ADMIN_LISTEN")
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

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, String)]) -> Answer {
    let mut rb = client.get(url);
    for (n, v) in headers {
        rb = rb.header(*n, v);
    }
    let resp = rb.send().await.expect("request to authgate dev");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body,
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

    let client = common::client();
    let url = format!("{base}/");
    let bearer = ("authorization", format!("Bearer {token}"));

    // Allowed: the token's default role and user id.
    let a = get(&client, &url, std::slice::from_ref(&bearer)).await;
    assert_eq!(a.status, 200, "allow: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("user"));
    assert_eq!(a.header("x-hasura-user-id"), Some("user_2dev"));

    // No token: 401 with a bare Bearer challenge.
    let a = get(&client, &url, &[]).await;
    assert_eq!(a.status, 401, "no token: {}", a.body);
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert!(a.header("x-hasura-role").is_none());
    let body: serde_json::Value = serde_json::from_str(&a.body).expect("JSON error body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "missing_token");

    // A role the token does not allow: 403.
    let a = get(
        &client,
        &url,
        &[bearer.clone(), ("x-hasura-role", "admin".to_owned())],
    )
    .await;
    assert_eq!(a.status, 403, "role admin: {}", a.body);
    assert!(a.header("x-hasura-role").is_none());

    // Role switch to another allowed role: 200 as editor.
    let a = get(
        &client,
        &url,
        &[bearer.clone(), ("x-hasura-role", "editor".to_owned())],
    )
    .await;
    assert_eq!(a.status, 200, "role editor: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("editor"));
    assert_eq!(a.header("x-hasura-user-id"), Some("user_2dev"));

    // The printed curl lines name this listener, and do what their comments say.
    let curls: Vec<(Option<u16>, &String)> = printed
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("curl "))
        .map(|(i, l)| {
            let comment = i
                .checked_sub(1)
                .map(|p| &printed[p])
                .filter(|p| p.trim_start().starts_with('#'));
            (comment.and_then(|c| status_in_comment(c)), l)
        })
        .collect();
    assert!(
        curls.len() >= 3,
        "expected curl lines for an allow, a deny and a role switch; stdout:\n{}",
        printed.join("\n")
    );
    let mut statuses = Vec::new();
    for (want, line) in &curls {
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
        let mut headers = Vec::new();
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if w == "-H" || w == "--header" {
                let h = it
                    .next()
                    .unwrap_or_else(|| panic!("-H without a value in {line}"));
                let (n, v) = h
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header {h:?} in {line}"));
                let v = v
                    .trim()
                    .replace("$TOKEN", &token)
                    .replace("${TOKEN}", &token);
                headers.push((n.trim(), v));
            }
        }
        let a = get(&client, target, &headers).await;
        if let Some(want) = want {
            assert_eq!(
                a.status, *want,
                "`{line}` answered {}: {}",
                a.status, a.body
            );
        }
        statuses.push(a.status);
    }
    assert!(
        statuses.contains(&200),
        "no curl line shows an allow: {statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| *s == 401 || *s == 403),
        "no curl line shows a deny: {statuses:?}"
    );
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
