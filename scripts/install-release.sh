#!/usr/bin/env bash
# Install the released mlops binary that matches this action's own ref, verified against the
# release's SHA-256 sums. Used by action.yml; tested against a local HTTP server by
# tests/action_download.rs.
#
# Environment:
#   MLOPS_RELEASES  where releases are (https://github.com/OWNER/mlops/releases/download)
#   MLOPS_VERSION   the version of the action's own Cargo.toml: the release is `v$MLOPS_VERSION`
#   MLOPS_REF       the ref the action was used at (`uses: OWNER/mlops@<ref>`)
#   MLOPS_COMMIT    the commit the action is at, when known (40 hex digits), else empty
#   MLOPS_TARGET    the target triple to install (default: from RUNNER_OS and RUNNER_ARCH, else
#                   from uname)
#   MLOPS_DEST      the folder to put `mlops` in
#
# Exit status: 0 installed (and `mlops --version` ran); 3 no release for this ref or platform
# (the caller builds from source, as before releases existed); 1 refused: the release exists
# but its sums, its asset or the download are missing, wrong or truncated. Nothing downloaded
# is ever run unless its SHA-256 matches the sums.
set -euo pipefail

say() { printf 'mlops: %s\n' "$*" >&2; }
no_release() { say "$*; building from source instead"; exit 3; }
refuse() { printf '::error title=mlops::%s\n' "$*"; say "refused: $*"; exit 1; }

: "${MLOPS_RELEASES:?}" "${MLOPS_VERSION:?}" "${MLOPS_DEST:?}"
ref=${MLOPS_REF:-}
commit=${MLOPS_COMMIT:-}
tag="v$MLOPS_VERSION"

target=${MLOPS_TARGET:-}
if [ -z "$target" ]; then
  os=${RUNNER_OS:-$(uname -s)}
  arch=${RUNNER_ARCH:-$(uname -m)}
  case "$os/$arch" in
    Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
    macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
    macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
    Windows/X64) target=x86_64-pc-windows-msvc ;;
    *) no_release "no release binary is built for $os/$arch" ;;
  esac
fi
case "$target" in
  *windows*) asset="mlops-$target.zip" exe=mlops.exe ;;
  *) asset="mlops-$target.tar.gz" exe=mlops ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# fetch URL FILE: 0 fetched, 4 not there (HTTP 404), 1 any other failure.
fetch() {
  local status
  status=$(curl --silent --show-error --location --retry 3 --proto '=https,http' \
    --output "$2" --write-out '%{http_code}' "$1") || return 1
  case "$status" in
    200) return 0 ;;
    404) return 4 ;;
    *) say "$1: HTTP $status"; return 1 ;;
  esac
}

base="$MLOPS_RELEASES/$tag"
set +e
fetch "$base/COMMIT" "$work/COMMIT"
status=$?
set -e
case $status in
  0) ;;
  4) no_release "no release $tag" ;;
  *) no_release "release $tag could not be fetched" ;;
esac
released=$(tr -d '[:space:]' <"$work/COMMIT")
# The release must be of exactly this action: its tag, or its commit.
if [ "$ref" != "$tag" ] && { [ -z "$commit" ] || [ "$released" != "$commit" ]; }; then
  no_release "release $tag was built from ${released:-an unknown commit}, and this action is at ${commit:-$ref}"
fi

set +e
fetch "$base/SHA256SUMS" "$work/SHA256SUMS"
status=$?
set -e
[ $status -eq 0 ] || refuse "release $tag has no SHA256SUMS; nothing it holds can be verified"
expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$work/SHA256SUMS")
[[ $expected =~ ^[0-9a-f]{64}$ ]] || refuse "release $tag lists no checksum for $asset"

set +e
fetch "$base/$asset" "$work/$asset"
status=$?
set -e
case $status in
  0) ;;
  4) refuse "release $tag has no $asset, though its SHA256SUMS lists it" ;;
  *) refuse "downloading $asset from release $tag failed" ;;
esac
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$work/$asset" | cut -d' ' -f1)
else
  actual=$(shasum -a 256 "$work/$asset" | cut -d' ' -f1)
fi
if [ "$actual" != "$expected" ]; then
  refuse "$asset from release $tag does not match its SHA-256 sum (expected $expected, got $actual; $(wc -c <"$work/$asset") bytes): tampered or truncated, not run"
fi

mkdir "$work/unpacked"
case "$asset" in
  *.zip) unzip -q "$work/$asset" -d "$work/unpacked" || refuse "$asset does not unpack" ;;
  *) tar -xzf "$work/$asset" -C "$work/unpacked" || refuse "$asset does not unpack" ;;
esac
binary=$(find "$work/unpacked" -type f -name "$exe" | head -n 1)
[ -n "$binary" ] || refuse "$asset holds no $exe"
mkdir -p "$MLOPS_DEST"
install -m 0755 "$binary" "$MLOPS_DEST/$exe"
version=$("$MLOPS_DEST/$exe" --version) || {
  rm -f "$MLOPS_DEST/$exe"
  refuse "the $exe of release $tag does not run on this runner"
}
say "installed $version from release $tag ($asset, SHA-256 verified)"
