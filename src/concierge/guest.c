/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "fd-util.h"
#include "guest.h"
#include "log.h"
#include "message-type.h"
#include "proto-validate.h"
#include "qmp-client.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vsock-hybrid.h"
#include "wire.h"

int guest_connect(const char *vsock_path, uint32_t port, int timeout_ms) {
        int fd = vsock_hybrid_connect(vsock_path, port, timeout_ms);

        /* Nothing listens on the guest port yet: callers retry on ECONNREFUSED. */
        return fd == -ECONNABORTED ? -ECONNREFUSED : fd;
}

int guest_call(
        const char *vsock_path,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ProtobufCMessage **ret_resp,
        char **reterr_message) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        fd = guest_connect(vsock_path, MAITRED_PORT, timeout_ms);
        if (fd < 0)
                return set_error_message(reterr_message, fd, "cannot reach maitred: %m");
        r = wire_call_sync(fd, type, req, message_response_type(type), timeout_ms, &rtype, &resp);
        if (r < 0) {
                _cleanup_free_ char *m = NULL;

                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                if (m)
                        return set_error_message(reterr_message, r, "%s", m);
                return set_error_message(reterr_message, r, "maitred call failed: %m");
        }
        if (ret_resp)
                *ret_resp = TAKE_PTR(resp);
        return 0;
}

int guest_run(const char *vsock_path, char **argv, int timeout_ms, char **reterr_message) {
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Maitred__LaunchProcessResponse *l;
        size_t n = 0;
        int r;

        while (argv[n])
                n++;
        lp.argv = argv;
        lp.n_argv = n;
        lp.wait_for_exit = true;
        r = guest_call(
                vsock_path, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, &lp.base, timeout_ms, &resp,
                reterr_message);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (l->status == BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED) {
                if (l->code != 0)
                        (void) set_error_message(
                                reterr_message, -EIO, "%s exited with status %d", argv[0], (int) l->code);
                return l->code;
        }
        return set_error_message(reterr_message, -EIO, "%s killed by signal %d", argv[0], (int) l->code);
}

int guest_configure_network(const char *vsock_path, bool ipv6, char **reterr_message) {
        Bistro__Maitred__ConfigureNetworkRequest cn = BISTRO__MAITRED__CONFIGURE_NETWORK_REQUEST__INIT;
        struct in_addr a4, gw4;
        uint8_t a6[16], gw6[16];
        char *ns[] = { (char *) "10.0.2.3" };

        (void) inet_pton(AF_INET, "10.0.2.15", &a4);
        (void) inet_pton(AF_INET, "10.0.2.2", &gw4);
        (void) inet_pton(AF_INET6, "fec0::15", a6);
        (void) inet_pton(AF_INET6, "fec0::2", gw6);
        cn.ipv4_address = a4.s_addr;
        cn.ipv4_prefix_len = 24;
        cn.ipv4_gateway = gw4.s_addr;
        cn.nameservers = ns;
        cn.n_nameservers = ELEMENTSOF(ns);
        if (ipv6) {
                cn.ipv6_address = (ProtobufCBinaryData){ .len = sizeof(a6), .data = a6 };
                cn.ipv6_prefix_len = 64;
                cn.ipv6_gateway = (ProtobufCBinaryData){ .len = sizeof(gw6), .data = gw6 };
        }
        return guest_call(
                vsock_path, BISTRO__MESSAGE_TYPE__CONFIGURE_NETWORK_REQUEST, &cn.base, 20000, NULL,
                reterr_message);
}

int guest_set_time(const char *vsock_path, char **reterr_message) {
        Bistro__Maitred__SetTimeRequest st = BISTRO__MAITRED__SET_TIME_REQUEST__INIT;
        usec_t now = now_usec(CLOCK_REALTIME);

        if (now == 0)
                return -EIO;
        st.seconds = (int64_t) (now / USEC_PER_SEC);
        st.nanos = (int32_t) (now % USEC_PER_SEC * NSEC_PER_USEC);
        return guest_call(
                vsock_path, BISTRO__MESSAGE_TYPE__SET_TIME_REQUEST, &st.base, 20000, NULL, reterr_message);
}

int qmp_command_run(const char *qmp_path, const char *command, int timeout_ms, char **reterr_message) {
        _cleanup_(qmp_client_freep) QmpClient *c = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *cmd = NULL, *execute, *args = NULL;
        int r;

        /* The command is ours, but it goes through the same parser as QEMU's answers. */
        r = qmp_json_parse(command, strlen(command), &cmd);
        if (r < 0 || !json_object_object_get_ex(cmd, "execute", &execute) ||
            !json_object_is_type(execute, json_type_string) ||
            (json_object_object_get_ex(cmd, "arguments", &args) &&
             !json_object_is_type(args, json_type_object))) {
                json_object_put(cmd);
                return -EINVAL;
        }
        r = qmp_client_connect(qmp_path, timeout_ms, &c);
        if (r >= 0)
                r = qmp_client_execute(c, json_object_get_string(execute), args, timeout_ms, NULL, &error);
        json_object_put(cmd);
        if (r < 0)
                return error ? set_error_message(reterr_message, r, "QMP: %s", error)
                             : set_error_message(reterr_message, r, "QMP: %m");
        return 0;
}

int run_command(char *const *argv, char **ret_output) {
        SpawnOptions o = {
                .stdin_fd = -EBADF, .stdout_fd = -EBADF, .merge_stderr = true, .max_output = 4096
        };

        return spawn_capture(argv, &o, ret_output);
}
