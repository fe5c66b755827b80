/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "proto-validate.h"

#define PORTS_MAX 4096u
#define REASON_MAX 256u
#define HOST_ADDRESSES_MAX 64u
#define UNPRIVILEGED_PORT_MIN 1024u

static bool port_ok(uint32_t p) {
        return p >= 1 && p <= 65535;
}

static bool protocol_ok(int p) {
        return p == BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP || p == BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP;
}

/* "NAME" or, in a listing over every VM, "VM/NAME". */
static bool container_label_ok(const char *s) {
        const char *slash;
        char vm[PROTO_NAME_MAX + 1];

        if (!s)
                return false;
        slash = strchr(s, '/');
        if (!slash)
                return proto_name_ok(s);
        if ((size_t) (slash - s) > PROTO_NAME_MAX)
                return false;
        memcpy(vm, s, slash - s);
        vm[slash - s] = 0;
        return proto_name_ok(vm) && proto_name_ok(slash + 1);
}

static int listening_port_validate(const Bistro__Ports__ListeningPort *p) {
        PROTO_CHECK(p);
        PROTO_CHECK(proto_name_ok(p->container));
        PROTO_CHECK(port_ok(p->port));
        PROTO_CHECK(p->ipv4 || p->ipv6);
        return 0;
}

PROTO_VALIDATOR(validate_watch_ports, Bistro__Ports__WatchPortsRequest)
static int validate_watch_ports_impl(const Bistro__Ports__WatchPortsRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_ports_update, Bistro__Ports__PortsUpdate)
static int validate_ports_update_impl(const Bistro__Ports__PortsUpdate *m) {
        PROTO_CHECK(m->n_ports <= PORTS_MAX);
        for (size_t i = 0; i < m->n_ports; i++)
                PROTO_CHECK(listening_port_validate(m->ports[i]) == 0);
        return 0;
}

PROTO_VALIDATOR(validate_forward_connect, Bistro__Ports__ForwardConnectRequest)
static int validate_forward_connect_impl(const Bistro__Ports__ForwardConnectRequest *m) {
        PROTO_CHECK(proto_name_ok(m->container));
        PROTO_CHECK(protocol_ok(m->protocol));
        PROTO_CHECK(port_ok(m->port));
        return 0;
}

PROTO_VALIDATOR(validate_list_forwards, Bistro__Ports__ListForwardsRequest)
static int validate_list_forwards_impl(const Bistro__Ports__ListForwardsRequest *m) {
        return 0;
}

static int forward_validate(const Bistro__Ports__Forward *f) {
        PROTO_CHECK(f);
        PROTO_CHECK(container_label_ok(f->container));
        PROTO_CHECK(protocol_ok(f->protocol));
        PROTO_CHECK(port_ok(f->container_port));
        PROTO_CHECK(port_ok(f->host_port));
        PROTO_CHECK(
                proto_enum_ok(&bistro__ports__forward_state__descriptor, f->state) &&
                f->state != BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_INVALID);
        PROTO_CHECK(proto_text_ok(f->reason, REASON_MAX, false));
        PROTO_CHECK(proto_text_ok(f->host_addresses, HOST_ADDRESSES_MAX, false));
        return 0;
}

PROTO_VALIDATOR(validate_list_forwards_response, Bistro__Ports__ListForwardsResponse)
static int validate_list_forwards_response_impl(const Bistro__Ports__ListForwardsResponse *m) {
        PROTO_CHECK(m->n_forwards <= PORTS_MAX);
        for (size_t i = 0; i < m->n_forwards; i++)
                PROTO_CHECK(forward_validate(m->forwards[i]) == 0);
        return 0;
}

static int add_forward_validate(const Bistro__Ports__AddForwardRequest *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(proto_name_ok(m->container));
        PROTO_CHECK(protocol_ok(m->protocol));
        PROTO_CHECK(port_ok(m->container_port));
        if (m->host_port == 0)
                PROTO_CHECK(m->container_port >= UNPRIVILEGED_PORT_MIN);
        else
                PROTO_CHECK(m->host_port >= UNPRIVILEGED_PORT_MIN && port_ok(m->host_port));
        return 0;
}

static int remove_forward_validate(const Bistro__Ports__RemoveForwardRequest *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(protocol_ok(m->protocol));
        PROTO_CHECK(port_ok(m->host_port));
        return 0;
}

PROTO_VALIDATOR(validate_add_forward, Bistro__Ports__AddForwardRequest)
static int validate_add_forward_impl(const Bistro__Ports__AddForwardRequest *m) {
        return add_forward_validate(m);
}

PROTO_VALIDATOR(validate_remove_forward, Bistro__Ports__RemoveForwardRequest)
static int validate_remove_forward_impl(const Bistro__Ports__RemoveForwardRequest *m) {
        return remove_forward_validate(m);
}

PROTO_VALIDATOR(validate_list_ports, Bistro__Ports__ListPortsRequest)
static int validate_list_ports_impl(const Bistro__Ports__ListPortsRequest *m) {
        PROTO_CHECK(m->vm_name && (m->vm_name[0] == '\0' || proto_name_ok(m->vm_name)));
        return 0;
}

PROTO_VALIDATOR(validate_port_forward, Bistro__Ports__PortForwardRequest)
static int validate_port_forward_impl(const Bistro__Ports__PortForwardRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        /* Exactly one of add and remove. */
        PROTO_CHECK(!m->add != !m->remove);
        return m->add ? add_forward_validate(m->add) : remove_forward_validate(m->remove);
}

#define ENTRY(t, k, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__ports__##d##__descriptor, v, k, n }

const MessageTypeInfo ports_message_types[] = {
        ENTRY(WATCH_PORTS_REQUEST, MESSAGE_KIND_REQUEST, 64, watch_ports_request, validate_watch_ports),
        ENTRY(FORWARD_CONNECT_REQUEST,
              MESSAGE_KIND_REQUEST,
              256,
              forward_connect_request,
              validate_forward_connect),
        ENTRY(LIST_FORWARDS_REQUEST,
              MESSAGE_KIND_REQUEST,
              64,
              list_forwards_request,
              validate_list_forwards),
        ENTRY(ADD_FORWARD_REQUEST, MESSAGE_KIND_REQUEST, 256, add_forward_request, validate_add_forward),
        ENTRY(REMOVE_FORWARD_REQUEST,
              MESSAGE_KIND_REQUEST,
              64,
              remove_forward_request,
              validate_remove_forward),
        ENTRY(LIST_PORTS_REQUEST, MESSAGE_KIND_REQUEST, 256, list_ports_request, validate_list_ports),
        ENTRY(PORT_FORWARD_REQUEST, MESSAGE_KIND_REQUEST, 512, port_forward_request, validate_port_forward),
        ENTRY(PORTS_UPDATE, MESSAGE_KIND_EVENT, 512 * 1024, ports_update, validate_ports_update),
        ENTRY(LIST_FORWARDS_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              2 * 1024 * 1024,
              list_forwards_response,
              validate_list_forwards_response),
};
const size_t ports_message_types_count = ELEMENTSOF(ports_message_types);
