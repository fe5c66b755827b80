#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for FUZZ_SECONDS (default 60).
# New inputs go to a scratch directory; the committed corpus in test/fuzz/corpus is only read.
# Every directory in test/fuzz/corpus names a target, so a new target is picked up by adding
# its corpus. FUZZ_BUILD_DIR overrides the build directory (default build-fuzz).
# Usage: tools/fuzz.sh [TARGET...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${FUZZ_SECONDS:-60}
dir=${FUZZ_BUILD_DIR:-build-fuzz}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Build output is kept quiet when it succeeds, and shown whole when it does not: a failed
# build must say why instead of exiting 1 without a word.
quiet() {
        if ! "$@" >"$log" 2>&1; then
                cat "$log" >&2
                echo "fuzz.sh: '$*' failed" >&2
                exit 1
        fi
}
if [ ! -f "$dir/build.ninja" ]; then
        CC=clang quiet meson setup "$dir" -Dfuzzers=true -Dimages=false -Db_sanitize=address,undefined \
                -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
        for d in test/fuzz/corpus/*/; do
                targets+=("$(basename "$d")")
        done
fi
# Only the fuzz binaries: the rest of the tree (daemons, images) is not needed here.
quiet ninja -C "$dir" "${targets[@]/#/test/fuzz/}"
for t in "${targets[@]}"; do
        bin=$dir/test/fuzz/$t
        [ -x "$bin" ] || { echo "$t: not built (no $bin)" >&2; exit 1; }
        scratch=$(mktemp -d)
        echo "fuzzing $t for ${secs}s"
        # The scratch directory comes first: libFuzzer writes new inputs into the first corpus
        # directory only, so test/fuzz/corpus/$t is read and never written.
        if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$scratch/" \
                "$scratch" "test/fuzz/corpus/$t" >"$log" 2>&1; then
                tail -40 "$log"
                echo "$t: CRASH, reproducer in $scratch" >&2
                exit 1
        fi
        echo "$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') execs, no crash"
        rm -rf "$scratch"
done
