/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc's container verbs: container (start, creating it when missing), container-stop,
 * container-delete, container-list. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "proto-validate.h"
#include "string-util.h"
#include "vmc.h"

/* --image: a path (it has a slash, or names an existing file) or an image of the host store. */
static bool image_is_path(const char *image) {
        return strchr(image, '/') || access(image, F_OK) >= 0;
}

int verb_container(char **args) {
        Bistro__Concierge__StartContainerRequest req = BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *path = NULL;
        const Bistro__Concierge__ContainerInfo *info;
        int r;

        r = vmc_check_vm_and_container(args[0], args[1]);
        if (r < 0)
                return r;
        if (arg_image && !image_is_path(arg_image) && !proto_image_name_ok(arg_image))
                return log_usage_error("container: '%s' is neither an image name nor a file", arg_image);
        if (arg_image && image_is_path(arg_image)) {
                r = vmc_absolute_path(arg_image, &path);
                if (r < 0)
                        return log_error_errno(r, "container: cannot make '%s' absolute: %m", arg_image);
        }
        /* One call: concierge starts the VM when needed and creates the container when missing. */
        req.vm_name = args[0];
        req.name = args[1];
        req.image = path ?: (char *) (arg_image ?: "");
        req.create_if_missing = true;
        r = vmc_call(
                &(VmcCall){ .what = "container", .progress_lines = true },
                BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        if (((const Bistro__Concierge__ContainerInfoResponse *) resp)->created && !arg_quiet)
                fprintf(stderr, "Created container '%s' in VM '%s' from %s.\n", args[1], args[0],
                        path ?: arg_image ?: "the default image (debian)");
        info = ((const Bistro__Concierge__ContainerInfoResponse *) resp)->container;
        if (arg_json) {
                vmc_print_container_json(info);
                putchar('\n');
        } else if (!arg_quiet)
                printf("Container '%s' is running in VM '%s'.\nIPv4: %s\nIPv6: %s\n", info->name,
                       info->vm_name, info->ipv4_address[0] ? info->ipv4_address : "-",
                       info->ipv6_address[0] ? info->ipv6_address : "-");
        return 0;
}

int verb_container_stop(char **args) {
        Bistro__Concierge__StopContainerRequest req = BISTRO__CONCIERGE__STOP_CONTAINER_REQUEST__INIT;
        int r;

        r = vmc_check_vm_and_container(args[0], args[1]);
        if (r < 0)
                return r;
        req.vm_name = args[0];
        req.name = args[1];
        req.force = arg_force;
        return vmc_call(
                &(VmcCall){ .what = "container-stop" }, BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST,
                &req.base, NULL);
}

int verb_container_delete(char **args) {
        Bistro__Concierge__DeleteContainerRequest req = BISTRO__CONCIERGE__DELETE_CONTAINER_REQUEST__INIT;
        _cleanup_free_ char *question = NULL;
        int r;

        r = vmc_check_vm_and_container(args[0], args[1]);
        if (r < 0)
                return r;
        req.vm_name = args[0];
        req.name = args[1];
        if (!arg_yes) {
                if (asprintf(
                            &question, "Delete container '%s' of VM '%s' and all its files?", args[1],
                            args[0]) < 0)
                        return log_oom();
                r = cli_confirm(question);
                if (r == -ENOTTY)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EPERM),
                                "container-delete: refusing without a terminal to ask on; use --yes");
                if (r <= 0)
                        return log_error_errno(SYNTHETIC_ERRNO(ECANCELED), "not deleted");
        }
        return vmc_call(
                &(VmcCall){ .what = "container-delete" }, BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST,
                &req.base, NULL);
}

int verb_container_list(char **args) {
        Bistro__Concierge__ListContainersRequest req = BISTRO__CONCIERGE__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListContainersResponse *l;
        int r;

        req.vm_name = args[0] ?: (char *) VMC_DEFAULT_VM;
        r = vmc_check_vm_name(req.vm_name);
        if (r < 0)
                return r;
        r = vmc_call(
                &(VmcCall){ .what = "container-list" }, BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST,
                &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < l->n_containers; i++) {
                        if (i)
                                putchar(',');
                        vmc_print_container_json(l->containers[i]);
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
