//! Running one proxy from its `deploy/proxies/` file: the placeholders filled with loopback ports, the few lines
//! around it that keep its state in the test's directory, a wait until it listens, Envoy's admin endpoint (the gRPC
//! recipe has one, for its health-check flags), and a stop on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ROOT;
use crate::common::{free_port, tail, temp_dir};
use crate::discovery::{Installed, Kind};

/// Loopback addresses filled into a `deploy/proxies/` template.
struct Ports {
    listen: u16,
    /// The port of authgate the recipe talks to: the data (HTTP) port, or the gRPC port for the gRPC recipe.
    authgate: u16,
    upstream: u16,
    /// Envoy's admin endpoint, for the recipes that have one.
    admin: u16,
}

/// A change a test makes to a deploy file to show what a variant of it would do (the identity for the file as
/// committed).
pub type Edit = fn(&str) -> String;

/// The deploy file as committed.
pub fn as_committed(text: &str) -> String {
    text.to_owned()
}

/// A `deploy/proxies/` file with its placeholders filled.
fn render(file: &str, ports: &Ports, edit: Edit) -> String {
    let path = Path::new(ROOT).join(file);
    let text = std::fs::read_to_string(&path).expect("deploy/proxies file is committed");
    let out = edit(&text)
        .replace("{{LISTEN_HOST}}", "127.0.0.1")
        .replace("{{LISTEN_PORT}}", &ports.listen.to_string())
        .replace("{{AUTHGATE_HOST}}", "127.0.0.1")
        .replace("{{AUTHGATE_PORT}}", &ports.authgate.to_string())
        .replace("{{UPSTREAM_HOST}}", "127.0.0.1")
        .replace("{{UPSTREAM_PORT}}", &ports.upstream.to_string())
        .replace("{{ADMIN_HOST}}", "127.0.0.1")
        .replace("{{ADMIN_PORT}}", &ports.admin.to_string());
    assert!(
        !out.contains("{{"),
        "{file} has a placeholder the test does not fill:\n{out}",
    );
    out
}

/// A running proxy; stopped (TERM, then KILL) on drop.
pub struct Proxy {
    pub kind: Kind,
    child: Child,
    pub port: u16,
    /// Envoy's admin port (meaningful only when the recipe declares an admin endpoint).
    pub admin: u16,
    dir: PathBuf,
    logs: Vec<PathBuf>,
}

impl Proxy {
    pub fn start(
        kind: Kind,
        installed: &Installed,
        authgate: u16,
        upstream: u16,
        edit: Edit,
    ) -> Proxy {
        Self::start_file(kind, kind.file(), installed, authgate, upstream, edit)
    }

    /// [`Proxy::start`] from another file of `deploy/proxies/` written for the same proxy (the multi-config forms).
    pub fn start_file(
        kind: Kind,
        file: &str,
        installed: &Installed,
        authgate: u16,
        upstream: u16,
        edit: Edit,
    ) -> Proxy {
        let ports = Ports {
            listen: free_port(),
            authgate,
            upstream,
            admin: free_port(),
        };
        let dir = temp_dir(kind.name());
        let config = render(file, &ports, edit);
        let path = |name: &str| dir.join(name).display().to_string();
        let out = std::fs::File::create(dir.join("stdout.log")).expect("proxy stdout log");
        let err = out.try_clone().expect("proxy log handle");
        let mut cmd = Command::new(&installed.bin);
        let logs = match kind {
            Kind::Nginx => {
                // The deploy file is http-context configuration (what goes in conf.d/); this main file around it
                // only keeps everything (pid, logs, temp files) in the test's own directory.
                std::fs::write(dir.join("authgate.conf"), config).expect("write nginx include");
                let module = installed.module.as_ref().expect("headers-more module");
                let main = format!(
                    "load_module {module};\n\
                     pid {pid};\n\
                     error_log {error} info;\n\
                     worker_processes 1;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{\n\
                     \x20   access_log {access};\n\
                     \x20   client_body_temp_path {tmp}/body;\n\
                     \x20   proxy_temp_path {tmp}/proxy;\n\
                     \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
                     \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
                     \x20   scgi_temp_path {tmp}/scgi;\n\
                     \x20   include {include};\n\
                     }}\n",
                    module = module.display(),
                    pid = path("nginx.pid"),
                    error = path("error.log"),
                    access = path("access.log"),
                    tmp = dir.display(),
                    include = path("authgate.conf"),
                );
                std::fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
                cmd.arg("-p")
                    .arg(format!("{}/", dir.display()))
                    .arg("-c")
                    .arg(path("nginx.conf"))
                    .arg("-e")
                    .arg(path("error.log"))
                    .args(["-g", "daemon off;"]);
                vec![dir.join("error.log"), dir.join("stdout.log")]
            }
            Kind::Caddy => {
                // The deploy file is a site block; the global options here turn the admin endpoint off (parallel
                // tests would fight over :2019) and the environment keeps Caddy's state in the test directory.
                std::fs::write(dir.join("site.caddy"), config).expect("write Caddy site");
                let main = format!("{{\n\tadmin off\n}}\n\nimport {}\n", path("site.caddy"));
                std::fs::write(dir.join("Caddyfile"), main).expect("write Caddyfile");
                cmd.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(path("Caddyfile"))
                    .env("HOME", &dir)
                    .env("XDG_CONFIG_HOME", dir.join("config"))
                    .env("XDG_DATA_HOME", dir.join("data"));
                vec![dir.join("stdout.log")]
            }
            Kind::Envoy(_) | Kind::Envoy136(_) => {
                std::fs::write(dir.join("envoy.yaml"), config).expect("write envoy.yaml");
                cmd.arg("-c")
                    .arg(path("envoy.yaml"))
                    .args(["--disable-hot-restart", "--concurrency", "2", "-l", "info"])
                    .arg("--log-path")
                    .arg(path("envoy.log"));
                vec![dir.join("envoy.log"), dir.join("stdout.log")]
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn proxy");
        let mut proxy = Proxy {
            kind,
            child,
            port: ports.listen,
            admin: ports.admin,
            dir,
            logs,
        };
        proxy.wait_listening();
        proxy
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited at start ({status}); log:\n{}",
                    self.kind.name(),
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "{} did not listen on 127.0.0.1:{} within 30 s; log:\n{}",
            self.kind.name(),
            self.port,
            self.log()
        );
    }

    /// An Envoy admin page (`/clusters`, `/stats?filter=…`), or `None` when the admin endpoint does not answer.
    pub fn admin_page(&self, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}{path}", self.admin);
        crate::common::raw::http_get(&url)
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
    }

    pub fn log(&self) -> String {
        self.logs
            .iter()
            .map(|p| tail(&std::fs::read_to_string(p).unwrap_or_default(), 40))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
