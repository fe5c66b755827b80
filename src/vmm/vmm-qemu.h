/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "strv.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Builds QEMU's command line from a VM spec. Pure: no I/O, so it is unit-tested as is. */

typedef enum Accel {
        ACCEL_AUTO,
        ACCEL_KVM,
        ACCEL_TCG,
        _ACCEL_MAX,
        _ACCEL_INVALID = -EINVAL,
} Accel;

const char *accel_to_string(Accel a);
Accel accel_from_string(const char *s);

typedef struct QemuDisk {
        const char *path; /* as QEMU sees it (inside the jail) */
        bool read_only;
        bool qcow2;
} QemuDisk;

typedef struct QemuHostfwd {
        uint16_t host_port; /* bound on 127.0.0.1 */
        uint16_t guest_port;
} QemuHostfwd;

typedef struct QemuConfig {
        const char *binary;
        const char *kernel;
        const char *initrd; /* may be NULL */
        const char *append; /* user part of the kernel command line, may be NULL */
        uint64_t mem_bytes;
        unsigned cpus;
        Accel accel; /* KVM or TCG, never AUTO here */
        unsigned tb_size_mib;
        uint32_t tsc_khz;     /* TCG: the host TSC rate for tsc_early_khz=; 0 = leave out */
        int console_fd;       /* the serial console: a socket to vmm (vmm-console.h) */
        int qmp_listen_fd;    /* listening socket served as DIR/qmp.sock, or -1 */
        int qmp_private_fd;   /* vmm's own connected QMP socket */
        int vhost_user_fd;    /* connected to vsockd, or -1 for no vsock device */
        int vhost_user_fs_fd; /* connected to seneschal's virtiofsd (tag SHARES_TAG); 0 or -1: none */
        const QemuDisk *disks;
        size_t n_disks;
        bool net_user;   /* QEMU's user network (slirp): needs the host's network namespace */
        bool net_stream; /* a virtio-net device on net_stream_fd (connected to slirpd) */
        int net_stream_fd;
        const QemuHostfwd *hostfwds;
        size_t n_hostfwds;
} QemuConfig;

#define QEMU_MEM_MIN (64ULL << 20)
#define QEMU_MEM_MAX (1ULL << 40)
#define QEMU_CPUS_MAX 64U
/* See docs/design/vmm.md, "TCG translation cache". */
#define QEMU_TB_SIZE_DEFAULT_MIB 64U
#define QEMU_DISKS_MAX 16U
#define QEMU_HOSTFWDS_MAX 32U

/* The kernel command line: our fixed part (console, panic, tsc) then the user's. */
int qemu_build_kernel_cmdline(const QemuConfig *c, char **ret);
/* A NULL-terminated argv; free with strv_free(). Validates c first (-EINVAL). */
int qemu_build_argv(const QemuConfig *c, char ***ret);

/* Parses "tcp:HOSTPORT:GUESTPORT". */
int qemu_parse_hostfwd(const char *s, QemuHostfwd *ret);
