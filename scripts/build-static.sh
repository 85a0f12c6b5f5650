#!/usr/bin/env bash
# Build the release binary exactly as the Dockerfile's builder stage does (same target, profile and flags), so CI
# proves the image build without a Docker daemon.
#
# Target: x86_64-unknown-linux-gnu, linked against glibc only (libc, libm, libgcc_s), run on
# gcr.io/distroless/cc-debian12:nonroot. Rust code, aws-lc and everything else is linked in statically. (A fully
# static musl binary needs the rust-std of x86_64-unknown-linux-musl, which this environment cannot download.)
#
#   scripts/build-static.sh            # prints the path of the binary on its last line
#
# Keep BUILD_TARGET / BUILD_FLAGS in sync with the Dockerfile (check-chart.sh does not look at them; the Dockerfile
# calls this very script, so they cannot drift).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_TARGET="x86_64-unknown-linux-gnu"
BUILD_FLAGS=(--release --locked --target "$BUILD_TARGET" --bin authgate)
# Strip symbols in the shipped binary (a profile setting, not RUSTFLAGS, so cached dependencies stay valid).
export CARGO_PROFILE_RELEASE_STRIP="symbols"

echo "build-static: cargo build ${BUILD_FLAGS[*]}" >&2
cargo build "${BUILD_FLAGS[@]}"

target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/$BUILD_TARGET/release/authgate"
[[ -x "$bin" ]] || { echo "build-static: $bin was not built" >&2; exit 1; }

# The binary must start and must need nothing beyond what distroless/cc provides (glibc, libgcc_s).
"$bin" --version >&2
if command -v ldd >/dev/null 2>&1; then
  extra="$(ldd "$bin" | awk '{print $1}' | grep -Ev '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|libc\.so|libm\.so|libgcc_s\.so|libdl\.so|libpthread\.so|librt\.so)' || true)"
  if [[ -n "$extra" ]]; then
    echo "build-static: $bin links libraries distroless/cc lacks:" >&2
    echo "$extra" >&2
    exit 1
  fi
fi
echo "$bin"
