#!/usr/bin/env bash
# Rebuilds bpf/allocator.bpf.o from bpf/allocator.bpf.c with clang (Debian package `clang`, 14).
# The build is deterministic: run from the repository root or anywhere, the object comes out
# byte-identical for the same clang, so CI can rebuild it and compare with the committed one.
# Usage: bpf/build.sh [OUTPUT]   (default: bpf/allocator.bpf.o)
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-allocator.bpf.o}"
clang="${CLANG:-clang}"
# -g makes the BTF the loader needs (CO-RE relocations, map definitions); the prefix map keeps the
# checkout's location out of the debug info.
"$clang" -O2 -g -target bpf -nostdinc \
    -fdebug-prefix-map="$PWD"=bpf \
    -fno-ident \
    -Wall -Werror \
    -c allocator.bpf.c -o "$out"
