/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc share, vmc unshare, vmc shares: host folders shared into a VM's containers
 * (docs/design/shares.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "seneschal-control.h"
#include "string-util.h"
#include "vmc.h"

static void print_share(const Bistro__Concierge__SharedDir *d, bool first) {
        if (arg_json) {
                printf("%s{\"name\":", first ? "" : ",");
                json_write_string(stdout, d->name);
                printf(",\"host_path\":");
                json_write_string(stdout, d->host_path);
                printf(",\"container\":");
                json_write_string(stdout, d->container);
                printf(",\"read_only\":%s,\"path\":\"/mnt/shared/", d->read_only ? "true" : "false");
                fputs(d->name, stdout); /* a share name needs no escaping */
                printf("\"}");
        } else if (arg_quiet)
                printf("%s\n", d->name);
        else {
                _cleanup_free_ char *p = escape_for_terminal(d->host_path, strlen(d->host_path), false);

                printf("%-24s %-16s %-3s /mnt/shared/%-12s %s\n", d->name, d->container,
                       d->read_only ? "ro" : "rw", d->name, p ?: "?");
        }
}

int verb_share(char **args) {
        Bistro__Concierge__SharePathRequest req = BISTRO__CONCIERGE__SHARE_PATH_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *path = NULL;
        const Bistro__Concierge__ListSharesResponse *l;
        int r;

        r = vmc_check_vm_name(args[0]);
        if (r < 0)
                return r;
        if (arg_container) {
                r = vmc_check_container_name(arg_container);
                if (r < 0)
                        return r;
        }
        if (arg_share_name && !share_name_is_valid(arg_share_name))
                return log_usage_error(
                        "share: invalid --name '%s' (1-%u of A-Z a-z 0-9 . _ -, not starting with '.' or '-')",
                        arg_share_name, SHARE_NAME_MAX);
        r = vmc_absolute_path(args[1], &path);
        if (r < 0)
                return log_error_errno(r, "share: '%s': %m", args[1]);
        req.vm_name = args[0];
        req.host_path = path;
        req.container = (char *) (arg_container ?: "");
        req.name = (char *) (arg_share_name ?: "");
        req.read_only = arg_read_only;
        r = vmc_call(
                &(VmcCall){ .what = "share" }, BISTRO__MESSAGE_TYPE__SHARE_PATH_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (l->n_shares != 1)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EPROTO), "share: concierge sent %zu shares", l->n_shares);
        if (arg_json) {
                print_share(l->shares[0], true);
                putchar('\n');
        } else if (!arg_quiet)
                printf("Shared '%s' as /mnt/shared/%s in container '%s'%s.\n", l->shares[0]->host_path,
                       l->shares[0]->name, l->shares[0]->container,
                       l->shares[0]->read_only ? " (read-only)" : "");
        return 0;
}

int verb_unshare(char **args) {
        Bistro__Concierge__UnsharePathRequest req = BISTRO__CONCIERGE__UNSHARE_PATH_REQUEST__INIT;
        int r;

        r = vmc_check_vm_name(args[0]);
        if (r < 0)
                return r;
        if (!share_name_is_valid(args[1]))
                return log_usage_error("unshare: invalid share name '%s'", args[1]);
        req.vm_name = args[0];
        req.name = args[1];
        return vmc_call(
                &(VmcCall){ .what = "unshare" }, BISTRO__MESSAGE_TYPE__UNSHARE_PATH_REQUEST, &req.base,
                NULL);
}

int verb_shares(char **args) {
        Bistro__Concierge__ListSharesRequest req = BISTRO__CONCIERGE__LIST_SHARES_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListSharesResponse *l;
        const char *vm = args[0] ?: VMC_DEFAULT_VM;
        int r;

        r = vmc_check_vm_name(vm);
        if (r < 0)
                return r;
        req.vm_name = (char *) vm;
        r = vmc_call(
                &(VmcCall){ .what = "shares" }, BISTRO__MESSAGE_TYPE__LIST_SHARES_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json)
                putchar('[');
        else if (!arg_quiet)
                printf("%-24s %-16s %-3s %-24s %s\n", "NAME", "CONTAINER", "RW", "IN CONTAINER",
                       "HOST PATH");
        for (size_t i = 0; i < l->n_shares; i++)
                print_share(l->shares[i], i == 0);
        if (arg_json)
                printf("]\n");
        return 0;
}
