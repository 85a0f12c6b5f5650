//! The file source of multi-config mode: `--config DIR` (every `*.yaml`, `*.yml`, `*.json`, `*.hml` directly in
//! it) and repeated `--config FILE`. Each poll reads every file's content, like the single-file watcher, so
//! Kubernetes' `..data` symlink swap of a mounted ConfigMap is seen (the paths stay, their targets change), and hands
//! the whole picture to the reconciler. A directory that cannot be read (or listed whole) changes nothing: a
//! partial listing must not look like removals.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ConfigSink;
use super::reconcile::{Found, Reconciler, Source};
use crate::clock::Clock;
use crate::config::LoadOptions;
use crate::config::file::read_config_file;
use crate::config::name::{Claim, assign, reported};

/// Extensions of config files in a directory (compared without regard to case, so `A.YAML` is seen and its name
/// refused, rather than silently skipped).
pub const EXTENSIONS: [&str; 4] = ["yaml", "yml", "json", "hml"];

/// One `--config` path of multi-config mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A directory: each config file directly in it.
    Dir(PathBuf),
    /// One file, named by its stem.
    File(PathBuf),
}

impl Root {
    /// A directory (following symlinks) is a `Dir`; anything else, a missing path included, is a `File`.
    pub fn of(path: &Path) -> Root {
        if path.is_dir() {
            Root::Dir(path.to_owned())
        } else {
            Root::File(path.to_owned())
        }
    }
}

/// The config name a file gives: its name up to the last `.` (the stem).
pub fn stem(file_name: &str) -> &str {
    file_name.rsplit_once('.').map_or(file_name, |(s, _)| s)
}

/// Whether a directory entry called `file_name` is a config file: not a dot-file, one of [`EXTENSIONS`].
pub fn is_config_name(file_name: &str) -> bool {
    !file_name.starts_with('.')
        && file_name.rsplit_once('.').is_some_and(|(s, ext)| {
            !s.is_empty() && EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
        })
}

/// A config file found by listing the roots, not read yet.
struct Listed {
    name: String,
    path: PathBuf,
    /// Found in a directory (so it may vanish between the listing and the read) rather than named by a flag.
    in_dir: bool,
}

/// Read the files of every root whose name is admitted (a file whose name already fails is not read: a directory of
/// thousands of files costs a listing, not thousands of reads). `Err` when a directory cannot be listed; a file that
/// cannot be read is a `Failed` source.
pub fn scan(roots: &[Root]) -> Result<Vec<Source>, String> {
    let listed = list(roots)?;
    let claims: Vec<Claim> = listed
        .iter()
        .map(|l| Claim {
            name: l.name.clone(),
            origin: l.path.display().to_string(),
        })
        .collect();
    let verdicts = assign(&claims);
    Ok(listed
        .into_iter()
        .filter_map(|l| {
            if matches!(verdicts.get(&reported(&l.name)), Some(Ok(_))) {
                read(l)
            } else {
                // The reconciler reports the name's own error; the content is not needed for it.
                Some(Source {
                    found: Found::Failed("not read: its name is not admitted".into()),
                    origin: l.path.display().to_string(),
                    name: l.name,
                })
            }
        })
        .collect())
}

/// Read every file of every root, admitted or not (`check` shows every problem of every file in one run).
pub fn scan_all(roots: &[Root]) -> Result<Vec<Source>, String> {
    Ok(list(roots)?.into_iter().filter_map(read).collect())
}

fn read(l: Listed) -> Option<Source> {
    let found = match read_config_file(&l.path) {
        Ok(t) => Found::Text(t),
        // Removed between the listing and now: not there.
        Err(_) if l.in_dir && !l.path.exists() => return None,
        Err(e) => Found::Failed(e.to_string()),
    };
    Some(Source {
        name: l.name,
        origin: l.path.display().to_string(),
        found,
    })
}

fn list(roots: &[Root]) -> Result<Vec<Listed>, String> {
    let mut out = Vec::new();
    for root in roots {
        match root {
            Root::File(path) => out.push(Listed {
                name: path
                    .file_name()
                    .map(|n| stem(&n.to_string_lossy()).to_owned())
                    .unwrap_or_default(),
                path: path.clone(),
                in_dir: false,
            }),
            Root::Dir(dir) => list_dir(dir, &mut out)?,
        }
    }
    Ok(out)
}

fn list_dir(dir: &Path, all: &mut Vec<Listed>) -> Result<(), String> {
    let mut out = Vec::new();
    let cannot =
        |e: std::io::Error| format!("cannot read the config directory {}: {e}", dir.display());
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !is_config_name(&file_name) {
            continue;
        }
        let path = entry.path();
        // Follows symlinks: kubelet's `a.yaml -> ..data/a.yaml` is a file; a subdirectory (or a link to one) is not.
        // One that cannot be examined is listed, and its read reports why.
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => continue,
            // Removed since the listing, or a dangling link: not there.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            _ => {}
        }
        out.push(Listed {
            name: stem(&file_name).to_owned(),
            path,
            in_dir: true,
        });
    }
    // Listing order is the file system's; messages and `check` read better in name order.
    out.sort_by(|a, b| a.path.cmp(&b.path));
    all.append(&mut out);
    Ok(())
}

/// Watch `roots`: scan now, then every `interval`, reporting to `sink`. Runs until the task is dropped.
pub async fn watch_files(
    sink: Arc<dyn ConfigSink>,
    roots: Vec<Root>,
    opts: LoadOptions,
    grace: Duration,
    interval: Duration,
    clock: Arc<dyn Clock>,
) {
    let reconciler = Arc::new(Mutex::new(Reconciler::new(sink, opts, grace, clock)));
    let roots = Arc::new(roots);
    let mut unreadable = false;
    loop {
        let (r, rs) = (reconciler.clone(), roots.clone());
        // Reading and loading are blocking work: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            let scanned = scan(&rs);
            let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
            match scanned {
                Ok(sources) => {
                    r.scan(&sources);
                    Ok(())
                }
                Err(e) => {
                    r.tick();
                    Err(e)
                }
            }
        })
        .await;
        match done {
            Ok(Ok(())) => unreadable = false,
            Ok(Err(e)) => {
                if !unreadable {
                    tracing::error!(error = %e, "every config keeps its current state until the directory can be read");
                }
                unreadable = true;
            }
            Err(e) => tracing::error!(error = %e, "config reader task failed"),
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_entries_are_configs_and_their_names() {
        for yes in ["a.yaml", "a.yml", "a.json", "a.hml", "A.YAML", "a.b.yaml"] {
            assert!(is_config_name(yes), "{yes}");
        }
        for no in [
            ".a.yaml",
            "..data",
            "a.txt",
            "a",
            ".yaml",
            "a.yaml~",
            "a.yaml.bak",
        ] {
            assert!(!is_config_name(no), "{no}");
        }
        assert_eq!(stem("tenant-a.yaml"), "tenant-a");
        assert_eq!(stem("a.b.json"), "a.b");
        assert_eq!(stem("noext"), "noext");
    }

    #[test]
    fn only_files_whose_name_is_admitted_are_read() {
        let dir = std::env::temp_dir().join(format!("authgate-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for f in ["a.yaml", "a.json", "ok.yaml", "Up.yaml"] {
            std::fs::write(dir.join(f), "text").expect("write");
        }
        let got = scan(&[Root::Dir(dir.clone())]).expect("scan");
        let read: Vec<&str> = got
            .iter()
            .filter(|s| s.found == Found::Text("text".into()))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(read, ["ok"], "{got:?}");
        assert_eq!(got.len(), 4);
        assert_eq!(scan_all(&[Root::Dir(dir.clone())]).expect("scan").len(), 4);
        let missing = dir.join("gone");
        assert!(scan(&[Root::Dir(missing.clone())]).is_err());
        // A file named by a flag that is missing is a load error, not an absence.
        let got = scan(&[Root::File(missing.join("x.yaml"))]).expect("scan");
        assert!(
            matches!(&got[0].found, Found::Failed(e) if e.contains("cannot read")),
            "{got:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
