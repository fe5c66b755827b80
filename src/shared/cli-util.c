/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <unistd.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

void cli_setup(const char *prog) {
        log_set_ident(prog);
        log_set_show_pid(false);
        log_set_target(LOG_TARGET_STDERR);
        log_parse_environment();
}

void cli_progress_init(CliProgress *p, const char *indent, bool quiet) {
        *p = (CliProgress){
                .indent = indent ?: "", .tty = isatty(STDERR_FILENO), .quiet = quiet, .last_decile = -1
        };
}

void cli_progress_end(CliProgress *p) {
        if (p->shown)
                fputc('\n', stderr);
        p->shown = false;
}

void cli_progress_message(CliProgress *p, const char *message) {
        _cleanup_free_ char *m = escape_for_terminal(message, strlen(message), false);

        cli_progress_end(p);
        fprintf(stderr, "%s%s\n", p->indent, m ?: "?");
}

void cli_progress_update(CliProgress *p, const char *stage, uint64_t done, uint64_t total, bool bar) {
        _cleanup_free_ char *s = NULL;
        bool new_stage = !streq(p->stage, stage);
        char d[32], t[32];

        if (p->quiet)
                return;
        if (new_stage) {
                strscpy(p->stage, stage, sizeof(p->stage));
                p->last_decile = -1;
        }
        s = escape_for_terminal(p->stage, strlen(p->stage), false);
        if (!s)
                return;
        bar = bar && total > 0;
        if (bar && done > total)
                done = total;
        format_bytes(done, d, sizeof(d));
        format_bytes(total, t, sizeof(t));
        if (p->tty) {
                if (bar) {
                        int pct = (int) (done * 100 / total), w = pct / 4;

                        fprintf(stderr, "\r%s%-12.40s [%.*s%*s] %3d%% %s / %s   ", p->indent, s, w,
                                "=========================", 25 - w, "", pct, d, t);
                } else
                        fprintf(stderr, "\r%s%-60.100s", p->indent, s);
                p->shown = true;
                return;
        }
        /* Not a terminal: a line per stage and per 10%, no carriage returns in logs. */
        if (bar) {
                int decile = (int) (done * 10 / total);

                if (decile != p->last_decile) {
                        fprintf(stderr, "%s%s: %d%% (%s / %s)\n", p->indent, s, decile * 10, d, t);
                        p->last_decile = decile;
                }
        } else if (new_stage)
                fprintf(stderr, "%s%s\n", p->indent, s);
}

int cli_confirm(const char *question) {
        char line[64];

        if (!isatty(STDIN_FILENO))
                return -ENOTTY;
        fprintf(stderr, "%s [y/N] ", question);
        fflush(stderr);
        if (!fgets(line, sizeof(line), stdin))
                return 0;
        return line[0] == 'y' || line[0] == 'Y';
}

void json_write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c == '"' || *c == '\\')
                        fprintf(f, "\\%c", *c);
                else if (*c == '\n')
                        fputs("\\n", f);
                else if (*c == '\t')
                        fputs("\\t", f);
                else if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\u%04x", *c);
                else
                        fputc(*c, f);
        }
        fputc('"', f);
}

char *escape_for_terminal(const char *s, size_t n, bool keep_newlines) {
        const unsigned char *u = (const unsigned char *) s;
        char *out, *o;

        if (n > (SIZE_MAX - 1) / 4)
                return NULL;
        out = o = malloc(n * 4 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                unsigned char c = u[i];

                if (c >= 0x20 && c < 0x7f) {
                        *o++ = (char) c;
                        i++;
                } else if (keep_newlines && (c == '\n' || c == '\t')) {
                        *o++ = (char) c;
                        i++;
                } else if (c >= 0x80) {
                        size_t l = c >= 0xc0 ? utf8_sequence_len(s + i, n - i, NULL) : 0;

                        /* C2 80..C2 9F encode the C1 controls (CSI, OSC, ...). */
                        if (l == 0 || (l == 2 && c == 0xc2 && u[i + 1] <= 0x9f)) {
                                size_t k = l ?: 1;
                                for (size_t j = 0; j < k; j++)
                                        o += sprintf(o, "\\x%02x", u[i + j]);
                                i += k;
                        } else {
                                memcpy(o, u + i, l);
                                o += l;
                                i += l;
                        }
                } else {
                        o += sprintf(o, "\\x%02x", c);
                        i++;
                }
        }
        *o = 0;
        return out;
}
