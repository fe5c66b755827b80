/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bistro's waypipe bundle (image/waypipe/, docs/design/sommelier.md): Debian's waypipe with its own
 * loader, libc and compression libraries in one directory, run through that loader so that it needs
 * nothing outside the directory. The same bundle runs in every container and on the host (waypipe
 * needs the same version at both ends): in Termina at WAYPIPE_BUNDLE_GUEST_DIR, on the host where
 * bistro_find_waypipe_bundle() (shared/path-lookup.h) finds it. */

#define WAYPIPE_BUNDLE_LOADER "ld-linux-x86-64.so.2"
#define WAYPIPE_BUNDLE_PROGRAM "waypipe"
/* Termina's /opt/bistro/lib/waypipe, which containers see at the same path (/opt/bistro is
 * bind-mounted read-only into each one). */
#define WAYPIPE_BUNDLE_GUEST_DIR "/opt/bistro/lib/waypipe"

/* The argv that runs the bundle's waypipe with args (NULL or NULL-terminated):
 * { dir/ld-linux-x86-64.so.2, "--library-path", dir, dir/waypipe, args..., NULL }.
 * --library-path, not LD_LIBRARY_PATH: the programs waypipe starts (`server -- CMD`) keep their own
 * libraries. dir must be an absolute path (-EINVAL); -ENOMEM. Free *ret with strv_free(). */
int waypipe_bundle_argv(const char *dir, char *const *args, char ***ret);
