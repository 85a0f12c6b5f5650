//! Multi-config sources (policy §13): `authgate check DIR` against the real binary, the mode chosen by the flags,
//! and the directory source with its reconciler reporting to a recording sink (the multi-config gate that turns
//! those reports into answers is tested end to end elsewhere).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::clock::SystemClock;
use authgate::config::LoadOptions;
use authgate::reload::files::{Root, watch_files};

use super::common::sink::Recorder;
use super::common::{self, combined, temp_dir, write_atomic};
use super::noauth;

const BROKEN: &str =
    "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      rolee: x\n";

fn check<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(common::service::bin())
        .arg("check")
        .args(args)
        .env_clear()
        .output()
        .expect("run authgate check")
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn check_dir_reports_each_config_and_fails_on_the_broken_one() {
    let dir = temp_dir("multi-check");
    std::fs::write(dir.join("a.yaml"), noauth("a")).expect("write");
    std::fs::write(dir.join("b.json"), BROKEN).expect("write");
    std::fs::write(dir.join("c.yml"), noauth("c")).expect("write");
    // Not configs: a dot-file, another extension, a subdirectory.
    std::fs::write(dir.join(".hidden.yaml"), BROKEN).expect("write");
    std::fs::write(dir.join("notes.txt"), "x").expect("write");
    std::fs::create_dir(dir.join("sub.yaml")).expect("mkdir");
    std::fs::write(dir.join("sub.yaml").join("d.yaml"), BROKEN).expect("write");
    let out = check(&[&dir]);
    let lines = stdout_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{}", combined(&out));
    let d = dir.display();
    assert!(
        lines.contains(&format!("{d}/a.yaml (config a): ok")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("{d}/c.yml (config c): ok")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with(&format!("{d}/b.json (config b): error: ")) && l.contains("rolee")
        ),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("hidden") || l.contains("notes") || l.contains("d.yaml")),
        "only config files directly in the directory: {lines:#?}"
    );
    // Fixed: all three pass.
    std::fs::write(dir.join("b.json"), noauth("b")).expect("write");
    let out = check(&[&dir]);
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));
    assert_eq!(stdout_lines(&out).len(), 3, "{}", combined(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_duplicated_or_invalid_name_fails_every_claimant() {
    let dir = temp_dir("multi-names");
    std::fs::write(dir.join("a.yaml"), noauth("a")).expect("write");
    std::fs::write(dir.join("a.json"), noauth("a")).expect("write");
    std::fs::write(dir.join("Bad_Name.yaml"), noauth("x")).expect("write");
    std::fs::write(dir.join("ok.yaml"), noauth("ok")).expect("write");
    let out = check(&[&dir]);
    let lines = stdout_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{}", combined(&out));
    let d = dir.display();
    for f in ["a.json", "a.yaml"] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{d}/{f} (config a): error: ")))
            .unwrap_or_else(|| panic!("no error for {f}: {lines:#?}"));
        assert!(
            line.contains("a.json") && line.contains("a.yaml") && line.contains("claimed 2 times"),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l
            .starts_with(&format!("{d}/Bad_Name.yaml (config Bad_Name): error: "))
            && l.contains("not a valid config name")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("{d}/ok.yaml (config ok): ok")),
        "{lines:#?}"
    );
    // The same rules for files named one by one: one stem twice is a duplicate.
    let other = temp_dir("multi-names-2");
    std::fs::write(other.join("ok.yaml"), noauth("ok")).expect("write");
    let out = check(&[dir.join("ok.yaml"), other.join("ok.yaml")]);
    assert_eq!(out.status.code(), Some(1), "{}", combined(&out));
    assert!(
        combined(&out).contains("claimed 2 times"),
        "{}",
        combined(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn past_256_configs_the_last_names_fail() {
    let dir = temp_dir("multi-257");
    for i in 0..257 {
        std::fs::write(dir.join(format!("c{i:03}.yaml")), noauth("r")).expect("write");
    }
    let out = check(&[&dir]);
    let lines = stdout_lines(&out);
    assert_eq!(out.status.code(), Some(1), "{}", combined(&out));
    let ok = lines.iter().filter(|l| l.ends_with(": ok")).count();
    assert_eq!(ok, 256, "{}", combined(&out));
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].contains("(config c256)") && failed[0].contains("more than 256"),
        "{}",
        failed[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_with_one_file_is_multi_config_mode_and_sources_exclude_each_other() {
    let dir = temp_dir("multi-one");
    std::fs::write(dir.join("only.yaml"), noauth("a")).expect("write");
    let out = check(&[&dir]);
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));
    assert!(
        combined(&out).contains("(config only): ok"),
        "judged as a named config: {}",
        combined(&out)
    );
    let svc = common::service::Service::start_with(
        &["--config".to_owned(), dir.display().to_string()],
        &dir.join("authgate"),
        &[],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !svc.log().contains("\"config\":\"only\"") {
        assert!(
            Instant::now() < deadline,
            "the config was not loaded under its name:\n{}",
            svc.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(svc.log().contains("multi-config mode"), "{}", svc.log());
    for (flags, message) in [
        (
            &["--configmap", "ns/a", "--configmap-selector", "x=y"][..],
            "cannot be used with",
        ),
        (
            &["--config", "a.yaml", "--configmap-selector", "x=y"][..],
            "cannot be used with",
        ),
    ] {
        let out = Command::new(common::service::bin())
            .arg("serve")
            .args(flags)
            .env_clear()
            .output()
            .expect("run authgate serve");
        assert_eq!(out.status.code(), Some(2), "{}", combined(&out));
        assert!(combined(&out).contains(message), "{}", combined(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn watch(dir: &Path, grace: Duration) -> (Arc<Recorder>, tokio::runtime::Runtime) {
    let sink = Arc::new(Recorder::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.spawn(watch_files(
        sink.clone(),
        vec![Root::of(dir)],
        LoadOptions::default(),
        grace,
        Duration::from_millis(20),
        Arc::new(SystemClock),
    ));
    (sink, rt)
}

#[test]
fn the_directory_source_loads_fixes_removes_after_the_grace_and_cancels_on_return() {
    let dir = temp_dir("multi-watch");
    std::fs::write(dir.join("a.yaml"), noauth("a")).expect("write");
    std::fs::write(dir.join("b.yaml"), BROKEN).expect("write");
    std::fs::write(dir.join("c.yaml"), noauth("c")).expect("write");
    let grace = Duration::from_millis(400);
    let (sink, _rt) = watch(&dir, grace);
    let calls = sink.wait("loaded c", 1, Duration::from_secs(5));
    assert_eq!(calls, ["loaded a", "failed b", "loaded c"]);

    // b fixed on disk: only b is reported.
    write_atomic(&dir.join("b.yaml"), &noauth("b"));
    let calls = sink.wait("loaded b", 1, Duration::from_secs(2));
    assert_eq!(calls[3..], ["loaded b"]);

    // c removed: pending at once, removed once the grace is over, not before.
    std::fs::remove_file(dir.join("c.yaml")).expect("rm");
    let gone = Instant::now();
    let calls = sink.wait("pending c", 1, Duration::from_secs(2));
    assert_eq!(calls[4..], ["pending c"]);
    let calls = sink.wait("removed c", 1, Duration::from_secs(3));
    assert!(
        gone.elapsed() >= grace,
        "removed after {:?}",
        gone.elapsed()
    );
    assert_eq!(calls[4..], ["pending c", "removed c"]);

    // a removed and put back within the grace: pending, then reported again, never removed.
    std::fs::remove_file(dir.join("a.yaml")).expect("rm");
    sink.wait("pending a", 1, Duration::from_secs(2));
    write_atomic(&dir.join("a.yaml"), &noauth("a"));
    sink.wait("loaded a", 2, Duration::from_secs(2));
    std::thread::sleep(grace + Duration::from_millis(200));
    assert_eq!(sink.calls()[6..], ["pending a", "loaded a"]);

    // An unreadable directory changes nothing (no removals), and recovers.
    let moved = dir.with_extension("moved");
    std::fs::rename(&dir, &moved).expect("move the directory away");
    std::thread::sleep(grace + Duration::from_millis(200));
    assert_eq!(sink.calls().len(), 8, "{:?}", sink.calls());
    std::fs::rename(&moved, &dir).expect("move it back");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.calls().len(), 8, "nothing changed: {:?}", sink.calls());
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_configmap_volume_swap_reloads_what_changed() {
    use std::os::unix::fs::symlink;

    // kubelet's layout for a ConfigMap mounted whole: each key a link into `..data`, itself a link to a timestamped
    // directory.
    let dir = temp_dir("multi-data");
    let first = "..2024_05_01_10_00_00.000000001";
    std::fs::create_dir(dir.join(first)).expect("dir");
    std::fs::write(dir.join(first).join("a.yaml"), noauth("a")).expect("write");
    std::fs::write(dir.join(first).join("b.yaml"), noauth("b")).expect("write");
    symlink(first, dir.join("..data")).expect("..data");
    for k in ["a.yaml", "b.yaml"] {
        symlink(format!("..data/{k}"), dir.join(k)).expect("key link");
    }
    let (sink, _rt) = watch(&dir, Duration::from_secs(60));
    let calls = sink.wait("loaded b", 1, Duration::from_secs(5));
    assert_eq!(
        calls,
        ["loaded a", "loaded b"],
        "the timestamped directory and ..data are not configs"
    );

    let second = "..2024_05_01_10_05_00.000000002";
    std::fs::create_dir(dir.join(second)).expect("dir");
    std::fs::write(dir.join(second).join("a.yaml"), noauth("a")).expect("write");
    std::fs::write(dir.join(second).join("b.yaml"), noauth("b2")).expect("write");
    symlink(second, dir.join("..data_tmp")).expect("..data_tmp");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
    std::fs::remove_dir_all(dir.join(first)).expect("rm old");
    let calls = sink.wait("loaded b", 2, Duration::from_secs(2));
    assert_eq!(
        calls,
        ["loaded a", "loaded b", "loaded b"],
        "only the changed config"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
