/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro files [--vm NAME] [--container NAME] [--mountpoint DIR] [--unmount]: the container's home,
 * as its default user, at ~/Bistro/<container>. The container is started as for a shell; cicerone
 * asks the container's garcon for an sftp-server and passes us the connected stream; sshfs runs in
 * passive mode on it, in its own session, and outlives us. When the VM stops the stream ends, and
 * sshfs exits and unmounts (lazily when busy): no hung mount (docs/design/files.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-app.h"
#include "bistro-files-args.h"
#include "bistro-files.h"
#include "bistro-start.h"
#include "cli-util.h"
#include "fd-util.h"
#include "log.h"
#include "main-func.h"
#include "mountinfo-util.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "wire.h"

#define GARCON_WAIT_MS (180 * 1000) /* a cold container under TCG, as --app */
#define CALL_TIMEOUT_MS (GARCON_WAIT_MS + 30 * 1000)
#define MOUNT_WAIT_USEC (30 * USEC_PER_SEC)
#define FUSERMOUNT_TIMEOUT_USEC (30 * USEC_PER_SEC)

static const char *arg_vm, *arg_container;

/* Ours: "bistro:VM/CONTAINER" is the fsname we give sshfs. */
static int fsname(char **ret) {
        return asprintf(ret, "bistro:%s/%s", arg_vm, arg_container) < 0 ? -ENOMEM : 0;
}

/* 1 when our mount is at path, 0 when nothing is, -EEXIST (logged) when something else is. */
static int our_mount(const char *path) {
        _cleanup_free_ char *fstype = NULL, *source = NULL, *want = NULL;
        int r;

        r = mountinfo_find(NULL, path, &fstype, &source);
        if (r < 0)
                return log_error_errno(r, "Cannot read /proc/self/mountinfo: %m");
        if (r == 0)
                return 0;
        if (fsname(&want) < 0)
                return log_oom();
        if (!streq(fstype, "fuse.sshfs") || !streq(source, want))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EEXIST), "%s is mounted already, and not by bistro files (%s %s).",
                        path, fstype, source);
        return 1;
}

/* fusermount3 -u [-z] path. */
static int fusermount_unmount(const char *path, bool lazy) {
        _cleanup_free_ char *output = NULL;
        char *argv[] = { (char *) "fusermount3",
                         (char *) "-u",
                         lazy ? (char *) "-z" : (char *) "--",
                         lazy ? (char *) "--" : (char *) path,
                         lazy ? (char *) path : NULL,
                         NULL };
        int r;

        r = spawn_capture(
                argv,
                &(SpawnOptions){ .stdin_fd = -EBADF,
                                 .merge_stderr = true,
                                 .timeout = FUSERMOUNT_TIMEOUT_USEC,
                                 .close_all_fds = true },
                &output);
        if (r == 0)
                return 0;
        if (r > 0 && output && strstr(output, "busy"))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EBUSY),
                        "%s is busy: a program has a file or directory open in it (a shell's working "
                        "directory counts). Close it and try again.",
                        path);
        if (r == 127)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT),
                        "fusermount3 is missing: install the Debian package fuse3.");
        if (output)
                output[strcspn(output, "\n")] = '\0';
        return log_error_errno(
                r < 0 ? r : SYNTHETIC_ERRNO(EIO), "fusermount3 -u %s failed: %s", path,
                output && output[0] ? output : "(no output)");
}

static int check_tools(void) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (find_executable("sshfs", &p) < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "sshfs is missing: install the Debian package sshfs.");
        p = mfree(p);
        if (find_executable("fusermount3", &p) < 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT),
                        "fusermount3 is missing: install the Debian package fuse3.");
        fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(
                        errno,
                        "Cannot use /dev/fuse (%m): FUSE must be available to you (the fuse module loaded, "
                        "the Debian package fuse3 installed).");
        return 0;
}

static int run_unmount(const char *path) {
        int r;

        r = our_mount(path);
        if (r < 0)
                return r;
        if (r == 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT),
                        "Nothing is mounted at %s: the files of %s are not mounted.", path, arg_container);
        r = fusermount_unmount(path, false);
        if (r < 0)
                return r;
        bistro_announce("Unmounted %s.", path);
        return 0;
}

/* The sftp stream: cicerone has garcon start an sftp-server and passes the connection on. */
static int open_sftp(int *ret_fd) {
        Bistro__Cicerone__OpenSftpRequest req = BISTRO__CICERONE__OPEN_SFTP_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        req.vm_name = (char *) arg_vm;
        req.container_name = (char *) arg_container;
        req.wait_ms = GARCON_WAIT_MS;
        r = bistro_connect_cicerone(&fd);
        if (r < 0)
                return r;
        r = wire_call_sync_fd(
                fd, BISTRO__MESSAGE_TYPE__CICERONE_OPEN_SFTP_REQUEST, &req.base, BISTRO__MESSAGE_TYPE__EMPTY,
                CALL_TIMEOUT_MS, ret_fd, &rtype, &reply);
        if (r < 0) {
                const char *m = reply ? wire_error_message(reply) : NULL;
                _cleanup_free_ char *e = m ? escape_for_terminal(m, strlen(m), true) : NULL;

                return log_error_errno(
                        r, "Cannot open the files of %s: %s", arg_container, e ?: strerror(-r));
        }
        return 0;
}

/* sshfs's stderr: $XDG_RUNTIME_DIR/bistro/files-CONTAINER@VM.log, from this mount on. */
static int open_log(char **ret_path) {
        _cleanup_free_ char *runtime = NULL, *name = NULL, *path = NULL;
        int fd, r;

        r = bistro_runtime_dir(&runtime);
        if (r < 0)
                return r;
        if (asprintf(&name, "files-%s@%s.log", arg_container, arg_vm) < 0)
                return -ENOMEM;
        path = path_join(runtime, name);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        *ret_path = TAKE_PTR(path);
        return fd;
}

/* sshfs in passive mode on the stream, in the foreground of its own session (it outlives us; passive
 * mode does not daemonize), until its mount shows up. */
static int start_sshfs(int sftp_fd, const char *path) {
        _cleanup_free_ char *opts = NULL, *source = NULL, *log_path = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        usec_t deadline;
        pid_t pid;
        int r;

        /* idmap=user: the container user's files appear as ours. dcache_timeout=2: what the container
         * changes shows within 2 s, while listings still coalesce a file manager's bursts. No
         * allow_other: the mount is ours alone. */
        if (fsname(&source) < 0 ||
            asprintf(&opts, "passive,idmap=user,dir_cache=yes,dcache_timeout=2,fsname=%s", source) < 0)
                return log_oom();
        log_fd = open_log(&log_path);
        if (log_fd < 0)
                log_warning_errno(log_fd, "Cannot open a log for sshfs, its messages are lost: %m");
        r = fd_nonblock(sftp_fd, false);
        if (r < 0)
                return log_error_errno(r, "Cannot make the sftp stream blocking: %m");
        int keep[] = { sftp_fd, log_fd };
        r = safe_fork_full(
                "sshfs", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIO, keep,
                log_fd >= 0 ? 2 : 1, &pid);
        if (r < 0)
                return log_error_errno(r, "Cannot start sshfs: %m");
        if (r == 0) {
                _cleanup_free_ char *remote = NULL;

                /* The host part is unused in passive mode; an empty path is the server's working
                 * directory, the user's home. */
                if (asprintf(&remote, "%s:", arg_container) < 0)
                        _exit(1);
                char *argv[] = { (char *) "sshfs", (char *) "-f", (char *) "-o", opts,
                                 remote,           (char *) path, NULL };
                if (dup2(sftp_fd, STDIN_FILENO) < 0 || dup2(sftp_fd, STDOUT_FILENO) < 0 ||
                    (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) < 0))
                        _exit(1);
                execvp("sshfs", argv);
                _exit(127);
        }

        deadline = now_usec(CLOCK_MONOTONIC) + MOUNT_WAIT_USEC;
        for (;;) {
                struct timespec ts;
                int status;

                r = our_mount(path);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EIO),
                                "sshfs failed (exit status %d); its messages are in %s.",
                                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                                log_path ?: "no log");
                if (now_usec(CLOCK_MONOTONIC) > deadline) {
                        sigkill_wait(pid);
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ETIMEDOUT), "sshfs did not mount %s within %llu s; see %s.",
                                path, (unsigned long long) (MOUNT_WAIT_USEC / USEC_PER_SEC),
                                log_path ?: "no log");
                }
                (void) nanosleep(timespec_store_usec(&ts, 50 * USEC_PER_MSEC), NULL);
        }
}

static int run_mount(const char *path, const char *user) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int sftp_fd = -EBADF;
        StartProgress sp = {};
        struct stat st;
        int r;

        r = check_tools();
        if (r < 0)
                return r;
        r = our_mount(path);
        if (r < 0)
                return r;
        if (r > 0) {
                if (stat(path, &st) >= 0) {
                        bistro_announce("The files of %s are mounted at %s already.", arg_container, path);
                        return 0;
                }
                /* sshfs is gone (killed) but its mount stayed: ENOTCONN. Replace it. */
                log_info("Removing the dead mount at %s (%s).", path, strerror(errno));
                r = fusermount_unmount(path, true);
                if (r < 0)
                        return r;
        }
        r = mkdir_p(path, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", path);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return log_error_errno(SYNTHETIC_ERRNO(ENOTDIR), "%s is not a directory.", path);

        /* Only the default container is created on first use, as the Terminal does; files of a
         * container that does not exist are an error, not a new container. */
        r = bistro_ensure_container(
                arg_vm, arg_container, user, streq(arg_container, BISTRO_FILES_DEFAULT_CONTAINER), &sp,
                &resp);
        if (r < 0)
                return r;
        bistro_announce("Opening the files of %s…", arg_container);
        r = open_sftp(&sftp_fd);
        if (r < 0)
                return r;
        r = start_sshfs(sftp_fd, path);
        if (r < 0)
                return r;
        bistro_announce("Mounted the home directory of %s at %s.", arg_container, path);
        return 0;
}

int bistro_files_run(int argc, char *argv[], const char *user) {
        _cleanup_free_ char *path = NULL;
        FilesArgs args;
        int r;

        r = bistro_files_parse_argv(argc, argv, &args);
        if (r <= 0)
                return r;
        arg_vm = args.vm;
        arg_container = args.container;
        if (args.mountpoint)
                path = strdup(args.mountpoint);
        else {
                r = bistro_files_mountpoint(arg_vm, arg_container, &path);
                if (r == -EINVAL)
                        return log_error_errno(r, "$HOME is not set to an absolute path; use --mountpoint.");
        }
        if (!path)
                return log_oom();
        return args.unmount ? run_unmount(path) : run_mount(path, user);
}
