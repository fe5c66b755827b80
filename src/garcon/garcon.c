/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* garcon: Bistro's agent in every container (docs/design/garcon.md). Static, from the read-only
 * /opt/bistro/bin, so it runs on any distro.
 *   garcon --server     registers the container with cicerone, keeps its application list and
 *                       icons up to date on the host, launches applications for the host
 *   garcon --url URL... opens URLs in the host's browser; the same as bistro-open URL..., and as
 *                       xdg-open, x-www-browser, sensible-browser, www-browser when called so */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "container-token.h"
#include "garcon-server.h"
#include "garcon-util.h"
#include "log.h"
#include "main-func.h"
#include "proto-validate.h"
#include "share-url.h"
#include "wire-client.h"

#define URL_TIMEOUT_MS 10000

static const char *const url_names[] = {
        "bistro-open", "xdg-open", "x-www-browser", "sensible-browser", "www-browser", "gnome-www-browser",
};

static void help(const char *name, bool url_mode) {
        if (url_mode) {
                printf("Usage: %s URL...\n"
                       "Opens each URL in the browser of the host running this Bistro container.\n"
                       "http, https and mailto links open in the host's browser; files in shared\n"
                       "folders (" SHARE_MOUNT_DIR "/NAME, see `vmc share`) open with the host's\n"
                       "application for them. Other files cannot be opened on the host.\n\n"
                       "  -h --help      show this help\n"
                       "     --version   show the version\n",
                       name);
                return;
        }
        printf("Usage: garcon --server [--no-sommelier]\n"
               "       garcon --url URL...\n"
               "Bistro's agent inside a container.\n\n"
               "  --server     register this container with the host (cicerone on vsock CID 2, port %u),\n"
               "               send its desktop applications and icons, keep them up to date, and\n"
               "               launch applications when the host asks (listens on the first free vsock\n"
               "               port in %u-%u), and keep sommelier running (it carries the\n"
               "               container's Wayland apps to the host's desktop); stops on SIGTERM\n"
               "  --no-sommelier\n"
               "               with --server: do not run sommelier (also $GARCON_NO_SOMMELIER=1)\n"
               "  --url URL... open http, https or mailto URLs in the host's browser; the program is\n"
               "               also this when called as bistro-open, xdg-open, x-www-browser or\n"
               "               sensible-browser\n"
               "  -h --help    show this help\n"
               "  --version    show the version\n\n"
               "The container token is read from %s.\n",
               8889u, 10000u, 19999u, container_token_path());
}

static int open_urls(char *const *urls, size_t n) {
        char token[PROTO_TOKEN_MAX + 1];
        int r, ret = 0;

        if (n == 0)
                return log_usage_error("no URL given");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *url = NULL;

                r = garcon_url_prepare(urls[i], &url);
                if (r == 0) {
                        log_error(
                                "'%s' cannot be opened on the host: only http, https and mailto links, "
                                "and files in shared folders (" SHARE_MOUNT_DIR "/NAME), can be",
                                urls[i]);
                        return -EUSAGE;
                }
                if (r < 0)
                        return log_error_errno(r, "'%s' cannot be opened: %m", urls[i]);
        }
        r = container_token_read(token);
        if (r < 0)
                return log_error_errno(
                        r, "Cannot read the container token %s (not in a Bistro container?): %m",
                        container_token_path());
        for (size_t i = 0; i < n; i++) {
                Bistro__Container__OpenUrlRequest m = BISTRO__CONTAINER__OPEN_URL_REQUEST__INIT;
                _cleanup_message_ ProtobufCMessage *reply = NULL;
                _cleanup_free_ char *url = NULL, *text = NULL;
                _cleanup_close_ int fd = -EBADF;
                uint32_t type;

                (void) garcon_url_prepare(urls[i], &url);
                fd = garcon_host_connect(URL_TIMEOUT_MS);
                if (fd < 0)
                        return log_error_errno(fd, "Cannot reach the host: %m");
                m.token = token;
                m.url = url;
                r = wire_call_sync(
                        fd, BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST, &m.base, BISTRO__MESSAGE_TYPE__EMPTY,
                        URL_TIMEOUT_MS, &type, &reply);
                if (r < 0 && reply && type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) reply, &text);
                        log_error("The host refused to open '%s': %s", url, text ?: "");
                        ret = r;
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot open '%s' on the host: %m", url);
        }
        return ret;
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "server", no_argument, NULL, 's' },  { "no-sommelier", no_argument, NULL, 'N' },
                { "url", no_argument, NULL, 'u' },     { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' }, {},
        };
        const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        bool url_mode = false, server = false, sommelier = true;
        int c;

        for (size_t i = 0; i < ELEMENTSOF(url_names); i++)
                if (streq(name, url_names[i]))
                        url_mode = true;
        log_set_ident(url_mode ? "bistro-open" : "garcon");
        log_set_show_pid(false);
        log_parse_environment();
        opterr = 0;
        /* '+': options end at the first URL, so a URL is never read as an option. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        if (url_mode)
                                return log_usage_bad_option(argv);
                        server = true;
                        break;
                case 'N':
                        sommelier = false;
                        break;
                case 'u':
                        if (url_mode)
                                return log_usage_bad_option(argv);
                        url_mode = true;
                        log_set_ident("bistro-open");
                        break;
                case 'h':
                        help(name, url_mode && !server);
                        return 0;
                case 'V':
                        printf("garcon %s\n", BISTRO_VERSION);
                        return 0;
                default:
                        return log_usage_bad_option(argv);
                }
        if (server && url_mode)
                return log_usage_error("--server and --url cannot be combined");
        if (server) {
                if (optind < argc)
                        return log_usage_error("--server takes no arguments");
                log_set_show_pid(true);
                return garcon_server_run(sommelier);
        }
        if (url_mode) {
                log_set_show_pid(false);
                return open_urls(argv + optind, (size_t) (argc - optind));
        }
        return log_usage_error("one of --server or --url is needed");
}

DEFINE_MAIN_FUNCTION(run);
