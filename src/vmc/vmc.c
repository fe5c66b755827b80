/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the VM command line; talks to concierge over $XDG_RUNTIME_DIR/bistro/concierge.sock and
 * starts concierge when nothing listens there. Exit status: 0 ok, 1 failure, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "concierge-client.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "message-type.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "string-util.h"
#include "wire.h"

#define EXIT_USAGE 2
#define CALL_TIMEOUT_MS (300 * 1000)

static bool arg_json = false;
static bool arg_quiet = false;
static bool arg_force = false;
static bool arg_yes = false;
static uint32_t arg_cpus = 0;
static uint64_t arg_mem_mib = 0;
static uint64_t arg_disk_size = 0;
static const char *arg_image = NULL;
static bool progress_shown = false;
static bool progress_lines = false; /* container create: plain progress lines when not a terminal */
static int progress_last = -1;
static int quiet_errno = 0;          /* call() does not print this error */
static bool failed_remotely = false; /* concierge refused: exit 1, never 2 */

typedef struct Verb {
        const char *name;
        const char *args;
        const char *help;
        int min_args, max_args;
        int (*run)(char **args);
} Verb;

static int connect_concierge(void) {
        int fd = concierge_connect(BUILD_ROOT, NULL, NULL);

        if (fd == -EINVAL)
                return log_error_errno(fd, "$XDG_RUNTIME_DIR is not set (or not absolute).");
        if (fd == -ETIMEDOUT)
                return log_error_errno(
                        fd, "concierge did not come up (see $XDG_RUNTIME_DIR/bistro/concierge.log): %m");
        if (fd < 0)
                return log_error_errno(fd, "Cannot reach concierge: %m");
        return fd;
}

static int on_event(uint32_t type, uint64_t id, const ProtobufCMessage *msg, void *userdata) {
        const Bistro__Concierge__Progress *p = (const void *) msg;

        if (type != BISTRO__MESSAGE_TYPE__PROGRESS)
                return 0;
        if (startswith(p->stage, "warning:")) {
                if (progress_shown && isatty(2))
                        fputc('\n', stderr);
                progress_shown = false;
                fprintf(stderr, "vmc: %s\n", p->stage);
                return 0;
        }
        if (arg_quiet)
                return 0;
        if (!isatty(2)) {
                int step;

                if (!progress_lines)
                        return 0;
                /* Not a terminal: a line per 10% (per 64 MiB when the size is unknown). */
                step = p->total > 0 ? (int) (p->done * 10 / p->total) : (int) (p->done >> 26);
                if (step != progress_last) {
                        char done[32], total[32];

                        format_bytes(p->done, done, sizeof(done));
                        format_bytes(p->total, total, sizeof(total));
                        if (p->total > 0)
                                fprintf(stderr, "%s: %d%% (%s / %s)\n", p->stage,
                                        (int) (p->done * 100 / p->total), done, total);
                        else
                                fprintf(stderr, "%s: %s\n", p->stage, done);
                        progress_last = step;
                }
                return 0;
        }
        if (p->total > 0 && p->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM) {
                int pct = (int) (p->done * 100 / p->total), w = pct / 4;
                char done[32], total[32];

                format_bytes(p->done, done, sizeof(done));
                format_bytes(p->total, total, sizeof(total));
                fprintf(stderr, "\r%-14s [%.*s%*s] %3d%% %s / %s   ", p->stage, w,
                        "=========================", 25 - w, "", pct, done, total);
        } else
                fprintf(stderr, "\r%-60s", p->stage);
        progress_shown = true;
        return 0;
}

/* Sends req and waits; prints concierge's error on failure. */
static int call(uint32_t type, const ProtobufCMessage *req, const char *what, ProtobufCMessage **ret) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        fd = connect_concierge();
        if (fd < 0)
                return fd;
        r = wire_call_sync_full(
                fd, type, req, message_response_type(type), -1, CALL_TIMEOUT_MS, on_event, NULL, &rtype,
                &resp);
        if (progress_shown && isatty(2))
                fputc('\n', stderr);
        if (r < 0)
                failed_remotely = true;
        if (r < 0 && r == quiet_errno && rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                return r;
        if (r < 0 && rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                fprintf(stderr, "vmc: %s: %s\n", what, wire_error_message(resp) ?: strerror(-r));
                return r;
        }
        if (r < 0)
                return log_error_errno(r, "%s: %m", what);
        if (ret)
                *ret = TAKE_PTR(resp);
        return 0;
}

static int check_name(const char *name) {
        if (!proto_name_ok(name)) {
                fprintf(stderr,
                        "vmc: invalid VM name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, "
                        "not starting with '.' or '-'\n",
                        utf8_is_valid(name) ? name : "(not UTF-8)");
                return -EINVAL;
        }
        return 0;
}

/* Strings in VmInfo are validated text without control characters; quotes and backslashes
 * still need escaping. */
static void json_str(const char *s) {
        putchar('"');
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        putchar('\\');
                putchar(*s);
        }
        putchar('"');
}

static void print_info_json(const Bistro__Concierge__VmInfo *v) {
        printf("{\"name\":");
        json_str(v->name);
        printf(",\"state\":\"%s\",\"pid\":%d,\"cpus\":%u,\"memory_mib\":%llu,\"disk_path\":",
               concierge_vm_state_to_string(v->state), (int) v->pid, v->cpus,
               (unsigned long long) v->memory_mib);
        json_str(v->disk_path);
        printf(",\"disk_size\":%llu,\"disk_used\":%llu,\"kernel_version\":",
               (unsigned long long) v->disk_size, (unsigned long long) v->disk_used);
        json_str(v->kernel_version);
        printf(",\"image_version\":");
        json_str(v->image_version);
        printf(",\"started_at\":%lld}", (long long) v->started_at);
}

static void print_info(const Bistro__Concierge__VmInfo *v) {
        char size[32], used[32];

        if (arg_json) {
                print_info_json(v);
                putchar('\n');
                return;
        }
        format_bytes(v->disk_size, size, sizeof(size));
        format_bytes(v->disk_used, used, sizeof(used));
        printf("Name:        %s\nState:       %s\n", v->name, concierge_vm_state_to_string(v->state));
        if (v->pid)
                printf("PID:         %d\n", (int) v->pid);
        printf("CPUs:        %u\nMemory:      %llu MiB\nDisk:        %s\nDisk size:   %s (%s used on the host)\n",
               v->cpus, (unsigned long long) v->memory_mib, v->disk_path, size, used);
        if (v->kernel_version[0])
                printf("Kernel:      %s\n", v->kernel_version);
        if (v->image_version[0])
                printf("Image:       %s\n", v->image_version);
        if (v->started_at) {
                time_t t = (time_t) v->started_at;
                char buf[64];

                (void) strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", localtime(&t));
                printf("Started:     %s\n", buf);
        }
}

static int verb_start(char **args) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        int r;

        req.name = args[0] ?: (char *) "termina";
        if (check_name(req.name) < 0)
                return -EINVAL;
        req.cpus = arg_cpus;
        req.memory_mib = arg_mem_mib;
        req.disk_size = arg_disk_size;
        r = call(BISTRO__MESSAGE_TYPE__START_VM_REQUEST, &req.base, "start", &resp);
        if (r < 0)
                return r;
        if (arg_json)
                print_info(((Bistro__Concierge__VmInfoResponse *) resp)->vm);
        else if (!arg_quiet)
                printf("VM '%s' is running.\n", req.name);
        return 0;
}

static int verb_stop(char **args) {
        Bistro__Concierge__StopVmRequest req = BISTRO__CONCIERGE__STOP_VM_REQUEST__INIT;

        req.name = args[0] ?: (char *) "termina";
        if (check_name(req.name) < 0)
                return -EINVAL;
        req.force = arg_force;
        return call(BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST, &req.base, "stop", NULL);
}

static int verb_list(char **args) {
        Bistro__Concierge__ListVmsRequest req = BISTRO__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListVmsResponse *l;
        int r;

        r = call(BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, &req.base, "list", &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < l->n_vms; i++) {
                        if (i)
                                putchar(',');
                        print_info_json(l->vms[i]);
                }
                printf("]\n");
                return 0;
        }
        if (arg_quiet) {
                for (size_t i = 0; i < l->n_vms; i++)
                        printf("%s\n", l->vms[i]->name);
                return 0;
        }
        printf("%-24s %-9s %4s %8s %10s %10s\n", "NAME", "STATE", "CPUS", "MEMORY", "DISK", "USED");
        for (size_t i = 0; i < l->n_vms; i++) {
                const Bistro__Concierge__VmInfo *v = l->vms[i];
                char size[32], used[32], mem[32];

                format_bytes(v->disk_size, size, sizeof(size));
                format_bytes(v->disk_used, used, sizeof(used));
                format_bytes(v->memory_mib << 20, mem, sizeof(mem));
                printf("%-24s %-9s %4u %8s %10s %10s\n", v->name, concierge_vm_state_to_string(v->state),
                       v->cpus, mem, size, used);
        }
        return 0;
}

static int verb_info(char **args) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        int r;

        req.name = args[0] ?: (char *) "termina";
        if (check_name(req.name) < 0)
                return -EINVAL;
        r = call(BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base, "info", &resp);
        if (r < 0)
                return r;
        print_info(((Bistro__Concierge__VmInfoResponse *) resp)->vm);
        return 0;
}

static int verb_destroy(char **args) {
        Bistro__Concierge__DestroyVmRequest req = BISTRO__CONCIERGE__DESTROY_VM_REQUEST__INIT;

        req.name = args[0];
        if (check_name(req.name) < 0)
                return -EINVAL;
        if (!arg_yes) {
                char line[16];

                if (!isatty(0)) {
                        fprintf(stderr, "vmc: destroy: refusing without a terminal to ask on; use --yes\n");
                        return -EPERM;
                }
                fprintf(stderr, "Destroy VM '%s' and all its data? [y/N] ", req.name);
                if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y')) {
                        fprintf(stderr, "vmc: not destroyed\n");
                        return -ECANCELED;
                }
        }
        return call(BISTRO__MESSAGE_TYPE__DESTROY_VM_REQUEST, &req.base, "destroy", NULL);
}

static int verb_logs(char **args) {
        Bistro__Concierge__GetVmLogsRequest req = BISTRO__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__GetVmLogsResponse *l;
        int r;

        req.name = args[0] ?: (char *) "termina";
        if (check_name(req.name) < 0)
                return -EINVAL;
        r = call(BISTRO__MESSAGE_TYPE__GET_VM_LOGS_REQUEST, &req.base, "logs", &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        /* Raw guest console bytes: make control characters other than newline/tab visible. */
        for (size_t i = 0; i < l->log.len; i++) {
                uint8_t c = l->log.data[i];

                if (c < 0x20 && c != '\n' && c != '\t')
                        continue;
                if (c == 0x7f)
                        continue;
                putchar(c);
        }
        return 0;
}

static int absolute(const char *p, char **ret) {
        char cwd[PATH_MAX];

        if (p[0] == '/')
                *ret = strdup(p);
        else if (!getcwd(cwd, sizeof(cwd)) || asprintf(ret, "%s/%s", cwd, p) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

static int verb_export(char **args) {
        Bistro__Concierge__ExportVmRequest req = BISTRO__CONCIERGE__EXPORT_VM_REQUEST__INIT;
        _cleanup_free_ char *path = NULL;
        int r;

        req.name = args[0];
        if (check_name(req.name) < 0 || absolute(args[1], &path) < 0)
                return -EINVAL;
        req.path = path;
        req.force = arg_force;
        r = call(BISTRO__MESSAGE_TYPE__EXPORT_VM_REQUEST, &req.base, "export", NULL);
        if (r >= 0 && !arg_quiet)
                printf("Exported VM '%s' to %s (checksum in %s.sha256).\n", req.name, path, path);
        return r;
}

static int verb_import(char **args) {
        Bistro__Concierge__ImportVmRequest req = BISTRO__CONCIERGE__IMPORT_VM_REQUEST__INIT;
        _cleanup_free_ char *path = NULL;

        req.name = args[1];
        if (check_name(req.name) < 0 || absolute(args[0], &path) < 0)
                return -EINVAL;
        req.path = path;
        return call(BISTRO__MESSAGE_TYPE__IMPORT_VM_REQUEST, &req.base, "import", NULL);
}

static int verb_resize(char **args) {
        Bistro__Concierge__ResizeVmRequest req = BISTRO__CONCIERGE__RESIZE_VM_REQUEST__INIT;

        req.name = args[0];
        if (check_name(req.name) < 0)
                return -EINVAL;
        if (parse_size(args[1], &req.size) < 0 ||
            message_validate(BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST, &req.base) < 0) {
                fprintf(stderr, "vmc: resize: invalid size '%s' (1G to 64T)\n", args[1]);
                return -EINVAL;
        }
        return call(BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST, &req.base, "resize", NULL);
}

static int verb_sync_time(char **args) {
        Bistro__Concierge__SyncTimeRequest req = BISTRO__CONCIERGE__SYNC_TIME_REQUEST__INIT;

        return call(BISTRO__MESSAGE_TYPE__SYNC_TIME_REQUEST, &req.base, "sync-time", NULL);
}

static int check_container_name(const char *name) {
        if (!proto_name_ok(name)) {
                fprintf(stderr,
                        "vmc: invalid container name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, "
                        "not starting with '.' or '-'\n",
                        utf8_is_valid(name) ? name : "(not UTF-8)");
                return -EINVAL;
        }
        return 0;
}

static void print_container_json(const Bistro__Concierge__ContainerInfo *c) {
        printf("{\"vm_name\":");
        json_str(c->vm_name);
        printf(",\"name\":");
        json_str(c->name);
        printf(",\"state\":\"%s\",\"image\":", concierge_container_state_to_string(c->state));
        json_str(c->image);
        printf(",\"ipv4_address\":");
        json_str(c->ipv4_address);
        printf(",\"ipv6_address\":");
        json_str(c->ipv6_address);
        putchar('}');
}

static int start_container(const char *vm, const char *name, ProtobufCMessage **ret) {
        Bistro__Concierge__StartContainerRequest req = BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;

        req.vm_name = (char *) vm;
        req.name = (char *) name;
        return call(BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, &req.base, "container", ret);
}

static int verb_container(char **args) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *path = NULL;
        const Bistro__Concierge__ContainerInfo *info;
        int r;

        if (check_name(args[0]) < 0 || check_container_name(args[1]) < 0)
                return -EINVAL;
        if (arg_image && !strchr(arg_image, '/') && access(arg_image, F_OK) < 0 &&
            !proto_image_name_ok(arg_image)) {
                fprintf(stderr, "vmc: container: '%s' is neither an image name nor a file\n", arg_image);
                return -EINVAL;
        }
        /* Start it; when it does not exist, create it first. */
        quiet_errno = -ENOENT;
        r = start_container(args[0], args[1], &resp);
        quiet_errno = 0;
        if (r == -ENOENT) {
                Bistro__Concierge__CreateContainerRequest req =
                        BISTRO__CONCIERGE__CREATE_CONTAINER_REQUEST__INIT;

                req.vm_name = args[0];
                req.name = args[1];
                req.image = (char *) "";
                req.image_path = (char *) "";
                if (arg_image && (strchr(arg_image, '/') || access(arg_image, F_OK) >= 0)) {
                        if (absolute(arg_image, &path) < 0)
                                return -ENOMEM;
                        req.image_path = path;
                } else if (arg_image)
                        req.image = (char *) arg_image;
                if (!arg_quiet)
                        fprintf(stderr, "Creating container '%s' in VM '%s' from %s.\n", args[1], args[0],
                                path ?: arg_image ?: "the default image (debian)");
                progress_lines = true;
                r = call(
                        BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST, &req.base, "container create", NULL);
                progress_lines = false;
                if (r < 0)
                        return r;
                r = start_container(args[0], args[1], &resp);
        }
        if (r < 0)
                return r;
        info = ((const Bistro__Concierge__ContainerInfoResponse *) resp)->container;
        if (arg_json) {
                print_container_json(info);
                putchar('\n');
        } else if (!arg_quiet)
                printf("Container '%s' is running in VM '%s'.\nIPv4: %s\nIPv6: %s\n", info->name,
                       info->vm_name, info->ipv4_address[0] ? info->ipv4_address : "-",
                       info->ipv6_address[0] ? info->ipv6_address : "-");
        return 0;
}

static int verb_container_stop(char **args) {
        Bistro__Concierge__StopContainerRequest req = BISTRO__CONCIERGE__STOP_CONTAINER_REQUEST__INIT;

        if (check_name(args[0]) < 0 || check_container_name(args[1]) < 0)
                return -EINVAL;
        req.vm_name = args[0];
        req.name = args[1];
        req.force = arg_force;
        return call(BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST, &req.base, "container-stop", NULL);
}

static int verb_container_delete(char **args) {
        Bistro__Concierge__DeleteContainerRequest req = BISTRO__CONCIERGE__DELETE_CONTAINER_REQUEST__INIT;

        if (check_name(args[0]) < 0 || check_container_name(args[1]) < 0)
                return -EINVAL;
        req.vm_name = args[0];
        req.name = args[1];
        if (!arg_yes) {
                char line[16];

                if (!isatty(0)) {
                        fprintf(stderr,
                                "vmc: container-delete: refusing without a terminal to ask on; use --yes\n");
                        return -EPERM;
                }
                fprintf(stderr, "Delete container '%s' of VM '%s' and all its files? [y/N] ", args[1],
                        args[0]);
                if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y')) {
                        fprintf(stderr, "vmc: not deleted\n");
                        return -ECANCELED;
                }
        }
        return call(BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST, &req.base, "container-delete", NULL);
}

static int verb_container_list(char **args) {
        Bistro__Concierge__ListContainersRequest req = BISTRO__CONCIERGE__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListContainersResponse *l;
        int r;

        req.vm_name = args[0] ?: (char *) "termina";
        if (check_name(req.vm_name) < 0)
                return -EINVAL;
        r = call(BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST, &req.base, "container-list", &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < l->n_containers; i++) {
                        if (i)
                                putchar(',');
                        print_container_json(l->containers[i]);
                }
                printf("]\n");
                return 0;
        }
        if (arg_quiet) {
                for (size_t i = 0; i < l->n_containers; i++)
                        printf("%s\n", l->containers[i]->name);
                return 0;
        }
        printf("%-24s %-9s %-16s %-15s %s\n", "NAME", "STATE", "IMAGE", "IPV4", "IPV6");
        for (size_t i = 0; i < l->n_containers; i++) {
                const Bistro__Concierge__ContainerInfo *c = l->containers[i];

                printf("%-24s %-9s %-16s %-15s %s\n", c->name, concierge_container_state_to_string(c->state),
                       c->image[0] ? c->image : "-", c->ipv4_address[0] ? c->ipv4_address : "-",
                       c->ipv6_address[0] ? c->ipv6_address : "-");
        }
        return 0;
}

static const Verb verbs[] = {
        { "start", "[VM]",
          "Start a VM (default 'termina'); creates its disk on first start.\n"
          "  --cpus N --mem SIZE --disk-size SIZE (disk size only on creation), --json",
          0, 1, verb_start },
        { "stop", "[VM]",
          "Stop a VM gracefully (maitred, then power button, then kill).\n  --force: kill at once", 0, 1,
          verb_stop },
        { "list", "", "List VMs.  --json, -q (names only)", 0, 0, verb_list },
        { "ls", "", "Same as list.", 0, 0, verb_list },
        { "info", "[VM]", "Show a VM.  --json", 0, 1, verb_info },
        { "destroy", "VM", "Delete a stopped VM's disk and configuration.  --yes: do not ask", 1, 1,
          verb_destroy },
        { "logs", "[VM]", "Print the tail of the VM's console log.", 0, 1, verb_logs },
        { "export", "VM FILE",
          "Write the VM's disk to FILE (zstd) and FILE.sha256.\n  --force: export a running VM", 2, 2,
          verb_export },
        { "import", "FILE VM", "Create VM from an export (checked against FILE.sha256).", 2, 2,
          verb_import },
        { "resize", "VM SIZE", "Grow the VM's disk (live when running); shrinking is refused.", 2, 2,
          verb_resize },
        { "sync-time", "", "Push the host clock into every running VM.", 0, 0, verb_sync_time },
        { "container", "VM NAME",
          "Start container NAME in VM (and the VM), creating it first when missing.\n"
          "  --image IMAGE|FILE: image of the host store (default 'debian') or any rootfs tarball\n"
          "  (tar, tar.zst, tar.gz, tar.xz) to create it from.  --json, -q",
          2, 2, verb_container },
        { "container-stop", "VM NAME",
          "Stop a container cleanly (killed after 10 s).\n  --force: kill at once", 2, 2,
          verb_container_stop },
        { "container-delete", "VM NAME", "Delete a stopped container and its files.  --yes: do not ask", 2,
          2, verb_container_delete },
        { "container-list", "[VM]", "List the containers of a running VM (default 'termina').  --json, -q",
          0, 1, verb_container_list },
};

static int help(const Verb *v) {
        if (v) {
                printf("Usage: vmc %s %s\n%s\n", v->name, v->args, v->help);
                return 0;
        }
        printf("Usage: vmc [-q] [--json] VERB [ARGS]\nManage Bistro VMs and their containers (through concierge).\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-16s %-8s %.*s\n", verbs[i].name, verbs[i].args,
                       (int) strcspn(verbs[i].help, "\n"), verbs[i].help);
        printf("\n'vmc VERB --help' for a verb's options. Exit status: 0 ok, 1 failed, 2 usage.\n");
        return 0;
}

int main(int argc, char *argv[]) {
        enum {
                ARG_JSON = 0x100,
                ARG_CPUS,
                ARG_MEM,
                ARG_DISK,
                ARG_FORCE,
                ARG_YES,
                ARG_IMAGE
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "mem", required_argument, NULL, ARG_MEM },
                { "disk-size", required_argument, NULL, ARG_DISK },
                { "force", no_argument, NULL, ARG_FORCE },
                { "yes", no_argument, NULL, ARG_YES },
                { "image", required_argument, NULL, ARG_IMAGE },
                {},
        };
        const Verb *verb = NULL;
        char *args[3] = {};
        int c, n = 0, r;
        bool want_help = false;

        log_set_ident("vmc");
        log_parse_environment();
        (void) signal(SIGPIPE, SIG_IGN);
        /* Options may come before or after the verb. */
        while ((c = getopt_long(argc, argv, "hqy", options, NULL)) >= 0) {
                uint64_t v;

                switch (c) {
                case 'h':
                        want_help = true;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_CPUS:
                        if (safe_atou64(optarg, &v) < 0 || v < 1 || v > 256) {
                                fprintf(stderr, "vmc: invalid --cpus '%s' (1-256)\n", optarg);
                                return EXIT_USAGE;
                        }
                        arg_cpus = (uint32_t) v;
                        break;
                case ARG_MEM:
                        if (parse_size(optarg, &v) < 0 || (v >> 20) < 64 || (v >> 20) > 1024 * 1024) {
                                fprintf(stderr, "vmc: invalid --mem '%s' (64M to 1T)\n", optarg);
                                return EXIT_USAGE;
                        }
                        arg_mem_mib = v >> 20;
                        break;
                case ARG_DISK:
                        if (parse_size(optarg, &v) < 0 || v < (UINT64_C(1) << 30) ||
                            v > (UINT64_C(64) << 40)) {
                                fprintf(stderr, "vmc: invalid --disk-size '%s' (1G to 64T)\n", optarg);
                                return EXIT_USAGE;
                        }
                        arg_disk_size = v;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case 'y':
                case ARG_YES:
                        arg_yes = true;
                        break;
                case ARG_IMAGE:
                        arg_image = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                if (want_help)
                        return help(NULL);
                fprintf(stderr, "vmc: missing verb (see 'vmc --help')\n");
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name))
                        verb = &verbs[i];
        if (!verb) {
                fprintf(stderr, "vmc: unknown verb '%s' (see 'vmc --help')\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (want_help)
                return help(verb);
        for (int i = optind + 1; i < argc; i++) {
                if (n >= verb->max_args) {
                        fprintf(stderr, "vmc: %s: too many arguments (usage: vmc %s %s)\n", verb->name,
                                verb->name, verb->args);
                        return EXIT_USAGE;
                }
                args[n++] = argv[i];
        }
        if (n < verb->min_args) {
                fprintf(stderr, "vmc: %s: missing arguments (usage: vmc %s %s)\n", verb->name, verb->name,
                        verb->args);
                return EXIT_USAGE;
        }
        r = verb->run(args);
        return r < 0 ? (r == -EINVAL && !failed_remotely ? EXIT_USAGE : EXIT_FAILURE) : EXIT_SUCCESS;
}
