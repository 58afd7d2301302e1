#!/usr/bin/env bash
# CI check: rebuilds the BPF object with the Debian clang and fails when the committed
# bpf/allocator.bpf.o is stale (someone changed allocator.bpf.c without running bpf/build.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v clang >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clang >/dev/null
fi
fresh="$(mktemp --suffix=.bpf.o)"
trap 'rm -f "$fresh"' EXIT
"$here/build.sh" "$fresh"
if ! cmp -s "$fresh" "$here/allocator.bpf.o"; then
    echo "bpf/allocator.bpf.o is stale: run bpf/build.sh and commit the object" >&2
    exit 1
fi
echo "bpf/allocator.bpf.o is up to date"
