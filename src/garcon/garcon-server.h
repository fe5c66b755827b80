/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* garcon --server: the poll() loop (docs/design/garcon.md). Logs. */

#include <stdbool.h>

/* Runs until SIGTERM or SIGINT (returns 0 after ContainerShutdown) or a fatal error (-errno,
 * logged). sommelier: keep one running (garcon-sommelier.h). */
int garcon_server_run(bool sommelier);
