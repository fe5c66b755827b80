/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "macro.h"
#include "proto-validate.h"

#define NAMESERVERS_MAX 3u
#define SEARCH_DOMAINS_MAX 6u
#define DNS_NAME_MAX 253u
#define DNS_LABEL_MAX 63u
#define TIME_MIN INT64_C(1577836800) /* 2020-01-01 */
#define TIME_MAX (INT64_C(1) << 40)
#define FSTYPE_MAX 31u
#define MOUNT_DATA_MAX 1024u
#define ENV_MAX 256u
#define VERSION_MAX 64u
#define KERNEL_VERSION_MAX 256u

#define MOUNT_FLAGS_ALLOWED \
        ((uint64_t) (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_NOATIME | MS_NODIRATIME | MS_BIND | MS_REC | MS_RELATIME | MS_STRICTATIME))

static bool dns_label_ok(const char *s, size_t n) {
        if (n == 0 || n > DNS_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static bool dns_name_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, DNS_NAME_MAX + 1);
        if (n == 0 || n > DNS_NAME_MAX)
                return false;
        for (const char *p = s, *dot;; p = dot + 1) {
                dot = strchr(p, '.');
                if (!dns_label_ok(p, dot ? (size_t) (dot - p) : strlen(p)))
                        return false;
                if (!dot)
                        return true;
        }
}

static bool fstype_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, FSTYPE_MAX + 1);
        if (n == 0 || n > FSTYPE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
                      s[i] == '_'))
                        return false;
        return true;
}

PROTO_VALIDATOR(validate_configure_network, Bistro__Maitred__ConfigureNetworkRequest)
static int validate_configure_network_impl(const Bistro__Maitred__ConfigureNetworkRequest *m) {
        PROTO_CHECK(m->ipv4_address != 0);
        PROTO_CHECK(m->ipv4_prefix_len >= 1 && m->ipv4_prefix_len <= 32);
        if (m->ipv6_address.len == 0) {
                PROTO_CHECK(m->ipv6_prefix_len == 0 && m->ipv6_gateway.len == 0);
        } else {
                PROTO_CHECK(m->ipv6_address.len == 16 && m->ipv6_address.data);
                PROTO_CHECK(m->ipv6_prefix_len >= 1 && m->ipv6_prefix_len <= 128);
                PROTO_CHECK(m->ipv6_gateway.len == 0 || (m->ipv6_gateway.len == 16 && m->ipv6_gateway.data));
        }
        PROTO_CHECK(m->n_nameservers <= NAMESERVERS_MAX);
        for (size_t i = 0; i < m->n_nameservers; i++)
                PROTO_CHECK(
                        proto_ip_ok(m->nameservers[i], AF_INET, false) ||
                        proto_ip_ok(m->nameservers[i], AF_INET6, false));
        PROTO_CHECK(m->n_search_domains <= SEARCH_DOMAINS_MAX);
        for (size_t i = 0; i < m->n_search_domains; i++)
                PROTO_CHECK(dns_name_ok(m->search_domains[i]));
        PROTO_CHECK(
                m->hostname && (m->hostname[0] == '\0' || dns_label_ok(m->hostname, strlen(m->hostname))));
        return 0;
}

PROTO_VALIDATOR(validate_set_time, Bistro__Maitred__SetTimeRequest)
static int validate_set_time_impl(const Bistro__Maitred__SetTimeRequest *m) {
        PROTO_CHECK(m->seconds >= TIME_MIN && m->seconds < TIME_MAX);
        PROTO_CHECK(m->nanos >= 0 && m->nanos <= 999999999);
        return 0;
}

PROTO_VALIDATOR(validate_set_timezone, Bistro__Maitred__SetTimezoneRequest)
static int validate_set_timezone_impl(const Bistro__Maitred__SetTimezoneRequest *m) {
        PROTO_CHECK(proto_timezone_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_mount, Bistro__Maitred__MountRequest)
static int validate_mount_impl(const Bistro__Maitred__MountRequest *m) {
        bool bind = m->flags & MS_BIND;

        PROTO_CHECK(proto_text_nonempty_ok(m->source, PROTO_PATH_MAX));
        PROTO_CHECK(proto_abs_path_ok(m->target, true));
        PROTO_CHECK((m->flags & ~MOUNT_FLAGS_ALLOWED) == 0);
        PROTO_CHECK(m->fstype && (bind ? m->fstype[0] == '\0' : fstype_ok(m->fstype)));
        PROTO_CHECK(!bind || proto_abs_path_ok(m->source, true));
        PROTO_CHECK(proto_text_ok(m->data, MOUNT_DATA_MAX, false));
        PROTO_CHECK(!m->mkfs_if_needed || (!bind && proto_abs_path_ok(m->source, true)));
        return 0;
}

PROTO_VALIDATOR(validate_launch_process, Bistro__Maitred__LaunchProcessRequest)
static int validate_launch_process_impl(const Bistro__Maitred__LaunchProcessRequest *m) {
        PROTO_CHECK(proto_argv_ok(m->argv, m->n_argv, PROTO_ARGV_MAX, false));
        PROTO_CHECK(proto_abs_path_ok(m->argv[0], false));
        PROTO_CHECK(m->n_env <= ENV_MAX);
        for (size_t i = 0; i < m->n_env; i++)
                PROTO_CHECK(proto_env_ok(m->env[i]));
        PROTO_CHECK(!(m->respawn && m->wait_for_exit));
        return 0;
}

PROTO_VALIDATOR(validate_launch_process_response, Bistro__Maitred__LaunchProcessResponse)
static int validate_launch_process_response_impl(const Bistro__Maitred__LaunchProcessResponse *m) {
        PROTO_CHECK(m->pid > 0);
        switch (m->status) {
        case BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_LAUNCHED:
                PROTO_CHECK(m->code == 0);
                break;
        case BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED:
                PROTO_CHECK(m->code >= 0 && m->code <= 255);
                break;
        case BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_SIGNALED:
                PROTO_CHECK(m->code >= 1 && m->code <= 64);
                break;
        default:
                return -EBADMSG;
        }
        return 0;
}

PROTO_VALIDATOR(validate_shutdown, Bistro__Maitred__ShutdownRequest)
static int validate_shutdown_impl(const Bistro__Maitred__ShutdownRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_get_kernel_version, Bistro__Maitred__GetKernelVersionRequest)
static int validate_get_kernel_version_impl(const Bistro__Maitred__GetKernelVersionRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_get_kernel_version_response, Bistro__Maitred__GetKernelVersionResponse)
static int validate_get_kernel_version_response_impl(const Bistro__Maitred__GetKernelVersionResponse *m) {
        PROTO_CHECK(proto_text_nonempty_ok(m->kernel_release, VERSION_MAX));
        PROTO_CHECK(proto_text_ok(m->kernel_version, KERNEL_VERSION_MAX, false));
        return 0;
}

PROTO_VALIDATOR(validate_vm_ready, Bistro__Maitred__VmReadyRequest)
static int validate_vm_ready_impl(const Bistro__Maitred__VmReadyRequest *m) {
        PROTO_CHECK(proto_text_nonempty_ok(m->kernel_version, VERSION_MAX));
        PROTO_CHECK(proto_text_ok(m->image_version, VERSION_MAX, false));
        return 0;
}

#define ENTRY(t, k, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__maitred__##d##__descriptor, v, k, n }

const MessageTypeInfo maitred_message_types[] = {
        ENTRY(CONFIGURE_NETWORK_REQUEST,
              MESSAGE_KIND_REQUEST,
              8192,
              configure_network_request,
              validate_configure_network),
        ENTRY(SET_TIME_REQUEST, MESSAGE_KIND_REQUEST, 1024, set_time_request, validate_set_time),
        ENTRY(SET_TIMEZONE_REQUEST, MESSAGE_KIND_REQUEST, 1024, set_timezone_request, validate_set_timezone),
        ENTRY(MOUNT_REQUEST, MESSAGE_KIND_REQUEST, 16384, mount_request, validate_mount),
        ENTRY(LAUNCH_PROCESS_REQUEST,
              MESSAGE_KIND_REQUEST,
              256 * 1024,
              launch_process_request,
              validate_launch_process),
        ENTRY(SHUTDOWN_REQUEST, MESSAGE_KIND_REQUEST, 1024, shutdown_request, validate_shutdown),
        ENTRY(GET_KERNEL_VERSION_REQUEST,
              MESSAGE_KIND_REQUEST,
              1024,
              get_kernel_version_request,
              validate_get_kernel_version),
        ENTRY(VM_READY_REQUEST, MESSAGE_KIND_REQUEST, 1024, vm_ready_request, validate_vm_ready),
        ENTRY(LAUNCH_PROCESS_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              1024,
              launch_process_response,
              validate_launch_process_response),
        ENTRY(GET_KERNEL_VERSION_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              1024,
              get_kernel_version_response,
              validate_get_kernel_version_response),
};
const size_t maitred_message_types_count = ELEMENTSOF(maitred_message_types);
