//! The framework boundary, checked on the source: the domain (config, authn, jwks, the gate) and the neutral
//! helpers it stands on never name an HTTP framework, the Kubernetes client or prometheus, and no public item of
//! theirs names reqwest (the JWKS fetch and the webhook client use it inside, behind their own types). A text scan
//! rather than a type check: it needs no extra tooling, and its own unit test shows it catches each kind of slip.

use std::path::{Path, PathBuf};

/// Crates the domain must not name at all.
const FRAMEWORKS: [&str; 7] = [
    "actix",
    "kube",
    "k8s_openapi",
    "prometheus",
    "tonic",
    "hyper",
    "tower",
];
/// Crates the domain may use inside, but never in a public item.
const INTERNAL_ONLY: [&str; 1] = ["reqwest"];

/// The domain and the neutral modules under it (paths relative to src/; a folder covers every file in it).
const DOMAIN: [&str; 9] = [
    "config",
    "authn",
    "jwks",
    "gate",
    "observe.rs",
    "clock.rs",
    "alg.rs",
    "hash.rs",
    "strict_json.rs",
];

/// The code of a file without its unit tests (the item after each `#[cfg(test)]`) and without comments.
fn code(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            out.push(lines[i]);
            i += 1;
            continue;
        }
        i += 1;
        while i < lines.len() && lines[i].trim_start().starts_with("#[") {
            i += 1;
        }
        let mut depth = 0i32;
        while i < lines.len() {
            let l = lines[i];
            depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
            i += 1;
            if depth <= 0 && (l.contains('}') || l.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    out
}

/// Whether `text` names `krate` as a path (`krate::`) or in a `use` (`use krate`, `krate::{`).
fn names(text: &str, krate: &str) -> bool {
    text.match_indices(krate).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = &text[i + krate.len()..];
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        starts_word && (after.starts_with("::") || after.starts_with('_') && krate == "actix")
    })
}

/// The text of every public item: a `pub` line and its continuation up to the body or the end of the item; the
/// whole body of a public enum or trait (its variants and methods are public too).
fn public_items(lines: &[&str]) -> Vec<String> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if !t.starts_with("pub ") {
            i += 1;
            continue;
        }
        let whole_body = t.starts_with("pub enum") || t.starts_with("pub trait");
        // A field (`pub name: Type,`) ends at its comma; an item's head (a signature over several lines) at its
        // body or its semicolon.
        let field = ![
            "fn", "async", "const", "unsafe", "struct", "type", "static", "use", "mod",
        ]
        .iter()
        .any(|k| t["pub ".len()..].starts_with(k));
        let mut item = String::new();
        let mut depth: i32 = 0;
        while i < lines.len() {
            let l = lines[i];
            item.push_str(l);
            item.push('\n');
            depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
            i += 1;
            let ended = if whole_body {
                depth <= 0 && (l.contains('}') || l.trim_end().ends_with(';'))
            } else {
                l.contains('{')
                    || l.trim_end().ends_with(';')
                    || (field && l.trim_end().ends_with(','))
            };
            if ended {
                break;
            }
        }
        items.push(item);
    }
    items
}

/// Every finding in one file's text.
fn findings(file: &str, text: &str) -> Vec<String> {
    let lines = code(text);
    let mut out = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        for k in FRAMEWORKS {
            if names(l, k) {
                out.push(format!("{file}:{}: names `{k}`: {}", n + 1, l.trim()));
            }
        }
    }
    for item in public_items(&lines) {
        for k in INTERNAL_ONLY {
            if names(&item, k) {
                let head = item.lines().next().unwrap_or("").trim();
                out.push(format!("{file}: public item names `{k}`: {head}"));
            }
        }
    }
    out
}

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .expect("readable source folder")
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

#[test]
fn the_domain_names_no_framework_and_no_http_client_in_its_interface() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for d in DOMAIN {
        let p = src.join(d);
        // gate may be a file or a folder.
        if p.exists() {
            rust_files(&p, &mut files);
        } else if src.join(format!("{d}.rs")).exists() {
            files.push(src.join(format!("{d}.rs")));
        } else {
            panic!("domain module {d} not found under src/");
        }
    }
    assert!(files.len() >= 9, "{files:?}");
    let mut all = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable source file");
        let name = f.strip_prefix(&src).unwrap_or(f).display().to_string();
        all.extend(findings(&name, &text));
    }
    assert!(all.is_empty(), "boundary broken:\n{}", all.join("\n"));
}

#[test]
fn the_scan_catches_each_kind_of_slip() {
    let cases = [
        ("use actix_web::HttpResponse;\n", true),
        ("fn f() -> prometheus::Registry { todo!() }\n", true),
        ("    let c = kube::Client::try_default();\n", true),
        ("use k8s_openapi::api::core::v1::ConfigMap;\n", true),
        ("pub fn client() -> reqwest::Client {\n", true),
        ("pub struct S {\n    pub http: reqwest::Client,\n}\n", true),
        ("pub enum E {\n    Http(reqwest::Error),\n}\n", true),
        (
            "pub fn new(\n    a: u8,\n    c: reqwest::Client,\n) -> Self {\n",
            true,
        ),
        ("pub trait T {\n    fn f(&self) -> reqwest::Url;\n}\n", true),
        // Inside, private, or in a comment: allowed.
        ("struct S {\n    http: reqwest::Client,\n}\n", false),
        ("fn f() {\n    let r = reqwest::Client::new();\n}\n", false),
        ("// see actix_web::HttpResponse and kube::Client\n", false),
        ("pub fn kubernetes_name() -> &'static str {\n", false),
        (
            "#[cfg(test)]\nmod tests {\n    use prometheus::Registry;\n}\n",
            false,
        ),
        (
            "#[cfg(test)]\n#[path = \"t.rs\"]\nmod tests;\nuse prometheus::Registry;\n",
            true,
        ),
    ];
    for (text, bad) in cases {
        assert_eq!(!findings("x.rs", text).is_empty(), bad, "{text}");
    }
}
