/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Container operations of tremplin (docs/design/containers.md, "Guest layout"). Each runs in a
 * worker process forked for one connection; they block (liblxc, btrfs, the image stream) and
 * never touch the main loop. Errors come back as a negative errno plus, where it helps, a message
 * in *reterr_message (tremplin-error.h). Creation is in tremplin-import.h. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "message-type.h"
#include "tremplin-meta.h"

struct lxc_container;

/* The tail of the LXC log put into a start error: whole lines, at most this many bytes. */
#define LXC_LOG_TAIL_MAX 3072u

/* Fills info (its strings allocated: container_info_done() frees them) from the meta and, when c
 * is not NULL, liblxc's view of the container. -ENOMEM leaves info empty. */
int container_fill_info(
        Bistro__Tremplin__ContainerInfo *info,
        const char *name,
        const ContainerMeta *m,
        struct lxc_container *c);

/* The same for a container known to be running with init_pid, without asking liblxc (the
 * fork-less StartContainer, tremplin-fast.h). */
int container_fill_running_info(
        Bistro__Tremplin__ContainerInfo *info, const char *name, const ContainerMeta *m, pid_t init_pid);

typedef struct StartResult {
        bool user_ready;   /* the requested user exists in the container */
        bool user_created; /* ... and was created by this start */
        bool started;      /* the container was stopped and this call started it */
} StartResult;

/* Starts the container (a running one is left as it is) and, when user is not empty, makes sure
 * the user exists in it, once: the meta remembers it. */
int container_start(
        const Bistro__Tremplin__StartContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        StartResult *ret_result,
        char **reterr_message);
int container_stop(const char *name, bool force, char **reterr_message);
/* AddShare / RemoveShare on a running container (-ESRCH otherwise): tremplin-share.h. */
int container_add_share(const Bistro__Tremplin__AddShareRequest *req, char **reterr_message);
int container_remove_share(const Bistro__Tremplin__RemoveShareRequest *req, char **reterr_message);
int container_delete(const char *name, char **reterr_message);
int container_get_info(const char *name, Bistro__Tremplin__ContainerInfo *info, char **reterr_message);
/* *ret is an array of n infos (free with container_infos_free). */
int container_list(Bistro__Tremplin__ContainerInfo ***ret, size_t *ret_n, char **reterr_message);
void container_info_done(Bistro__Tremplin__ContainerInfo *info);
void container_infos_free(Bistro__Tremplin__ContainerInfo **l, size_t n);

/* The last whole lines of text (n bytes), at most max bytes of them: a pointer into text. */
const char *log_tail_lines(const char *text, size_t n, size_t max);

/* Stops every running container: the halt signal to all, up to timeout_ms, then kill. */
void containers_stop_all(int timeout_ms);

/* SetTimezone: remembers the zone (TIMEZONE_STATE_PATH) and applies it to every running container whose
 * zone is tremplin's (tremplin-timezone.h). */
int containers_set_timezone(const char *tz, const void *tzif, size_t len, char **reterr_message);
