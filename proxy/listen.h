/* Listening sockets (TCP and unix), the open-file limit, and accepting paced when descriptors run out. */
#ifndef PGBATCHD_PROXY_LISTEN_H
#define PGBATCHD_PROXY_LISTEN_H

#include <stdbool.h>

struct daemon;

/*
 * Clients connect on listen_addr:listen_port (TCP) and, with
 * unix_socket_dir set, also on the unix socket
 * DIR/.s.PGSQL.<listen_port>, PostgreSQL's naming, so that `psql -h DIR -p
 * PORT` finds it. A socket file left by a pgbatchd or PostgreSQL that is
 * gone is replaced; one that still accepts connections is not (start-up
 * fails). The file is removed when pgbatchd stops listening.
 */

/* Raises the open-file limit from its soft value to its hard one and says how
 * many sessions it holds (at start-up). */
void listen_raise_fd_limit(struct daemon *d);
/* Warns when max_client_conn is more than the open-file limit holds. */
void listen_check_capacity(struct daemon *d);

/* Opens every configured listener; false (after logging why) when one cannot be. */
bool listen_open(struct daemon *d) __attribute__((warn_unused_result));
/* Closes them all (shutdown: no new connection) and removes the unix socket's file. */
void listen_close(struct daemon *d);

/* A descriptor was freed: accepting again if it had stopped (EMFILE). */
void listen_fd_freed(struct daemon *d);

#endif
