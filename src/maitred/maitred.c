/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* maitred: PID 1 of the Termina VM and the host's agent inside it (docs/design/maitred.md).
 * As PID 1 it never returns from main(): a failing request gets an ErrorReply, a failing
 * service is given up, and a failure to set up the event loop powers the VM off. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "maitred-init.h"
#include "maitred-service.h"
#include "maitred-util.h"
#include "maitred.h"

#define VERSION_MAX 64u

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_reap(userdata);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_notice("Received %s.", strsignal((int) si->ssi_signo));
        manager_shutdown_start(m, NULL);
        return 0;
}

static void manager_read_versions(Manager *m) {
        _cleanup_free_ char *text = NULL, *path = NULL;
        struct utsname u;
        int r;

        if (uname(&u) < 0 || strlen(u.release) > VERSION_MAX)
                m->kernel_release = strdup("unknown");
        else
                m->kernel_release = strdup(u.release);

        if (asprintf(&path, "%s/image-version", m->conf_dir) < 0)
                path = NULL;
        r = path ? read_file(path, 4096, &text, NULL) : -ENOMEM;
        if (r >= 0) {
                r = image_version_parse(text, VERSION_MAX, &m->image_version);
                if (r < 0)
                        log_warning_errno(r, "Invalid '%s', using 'dev': %m", path);
        } else if (r != -ENOENT)
                log_warning_errno(r, "Cannot read '%s', using 'dev': %m", path);
        if (!m->image_version)
                m->image_version = strdup("dev");
}

static void read_cmdline(Manager *m) {
        _cleanup_free_ char *cmdline = NULL;

        if (read_file("/proc/cmdline", 64 * 1024, &cmdline, NULL) < 0)
                return;
        m->no_services = proc_cmdline_has(cmdline, "bistro.no_services");
        if (proc_cmdline_has(cmdline, "bistro.debug"))
                log_set_max_level(LOG_DEBUG);
}

static int manager_start(Manager *m) {
        static const int stop_signals[] = { SIGTERM, SIGINT, SIGPWR };
        sigset_t mask;
        int r;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++)
                (void) sigaddset(&mask, stop_signals[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        r = sd_event_add_signal(m->event, &m->sigchld, SIGCHLD, on_sigchld, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGCHLD: %m");
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++) {
                r = sd_event_add_signal(m->event, NULL, stop_signals[i], on_stop_signal, m);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch signal %d: %m", stop_signals[i]);
        }

        /* Without the RPC server the host cannot drive or stop us: that is fatal. */
        r = manager_start_rpc(m);
        if (r < 0)
                return r;
        /* The services' ports are ours before any of them (or any container) runs, services or not. */
        (void) manager_open_service_sockets(m, service_sockets_default, SERVICE_SOCKETS_DEFAULT_N);
        if (m->no_services)
                log_notice("bistro.no_services: not starting services.");
        else
                (void) manager_load_services(m, m->conf_dir);
        if (m->pid1)
                (void) manager_watch_power_button(m);
        return manager_start_ready(m);
}

static void help(void) {
        printf("Usage: maitred [--conf-dir DIR]\n"
               "The Bistro guest agent. As PID 1 it also boots the VM (mounts, modules, hostname).\n\n"
               "  --conf-dir DIR   configuration (default " MAITRED_CONF_DIR "): modules, services/,\n"
               "                   image-version, hostname\n");
}

_noreturn_ static void pid1_fatal(void) {
        log_error("maitred cannot serve, powering off.");
        sync();
        (void) reboot(RB_POWER_OFF);
        /* PID 1 must never exit (that panics the kernel): reap forever. */
        for (;;)
                if (wait(NULL) < 0)
                        pause();
}

/* Run by hand only: as PID 1 the kernel passes unknown command-line words to init as
 * arguments, which are ignored. Returns 1 to go on, 0 after --help, -EUSAGE. */
static int parse_argv(Manager *m, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "conf-dir", required_argument, NULL, 'c' },
                {},
        };
        int c;

        opterr = 0; /* log_usage_bad_option() says it in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'c':
                        m->conf_dir = optarg;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument: %s", argv[optind]);
        return 1;
}

/* As PID 1 this never returns (pid1_fatal() powers off and reaps forever); run by hand it
 * returns like every other program's run(). */
static int run(int argc, char *argv[]) {
        static Manager manager = { .conf_dir = MAITRED_CONF_DIR };
        Manager *m = &manager;
        int r;

        m->pid1 = getpid() == 1;
        if (m->pid1) {
                init_console();
                log_set_target(LOG_TARGET_KMSG);
        }
        log_set_ident("maitred");
        log_parse_environment();

        if (!m->pid1) {
                r = parse_argv(m, argc, argv);
                if (r <= 0)
                        return r;
        }

        (void) setenv("PATH", MAITRED_DEFAULT_PATH, 1);
        umask(022);
        if (m->pid1) {
                init_mounts();
                init_kmsg();
                init_overcommit();
                read_cmdline(m);
                log_info("maitred starting as PID 1.");
                init_hostname(m->conf_dir);
                (void) reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT */
        }
        manager_read_versions(m);
        if (!m->kernel_release || !m->image_version) {
                r = log_oom();
                if (m->pid1)
                        pid1_fatal();
                return r;
        }
        if (m->pid1) {
                (void) init_modules(m->conf_dir, m->kernel_release);
                init_device_modes();
        }

        r = manager_start(m);
        if (r < 0) {
                if (m->pid1)
                        pid1_fatal();
                return r;
        }
        for (;;) {
                r = sd_event_loop(m->event);
                if (!m->pid1)
                        return r < 0 ? log_error_errno(r, "The event loop failed: %m") : 0;
                log_error_errno(r, "The event loop ended (%d), this must not happen: %m", r);
                pid1_fatal();
        }
}

DEFINE_MAIN_FUNCTION(run);
