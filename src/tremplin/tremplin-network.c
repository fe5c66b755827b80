/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "kmod-util.h"
#include "log.h"
#include "macro.h"
#include "rtnl-util.h"
#include "spawn-util.h"
#include "tremplin-network.h"

#define NETWORK_UPLINK "eth0"
#define NETWORK_IPV4_PREFIX "10.0.3."
#define NETWORK_IPV6_PREFIX "fd42:b157:3::"
#define NFT_PATH "/usr/sbin/nft"
#define NFT_TIMEOUT_SEC 20

/* What the bridge, veth and masquerading need; their dependencies come from modules.dep. The
 * Termina root has no modprobe, so the kernel cannot autoload them when nft asks. */
static char *const network_modules[] = {
        (char *) "bridge",   (char *) "veth",   (char *) "nf_tables",    (char *) "nft_chain_nat",
        (char *) "nft_masq", (char *) "nf_nat", (char *) "nf_conntrack", NULL,
};

/* The NAT tables: flushed and rewritten at each setup, so it is idempotent. */
static const char nft_ruleset[] =
        "table ip bistro\n"
        "delete table ip bistro\n"
        "table ip bistro {\n"
        "        chain postrouting {\n"
        "                type nat hook postrouting priority srcnat; policy accept;\n"
        "                ip saddr " NETWORK_IPV4_PREFIX "0/24 oifname \"" NETWORK_UPLINK "\" masquerade\n"
        "        }\n"
        "}\n"
        "table ip6 bistro\n"
        "delete table ip6 bistro\n"
        "table ip6 bistro {\n"
        "        chain postrouting {\n"
        "                type nat hook postrouting priority srcnat; policy accept;\n"
        "                ip6 saddr " NETWORK_IPV6_PREFIX "/64 oifname \"" NETWORK_UPLINK "\" masquerade\n"
        "        }\n"
        "}\n";

int network_slot_addresses(unsigned slot, NetworkAddresses *ret) {
        if (slot < 1 || slot > NETWORK_SLOT_MAX || !ret)
                return -EINVAL;
        snprintf(ret->ipv4, sizeof(ret->ipv4), NETWORK_IPV4_PREFIX "%u", slot + 1);
        snprintf(ret->ipv6, sizeof(ret->ipv6), NETWORK_IPV6_PREFIX "%x", slot + 1);
        return 0;
}

int network_write_lxc_config(FILE *f, unsigned slot) {
        NetworkAddresses a;
        int r;

        r = network_slot_addresses(slot, &a);
        if (r < 0)
                return r;
        /* 00:16:3e is the Xen OUI LXC uses for its own random MACs; b1:57 is "bistro", then the
         * slot: stable across restarts, unique among the VM's containers. */
        fprintf(f,
                "lxc.net.0.type = veth\n"
                "lxc.net.0.link = " NETWORK_BRIDGE "\n"
                "lxc.net.0.flags = up\n"
                "lxc.net.0.name = eth0\n"
                "lxc.net.0.hwaddr = 00:16:3e:b1:57:%02x\n"
                "lxc.net.0.ipv4.address = %s/24 " NETWORK_IPV4_PREFIX "255\n"
                "lxc.net.0.ipv4.gateway = " NETWORK_IPV4_PREFIX "1\n"
                "lxc.net.0.ipv6.address = %s/64\n"
                "lxc.net.0.ipv6.gateway = " NETWORK_IPV6_PREFIX "1\n",
                slot, a.ipv4, a.ipv6);
        return ferror(f) ? -EIO : 0;
}

static int bridge_create(int fd, uint32_t *seq) {
        uint8_t buf[RTNL_BUF_SIZE];
        int r;

        r = rtnl_build_bridge(buf, sizeof(buf), ++*seq, NETWORK_BRIDGE);
        if (r < 0)
                return r;
        r = rtnl_call(fd, buf, (size_t) r, *seq);
        return r == -EEXIST ? 0 : r;
}

static int link_up(int fd, uint32_t *seq, int ifindex) {
        uint8_t buf[RTNL_BUF_SIZE];
        int r;

        r = rtnl_build_link_up(buf, sizeof(buf), ++*seq, ifindex);
        if (r < 0)
                return r;
        return rtnl_call(fd, buf, (size_t) r, *seq);
}

static int addr_add(
        int fd, uint32_t *seq, int family, int ifindex, const char *address, unsigned prefixlen) {
        uint8_t buf[RTNL_BUF_SIZE], a[16];
        int r;

        if (inet_pton(family, address, a) != 1)
                return -EINVAL;
        r = rtnl_build_addr(buf, sizeof(buf), ++*seq, family, ifindex, a, prefixlen);
        if (r < 0)
                return r;
        return rtnl_call(fd, buf, (size_t) r, *seq);
}

static int sysctl_write(const char *path, const char *value) {
        return write_string_file(path, value, 0);
}

/* Runs nft -f - with the ruleset on stdin (far below a pipe's capacity), with a deadline. */
static int nft_apply(const char *ruleset) {
        char *argv[] = { (char *) NFT_PATH, (char *) "-f", (char *) "-", NULL };
        char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF;
        _cleanup_free_ char *out = NULL;
        int p[2], r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Cannot create a pipe for nft: %m");
        in_r = p[0];
        in_w = p[1];
        r = loop_write(in_w, ruleset, strlen(ruleset));
        if (r < 0)
                return log_error_errno(r, "Cannot pass the ruleset to nft: %m");
        in_w = safe_close(in_w);

        r = spawn_capture(
                argv,
                &(SpawnOptions){ .stdin_fd = in_r,
                                 .stdout_fd = -1,
                                 .merge_stderr = true,
                                 .timeout = NFT_TIMEOUT_SEC * USEC_PER_SEC,
                                 .max_output = 4096,
                                 .envp = envp },
                &out);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "nft did not finish within %d s, killed.", NFT_TIMEOUT_SEC);
        if (r < 0)
                return log_error_errno(r, "Cannot run " NFT_PATH ": %m");
        if (r != 0) {
                log_error(
                        "nft failed (exit status %d) applying the container NAT rules%s%s", r,
                        out && out[0] ? ": " : ".", out ?: "");
                return -EPROTO;
        }
        return 0;
}

int network_setup(void) {
        _cleanup_close_ int fd = -EBADF;
        uint32_t seq = 0;
        int ifindex, r;

        r = modules_load(network_modules);
        if (r < 0)
                log_warning_errno(r, "Loading the container network modules failed, continuing: %m");

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open a netlink socket: %m");

        r = bridge_create(fd, &seq);
        if (r < 0)
                return log_error_errno(r, "Cannot create the bridge " NETWORK_BRIDGE ": %m");
        ifindex = (int) if_nametoindex(NETWORK_BRIDGE);
        if (ifindex <= 0)
                return log_error_errno(
                        errno > 0 ? errno : ENODEV, "Bridge " NETWORK_BRIDGE " missing after creation: %m");

        r = addr_add(fd, &seq, AF_INET, ifindex, NETWORK_IPV4_PREFIX "1", 24);
        if (r < 0)
                return log_error_errno(
                        r, "Cannot add " NETWORK_IPV4_PREFIX "1/24 to " NETWORK_BRIDGE ": %m");
        r = addr_add(fd, &seq, AF_INET6, ifindex, NETWORK_IPV6_PREFIX "1", 64);
        if (r < 0)
                /* a VM without IPv6 still gets IPv4 containers */
                log_warning_errno(
                        r, "Cannot add " NETWORK_IPV6_PREFIX "1/64 to " NETWORK_BRIDGE ", continuing: %m");
        r = link_up(fd, &seq, ifindex);
        if (r < 0)
                return log_error_errno(r, "Cannot bring " NETWORK_BRIDGE " up: %m");

        r = sysctl_write("/proc/sys/net/ipv4/ip_forward", "1\n");
        if (r < 0)
                return log_error_errno(r, "Cannot enable IPv4 forwarding: %m");
        /* forwarding=1 makes eth0 ignore router advertisements unless accept_ra is 2; eth0's
         * address and route are static (maitred), this keeps RA working if that ever changes */
        (void) sysctl_write("/proc/sys/net/ipv6/conf/" NETWORK_UPLINK "/accept_ra", "2\n");
        r = sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", "1\n");
        if (r < 0)
                log_warning_errno(r, "Cannot enable IPv6 forwarding, continuing: %m");

        r = nft_apply(nft_ruleset);
        if (r < 0)
                return r;

        log_info("Container network ready: " NETWORK_BRIDGE " " NETWORK_IPV4_PREFIX
                 "1/24 " NETWORK_IPV6_PREFIX "1/64, NAT out of " NETWORK_UPLINK ".");
        return 0;
}

/* The VM has IPv6 when eth0 carries QEMU's fec0::/64 site-local address. */
static bool vm_has_ipv6(void) {
        _cleanup_free_ char *text = NULL;

        if (read_file("/proc/net/if_inet6", 256 * 1024, &text, NULL) < 0)
                return false;
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                size_t n = strlen(line);
                if (strncmp(line, "fec0", 4) == 0 && n > 5 && streq(line + n - 5, " " NETWORK_UPLINK))
                        return true;
        }
        return false;
}

int network_write_resolv_conf(int rootfs_fd) {
        static const char tmp_name[] = ".resolv.conf.bistro";
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int etc_fd = -EBADF, fd = -EBADF;
        char text[128];
        struct stat st;
        int r;

        if (fstat(rootfs_fd, &st) < 0)
                return -errno;

        etc_fd = (int) syscall(SYS_openat2, rootfs_fd, "etc", &how, sizeof(how));
        if (etc_fd < 0 && errno == ENOENT) {
                if (mkdirat(rootfs_fd, "etc", 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (fchownat(rootfs_fd, "etc", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                etc_fd = (int) syscall(SYS_openat2, rootfs_fd, "etc", &how, sizeof(how));
        }
        if (etc_fd < 0)
                return -errno;

        snprintf(
                text, sizeof(text),
                "# Written by tremplin at each container start.\nnameserver 10.0.2.3\n%s",
                vm_has_ipv6() ? "nameserver fec0::3\n" : "");

        /* a new file renamed over the old entry: a symlink there is replaced, never followed */
        if (unlinkat(etc_fd, tmp_name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(etc_fd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, text, strlen(text));
        /* owned by the container's root, like the rootfs directory itself */
        if (r >= 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
                r = -errno;
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (r >= 0 && renameat(etc_fd, tmp_name, etc_fd, "resolv.conf") < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(etc_fd, tmp_name, 0);
                return r;
        }
        return 0;
}
