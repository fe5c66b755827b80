#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite: the strict build and its unit tests and corpus replays, the format check,
# the ASan+UBSan build and its tests, then integration tests that boot real VMs (under TCG unless
# BISTRO_ACCEL says otherwise). Ends with the line "N passed, N failed, N skipped".
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=${BISTRO_TEST_OUT:-$top/build-test-results}
rm -rf "$out" && mkdir -p "$out"
steps="$out/steps"
: >"$steps"
jobs=$(nproc)

step() { # step NAME COMMAND...: runs a non-test stage and records it
        local name=$1
        shift
        echo "=== $name"
        local rc=0
        "$@" || rc=$?
        if [ $rc -eq 0 ]; then
                echo "PASS $name" >>"$steps"
                return 0
        fi
        echo "FAIL $name exit status $rc" >>"$steps"
        return 1
}

setup() { # setup DIR OPTIONS...: configures once, reconfigures when the options change
        local dir=$1
        shift
        if [ -f "$dir/build.ninja" ]; then
                meson setup --reconfigure "$dir" "$@" >"$out/$(basename "$dir").setup.log" 2>&1
        else
                meson setup "$dir" "$@" >"$out/$(basename "$dir").setup.log" 2>&1
        fi || { cat "$out/$(basename "$dir").setup.log"; return 1; }
}

# 1. The strict build: warnings are errors.
if step build-gcc-werror setup build --werror -Dbuildtype=debugoptimized &&
        step compile-gcc-werror ninja -C build -j"$jobs"; then
        meson test -C build --suite unit --suite fuzz --num-processes "$jobs" --print-errorlogs
fi

# 2. The tree follows .clang-format.
check_format() {
        local bad
        bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror 2>&1 | grep -c 'error:' || true)
        [ "$bad" = 0 ] || { git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror 2>&1 | head -20; return 1; }
}
step clang-format check_format

# 3. ASan + UBSan build of the unit tests and corpus replays (leak detection stays on).
export ASAN_OPTIONS=strict_string_checks=1:detect_stack_use_after_return=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if step build-asan setup build-asan --werror -Db_sanitize=address,undefined -Db_lundef=false -Dimages=false \
        -Dbuildtype=debug && step compile-asan ninja -C build-asan -j"$jobs"; then
        meson test -C build-asan --suite unit --suite fuzz --num-processes "$jobs" --print-errorlogs
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# 3b. The libFuzzer targets: built with clang (ASan+UBSan+fuzzer, in build-fuzz) and each run
# briefly on top of its corpus, so they cannot rot. tools/fuzz.sh runs every target that has a
# corpus directory. BISTRO_CI_FUZZ_SECONDS per target (default 20), lowered when there are so
# many targets that the runs would exceed BISTRO_CI_FUZZ_BUDGET seconds (default 240): measured
# here, 12 targets at 20 s plus the build from scratch took 4.5 min on 2 cores.
fuzz_stage() {
        local n secs budget
        n=$(find test/fuzz/corpus -mindepth 1 -maxdepth 1 -type d | wc -l)
        [ "$n" -gt 0 ] || { echo "no fuzz corpus directories"; return 1; }
        secs=${BISTRO_CI_FUZZ_SECONDS:-20}
        budget=${BISTRO_CI_FUZZ_BUDGET:-240}
        [ $((secs * n)) -le "$budget" ] || secs=$((budget / n > 5 ? budget / n : 5))
        echo "fuzzing $n targets for ${secs}s each"
        local t0=$SECONDS rc=0
        FUZZ_SECONDS=$secs FUZZ_BUILD_DIR=build-fuzz tools/fuzz.sh || rc=$?
        echo "fuzz stage: $((SECONDS - t0)) s"
        return $rc
}
if command -v clang >/dev/null; then
        step fuzz-clang fuzz_stage
else
        echo "FAIL fuzz-clang clang not installed" >>"$steps"
fi

# 4. Integration tests: real QEMU, real guest kernel.
export BISTRO_BUILD_DIR="$top/build"
export BISTRO_ACCEL=${BISTRO_ACCEL:-tcg}
# Screenshots and compositor logs of the GUI tests (test/integration/headless_desktop.py) are kept here.
export BISTRO_TEST_ARTIFACTS=${BISTRO_TEST_ARTIFACTS:-$out/artifacts}
# The container images the tests use, rebuilt when their builder changed since the store's copy
# (a no-op when up to date; the debian one needs root and debootstrap, else its tests say why they
# skip). The store is the user's unless BISTRO_IMAGE_STORE says otherwise, as in the tests.
refresh_images() {
        local store=${BISTRO_IMAGE_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/bistro/images/containers}
        image/containers/build-busybox.sh "$store" || return 1
        if [ "$(id -u)" = 0 ] && PATH=$PATH:/usr/sbin:/sbin command -v debootstrap >/dev/null; then
                image/containers/build-debian.sh "$store" || return 1
        fi
}
step container-images refresh_images
if [ -d test/integration ] && ls test/integration/test_*.py >/dev/null 2>&1; then
        echo "=== integration (accel: $BISTRO_ACCEL)"
        /usr/bin/python3 -m pytest -v -rs --junitxml="$out/integration.xml" test/integration
        rc=$?
        # pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
        [ $rc -eq 5 ] && echo "FAIL integration pytest collected no tests" >>"$steps"
fi

args=("steps=x:$steps" "meson=gcc:build/meson-logs/testlog.json" "meson=asan:build-asan/meson-logs/testlog.json")
[ -f "$out/integration.xml" ] && args+=("junit=integration:$out/integration.xml")
echo "=== summary"
/usr/bin/python3 test/summarize.py "${args[@]}"
