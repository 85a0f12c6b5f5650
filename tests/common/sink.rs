//! A [`ConfigSink`] that records what a config source reports, for tests of the sources without a service.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate::config::CompiledConfig;
use authgate::reload::ConfigSink;

/// A sink that records `verb name` for every call, in order; a failure is `failed name`, or `failed name: error`
/// from [`Recorder::with_errors`].
#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Vec<String>>,
    errors: bool,
}

impl Recorder {
    /// A recorder that keeps the error text of a failure.
    pub fn with_errors() -> Self {
        Recorder {
            errors: true,
            ..Self::default()
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    /// Wait (at most `within`) until the calls number `n`; returns them.
    pub fn wait_len(&self, n: usize, within: Duration) -> Vec<String> {
        self.wait_until(within, |calls| calls.len() >= n)
    }

    /// Wait (at most `within`) until `want` has been recorded at least `times` times; returns the calls.
    pub fn wait(&self, want: &str, times: usize, within: Duration) -> Vec<String> {
        self.wait_until(within, |calls| {
            calls.iter().filter(|c| c.as_str() == want).count() >= times
        })
    }

    fn wait_until(&self, within: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let calls = self.calls();
            if done(&calls) || Instant::now() >= deadline {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn push(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
}

impl ConfigSink for Recorder {
    fn config_loaded(&self, name: &str, _: Arc<CompiledConfig>) {
        self.push(format!("loaded {name}"));
    }
    fn config_failed(&self, name: &str, error: &str) {
        if self.errors {
            self.push(format!("failed {name}: {error}"));
        } else {
            self.push(format!("failed {name}"));
        }
    }
    fn config_removal_pending(&self, name: &str) {
        self.push(format!("pending {name}"));
    }
    fn config_removed(&self, name: &str) {
        self.push(format!("removed {name}"));
    }
}
