#!/usr/bin/env bash
# RustSec advisories for Cargo.lock, with deny.toml's [advisories] policy (every vulnerability and unsoundness
# advisory fails; accepted exceptions live in deny.toml's `ignore` list, each with a reason).
#
# The database is a git clone of github.com/RustSec/advisory-db. When that host is reachable the live database is
# used. When it is not (our build machines reach only the package registries), the snapshot folder given as the
# first argument (.ci/run passes ../shared/advisory-db, which only CI may read) is made into a local git repository and cargo-deny's clone of the
# RustSec URL is redirected to it with git's `url.<base>.insteadOf` (cargo-deny fetches with the git CLI); a missing
# snapshot is a failure, not a skip. The snapshot's commit is printed so a log says which state was checked.
#
# The yanked-crate check reads the crates.io index: `cargo update --dry-run` refreshes cargo's index cache first;
# when that fails the check still runs on whatever the cache holds, and the output says so.
#   scripts/check-advisories.sh [SNAPSHOT_DIR]
set -euo pipefail
snapshot="$(cd "$(dirname "${1:-/nonexistent}")" 2>/dev/null && pwd)/$(basename "${1:-none}")" || snapshot="${1:-}"
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if cargo update --dry-run >"$work/index.log" 2>&1; then
    echo "crates.io index refreshed: the yanked-crate check is current"
else
    echo "!! crates.io index unreachable: the yanked-crate check uses cargo's cached index only" >&2
    tail -n 3 "$work/index.log" >&2
fi

# deny.toml with a private db-path, so a snapshot never lands in (or is mistaken for) $CARGO_HOME/advisory-dbs.
sed "/^\[advisories\]/a db-path = \"$work/dbs\"" deny.toml >"$work/deny.toml"
grep -q "^db-path = \"$work/dbs\"" "$work/deny.toml" || { echo "deny.toml has no [advisories] table" >&2; exit 1; }

if cargo deny --config "$work/deny.toml" fetch db >"$work/fetch.log" 2>&1; then
    echo "advisory database: live clone of https://github.com/RustSec/advisory-db"
    git -C "$work"/dbs/advisory-db-* log -1 --format='advisory database commit %H (%cs)' 2>/dev/null || true
else
    if [ -z "${1:-}" ] || [ ! -d "$snapshot/crates" ]; then
        echo "!! RustSec database unreachable and no snapshot at ${1:-(none given)}: advisories cannot be checked" >&2
        cat "$work/fetch.log" >&2
        exit 1
    fi
    commit="$(grep -oE '[0-9a-f]{40}' "$snapshot/README.md" | head -n 1 || true)"
    echo "advisory database: offline snapshot $snapshot, upstream commit ${commit:-unknown (README names none)}"
    mkdir -p "$work/advisory-db"
    cp -R "$snapshot/crates" "$work/advisory-db/"
    [ -d "$snapshot/rust" ] && cp -R "$snapshot/rust" "$work/advisory-db/"
    git -C "$work/advisory-db" init -q -b main
    git -C "$work/advisory-db" add -A
    git -C "$work/advisory-db" -c user.name=ci -c user.email=ci@localhost commit -q -m "RustSec snapshot ${commit:-unknown}"
    export GIT_CONFIG_COUNT=1
    export GIT_CONFIG_KEY_0="url.file://$work/advisory-db.insteadOf"
    export GIT_CONFIG_VALUE_0="https://github.com/RustSec/advisory-db"
    cargo deny --config "$work/deny.toml" fetch db
fi

# Prints "advisories ok" (or each finding, and fails).
cargo deny --config "$work/deny.toml" check advisories
