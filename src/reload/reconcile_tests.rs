use std::sync::Mutex;

use super::*;
use crate::clock::ManualClock;

/// Every call the reconciler makes, as `verb name` (`loaded`, `failed`, `pending`, `removed`).
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    configs: Mutex<Vec<Arc<CompiledConfig>>>,
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }
    fn push(&self, s: String) {
        self.calls.lock().expect("lock").push(s);
    }
}

impl ConfigSink for Recorder {
    fn config_loaded(&self, name: &str, config: Arc<CompiledConfig>) {
        self.configs.lock().expect("lock").push(config);
        self.push(format!("loaded {name}"));
    }
    fn config_failed(&self, name: &str, error: &str) {
        self.push(format!("failed {name}: {error}"));
    }
    fn config_removal_pending(&self, name: &str) {
        self.push(format!("pending {name}"));
    }
    fn config_removed(&self, name: &str) {
        self.push(format!("removed {name}"));
    }
}

fn noauth(role: &str) -> String {
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: {role}\n      sessionVariables: {{}}\n"
    )
}

fn text(name: &str, t: &str) -> Source {
    Source {
        name: name.to_owned(),
        origin: format!("dir/{name}.yaml"),
        found: Found::Text(t.to_owned()),
    }
}

fn setup(grace_ms: u64) -> (Arc<Recorder>, Arc<ManualClock>, Reconciler) {
    let sink = Arc::new(Recorder::default());
    let clock = Arc::new(ManualClock::at(1_000));
    let r = Reconciler::new(
        sink.clone(),
        LoadOptions::default(),
        Duration::from_millis(grace_ms),
        clock.clone(),
    );
    (sink, clock, r)
}

#[test]
fn only_changed_names_are_reported() {
    let (sink, _, mut r) = setup(1000);
    let bad = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      rolee: x\n";
    r.scan(&[
        text("a", &noauth("a")),
        text("b", bad),
        text("c", &noauth("c")),
    ]);
    let calls = sink.take();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0], "loaded a");
    assert!(
        calls[1].starts_with("failed b: ") && calls[1].contains("rolee"),
        "{calls:?}"
    );
    assert_eq!(calls[2], "loaded c");
    // The same picture again: nothing at all, not even for the broken one.
    r.scan(&[
        text("a", &noauth("a")),
        text("b", bad),
        text("c", &noauth("c")),
    ]);
    assert_eq!(sink.take(), Vec::<String>::new());
    // b fixed, c changed: exactly those two.
    r.scan(&[
        text("a", &noauth("a")),
        text("b", &noauth("b")),
        text("c", &noauth("c2")),
    ]);
    assert_eq!(sink.take(), ["loaded b", "loaded c"]);
}

#[test]
fn a_source_error_and_a_duplicate_are_failures_under_the_name() {
    let (sink, _, mut r) = setup(1000);
    let unreadable = Source {
        name: "u".into(),
        origin: "dir/u.yaml".into(),
        found: Found::Failed("cannot read dir/u.yaml: denied".into()),
    };
    let mut dup = text("a", &noauth("x"));
    dup.origin = "dir/a.json".into();
    r.scan(&[text("a", &noauth("a")), dup, unreadable]);
    let calls = sink.take();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("failed a: ") && calls[0].contains("dir/a.json"),
        "{calls:?}"
    );
    assert_eq!(calls[1], "failed u: cannot read dir/u.yaml: denied");
}

#[test]
fn a_vanished_name_is_pending_then_removed_when_the_grace_ends() {
    let (sink, clock, mut r) = setup(5_000);
    r.scan(&[text("a", &noauth("a")), text("b", &noauth("b"))]);
    sink.take();
    r.scan(&[text("a", &noauth("a"))]);
    assert_eq!(sink.take(), ["pending b"]);
    // Still gone on later scans: said once.
    clock.advance(Duration::from_millis(4_000));
    r.scan(&[text("a", &noauth("a"))]);
    assert_eq!(sink.take(), Vec::<String>::new());
    assert_eq!(r.names(), ["a", "b"]);
    clock.advance(Duration::from_millis(1_000));
    r.tick();
    assert_eq!(sink.take(), ["removed b"]);
    assert_eq!(r.names(), ["a"]);
    assert_eq!(r.next_deadline(), None);
    // Back after removal: a new config.
    r.scan(&[text("a", &noauth("a")), text("b", &noauth("b"))]);
    assert_eq!(sink.take(), ["loaded b"]);
}

#[test]
fn a_name_back_within_the_grace_cancels_its_removal() {
    let (sink, clock, mut r) = setup(5_000);
    r.scan(&[text("a", &noauth("a"))]);
    sink.take();
    r.scan(&[]);
    assert_eq!(sink.take(), ["pending a"]);
    assert!(r.next_deadline().is_some());
    r.scan(&[text("a", &noauth("a"))]);
    // Said again with the very config it had, which the gate takes as "cancelled".
    assert_eq!(sink.take(), ["loaded a"]);
    let configs = sink.configs.lock().expect("lock");
    assert!(
        Arc::ptr_eq(&configs[0], &configs[1]),
        "the same version, not a reload"
    );
    drop(configs);
    clock.advance(Duration::from_secs(10));
    r.tick();
    assert_eq!(
        sink.take(),
        Vec::<String>::new(),
        "no removal after a cancel"
    );
}

#[test]
fn a_zero_grace_removes_at_once() {
    let (sink, _, mut r) = setup(0);
    r.scan(&[text("a", &noauth("a"))]);
    sink.take();
    r.scan(&[]);
    assert_eq!(sink.take(), ["removed a"]);
}
