/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "string-util.h"

/* vshd (docs/design/vsh.md): one forked process per vsh session. vshd_session_run() is the whole
 * session on one connected socket: SetupConnectionRequest, start the process (in the VM or, through
 * liblxc, in a container), SetupConnectionResponse, then the relay until the exit status is sent. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "message-type.h"

#include "bistro-ports.h"

#define VSHD_SETUP_TIMEOUT_MS 10000
#define VSHD_ERROR_MAX 1024u

typedef Bistro__Vsh__SetupConnectionRequest VshSetup;

/* What the process is started with: fds 0, 1, 2 (the pty slave three times, or pipe ends) and a
 * close-on-exec pipe on which the child reports why it could not exec (nothing: it did). */
typedef struct VshdExec {
        const VshSetup *setup;
        int stdio[3];
        bool tty;
        bool in_container;
        int error_fd;
} VshdExec;

/* Runs in the new process (forked in the VM, or attached to a container): session, controlling
 * tty, user, groups, cwd, environment, exec. Writes the reason to error_fd and _exit(127)s on
 * failure. Never returns. */
_noreturn_ void vshd_exec_child(const VshdExec *x);

/* Starts the process in the container x->setup->container. With x->tty the pty is made here, in
 * the container's own devpts instance (x->stdio is not used then), and its master, which never
 * enters the container, is returned in *ret_master; without, the process gets x->stdio and
 * ret_master may be NULL. Returns 0 with *ret_pid, or a negative errno with a message for the
 * client in *reterr_message. */
int vshd_spawn_container(const VshdExec *x, int *ret_master, pid_t *ret_pid, char **reterr_message);

/* A new pty from the devpts instance devpts_fd (a directory fd, O_PATH is enough, on the root of
 * the instance): its "ptmx" node is opened (no symlink followed; it must be the ptmx device on
 * devpts, else -ENOTTY), the slave unlocked and opened through the master (TIOCGPTPEER, no path
 * lookup), the window size set. Both fds close-on-exec, the slave O_NOCTTY. The slave's owner is
 * who opened ptmx, its group and mode those of the instance's mount options. Returns 0 or -errno;
 * does not log. */
struct winsize;
int vshd_pty_open_in(int devpts_fd, const struct winsize *w, int *ret_master, int *ret_slave);

/* Maps id (kind 'u' or 'g') of a container to the VM's through idmap, liblxc's "lxc.idmap" text:
 * lines "u|g NSID HOSTID RANGE". Returns 0 with *ret_host_id; -ESRCH when maps of that kind exist
 * but none holds id; -EBADMSG for a malformed line. No map of that kind (a container without a
 * user namespace): the id itself. */
int vshd_idmap_lookup(const char *idmap, char kind, uint32_t id, uint32_t *ret_host_id);

/* The frame header and protobuf prefix of a GuestMessage carrying n bytes of stream data, for
 * VSHD_DATA_FAST_MIN <= n <= PROTO_VSH_DATA_MAX: exactly the bytes frame_encode() produces before
 * the data (the unit tests compare them). Lets the session read output straight into its send
 * buffer. */
#define VSHD_DATA_PREFIX 34u
#define VSHD_DATA_FAST_MIN 16384u
void vshd_data_frame_prefix(uint8_t out[static VSHD_DATA_PREFIX], uint32_t stream, size_t n);

/* Runs a session on fd (connected, owned). Returns the session process's exit status. */
int vshd_session_run(int fd);

/* The passwd entry for name (empty: the default user: uid 1000 when passwd has one and
 * prefer_1000, else uid fallback_uid) read from path with fgetpwent(). Fills the strings into buf.
 * Returns 0, -ESRCH when there is no such user, -errno when path cannot be read. */
struct passwd;
int vshd_lookup_user(
        const char *path,
        const char *name,
        bool prefer_1000,
        uid_t fallback_uid,
        struct passwd *ret,
        char *buf,
        size_t buf_size);
