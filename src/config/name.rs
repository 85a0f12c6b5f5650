//! Config names of multi-config mode (policy §13). A name comes from a file stem or a ConfigMap, so it is operator
//! text: it must be a DNS label before it may name a config, a claim on it must be the only one (two claimants are
//! never resolved by a silent pick), and at most [`MAX_CONFIGS`] names are admitted. A name that fails still has to
//! be reported (logs, metrics, `/readyz`), so it is reported in a bounded, escaped form that no valid name can equal.

use std::collections::BTreeMap;

/// Longest config name, in bytes (a DNS label).
pub const MAX_NAME_BYTES: usize = 63;

/// Most configs one process serves; the excess, in name order, are load errors.
pub const MAX_CONFIGS: usize = 256;

/// Why `name` is not a config name, or `Ok` when it is one.
pub fn check_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "it is longer than 63 characters"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        "only a-z, 0-9 and `-` are allowed"
    } else if name.starts_with('-') || name.ends_with('-') {
        "it must not start or end with `-`"
    } else {
        return Ok(());
    };
    Err(format!(
        "`{}` is not a valid config name (a DNS label): {why}",
        shown(name)
    ))
}

/// `name` as it may appear in a log line or a metric label: characters outside `[A-Za-z0-9._-]` escaped as
/// `\u{…}`, and at most 63 bytes (a cut one ends in `...`). A valid name is shown as itself; an invalid one never
/// shows as a valid name (it keeps an escape, a character no name may have, or a leading or trailing `-`), so a
/// broken config cannot be reported under a good config's name.
pub fn shown(name: &str) -> String {
    if name.is_empty() {
        return "(empty)".to_owned();
    }
    let pieces: Vec<String> = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect();
    let full: String = pieces.concat();
    if full.len() <= MAX_NAME_BYTES {
        return full;
    }
    // Cut between pieces, never inside an escape.
    let mut out = String::new();
    for p in &pieces {
        if out.len() + p.len() > MAX_NAME_BYTES - 3 {
            break;
        }
        out.push_str(p);
    }
    out.push_str("...");
    out
}

/// The name a claim on `name` is reported under: the name itself when valid, else its [`shown`] form.
pub fn reported(name: &str) -> String {
    match check_name(name) {
        Ok(()) => name.to_owned(),
        Err(_) => shown(name),
    }
}

/// One source's claim on a name: the name it asks for and where it comes from (a path, a ConfigMap), for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub name: String,
    pub origin: String,
}

/// Judge every claim at once. The answer is keyed by the name each claim is reported under (the name itself when
/// valid, else its [`shown`] form): `Ok(i)` when claim `i` alone holds a valid, admitted name, else the load error
/// that every claimant of that name gets.
pub fn assign(claims: &[Claim]) -> BTreeMap<String, Result<usize, String>> {
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in claims.iter().enumerate() {
        by_key.entry(reported(&c.name)).or_default().push(i);
    }
    let mut admitted = 0usize;
    let mut out = BTreeMap::new();
    for (key, idx) in by_key {
        let origins = || {
            idx.iter()
                .map(|&i| claims[i].origin.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let verdict = if let Err(e) = check_name(&claims[idx[0]].name) {
            Err(format!("{e} (from {})", origins()))
        } else {
            // Every valid name takes a slot, loaded or not, so fixing one config never pushes another out.
            admitted += 1;
            if idx.len() > 1 {
                Err(format!(
                    "config name `{key}` is claimed {} times, by {}; none of them is loaded",
                    idx.len(),
                    origins()
                ))
            } else if admitted > MAX_CONFIGS {
                Err(format!(
                    "more than {MAX_CONFIGS} configs: `{key}` ({}) is past the limit (names are admitted in order)",
                    origins()
                ))
            } else {
                Ok(idx[0])
            }
        };
        out.insert(key, verdict);
    }
    out
}

#[cfg(test)]
#[path = "name_tests.rs"]
mod tests;
