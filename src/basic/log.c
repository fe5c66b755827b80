/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/uio.h>

#include "log.h"
#include "string-util.h"

static LogTarget log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;
static const char *log_ident = NULL;
static bool log_show_pid = true;
static int kmsg_fd = -EBADF;

void log_set_target(LogTarget target) {
        log_target = target;
        if (target == LOG_TARGET_KMSG && kmsg_fd < 0)
                kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_ident(const char *ident) {
        log_ident = ident;
}

void log_set_show_pid(bool show) {
        log_show_pid = show;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        return -EINVAL;
}

void log_parse_environment(void) {
        const char *e = getenv("BISTRO_LOG_LEVEL");
        int l;

        if (!e)
                return;
        l = log_level_from_string(e);
        if (l >= 0)
                log_max_level = l;
}

int log_internal(int level, int error, const char *file, int line, const char *format, ...) {
        char msg[2048], prefix[128];
        int saved = errno;
        va_list ap;
        int n;

        if (log_target == LOG_TARGET_NULL)
                return -error;

        /* Make "%m" print this error, not whatever errno happens to be. */
        errno = error;
        va_start(ap, format);
        (void) vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_KMSG && kmsg_fd >= 0)
                n = snprintf(
                        prefix, sizeof(prefix), "<%d>%s[%d]: ", level, log_ident ?: "bistro",
                        (int) getpid());
        else if (log_ident && log_show_pid)
                n = snprintf(prefix, sizeof(prefix), "%s[%d]: ", log_ident, (int) getpid());
        else if (log_ident)
                n = snprintf(prefix, sizeof(prefix), "%s: ", log_ident);
        else
                n = 0, prefix[0] = 0;
        if (level >= LOG_DEBUG && n >= 0 && (size_t) n < sizeof(prefix))
                (void) snprintf(prefix + n, sizeof(prefix) - n, "(%s:%d) ", file, line);

        struct iovec iov[] = {
                { .iov_base = prefix, .iov_len = strlen(prefix) },
                { .iov_base = msg, .iov_len = strlen(msg) },
                { .iov_base = (char *) "\n", .iov_len = 1 },
        };
        /* Nowhere to report a failed log write: drop it. */
        if (writev(log_target == LOG_TARGET_KMSG && kmsg_fd >= 0 ? kmsg_fd : STDERR_FILENO, iov, 3) < 0)
                errno = saved;

        errno = saved;
        return -error;
}
