/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* "Linux files" (docs/design/files.md): an sftp-server on a connection from the host. Nothing here
 * logs above debug. */

/* The first of the usual sftp-server paths that is an executable file: 0 with *ret (static), or
 * -ENOENT. */
int garcon_sftp_find_server(const char **ret);

/* Starts the container's sftp-server with fd (a connected stream) as its stdin and stdout, stderr
 * where garcon's goes, the user's home as its working directory and a clean environment (HOME,
 * USER, LOGNAME, PATH). Runs as the user garcon runs as, which must not be root (-EPERM: garcon does
 * not serve files as root). fd is made blocking; the caller keeps its copy and closes it once its
 * own reply is out. The server's pid once it runs (the caller reaps it on SIGCHLD), or -errno with
 * *reterr a message. */
int garcon_sftp_start(int fd, char **reterr);
