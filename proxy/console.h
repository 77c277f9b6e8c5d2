/* The admin console: the virtual database "pgbatchd" (PgBouncer's convention), with SHOW, FLUSH, PAUSE, RESUME, RELOAD and SHUTDOWN. */
#ifndef PGBATCHD_PROXY_CONSOLE_H
#define PGBATCHD_PROXY_CONSOLE_H

#include <stdbool.h>

struct client;
struct console;

#define CONSOLE_DBNAME "pgbatchd"

/* The session asked for the console's database. */
bool console_wanted(const struct client *c);
/* Authenticated: a user of admin_users or stats_users gets the console (a
 * session without a backend); anyone else FATAL 42501. */
void console_login(struct client *c);
/* Its messages, simple and extended protocol; called when input came. */
void console_read(struct client *c);
/* A CancelRequest with its key: a FLUSH it waits for ends with 57014. */
void console_cancel(struct client *c);
/* Its transaction status ('I', or 'T' after BEGIN). */
char console_tx(const struct client *c);
/* The session ends. */
void console_free(struct client *c);

#endif
