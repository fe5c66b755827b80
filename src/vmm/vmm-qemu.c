/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc-util.h"
#include "macro.h"
#include "seneschal-control.h"
#include "string-util.h"
#include "vmm-qemu.h"

static const char *const accel_names[_ACCEL_MAX] = {
        [ACCEL_AUTO] = "auto",
        [ACCEL_KVM] = "kvm",
        [ACCEL_TCG] = "tcg",
};

const char *accel_to_string(Accel a) {
        return a >= 0 && a < _ACCEL_MAX ? accel_names[a] : NULL;
}

Accel accel_from_string(const char *s) {
        for (Accel a = 0; a < _ACCEL_MAX; a++)
                if (s && streq(s, accel_names[a]))
                        return a;
        return _ACCEL_INVALID;
}

/* Builds the argv with a sticky error: the first failed allocation is remembered and reported
 * once at the end, which keeps the long list of options below readable. */
typedef struct Argv {
        char **v;
        size_t n, allocated;
        int error;
} Argv;

static void argv_add_consume(Argv *a, char *s) {
        if (a->error < 0 || !s) {
                free(s);
                a->error = -ENOMEM;
                return;
        }
        if (a->n + 2 > a->allocated) {
                size_t m = MAX(a->allocated * 2, (size_t) 32);
                char **v = reallocarray_safe(a->v, m, sizeof(char *));
                if (!v) {
                        free(s);
                        a->error = -ENOMEM;
                        return;
                }
                a->v = v;
                a->allocated = m;
        }
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
}

static void argv_add(Argv *a, const char *s) {
        argv_add_consume(a, strdup(s));
}

static _printf_(2, 3) void argv_addf(Argv *a, const char *fmt, ...) {
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        argv_add_consume(a, r < 0 ? NULL : s);
}

/* QEMU's option parser splits on ',' (",," escapes it); we refuse rather than escape. */
static bool qemu_opt_safe(const char *s) {
        return s && *s && !strchr(s, ',') && !strchr(s, '\n');
}

static int qemu_config_validate(const QemuConfig *c) {
        if (!c->binary || !qemu_opt_safe(c->kernel) || c->console_fd < 0)
                return -EINVAL;
        if (c->initrd && !qemu_opt_safe(c->initrd))
                return -EINVAL;
        if (c->mem_bytes < QEMU_MEM_MIN || c->mem_bytes > QEMU_MEM_MAX || c->mem_bytes % (1 << 20) != 0)
                return -EINVAL;
        if (c->cpus < 1 || c->cpus > QEMU_CPUS_MAX)
                return -EINVAL;
        if (c->accel != ACCEL_KVM && c->accel != ACCEL_TCG)
                return -EINVAL;
        if (c->accel == ACCEL_TCG && (c->tb_size_mib < 1 || c->tb_size_mib > 4096))
                return -EINVAL;
        if (c->qmp_private_fd < 0 || c->n_disks > QEMU_DISKS_MAX || c->n_hostfwds > QEMU_HOSTFWDS_MAX)
                return -EINVAL;
        if (c->n_hostfwds > 0 && !c->net_user)
                return -EINVAL;
        if (c->net_stream && (c->net_user || c->net_stream_fd < 0))
                return -EINVAL;
        for (size_t i = 0; i < c->n_disks; i++)
                if (!qemu_opt_safe(c->disks[i].path))
                        return -EINVAL;
        if (c->append && strchr(c->append, '\n'))
                return -EINVAL;
        return 0;
}

int qemu_build_kernel_cmdline(const QemuConfig *c, char **ret) {
        char tsc[48] = "";
        char *s;

        /* TCG only (under KVM the guest gets the rate from kvmclock): the guest TSC is the host's,
         * so give its rate instead of letting the guest calibrate against a PIT that TCG ticks
         * unreliably (boot hangs), and trust it over the jiffies watchdog (time would drift). */
        if (c->accel == ACCEL_TCG && c->tsc_khz > 0)
                (void) snprintf(tsc, sizeof(tsc), " tsc_early_khz=%" PRIu32 " tsc=reliable", c->tsc_khz);
        /* panic=-1 + -no-reboot: a guest panic ends QEMU instead of hanging it. */
        if (asprintf(
                    &s, "console=ttyS0 earlyprintk=ttyS0 panic=-1%s%s%s", tsc,
                    c->append && *c->append ? " " : "", c->append ?: "") < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int qemu_build_argv(const QemuConfig *c, char ***ret) {
        _cleanup_free_ char *cmdline = NULL;
        Argv a = {};
        uint64_t mem_mib;
        int r;

        r = qemu_config_validate(c);
        if (r < 0)
                return r;
        r = qemu_build_kernel_cmdline(c, &cmdline);
        if (r < 0)
                return r;
        mem_mib = c->mem_bytes >> 20;

        argv_add(&a, c->binary);
        argv_add(&a, "-M");
        /* Guest RAM in a shared memfd: vsockd maps it (vhost-user needs share=on). */
        argv_add(&a, "microvm,memory-backend=mem,isa-serial=on");
        argv_add(&a, "-nodefaults");
        argv_add(&a, "-no-user-config");
        argv_add(&a, "-display");
        argv_add(&a, "none");
        argv_add(&a, "-no-reboot");
        /* Modern (virtio 1.0) mmio transport: libvhost-user (virtiofsd) refuses legacy devices. */
        argv_add(&a, "-global");
        argv_add(&a, "virtio-mmio.force-legacy=false");
        argv_add(&a, "-accel");
        if (c->accel == ACCEL_KVM)
                argv_add(&a, "kvm");
        else
                argv_addf(&a, "tcg,tb-size=%u", c->tb_size_mib);
        argv_add(&a, "-cpu");
        argv_add(&a, c->accel == ACCEL_KVM ? "host" : "max");
        argv_add(&a, "-m");
        argv_addf(&a, "%" PRIu64 "M", mem_mib);
        argv_add(&a, "-smp");
        argv_addf(&a, "%u", c->cpus);
        argv_add(&a, "-object");
        argv_addf(&a, "memory-backend-memfd,id=mem,size=%" PRIu64 "M,share=on", mem_mib);
        argv_add(&a, "-kernel");
        argv_add(&a, c->kernel);
        if (c->initrd) {
                argv_add(&a, "-initrd");
                argv_add(&a, c->initrd);
        }
        argv_add(&a, "-append");
        argv_add(&a, cmdline);

        argv_add(&a, "-chardev");
        argv_addf(&a, "socket,id=console,fd=%d", c->console_fd);
        argv_add(&a, "-serial");
        argv_add(&a, "chardev:console");

        argv_add(&a, "-chardev");
        argv_addf(&a, "socket,id=qmp-vmm,fd=%d", c->qmp_private_fd);
        argv_add(&a, "-mon");
        argv_add(&a, "chardev=qmp-vmm,mode=control");
        if (c->qmp_listen_fd >= 0) {
                argv_add(&a, "-chardev");
                argv_addf(&a, "socket,id=qmp,fd=%d,server=on,wait=off", c->qmp_listen_fd);
                argv_add(&a, "-mon");
                argv_add(&a, "chardev=qmp,mode=control");
        }

        if (c->vhost_user_fd >= 0) {
                argv_add(&a, "-chardev");
                argv_addf(&a, "socket,id=vsock0,fd=%d", c->vhost_user_fd);
                argv_add(&a, "-device");
                argv_add(&a, "vhost-user-vsock-device,chardev=vsock0");
        }

        if (c->vhost_user_fs_fd > 0) {
                argv_add(&a, "-chardev");
                argv_addf(&a, "socket,id=fs0,fd=%d", c->vhost_user_fs_fd);
                argv_add(&a, "-device");
                argv_add(&a, "vhost-user-fs-device,chardev=fs0,tag=" SHARES_TAG);
        }

        for (size_t i = 0; i < c->n_disks; i++) {
                const QemuDisk *d = &c->disks[i];

                argv_add(&a, "-drive");
                argv_addf(
                        &a, "if=none,id=disk%zu,file=%s,format=%s,readonly=%s,discard=unmap", i, d->path,
                        d->qcow2 ? "qcow2" : "raw", d->read_only ? "on" : "off");
                argv_add(&a, "-device");
                argv_addf(&a, "virtio-blk-device,drive=disk%zu", i);
        }

        if (c->net_user) {
                _cleanup_free_ char *fwd = NULL;

                for (size_t i = 0; i < c->n_hostfwds; i++) {
                        char *n;
                        if (asprintf(
                                    &n, "%s,hostfwd=tcp:127.0.0.1:%u-:%u", fwd ?: "",
                                    c->hostfwds[i].host_port, c->hostfwds[i].guest_port) < 0) {
                                strv_free(a.v);
                                return -ENOMEM;
                        }
                        free(fwd);
                        fwd = n;
                }
                argv_add(&a, "-netdev");
                argv_addf(&a, "user,id=net0%s", fwd ?: "");
                argv_add(&a, "-device");
                argv_add(&a, "virtio-net-device,netdev=net0");
        }

        if (c->net_stream) {
                /* A connected socket: QEMU needs no address, no path and no network of its own. */
                argv_add(&a, "-netdev");
                argv_addf(&a, "stream,id=net0,server=off,addr.type=fd,addr.str=%d", c->net_stream_fd);
                argv_add(&a, "-device");
                argv_add(&a, "virtio-net-device,netdev=net0");
        }

        argv_add(&a, "-sandbox");
        argv_add(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");

        if (a.error < 0) {
                strv_free(a.v);
                return a.error;
        }
        *ret = a.v;
        return 0;
}

int qemu_parse_hostfwd(const char *s, QemuHostfwd *ret) {
        _cleanup_free_ char *copy = NULL;
        char *host, *guest;
        uint32_t h, g;

        if (!s || !startswith(s, "tcp:"))
                return -EINVAL;
        copy = strdup(s + 4);
        if (!copy)
                return -ENOMEM;
        host = copy;
        guest = strchr(copy, ':');
        if (!guest)
                return -EINVAL;
        *guest++ = 0;
        if (safe_atou32(host, &h) < 0 || safe_atou32(guest, &g) < 0)
                return -EINVAL;
        if (h == 0 || h > 65535 || g == 0 || g > 65535)
                return -ERANGE;
        *ret = (QemuHostfwd){ .host_port = (uint16_t) h, .guest_port = (uint16_t) g };
        return 0;
}
