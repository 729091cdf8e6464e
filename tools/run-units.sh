#!/bin/bash
# Runs each cmocka unit test binary and the layering check; prints one closing line
# "units: N passed, N failed" (N counts test cases as cmocka reports them).
set -u
cd "$(dirname "$0")/.."
passed=0; failed=0; bad=()
for t in "$@"; do
    out=$(PTECH_SRC="$PWD" "$t" 2>&1); rc=$?
    echo "$out" | grep -E '^\[ +(PASSED|FAILED) +\]|^\[  ERROR   \]|^\[  FAILED  \] [a-z]' || true
    p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] || [ -z "$p" ]; then
        [ -z "${f:-}" ] && failed=$((failed + 1))
        bad+=("$t"); echo "$out" | tail -30
    fi
done
for check in tests/unit/test_layering.sh tests/unit/test_conf_sample.sh; do
    if $check; then passed=$((passed + 1)); else failed=$((failed + 1)); bad+=("$check"); fi
done
echo "units: $passed passed, $failed failed"
[ ${#bad[@]} -eq 0 ] || { echo "failing: ${bad[*]}"; exit 1; }
