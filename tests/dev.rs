//! `authgate dev` (policy §7, §13), run as a user would: start it on free loopback ports, take the two printed tokens
//! (one per embedded issuer), check that each config allows its own issuer's token and refuses the other's, that a
//! path naming no config is `503 unknown_config`, and that `/readyz` lists both configs; run every printed curl line
//! with curl and check each against what its comment says; and check that a non-loopback listener is refused. The
//! curl lines sent through Envoy are run in the gRPC dev test, against a real Envoy.

mod common;
#[path = "dev/explain.rs"]
mod explain;
#[path = "dev/lines.rs"]
mod lines;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::http::{send_tolerant, with_headers};
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

/// Where the Envoy curl lines point (`authgate dev`'s fixed Envoy listener).
const ENVOY: &str = "http://127.0.0.1:10000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_prints_two_configs_and_curl_lines_that_do_what_they_say() {
    let (data, admin) = (free_port(), free_port());
    let dev = DevProcess::start(&format!("127.0.0.1:{data}"), &format!("127.0.0.1:{admin}"));
    let base = format!("http://127.0.0.1:{data}");

    // The banner ends with the Envoy section (dev's gRPC listener is on): read to its `envoy -c` line, then the rest.
    let mut printed = Vec::new();
    let found = dev.read_until(
        Instant::now() + Duration::from_secs(20),
        &mut printed,
        |l| l.contains("envoy -c "),
    );
    assert!(
        found,
        "no `envoy -c` line; stdout:\n{}\nstderr:\n{}",
        printed.join("\n"),
        dev.stderr()
    );
    let envoy_at = printed.len();
    dev.drain(
        Duration::from_millis(300),
        Instant::now() + Duration::from_secs(3),
        &mut printed,
    );
    let env = lines::exports(&printed);
    let token = |var: &str| {
        env.iter()
            .find(|(n, _)| n == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no `export {var}=` line; stdout:\n{}", printed.join("\n")))
    };
    let (app_token, admin_token) = (token("APP_TOKEN"), token("ADMIN_TOKEN"));
    for t in [&app_token, &admin_token] {
        assert_eq!(t.split('.').count(), 3, "a printed token is a JWT: {t}");
    }
    assert!(
        printed
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("development")),
        "dev must say loudly that it is for development; stdout:\n{}",
        printed.join("\n")
    );

    // Ready, with both configs usable (their key sets fetched from the two embedded issuers).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut readyz = serde_json::Value::Null;
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{admin}/readyz")).await
            && let Ok(text) = r.text().await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            readyz = v;
            let usable = readyz["configs"]
                .as_array()
                .is_some_and(|c| c.len() == 2 && c.iter().all(|c| c["usable"] == true));
            if readyz["ready"] == true && usable {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let names: Vec<&str> = readyz["configs"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["admin", "app"],
        "/readyz lists both configs, usable: {readyz}; stderr:\n{}",
        dev.stderr()
    );
    assert!(
        readyz["configs"].as_array().is_some_and(|c| c
            .iter()
            .all(|c| c["usable"] == true && c["state"] == "ready")),
        "both configs usable: {readyz}"
    );

    // Each config allows its own issuer's token and refuses the other's; no config named is 503.
    let client = common::http::client();
    let get = |url: String, headers: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        send_tolerant(with_headers(client.get(&url), &pairs))
    };
    let app_bearer = format!("Bearer {app_token}");
    let admin_bearer = format!("Bearer {admin_token}");
    let a = get(
        format!("{base}/configs/app/graphql"),
        vec![("authorization", app_bearer.clone())],
    )
    .await;
    assert_eq!(a.status, 200, "app token on app: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("user"));
    assert_eq!(a.header("x-hasura-user-id"), Some("user_2dev"));
    let a = get(
        format!("{base}/configs/admin/graphql"),
        vec![("authorization", admin_bearer.clone())],
    )
    .await;
    assert_eq!(a.status, 200, "admin token on admin: {}", a.body);
    assert_eq!(a.header("x-hasura-role"), Some("admin"));
    assert_eq!(a.header("x-hasura-user-id"), Some("staff_2dev"));
    for (path, bearer) in [("app", &admin_bearer), ("admin", &app_bearer)] {
        let a = get(
            format!("{base}/configs/{path}/graphql"),
            vec![("authorization", bearer.clone())],
        )
        .await;
        assert_eq!(
            a.status, 401,
            "the other issuer's token on {path}: {}",
            a.body
        );
        assert_eq!(
            a.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        assert!(a.header("x-hasura-role").is_none());
    }
    // The client's own path after the prefix is never read for selection.
    let a = get(
        format!("{base}/configs/app/configs/admin/"),
        vec![("authorization", admin_bearer.clone())],
    )
    .await;
    assert_eq!(
        a.status, 401,
        "/configs/app/configs/admin/ is judged by app: {}",
        a.body
    );
    let a = get(
        format!("{base}/graphql"),
        vec![("authorization", app_bearer.clone())],
    )
    .await;
    assert_eq!(a.status, 503, "no config named: {}", a.body);
    let body: serde_json::Value = serde_json::from_str(&a.body).expect("JSON error body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "unknown_config");

    // The printed curl lines for the data listener, each run as printed and held to its comment; those after the
    // `envoy -c` line all go through Envoy (run against a real Envoy by the gRPC dev test).
    let ran = lines::run_printed(&printed[..envoy_at], &base, &env, &[]);
    lines::assert_two_issuers(
        &ran,
        &|c| format!("{base}/configs/{c}/"),
        &format!("{base}/"),
    );
    let statuses: Vec<u16> = ran.iter().map(|r| r.status).collect();
    for want in [200, 401, 403, 503] {
        assert!(
            statuses.contains(&want),
            "no curl line shows a {want}: {statuses:?}"
        );
    }
    assert!(
        ran.iter()
            .any(|r| r.line.contains("x-hasura-role: editor") && r.status == 200),
        "a role switch is shown: {ran:#?}"
    );
    let envoy_curls: Vec<&String> = printed[envoy_at..]
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert!(
        envoy_curls.len() >= 5,
        "curl lines through Envoy for both configs and for none: {envoy_curls:?}"
    );
    for l in envoy_curls {
        assert!(
            l.contains(&format!("{ENVOY}/")),
            "a curl line after `envoy -c` goes through Envoy: {l}"
        );
    }

    // Multi-config mode's metrics name the config.
    let metrics = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for c in ["app", "admin"] {
        assert!(
            metrics.contains(&format!("config=\"{c}\"")),
            "metrics carry config=\"{c}\":\n{metrics}"
        );
    }
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
            !stdout.iter().any(|l| l.starts_with("export ")),
            "a refused dev must not print a token"
        );
    }
}
