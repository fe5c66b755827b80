/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every message type: the sample passes; each kind of bad field fails, in memory
 * (message_validate) and through the wire path (pack + wire_unpack). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/mount.h>

#include "macro.h"
#include "message-type.h"
#include "proto-samples.h"
#include "proto-validate.h"

#define T(x) BISTRO__MESSAGE_TYPE__##x
#define GOOD(type, m) assert_int_equal(check(T(type), &(m).base), 0)
#define BAD(type, m) assert_int_equal(check(T(type), &(m).base), -EBADMSG)

/* Validates in memory, then packs and checks that wire_unpack() agrees. */
static int check(uint32_t type, const ProtobufCMessage *m) {
        _cleanup_free_ uint8_t *buf = NULL;
        ProtobufCMessage *u = NULL;
        size_t n;
        int r, w;

        r = message_validate(type, m);
        n = protobuf_c_message_get_packed_size(m);
        buf = malloc(n + 1);
        assert_non_null(buf);
        protobuf_c_message_pack(m, buf);
        w = wire_unpack(type, buf, n, &u);
        if (w == -EMSGSIZE)
                w = -EBADMSG; /* too big for the type counts as invalid here */
        assert_int_equal(r, w);
        message_free(u);
        return r;
}

static const MessageTypeInfo *const tables[] = {
        common_message_types,    concierge_message_types, maitred_message_types, vsh_message_types,
        container_message_types, tremplin_message_types,  ports_message_types,   cicerone_message_types,
};

static size_t table_count(size_t i) {
        const size_t *counts[] = {
                &common_message_types_count, &concierge_message_types_count, &maitred_message_types_count,
                &vsh_message_types_count,    &container_message_types_count, &tremplin_message_types_count,
                &ports_message_types_count,  &cicerone_message_types_count,
        };
        return *counts[i];
}

static void test_table_and_samples(void **state) {
        const ProtobufCEnumDescriptor *ed = &bistro__message_type__descriptor;
        unsigned total = 0;

        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                for (size_t i = 0; i < table_count(t); i++) {
                        const MessageTypeInfo *info = &tables[t][i];
                        _cleanup_free_ uint8_t *buf = NULL;
                        ProtobufCMessage *m = NULL;
                        size_t n;

                        total++;
                        assert_ptr_equal(message_type_lookup(info->type), info); /* numbers unique */
                        assert_non_null(protobuf_c_enum_descriptor_get_value(ed, (int) info->type));
                        assert_string_equal(
                                protobuf_c_enum_descriptor_get_value(ed, (int) info->type)->name,
                                info->name);
                        assert_true(info->max_size > 0 && info->max_size <= MESSAGE_SIZE_MAX);
                        assert_true(info->kinds != 0 && (info->kinds & ~MESSAGE_KIND_MASK) == 0);
                        assert_int_equal(proto_sample_pack(info->type, &buf, &n), 0);
                        assert_true(n <= info->max_size);
                        assert_int_equal(wire_unpack(info->type, buf, n, &m), 0);
                        assert_int_equal(message_validate(info->type, m), 0);
                        message_free(m);
                }
        /* Every number in bistro.MessageType except 0 has a table entry. */
        assert_int_equal(total, ed->n_values - 1);
}

static void test_common(void **state) {
        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

        e.error = -EIO;
        e.message = (char *) "multi\nline\ttext é";
        GOOD(ERROR_REPLY, e);
        e.error = 0;
        BAD(ERROR_REPLY, e);
        e.error = 5;
        BAD(ERROR_REPLY, e);
        e.error = -4096;
        BAD(ERROR_REPLY, e);
        e.error = -EIO;
        e.message = (char *) "bad \xC3\x28 utf8";
        BAD(ERROR_REPLY, e);
        e.message = (char *) "overlong \xC0\xAF";
        BAD(ERROR_REPLY, e);
        e.message = (char *) "escape \x1b[2J";
        BAD(ERROR_REPLY, e);
        e.message = (char *) "surrogate \xED\xA0\x80";
        BAD(ERROR_REPLY, e);
        e.message = malloc(PROTO_ERROR_MESSAGE_MAX + 2);
        memset(e.message, 'x', PROTO_ERROR_MESSAGE_MAX + 1);
        e.message[PROTO_ERROR_MESSAGE_MAX + 1] = '\0';
        BAD(ERROR_REPLY, e);
        e.message[PROTO_ERROR_MESSAGE_MAX] = '\0';
        GOOD(ERROR_REPLY, e);
        free(e.message);
        /* Type/descriptor mismatch is a caller bug. */
        assert_int_equal(message_validate(T(EMPTY), &e.base), -EINVAL);
        assert_int_equal(message_validate(99999, &e.base), -EINVAL);
}

static const char *const bad_names[] = {
        "",
        "../x",
        "..",
        ".hidden",
        "-rf",
        "a/b",
        "a b",
        "a\x01",
        "\xC3\xA9t\xC3\xA9",
        "x\n",
        "0123456789012345678901234567890123456789012345678901234567890123456789", /* 70 > 64 */
};

static void test_concierge(void **state) {
        Bistro__Concierge__StartVmRequest s = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        Bistro__Concierge__ExportVmRequest ex = BISTRO__CONCIERGE__EXPORT_VM_REQUEST__INIT;
        Bistro__Concierge__ResizeVmRequest rz = BISTRO__CONCIERGE__RESIZE_VM_REQUEST__INIT;
        Bistro__Concierge__GetVmLogsRequest gl = BISTRO__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
        Bistro__Concierge__CreateContainerRequest cc = BISTRO__CONCIERGE__CREATE_CONTAINER_REQUEST__INIT;
        Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
        Bistro__Concierge__VmInfoResponse vr = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
        Bistro__Concierge__ListVmsResponse lv = BISTRO__CONCIERGE__LIST_VMS_RESPONSE__INIT;
        Bistro__Concierge__ContainerInfo ci = BISTRO__CONCIERGE__CONTAINER_INFO__INIT;
        Bistro__Concierge__ContainerInfoResponse cr = BISTRO__CONCIERGE__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Concierge__Progress pg = BISTRO__CONCIERGE__PROGRESS__INIT;
        Bistro__Concierge__GetVmLogsResponse lr = BISTRO__CONCIERGE__GET_VM_LOGS_RESPONSE__INIT;
        Bistro__Concierge__VmInfo *many[PROTO_LIST_MAX + 1];
        char longpath[PROTO_PATH_MAX + 2];

        s.name = (char *) "termina";
        GOOD(START_VM_REQUEST, s);
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                s.name = (char *) bad_names[i];
                BAD(START_VM_REQUEST, s);
        }
        s.name = (char *) "0123456789012345678901234567890123456789012345678901234567890123"; /* 64 */
        GOOD(START_VM_REQUEST, s);
        s.cpus = 257;
        BAD(START_VM_REQUEST, s);
        s.cpus = 256;
        s.memory_mib = 32;
        BAD(START_VM_REQUEST, s);
        s.memory_mib = 64;
        s.disk_size = 1000;
        BAD(START_VM_REQUEST, s);
        s.disk_size = UINT64_C(1) << 30;
        GOOD(START_VM_REQUEST, s);
        /* host_loopback: the three enum values, and nothing past them. */
        s.host_loopback = BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_OFF;
        GOOD(START_VM_REQUEST, s);
        s.host_loopback = BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_ON;
        GOOD(START_VM_REQUEST, s);
        s.host_loopback = (Bistro__Concierge__HostLoopback) 3;
        BAD(START_VM_REQUEST, s);
        s.host_loopback = (Bistro__Concierge__HostLoopback) -1;
        BAD(START_VM_REQUEST, s);
        s.host_loopback = BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_UNCHANGED;
        GOOD(START_VM_REQUEST, s);

        ex.name = (char *) "termina";
        ex.path = (char *) "/tmp/out.tar";
        GOOD(EXPORT_VM_REQUEST, ex);
        ex.path = (char *) "relative/out.tar";
        BAD(EXPORT_VM_REQUEST, ex);
        ex.path = (char *) "/tmp/\xFF";
        BAD(EXPORT_VM_REQUEST, ex);
        ex.path = (char *) "";
        BAD(EXPORT_VM_REQUEST, ex);
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        ex.path = longpath;
        BAD(EXPORT_VM_REQUEST, ex);

        rz.name = (char *) "termina";
        rz.size = 0;
        BAD(RESIZE_VM_REQUEST, rz);
        rz.size = UINT64_C(1) << 50;
        BAD(RESIZE_VM_REQUEST, rz);

        gl.name = (char *) "termina";
        gl.max_bytes = (1u << 20) + 1;
        BAD(GET_VM_LOGS_REQUEST, gl);

        cc.vm_name = (char *) "termina";
        cc.name = (char *) "penguin";
        GOOD(CREATE_CONTAINER_REQUEST, cc);
        cc.image = (char *) "../image";
        BAD(CREATE_CONTAINER_REQUEST, cc);
        cc.image = (char *) "";
        cc.vm_name = (char *) "";
        BAD(CREATE_CONTAINER_REQUEST, cc);

        BAD(VM_INFO_RESPONSE, vr); /* vm not set */
        vm.name = (char *) "termina";
        vr.vm = &vm;
        GOOD(VM_INFO_RESPONSE, vr);
        vm.state = 99;
        BAD(VM_INFO_RESPONSE, vr);
        vm.state = -1;
        BAD(VM_INFO_RESPONSE, vr);
        vm.state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_FAILED;
        vm.pid = -1;
        BAD(VM_INFO_RESPONSE, vr);
        vm.pid = 0;
        vm.kernel_version = (char *) "6.1\x7f";
        BAD(VM_INFO_RESPONSE, vr);
        vm.kernel_version = (char *) "";
        vm.disk_path = (char *) "disk.qcow2";
        BAD(VM_INFO_RESPONSE, vr);
        vm.disk_path = (char *) "";

        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = &vm;
        lv.vms = many;
        lv.n_vms = PROTO_LIST_MAX;
        GOOD(LIST_VMS_RESPONSE, lv);
        lv.n_vms = PROTO_LIST_MAX + 1;
        BAD(LIST_VMS_RESPONSE, lv);

        ci.vm_name = (char *) "termina";
        ci.name = (char *) "penguin";
        cr.container = &ci;
        GOOD(CONTAINER_INFO_RESPONSE, cr);
        ci.ipv4_address = (char *) "1.2.3";
        BAD(CONTAINER_INFO_RESPONSE, cr);
        ci.ipv4_address = (char *) "fd00::1";
        BAD(CONTAINER_INFO_RESPONSE, cr);
        ci.ipv4_address = (char *) "";
        ci.ipv6_address = (char *) "fd00::1";
        GOOD(CONTAINER_INFO_RESPONSE, cr);
        ci.state = 6;
        BAD(CONTAINER_INFO_RESPONSE, cr);

        pg.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_IMPORT_VM;
        pg.done = 5;
        pg.total = 4;
        BAD(PROGRESS, pg);
        pg.total = 0;
        GOOD(PROGRESS, pg);
        pg.operation = 0;
        BAD(PROGRESS, pg);

        lr.log.len = (1u << 20) + 1;
        lr.log.data = calloc(1, lr.log.len);
        BAD(GET_VM_LOGS_RESPONSE, lr);
        lr.log.len--;
        GOOD(GET_VM_LOGS_RESPONSE, lr);
        free(lr.log.data);
}

static void test_maitred(void **state) {
        Bistro__Maitred__ConfigureNetworkRequest cn = BISTRO__MAITRED__CONFIGURE_NETWORK_REQUEST__INIT;
        Bistro__Maitred__SetTimeRequest st = BISTRO__MAITRED__SET_TIME_REQUEST__INIT;
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        Bistro__Maitred__MountRequest mt = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessResponse lr = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;
        Bistro__Maitred__VmReadyRequest vr = BISTRO__MAITRED__VM_READY_REQUEST__INIT;
        static uint8_t v6[16] = { 0xfd };
        char *ns[4] = { (char *) "1.1.1.1", (char *) "::1", (char *) "8.8.8.8", (char *) "9.9.9.9" };
        char *sd[1] = { (char *) "example.org" };
        char *argv[PROTO_ARGV_MAX + 1];
        char *env[1];
        static const char *const bad_tz[] = {
                "",       "/UTC",          "../etc/passwd", "Europe/../x", "Europe//Paris", "Europe/Paris/",
                "UTC;rm", "Europe/./Paris"
        };

        cn.ipv4_address = 0x0f02000a;
        cn.ipv4_prefix_len = 24;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 33;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 24;
        cn.ipv6_address.data = v6;
        cn.ipv6_address.len = 8;
        cn.ipv6_prefix_len = 64;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_address.len = 16;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 129;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 64;
        cn.nameservers = ns;
        cn.n_nameservers = 3;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_nameservers = 4;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        ns[0] = (char *) "dns.google";
        cn.n_nameservers = 1;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_nameservers = 0;
        cn.search_domains = sd;
        cn.n_search_domains = 1;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        sd[0] = (char *) "-bad.org";
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        sd[0] = (char *) "a..org";
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_search_domains = 0;
        cn.hostname = (char *) "two.labels";
        BAD(CONFIGURE_NETWORK_REQUEST, cn);

        st.seconds = 0;
        BAD(SET_TIME_REQUEST, st);
        st.seconds = 1795000000;
        st.nanos = 1000000000;
        BAD(SET_TIME_REQUEST, st);
        st.nanos = -1;
        BAD(SET_TIME_REQUEST, st);

        tz.name = (char *) "Europe/Paris";
        GOOD(SET_TIMEZONE_REQUEST, tz);
        for (size_t i = 0; i < ELEMENTSOF(bad_tz); i++) {
                tz.name = (char *) bad_tz[i];
                BAD(SET_TIMEZONE_REQUEST, tz);
        }

        mt.source = (char *) "/dev/vdb";
        mt.target = (char *) "/mnt/stateful";
        mt.fstype = (char *) "btrfs";
        GOOD(MOUNT_REQUEST, mt);
        mt.target = (char *) "/mnt/../etc";
        BAD(MOUNT_REQUEST, mt);
        mt.target = (char *) "mnt";
        BAD(MOUNT_REQUEST, mt);
        mt.target = (char *) "/mnt/..";
        BAD(MOUNT_REQUEST, mt);
        mt.target = (char *) "/mnt/..x"; /* just a name */
        GOOD(MOUNT_REQUEST, mt);
        mt.flags = MS_MOVE;
        BAD(MOUNT_REQUEST, mt);
        mt.flags = MS_REMOUNT;
        BAD(MOUNT_REQUEST, mt);
        mt.flags = 0;
        mt.fstype = (char *) "ext4;x";
        BAD(MOUNT_REQUEST, mt);
        mt.fstype = (char *) "";
        BAD(MOUNT_REQUEST, mt);
        mt.flags = MS_BIND | MS_REC;
        mt.source = (char *) "/srv/share";
        GOOD(MOUNT_REQUEST, mt);
        mt.mkfs_if_needed = true;
        BAD(MOUNT_REQUEST, mt);
        mt.mkfs_if_needed = false;
        mt.data = (char *) "opt\nx";
        BAD(MOUNT_REQUEST, mt);

        for (size_t i = 0; i < ELEMENTSOF(argv); i++)
                argv[i] = (char *) "/bin/true";
        lp.argv = argv;
        lp.n_argv = 0;
        BAD(LAUNCH_PROCESS_REQUEST, lp);
        lp.n_argv = PROTO_ARGV_MAX;
        GOOD(LAUNCH_PROCESS_REQUEST, lp);
        lp.n_argv = PROTO_ARGV_MAX + 1;
        BAD(LAUNCH_PROCESS_REQUEST, lp);
        lp.n_argv = 1;
        argv[0] = (char *) "true";
        BAD(LAUNCH_PROCESS_REQUEST, lp);
        argv[0] = (char *) "/bin/true\xFF";
        BAD(LAUNCH_PROCESS_REQUEST, lp);
        argv[0] = (char *) "/bin/true";
        lp.env = env;
        lp.n_env = 1;
        static const char *const bad_env[] = { "=x", "1A=b", "NOEQUALS", "A-B=c", "A=\x1b" };
        for (size_t i = 0; i < ELEMENTSOF(bad_env); i++) {
                env[0] = (char *) bad_env[i];
                BAD(LAUNCH_PROCESS_REQUEST, lp);
        }
        env[0] = (char *) "A_1=x=y";
        GOOD(LAUNCH_PROCESS_REQUEST, lp);
        lp.respawn = lp.wait_for_exit = true;
        BAD(LAUNCH_PROCESS_REQUEST, lp);

        lr.pid = 5;
        BAD(LAUNCH_PROCESS_RESPONSE, lr); /* status unknown */
        lr.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED;
        lr.code = 256;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 255;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_SIGNALED;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.status = 17;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);

        vr.kernel_version = (char *) "";
        BAD(VM_READY_REQUEST, vr);
        vr.kernel_version = (char *) "6.1.0\xE2\x82";
        BAD(VM_READY_REQUEST, vr);
        vr.kernel_version = (char *) "6.1.0";
        vr.image_version = (char *) "0123456789012345678901234567890123456789012345678901234567890123456789";
        BAD(VM_READY_REQUEST, vr);
}

static void test_vsh(void **state) {
        Bistro__Vsh__SetupConnectionRequest sc = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
        Bistro__Vsh__SetupConnectionResponse sr = BISTRO__VSH__SETUP_CONNECTION_RESPONSE__INIT;
        Bistro__Vsh__HostMessage hm = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__GuestMessage gm = BISTRO__VSH__GUEST_MESSAGE__INIT;
        Bistro__Vsh__DataMessage dm = BISTRO__VSH__DATA_MESSAGE__INIT;
        Bistro__Vsh__WindowResize wr = BISTRO__VSH__WINDOW_RESIZE__INIT;
        Bistro__Vsh__SignalMessage sg = BISTRO__VSH__SIGNAL_MESSAGE__INIT;
        Bistro__Vsh__ExitStatus es = BISTRO__VSH__EXIT_STATUS__INIT;
        static uint8_t big[PROTO_VSH_DATA_MAX + 1];

        GOOD(SETUP_CONNECTION_REQUEST, sc); /* VM shell, default user, no tty */
        sc.container = (char *) "../x";
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.container = (char *) "penguin";
        sc.user = (char *) "Root";
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.user = (char *) "0day";
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.user = (char *) "alice";
        sc.cwd = (char *) "home";
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.cwd = (char *) "/home/alice";
        sc.tty = true;
        BAD(SETUP_CONNECTION_REQUEST, sc); /* tty without a window size */
        sc.window_rows = 24;
        sc.window_cols = 80;
        GOOD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_cols = 1001;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.tty = false;
        sc.window_cols = 80;
        BAD(SETUP_CONNECTION_REQUEST, sc);

        sr.status = BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY;
        BAD(SETUP_CONNECTION_RESPONSE, sr); /* READY needs a pid */
        sr.pid = 7;
        GOOD(SETUP_CONNECTION_RESPONSE, sr);
        sr.status = BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_FAILED;
        BAD(SETUP_CONNECTION_RESPONSE, sr);
        sr.pid = 0;
        sr.error = (char *) "no such container";
        GOOD(SETUP_CONNECTION_RESPONSE, sr);
        sr.status = 3;
        BAD(SETUP_CONNECTION_RESPONSE, sr);

        BAD(HOST_MESSAGE, hm); /* oneof not set */
        hm.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_DATA;
        hm.data = &dm;
        dm.stream = BISTRO__VSH__STREAM__STREAM_STDOUT;
        BAD(HOST_MESSAGE, hm);
        dm.stream = BISTRO__VSH__STREAM__STREAM_STDIN;
        dm.eof = true;
        GOOD(HOST_MESSAGE, hm);
        dm.data.data = big;
        dm.data.len = sizeof(big);
        BAD(HOST_MESSAGE, hm);
        dm.data.len--;
        GOOD(HOST_MESSAGE, hm);
        hm.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE;
        hm.resize = &wr;
        BAD(HOST_MESSAGE, hm);
        wr.rows = 24;
        wr.cols = 80;
        GOOD(HOST_MESSAGE, hm);
        hm.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_SIGNAL;
        hm.signal = &sg;
        BAD(HOST_MESSAGE, hm);
        sg.signal = 99;
        BAD(HOST_MESSAGE, hm);
        sg.signal = BISTRO__VSH__SIGNAL__SIGNAL_INT;
        GOOD(HOST_MESSAGE, hm);

        BAD(GUEST_MESSAGE, gm);
        gm.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_DATA;
        gm.data = &dm;
        BAD(GUEST_MESSAGE, gm); /* stdin from the guest */
        dm.stream = BISTRO__VSH__STREAM__STREAM_STDERR;
        GOOD(GUEST_MESSAGE, gm);
        gm.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS;
        gm.status = &es;
        BAD(GUEST_MESSAGE, gm); /* result not set */
        es.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_EXIT_CODE;
        es.exit_code = 256;
        BAD(GUEST_MESSAGE, gm);
        es.exit_code = 0;
        GOOD(GUEST_MESSAGE, gm);
        es.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_KILLED_BY_SIGNAL;
        es.killed_by_signal = 0;
        BAD(GUEST_MESSAGE, gm);
        es.killed_by_signal = 9;
        GOOD(GUEST_MESSAGE, gm);
}

static void test_container(void **state) {
        Bistro__Container__ContainerReadyRequest cr = BISTRO__CONTAINER__CONTAINER_READY_REQUEST__INIT;
        Bistro__Container__OpenUrlRequest ou = BISTRO__CONTAINER__OPEN_URL_REQUEST__INIT;
        Bistro__Container__UpdateApplicationListRequest al =
                BISTRO__CONTAINER__UPDATE_APPLICATION_LIST_REQUEST__INIT;
        Bistro__Container__Application app = BISTRO__CONTAINER__APPLICATION__INIT;
        Bistro__Container__LaunchApplicationRequest la = BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;
        Bistro__Container__Application *apps[2049];
        char *mimes[65];
        char *files[65];
        static const char *const bad_tokens[] = { "", "short", "0123456789abcdef/", "0123456789abcdef\n",
                                                  "0123456789abcdef\xC3\xA9" };
        static const char *const bad_urls[] = {
                "javascript:alert(1)",    "file:///etc/passwd", "http://a b",       "http://",
                "https://ex\xC3\xA9.org", "http://x\x01",       "data:text/html,x", ""
        };

        cr.token = (char *) "0123456789abcdef";
        cr.garcon_port = 10000;
        GOOD(CONTAINER_READY_REQUEST, cr);
        for (size_t i = 0; i < ELEMENTSOF(bad_tokens); i++) {
                cr.token = (char *) bad_tokens[i];
                BAD(CONTAINER_READY_REQUEST, cr);
        }
        cr.token = (char *) "0123456789abcdef";
        cr.garcon_port = 9999;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 20000;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 19999;
        cr.sftp_port = 80;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.sftp_port = 65536;
        BAD(CONTAINER_READY_REQUEST, cr);

        ou.token = (char *) "0123456789abcdef";
        ou.url = (char *) "HTTPS://example.org/";
        GOOD(OPEN_URL_REQUEST, ou);
        ou.url = (char *) "mailto:a@example.org";
        GOOD(OPEN_URL_REQUEST, ou);
        for (size_t i = 0; i < ELEMENTSOF(bad_urls); i++) {
                ou.url = (char *) bad_urls[i];
                BAD(OPEN_URL_REQUEST, ou);
        }

        app.desktop_file_id = (char *) "org.gnome.gedit";
        app.name = (char *) "Gedit";
        for (size_t i = 0; i < ELEMENTSOF(apps); i++)
                apps[i] = &app;
        al.token = (char *) "0123456789abcdef";
        al.apps = apps;
        al.n_apps = 2048;
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        al.n_apps = 2049;
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        al.n_apps = 1;
        app.name = (char *) "";
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.name = (char *) "Gedit";
        app.desktop_file_id = (char *) "../evil";
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.desktop_file_id = (char *) "gedit";
        for (size_t i = 0; i < ELEMENTSOF(mimes); i++)
                mimes[i] = (char *) "text/plain";
        app.mime_types = mimes;
        app.n_mime_types = 64;
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.n_mime_types = 65;
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.n_mime_types = 1;
        mimes[0] = (char *) "text";
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        mimes[0] = (char *) "text/plain/x";
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        mimes[0] = (char *) "text/plain";
        app.comment = (char *) "bell\a";
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);

        la.desktop_file_id = (char *) "gedit";
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                files[i] = (char *) "/home/a/x";
        la.files = files;
        la.n_files = 64;
        GOOD(LAUNCH_APPLICATION_REQUEST, la);
        la.n_files = 65;
        BAD(LAUNCH_APPLICATION_REQUEST, la);
        la.n_files = 1;
        files[0] = (char *) "x";
        BAD(LAUNCH_APPLICATION_REQUEST, la);
        la.desktop_file_id = (char *) "";
        files[0] = (char *) "/x";
        BAD(LAUNCH_APPLICATION_REQUEST, la);
}

/* Bytes protobuf-c accepts but we must not: wrong wire types, truncation, unknown enum values. */
static void test_raw_bytes(void **state) {
        /* GetVmInfo { name: "a\xff" } */
        static const uint8_t bad_utf8[] = { 0x0A, 0x02, 'a', 0xFF };
        /* VmInfoResponse { vm { name: "x", state: 1000 } } */
        static const uint8_t bad_enum[] = { 0x0A, 0x06, 0x0A, 0x01, 'x', 0x10, 0xE8, 0x07 };
        /* StartVm { name: "a", cpus: (length-delimited instead of varint) } */
        static const uint8_t bad_wiretype[] = { 0x0A, 0x01, 'a', 0x12, 0x01, 0x00 };
        /* GetVmInfo { name: "abc" } truncated */
        static const uint8_t truncated[] = { 0x0A, 0x03, 'a', 'b' };
        static const uint8_t ok[] = { 0x0A, 0x01, 'a' };
        /* Field number 0 spelled as a two-byte varint tag: protobuf-c takes it (and later writes a
         * one-byte tag 0 it refuses to read back); found by fuzz-wire-concierge. */
        static const uint8_t field_zero[] = { 0x0A, 0x01, 'a', 0x80, 0x00, 0x40 };
        /* Field number 2^29: above the protobuf maximum. */
        static const uint8_t field_huge[] = { 0x0A, 0x01, 'a', 0x80, 0x80, 0x80, 0x80, 0x10, 0x01 };
        ProtobufCMessage *m = NULL;

        assert_int_equal(wire_unpack(T(GET_VM_INFO_REQUEST), bad_utf8, sizeof(bad_utf8), &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(VM_INFO_RESPONSE), bad_enum, sizeof(bad_enum), &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(START_VM_REQUEST), bad_wiretype, sizeof(bad_wiretype), &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(GET_VM_INFO_REQUEST), truncated, sizeof(truncated), &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(GET_VM_INFO_REQUEST), field_zero, sizeof(field_zero), &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(GET_VM_INFO_REQUEST), field_huge, sizeof(field_huge), &m), -EBADMSG);
        assert_null(m);
        assert_int_equal(wire_unpack(T(GET_VM_INFO_REQUEST), ok, sizeof(ok), &m), 0);
        message_free(m);
}

/* Many tiny fields: refused before protobuf-c allocates for each of them. */
static void test_field_budget(void **state) {
        size_t n = (size_t) PROTO_FIELDS_MAX + 1;
        _cleanup_free_ uint8_t *buf = malloc(2 * n);
        ProtobufCMessage *m = NULL;

        /* Unknown field 15 (varint 0) repeated: protobuf-c would keep every one of them. */
        for (size_t i = 0; i < n; i++) {
                buf[2 * i] = 0x78;
                buf[2 * i + 1] = 0x00;
        }
        assert_int_equal(wire_unpack(T(GET_VM_LOGS_RESPONSE), buf, 2 * n, &m), -EBADMSG);
        assert_int_equal(wire_unpack(T(GET_VM_LOGS_RESPONSE), buf, 2 * (n - 1), &m), 0);
        m = message_free(m);
        /* Nested: a valid app list whose one app carries the unknown fields. */
        for (size_t fields = n - 5; fields <= n - 4; fields++) {
                static const uint8_t head[] = { 0x0A, 16,  '0', '1', '2', '3', '4', '5', '6',
                                                '7',  '8', '9', 'a', 'b', 'c', 'd', 'e', 'f' };
                static const uint8_t app_head[] = { 0x0A, 0x01, 'a', 0x12, 0x01, 'A' };
                size_t inner = sizeof(app_head) + 2 * fields, k = 0;
                _cleanup_free_ uint8_t *msg = malloc(sizeof(head) + 16 + inner);

                memcpy(msg, head, sizeof(head));
                k = sizeof(head);
                msg[k++] = 0x12;
                for (size_t v = inner; v > 0; v >>= 7)
                        msg[k++] = (uint8_t) ((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
                memcpy(msg + k, app_head, sizeof(app_head));
                k += sizeof(app_head);
                memcpy(msg + k, buf, 2 * fields);
                k += 2 * fields;
                /* token + app + 2 app fields + unknowns: PROTO_FIELDS_MAX fit, one more does not. */
                assert_int_equal(
                        wire_unpack(T(UPDATE_APPLICATION_LIST_REQUEST), msg, k, &m),
                        fields == n - 5 ? 0 : -EBADMSG);
                m = message_free(m);
        }
        assert_null(m);
}

/* The text check at its exact limits: the last and first code points of each forbidden range, and
 * the length at the cap and one past it. */
static void test_text_limits(void **state) {
        static const struct {
                const char *s;
                bool ok;
        } cases[] = {
                { "a\x1F"
                  "b",
                  false }, /* U+001F, last C0 */
                { "a\x20"
                  "b",
                  true }, /* U+0020 */
                { "a\x7E"
                  "b",
                  true }, /* U+007E */
                { "a\x7F"
                  "b",
                  false }, /* U+007F DEL */
                { "a\xC2\x80"
                  "b",
                  false }, /* U+0080, first C1 */
                { "a\xC2\x9B"
                  "b",
                  false }, /* U+009B CSI */
                { "a\xC2\x9D"
                  "b",
                  false }, /* U+009D OSC */
                { "a\xC2\x9F"
                  "b",
                  false }, /* U+009F, last C1 */
                { "a\xC2\xA0"
                  "b",
                  true }, /* U+00A0 NBSP */
                { "a\xC3\xA9"
                  "b",
                  true },                  /* U+00E9 */
                { "\xC2\x9F", false },     /* at the very end of the string */
                { "\xC2", false },         /* truncated */
                { "\xC1\x9F", false },     /* overlong U+005F */
                { "\xE0\x82\x9B", false }, /* overlong U+009B */
                { "\xE2\x80\xA8", true },  /* U+2028: not a C1 control, allowed */
        };
        char buf[PROTO_ERROR_MESSAGE_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (proto_text_ok(cases[i].s, 64, false) != cases[i].ok)
                        fail_msg("case %zu", i);
                assert_true(proto_text_ok(cases[i].s, 64, true) == cases[i].ok);
        }
        assert_true(proto_text_ok("a\nb\tc", 64, true));
        assert_false(proto_text_ok("a\nb", 64, false));

        /* Length: max bytes pass, max + 1 do not, also when the last character is multi-byte. */
        memset(buf, 'x', sizeof(buf));
        buf[PROTO_ERROR_MESSAGE_MAX] = 0;
        assert_true(proto_text_ok(buf, PROTO_ERROR_MESSAGE_MAX, true));
        buf[PROTO_ERROR_MESSAGE_MAX] = 'x';
        buf[PROTO_ERROR_MESSAGE_MAX + 1] = 0;
        assert_false(proto_text_ok(buf, PROTO_ERROR_MESSAGE_MAX, true));
        memcpy(buf + PROTO_ERROR_MESSAGE_MAX - 2, "\xC2\xA0", 3);
        assert_true(proto_text_ok(buf, PROTO_ERROR_MESSAGE_MAX, true));
        memcpy(buf + PROTO_ERROR_MESSAGE_MAX - 1, "\xC2\xA0", 3);
        assert_false(proto_text_ok(buf, PROTO_ERROR_MESSAGE_MAX, true));

        /* Through a message: an ErrorReply from a guest with a C1 control is refused. */
        {
                Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

                e.error = -EIO;
                e.message = (char *) "\xC2\x9D"
                                     "52;c;aGk=\a";
                BAD(ERROR_REPLY, e);
                e.message = (char *) "\xC2\xA0ok";
                GOOD(ERROR_REPLY, e);
        }
}

static void test_text_sanitize(void **state) {
        char s[64], big[PROTO_ERROR_MESSAGE_MAX + 8];

        strcpy(s, "a\xC2\x9B"
                  "1m\x1B\x7F\xC2\xA0z");
        proto_text_sanitize(s, 64, false);
        assert_string_equal(s, "a?1m??\xC2\xA0z");
        assert_true(proto_text_ok(s, 64, false));

        /* One bad byte costs only itself: the valid characters around it stay. */
        strcpy(s, "bad \xFF utf8 \xC3\xA9\n");
        proto_text_sanitize(s, 64, false);
        assert_string_equal(s, "bad ? utf8 \xC3\xA9?");
        strcpy(s, "bad \xFF utf8 \xC3\xA9\n");
        proto_text_sanitize(s, 64, true);
        assert_string_equal(s, "bad ? utf8 \xC3\xA9\n");

        /* Cut at max, never inside a character. */
        memset(big, 'x', sizeof(big));
        memcpy(big + PROTO_ERROR_MESSAGE_MAX - 1, "\xC3\xA9", 2);
        big[PROTO_ERROR_MESSAGE_MAX + 4] = 0;
        proto_text_sanitize(big, PROTO_ERROR_MESSAGE_MAX, true);
        assert_int_equal(strlen(big), PROTO_ERROR_MESSAGE_MAX - 1);
        assert_true(proto_text_ok(big, PROTO_ERROR_MESSAGE_MAX, true));
}

/* Each bound at its limit (accepted) and one past it (refused): a test far beyond a limit does not
 * catch an off-by-one. */

/* n copies of c in buf (n + 1 bytes). */
static char *fill(char *buf, char c, size_t n) {
        memset(buf, c, n);
        buf[n] = '\0';
        return buf;
}

/* A DNS name of n bytes: labels of 63 bytes joined by dots, the last one shorter. */
static char *dns_name(char *buf, size_t n) {
        for (size_t i = 0; i < n; i++)
                buf[i] = i % 64 == 63 ? '.' : 'a';
        buf[n] = '\0';
        return buf;
}

static void test_limits_shared(void **state) {
        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;
        Bistro__Concierge__GetVmInfoRequest gi = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        Bistro__Concierge__CreateContainerRequest cc = BISTRO__CONCIERGE__CREATE_CONTAINER_REQUEST__INIT;
        Bistro__Concierge__ExportVmRequest ex = BISTRO__CONCIERGE__EXPORT_VM_REQUEST__INIT;
        Bistro__Concierge__StartContainerRequest sc = BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
        Bistro__Concierge__ContainerInfo ci = BISTRO__CONCIERGE__CONTAINER_INFO__INIT;
        Bistro__Concierge__ContainerInfoResponse cr = BISTRO__CONCIERGE__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Container__ContainerShutdownRequest cs = BISTRO__CONTAINER__CONTAINER_SHUTDOWN_REQUEST__INIT;
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        Bistro__Vsh__SetupConnectionRequest vs = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
        static char s[PROTO_ARG_MAX + 2];
        char *argv[1] = { (char *) "/bin/true" }, *env[1], *args[1];

        e.error = -4095;
        GOOD(ERROR_REPLY, e);
        e.error = -4096;
        BAD(ERROR_REPLY, e);
        e.error = -1;
        GOOD(ERROR_REPLY, e);
        e.error = 0;
        BAD(ERROR_REPLY, e);

        gi.name = fill(s, 'n', PROTO_NAME_MAX);
        GOOD(GET_VM_INFO_REQUEST, gi);
        gi.name = fill(s, 'n', PROTO_NAME_MAX + 1);
        BAD(GET_VM_INFO_REQUEST, gi);

        cc.vm_name = (char *) "termina";
        cc.name = (char *) "penguin";
        cc.image = fill(s, 'i', PROTO_IMAGE_NAME_MAX);
        GOOD(CREATE_CONTAINER_REQUEST, cc);
        cc.image = fill(s, 'i', PROTO_IMAGE_NAME_MAX + 1);
        BAD(CREATE_CONTAINER_REQUEST, cc);

        ex.name = (char *) "termina";
        ex.path = fill(s, 'p', PROTO_PATH_MAX);
        s[0] = '/';
        GOOD(EXPORT_VM_REQUEST, ex);
        ex.path = fill(s, 'p', PROTO_PATH_MAX + 1);
        s[0] = '/';
        BAD(EXPORT_VM_REQUEST, ex);

        sc.vm_name = (char *) "termina";
        sc.name = (char *) "penguin";
        sc.user = fill(s, 'u', 32);
        GOOD(START_CONTAINER_REQUEST, sc);
        sc.user = fill(s, 'u', 33);
        BAD(START_CONTAINER_REQUEST, sc);

        /* The longest IPv6 text is 45 bytes (INET6_ADDRSTRLEN counts the NUL); inet_pton() refuses any
         * longer one as well, so the 46 byte case cannot tell the length check apart. */
        ci.vm_name = (char *) "termina";
        ci.name = (char *) "penguin";
        cr.container = &ci;
        ci.ipv4_address = (char *) "255.255.255.255";
        ci.ipv6_address = (char *) "0000:0000:0000:0000:0000:ffff:255.255.255.255";
        GOOD(CONTAINER_INFO_RESPONSE, cr);
        ci.ipv6_address = (char *) "0000:0000:0000:0000:0000:ffff:255.255.255.2550";
        BAD(CONTAINER_INFO_RESPONSE, cr);

        cs.token = fill(s, 't', PROTO_TOKEN_MIN);
        GOOD(CONTAINER_SHUTDOWN_REQUEST, cs);
        cs.token = fill(s, 't', PROTO_TOKEN_MIN - 1);
        BAD(CONTAINER_SHUTDOWN_REQUEST, cs);
        cs.token = fill(s, 't', PROTO_TOKEN_MAX);
        GOOD(CONTAINER_SHUTDOWN_REQUEST, cs);
        cs.token = fill(s, 't', PROTO_TOKEN_MAX + 1);
        BAD(CONTAINER_SHUTDOWN_REQUEST, cs);

        tz.name = fill(s, 'z', PROTO_TIMEZONE_MAX);
        GOOD(SET_TIMEZONE_REQUEST, tz);
        tz.name = fill(s, 'z', PROTO_TIMEZONE_MAX + 1);
        BAD(SET_TIMEZONE_REQUEST, tz);

        /* An environment entry counts key, '=' and value. */
        lp.argv = argv;
        lp.n_argv = 1;
        lp.env = env;
        lp.n_env = 1;
        env[0] = fill(s, 'v', PROTO_ARG_MAX);
        memcpy(s, "A=", 2);
        GOOD(LAUNCH_PROCESS_REQUEST, lp);
        env[0] = fill(s, 'v', PROTO_ARG_MAX + 1);
        memcpy(s, "A=", 2);
        BAD(LAUNCH_PROCESS_REQUEST, lp);

        vs.argv = args;
        vs.n_argv = 1;
        args[0] = fill(s, 'a', PROTO_ARG_MAX);
        GOOD(SETUP_CONNECTION_REQUEST, vs);
        args[0] = fill(s, 'a', PROTO_ARG_MAX + 1);
        BAD(SETUP_CONNECTION_REQUEST, vs);
}

static void test_limits_maitred(void **state) {
        Bistro__Maitred__ConfigureNetworkRequest cn = BISTRO__MAITRED__CONFIGURE_NETWORK_REQUEST__INIT;
        Bistro__Maitred__SetTimeRequest st = BISTRO__MAITRED__SET_TIME_REQUEST__INIT;
        Bistro__Maitred__MountRequest mt = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessResponse lr = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;
        Bistro__Maitred__GetKernelVersionResponse kv = BISTRO__MAITRED__GET_KERNEL_VERSION_RESPONSE__INIT;
        Bistro__Maitred__VmReadyRequest vr = BISTRO__MAITRED__VM_READY_REQUEST__INIT;
        static uint8_t v6[17] = { 0xfd };
        static char s[PROTO_PATH_MAX + 2];
        char *sd[7], *env[257], *argv[1] = { (char *) "/bin/true" };

        cn.ipv4_address = 0x0f02000a;
        cn.ipv4_prefix_len = 1;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 0;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 32;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 33;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv4_prefix_len = 24;

        cn.ipv6_address.data = v6;
        cn.ipv6_address.len = 16;
        cn.ipv6_prefix_len = 1;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 0;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 128;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 129;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_prefix_len = 64;
        cn.ipv6_address.len = 15;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_address.len = 17;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_address.len = 16;
        cn.ipv6_gateway.data = v6;
        cn.ipv6_gateway.len = 16;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_gateway.len = 17;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.ipv6_gateway.len = 0;
        cn.ipv6_address.len = 0;
        cn.ipv6_prefix_len = 0;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);

        for (size_t i = 0; i < ELEMENTSOF(sd); i++)
                sd[i] = (char *) "example.org";
        cn.search_domains = sd;
        cn.n_search_domains = 6;
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_search_domains = 7;
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_search_domains = 1;
        sd[0] = dns_name(s, 253);
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        sd[0] = dns_name(s, 254);
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        sd[0] = fill(s, 'l', 63);
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        sd[0] = fill(s, 'l', 64);
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        /* Last label too, not only the first. */
        memcpy(fill(s, 'l', 4 + 63), "org.", 4);
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        memcpy(fill(s, 'l', 4 + 64), "org.", 4);
        BAD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.n_search_domains = 0;
        cn.hostname = fill(s, 'h', 63);
        GOOD(CONFIGURE_NETWORK_REQUEST, cn);
        cn.hostname = fill(s, 'h', 64);
        BAD(CONFIGURE_NETWORK_REQUEST, cn);

        /* TIME_MAX (2^40) is an exclusive end. */
        st.seconds = 1577836800;
        GOOD(SET_TIME_REQUEST, st);
        st.seconds = 1577836799;
        BAD(SET_TIME_REQUEST, st);
        st.seconds = (INT64_C(1) << 40) - 1;
        GOOD(SET_TIME_REQUEST, st);
        st.seconds = INT64_C(1) << 40;
        BAD(SET_TIME_REQUEST, st);
        st.seconds = 1795000000;
        st.nanos = 999999999;
        GOOD(SET_TIME_REQUEST, st);
        st.nanos = 1000000000;
        BAD(SET_TIME_REQUEST, st);

        mt.source = (char *) "/dev/vdb";
        mt.target = (char *) "/mnt";
        mt.fstype = fill(s, 'f', 31);
        GOOD(MOUNT_REQUEST, mt);
        mt.fstype = fill(s, 'f', 32);
        BAD(MOUNT_REQUEST, mt);
        mt.fstype = (char *) "ext4";
        mt.data = fill(s, 'd', 1024);
        GOOD(MOUNT_REQUEST, mt);
        mt.data = fill(s, 'd', 1025);
        BAD(MOUNT_REQUEST, mt);
        mt.data = (char *) "";
        mt.source = fill(s, 's', PROTO_PATH_MAX);
        GOOD(MOUNT_REQUEST, mt);
        mt.source = fill(s, 's', PROTO_PATH_MAX + 1);
        BAD(MOUNT_REQUEST, mt);
        mt.source = (char *) "/dev/vdb";
        mt.target = fill(s, 't', PROTO_PATH_MAX);
        s[0] = '/';
        GOOD(MOUNT_REQUEST, mt);
        mt.target = fill(s, 't', PROTO_PATH_MAX + 1);
        s[0] = '/';
        BAD(MOUNT_REQUEST, mt);

        for (size_t i = 0; i < ELEMENTSOF(env); i++)
                env[i] = (char *) "A=b";
        lp.argv = argv;
        lp.n_argv = 1;
        lp.env = env;
        lp.n_env = 256;
        GOOD(LAUNCH_PROCESS_REQUEST, lp);
        lp.n_env = 257;
        BAD(LAUNCH_PROCESS_REQUEST, lp);

        lr.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_LAUNCHED;
        lr.pid = 1;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.pid = 0;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.pid = 1;
        lr.code = 1;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED;
        lr.code = 0;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = -1;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 255;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 256;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_SIGNALED;
        lr.code = 1;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 0;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 64;
        GOOD(LAUNCH_PROCESS_RESPONSE, lr);
        lr.code = 65;
        BAD(LAUNCH_PROCESS_RESPONSE, lr);

        kv.kernel_release = fill(s, 'r', 64);
        GOOD(GET_KERNEL_VERSION_RESPONSE, kv);
        kv.kernel_release = fill(s, 'r', 65);
        BAD(GET_KERNEL_VERSION_RESPONSE, kv);
        kv.kernel_release = (char *) "6.1.0";
        kv.kernel_version = fill(s, 'v', 256);
        GOOD(GET_KERNEL_VERSION_RESPONSE, kv);
        kv.kernel_version = fill(s, 'v', 257);
        BAD(GET_KERNEL_VERSION_RESPONSE, kv);

        vr.kernel_version = fill(s, 'k', 64);
        GOOD(VM_READY_REQUEST, vr);
        vr.kernel_version = fill(s, 'k', 65);
        BAD(VM_READY_REQUEST, vr);
        vr.kernel_version = (char *) "6.1.0";
        vr.image_version = fill(s, 'i', 64);
        GOOD(VM_READY_REQUEST, vr);
        vr.image_version = fill(s, 'i', 65);
        BAD(VM_READY_REQUEST, vr);
}

static void test_limits_concierge(void **state) {
        const uint64_t gib = UINT64_C(1) << 30, tib = UINT64_C(1) << 40;
        Bistro__Concierge__StartVmRequest sv = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        Bistro__Concierge__ResizeVmRequest rz = BISTRO__CONCIERGE__RESIZE_VM_REQUEST__INIT;
        Bistro__Concierge__GetVmLogsRequest gl = BISTRO__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
        Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
        Bistro__Concierge__VmInfoResponse vr = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
        Bistro__Concierge__StartContainerRequest sc = BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
        Bistro__Concierge__GetVersionResponse gv = BISTRO__CONCIERGE__GET_VERSION_RESPONSE__INIT;
        Bistro__Concierge__ContainerInfo ci = BISTRO__CONCIERGE__CONTAINER_INFO__INIT;
        Bistro__Concierge__ListContainersResponse lc = BISTRO__CONCIERGE__LIST_CONTAINERS_RESPONSE__INIT;
        Bistro__Concierge__JobResult jr = BISTRO__CONCIERGE__JOB_RESULT__INIT;
        Bistro__Concierge__Progress pg = BISTRO__CONCIERGE__PROGRESS__INIT;
        Bistro__Concierge__ContainerInfo *many[PROTO_LIST_MAX + 1];
        static char s[PROTO_ERROR_MESSAGE_MAX + 2];

        sv.name = (char *) "termina";
        sv.cpus = 256;
        GOOD(START_VM_REQUEST, sv);
        sv.cpus = 257;
        BAD(START_VM_REQUEST, sv);
        sv.cpus = 0;
        sv.memory_mib = 64;
        GOOD(START_VM_REQUEST, sv);
        sv.memory_mib = 63;
        BAD(START_VM_REQUEST, sv);
        sv.memory_mib = 1024 * 1024;
        GOOD(START_VM_REQUEST, sv);
        sv.memory_mib = 1024 * 1024 + 1;
        BAD(START_VM_REQUEST, sv);
        sv.memory_mib = 0;
        sv.disk_size = gib;
        GOOD(START_VM_REQUEST, sv);
        sv.disk_size = gib - 1;
        BAD(START_VM_REQUEST, sv);
        sv.disk_size = 64 * tib;
        GOOD(START_VM_REQUEST, sv);
        sv.disk_size = 64 * tib + 1;
        BAD(START_VM_REQUEST, sv);

        rz.name = (char *) "termina";
        rz.size = gib;
        GOOD(RESIZE_VM_REQUEST, rz);
        rz.size = gib - 1;
        BAD(RESIZE_VM_REQUEST, rz);
        rz.size = 64 * tib;
        GOOD(RESIZE_VM_REQUEST, rz);
        rz.size = 64 * tib + 1;
        BAD(RESIZE_VM_REQUEST, rz);

        gl.name = (char *) "termina";
        gl.max_bytes = 1u << 20;
        GOOD(GET_VM_LOGS_REQUEST, gl);
        gl.max_bytes = (1u << 20) + 1;
        BAD(GET_VM_LOGS_REQUEST, gl);

        vm.name = (char *) "termina";
        vr.vm = &vm;
        vm.cpus = 256;
        GOOD(VM_INFO_RESPONSE, vr);
        vm.cpus = 257;
        BAD(VM_INFO_RESPONSE, vr);
        vm.cpus = 2;
        vm.memory_mib = 1024 * 1024;
        GOOD(VM_INFO_RESPONSE, vr);
        vm.memory_mib = 1024 * 1024 + 1;
        BAD(VM_INFO_RESPONSE, vr);
        vm.memory_mib = 0;
        vm.disk_size = 64 * tib;
        GOOD(VM_INFO_RESPONSE, vr);
        vm.disk_size = 64 * tib + 1;
        BAD(VM_INFO_RESPONSE, vr);
        vm.disk_size = 0;
        vm.kernel_version = fill(s, 'k', 64);
        GOOD(VM_INFO_RESPONSE, vr);
        vm.kernel_version = fill(s, 'k', 65);
        BAD(VM_INFO_RESPONSE, vr);
        vm.kernel_version = (char *) "";
        vm.image_version = fill(s, 'i', 64);
        GOOD(VM_INFO_RESPONSE, vr);
        vm.image_version = fill(s, 'i', 65);
        BAD(VM_INFO_RESPONSE, vr);
        vm.image_version = (char *) "";
        vm.pid = 0;
        vm.started_at = 0;
        GOOD(VM_INFO_RESPONSE, vr);
        vm.started_at = -1;
        BAD(VM_INFO_RESPONSE, vr);
        vm.started_at = 0;
        vm.pid = -1;
        BAD(VM_INFO_RESPONSE, vr);

        sc.vm_name = (char *) "termina";
        sc.name = (char *) "penguin";
        sc.user = (char *) "alice";
        sc.uid = 1000;
        GOOD(START_CONTAINER_REQUEST, sc);
        sc.uid = 999;
        BAD(START_CONTAINER_REQUEST, sc);
        sc.uid = 59999;
        GOOD(START_CONTAINER_REQUEST, sc);
        sc.uid = 60000;
        BAD(START_CONTAINER_REQUEST, sc);
        sc.uid = 0;
        GOOD(START_CONTAINER_REQUEST, sc);
        sc.user = (char *) "";
        sc.uid = 1000; /* a uid without a user */
        BAD(START_CONTAINER_REQUEST, sc);
        sc.uid = 0;
        sc.image = fill(s, 'i', PROTO_IMAGE_NAME_MAX);
        GOOD(START_CONTAINER_REQUEST, sc);
        sc.image = fill(s, 'i', PROTO_IMAGE_NAME_MAX + 1);
        BAD(START_CONTAINER_REQUEST, sc);

        gv.pid = 1;
        gv.build_id = fill(s, 'f', 16);
        GOOD(GET_VERSION_RESPONSE, gv);
        gv.build_id = fill(s, 'f', 15);
        BAD(GET_VERSION_RESPONSE, gv);
        gv.build_id = fill(s, 'f', 128);
        GOOD(GET_VERSION_RESPONSE, gv);
        gv.build_id = fill(s, 'f', 129);
        BAD(GET_VERSION_RESPONSE, gv);
        gv.build_id = (char *) "0123456789abcdeg"; /* just past 'f' */
        BAD(GET_VERSION_RESPONSE, gv);
        gv.build_id = (char *) "0123456789ABCDEF"; /* lower case only */
        BAD(GET_VERSION_RESPONSE, gv);
        gv.build_id = (char *) "0123456789abcdef";
        gv.version = fill(s, 'v', 64);
        GOOD(GET_VERSION_RESPONSE, gv);
        gv.version = fill(s, 'v', 65);
        BAD(GET_VERSION_RESPONSE, gv);
        gv.version = (char *) "";
        gv.vms_running = PROTO_LIST_MAX;
        GOOD(GET_VERSION_RESPONSE, gv);
        gv.vms_running = PROTO_LIST_MAX + 1;
        BAD(GET_VERSION_RESPONSE, gv);
        gv.vms_running = 0;
        gv.pid = 0;
        BAD(GET_VERSION_RESPONSE, gv);

        ci.vm_name = (char *) "termina";
        ci.name = (char *) "penguin";
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = &ci;
        lc.containers = many;
        lc.n_containers = PROTO_LIST_MAX;
        GOOD(LIST_CONTAINERS_RESPONSE, lc);
        lc.n_containers = PROTO_LIST_MAX + 1;
        BAD(LIST_CONTAINERS_RESPONSE, lc);

        jr.kernel_cmdline = fill(s, 'c', PROTO_ARG_MAX);
        GOOD(JOB_RESULT, jr);
        jr.kernel_cmdline = fill(s, 'c', PROTO_ARG_MAX + 1);
        BAD(JOB_RESULT, jr);
        jr.kernel_cmdline = (char *) "";
        jr.warning = fill(s, 'w', PROTO_ERROR_MESSAGE_MAX);
        GOOD(JOB_RESULT, jr);
        jr.warning = fill(s, 'w', PROTO_ERROR_MESSAGE_MAX + 1);
        BAD(JOB_RESULT, jr);

        pg.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_IMPORT_VM;
        pg.stage = fill(s, 's', 128);
        GOOD(PROGRESS, pg);
        pg.stage = fill(s, 's', 129);
        BAD(PROGRESS, pg);
        pg.stage = (char *) "";
        pg.done = pg.total = 7;
        GOOD(PROGRESS, pg);
        pg.done = 8;
        BAD(PROGRESS, pg);
}

static void test_limits_container(void **state) {
        Bistro__Container__ContainerReadyRequest cr = BISTRO__CONTAINER__CONTAINER_READY_REQUEST__INIT;
        Bistro__Container__OpenUrlRequest ou = BISTRO__CONTAINER__OPEN_URL_REQUEST__INIT;
        Bistro__Container__UpdateApplicationListRequest al =
                BISTRO__CONTAINER__UPDATE_APPLICATION_LIST_REQUEST__INIT;
        Bistro__Container__Application app = BISTRO__CONTAINER__APPLICATION__INIT;
        Bistro__Container__Application *apps[1] = { &app };
        Bistro__Container__LaunchApplicationRequest la = BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;
        static char s[8192 + 2];
        char *mimes[1];

        cr.token = (char *) "0123456789abcdef";
        cr.garcon_port = 10000;
        GOOD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 9999;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 19999;
        GOOD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 20000;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.garcon_port = 10000;
        cr.sftp_port = 1024;
        GOOD(CONTAINER_READY_REQUEST, cr);
        cr.sftp_port = 1023;
        BAD(CONTAINER_READY_REQUEST, cr);
        cr.sftp_port = 65535;
        GOOD(CONTAINER_READY_REQUEST, cr);
        cr.sftp_port = 65536;
        BAD(CONTAINER_READY_REQUEST, cr);

        ou.token = (char *) "0123456789abcdef";
        ou.url = (char *) "http://x"; /* shortest: the scheme and one byte */
        GOOD(OPEN_URL_REQUEST, ou);
        ou.url = fill(s, 'u', 8192);
        memcpy(s, "http://", 7);
        GOOD(OPEN_URL_REQUEST, ou);
        ou.url = fill(s, 'u', 8193);
        memcpy(s, "http://", 7);
        BAD(OPEN_URL_REQUEST, ou);

        al.token = (char *) "0123456789abcdef";
        al.apps = apps;
        al.n_apps = 1;
        app.name = (char *) "Gedit";
        app.desktop_file_id = fill(s, 'd', 255);
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.desktop_file_id = fill(s, 'd', 256);
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.desktop_file_id = (char *) "gedit";
        app.name = fill(s, 'n', 256);
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.name = fill(s, 'n', 257);
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.name = (char *) "Gedit";
        app.comment = fill(s, 'c', 1024);
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.comment = fill(s, 'c', 1025);
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);
        app.comment = (char *) "";
        app.mime_types = mimes;
        app.n_mime_types = 1;
        mimes[0] = fill(s, 'm', 127);
        s[1] = '/';
        GOOD(UPDATE_APPLICATION_LIST_REQUEST, al);
        mimes[0] = fill(s, 'm', 128);
        s[1] = '/';
        BAD(UPDATE_APPLICATION_LIST_REQUEST, al);

        la.desktop_file_id = fill(s, 'd', 255);
        GOOD(LAUNCH_APPLICATION_REQUEST, la);
        la.desktop_file_id = fill(s, 'd', 256);
        BAD(LAUNCH_APPLICATION_REQUEST, la);
}

static void test_limits_tremplin(void **state) {
        Bistro__Tremplin__CreateContainerRequest cc = BISTRO__TREMPLIN__CREATE_CONTAINER_REQUEST__INIT;
        Bistro__Tremplin__ImageChunk ic = BISTRO__TREMPLIN__IMAGE_CHUNK__INIT;
        Bistro__Tremplin__StartContainerRequest sc = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;
        Bistro__Tremplin__ContainerInfo ci = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;
        Bistro__Tremplin__ContainerInfoResponse ir = BISTRO__TREMPLIN__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Tremplin__ListContainersResponse lc = BISTRO__TREMPLIN__LIST_CONTAINERS_RESPONSE__INIT;
        Bistro__Tremplin__ContainerInfo *many[PROTO_LIST_MAX + 1];
        static uint8_t chunk[64 * 1024 + 1];

        cc.name = (char *) "penguin";
        cc.unpacked_size = UINT64_C(64) << 30;
        GOOD(TREMPLIN_CREATE_CONTAINER_REQUEST, cc);
        cc.unpacked_size = (UINT64_C(64) << 30) + 1;
        BAD(TREMPLIN_CREATE_CONTAINER_REQUEST, cc);

        ic.data.data = chunk;
        ic.data.len = sizeof(chunk) - 1;
        GOOD(TREMPLIN_IMAGE_CHUNK, ic);
        ic.data.len = sizeof(chunk);
        BAD(TREMPLIN_IMAGE_CHUNK, ic);

        /* Here the end is exclusive (TREMPLIN_USER_UID_END): 59999 is the last uid, as in concierge. */
        sc.name = (char *) "penguin";
        sc.token = (char *) "0123456789abcdef";
        sc.user = (char *) "alice";
        sc.uid = 1000;
        GOOD(TREMPLIN_START_CONTAINER_REQUEST, sc);
        sc.uid = 999;
        BAD(TREMPLIN_START_CONTAINER_REQUEST, sc);
        sc.uid = 59999;
        GOOD(TREMPLIN_START_CONTAINER_REQUEST, sc);
        sc.uid = 60000;
        BAD(TREMPLIN_START_CONTAINER_REQUEST, sc);

        ci.name = (char *) "penguin";
        ir.container = &ci;
        ci.init_pid = 0;
        GOOD(TREMPLIN_CONTAINER_INFO_RESPONSE, ir);
        ci.init_pid = -1;
        BAD(TREMPLIN_CONTAINER_INFO_RESPONSE, ir);
        ci.init_pid = 0;

        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = &ci;
        lc.containers = many;
        lc.n_containers = PROTO_LIST_MAX;
        GOOD(TREMPLIN_LIST_CONTAINERS_RESPONSE, lc);
        lc.n_containers = PROTO_LIST_MAX + 1;
        BAD(TREMPLIN_LIST_CONTAINERS_RESPONSE, lc);
}

static void test_limits_vsh(void **state) {
        Bistro__Vsh__SetupConnectionRequest sc = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
        Bistro__Vsh__SetupConnectionResponse sr = BISTRO__VSH__SETUP_CONNECTION_RESPONSE__INIT;
        Bistro__Vsh__HostMessage hm = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__GuestMessage gm = BISTRO__VSH__GUEST_MESSAGE__INIT;
        Bistro__Vsh__WindowResize wr = BISTRO__VSH__WINDOW_RESIZE__INIT;
        Bistro__Vsh__ExitStatus es = BISTRO__VSH__EXIT_STATUS__INIT;
        static char s[1024 + 2];
        char *list[PROTO_ARGV_MAX + 1];

        for (size_t i = 0; i < ELEMENTSOF(list); i++)
                list[i] = (char *) "A=b";
        sc.argv = list;
        sc.n_argv = PROTO_ARGV_MAX;
        GOOD(SETUP_CONNECTION_REQUEST, sc);
        sc.n_argv = PROTO_ARGV_MAX + 1;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.n_argv = 0;
        sc.env = list;
        sc.n_env = 256;
        GOOD(SETUP_CONNECTION_REQUEST, sc);
        sc.n_env = 257;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.n_env = 0;
        sc.tty = true;
        sc.window_rows = sc.window_cols = 1;
        GOOD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_rows = 0;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_rows = 1000;
        sc.window_cols = 1000;
        GOOD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_rows = 1001;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_rows = 1000;
        sc.window_cols = 0;
        BAD(SETUP_CONNECTION_REQUEST, sc);
        sc.window_cols = 1001;
        BAD(SETUP_CONNECTION_REQUEST, sc);

        hm.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE;
        hm.resize = &wr;
        wr.rows = wr.cols = 1;
        GOOD(HOST_MESSAGE, hm);
        wr.cols = 0;
        BAD(HOST_MESSAGE, hm);
        wr.rows = wr.cols = 1000;
        GOOD(HOST_MESSAGE, hm);
        wr.rows = 1001;
        BAD(HOST_MESSAGE, hm);

        sr.status = BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_FAILED;
        sr.error = fill(s, 'e', 1024);
        GOOD(SETUP_CONNECTION_RESPONSE, sr);
        sr.error = fill(s, 'e', 1025);
        BAD(SETUP_CONNECTION_RESPONSE, sr);

        gm.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS;
        gm.status = &es;
        es.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_EXIT_CODE;
        es.exit_code = 255;
        GOOD(GUEST_MESSAGE, gm);
        es.exit_code = 256;
        BAD(GUEST_MESSAGE, gm);
        es.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_KILLED_BY_SIGNAL;
        es.killed_by_signal = 1;
        GOOD(GUEST_MESSAGE, gm);
        es.killed_by_signal = 0;
        BAD(GUEST_MESSAGE, gm);
        es.killed_by_signal = 64;
        GOOD(GUEST_MESSAGE, gm);
        es.killed_by_signal = 65;
        BAD(GUEST_MESSAGE, gm);
}

/* Every request type has a documented response type, and it is a response. */
static void test_limits_ports(void **state) {
        Bistro__Ports__ForwardConnectRequest fc = BISTRO__PORTS__FORWARD_CONNECT_REQUEST__INIT;
        Bistro__Ports__AddForwardRequest add = BISTRO__PORTS__ADD_FORWARD_REQUEST__INIT;
        Bistro__Ports__RemoveForwardRequest rm = BISTRO__PORTS__REMOVE_FORWARD_REQUEST__INIT;
        Bistro__Ports__PortForwardRequest pf = BISTRO__PORTS__PORT_FORWARD_REQUEST__INIT;
        Bistro__Ports__PortsUpdate pu = BISTRO__PORTS__PORTS_UPDATE__INIT;
        Bistro__Ports__ListeningPort lp = BISTRO__PORTS__LISTENING_PORT__INIT;
        Bistro__Ports__ListForwardsResponse lf = BISTRO__PORTS__LIST_FORWARDS_RESPONSE__INIT;
        Bistro__Ports__Forward f = BISTRO__PORTS__FORWARD__INIT;
        static Bistro__Ports__ListeningPort *lps[4096 + 1];
        static Bistro__Ports__Forward *fs[4096 + 1];
        static char s[300], label[2 * 64 + 3];

        fc.container = (char *) "penguin";
        fc.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        fc.port = 65535;
        GOOD(FORWARD_CONNECT_REQUEST, fc);
        fc.port = 65536;
        BAD(FORWARD_CONNECT_REQUEST, fc);
        fc.port = 1;
        GOOD(FORWARD_CONNECT_REQUEST, fc);
        fc.port = 0;
        BAD(FORWARD_CONNECT_REQUEST, fc);
        fc.port = 80;
        fc.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP;
        GOOD(FORWARD_CONNECT_REQUEST, fc);
        fc.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_INVALID;
        BAD(FORWARD_CONNECT_REQUEST, fc);
        fc.protocol = 3;
        BAD(FORWARD_CONNECT_REQUEST, fc);
        fc.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        fc.container = fill(s, 'a', 64);
        GOOD(FORWARD_CONNECT_REQUEST, fc);
        fc.container = fill(s, 'a', 65);
        BAD(FORWARD_CONNECT_REQUEST, fc);

        /* Manual forwards: host ports from 1024; without one the container port must be >= 1024. */
        add.container = (char *) "penguin";
        add.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        add.container_port = 80;
        add.host_port = 1024;
        GOOD(ADD_FORWARD_REQUEST, add);
        add.host_port = 1023;
        BAD(ADD_FORWARD_REQUEST, add);
        add.host_port = 65535;
        GOOD(ADD_FORWARD_REQUEST, add);
        add.host_port = 65536;
        BAD(ADD_FORWARD_REQUEST, add);
        add.host_port = 0;
        BAD(ADD_FORWARD_REQUEST, add);
        add.container_port = 1024;
        GOOD(ADD_FORWARD_REQUEST, add);
        add.container_port = 1023;
        BAD(ADD_FORWARD_REQUEST, add);
        add.container_port = 65535;
        GOOD(ADD_FORWARD_REQUEST, add);
        add.container_port = 65536;
        BAD(ADD_FORWARD_REQUEST, add);
        add.container_port = 8000;
        rm.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP;
        rm.host_port = 65535;
        GOOD(REMOVE_FORWARD_REQUEST, rm);
        rm.host_port = 65536;
        BAD(REMOVE_FORWARD_REQUEST, rm);
        rm.host_port = 0;
        BAD(REMOVE_FORWARD_REQUEST, rm);
        rm.host_port = 8000;

        /* PortForward: exactly one of add and remove. */
        pf.vm_name = (char *) "termina";
        BAD(PORT_FORWARD_REQUEST, pf);
        pf.add = &add;
        GOOD(PORT_FORWARD_REQUEST, pf);
        pf.remove = &rm;
        BAD(PORT_FORWARD_REQUEST, pf);
        pf.add = NULL;
        GOOD(PORT_FORWARD_REQUEST, pf);
        pf.vm_name = (char *) "";
        BAD(PORT_FORWARD_REQUEST, pf);

        /* The guest's list: PORTS_MAX entries, each with a family and a valid port. */
        lp.container = (char *) "penguin";
        lp.port = 65535;
        lp.ipv6 = true;
        for (size_t i = 0; i < ELEMENTSOF(lps); i++)
                lps[i] = &lp;
        pu.ports = lps;
        pu.n_ports = 4096;
        GOOD(PORTS_UPDATE, pu);
        pu.n_ports = 4097;
        BAD(PORTS_UPDATE, pu);
        pu.n_ports = 1;
        lp.port = 65536;
        BAD(PORTS_UPDATE, pu);
        lp.port = 8000;
        lp.ipv6 = false;
        BAD(PORTS_UPDATE, pu);
        lp.ipv4 = true;
        GOOD(PORTS_UPDATE, pu);
        lp.container = (char *) "termina/penguin"; /* only the listing over every VM has a VM part */
        BAD(PORTS_UPDATE, pu);
        lp.container = (char *) "penguin";

        f.container = (char *) "penguin";
        f.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        f.container_port = f.host_port = 8000;
        f.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_BUSY;
        f.reason = fill(s, 'r', 256);
        f.host_addresses = (char *) "127.0.0.1,::1";
        for (size_t i = 0; i < ELEMENTSOF(fs); i++)
                fs[i] = &f;
        lf.forwards = fs;
        lf.n_forwards = 4096;
        GOOD(LIST_FORWARDS_RESPONSE, lf);
        lf.n_forwards = 4097;
        BAD(LIST_FORWARDS_RESPONSE, lf);
        lf.n_forwards = 1;
        f.reason = fill(s, 'r', 257);
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.reason = (char *) "";
        f.host_addresses = fill(s, '1', 64);
        GOOD(LIST_FORWARDS_RESPONSE, lf);
        f.host_addresses = fill(s, '1', 65);
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.host_addresses = (char *) "";
        f.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_INVALID;
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_FAILED;
        GOOD(LIST_FORWARDS_RESPONSE, lf);
        f.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_FAILED + 1;
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_ACTIVE;
        /* "VM/container": each part a valid name of at most 64 bytes. */
        fill(label, 'v', 64);
        label[64] = '/';
        fill(label + 65, 'c', 64);
        f.container = label;
        GOOD(LIST_FORWARDS_RESPONSE, lf);
        fill(label, 'v', 65);
        label[65] = '/';
        fill(label + 66, 'c', 64);
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.container = (char *) "termina/";
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.container = (char *) "/penguin";
        BAD(LIST_FORWARDS_RESPONSE, lf);
        f.container = (char *) "termina/pen/guin";
        BAD(LIST_FORWARDS_RESPONSE, lf);
}

static void test_response_types(void **state) {
        unsigned n = 0;

        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                for (size_t i = 0; i < table_count(t); i++) {
                        const MessageTypeInfo *info = &tables[t][i];
                        uint32_t resp = message_response_type(info->type);

                        if (!(info->kinds & MESSAGE_KIND_REQUEST)) {
                                assert_int_equal(resp, 0);
                                continue;
                        }
                        if (resp == 0)
                                fail_msg("no response type for %s", info->name);
                        assert_non_null(message_type_lookup(resp));
                        assert_true(message_type_lookup(resp)->kinds & MESSAGE_KIND_RESPONSE);
                        assert_int_not_equal(resp, T(ERROR_REPLY));
                        n++;
                }
        assert_true(n >= 30);
        assert_int_equal(message_response_type(T(LAUNCH_PROCESS_REQUEST)), T(LAUNCH_PROCESS_RESPONSE));
        assert_int_equal(message_response_type(T(SET_TIME_REQUEST)), T(EMPTY));
        assert_int_equal(message_response_type(T(START_CONTAINER_REQUEST)), T(CONTAINER_INFO_RESPONSE));
        assert_int_equal(message_response_type(T(EMPTY)), 0);
        assert_int_equal(message_response_type(999999), 0);
}

/* sommelier's first frame (docs/design/sommelier.md) and the per-app scale of a launch. */
static void test_wayland(void **state) {
        Bistro__Container__WaylandConnectRequest w = BISTRO__CONTAINER__WAYLAND_CONNECT_REQUEST__INIT;
        Bistro__Container__LaunchApplicationRequest l = BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;

        assert_int_equal(message_response_type(T(WAYLAND_CONNECT_REQUEST)), T(EMPTY));
        w.token = (char *) "0123456789abcdef0123456789abcdef";
        GOOD(WAYLAND_CONNECT_REQUEST, w);
        w.token = (char *) "";
        BAD(WAYLAND_CONNECT_REQUEST, w);
        w.token = (char *) "tok\nen";
        BAD(WAYLAND_CONNECT_REQUEST, w);

        l.desktop_file_id = (char *) "foot";
        GOOD(LAUNCH_APPLICATION_REQUEST, l);
        l.scale_percent = 50;
        GOOD(LAUNCH_APPLICATION_REQUEST, l);
        l.scale_percent = 400;
        GOOD(LAUNCH_APPLICATION_REQUEST, l);
        l.scale_percent = 49;
        BAD(LAUNCH_APPLICATION_REQUEST, l);
        l.scale_percent = 401;
        BAD(LAUNCH_APPLICATION_REQUEST, l);
}

/* "Linux files" (docs/design/files.md): cicerone's OpenSftp and garcon's GarconOpenSftp. */
static void test_open_sftp(void **state) {
        Bistro__Cicerone__OpenSftpRequest o = BISTRO__CICERONE__OPEN_SFTP_REQUEST__INIT;
        Bistro__Container__GarconOpenSftpRequest g = BISTRO__CONTAINER__GARCON_OPEN_SFTP_REQUEST__INIT;

        GOOD(GARCON_OPEN_SFTP_REQUEST, g);
        assert_int_equal(message_response_type(T(GARCON_OPEN_SFTP_REQUEST)), T(EMPTY));
        assert_int_equal(message_response_type(T(CICERONE_OPEN_SFTP_REQUEST)), T(EMPTY));
        o.vm_name = (char *) "termina";
        o.container_name = (char *) "penguin";
        o.wait_ms = 300000;
        GOOD(CICERONE_OPEN_SFTP_REQUEST, o);
        o.wait_ms = 300001;
        BAD(CICERONE_OPEN_SFTP_REQUEST, o);
        o.wait_ms = 0;
        o.container_name = (char *) "../penguin";
        BAD(CICERONE_OPEN_SFTP_REQUEST, o);
        o.container_name = (char *) "";
        BAD(CICERONE_OPEN_SFTP_REQUEST, o);
        o.container_name = (char *) "penguin";
        o.vm_name = (char *) "-termina";
        BAD(CICERONE_OPEN_SFTP_REQUEST, o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open_sftp),
                cmocka_unit_test(test_wayland),
                cmocka_unit_test(test_table_and_samples),
                cmocka_unit_test(test_common),
                cmocka_unit_test(test_concierge),
                cmocka_unit_test(test_maitred),
                cmocka_unit_test(test_vsh),
                cmocka_unit_test(test_container),
                cmocka_unit_test(test_raw_bytes),
                cmocka_unit_test(test_field_budget),
                cmocka_unit_test(test_text_limits),
                cmocka_unit_test(test_text_sanitize),
                cmocka_unit_test(test_response_types),
                cmocka_unit_test(test_limits_shared),
                cmocka_unit_test(test_limits_maitred),
                cmocka_unit_test(test_limits_concierge),
                cmocka_unit_test(test_limits_container),
                cmocka_unit_test(test_limits_tremplin),
                cmocka_unit_test(test_limits_vsh),
                cmocka_unit_test(test_limits_ports),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
