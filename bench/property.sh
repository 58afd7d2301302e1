#!/usr/bin/env bash
# The long run of the filter property test (tests/filter_property.rs): N random filters (default
# 100000) over 32 random sockets each, the compiled bytecode in the kernel's interpreter against the
# user-space evaluator; and a larger sample (at most 400) run by the real kernel. Release build.
#
#   bash bench/property.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES=${1:-100000} cargo test --release --test filter_property -- --nocapture
