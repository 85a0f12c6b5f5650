#!/usr/bin/env bash
# Run every cargo-fuzz target (as `cargo fuzz list` names them) for SECONDS (default 60) each, on the nightly
# toolchain with AddressSanitizer.
# For each target: first replay every committed regression input on its own (fuzz/regressions/TARGET: every input
# that ever failed the target, kept so the bug stays fixed), then fuzz starting from the local corpus
# (fuzz/corpus/TARGET, not committed; new inputs go there), the committed seeds (fuzz/seeds/TARGET) and the
# regressions. A failure fails the script; libFuzzer writes the input to fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh 600            # the 10-minute runs
#   scripts/fuzz.sh 60 token_path  # one target
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true

# cargo-fuzz needs a nightly toolchain (-Z flags, sanitizers): use the installed one, else install a minimal one.
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "-- no nightly toolchain: installing one (minimal profile)"
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "-- cargo-fuzz is not installed: installing it"
    cargo install cargo-fuzz --locked
fi

mapfile -t known < <(cargo +nightly fuzz list)
if [ ${#known[@]} -eq 0 ]; then
    echo "!! cargo fuzz list found no targets" >&2
    exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${known[@]}")
fi
for t in "${targets[@]}"; do
    if ! printf '%s\n' "${known[@]}" | grep -qx "$t"; then
        echo "!! no fuzz target $t (cargo fuzz list: ${known[*]})" >&2
        exit 1
    fi
    if [ ! -d "seeds/$t" ] || [ ! -d "regressions/$t" ]; then
        echo "!! target $t has no committed fuzz/seeds/$t or fuzz/regressions/$t (add a seed and a README)" >&2
        exit 1
    fi
done

for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    mapfile -t replay < <(find "regressions/$t" -type f ! -name README.md | sort)
    if [ ${#replay[@]} -gt 0 ]; then
        echo "-- replay ${#replay[@]} regression input(s) of $t"
        cargo +nightly fuzz run "$t" "${replay[@]}" -- -rss_limit_mb=2048
    else
        echo "-- $t has no regression inputs yet"
    fi
    echo "-- fuzz $t for ${secs}s"
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" "regressions/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1
done
