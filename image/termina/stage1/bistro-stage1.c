/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stage 1 of the Termina guest: /init of the initramfs, linked statically.
 *
 * Loads the modules listed in /lib/modules/load-order (dependencies first), waits for the root
 * disk, sets up dm-verity over it with the root hash from the kernel command line, mounts the
 * squashfs read-only and execs /sbin/init there. Any failure prints one "bistro-stage1: FATAL"
 * line and powers off: a guest that cannot verify its root must never hang or boot unverified.
 *
 * Command line: bistro.roothash=HEX (64) bistro.verity_blocks=N bistro.verity_salt=HEX
 *               [bistro.root=/dev/vda] [bistro.init=poweroff (exits at once: the boot floor)]
 *               [bistro.verity_scrub (reads the whole verified root before mounting it)]
 * The hash tree starts right after the N data blocks (4096 bytes each), without a superblock. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define ROOT_WAIT_MS 20000
#define VERITY_BLOCK 4096

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...) {
        char buf[512];
        va_list ap;
        int n;

        n = snprintf(buf, sizeof(buf), "bistro-stage1: ");
        va_start(ap, fmt);
        n += vsnprintf(buf + n, sizeof(buf) - (size_t) n - 1, fmt, ap);
        va_end(ap);
        if (n > (int) sizeof(buf) - 2)
                n = (int) sizeof(buf) - 2;
        buf[n++] = '\n';
        (void) !write(STDERR_FILENO, buf, (size_t) n);
}

static __attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...) {
        char buf[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        msg("FATAL %s; powering off", buf);
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
                pause();
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool is_hex(const char *s, size_t min, size_t max) {
        size_t n = strlen(s);

        if (n < min || n > max || n % 2)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
                        return false;
        return true;
}

struct cmdline {
        char roothash[65];
        char salt[257];
        char root[64];
        uint64_t blocks;
        bool poweroff;
        bool scrub;
};

static void copy_value(char *dst, size_t size, const char *v, const char *key) {
        if (strlen(v) >= size)
                fatal("%s= is too long", key);
        strcpy(dst, v);
}

static void parse_cmdline(struct cmdline *c) {
        char buf[4096], *save = NULL;
        ssize_t n;
        int fd;

        fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fatal("cannot open /proc/cmdline: %m");
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                fatal("cannot read /proc/cmdline: %m");
        buf[n] = 0;

        strcpy(c->root, "/dev/vda");
        for (char *w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
                if (strcmp(w, "bistro.init=poweroff") == 0)
                        c->poweroff = true;
                else if (strcmp(w, "bistro.verity_scrub") == 0)
                        c->scrub = true;
                else if (strncmp(w, "bistro.roothash=", 16) == 0)
                        copy_value(c->roothash, sizeof(c->roothash), w + 16, "bistro.roothash");
                else if (strncmp(w, "bistro.verity_salt=", 19) == 0)
                        copy_value(c->salt, sizeof(c->salt), w + 19, "bistro.verity_salt");
                else if (strncmp(w, "bistro.root=", 12) == 0)
                        copy_value(c->root, sizeof(c->root), w + 12, "bistro.root");
                else if (strncmp(w, "bistro.verity_blocks=", 21) == 0) {
                        char *end;
                        errno = 0;
                        c->blocks = strtoull(w + 21, &end, 10);
                        if (errno || *end || end == w + 21 || c->blocks == 0 ||
                            c->blocks > (UINT64_C(1) << 32))
                                fatal("bad bistro.verity_blocks=%s", w + 21);
                }
        }
}

static void load_modules(void) {
        char line[256], path[300];
        FILE *f;

        f = fopen("/lib/modules/load-order", "re");
        if (!f)
                fatal("cannot open /lib/modules/load-order: %m");
        while (fgets(line, sizeof(line), f)) {
                int fd;

                line[strcspn(line, "\n")] = 0;
                if (!line[0] || strchr(line, '/'))
                        continue;
                snprintf(path, sizeof(path), "/lib/modules/%s", line);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        fatal("cannot open module %s: %m", path);
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
                        fatal("loading module %s failed: %m", line);
                close(fd);
        }
        fclose(f);
}

static void wait_for(const char *path, struct stat *st) {
        uint64_t deadline = now_ms() + ROOT_WAIT_MS;

        while (stat(path, st) < 0 || !S_ISBLK(st->st_mode)) {
                if (now_ms() > deadline)
                        fatal("root disk %s did not appear within %d s", path, ROOT_WAIT_MS / 1000);
                usleep(2000);
        }
}

static void dm_init(struct dm_ioctl *io, size_t size, const char *name, uint32_t flags) {
        memset(io, 0, size);
        io->version[0] = DM_VERSION_MAJOR;
        io->version[1] = 0;
        io->version[2] = 0;
        io->data_size = (uint32_t) size;
        io->data_start = sizeof(struct dm_ioctl);
        io->flags = flags;
        snprintf(io->name, sizeof(io->name), "%s", name);
}

static dev_t setup_verity(const struct cmdline *c, dev_t disk) {
        union {
                struct dm_ioctl io;
                char buf[16384];
        } u;
        struct dm_target_spec *spec;
        char *params;
        int fd;

        fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                fatal("cannot open /dev/mapper/control: %m");

        dm_init(&u.io, sizeof(u), "bistro-root", DM_READONLY_FLAG);
        if (ioctl(fd, DM_DEV_CREATE, &u.io) < 0)
                fatal("DM_DEV_CREATE failed: %m");

        dm_init(&u.io, sizeof(u), "bistro-root", DM_READONLY_FLAG);
        u.io.target_count = 1;
        spec = (struct dm_target_spec *) (u.buf + sizeof(struct dm_ioctl));
        spec->sector_start = 0;
        spec->length = c->blocks * (VERITY_BLOCK / 512);
        snprintf(spec->target_type, sizeof(spec->target_type), "verity");
        params = (char *) (spec + 1);
        /* version dev hash_dev data_bs hash_bs data_blocks hash_start alg digest salt */
        snprintf(
                params, sizeof(u.buf) - sizeof(struct dm_ioctl) - sizeof(*spec),
                "1 %u:%u %u:%u %d %d %llu %llu sha256 %s %s", major(disk), minor(disk), major(disk),
                minor(disk), VERITY_BLOCK, VERITY_BLOCK, (unsigned long long) c->blocks,
                (unsigned long long) c->blocks, c->roothash, c->salt);
        spec->next = 0;
        if (ioctl(fd, DM_TABLE_LOAD, &u.io) < 0)
                fatal("loading the dm-verity table failed: %m");

        dm_init(&u.io, sizeof(u), "bistro-root", 0);
        if (ioctl(fd, DM_DEV_SUSPEND, &u.io) < 0)
                fatal("activating the dm-verity device failed: %m");
        close(fd);
        return (dev_t) u.io.dev;
}

/* Reads every block once, so a damaged one stops the boot here instead of failing some read later. */
static void scrub(const char *dev, uint64_t blocks) {
        static char buf[256 * 1024];
        uint64_t off = 0, size = blocks * VERITY_BLOCK;
        int fd;

        fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fatal("cannot open %s: %m", dev);
        while (off < size) {
                size_t n = size - off < sizeof(buf) ? (size_t) (size - off) : sizeof(buf);
                ssize_t k = pread(fd, buf, n, (off_t) off);

                if (k <= 0) {
                        /* Find the first bad block for the message. */
                        for (uint64_t b = off; b < off + n; b += VERITY_BLOCK)
                                if (pread(fd, buf, VERITY_BLOCK, (off_t) b) != VERITY_BLOCK)
                                        fatal("reading the verified root at block %llu failed: %s",
                                              (unsigned long long) (b / VERITY_BLOCK),
                                              k < 0 ? strerror(errno) : "short read");
                        fatal("reading the verified root at offset %llu failed: %s",
                              (unsigned long long) off, k < 0 ? strerror(errno) : "short read");
                }
                off += (uint64_t) k;
        }
        close(fd);
}

int main(int argc, char **argv) {
        struct cmdline c = {};
        struct stat st;
        uint64_t t0 = now_ms();
        dev_t dm;
        int fd;

        (void) argc;
        (void) argv;
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                fatal("mounting /proc failed: %m");
        parse_cmdline(&c);
        if (c.poweroff) {
                reboot(RB_POWER_OFF);
                fatal("poweroff failed: %m");
        }
        if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0)
                fatal("mounting /dev failed: %m");
        fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (fd > 2)
                        close(fd);
        }

        if (!is_hex(c.roothash, 64, 64))
                fatal("bistro.roothash= is missing or not 64 lowercase hex digits");
        if (!is_hex(c.salt, 0, 256))
                fatal("bistro.verity_salt= is not lowercase hex");
        if (c.blocks == 0)
                fatal("bistro.verity_blocks= is missing");
        if (strncmp(c.root, "/dev/", 5) != 0 || strstr(c.root, ".."))
                fatal("bistro.root= must name a device under /dev");

        load_modules();
        wait_for(c.root, &st);
        dm = setup_verity(&c, st.st_rdev);

        if (mknod("/dev/bistro-root", S_IFBLK | 0400, dm) < 0 && errno != EEXIST)
                fatal("mknod /dev/bistro-root failed: %m");
        if (c.scrub)
                scrub("/dev/bistro-root", c.blocks);
        if (mount("/dev/bistro-root", "/root", "squashfs", MS_RDONLY, NULL) < 0)
                fatal("mounting the verified root failed: %m");
        if (access("/root/sbin/init", X_OK) < 0)
                fatal("the root has no /sbin/init: %m");

        msg("root %s verified (%.16s...), mounted in %llu ms", c.root, c.roothash,
            (unsigned long long) (now_ms() - t0));

        /* Hand over /dev (the console stays open); maitred mounts /proc, /sys and the rest. */
        if (mount("/dev", "/root/dev", NULL, MS_MOVE, NULL) < 0)
                fatal("moving /dev failed: %m");
        (void) umount2("/proc", MNT_DETACH);
        if (chdir("/root") < 0)
                fatal("chdir /root failed: %m");
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                fatal("moving the root failed: %m");
        if (chroot(".") < 0 || chdir("/") < 0)
                fatal("chroot failed: %m");
        execl("/sbin/init", "/sbin/init", (char *) NULL);
        fatal("exec /sbin/init failed: %m");
}
