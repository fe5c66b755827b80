/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* bistro files: "Linux files", the container's home mounted on the host through sshfs over an
 * sftp stream that cicerone obtains from the container's garcon (docs/design/files.md). */

/* argv[0] is "files"; user is the one bistro would start the container for. Returns as run()
 * does: 0, a reported -errno (exit 1), -EUSAGE (exit 2). */
int bistro_files_run(int argc, char *argv[], const char *user);
