#!/usr/bin/env bash
# Build the release binary exactly as the Dockerfile's builder stage does (same target, profile and flags), so CI
# proves the image build without a Docker daemon.
#
# Target: <arch>-unknown-linux-gnu for the machine it runs on, linked against glibc only (libc, libm, libgcc_s), run
# on gcr.io/distroless/cc-debian12:nonroot. Rust code, aws-lc and everything else is linked in statically. (A fully
# static musl binary needs the rust-std of the musl target, which this environment cannot download.)
#
# The architecture comes from, in order: BUILD_TARGET (a full Rust target triple), TARGETARCH (Docker's platform
# argument: amd64 or arm64, which the Dockerfile passes on), else `uname -m`. The build is native: a target whose
# architecture is not the machine's is refused, because no cross linker is set up. Docker builds arm64 natively on
# an arm64 host or under QEMU emulation (`docker buildx build --platform linux/arm64`); only amd64 has been run.
#
#   scripts/build-static.sh            # prints the path of the binary on its last line
#
# Keep the flags in sync with the Dockerfile (check-chart.sh does not look at them; the Dockerfile calls this very
# script, so they cannot drift).
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust's name for an architecture, from Docker's (TARGETARCH) or the kernel's (uname -m).
rust_arch() {
  case "$1" in
    amd64 | x86_64) echo x86_64 ;;
    arm64 | aarch64) echo aarch64 ;;
    *) echo "build-static: unsupported architecture '$1' (amd64/x86_64 or arm64/aarch64)" >&2; return 1 ;;
  esac
}

machine_arch="$(rust_arch "$(uname -m)")"
if [[ -n "${BUILD_TARGET:-}" ]]; then
  target="$BUILD_TARGET"
elif [[ -n "${TARGETARCH:-}" ]]; then
  target="$(rust_arch "$TARGETARCH")-unknown-linux-gnu"
else
  target="$machine_arch-unknown-linux-gnu"
fi
if [[ "${target%%-*}" != "$machine_arch" ]]; then
  echo "build-static: target $target on a $machine_arch machine needs a cross linker, which is not set up;" \
    "build it on that architecture (natively, or emulated: docker buildx build --platform linux/arm64)" >&2
  exit 1
fi

BUILD_FLAGS=(--release --locked --target "$target" --bin authgate)
# Strip symbols in the shipped binary (a profile setting, not RUSTFLAGS, so cached dependencies stay valid).
export CARGO_PROFILE_RELEASE_STRIP="symbols"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$target_dir"

# From a checkout (.dockerignore beside this script's repository), build from a copy of exactly the files the
# .dockerignore lets into the Docker build context, so a context too small for the build fails here, in CI, where
# there is no Docker. Inside the image build the context already is that copy (.dockerignore itself is not in it).
# The copy keeps modification times and always sits at the same path, so cargo's cache stays valid between runs.
src_dir="$PWD"
if [[ -f .dockerignore ]]; then
  mapfile -t rules < <(grep -Ev '^[[:space:]]*(#|$)' .dockerignore)
  if [[ "${#rules[@]}" -lt 2 || "${rules[0]}" != "*" ]]; then
    echo "build-static: .dockerignore must be an allow-list: '*', then one '!path' line per admitted path" >&2
    exit 1
  fi
  src_dir="$target_dir/image-context"
  rm -rf "$src_dir"
  mkdir -p "$src_dir"
  for rule in "${rules[@]:1}"; do
    path="${rule#!}"
    path="${path%/}"
    if [[ "$rule" != "!$path" && "$rule" != "!$path/" || -z "$path" || "$path" == *[*?[]* || "$path" == *..* ]]; then
      echo "build-static: .dockerignore line '$rule' is not a plain '!path'" >&2
      exit 1
    fi
    [[ -e "$path" ]] || { echo "build-static: .dockerignore admits $path, which does not exist" >&2; exit 1; }
    cp -a --parents "$path" "$src_dir/"
  done
  echo "build-static: building from the Docker build context the .dockerignore admits ($src_dir)" >&2
fi

echo "build-static: cargo build ${BUILD_FLAGS[*]}" >&2
(cd "$src_dir" && cargo build "${BUILD_FLAGS[@]}")

bin="$target_dir/$target/release/authgate"
[[ -x "$bin" ]] || { echo "build-static: $bin was not built" >&2; exit 1; }

# The binary must start and must need nothing beyond what distroless/cc provides (glibc, libgcc_s, and the dynamic
# loader: /lib64/ld-linux-x86-64.so.2 on amd64, /lib/ld-linux-aarch64.so.1 on arm64).
"$bin" --version >&2
if command -v ldd >/dev/null 2>&1; then
  extra="$(ldd "$bin" | awk '{print $1}' \
    | grep -Ev '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|/lib/ld-linux-aarch64\.so|libc\.so|libm\.so|libgcc_s\.so|libdl\.so|libpthread\.so|librt\.so)' \
    || true)"
  if [[ -n "$extra" ]]; then
    echo "build-static: $bin links libraries distroless/cc lacks:" >&2
    echo "$extra" >&2
    exit 1
  fi
fi
echo "$bin"
