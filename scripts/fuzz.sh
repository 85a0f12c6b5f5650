#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS (default 60) each, on the nightly toolchain with AddressSanitizer.
# Each run starts from the committed regression inputs (fuzz/regressions/TARGET: every input that ever crashed a
# target, kept so the bug stays fixed) plus the local corpus (fuzz/corpus/TARGET, not committed).
# A crash fails the script; libFuzzer writes the input to fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh 600            # the 10-minute runs
#   scripts/fuzz.sh 60 token_path  # one target
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(config_load token_path admission_review)
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t"
    echo "-- fuzz $t for ${secs}s"
    cargo +nightly fuzz run "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1
done
