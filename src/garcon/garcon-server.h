/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* garcon --server: the poll() loop (docs/design/garcon.md). Logs. */

/* Runs until SIGTERM or SIGINT (returns 0 after ContainerShutdown) or a fatal error (-errno,
 * logged). */
int garcon_server_run(void);
