//! The docs show each proxy's configuration: every file in `deploy/proxies/` has a snippet in README.md or a page
//! under docs/, and each snippet is byte for byte the file it names. The front page links into docs/ and the pages
//! link to each other, so every relative link and anchor among them must lead somewhere.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::ROOT;
use crate::discovery::{Kind, Recipe};

const SNIPPET_MARK: &str = "<!-- snippet: ";

/// README.md and every `*.md` under docs/, as paths relative to the repository root, sorted.
fn doc_pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = Path::new(ROOT);
    let mut pages = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut pages);
    let mut rel: Vec<PathBuf> = pages
        .iter()
        .map(|p| p.strip_prefix(root).expect("under the root").to_path_buf())
        .collect();
    rel.sort();
    rel
}

fn read_page(rel: &Path) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel))
        .unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// `(path, fenced content)` for every `<!-- snippet: PATH -->` marker in one page (`page` names it in messages).
fn page_snippets(page: &str, text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix(SNIPPET_MARK) else {
            continue;
        };
        let path = rest
            .strip_suffix(" -->")
            .unwrap_or_else(|| panic!("{page} line {}: malformed snippet marker {line:?}", i + 1))
            .trim()
            .to_owned();
        let fence = lines
            .get(i + 1)
            .filter(|l| l.starts_with("```"))
            .unwrap_or_else(|| {
                panic!(
                    "{page} line {}: the snippet marker for {path} must be followed by a fenced block",
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
            "{page}: the fenced block for {path} is not closed"
        );
        let mut text = body.join("\n");
        text.push('\n');
        out.push((path, text));
    }
    out
}

#[test]
fn readme_proxy_snippets_are_the_deploy_files() {
    // (page, deploy file, shown text)
    let mut snippets: Vec<(String, String, String)> = Vec::new();
    for page in doc_pages() {
        let name = page.display().to_string();
        for (path, text) in page_snippets(&name, &read_page(&page)) {
            snippets.push((name.clone(), path, text));
        }
    }
    for kind in [
        Kind::Nginx,
        Kind::Caddy,
        Kind::Envoy(Recipe::Http),
        Kind::Envoy(Recipe::EgHttp),
        Kind::Envoy(Recipe::Grpc),
    ] {
        assert!(
            snippets.iter().any(|(_, p, _)| p == kind.file()),
            "neither README.md nor docs/ has a `{SNIPPET_MARK}{} -->` snippet",
            kind.file()
        );
    }
    let deploy = Path::new(ROOT).join("deploy/proxies");
    for entry in std::fs::read_dir(&deploy).expect("deploy/proxies") {
        let name = entry.expect("dir entry").file_name();
        let rel = format!("deploy/proxies/{}", name.to_string_lossy());
        assert!(
            snippets.iter().any(|(_, p, _)| *p == rel),
            "{rel} is shown neither in README.md nor under docs/ (add a `{SNIPPET_MARK}{rel} -->` snippet)"
        );
    }
    for (page, path, text) in &snippets {
        let file = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| {
            panic!("{page}: its snippet names {path}, which cannot be read: {e}")
        });
        if *text != file {
            let line = text
                .lines()
                .zip(file.lines())
                .position(|(a, b)| a != b)
                .map_or_else(
                    || "the line counts differ".to_owned(),
                    |n| format!("first difference at line {}", n + 1),
                );
            panic!("{page}: the snippet of {path} differs from the file ({line})");
        }
    }
}

/// The lines of a page outside fenced code blocks, with their 1-based numbers: a `#` or `](` inside a
/// configuration file is neither a heading nor a link.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let ticks = &line[..line.len() - line.trim_start_matches('`').len()];
        match fence {
            None if ticks.len() >= 3 => fence = Some(ticks),
            Some(open) if line.trim_end() == open => fence = None,
            None => out.push((i + 1, line)),
            Some(_) => {}
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation other than `-` and `_` dropped, spaces to
/// `-`, a repeated one suffixed `-1`, `-2`, ...
fn heading_anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while anchors.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        anchors.insert(candidate);
    }
    anchors
}

/// Targets of the inline links `[text](target)` in a page's prose, with their line numbers.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn readme_and_docs_links_resolve() {
    let root = Path::new(ROOT);
    let pages = doc_pages();
    assert!(
        pages.len() > 10,
        "README.md and docs/ hold {} pages",
        pages.len()
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = read_page(page);
        for (line, target) in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(Path::new("")).join(file)
            };
            let on_disk = root.join(&dest);
            if !on_disk.exists() {
                broken.push(format!(
                    "{}:{line}: {target} (no such file)",
                    page.display()
                ));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if on_disk.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let dest_text = std::fs::read_to_string(&on_disk)
                .unwrap_or_else(|e| panic!("{}: {e}", on_disk.display()));
            if !heading_anchors(&dest_text).contains(anchor) {
                broken.push(format!(
                    "{}:{line}: {target} (no such heading)",
                    page.display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} relative links found: is the link parser broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    // The front page is the index: a page it does not link is a page nobody finds.
    let front: HashSet<PathBuf> = link_targets(&read_page(Path::new("README.md")))
        .into_iter()
        .map(|(_, t)| PathBuf::from(t.split('#').next().unwrap_or_default()))
        .collect();
    for page in pages.iter().filter(|p| p.starts_with("docs")) {
        assert!(
            front.contains(page),
            "README.md does not link {} (add it to the docs index)",
            page.display()
        );
    }
}
