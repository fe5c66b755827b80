/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "proto-validate.h"

#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)
#define CPUS_MAX 256u
#define MEMORY_MIB_MIN 64u
#define MEMORY_MIB_MAX (1024u * 1024u)
#define DISK_SIZE_MIN GIB
#define DISK_SIZE_MAX (64 * TIB)
#define VM_LOGS_MAX (1024u * 1024u)
#define VERSION_MAX 64u
#define STAGE_MAX 128u
#define UID_MIN_USER 1000u
#define UID_MAX_USER 59999u
#define BUILD_ID_MIN 16u
#define BUILD_ID_MAX 128u

static bool disk_size_ok(uint64_t size) {
        return size >= DISK_SIZE_MIN && size <= DISK_SIZE_MAX;
}

static int vm_info_validate(const Bistro__Concierge__VmInfo *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_enum_ok(&bistro__concierge__vm_state__descriptor, m->state));
        PROTO_CHECK(m->pid >= 0);
        PROTO_CHECK(m->cpus <= CPUS_MAX);
        PROTO_CHECK(m->memory_mib <= MEMORY_MIB_MAX);
        PROTO_CHECK(m->disk_path && (m->disk_path[0] == '\0' || proto_abs_path_ok(m->disk_path, false)));
        PROTO_CHECK(m->disk_size <= DISK_SIZE_MAX);
        PROTO_CHECK(proto_text_ok(m->kernel_version, VERSION_MAX, false));
        PROTO_CHECK(proto_text_ok(m->image_version, VERSION_MAX, false));
        PROTO_CHECK(m->started_at >= 0);
        return 0;
}

static int container_info_validate(const Bistro__Concierge__ContainerInfo *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_enum_ok(&bistro__concierge__container_state__descriptor, m->state));
        PROTO_CHECK(proto_image_name_ok(m->image));
        PROTO_CHECK(proto_ip_ok(m->ipv4_address, AF_INET, true));
        PROTO_CHECK(proto_ip_ok(m->ipv6_address, AF_INET6, true));
        return 0;
}

PROTO_VALIDATOR(validate_start_vm, Bistro__Concierge__StartVmRequest)
static int validate_start_vm_impl(const Bistro__Concierge__StartVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(m->cpus <= CPUS_MAX);
        PROTO_CHECK(
                m->memory_mib == 0 || (m->memory_mib >= MEMORY_MIB_MIN && m->memory_mib <= MEMORY_MIB_MAX));
        PROTO_CHECK(m->disk_size == 0 || disk_size_ok(m->disk_size));
        PROTO_CHECK(proto_enum_ok(&bistro__concierge__host_loopback__descriptor, m->host_loopback));
        return 0;
}

PROTO_VALIDATOR(validate_stop_vm, Bistro__Concierge__StopVmRequest)
static int validate_stop_vm_impl(const Bistro__Concierge__StopVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_list_vms, Bistro__Concierge__ListVmsRequest)
static int validate_list_vms_impl(const Bistro__Concierge__ListVmsRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_get_vm_info, Bistro__Concierge__GetVmInfoRequest)
static int validate_get_vm_info_impl(const Bistro__Concierge__GetVmInfoRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_destroy_vm, Bistro__Concierge__DestroyVmRequest)
static int validate_destroy_vm_impl(const Bistro__Concierge__DestroyVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_export_vm, Bistro__Concierge__ExportVmRequest)
static int validate_export_vm_impl(const Bistro__Concierge__ExportVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_abs_path_ok(m->path, false));
        return 0;
}

PROTO_VALIDATOR(validate_import_vm, Bistro__Concierge__ImportVmRequest)
static int validate_import_vm_impl(const Bistro__Concierge__ImportVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_abs_path_ok(m->path, false));
        return 0;
}

PROTO_VALIDATOR(validate_resize_vm, Bistro__Concierge__ResizeVmRequest)
static int validate_resize_vm_impl(const Bistro__Concierge__ResizeVmRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(disk_size_ok(m->size));
        return 0;
}

PROTO_VALIDATOR(validate_sync_time, Bistro__Concierge__SyncTimeRequest)
static int validate_sync_time_impl(const Bistro__Concierge__SyncTimeRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_get_vm_logs, Bistro__Concierge__GetVmLogsRequest)
static int validate_get_vm_logs_impl(const Bistro__Concierge__GetVmLogsRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(m->max_bytes <= VM_LOGS_MAX);
        return 0;
}

PROTO_VALIDATOR(validate_create_container, Bistro__Concierge__CreateContainerRequest)
static int validate_create_container_impl(const Bistro__Concierge__CreateContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_image_name_ok(m->image));
        PROTO_CHECK(m->image_path && (m->image_path[0] == '\0' || proto_abs_path_ok(m->image_path, false)));
        return 0;
}

PROTO_VALIDATOR(validate_start_container, Bistro__Concierge__StartContainerRequest)
static int validate_start_container_impl(const Bistro__Concierge__StartContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(m->image);
        PROTO_CHECK(m->image[0] == '/' ? proto_abs_path_ok(m->image, false) : proto_image_name_ok(m->image));
        PROTO_CHECK(m->user && (m->user[0] == '\0' || proto_user_ok(m->user)));
        PROTO_CHECK(m->uid == 0 || (m->user[0] != '\0' && m->uid >= UID_MIN_USER && m->uid <= UID_MAX_USER));
        return 0;
}

PROTO_VALIDATOR(validate_get_version, Bistro__Concierge__GetVersionRequest)
static int validate_get_version_impl(const Bistro__Concierge__GetVersionRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_exit, Bistro__Concierge__ExitRequest)
static int validate_exit_impl(const Bistro__Concierge__ExitRequest *m) {
        return 0;
}

static bool build_id_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n < BUILD_ID_MIN || n > BUILD_ID_MAX)
                return false;
        return strspn(s, "0123456789abcdef") == n;
}

PROTO_VALIDATOR(validate_get_version_response, Bistro__Concierge__GetVersionResponse)
static int validate_get_version_response_impl(const Bistro__Concierge__GetVersionResponse *m) {
        PROTO_CHECK(build_id_ok(m->build_id));
        PROTO_CHECK(proto_text_ok(m->version, VERSION_MAX, false));
        PROTO_CHECK(m->executable && (m->executable[0] == '\0' || proto_abs_path_ok(m->executable, false)));
        PROTO_CHECK(m->vms_running <= PROTO_LIST_MAX);
        PROTO_CHECK(m->pid > 0);
        return 0;
}

PROTO_VALIDATOR(validate_stop_container, Bistro__Concierge__StopContainerRequest)
static int validate_stop_container_impl(const Bistro__Concierge__StopContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_delete_container, Bistro__Concierge__DeleteContainerRequest)
static int validate_delete_container_impl(const Bistro__Concierge__DeleteContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_list_containers, Bistro__Concierge__ListContainersRequest)
static int validate_list_containers_impl(const Bistro__Concierge__ListContainersRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        return 0;
}

PROTO_VALIDATOR(validate_vm_info_response, Bistro__Concierge__VmInfoResponse)
static int validate_vm_info_response_impl(const Bistro__Concierge__VmInfoResponse *m) {
        return vm_info_validate(m->vm);
}

PROTO_VALIDATOR(validate_list_vms_response, Bistro__Concierge__ListVmsResponse)
static int validate_list_vms_response_impl(const Bistro__Concierge__ListVmsResponse *m) {
        PROTO_CHECK(m->n_vms <= PROTO_LIST_MAX);
        for (size_t i = 0; i < m->n_vms; i++)
                PROTO_CHECK(vm_info_validate(m->vms[i]) == 0);
        return 0;
}

PROTO_VALIDATOR(validate_get_vm_logs_response, Bistro__Concierge__GetVmLogsResponse)
static int validate_get_vm_logs_response_impl(const Bistro__Concierge__GetVmLogsResponse *m) {
        PROTO_CHECK(m->log.len <= VM_LOGS_MAX);
        PROTO_CHECK(m->log.len == 0 || m->log.data);
        return 0;
}

PROTO_VALIDATOR(validate_container_info_response, Bistro__Concierge__ContainerInfoResponse)
static int validate_container_info_response_impl(const Bistro__Concierge__ContainerInfoResponse *m) {
        return container_info_validate(m->container);
}

PROTO_VALIDATOR(validate_list_containers_response, Bistro__Concierge__ListContainersResponse)
static int validate_list_containers_response_impl(const Bistro__Concierge__ListContainersResponse *m) {
        PROTO_CHECK(m->n_containers <= PROTO_LIST_MAX);
        for (size_t i = 0; i < m->n_containers; i++)
                PROTO_CHECK(container_info_validate(m->containers[i]) == 0);
        return 0;
}

PROTO_VALIDATOR(validate_job_result, Bistro__Concierge__JobResult)
static int validate_job_result_impl(const Bistro__Concierge__JobResult *m) {
        PROTO_CHECK(proto_text_ok(m->kernel_cmdline, PROTO_ARG_MAX, false));
        PROTO_CHECK(proto_text_ok(m->warning, PROTO_ERROR_MESSAGE_MAX, true));
        return 0;
}

PROTO_VALIDATOR(validate_progress, Bistro__Concierge__Progress)
static int validate_progress_impl(const Bistro__Concierge__Progress *m) {
        PROTO_CHECK(proto_enum_ok(&bistro__concierge__operation__descriptor, m->operation));
        PROTO_CHECK(m->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_UNKNOWN);
        PROTO_CHECK(m->total == 0 || m->done <= m->total);
        PROTO_CHECK(proto_text_ok(m->stage, STAGE_MAX, false));
        return 0;
}

PROTO_VALIDATOR(validate_share_path, Bistro__Concierge__SharePathRequest)
static int validate_share_path_impl(const Bistro__Concierge__SharePathRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_abs_path_ok(m->host_path, false));
        PROTO_CHECK(m->container && (m->container[0] == '\0' || proto_name_ok(m->container)));
        PROTO_CHECK(m->name && (m->name[0] == '\0' || proto_share_name_ok(m->name)));
        return 0;
}

PROTO_VALIDATOR(validate_unshare_path, Bistro__Concierge__UnsharePathRequest)
static int validate_unshare_path_impl(const Bistro__Concierge__UnsharePathRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_share_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_list_shares, Bistro__Concierge__ListSharesRequest)
static int validate_list_shares_impl(const Bistro__Concierge__ListSharesRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        return 0;
}

PROTO_VALIDATOR(validate_list_shares_response, Bistro__Concierge__ListSharesResponse)
static int validate_list_shares_response_impl(const Bistro__Concierge__ListSharesResponse *m) {
        PROTO_CHECK(m->n_shares <= PROTO_SHARES_MAX);
        for (size_t i = 0; i < m->n_shares; i++)
                PROTO_CHECK(proto_shared_dir_ok(m->shares[i]));
        return 0;
}

#define REQ(t, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__concierge__##d##__descriptor, v, MESSAGE_KIND_REQUEST, n }
#define RSP(t, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__concierge__##d##__descriptor, v, MESSAGE_KIND_RESPONSE, n }

const MessageTypeInfo concierge_message_types[] = {
        REQ(START_VM_REQUEST, 4096, start_vm_request, validate_start_vm),
        REQ(STOP_VM_REQUEST, 4096, stop_vm_request, validate_stop_vm),
        REQ(LIST_VMS_REQUEST, 4096, list_vms_request, validate_list_vms),
        REQ(GET_VM_INFO_REQUEST, 4096, get_vm_info_request, validate_get_vm_info),
        REQ(DESTROY_VM_REQUEST, 4096, destroy_vm_request, validate_destroy_vm),
        REQ(EXPORT_VM_REQUEST, 16384, export_vm_request, validate_export_vm),
        REQ(IMPORT_VM_REQUEST, 16384, import_vm_request, validate_import_vm),
        REQ(RESIZE_VM_REQUEST, 4096, resize_vm_request, validate_resize_vm),
        REQ(SYNC_TIME_REQUEST, 4096, sync_time_request, validate_sync_time),
        REQ(GET_VM_LOGS_REQUEST, 4096, get_vm_logs_request, validate_get_vm_logs),
        REQ(CREATE_CONTAINER_REQUEST, 4096, create_container_request, validate_create_container),
        REQ(START_CONTAINER_REQUEST, 4096, start_container_request, validate_start_container),
        REQ(STOP_CONTAINER_REQUEST, 4096, stop_container_request, validate_stop_container),
        REQ(DELETE_CONTAINER_REQUEST, 4096, delete_container_request, validate_delete_container),
        REQ(LIST_CONTAINERS_REQUEST, 4096, list_containers_request, validate_list_containers),
        REQ(GET_VERSION_REQUEST, 4096, get_version_request, validate_get_version),
        REQ(EXIT_REQUEST, 4096, exit_request, validate_exit),
        REQ(SHARE_PATH_REQUEST, 8192, share_path_request, validate_share_path),
        REQ(UNSHARE_PATH_REQUEST, 4096, unshare_path_request, validate_unshare_path),
        REQ(LIST_SHARES_REQUEST, 4096, list_shares_request, validate_list_shares),
        RSP(VM_INFO_RESPONSE, 16384, vm_info_response, validate_vm_info_response),
        RSP(LIST_VMS_RESPONSE, 1024 * 1024, list_vms_response, validate_list_vms_response),
        RSP(GET_VM_LOGS_RESPONSE, VM_LOGS_MAX + 64, get_vm_logs_response, validate_get_vm_logs_response),
        RSP(CONTAINER_INFO_RESPONSE, 4096, container_info_response, validate_container_info_response),
        RSP(LIST_CONTAINERS_RESPONSE,
            1024 * 1024,
            list_containers_response,
            validate_list_containers_response),
        RSP(GET_VERSION_RESPONSE, 16384, get_version_response, validate_get_version_response),
        RSP(JOB_RESULT, 16384, job_result, validate_job_result),
        RSP(LIST_SHARES_RESPONSE, 1024 * 1024, list_shares_response, validate_list_shares_response),
        { BISTRO__MESSAGE_TYPE__PROGRESS, "PROGRESS", &bistro__concierge__progress__descriptor,
          validate_progress, MESSAGE_KIND_EVENT, 4096 },
};
const size_t concierge_message_types_count = ELEMENTSOF(concierge_message_types);
