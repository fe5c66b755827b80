/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock-port-probe: test/integration/test_service_sockets.py's hands in Termina, static and libc-only
 * so the same binary runs in the VM and in any container.
 *
 * In a container:
 *   bind PORT [CID]             bind() + listen() on vsock CID:PORT (CID default VMADDR_CID_ANY).
 *                               Exit 0 when it worked, else the errno (EADDRINUSE is 98).
 *   bindloop COUNTER FREE PORT...
 *                               First binds FREE (a port nobody holds: proves binding works here at
 *                               all, exit 3 otherwise) and prints "ready"; then tries to bind every
 *                               PORT, round after round, until stdin is readable or closed. Each
 *                               round increments the 64-bit counter in the file COUNTER (shared with
 *                               `restart`). Prints "BOUND PORT" for every bind that worked, then
 *                               "rounds=R inuse=I bound=B other=O"; exit 0 when every attempt failed
 *                               with EADDRINUSE.
 * In the VM (as root):
 *   restart NAME COUNTER|-      SIGKILLs the service NAME (the process named NAME that maitred
 *                               started: see service_pid()) and waits for maitred's respawn. With COUNTER,
 * exit 23 unless the bindloop made attempts between the death and the new process. Writes what it saw to
 * COUNTER.NAME. signal NAME SIGNO           kill(2) of the service NAME. giveup NAME SIGKILLs NAME each time
 * maitred respawns it, until it no longer does (10 s); exit 0 then, 30 when still respawned after 20 kills.
 *   holders                     one line per process that holds a listening vsock socket:
 *                               "listen PID PPID COMM PORT" (through pidfd_getfd()), and
 *                               "env PID PPID COMM EXE" per process whose environment holds LISTEN_*.
 * Exit 20-22: the service was not found, did not die or was not respawned in time. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

/* 0 when bind() + listen() on CID:port worked (the socket is closed again), else errno. */
static int try_bind(unsigned cid, unsigned port) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
        int fd, e = 0;

        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                e = errno;
        close(fd);
        return e;
}

static volatile uint64_t *map_counter(const char *path, int flags) {
        void *p;
        int fd;

        fd = open(path, flags | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0 || ((flags & O_CREAT) && ftruncate(fd, sizeof(uint64_t)) < 0)) {
                fprintf(stderr, "%s: %m\n", path);
                exit(2);
        }
        p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                fprintf(stderr, "mmap %s: %m\n", path);
                exit(2);
        }
        close(fd);
        return p;
}

static int cmd_bind(int argc, char **argv) {
        unsigned cid = argc > 3 ? (unsigned) strtoul(argv[3], NULL, 10) : VMADDR_CID_ANY;
        int e = try_bind(cid, (unsigned) atoi(argv[2]));

        printf("bind %u:%s: %s\n", cid, argv[2], e ? strerror(e) : "OK");
        return e > 255 ? 255 : e;
}

static int cmd_bindloop(int argc, char **argv) {
        volatile uint64_t *counter = map_counter(argv[2], O_CREAT | O_TRUNC);
        uint64_t rounds = 0, inuse = 0, bound = 0, other = 0;
        int e;

        e = try_bind(VMADDR_CID_ANY, (unsigned) atoi(argv[3]));
        if (e) {
                printf("cannot bind free port %s: %s\n", argv[3], strerror(e));
                return 3;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

                for (int i = 4; i < argc; i++) {
                        e = try_bind(VMADDR_CID_ANY, (unsigned) atoi(argv[i]));
                        if (e == 0) {
                                bound++;
                                printf("BOUND %s\n", argv[i]);
                                fflush(stdout);
                        } else if (e == EADDRINUSE)
                                inuse++;
                        else {
                                other++;
                                printf("ERROR %s %s\n", argv[i], strerror(e));
                        }
                }
                rounds++;
                *counter = rounds;
                if (poll(&p, 1, 0) != 0)
                        break;
                sleep_ms(1);
        }
        printf("rounds=%llu inuse=%llu bound=%llu other=%llu\n", (unsigned long long) rounds,
               (unsigned long long) inuse, (unsigned long long) bound, (unsigned long long) other);
        return bound || other || !rounds ? 1 : 0;
}

typedef struct Proc {
        int pid, ppid, sid;
        char comm[64];
        char state;
} Proc;

static int proc_read(int pid, Proc *ret) {
        char path[64], buf[512], *l, *r;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        l = strchr(buf, '(');
        r = strrchr(buf, ')');
        if (!l || !r || r < l || (size_t) (r - l - 1) >= sizeof(ret->comm))
                return -1;
        ret->pid = pid;
        memcpy(ret->comm, l + 1, (size_t) (r - l - 1));
        ret->comm[r - l - 1] = 0;
        if (sscanf(r + 1, " %c %d %*d %d", &ret->state, &ret->ppid, &ret->sid) != 3)
                return -1;
        return 0;
}

/* The pid of the live process named name that maitred (PID 1) started, or 0. maitred's children lead
 * their own session; a vshd session process orphaned by its vshd is also named vshd and re-parented to
 * PID 1, but it is in the old vshd's session. */
static int service_pid(const char *name) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int found = 0;

        while (d && (de = readdir(d))) {
                Proc p;
                int pid = atoi(de->d_name);

                if (pid <= 1 || proc_read(pid, &p) < 0)
                        continue;
                if (p.ppid == 1 && p.sid == pid && p.state != 'Z' && strcmp(p.comm, name) == 0) {
                        found = pid;
                        break;
                }
        }
        if (d)
                closedir(d);
        return found;
}

static int wait_service(const char *name, int not_pid, unsigned timeout_ms) {
        uint64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                int pid = service_pid(name);

                if (pid > 0 && pid != not_pid)
                        return pid;
                if (now_ms() >= deadline)
                        return 0;
                sleep_ms(1);
        }
}

/* Waits until pid is gone or a zombie: its fds, the listening socket among them, are closed. */
static int wait_dead(int pid, unsigned timeout_ms) {
        uint64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                Proc p;

                if (proc_read(pid, &p) < 0 || p.state == 'Z')
                        return 0;
                if (now_ms() >= deadline)
                        return -1;
                sleep_ms(1);
        }
}

static int cmd_restart(int argc, char **argv) {
        const char *name = argv[2];
        volatile uint64_t *counter = strcmp(argv[3], "-") ? map_counter(argv[3], 0) : NULL;
        uint64_t c0, c1, c2, t1, t2;
        char out[4096];
        int pid, npid;
        FILE *f;

        pid = wait_service(name, 0, 30000);
        if (pid <= 0)
                return 20;
        c0 = counter ? *counter : 0;
        if (kill(pid, SIGKILL) < 0)
                return 20;
        if (wait_dead(pid, 10000) < 0)
                return 21;
        t1 = now_ms();
        c1 = counter ? *counter : 0;
        npid = wait_service(name, pid, 60000);
        if (npid <= 0)
                return 22;
        t2 = now_ms();
        c2 = counter ? *counter : 0;
        if (!counter)
                return 0;
        snprintf(out, sizeof(out), "%s.%s", argv[3], name);
        f = fopen(out, "we");
        if (f) {
                fprintf(f, "%s old=%d new=%d rounds_before=%llu rounds_down=%llu down_ms=%llu\n", name, pid,
                        npid, (unsigned long long) (c1 - c0), (unsigned long long) (c2 - c1),
                        (unsigned long long) (t2 - t1));
                fclose(f);
        }
        /* The bindloop tried while the service was gone: otherwise the run proves nothing. */
        return c2 > c1 ? 0 : 23;
}

static int cmd_signal(int argc, char **argv) {
        int pid = wait_service(argv[2], 0, 30000);

        if (pid <= 0)
                return 20;
        return kill(pid, atoi(argv[3])) < 0 ? 1 : 0;
}

static int cmd_giveup(int argc, char **argv) {
        int pid = wait_service(argv[2], 0, 30000);

        if (pid <= 0)
                return 20;
        for (unsigned kills = 0; kills < 20; kills++) {
                if (kill(pid, SIGKILL) < 0)
                        return 20;
                if (wait_dead(pid, 10000) < 0)
                        return 21;
                pid = wait_service(argv[2], pid, 10000);
                if (pid <= 0) {
                        printf("%s not respawned after %u kills\n", argv[2], kills + 1);
                        return 0;
                }
        }
        return 30;
}

static void holders_of(int pid, const Proc *p) {
        char path[64], link[256];
        int pidfd;
        DIR *d;
        struct dirent *de;

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return;
        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        d = opendir(path);
        while (d && (de = readdir(d))) {
                struct sockaddr_vm sa = {};
                socklen_t len = sizeof(int), salen = sizeof(sa);
                int fd, domain = 0, listening = 0;
                char lpath[320];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
                n = readlink(lpath, link, sizeof(link) - 1);
                if (n <= 0)
                        continue;
                link[n] = 0;
                if (strncmp(link, "socket:", 7) != 0)
                        continue;
                fd = (int) syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
                if (fd < 0)
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_VSOCK &&
                    (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) == 0 &&
                    listening && getsockname(fd, (struct sockaddr *) &sa, &salen) == 0)
                        printf("listen %d %d %s %u\n", pid, p->ppid, p->comm, sa.svm_port);
                close(fd);
        }
        if (d)
                closedir(d);
        close(pidfd);
}

static void env_of(int pid, const Proc *p) {
        char path[64], exe[256] = "?", buf[65536];
        size_t n;
        FILE *f;
        ssize_t k;

        snprintf(path, sizeof(path), "/proc/%d/environ", pid);
        f = fopen(path, "re");
        if (!f)
                return;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        snprintf(path, sizeof(path), "/proc/%d/exe", pid);
        k = readlink(path, exe, sizeof(exe) - 1);
        exe[k > 0 ? k : 1] = 0;
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
                if (strncmp(buf + i, "LISTEN_", 7) == 0) {
                        printf("env %d %d %s %s\n", pid, p->ppid, p->comm, exe);
                        return;
                }
}

static int cmd_holders(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;

        while (d && (de = readdir(d))) {
                int pid = atoi(de->d_name);
                Proc p;

                if (pid <= 0 || pid == getpid() || proc_read(pid, &p) < 0)
                        continue;
                holders_of(pid, &p);
                env_of(pid, &p);
        }
        if (d)
                closedir(d);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 3 && argc <= 4 && strcmp(argv[1], "bind") == 0)
                return cmd_bind(argc, argv);
        if (argc >= 5 && strcmp(argv[1], "bindloop") == 0)
                return cmd_bindloop(argc, argv);
        if (argc == 4 && strcmp(argv[1], "restart") == 0)
                return cmd_restart(argc, argv);
        if (argc == 4 && strcmp(argv[1], "signal") == 0)
                return cmd_signal(argc, argv);
        if (argc == 3 && strcmp(argv[1], "giveup") == 0)
                return cmd_giveup(argc, argv);
        if (argc == 2 && strcmp(argv[1], "holders") == 0)
                return cmd_holders();
        fprintf(stderr, "usage: see the comment at the top of vsock-port-probe.c\n");
        return 64;
}
