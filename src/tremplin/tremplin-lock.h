/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The stateful disk check and the global lock that orders creates, deletes and meta updates. */

/* Containers live on the stateful disk only, never on the root's tmpfs before the mount:
 * -ENOMEDIUM (with a message) when STATEFUL_MOUNT is not btrfs. */
int check_stateful(char **reterr_message);

/* Takes the global flock on STATEFUL_LXC_PATH/.lock (creating STATEFUL_LXC_PATH); returns the fd that holds
 * it. */
int lock_lxc(void);
