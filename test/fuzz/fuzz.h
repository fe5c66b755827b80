/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Every fuzz target defines this; fuzz-main.c replays a corpus through it outside libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
