//! `authgate dev` listens for gRPC on loopback and writes a minimal Envoy bootstrap next to its curl lines; that very
//! file, run by a real Envoy, routes `/app/` and `/admin/` to the two configs over gRPC (per-route context
//! extensions): every curl line printed for Envoy, run as printed, gets the answer printed beside it (each route
//! allows its own issuer's token and refuses the other's; a route naming no config is `503`), and an allow's session
//! headers overwrite a client's.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tonic_health::pb::health_check_response::ServingStatus;

use crate::common::service::bin;
use crate::common::{free_port, temp_dir};
use crate::discovery::{Kind, Recipe, require};
use crate::support::wait_health;

// The dev test reads more of each line than this one does.
#[allow(dead_code)]
#[path = "../dev/lines.rs"]
mod lines;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until `port` on loopback accepts a connection (at most `limit`).
fn listening(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_listens_for_grpc_and_its_envoy_bootstrap_works() {
    let Some(envoy) = require(Kind::Envoy(Recipe::Http)) else {
        return;
    };
    let (data, admin, grpc) = (free_port(), free_port(), free_port());
    let log = temp_dir("grpc-dev").join("dev.log");
    let mut child = Command::new(bin())
        .args(["dev", "--listen", &format!("127.0.0.1:{data}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("dev log"))
        .spawn()
        .expect("spawn authgate dev");
    let stdout = child.stdout.take().expect("stdout");
    let dev = Killed(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The whole banner: up to the `envoy -c` line, then the Envoy curl lines after it.
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let bootstrap = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "dev never printed an `envoy -c` line; stdout:\n{}\nlog:\n{}",
                printed.join("\n"),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        printed.push(line.clone());
        if let Some(path) = line
            .trim_start_matches(['#', ' '])
            .strip_prefix("envoy -c ")
        {
            break path.trim().to_owned();
        }
    };
    let envoy_at = printed.len();
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        printed.push(l);
        if printed.len() > 1000 {
            break;
        }
    }
    let env = lines::exports(&printed);
    let token = |var: &str| {
        env.iter()
            .find(|(n, _)| n == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no `export {var}=` line: {printed:?}"))
    };
    let (app_token, admin_token) = (token("APP_TOKEN"), token("ADMIN_TOKEN"));
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{grpc}"))),
        "dev names its gRPC listener: {printed:?}"
    );
    assert!(
        wait_health(grpc, ServingStatus::Serving, Duration::from_secs(10)).await,
        "dev's gRPC health never SERVING"
    );

    // The bootstrap as written, on a free port instead of its fixed one (tests run side by side).
    let text = std::fs::read_to_string(&bootstrap).expect("the printed bootstrap exists");
    assert!(
        text.contains(&format!("port_value: {grpc}")),
        "it points at dev's gRPC listener:\n{text}"
    );
    for must in [
        "failure_mode_allow: false",
        "status_on_error: {code: ServiceUnavailable}",
        "DROP_HEADER",
        "context_extensions: {authgate-config: app}",
        "context_extensions: {authgate-config: admin}",
    ] {
        assert!(text.contains(must), "the bootstrap sets {must}:\n{text}");
    }
    let port = free_port();
    let dir = temp_dir("grpc-dev-envoy");
    let config = dir.join("envoy.yaml");
    std::fs::write(
        &config,
        text.replace("port_value: 10000", &format!("port_value: {port}")),
    )
    .expect("write envoy.yaml");
    let envoy_log = dir.join("envoy.log");
    let proxy = Killed(
        Command::new(&envoy.bin)
            .arg("-c")
            .arg(&config)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                "info",
                "--log-path",
            ])
            .arg(&envoy_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn envoy"),
    );
    assert!(
        listening(port, Duration::from_secs(20)),
        "Envoy never listened; log:\n{}",
        std::fs::read_to_string(&envoy_log).unwrap_or_default()
    );

    // Every curl line printed for Envoy, run as printed; curl connects to this Envoy's port instead of 10000.
    let ran = lines::run_printed(
        &printed[envoy_at..],
        "http://127.0.0.1:10000",
        &env,
        &[format!("--connect-to 127.0.0.1:10000:127.0.0.1:{port}")],
    );
    lines::assert_two_issuers(
        &ran,
        &|c| format!("http://127.0.0.1:10000/{c}/"),
        "http://127.0.0.1:10000/",
    );

    let client = crate::common::http::client();
    let values = |r: &reqwest::Response, n: &str| -> Vec<String> {
        r.headers()
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    };
    // The session replaces what a client sent, on each route.
    for (route, token, role, user) in [
        ("app", &app_token, "user", "user_2dev"),
        ("admin", &admin_token, "admin", "staff_2dev"),
    ] {
        let allowed = client
            .get(format!("http://127.0.0.1:{port}/{route}/graphql"))
            .header("authorization", format!("Bearer {token}"))
            .header("x-hasura-user-id", "spoofed")
            .send()
            .await
            .expect("through Envoy");
        assert_eq!(allowed.status().as_u16(), 200, "{route}");
        assert_eq!(values(&allowed, "x-hasura-role"), [role]);
        assert_eq!(
            values(&allowed, "x-hasura-user-id"),
            [user],
            "the session's user id replaces the client's"
        );
    }
    // Over gRPC the client's path never selects the config: /app/configs/admin/ is judged by app.
    let other = client
        .get(format!("http://127.0.0.1:{port}/app/configs/admin/"))
        .header("authorization", format!("Bearer {admin_token}"))
        .send()
        .await
        .expect("through Envoy");
    assert_eq!(other.status().as_u16(), 401);
    assert_eq!(
        values(&other, "www-authenticate"),
        ["Bearer error=\"invalid_token\""]
    );
    drop(proxy);
    drop(dev);
}
