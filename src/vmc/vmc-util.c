/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc's helpers: the call to concierge with its progress display, names, paths, JSON objects. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-util.h"
#include "concierge-client.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "path-util.h"
#include "proto-validate.h"
#include "string-util.h"
#include "vmc.h"

static int on_progress(const Bistro__Concierge__Progress *e, void *userdata) {
        CliProgress *p = userdata;

        if (startswith(e->stage, "warning:")) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "vmc: %s", e->stage) < 0)
                        return 0;
                cli_progress_message(p, m);
                return 0;
        }
        /* Booting reports steps, not bytes: no bar for it. */
        cli_progress_update(
                p, e->stage, e->done, e->total,
                e->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM);
        return 0;
}

int vmc_call(const VmcCall *c, uint32_t type, const ProtobufCMessage *req, ProtobufCMessage **ret) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *error = NULL, *notice = NULL;
        _cleanup_close_ int fd = -EBADF;
        CliProgress p;
        int r;

        fd = concierge_connect(NULL, NULL, &notice, &error);
        if (fd < 0)
                return log_error_errno(fd, "%s", error ?: "Cannot reach concierge.");
        if (notice)
                log_warning("%s", notice);
        cli_progress_init(&p, "", arg_quiet);
        /* Without a terminal, only long jobs that asked for it get progress lines (logs stay short). */
        if (!p.tty && !c->progress_lines)
                p.quiet = true;
        r = concierge_call(fd, type, req, VMC_CALL_TIMEOUT_MS, on_progress, &p, &resp, &error);
        cli_progress_end(&p);
        if (r >= 0) {
                if (ret)
                        *ret = TAKE_PTR(resp);
                return 0;
        }
        for (const int *q = c->quiet; q && *q; q++)
                if (r == -*q)
                        return r;
        if (error) {
                _cleanup_free_ char *e = escape_for_terminal(error, strlen(error), true);

                return log_error_errno(r, "%s: %s", c->what, e ?: "?");
        }
        if (r == -ETIMEDOUT)
                return log_error_errno(
                        r, "%s: concierge did not answer within %d s.", c->what, VMC_CALL_TIMEOUT_MS / 1000);
        return log_error_errno(r, "%s: %m", c->what);
}

static int check_name(const char *what, const char *name) {
        if (proto_name_ok(name))
                return 0;
        return log_usage_error(
                "invalid %s name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
                what, utf8_is_valid(name) ? name : "(not UTF-8)");
}

int vmc_check_vm_name(const char *name) {
        return check_name("VM", name);
}

int vmc_check_container_name(const char *name) {
        return check_name("container", name);
}

int vmc_check_vm_and_container(const char *vm, const char *container) {
        int r = check_name("VM", vm);

        return r < 0 ? r : check_name("container", container);
}

int vmc_absolute_path(const char *p, char **ret) {
        _cleanup_free_ char *cwd = NULL;

        if (p[0] == '/') {
                *ret = strdup(p);
                return *ret ? 0 : -ENOMEM;
        }
        cwd = getcwd(NULL, 0);
        if (!cwd)
                return -errno;
        *ret = path_join(cwd, p);
        return *ret ? 0 : -ENOMEM;
}

void vmc_print_vm_json(const Bistro__Concierge__VmInfo *v) {
        printf("{\"name\":");
        json_write_string(stdout, v->name);
        printf(",\"state\":\"%s\",\"pid\":%d,\"cpus\":%u,\"memory_mib\":%llu,\"disk_path\":",
               concierge_vm_state_to_string(v->state), (int) v->pid, v->cpus,
               (unsigned long long) v->memory_mib);
        json_write_string(stdout, v->disk_path);
        printf(",\"disk_size\":%llu,\"disk_used\":%llu,\"kernel_version\":",
               (unsigned long long) v->disk_size, (unsigned long long) v->disk_used);
        json_write_string(stdout, v->kernel_version);
        printf(",\"image_version\":");
        json_write_string(stdout, v->image_version);
        printf(",\"started_at\":%lld,\"host_loopback\":%s}", (long long) v->started_at,
               v->host_loopback ? "true" : "false");
}

void vmc_print_container_json(const Bistro__Concierge__ContainerInfo *c) {
        printf("{\"vm_name\":");
        json_write_string(stdout, c->vm_name);
        printf(",\"name\":");
        json_write_string(stdout, c->name);
        printf(",\"state\":\"%s\",\"image\":", concierge_container_state_to_string(c->state));
        json_write_string(stdout, c->image);
        printf(",\"ipv4_address\":");
        json_write_string(stdout, c->ipv4_address);
        printf(",\"ipv6_address\":");
        json_write_string(stdout, c->ipv6_address);
        putchar('}');
}
