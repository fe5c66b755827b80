# SPDX-License-Identifier: LGPL-2.1-or-later
# The two set-up commands of the README. Everything else is Meson.
.PHONY: run check build bootstrap fuzz clean

bootstrap:
	@tools/bootstrap.sh

build: bootstrap
	@[ -f build/build.ninja ] || meson setup build -Dbuildtype=debugoptimized
	@ninja -C build

run: build
	@tools/run.sh

check: bootstrap
	@test/run-all.sh

fuzz: bootstrap
	@tools/fuzz.sh

clean:
	rm -rf build build-asan build-fuzz build-test-results
