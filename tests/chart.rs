//! The Helm chart: `scripts/check-chart.sh` lints and renders charts/authgate (default values and every file in
//! charts/authgate/ci/), checks the rendered objects (security context, probes, labels, webhook settings), loads the
//! chart's AuthConfig with this crate's `authgate check`, and compares manifests/authgate.yaml with a fresh render.
//!
//! It needs `helm` on PATH (`scripts/install-helm.sh` installs it). Without helm the test is skipped, loudly, except
//! under CI (the `CI` environment variable set), where a missing helm is a failure.

use std::io::Write;
use std::path::Path;
use std::process::Command;

fn helm_on_path() -> bool {
    Command::new("helm")
        .arg("version")
        .arg("--short")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn chart_lints_renders_and_matches_the_manifests() {
    if !helm_on_path() {
        assert!(
            std::env::var_os("CI").is_none(),
            "helm is not on PATH under CI: .ci/run must run scripts/install-helm.sh before the tests"
        );
        // Written to the process's stderr directly: libtest captures `eprintln!` of passing tests, and a skip
        // must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED chart_lints_renders_and_matches_the_manifests: helm is not on PATH \
             (run scripts/install-helm.sh) ***\n"
        );
        return;
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/check-chart.sh"))
        .current_dir(root)
        .env("AUTHGATE_BIN", env!("CARGO_BIN_EXE_authgate"))
        .output()
        .expect("run scripts/check-chart.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/check-chart.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("check-chart: ok"),
        "scripts/check-chart.sh exited 0 without its closing line:\n{stdout}\n{stderr}"
    );
}
