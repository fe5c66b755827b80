/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenUrl: a container's link opened on the host with xdg-open (or gio). Rate-limited per
 * container and overall, so that a container cannot flood the desktop with windows. */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "cicerone.h"
#include "log.h"
#include "path-util.h"

#define OPEN_BURST 5.0 /* links per container: burst, then one per OPEN_PERIOD */
#define OPEN_PERIOD_USEC (2 * USEC_PER_SEC)
#define OPEN_GLOBAL_BURST 10.0
#define OPEN_GLOBAL_PERIOD_USEC (1 * USEC_PER_SEC)

int handle_open_url(
        Container *ct, WireConn *conn, uint64_t id, const Bistro__Container__OpenUrlRequest *req) {
        Cicerone *c = ct->vm->c;
        _cleanup_free_ char *opener = NULL;
        char *argv[4] = {};
        int r;

        if (!bucket_take(&ct->opens, OPEN_BURST, OPEN_PERIOD_USEC) ||
            !bucket_take(&c->opens, OPEN_GLOBAL_BURST, OPEN_GLOBAL_PERIOD_USEC)) {
                log_info("VM %s, container %s: refused to open a link: rate limit.", ct->vm->name, ct->name);
                return wire_reply_error(conn, id, -EBUSY, "too many links opened, slow down");
        }
        if (find_executable("xdg-open", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = req->url;
        } else if (find_executable("gio", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = (char *) "open";
                argv[2] = req->url;
        } else {
                log_info(
                        "VM %s, container %s: refused to open a link: neither xdg-open nor gio on PATH.",
                        ct->vm->name, ct->name);
                return wire_reply_error(conn, id, -ENOENT, "no xdg-open or gio on the host");
        }
        r = job_spawn(c, "xdg-open", argv);
        if (r == -EBUSY) {
                log_info(
                        "VM %s, container %s: refused to open a link: %u openers still running.",
                        ct->vm->name, ct->name, JOBS_MAX);
                return wire_reply_error(conn, id, -EBUSY, "too many links opened, slow down");
        }
        if (r < 0)
                return wire_reply_error(conn, id, r, "cannot run %s", opener);
        log_info(
                "VM %s, container %s: opening a %.*s link on the host.", ct->vm->name, ct->name,
                (int) strcspn(req->url, ":"), req->url);
        return reply_empty(conn, id);
}
