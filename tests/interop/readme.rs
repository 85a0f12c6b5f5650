//! The README shows each proxy's configuration: every file in `deploy/proxies/` has a snippet there, and each
//! snippet is byte for byte the file it names.

use std::path::Path;

use crate::ROOT;
use crate::discovery::{Kind, Recipe};

const SNIPPET_MARK: &str = "<!-- snippet: ";

/// `(path, fenced content)` for every `<!-- snippet: PATH -->` marker in the README.
fn readme_snippets(readme: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix(SNIPPET_MARK) else {
            continue;
        };
        let path = rest
            .strip_suffix(" -->")
            .unwrap_or_else(|| panic!("README line {}: malformed snippet marker {line:?}", i + 1))
            .trim()
            .to_owned();
        let fence = lines
            .get(i + 1)
            .filter(|l| l.starts_with("```"))
            .unwrap_or_else(|| {
                panic!(
                    "README line {}: the snippet marker for {path} must be followed by a fenced block",
                    i + 1
                )
            });
        let ticks = fence.len() - fence.trim_start_matches('`').len();
        let close = "`".repeat(ticks);
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim_end() != close)
            .copied()
            .collect();
        assert!(
            i + 2 + body.len() < lines.len(),
            "README: the fenced block for {path} is not closed"
        );
        let mut text = body.join("\n");
        text.push('\n');
        out.push((path, text));
    }
    out
}

#[test]
fn readme_proxy_snippets_are_the_deploy_files() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let snippets = readme_snippets(&readme);
    for kind in [
        Kind::Nginx,
        Kind::Caddy,
        Kind::Envoy(Recipe::Http),
        Kind::Envoy(Recipe::EgHttp),
        Kind::Envoy(Recipe::Grpc),
    ] {
        assert!(
            snippets.iter().any(|(p, _)| p == kind.file()),
            "README has no `{SNIPPET_MARK}{} -->` snippet",
            kind.file()
        );
    }
    let deploy = Path::new(ROOT).join("deploy/proxies");
    for entry in std::fs::read_dir(&deploy).expect("deploy/proxies") {
        let name = entry.expect("dir entry").file_name();
        let rel = format!("deploy/proxies/{}", name.to_string_lossy());
        assert!(
            snippets.iter().any(|(p, _)| *p == rel),
            "{rel} is not shown in the README (add a `{SNIPPET_MARK}{rel} -->` snippet)"
        );
    }
    for (path, text) in &snippets {
        let file = std::fs::read_to_string(Path::new(ROOT).join(path))
            .unwrap_or_else(|e| panic!("README snippet names {path}, which cannot be read: {e}"));
        if *text != file {
            let line = text
                .lines()
                .zip(file.lines())
                .position(|(a, b)| a != b)
                .map_or_else(
                    || "the line counts differ".to_owned(),
                    |n| format!("first difference at line {}", n + 1),
                );
            panic!("the README's snippet of {path} differs from the file ({line})");
        }
    }
}
