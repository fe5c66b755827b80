/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "bistro-ports.h"
#include "macro.h"
#include "proto-validate.h"
#include "share-url.h"
#include "string-util.h"

#define APPS_MAX 2048u
#define DESKTOP_ID_MAX 255u
#define APP_NAME_MAX 256u
#define APP_COMMENT_MAX 1024u
#define MIME_TYPES_MAX 64u
#define FILES_MAX 64u
#define ICONS_MAX 6u
#define ICON_SIZE_MAX (256u * 1024u)
#define ICON_PIXELS_MIN 16u
#define ICON_PIXELS_MAX 512u

static bool desktop_file_id_ok(const char *s) {
        return name_is_valid(s, DESKTOP_ID_MAX);
}

static int application_validate(const Bistro__Container__Application *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(desktop_file_id_ok(m->desktop_file_id));
        PROTO_CHECK(proto_text_nonempty_ok(m->name, APP_NAME_MAX));
        PROTO_CHECK(proto_text_ok(m->comment, APP_COMMENT_MAX, false));
        PROTO_CHECK(m->n_mime_types <= MIME_TYPES_MAX);
        for (size_t i = 0; i < m->n_mime_types; i++)
                PROTO_CHECK(proto_mime_type_ok(m->mime_types[i]));
        PROTO_CHECK(
                m->startup_wm_class &&
                (m->startup_wm_class[0] == '\0' || desktop_file_id_ok(m->startup_wm_class)));
        return 0;
}

static int icon_validate(const Bistro__Container__Icon *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(m->size == 0 || (m->size >= ICON_PIXELS_MIN && m->size <= ICON_PIXELS_MAX));
        PROTO_CHECK(m->data.len > 0 && m->data.len <= ICON_SIZE_MAX);
        return 0;
}

PROTO_VALIDATOR(validate_container_ready, Bistro__Container__ContainerReadyRequest)
static int validate_container_ready_impl(const Bistro__Container__ContainerReadyRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        PROTO_CHECK(m->garcon_port >= GARCON_PORT_MIN && m->garcon_port <= GARCON_PORT_MAX);
        PROTO_CHECK(m->sftp_port == 0 || (m->sftp_port >= 1024 && m->sftp_port <= 65535));
        return 0;
}

PROTO_VALIDATOR(validate_container_shutdown, Bistro__Container__ContainerShutdownRequest)
static int validate_container_shutdown_impl(const Bistro__Container__ContainerShutdownRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        return 0;
}

PROTO_VALIDATOR(validate_open_url, Bistro__Container__OpenUrlRequest)
static int validate_open_url_impl(const Bistro__Container__OpenUrlRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        PROTO_CHECK(proto_url_ok(m->url) || share_url_ok(m->url));
        return 0;
}

PROTO_VALIDATOR(validate_update_application_list, Bistro__Container__UpdateApplicationListRequest)
static int validate_update_application_list_impl(const Bistro__Container__UpdateApplicationListRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        PROTO_CHECK(m->n_apps <= APPS_MAX);
        for (size_t i = 0; i < m->n_apps; i++)
                PROTO_CHECK(application_validate(m->apps[i]) == 0);
        return 0;
}

PROTO_VALIDATOR(validate_update_application_icons, Bistro__Container__UpdateApplicationIconsRequest)
static int validate_update_application_icons_impl(
        const Bistro__Container__UpdateApplicationIconsRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        PROTO_CHECK(desktop_file_id_ok(m->desktop_file_id));
        PROTO_CHECK(m->n_icons <= ICONS_MAX);
        for (size_t i = 0; i < m->n_icons; i++) {
                PROTO_CHECK(icon_validate(m->icons[i]) == 0);
                for (size_t j = 0; j < i; j++)
                        PROTO_CHECK(m->icons[j]->size != m->icons[i]->size);
        }
        return 0;
}

PROTO_VALIDATOR(validate_launch_application, Bistro__Container__LaunchApplicationRequest)
static int validate_launch_application_impl(const Bistro__Container__LaunchApplicationRequest *m) {
        PROTO_CHECK(desktop_file_id_ok(m->desktop_file_id));
        PROTO_CHECK(m->n_files <= FILES_MAX);
        for (size_t i = 0; i < m->n_files; i++)
                PROTO_CHECK(proto_abs_path_ok(m->files[i], false));
        PROTO_CHECK(m->n_uris <= FILES_MAX);
        for (size_t i = 0; i < m->n_uris; i++)
                PROTO_CHECK(proto_url_ok(m->uris[i]));
        PROTO_CHECK(m->scale_percent == 0 || (m->scale_percent >= 50 && m->scale_percent <= 400));
        return 0;
}

PROTO_VALIDATOR(validate_wayland_connect, Bistro__Container__WaylandConnectRequest)
static int validate_wayland_connect_impl(const Bistro__Container__WaylandConnectRequest *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        return 0;
}

PROTO_VALIDATOR(validate_garcon_hello, Bistro__Container__GarconHelloRequest)
static int validate_garcon_hello_impl(const Bistro__Container__GarconHelloRequest *m) {
        return 0;
}

/* No field: what it asks is in its type. */
PROTO_VALIDATOR(validate_garcon_open_sftp, Bistro__Container__GarconOpenSftpRequest)
static int validate_garcon_open_sftp_impl(const Bistro__Container__GarconOpenSftpRequest *m) {
        return 0;
}

PROTO_VALIDATOR(validate_garcon_hello_response, Bistro__Container__GarconHelloResponse)
static int validate_garcon_hello_response_impl(const Bistro__Container__GarconHelloResponse *m) {
        PROTO_CHECK(proto_token_ok(m->token));
        return 0;
}

#define ENTRY_KIND(t, k, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__container__##d##__descriptor, v, k, n }
#define ENTRY(t, n, d, v) ENTRY_KIND(t, MESSAGE_KIND_REQUEST, n, d, v)

const MessageTypeInfo container_message_types[] = {
        ENTRY(CONTAINER_READY_REQUEST, 1024, container_ready_request, validate_container_ready),
        ENTRY(CONTAINER_SHUTDOWN_REQUEST, 1024, container_shutdown_request, validate_container_shutdown),
        ENTRY(OPEN_URL_REQUEST, 16384, open_url_request, validate_open_url),
        ENTRY(UPDATE_APPLICATION_LIST_REQUEST,
              1024 * 1024,
              update_application_list_request,
              validate_update_application_list),
        ENTRY(UPDATE_APPLICATION_ICONS_REQUEST,
              ICONS_MAX *(ICON_SIZE_MAX + 64) + 1024,
              update_application_icons_request,
              validate_update_application_icons),
        ENTRY(LAUNCH_APPLICATION_REQUEST,
              1024 * 1024,
              launch_application_request,
              validate_launch_application),
        ENTRY(GARCON_HELLO_REQUEST, 64, garcon_hello_request, validate_garcon_hello),
        ENTRY(GARCON_OPEN_SFTP_REQUEST, 64, garcon_open_sftp_request, validate_garcon_open_sftp),
        ENTRY(WAYLAND_CONNECT_REQUEST, 1024, wayland_connect_request, validate_wayland_connect),
        ENTRY_KIND(
                GARCON_HELLO_RESPONSE,
                MESSAGE_KIND_RESPONSE,
                1024,
                garcon_hello_response,
                validate_garcon_hello_response),
};
const size_t container_message_types_count = ELEMENTSOF(container_message_types);
