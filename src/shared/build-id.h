/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which build a concierge comes from, so that a client from one build notices a running concierge
 * from another (an old checkout's concierge boots the old tree's Termina image; a rebuilt one may
 * speak an older protocol). The build id of a concierge binary is the BLAKE2b-128 hash, in 32 hex
 * digits, of BISTRO_VERSION, the binary's canonical path, its size and its modification time (ns):
 * concierge computes it for itself when it starts (its /proc/self/exe), a client for the binary it
 * would start (bistro_find_program("concierge", "BISTRO_CONCIERGE")). A second build tree, an
 * install and a rebuild of the same tree all give another id. Non-logging; -errno. */

#define BUILD_ID_HEX_LEN 32u

/* The build id of the executable at path (malloc'd into *ret). */
int build_id_of_file(const char *path, char **ret);
/* The build id of the running program (its /proc/self/exe). */
int build_id_self(char **ret);
/* The build id of the concierge binary this client would start, and that binary's path (both
 * malloc'd; ret_path may be NULL). */
int build_id_concierge(char **ret, char **ret_path);
