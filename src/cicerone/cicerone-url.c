/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenUrl: a container's link, or a file of one of its shares, opened on the host with xdg-open (or
 * gio). Rate-limited per container and overall, so that a container cannot flood the desktop with
 * windows. */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "cicerone.h"
#include "log.h"
#include "path-util.h"
#include "share-open.h"
#include "share-url.h"

#define OPEN_BURST 5.0 /* links per container: burst, then one per OPEN_PERIOD */
#define OPEN_PERIOD_USEC (2 * USEC_PER_SEC)
#define OPEN_GLOBAL_BURST 10.0
#define OPEN_GLOBAL_PERIOD_USEC (1 * USEC_PER_SEC)

/* The host path of a share URL, if the share is the container's. Replies to conn and returns
 * 0 (nothing more to do) when refused. */
static int share_file_resolve(Container *ct, WireConn *conn, uint64_t id, const char *url, char **ret) {
        _cleanup_free_ char *name = NULL, *rest = NULL;
        const VmShare *s = NULL;
        int r;

        r = share_url_split(url, &name, &rest);
        if (r < 0) /* the validator let it through */
                return wire_reply_error(conn, id, r, "not a shared file");
        for (size_t i = 0; i < ct->vm->n_shares; i++)
                if (streq(ct->vm->shares[i].name, name) && streq(ct->vm->shares[i].container, ct->name))
                        s = &ct->vm->shares[i];
        if (!s) {
                log_info(
                        "VM %s, container %s: refused to open a file: no share '%s' for it.", ct->vm->name,
                        ct->name, name);
                return wire_reply_error(
                        conn, id, -EACCES, "%s/%s is not a share of this container", SHARE_MOUNT_DIR, name);
        }
        r = share_host_path(s->host_path, rest, ret);
        if (r < 0) {
                log_info(
                        "VM %s, container %s: refused to open a file of share %s: %s.", ct->vm->name,
                        ct->name, name, strerror(-r));
                return wire_reply_error(
                        conn, id, r, "%s",
                        r == -ELOOP    ? "symbolic links are not followed on the host"
                        : r == -EXDEV  ? "the file is on another file system of the host"
                        : r == -EACCES ? "programs and launchers are not opened on the host"
                        : r == -EPERM  ? "only files and folders can be opened"
                        : r == -ENOENT ? "no such file on the host"
                                       : "the file cannot be opened on the host");
        }
        return 1;
}

int handle_open_url(
        Container *ct, WireConn *conn, uint64_t id, const Bistro__Container__OpenUrlRequest *req) {
        Cicerone *c = ct->vm->c;
        _cleanup_free_ char *opener = NULL, *file = NULL;
        const char *what = req->url;
        char *argv[4] = {};
        int r;

        if (!bucket_take(&ct->opens, OPEN_BURST, OPEN_PERIOD_USEC) ||
            !bucket_take(&c->opens, OPEN_GLOBAL_BURST, OPEN_GLOBAL_PERIOD_USEC)) {
                log_info("VM %s, container %s: refused to open a link: rate limit.", ct->vm->name, ct->name);
                return wire_reply_error(conn, id, -EBUSY, "too many links opened, slow down");
        }
        if (share_url_ok(req->url)) {
                r = share_file_resolve(ct, conn, id, req->url, &file);
                if (r <= 0)
                        return r;
                what = file;
        }
        if (find_executable("xdg-open", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = (char *) what;
        } else if (find_executable("gio", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = (char *) "open";
                argv[2] = (char *) what;
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
        if (file)
                log_info("VM %s, container %s: opening a shared file on the host.", ct->vm->name, ct->name);
        else
                log_info(
                        "VM %s, container %s: opening a %.*s link on the host.", ct->vm->name, ct->name,
                        (int) strcspn(req->url, ":"), req->url);
        return reply_empty(conn, id);
}
