/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm: starts and supervises one VM: vsockd (the vhost-user vsock device), slirpd (the network) and
 * a jailed QEMU microvm. See docs/design/vmm.md for the sandbox, the exit statuses and the runtime dir.
 * This file: the command line and the order of setup; vmm-supervise.c runs the VM, vmm-jail.c
 * builds QEMU's jail, vmm-accel.c picks the accelerator. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-lookup.h"
#include "path-util.h"
#include "seneschal-control.h"
#include "socket-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vmm-accel.h"
#include "vmm-jail.h"
#include "vmm-net.h"
#include "vmm-qemu.h"
#include "vmm-qmp.h"
#include "vmm-console.h"
#include "vmm-supervise.h"
#include "vmm-tsc.h"

static const char *arg_name = NULL;
static const char *arg_kernel = NULL;
static const char *arg_initrd = NULL;
static const char *arg_append = NULL;
static uint64_t arg_mem = 512ULL << 20;
static unsigned arg_cpus = 1;
static const char *arg_runtime_dir = NULL;
static const char *arg_vsockd = NULL;
static bool arg_vsock = true;
typedef enum NetMode {
        NET_NONE,
        NET_USER,   /* QEMU's slirp: QEMU stays in the host's network namespace (tests, benches) */
        NET_SLIRPD, /* slirpd, QEMU in an empty network namespace */
} NetMode;
static NetMode arg_net = NET_NONE;
static bool arg_host_loopback = false;
static const char *arg_slirpd = NULL;
static bool arg_shares = false;
static const char *arg_seneschal = NULL;

static Accel arg_accel = ACCEL_AUTO;
static unsigned arg_tb_size = QEMU_TB_SIZE_DEFAULT_MIB;
static const char *arg_qemu = NULL;
static uint64_t arg_stop_timeout_usec = 20 * USEC_PER_SEC;
static uint64_t arg_console_max = CONSOLE_LOG_MAX_DEFAULT;
static QemuDisk arg_disks[QEMU_DISKS_MAX]; /* host paths */
static size_t arg_n_disks = 0;
static QemuHostfwd arg_hostfwds[QEMU_HOSTFWDS_MAX];
static size_t arg_n_hostfwds = 0;

static const char *net_mode_to_string(NetMode m) {
        return m == NET_SLIRPD ? (arg_host_loopback ? "slirpd (host loopback)" : "slirpd")
               : m == NET_USER ? "user"
                               : "none";
}

/* A device process: the option's path, else as every program finds a sibling
 * (bistro_find_program()): $env, the build tree's when we run from it, or the installed one. -ENOENT
 * when the chosen one is not executable. */
static int find_device(const char *arg, const char *name, const char *env, char **ret) {
        _cleanup_free_ char *p = NULL;

        if (!arg)
                return bistro_find_program(name, env, ret);
        p = strdup(arg);
        if (!p)
                return -ENOMEM;
        if (access(p, X_OK) < 0)
                return -errno;
        *ret = TAKE_PTR(p);
        return 0;
}

static void help(void) {
        printf("Usage: vmm --name NAME --kernel FILE [--initrd FILE] --runtime-dir DIR [OPTIONS]\n"
               "Starts one VM: vsockd and a jailed QEMU microvm; runs until the VM stops.\n\n"
               "  --append ARGS        extra kernel command line\n"
               "  --mem SIZE           guest RAM (default 512M)\n"
               "  --cpus N             vCPUs (default 1)\n"
               "  --disk ro:PATH|rw:PATH  a virtio-blk disk (raw or qcow2), repeatable\n"
               "  --net slirpd|user|none  slirpd (QEMU without host network), QEMU's user network,\n"
               "                       or none (default none)\n"
               "  --host-loopback      with slirpd: the gateway reaches the host's 127.0.0.1 and ::1\n"
               "  --slirpd PATH        the slirpd binary (env BISTRO_SLIRPD)\n"
               "  --hostfwd tcp:H:G    forward 127.0.0.1:H to guest TCP port G (needs --net user)\n"
               "  --accel auto|kvm|tcg (env BISTRO_ACCEL overrides; default auto)\n"
               "  --tb-size MIB        TCG translation cache size (default %u)\n"
               "  --vsockd PATH        the vsockd binary\n"
               "  --no-vsock           no vsock device (and no vsockd)\n"
               "  --shares             host folder sharing (virtio-fs tag " SHARES_TAG "), served by\n"
               "                       seneschal; the VM starts without it if seneschal cannot\n"
               "  --seneschal PATH     the seneschal binary (env BISTRO_SENESCHAL)\n"
               "  --qemu PATH          QEMU binary (env BISTRO_QEMU; default qemu-system-x86_64)\n"
               "  --stop-timeout SEC   how long SIGTERM waits for a guest poweroff (default 20)\n"
               "  --console-max SIZE   cap of console.log and its rotated console.log.1 together\n"
               "                       (default 8M, at least 8K)\n",
               QEMU_TB_SIZE_DEFAULT_MIB);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_NAME = 0x100,
                ARG_KERNEL,
                ARG_INITRD,
                ARG_APPEND,
                ARG_MEM,
                ARG_CPUS,
                ARG_RUNTIME_DIR,
                ARG_DISK,
                ARG_NET,
                ARG_HOST_LOOPBACK,
                ARG_SLIRPD,
                ARG_HOSTFWD,
                ARG_ACCEL,
                ARG_VSOCKD,
                ARG_NO_VSOCK,
                ARG_TB_SIZE,
                ARG_QEMU,
                ARG_STOP_TIMEOUT,
                ARG_CONSOLE_MAX,
                ARG_SHARES,
                ARG_SENESCHAL,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "name", required_argument, NULL, ARG_NAME },
                { "kernel", required_argument, NULL, ARG_KERNEL },
                { "initrd", required_argument, NULL, ARG_INITRD },
                { "append", required_argument, NULL, ARG_APPEND },
                { "mem", required_argument, NULL, ARG_MEM },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "disk", required_argument, NULL, ARG_DISK },
                { "net", required_argument, NULL, ARG_NET },
                { "host-loopback", no_argument, NULL, ARG_HOST_LOOPBACK },
                { "slirpd", required_argument, NULL, ARG_SLIRPD },
                { "hostfwd", required_argument, NULL, ARG_HOSTFWD },
                { "accel", required_argument, NULL, ARG_ACCEL },
                { "vsockd", required_argument, NULL, ARG_VSOCKD },
                { "no-vsock", no_argument, NULL, ARG_NO_VSOCK },
                { "tb-size", required_argument, NULL, ARG_TB_SIZE },
                { "qemu", required_argument, NULL, ARG_QEMU },
                { "stop-timeout", required_argument, NULL, ARG_STOP_TIMEOUT },
                { "console-max", required_argument, NULL, ARG_CONSOLE_MAX },
                { "shares", no_argument, NULL, ARG_SHARES },
                { "seneschal", required_argument, NULL, ARG_SENESCHAL },
                {},
        };
        const char *env;
        uint32_t u;
        int c, r;

        opterr = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_NAME:
                        if (!name_is_valid(optarg, 64))
                                return log_usage_error("Invalid VM name '%s'.", optarg);
                        arg_name = optarg;
                        break;
                case ARG_KERNEL:
                        arg_kernel = optarg;
                        break;
                case ARG_INITRD:
                        arg_initrd = optarg;
                        break;
                case ARG_APPEND:
                        arg_append = optarg;
                        break;
                case ARG_MEM:
                        r = parse_size(optarg, &arg_mem);
                        if (r < 0 || arg_mem < QEMU_MEM_MIN || arg_mem > QEMU_MEM_MAX || arg_mem % (1 << 20))
                                return log_usage_error("Invalid --mem '%s' (whole MiB, 64M..1T).", optarg);
                        break;
                case ARG_CPUS:
                        if (safe_atou32(optarg, &u) < 0 || u < 1 || u > QEMU_CPUS_MAX)
                                return log_usage_error("Invalid --cpus '%s'.", optarg);
                        arg_cpus = u;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_DISK:
                        if (arg_n_disks >= QEMU_DISKS_MAX)
                                return log_usage_error("Too many disks.");
                        if (startswith(optarg, "ro:"))
                                arg_disks[arg_n_disks].read_only = true;
                        else if (!startswith(optarg, "rw:"))
                                return log_usage_error("--disk needs ro:PATH or rw:PATH.");
                        arg_disks[arg_n_disks++].path = optarg + 3;
                        break;
                case ARG_NET:
                        if (streq(optarg, "slirpd"))
                                arg_net = NET_SLIRPD;
                        else if (streq(optarg, "user"))
                                arg_net = NET_USER;
                        else if (streq(optarg, "none"))
                                arg_net = NET_NONE;
                        else
                                return log_usage_error("Invalid --net '%s'.", optarg);
                        break;
                case ARG_HOST_LOOPBACK:
                        arg_host_loopback = true;
                        break;
                case ARG_SLIRPD:
                        arg_slirpd = optarg;
                        break;
                case ARG_HOSTFWD:
                        if (arg_n_hostfwds >= QEMU_HOSTFWDS_MAX)
                                return log_usage_error("Too many --hostfwd.");
                        if (qemu_parse_hostfwd(optarg, &arg_hostfwds[arg_n_hostfwds]) < 0)
                                return log_usage_error("Invalid --hostfwd '%s'.", optarg);
                        arg_n_hostfwds++;
                        break;
                case ARG_ACCEL:
                        arg_accel = accel_from_string(optarg);
                        if (arg_accel < 0)
                                return log_usage_error("Invalid --accel '%s'.", optarg);
                        break;
                case ARG_VSOCKD:
                        arg_vsockd = optarg;
                        break;
                case ARG_NO_VSOCK:
                        arg_vsock = false;
                        break;
                case ARG_SHARES:
                        arg_shares = true;
                        break;
                case ARG_SENESCHAL:
                        arg_seneschal = optarg;
                        break;
                case ARG_TB_SIZE:
                        if (safe_atou32(optarg, &u) < 0 || u < 1 || u > 4096)
                                return log_usage_error("Invalid --tb-size '%s'.", optarg);
                        arg_tb_size = u;
                        break;
                case ARG_QEMU:
                        arg_qemu = optarg;
                        break;
                case ARG_STOP_TIMEOUT:
                        if (safe_atou32(optarg, &u) < 0 || u > 3600)
                                return log_usage_error("Invalid --stop-timeout '%s'.", optarg);
                        arg_stop_timeout_usec = (uint64_t) u * 1000000ULL;
                        break;
                case ARG_CONSOLE_MAX:
                        if (parse_size(optarg, &arg_console_max) < 0 ||
                            arg_console_max < CONSOLE_LOG_MAX_MIN || arg_console_max > (UINT64_C(1) << 40))
                                return log_usage_error("Invalid --console-max '%s' (8K..1T).", optarg);
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument '%s'.", argv[optind]);
        if (!arg_name || !arg_kernel || !arg_runtime_dir)
                return log_usage_error("--name, --kernel and --runtime-dir are required.");
        if (arg_n_hostfwds > 0 && arg_net != NET_USER)
                return log_usage_error("--hostfwd needs --net user.");
        if (arg_host_loopback && arg_net != NET_SLIRPD)
                return log_usage_error("--host-loopback needs --net slirpd.");
        env = getenv("BISTRO_ACCEL");
        if (env && *env) {
                arg_accel = accel_from_string(env);
                if (arg_accel < 0)
                        return log_usage_error("Invalid $BISTRO_ACCEL '%s'.", env);
        }
        if (!arg_qemu)
                arg_qemu = getenv("BISTRO_QEMU");
        return 1;
}

static int setup_runtime_dir(int *ret_lock, Vmm *v) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = mkdir_p(arg_runtime_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create runtime dir '%s': %m", arg_runtime_dir);
        /* One vmm per runtime dir: a second one would take over the first one's sockets. The lock
         * lives as long as this fd, i.e. as long as we do. */
        fd = open(arg_runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open runtime dir '%s': %m", arg_runtime_dir);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EBUSY), "Runtime dir '%s' is in use by another vmm.",
                                arg_runtime_dir);
                return log_error_errno(errno, "Cannot lock runtime dir '%s': %m", arg_runtime_dir);
        }
        v->vsock_path = path_join(arg_runtime_dir, "vsock.sock");
        v->vhost_user_path = path_join(arg_runtime_dir, "vhost-user.sock");
        v->qmp_path = path_join(arg_runtime_dir, "qmp.sock");
        v->console_path = path_join(arg_runtime_dir, "console.log");
        v->virtiofs_path = path_join(arg_runtime_dir, "virtiofs.sock");
        v->seneschal_path = path_join(arg_runtime_dir, "seneschal.sock");
        if (!v->vsock_path || !v->vhost_user_path || !v->qmp_path || !v->console_path || !v->virtiofs_path ||
            !v->seneschal_path)
                return log_oom();
        *ret_lock = TAKE_FD(fd);
        return 0;
}

/* Creates the vsock sockets, starts vsockd, waits until it is ready and returns the connected
 * vhost-user socket for QEMU (which therefore needs no socket path in its jail). */
static int start_vsockd(Vmm *v, const char *vsockd) {
        _cleanup_close_ int vu_listen = -EBADF, vs_listen = -EBADF, ready_r = -EBADF, ready_w = -EBADF;
        char cid[16];
        int p[2], r;

        vu_listen = unix_listen(v->vhost_user_path, 1, 0600);
        if (vu_listen < 0)
                return log_error_errno(vu_listen, "Cannot listen on '%s': %m", v->vhost_user_path);
        vs_listen = unix_listen(v->vsock_path, 128, 0600);
        if (vs_listen < 0)
                return log_error_errno(vs_listen, "Cannot listen on '%s': %m", v->vsock_path);
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "pipe: %m");
        ready_r = p[0];
        ready_w = p[1];
        (void) snprintf(cid, sizeof(cid), "%d", VMM_GUEST_CID);
        /* Its fds 3, 4, 5: the vhost-user listener, the hybrid listener, the ready pipe. */
        r = vmm_spawn_device(
                "vsockd",
                STRV_MAKE(
                        vsockd, "--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", v->vsock_path,
                        "--guest-cid", cid, "--ready-fd", "5"),
                (int[]){ vu_listen, vs_listen, ready_w }, 3, &v->vsockd);
        if (r < 0)
                return log_error_errno(r, "Cannot start vsockd: %m");
        ready_w = safe_close(ready_w);
        vu_listen = safe_close(vu_listen);
        vs_listen = safe_close(vs_listen);
        r = vmm_wait_device_ready(ready_r, &v->vsockd);
        if (r < 0)
                return r;
        r = unix_connect(v->vhost_user_path);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to '%s': %m", v->vhost_user_path);
        return r;
}

/* seneschal (shares): the vhost-user listener for its virtiofsd, its control socket and the export
 * directory it mounts over in its own namespace. Returns the connected vhost-user socket for QEMU, or
 * -EBADF (not an error) when seneschal could not start: the VM then runs without shares, as the
 * user would rather have a VM than none (concierge reports it when a share is asked for). */
static int start_seneschal(Vmm *v, const char *seneschal) {
        _cleanup_close_ int vu_listen = -EBADF, ctl_listen = -EBADF, ready_r = -EBADF, ready_w = -EBADF;
        _cleanup_free_ char *export = NULL;
        int p[2], r;

        export = path_join(arg_runtime_dir, "shares");
        if (!export)
                return log_oom();
        if (mkdir(export, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create '%s': %m", export);
        vu_listen = unix_listen(v->virtiofs_path, 1, 0600);
        if (vu_listen < 0)
                return log_error_errno(vu_listen, "Cannot listen on '%s': %m", v->virtiofs_path);
        ctl_listen = unix_listen_type(v->seneschal_path, SOCK_SEQPACKET, 16, 0600);
        if (ctl_listen < 0)
                return log_error_errno(ctl_listen, "Cannot listen on '%s': %m", v->seneschal_path);
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "pipe: %m");
        ready_r = p[0];
        ready_w = p[1];
        r = vmm_spawn_device(
                "seneschal",
                STRV_MAKE(
                        seneschal, "--vhost-user-fd", "3", "--control-fd", "4", "--ready-fd", "5",
                        "--export", export),
                (int[]){ vu_listen, ctl_listen, ready_w }, 3, &v->shares);
        if (r < 0)
                return log_error_errno(r, "Cannot start seneschal: %m");
        ready_w = safe_close(ready_w);
        ctl_listen = safe_close(ctl_listen);
        r = vmm_wait_device_ready(ready_r, &v->shares);
        if (r < 0) {
                vmm_child_kill_and_reap(&v->shares);
                (void) unlink(v->seneschal_path);
                log_warning("VM '%s' starts without shares (see seneschal's message above).", arg_name);
                return -EBADF;
        }
        /* The listener is virtiofsd's, which accepts when QEMU starts: connect now, QEMU gets the fd. */
        r = unix_connect(v->virtiofs_path);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to '%s': %m", v->virtiofs_path);
        return r;
}

/* slirpd on one end of a socketpair; returns QEMU's end. */
static int start_slirpd(Vmm *v, const char *slirpd) {
        _cleanup_close_ int ours = -EBADF, theirs = -EBADF;
        _cleanup_(strv_freep) char **argv = NULL;
        int sp[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return log_error_errno(errno, "socketpair: %m");
        ours = sp[0];
        theirs = sp[1];
        r = slirpd_build_argv(
                &(SlirpdConfig){ .binary = slirpd, .fd = 3, .host_loopback = arg_host_loopback }, &argv);
        if (r < 0)
                return log_error_errno(r, "Cannot build slirpd's command line: %m");
        r = vmm_spawn_device("slirpd", argv, &theirs, 1, &v->net);
        if (r < 0)
                return log_error_errno(r, "Cannot start slirpd: %m");
        if (arg_host_loopback)
                log_warning(
                        "VM '%s': --host-loopback: the guest reaches every service on the host's loopback "
                        "through %s and %s.",
                        arg_name, NET_GATEWAY_IPV4, NET_GATEWAY_IPV6);
        return TAKE_FD(ours);
}

static void log_vm_started(pid_t pid, uint32_t tsc_khz) {
        if (arg_accel == ACCEL_TCG)
                log_info(
                        "VM '%s': QEMU pid %d, accel tcg (tb-size %u MiB, host TSC %" PRIu32
                        " kHz), %" PRIu64 " MiB, %u vCPU%s, vsock %s, net %s.",
                        arg_name, (int) pid, arg_tb_size, tsc_khz, arg_mem >> 20, arg_cpus,
                        arg_cpus > 1 ? "s" : "", arg_vsock ? "on" : "off", net_mode_to_string(arg_net));
        else
                log_info(
                        "VM '%s': QEMU pid %d, accel kvm, %" PRIu64 " MiB, %u vCPU%s, vsock %s, net %s.",
                        arg_name, (int) pid, arg_mem >> 20, arg_cpus, arg_cpus > 1 ? "s" : "",
                        arg_vsock ? "on" : "off", net_mode_to_string(arg_net));
}

static void vmm_donep(Vmm *v) {
        vmm_done(v);
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *qemu = NULL, *vsockd = NULL, *slirpd = NULL,
                            *seneschal = NULL;
        _cleanup_close_ int qmp_listen = -EBADF, vu_client = -EBADF, qmp_peer = -EBADF, dir_lock = -EBADF,
                            net_fd = -EBADF, console_fd = -EBADF, fs_client = -EBADF;
        _cleanup_(strv_freep) char **qemu_argv = NULL;
        _cleanup_(jail_done) Jail jail = {};
        _cleanup_(vmm_donep) Vmm v = VMM_INIT;
        QemuDisk disks[QEMU_DISKS_MAX] = {};
        uint32_t tsc_khz = 0;
        const char *step;
        int sp[2], fds[6], n_fds, net_qemu_fd = -1, fs_qemu_fd = -1, console_qemu_fd, pid, r;

        log_set_ident("vmm");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        v.stop_timeout_usec = arg_stop_timeout_usec;

        vmm_block_signals();

        kernel = realpath(arg_kernel, NULL);
        if (!kernel)
                return log_error_errno(errno, "Kernel '%s': %m", arg_kernel);
        if (arg_initrd) {
                initrd = realpath(arg_initrd, NULL);
                if (!initrd)
                        return log_error_errno(errno, "Initrd '%s': %m", arg_initrd);
        }
        if (arg_qemu) {
                qemu = realpath(arg_qemu, NULL);
                if (!qemu)
                        return log_error_errno(errno, "QEMU '%s': %m", arg_qemu);
        } else {
                r = find_executable("qemu-system-x86_64", &qemu);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(
                                r, "qemu-system-x86_64 not found (Debian package qemu-system-x86).");
        }
        if (arg_vsock) {
                r = find_device(arg_vsockd, "vsockd", "BISTRO_VSOCKD", &vsockd);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(
                                r,
                                "vsockd not found: pass --vsockd PATH, set BISTRO_VSOCKD, or --no-vsock.");
        }

        if (arg_net == NET_SLIRPD) {
                r = find_device(arg_slirpd, "slirpd", "BISTRO_SLIRPD", &slirpd);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(
                                r, "slirpd not found: pass --slirpd PATH or set BISTRO_SLIRPD.");
        }

        if (arg_shares) {
                r = find_device(arg_seneschal, "seneschal", "BISTRO_SENESCHAL", &seneschal);
                if (r == -ENOMEM)
                        return log_oom();
                /* Shares are worth a warning, not the VM. */
                if (r < 0) {
                        log_warning_errno(
                                r,
                                "seneschal not found (--seneschal PATH, BISTRO_SENESCHAL): VM '%s' starts "
                                "without shares: %m",
                                arg_name);
                        arg_shares = false;
                }
        }

        r = accel_resolve(arg_accel);
        if (r < 0)
                return log_error_errno(r, "--accel kvm: /dev/kvm is not usable.");
        arg_accel = r;
        if (arg_accel == ACCEL_TCG) {
                r = tsc_host_khz(&tsc_khz);
                if (r < 0)
                        return log_error_errno(
                                r, "Cannot determine the host TSC frequency (needed under TCG): %m");
        }

        r = setup_runtime_dir(&dir_lock, &v);
        if (r < 0)
                return r;
        r = console_log_new(v.console_path, arg_console_max, &v.console, &console_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot create '%s': %m", v.console_path);
        qmp_listen = unix_listen(v.qmp_path, 4, 0600);
        if (qmp_listen < 0)
                return log_error_errno(qmp_listen, "Cannot listen on '%s': %m", v.qmp_path);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return log_error_errno(errno, "socketpair: %m");
        qmp_peer = sp[1];

        r = sd_event_default(&v.event);
        if (r < 0) {
                safe_close(sp[0]);
                return log_error_errno(r, "sd_event: %m");
        }
        r = qmp_new(v.event, sp[0], vmm_on_qmp_event, &v, &v.qmp);
        if (r < 0) {
                safe_close(sp[0]);
                return log_error_errno(r, "QMP: %m");
        }

        if (arg_vsock) {
                vu_client = start_vsockd(&v, vsockd);
                if (vu_client < 0)
                        return vu_client;
        }

        if (arg_shares) {
                fs_client = start_seneschal(&v, seneschal);
                if (fs_client < 0 && fs_client != -EBADF)
                        return fs_client;
        }

        r = jail_build_qemu(
                &jail,
                &(JailQemuSpec){
                        .qemu = qemu,
                        .accel = arg_accel,
                        .kernel = kernel,
                        .initrd = initrd,
                        .disks = arg_disks,
                        .n_disks = arg_n_disks,
                        .net_user = arg_net == NET_USER,
                },
                disks);
        if (r < 0)
                return r;

        n_fds = 0;
        fds[n_fds++] = qmp_peer;
        fds[n_fds++] = qmp_listen;
        if (vu_client >= 0)
                fds[n_fds++] = vu_client;
        if (arg_net == NET_SLIRPD) {
                net_fd = start_slirpd(&v, slirpd);
                if (net_fd < 0)
                        return net_fd;
                net_qemu_fd = 3 + n_fds;
                fds[n_fds++] = net_fd;
        }
        if (fs_client >= 0) {
                fs_qemu_fd = 3 + n_fds;
                fds[n_fds++] = fs_client;
        }
        console_qemu_fd = 3 + n_fds;
        fds[n_fds++] = console_fd;
        r = qemu_build_argv(
                &(QemuConfig){
                        .binary = qemu,
                        .kernel = "/vm/kernel",
                        .initrd = initrd ? "/vm/initrd" : NULL,
                        .append = arg_append,
                        .mem_bytes = arg_mem,
                        .cpus = arg_cpus,
                        .accel = arg_accel,
                        .tb_size_mib = arg_tb_size,
                        .tsc_khz = tsc_khz,
                        .console_fd = console_qemu_fd,
                        .qmp_private_fd = 3,
                        .qmp_listen_fd = 4,
                        .vhost_user_fd = vu_client >= 0 ? 5 : -1,
                        .vhost_user_fs_fd = fs_qemu_fd,
                        .disks = disks,
                        .n_disks = arg_n_disks,
                        .net_user = arg_net == NET_USER,
                        .net_stream = arg_net == NET_SLIRPD,
                        .net_stream_fd = net_qemu_fd,
                        .hostfwds = arg_hostfwds,
                        .n_hostfwds = arg_n_hostfwds,
                },
                &qemu_argv);
        if (r < 0)
                return log_error_errno(r, "Cannot build the QEMU command line: %m");

        pid = jail_spawn(&jail, qemu_argv, fds, (size_t) n_fds, &v.qemu.pidfd, &step);
        if (pid < 0)
                return log_error_errno(pid, "Cannot start QEMU in its jail (%s): %m", step ?: "?");
        v.qemu.pid = pid;
        qmp_peer = safe_close(qmp_peer);
        qmp_listen = safe_close(qmp_listen);
        vu_client = safe_close(vu_client);
        net_fd = safe_close(net_fd);
        fs_client = safe_close(fs_client);
        console_fd = safe_close(console_fd);
        log_vm_started(pid, tsc_khz);

        r = vmm_watch(&v);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");
        (void) sd_notifyf(false, "READY=1\nSTATUS=VM %s running", arg_name);

        r = sd_event_loop(v.event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

DEFINE_MAIN_FUNCTION(run);
