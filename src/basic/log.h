/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging: one call site logs once, the *_errno() forms return -abs(error) so that
 * "return log_error_errno(r, ...)" logs and propagates in one statement. Library code
 * (src/basic, src/shared) logs at debug level only. "%m" in a format means strerror(error). */

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_STDERR,
        LOG_TARGET_KMSG, /* guest PID 1: /dev/kmsg, which also reaches the serial console */
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

void log_set_target(LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Name put in front of every line ("vsockd[123]: ..."); the string must outlive logging. */
void log_set_ident(const char *ident);
/* CLIs print "prog: message" (the default for daemons is "prog[pid]: message"). */
void log_set_show_pid(bool show);
/* Reads $BISTRO_LOG_LEVEL (debug, info, notice, warning, err) when set. */
void log_parse_environment(void);
int log_level_from_string(const char *s);

int log_internal(int level, int error, const char *file, int line, const char *format, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...)                                             \
        ({                                                                            \
                int _level_ = (level), _e_ = (error);                                 \
                _e_ = _e_ < 0 ? -_e_ : _e_;                                           \
                (log_get_max_level() >= _level_)                                      \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __VA_ARGS__) \
                        : -_e_;                                                       \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* An error we invent (not from errno) is marked so readers know no syscall failed. */
#define SYNTHETIC_ERRNO(e) (e)
#define log_oom() log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory.")
