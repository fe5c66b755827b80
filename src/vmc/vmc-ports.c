/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc ports, vmc port-forward: the forwards of running VMs (docs/design/ports.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "string-util.h"
#include "vmc.h"

#define PORT_UNPRIVILEGED_MIN 1024u

static const char *proto_name(int p) {
        return p == BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP ? "udp" : "tcp";
}

static const char *state_name(int s) {
        switch (s) {
        case BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_ACTIVE:
                return "active";
        case BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_BUSY:
                return "busy";
        case BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_SHADOWED:
                return "shadowed";
        default:
                return "failed";
        }
}

/* "127.0.0.1:P,[::1]:P", or "-:P" when nothing is bound. */
static void format_host(const Bistro__Ports__Forward *f, char *buf, size_t n) {
        bool v4 = strstr(f->host_addresses, "127.0.0.1") != NULL,
             v6 = strstr(f->host_addresses, "::1") != NULL;

        if (v4 && v6)
                (void) snprintf(buf, n, "127.0.0.1:%u,[::1]:%u", f->host_port, f->host_port);
        else if (v4)
                (void) snprintf(buf, n, "127.0.0.1:%u", f->host_port);
        else if (v6)
                (void) snprintf(buf, n, "[::1]:%u", f->host_port);
        else
                (void) snprintf(buf, n, "-:%u", f->host_port);
}

int verb_ports(char **args) {
        Bistro__Ports__ListPortsRequest req = BISTRO__PORTS__LIST_PORTS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Ports__ListForwardsResponse *l;
        int r;

        if (args[0]) {
                r = vmc_check_vm_name(args[0]);
                if (r < 0)
                        return r;
        }
        req.vm_name = args[0] ?: (char *) "";
        r = vmc_call(
                &(VmcCall){ .what = "ports" }, BISTRO__MESSAGE_TYPE__LIST_PORTS_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json)
                putchar('[');
        else if (!arg_quiet)
                printf("%-32s %-5s %-14s %-30s %-6s %s\n", "VM/CONTAINER", "PROTO", "CONTAINER PORT", "HOST",
                       "KIND", "STATE");
        for (size_t i = 0; i < l->n_forwards; i++) {
                const Bistro__Ports__Forward *f = l->forwards[i];
                char label[2 * PROTO_NAME_MAX + 2], host[64];
                const char *slash = strchr(f->container, '/');

                if (args[0])
                        (void) snprintf(label, sizeof(label), "%s/%s", args[0], f->container);
                else
                        strscpy(label, f->container, sizeof(label));
                format_host(f, host, sizeof(host));
                if (arg_json) {
                        printf("%s{\"vm\":", i > 0 ? "," : "");
                        if (args[0])
                                json_write_string(stdout, args[0]);
                        else
                                printf("\"%.*s\"", slash ? (int) (slash - f->container) : 0, f->container);
                        printf(",\"container\":");
                        json_write_string(stdout, slash && !args[0] ? slash + 1 : f->container);
                        printf(",\"protocol\":\"%s\",\"container_port\":%u,\"host_port\":%u,\"host_addresses\":",
                               proto_name(f->protocol), f->container_port, f->host_port);
                        json_write_string(stdout, f->host_addresses);
                        printf(",\"manual\":%s,\"state\":\"%s\",\"reason\":", f->manual ? "true" : "false",
                               state_name(f->state));
                        json_write_string(stdout, f->reason);
                        putchar('}');
                } else if (arg_quiet)
                        printf("%u\n", f->host_port);
                else {
                        /* Names and reasons came through a guest-fed daemon: show them escaped. */
                        _cleanup_free_ char *el = escape_for_terminal(label, strlen(label), false);
                        _cleanup_free_ char *er = escape_for_terminal(f->reason, strlen(f->reason), false);

                        printf("%-32s %-5s %-14u %-30s %-6s %s%s%s\n", el ?: "?", proto_name(f->protocol),
                               f->container_port, host, f->manual ? "manual" : "auto", state_name(f->state),
                               er && er[0] ? ": " : "", er ?: "");
                }
        }
        if (arg_json)
                printf("]\n");
        return 0;
}

static int parse_port(const char *s, uint32_t min, uint32_t *ret) {
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v < min || v > 65535)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int verb_port_forward(char **args) {
        Bistro__Ports__PortForwardRequest req = BISTRO__PORTS__PORT_FORWARD_REQUEST__INIT;
        Bistro__Ports__AddForwardRequest add = BISTRO__PORTS__ADD_FORWARD_REQUEST__INIT;
        Bistro__Ports__RemoveForwardRequest rm = BISTRO__PORTS__REMOVE_FORWARD_REQUEST__INIT;
        int proto = arg_udp ? BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP : BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        uint32_t port, host = 0;
        int r;

        r = vmc_check_vm_and_container(args[0], args[1]);
        if (r < 0)
                return r;
        if (parse_port(args[2], 1, &port) < 0)
                return log_usage_error("port-forward: invalid port '%s' (1-65535)", args[2]);
        if (arg_host_port && parse_port(arg_host_port, PORT_UNPRIVILEGED_MIN, &host) < 0)
                return log_usage_error("port-forward: invalid --host-port '%s' (1024-65535)", arg_host_port);
        if (!host && port < PORT_UNPRIVILEGED_MIN)
                return log_usage_error(
                        "port-forward: port %u is privileged on the host: add --host-port 1024-65535", port);
        req.vm_name = args[0];
        if (arg_remove) {
                rm.protocol = proto;
                rm.host_port = host ?: port;
                req.remove = &rm;
        } else {
                add.container = args[1];
                add.protocol = proto;
                add.container_port = port;
                add.host_port = host;
                req.add = &add;
        }
        r = vmc_call(
                &(VmcCall){ .what = "port-forward" }, BISTRO__MESSAGE_TYPE__PORT_FORWARD_REQUEST, &req.base,
                NULL);
        if (r < 0)
                return r;
        if (!arg_quiet && !arg_remove)
                fprintf(stderr, "Forwarding localhost:%u (%s) to %s:%u in VM '%s'.\n", host ?: port,
                        proto_name(proto), args[1], port, args[0]);
        return 0;
}
