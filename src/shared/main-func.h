/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one shape of main() for every program (systemd's DEFINE_MAIN_FUNCTION): run() returns 0 for
 * success, a negative errno for a failure it has already reported (exit 1), -EUSAGE for a usage error it
 * has reported (exit 2), or a positive exit status to pass on as it is (a shell's status, say). */

#include <getopt.h>
#include <stdlib.h>

#include "cli-util.h"
#include "log.h"

/* Beyond every real errno: "bad usage, already reported". */
#define EUSAGE 4095

/* Logs a usage error with a pointer to --help and returns -EUSAGE. */
#define log_usage_error(...)                                                                       \
        ({                                                                                         \
                log_error(__VA_ARGS__);                                                            \
                log_error("Try '%s --help' for more information.", program_invocation_short_name); \
                -EUSAGE;                                                                           \
        })

/* For getopt_long()'s '?' (with opterr = 0, so that getopt prints nothing of its own): names the bad
 * option in our message format and returns -EUSAGE. */
static inline int log_usage_bad_option(char *const argv[]) {
        if (optopt > 0 && optopt < 0x100)
                return log_usage_error("invalid option or missing argument: -%c", optopt);
        return log_usage_error("unrecognized option or missing argument: '%s'", argv[optind - 1]);
}

static inline int main_exit_status(int r) {
        if (r == -EUSAGE)
                return EXIT_USAGE;
        if (r < 0)
                return EXIT_FAILURE;
        return r > 255 ? EXIT_FAILURE : r;
}

#define DEFINE_MAIN_FUNCTION(impl)                         \
        int main(int argc, char *argv[]) {                 \
                return main_exit_status(impl(argc, argv)); \
        }
