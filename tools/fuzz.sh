#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for FUZZ_SECONDS (default 60).
# New inputs go to a scratch directory; the committed corpus in test/fuzz/corpus is only read.
# Usage: tools/fuzz.sh [TARGET...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${FUZZ_SECONDS:-60}
dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
        CC=clang meson setup $dir -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C $dir >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
        mapfile -t targets < <(ls test/fuzz/corpus)
fi
for t in "${targets[@]}"; do
        bin=$(find $dir/test/fuzz -maxdepth 1 -type f -name "$t" -perm -u+x | head -1)
        [ -n "$bin" ] || { echo "$t: not built" >&2; exit 1; }
        scratch=$(mktemp -d)
        log=$(mktemp)
        echo "fuzzing $t for ${secs}s"
        if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$scratch/" \
                "$scratch" "test/fuzz/corpus/$t" >"$log" 2>&1; then
                tail -40 "$log"
                echo "$t: CRASH, reproducer in $scratch" >&2
                exit 1
        fi
        echo "$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') execs, no crash"
        rm -rf "$scratch" "$log"
done
