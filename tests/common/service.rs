//! The service under test: the real `authgate serve` binary started on free loopback ports, its log, its metrics,
//! its end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::raw::{http_get, http_get_status};
use super::{free_port, temp_dir};

pub const RELOADS_OK: &str = "authgate_config_reloads_total{result=\"success\"}";
pub const RELOADS_ERR: &str = "authgate_config_reloads_total{result=\"error\"}";

/// A running `authgate serve` process.
pub struct Service {
    child: Child,
    pub data: u16,
    pub admin: u16,
    /// The gRPC listener's port (0 when a test turned it off or chose its own).
    pub grpc: u16,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_authgate")
}

impl Service {
    /// The process id of the running service.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start `authgate serve` on the config text, with extra flags and env.
    pub fn start(config: &str, extra: &[&str], env: &[(String, String)]) -> Service {
        let dir = temp_dir("svc");
        let config_path = dir.join("authconfig.yaml");
        std::fs::write(&config_path, config).expect("write config");
        Self::start_at(&config_path, extra, env)
    }

    pub fn start_at(config_path: &Path, extra: &[&str], env: &[(String, String)]) -> Service {
        let source = ["--config".to_owned(), config_path.display().to_string()];
        Self::start_with(&source, config_path, extra, env)
    }

    /// Start with an explicit config source (`--config F` or `--configmap NS/NAME`); the log goes beside
    /// `log_base`.
    pub fn start_with(
        source: &[String],
        log_base: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Service {
        // A port picked free can be taken by a parallel test before the service binds it; the service then exits
        // with "cannot listen". Start again on other ports (a few times) rather than fail for a reason not ours.
        for attempt in 1..=4 {
            let mut svc = Self::spawn(source, log_base, extra, env);
            match svc.wait_healthy() {
                Ok(()) => return svc,
                Err(exited) if exited && attempt < 4 && svc.log().contains("cannot listen") => {
                    continue;
                }
                Err(_) => panic!("authgate did not become healthy; log:\n{}", svc.log()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(
        source: &[String],
        log_base: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Service {
        let config_path = log_base;
        let (data, admin) = (free_port(), free_port());
        // The gRPC listener's default port is fixed; tests run side by side, so each gets a free one.
        let grpc = if extra.contains(&"--grpc-listen") {
            0
        } else {
            free_port()
        };
        let log_path = log_base.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(source)
            .arg("--listen")
            .arg(format!("127.0.0.1:{data}"))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{admin}"))
            .args(["--log-format", "json", "--workers", "2"])
            .args(if grpc == 0 {
                Vec::new()
            } else {
                vec!["--grpc-listen".to_owned(), format!("127.0.0.1:{grpc}")]
            })
            .args(extra)
            .args(if extra.contains(&"--shutdown-delay-secs") {
                &[][..]
            } else {
                &["--shutdown-delay-secs", "0"][..]
            })
            .env("RUST_LOG", "info,authgate=debug")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn authgate");
        Service {
            child,
            data,
            admin,
            grpc,
            config_path: config_path.to_owned(),
            log_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.data)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    /// Wait until `/healthz` answers; `Err(true)` when the process exited first, `Err(false)` on timeout.
    fn wait_healthy(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http_get_status(&self.admin_url("/healthz")) == Some(200) {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(false)
    }

    /// Wait until `/readyz` is 200; false on timeout.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if http_get_status(&self.admin_url("/readyz")) == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        http_get(&self.admin_url("/metrics"))
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric's value from a Prometheus text scrape (`name{labels}` exactly as rendered, or a bare name).
pub fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Wait (10 s at most) for `/readyz`, failing the test with the service's log.
pub fn ready(svc: &Service) {
    assert!(
        svc.wait_ready(Duration::from_secs(10)),
        "authgate never became ready; log:\n{}",
        svc.log()
    );
}

/// `authgate serve` on `config` with `extra` flags, ready (10 s at most, else the test fails with its log).
pub fn started(config: &str, extra: &[&str]) -> Service {
    let svc = Service::start(config, extra, &[]);
    ready(&svc);
    svc
}
