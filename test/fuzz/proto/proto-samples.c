/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>

#include "macro.h"
#include "message-type.h"
#include "proto-samples.h"

static int pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_size) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ?: 1);

        if (!buf)
                return -ENOMEM;
        protobuf_c_message_pack(m, buf);
        *ret = buf;
        *ret_size = n;
        return 0;
}

#define PACK(m) pack(&(m).base, ret, ret_size)

static char token[] = "0123456789abcdef0123456789ABCDEF";

static int sample_concierge(uint32_t type, uint8_t **ret, size_t *ret_size) {
        Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
        Bistro__Concierge__ContainerInfo ci = BISTRO__CONCIERGE__CONTAINER_INFO__INIT;

        vm.name = (char *) "termina";
        vm.state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
        vm.pid = 1234;
        vm.cpus = 2;
        vm.memory_mib = 2048;
        vm.disk_path = (char *) "/home/u/.local/share/bistro/vms/termina/disk.qcow2";
        vm.disk_size = UINT64_C(10) << 30;
        vm.disk_used = UINT64_C(1) << 30;
        vm.kernel_version = (char *) "6.1.0-27-cloud-amd64";
        vm.image_version = (char *) "2026.11.1";
        vm.started_at = 1795000000;
        ci.vm_name = (char *) "termina";
        ci.name = (char *) "penguin";
        ci.state = BISTRO__CONCIERGE__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
        ci.image = (char *) "debian-12";
        ci.ipv4_address = (char *) "100.115.92.194";
        ci.ipv6_address = (char *) "fd00::2";

        switch (type) {
        case BISTRO__MESSAGE_TYPE__START_VM_REQUEST: {
                Bistro__Concierge__StartVmRequest m = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
                m.name = (char *) "termina";
                m.cpus = 2;
                m.memory_mib = 2048;
                m.disk_size = UINT64_C(20) << 30;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST: {
                Bistro__Concierge__StopVmRequest m = BISTRO__CONCIERGE__STOP_VM_REQUEST__INIT;
                m.name = (char *) "termina";
                m.force = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST: {
                Bistro__Concierge__ListVmsRequest m = BISTRO__CONCIERGE__LIST_VMS_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST: {
                Bistro__Concierge__GetVmInfoRequest m = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
                m.name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__DESTROY_VM_REQUEST: {
                Bistro__Concierge__DestroyVmRequest m = BISTRO__CONCIERGE__DESTROY_VM_REQUEST__INIT;
                m.name = (char *) "old-vm";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__EXPORT_VM_REQUEST: {
                Bistro__Concierge__ExportVmRequest m = BISTRO__CONCIERGE__EXPORT_VM_REQUEST__INIT;
                m.name = (char *) "termina";
                m.path = (char *) "/home/u/backup/termina.tar.zst";
                m.force = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__IMPORT_VM_REQUEST: {
                Bistro__Concierge__ImportVmRequest m = BISTRO__CONCIERGE__IMPORT_VM_REQUEST__INIT;
                m.name = (char *) "restored";
                m.path = (char *) "/home/u/backup/termina.tar.zst";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST: {
                Bistro__Concierge__ResizeVmRequest m = BISTRO__CONCIERGE__RESIZE_VM_REQUEST__INIT;
                m.name = (char *) "termina";
                m.size = UINT64_C(40) << 30;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SYNC_TIME_REQUEST: {
                Bistro__Concierge__SyncTimeRequest m = BISTRO__CONCIERGE__SYNC_TIME_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_VM_LOGS_REQUEST: {
                Bistro__Concierge__GetVmLogsRequest m = BISTRO__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
                m.name = (char *) "termina";
                m.max_bytes = 65536;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST: {
                Bistro__Concierge__CreateContainerRequest m =
                        BISTRO__CONCIERGE__CREATE_CONTAINER_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.name = (char *) "penguin";
                m.image = (char *) "debian-12";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST: {
                Bistro__Concierge__StartContainerRequest m =
                        BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.name = (char *) "penguin";
                m.image = (char *) "debian";
                m.create_if_missing = true;
                m.user = (char *) "alice";
                m.uid = 1000;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_VERSION_REQUEST: {
                Bistro__Concierge__GetVersionRequest m = BISTRO__CONCIERGE__GET_VERSION_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__EXIT_REQUEST: {
                Bistro__Concierge__ExitRequest m = BISTRO__CONCIERGE__EXIT_REQUEST__INIT;
                m.if_idle = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_VERSION_RESPONSE: {
                Bistro__Concierge__GetVersionResponse m = BISTRO__CONCIERGE__GET_VERSION_RESPONSE__INIT;
                m.build_id = (char *) "0123456789abcdef0123456789abcdef";
                m.version = (char *) "0.1";
                m.executable = (char *) "/usr/libexec/bistro/concierge";
                m.vms_running = 1;
                m.pid = 4242;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__JOB_RESULT: {
                Bistro__Concierge__JobResult m = BISTRO__CONCIERGE__JOB_RESULT__INIT;
                m.kernel_cmdline = (char *) "console=hvc0 root=/dev/vda ro";
                m.warning = (char *) "";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST: {
                Bistro__Concierge__StopContainerRequest m = BISTRO__CONCIERGE__STOP_CONTAINER_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.name = (char *) "penguin";
                m.force = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST: {
                Bistro__Concierge__DeleteContainerRequest m =
                        BISTRO__CONCIERGE__DELETE_CONTAINER_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.name = (char *) "penguin";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST: {
                Bistro__Concierge__ListContainersRequest m =
                        BISTRO__CONCIERGE__LIST_CONTAINERS_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE: {
                Bistro__Concierge__VmInfoResponse m = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
                m.vm = &vm;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE: {
                Bistro__Concierge__ListVmsResponse m = BISTRO__CONCIERGE__LIST_VMS_RESPONSE__INIT;
                Bistro__Concierge__VmInfo *vms[] = { &vm, &vm };
                m.vms = vms;
                m.n_vms = ELEMENTSOF(vms);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_VM_LOGS_RESPONSE: {
                Bistro__Concierge__GetVmLogsResponse m = BISTRO__CONCIERGE__GET_VM_LOGS_RESPONSE__INIT;
                static uint8_t log[] = "[    0.000000] Linux version 6.1.0\r\n\x1b[1mok\x1b[0m\n";
                m.log.data = log;
                m.log.len = sizeof(log) - 1;
                m.truncated = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CONTAINER_INFO_RESPONSE: {
                Bistro__Concierge__ContainerInfoResponse m =
                        BISTRO__CONCIERGE__CONTAINER_INFO_RESPONSE__INIT;
                m.container = &ci;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_RESPONSE: {
                Bistro__Concierge__ListContainersResponse m =
                        BISTRO__CONCIERGE__LIST_CONTAINERS_RESPONSE__INIT;
                Bistro__Concierge__ContainerInfo *cs[] = { &ci };
                m.containers = cs;
                m.n_containers = ELEMENTSOF(cs);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SHARE_PATH_REQUEST: {
                Bistro__Concierge__SharePathRequest m = BISTRO__CONCIERGE__SHARE_PATH_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.host_path = (char *) "/home/u/src/project";
                m.container = (char *) "penguin";
                m.name = (char *) "project";
                m.read_only = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__UNSHARE_PATH_REQUEST: {
                Bistro__Concierge__UnsharePathRequest m = BISTRO__CONCIERGE__UNSHARE_PATH_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.name = (char *) "project";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_SHARES_REQUEST: {
                Bistro__Concierge__ListSharesRequest m = BISTRO__CONCIERGE__LIST_SHARES_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_SHARES_RESPONSE: {
                Bistro__Concierge__ListSharesResponse m = BISTRO__CONCIERGE__LIST_SHARES_RESPONSE__INIT;
                Bistro__Concierge__SharedDir a = BISTRO__CONCIERGE__SHARED_DIR__INIT,
                                             b = BISTRO__CONCIERGE__SHARED_DIR__INIT;
                Bistro__Concierge__SharedDir *ds[] = { &a, &b };
                a.name = (char *) "project";
                a.host_path = (char *) "/home/u/src/project";
                a.container = (char *) "penguin";
                b.name = (char *) "Photos";
                b.host_path = (char *) "/home/u/Pictures";
                b.container = (char *) "penguin";
                b.read_only = true;
                m.shares = ds;
                m.n_shares = ELEMENTSOF(ds);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__PROGRESS: {
                Bistro__Concierge__Progress m = BISTRO__CONCIERGE__PROGRESS__INIT;
                m.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_EXPORT_VM;
                m.done = 4096;
                m.total = 1 << 20;
                m.stage = (char *) "compressing";
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_maitred(uint32_t type, uint8_t **ret, size_t *ret_size) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONFIGURE_NETWORK_REQUEST: {
                Bistro__Maitred__ConfigureNetworkRequest m =
                        BISTRO__MAITRED__CONFIGURE_NETWORK_REQUEST__INIT;
                static uint8_t v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f };
                static uint8_t v6gw[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02 };
                char *ns[] = { (char *) "10.0.2.3", (char *) "fd00::3" };
                char *sd[] = { (char *) "example.org" };
                m.ipv4_address = 0x0f02000a; /* 10.0.2.15, network order on little-endian */
                m.ipv4_prefix_len = 24;
                m.ipv4_gateway = 0x0202000a;
                m.ipv6_address.data = v6;
                m.ipv6_address.len = sizeof(v6);
                m.ipv6_prefix_len = 64;
                m.ipv6_gateway.data = v6gw;
                m.ipv6_gateway.len = sizeof(v6gw);
                m.nameservers = ns;
                m.n_nameservers = ELEMENTSOF(ns);
                m.search_domains = sd;
                m.n_search_domains = ELEMENTSOF(sd);
                m.hostname = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SET_TIME_REQUEST: {
                Bistro__Maitred__SetTimeRequest m = BISTRO__MAITRED__SET_TIME_REQUEST__INIT;
                m.seconds = 1795000000;
                m.nanos = 123456789;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST: {
                Bistro__Maitred__SetTimezoneRequest m = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
                m.name = (char *) "America/Argentina/Buenos_Aires";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__MOUNT_REQUEST: {
                Bistro__Maitred__MountRequest m = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
                m.source = (char *) "/dev/vdb";
                m.target = (char *) "/mnt/stateful";
                m.fstype = (char *) "btrfs";
                m.flags = MS_NOSUID | MS_NODEV;
                m.data = (char *) "compress=zstd,user_subvol_rm_allowed";
                m.mkfs_if_needed = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST: {
                Bistro__Maitred__LaunchProcessRequest m = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
                char *argv[] = { (char *) "/usr/bin/vshd", (char *) "--port", (char *) "9001" };
                char *env[] = { (char *) "PATH=/usr/sbin:/usr/bin", (char *) "LANG=C.UTF-8" };
                m.argv = argv;
                m.n_argv = ELEMENTSOF(argv);
                m.env = env;
                m.n_env = ELEMENTSOF(env);
                m.respawn = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST: {
                Bistro__Maitred__ShutdownRequest m = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_REQUEST: {
                Bistro__Maitred__GetKernelVersionRequest m =
                        BISTRO__MAITRED__GET_KERNEL_VERSION_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__VM_READY_REQUEST: {
                Bistro__Maitred__VmReadyRequest m = BISTRO__MAITRED__VM_READY_REQUEST__INIT;
                m.kernel_version = (char *) "6.1.0-27-cloud-amd64";
                m.image_version = (char *) "2026.11.1";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE: {
                Bistro__Maitred__LaunchProcessResponse m = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;
                m.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED;
                m.pid = 42;
                m.code = 1;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_RESPONSE: {
                Bistro__Maitred__GetKernelVersionResponse m =
                        BISTRO__MAITRED__GET_KERNEL_VERSION_RESPONSE__INIT;
                m.kernel_release = (char *) "6.1.0-27-cloud-amd64";
                m.kernel_version = (char *) "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)";
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_vsh(uint32_t type, uint8_t **ret, size_t *ret_size) {
        Bistro__Vsh__DataMessage dm = BISTRO__VSH__DATA_MESSAGE__INIT;
        static uint8_t bytes[] = "ls -l\n";

        dm.data.data = bytes;
        dm.data.len = sizeof(bytes) - 1;
        switch (type) {
        case BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_REQUEST: {
                Bistro__Vsh__SetupConnectionRequest m = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
                char *env[] = { (char *) "TERM=xterm-256color", (char *) "LANG=C.UTF-8" };
                m.container = (char *) "penguin";
                m.user = (char *) "alice";
                m.cwd = (char *) "/home/alice";
                m.env = env;
                m.n_env = ELEMENTSOF(env);
                m.tty = true;
                m.window_rows = 50;
                m.window_cols = 132;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE: {
                Bistro__Vsh__SetupConnectionResponse m = BISTRO__VSH__SETUP_CONNECTION_RESPONSE__INIT;
                m.status = BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY;
                m.pid = 321;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__HOST_MESSAGE: {
                Bistro__Vsh__HostMessage m = BISTRO__VSH__HOST_MESSAGE__INIT;
                dm.stream = BISTRO__VSH__STREAM__STREAM_STDIN;
                m.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_DATA;
                m.data = &dm;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GUEST_MESSAGE: {
                Bistro__Vsh__GuestMessage m = BISTRO__VSH__GUEST_MESSAGE__INIT;
                dm.stream = BISTRO__VSH__STREAM__STREAM_STDOUT;
                m.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_DATA;
                m.data = &dm;
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_container(uint32_t type, uint8_t **ret, size_t *ret_size) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST: {
                Bistro__Container__ContainerReadyRequest m =
                        BISTRO__CONTAINER__CONTAINER_READY_REQUEST__INIT;
                m.token = token;
                m.garcon_port = 10000;
                m.sftp_port = 2222;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST: {
                Bistro__Container__ContainerShutdownRequest m =
                        BISTRO__CONTAINER__CONTAINER_SHUTDOWN_REQUEST__INIT;
                m.token = token;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST: {
                Bistro__Container__OpenUrlRequest m = BISTRO__CONTAINER__OPEN_URL_REQUEST__INIT;
                m.token = token;
                m.url = (char *) "https://example.org/path?q=1#frag";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST: {
                Bistro__Container__UpdateApplicationListRequest m =
                        BISTRO__CONTAINER__UPDATE_APPLICATION_LIST_REQUEST__INIT;
                Bistro__Container__Application a = BISTRO__CONTAINER__APPLICATION__INIT;
                Bistro__Container__Application b = BISTRO__CONTAINER__APPLICATION__INIT;
                Bistro__Container__Application *apps[] = { &a, &b };
                char *mimes[] = { (char *) "text/plain", (char *) "text/x-c" };
                a.desktop_file_id = (char *) "org.gnome.gedit";
                a.name = (char *) "Text Editor";
                a.comment = (char *) "Édite des fichiers texte";
                a.mime_types = mimes;
                a.n_mime_types = ELEMENTSOF(mimes);
                a.startup_wm_class = (char *) "gedit";
                b.desktop_file_id = (char *) "vim";
                b.startup_wm_class = (char *) "";
                b.name = (char *) "Vim";
                b.no_display = true;
                m.token = token;
                m.apps = apps;
                m.n_apps = ELEMENTSOF(apps);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LAUNCH_APPLICATION_REQUEST: {
                Bistro__Container__LaunchApplicationRequest m =
                        BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;
                char *files[] = { (char *) "/home/alice/notes.txt" };
                m.desktop_file_id = (char *) "org.gnome.gedit";
                char *uris[] = { (char *) "https://example.org/" };
                m.files = files;
                m.n_files = ELEMENTSOF(files);
                m.uris = uris;
                m.n_uris = ELEMENTSOF(uris);
                m.scale_percent = 150;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST: {
                static uint8_t png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0,
                                         0,    13,  'I', 'H', 'D',  'R',  0,    0,    0, 48,
                                         0,    0,   0,   48,  8,    6,    0,    0,    0 };
                static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
                Bistro__Container__UpdateApplicationIconsRequest m =
                        BISTRO__CONTAINER__UPDATE_APPLICATION_ICONS_REQUEST__INIT;
                Bistro__Container__Icon a = BISTRO__CONTAINER__ICON__INIT, b = BISTRO__CONTAINER__ICON__INIT;
                Bistro__Container__Icon *icons[] = { &a, &b };
                a.size = 48;
                a.data.data = png;
                a.data.len = sizeof(png);
                b.size = 0;
                b.data.data = (uint8_t *) svg;
                b.data.len = strlen(svg);
                m.token = token;
                m.desktop_file_id = (char *) "org.gnome.gedit";
                m.icons = icons;
                m.n_icons = ELEMENTSOF(icons);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__WAYLAND_CONNECT_REQUEST: {
                Bistro__Container__WaylandConnectRequest m =
                        BISTRO__CONTAINER__WAYLAND_CONNECT_REQUEST__INIT;
                m.token = token;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST: {
                Bistro__Container__GarconHelloRequest m = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST: {
                Bistro__Container__GarconOpenSftpRequest m =
                        BISTRO__CONTAINER__GARCON_OPEN_SFTP_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE: {
                Bistro__Container__GarconHelloResponse m = BISTRO__CONTAINER__GARCON_HELLO_RESPONSE__INIT;
                m.token = token;
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_cicerone(uint32_t type, uint8_t **ret, size_t *ret_size) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STARTED_REQUEST: {
                Bistro__Cicerone__VmStartedRequest m = BISTRO__CICERONE__VM_STARTED_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STOPPED_REQUEST: {
                Bistro__Cicerone__VmStoppedRequest m = BISTRO__CICERONE__VM_STOPPED_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CICERONE_LAUNCH_APPLICATION_REQUEST: {
                Bistro__Cicerone__LaunchApplicationRequest m =
                        BISTRO__CICERONE__LAUNCH_APPLICATION_REQUEST__INIT;
                char *uris[] = { (char *) "https://example.org/", (char *) "mailto:a@example.org" };
                m.vm_name = (char *) "termina";
                m.container_name = (char *) "penguin";
                m.desktop_file_id = (char *) "org.gnome.gedit";
                m.uris = uris;
                m.n_uris = ELEMENTSOF(uris);
                m.wait_ms = 60000;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__CICERONE_OPEN_SFTP_REQUEST: {
                Bistro__Cicerone__OpenSftpRequest m = BISTRO__CICERONE__OPEN_SFTP_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.container_name = (char *) "penguin";
                m.wait_ms = 60000;
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_tremplin(uint32_t type, uint8_t **ret, size_t *ret_size) {
        static uint8_t tar[1024] = { 'e', 't', 'c', '/' };
        Bistro__Tremplin__ContainerInfo ci = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;

        ci.name = (char *) "penguin";
        ci.state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
        ci.image = (char *) "debian";
        ci.ipv4_address = (char *) "10.0.3.2";
        ci.ipv6_address = (char *) "fd42:b157:3::2";
        ci.init_pid = 412;
        ci.id_base = 100000;

        switch (type) {
        case BISTRO__MESSAGE_TYPE__TREMPLIN_CREATE_CONTAINER_REQUEST: {
                Bistro__Tremplin__CreateContainerRequest m =
                        BISTRO__TREMPLIN__CREATE_CONTAINER_REQUEST__INIT;
                m.name = (char *) "penguin";
                m.image = (char *) "debian";
                m.unpacked_size = 169307142;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST: {
                Bistro__Tremplin__StartContainerRequest m = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;
                Bistro__Tremplin__ShareMount s1 = BISTRO__TREMPLIN__SHARE_MOUNT__INIT,
                                             s2 = BISTRO__TREMPLIN__SHARE_MOUNT__INIT;
                Bistro__Tremplin__ShareMount *shares[] = { &s1, &s2 };

                s1.name = (char *) "projects";
                s2.name = (char *) "Downloads";
                s2.read_only = true;
                m.name = (char *) "penguin";
                m.token = token;
                m.shares = shares;
                m.n_shares = ELEMENTSOF(shares);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_ADD_SHARE_REQUEST: {
                Bistro__Tremplin__AddShareRequest m = BISTRO__TREMPLIN__ADD_SHARE_REQUEST__INIT;
                Bistro__Tremplin__ShareMount sm = BISTRO__TREMPLIN__SHARE_MOUNT__INIT;

                sm.name = (char *) "projects";
                sm.read_only = true;
                m.container = (char *) "penguin";
                m.share = &sm;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_REMOVE_SHARE_REQUEST: {
                Bistro__Tremplin__RemoveShareRequest m = BISTRO__TREMPLIN__REMOVE_SHARE_REQUEST__INIT;

                m.container = (char *) "penguin";
                m.name = (char *) "projects";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_STOP_CONTAINER_REQUEST: {
                Bistro__Tremplin__StopContainerRequest m = BISTRO__TREMPLIN__STOP_CONTAINER_REQUEST__INIT;
                m.name = (char *) "penguin";
                m.force = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_DELETE_CONTAINER_REQUEST: {
                Bistro__Tremplin__DeleteContainerRequest m =
                        BISTRO__TREMPLIN__DELETE_CONTAINER_REQUEST__INIT;
                m.name = (char *) "penguin";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_GET_CONTAINER_INFO_REQUEST: {
                Bistro__Tremplin__GetContainerInfoRequest m =
                        BISTRO__TREMPLIN__GET_CONTAINER_INFO_REQUEST__INIT;
                m.name = (char *) "penguin";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_REQUEST: {
                Bistro__Tremplin__ListContainersRequest m = BISTRO__TREMPLIN__LIST_CONTAINERS_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_SET_TIMEZONE_REQUEST: {
                static uint8_t tzif[44] = { 'T', 'Z', 'i', 'f', '2' };
                Bistro__Tremplin__SetTimezoneRequest m = BISTRO__TREMPLIN__SET_TIMEZONE_REQUEST__INIT;
                m.name = (char *) "Europe/Paris";
                m.tzif.data = tzif;
                m.tzif.len = sizeof(tzif);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK: {
                Bistro__Tremplin__ImageChunk m = BISTRO__TREMPLIN__IMAGE_CHUNK__INIT;
                m.data.data = tar;
                m.data.len = sizeof(tar);
                m.eof = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE: {
                Bistro__Tremplin__ContainerInfoResponse m = BISTRO__TREMPLIN__CONTAINER_INFO_RESPONSE__INIT;
                m.container = &ci;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_RESPONSE: {
                Bistro__Tremplin__ListContainersResponse m =
                        BISTRO__TREMPLIN__LIST_CONTAINERS_RESPONSE__INIT;
                Bistro__Tremplin__ContainerInfo stopped = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;
                Bistro__Tremplin__ContainerInfo *cs[] = { &ci, &stopped };
                stopped.name = (char *) "bb";
                stopped.state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STOPPED;
                stopped.image = (char *) "busybox";
                stopped.ipv4_address = (char *) "";
                stopped.ipv6_address = (char *) "";
                stopped.id_base = 165536;
                m.containers = cs;
                m.n_containers = ELEMENTSOF(cs);
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

static int sample_ports(uint32_t type, uint8_t **ret, size_t *ret_size) {
        Bistro__Ports__AddForwardRequest add = BISTRO__PORTS__ADD_FORWARD_REQUEST__INIT;
        Bistro__Ports__RemoveForwardRequest rm = BISTRO__PORTS__REMOVE_FORWARD_REQUEST__INIT;

        add.container = (char *) "penguin";
        add.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP;
        add.container_port = 53;
        add.host_port = 5353;
        rm.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        rm.host_port = 8000;
        switch (type) {
        case BISTRO__MESSAGE_TYPE__WATCH_PORTS_REQUEST: {
                Bistro__Ports__WatchPortsRequest m = BISTRO__PORTS__WATCH_PORTS_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST: {
                Bistro__Ports__ForwardConnectRequest m = BISTRO__PORTS__FORWARD_CONNECT_REQUEST__INIT;
                m.container = (char *) "penguin";
                m.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
                m.port = 8000;
                m.ipv6 = true;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_FORWARDS_REQUEST: {
                Bistro__Ports__ListForwardsRequest m = BISTRO__PORTS__LIST_FORWARDS_REQUEST__INIT;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__ADD_FORWARD_REQUEST:
                return PACK(add);
        case BISTRO__MESSAGE_TYPE__REMOVE_FORWARD_REQUEST:
                return PACK(rm);
        case BISTRO__MESSAGE_TYPE__LIST_PORTS_REQUEST: {
                Bistro__Ports__ListPortsRequest m = BISTRO__PORTS__LIST_PORTS_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__PORT_FORWARD_REQUEST: {
                Bistro__Ports__PortForwardRequest m = BISTRO__PORTS__PORT_FORWARD_REQUEST__INIT;
                m.vm_name = (char *) "termina";
                m.add = &add;
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__PORTS_UPDATE: {
                Bistro__Ports__PortsUpdate m = BISTRO__PORTS__PORTS_UPDATE__INIT;
                Bistro__Ports__ListeningPort a = BISTRO__PORTS__LISTENING_PORT__INIT,
                                             b = BISTRO__PORTS__LISTENING_PORT__INIT;
                Bistro__Ports__ListeningPort *ps[] = { &a, &b };
                a.container = (char *) "penguin";
                a.port = 8000;
                a.ipv4 = a.ipv6 = true;
                b.container = (char *) "bb";
                b.port = 5432;
                b.ipv4 = true;
                m.ports = ps;
                m.n_ports = ELEMENTSOF(ps);
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__LIST_FORWARDS_RESPONSE: {
                Bistro__Ports__ListForwardsResponse m = BISTRO__PORTS__LIST_FORWARDS_RESPONSE__INIT;
                Bistro__Ports__Forward a = BISTRO__PORTS__FORWARD__INIT, b = BISTRO__PORTS__FORWARD__INIT;
                Bistro__Ports__Forward *fs[] = { &a, &b };
                a.container = (char *) "penguin";
                a.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
                a.container_port = a.host_port = 8000;
                a.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_ACTIVE;
                a.host_addresses = (char *) "127.0.0.1,::1";
                b.container = (char *) "termina/bb";
                b.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
                b.container_port = b.host_port = 8000;
                b.state = BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_SHADOWED;
                b.reason = (char *) "penguin has this port";
                b.host_addresses = (char *) "";
                m.forwards = fs;
                m.n_forwards = ELEMENTSOF(fs);
                return PACK(m);
        }
        default:
                return -ENOENT;
        }
}

int proto_sample_pack(uint32_t type, uint8_t **ret, size_t *ret_size) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__ERROR_REPLY: {
                Bistro__ErrorReply m = BISTRO__ERROR_REPLY__INIT;
                m.error = -ENOENT;
                m.message = (char *) "VM 'termina' does not exist\n\tcreate it with: vmc start termina";
                return PACK(m);
        }
        case BISTRO__MESSAGE_TYPE__EMPTY: {
                Bistro__Empty m = BISTRO__EMPTY__INIT;
                return PACK(m);
        }
        }
        if (type >= 100 && type < 200)
                return sample_concierge(type, ret, ret_size);
        if (type >= 200 && type < 300)
                return sample_maitred(type, ret, ret_size);
        if (type >= 300 && type < 400)
                return sample_vsh(type, ret, ret_size);
        if (type >= 400 && type < 500)
                return sample_container(type, ret, ret_size);
        if (type >= 500 && type < 600)
                return sample_tremplin(type, ret, ret_size);
        if (type >= 600 && type < 700)
                return sample_ports(type, ret, ret_size);
        if (type >= 700 && type < 800)
                return sample_cicerone(type, ret, ret_size);
        return -ENOENT;
}
