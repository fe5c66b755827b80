/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every command-line tool shares: its messages ("prog: message", no pid), the progress display,
 * the confirmation prompt, JSON string output and escaping of untrusted text for a terminal. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every program (README "Exit status"). */
#define EXIT_USAGE 2

/* For CLIs: log lines become "prog: message" on stderr, no pid, level from $BISTRO_LOG_LEVEL. */
void cli_setup(const char *prog);

typedef struct CliProgress {
        const char *indent; /* put before every line: "" or "  " */
        bool tty;           /* stderr is a terminal: one redrawn line; else a line per stage and per 10% */
        bool quiet;         /* draw nothing (warnings are still shown) */
        bool shown;         /* a redrawn line is on screen */
        char stage[129];
        int last_decile;
} CliProgress;

void cli_progress_init(CliProgress *p, const char *indent, bool quiet);
/* Draws the stage with a bar when total > 0 and bar is set, else the stage name alone. The stage is
 * guest- or daemon-provided text: it is shown escaped. */
void cli_progress_update(CliProgress *p, const char *stage, uint64_t done, uint64_t total, bool bar);
/* A message between progress lines ("warning: ..."): ends a redrawn line first. */
void cli_progress_message(CliProgress *p, const char *message);
/* Ends the redrawn line, if one is on screen. */
void cli_progress_end(CliProgress *p);

/* Asks "question [y/N] " on stderr and reads an answer from stdin. 1 for yes, 0 for no or EOF,
 * -ENOTTY when stdin is not a terminal (the caller says which option skips the question). */
int cli_confirm(const char *question);

/* Writes s as a JSON string, quoted and escaped (controls as \uXXXX). s must be valid UTF-8. */
void json_write_string(FILE *f, const char *s);

/* A copy of n bytes of untrusted text that is safe to print on a terminal: C0 controls (but \n and \t
 * when keep_newlines), DEL, C1 controls (U+0080..U+009F) and invalid UTF-8 become "\xNN" (so an escape
 * sequence such as OSC 52 is shown, not obeyed). NULL on OOM. */
char *escape_for_terminal(const char *s, size_t n, bool keep_newlines);
