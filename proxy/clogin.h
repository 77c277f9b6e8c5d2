/* A client session's way in: its startup packet, authentication, then its login -- checked for a session that may start without a backend (logincache.h), or a backend of its own. */
#ifndef PGBATCHD_PROXY_CLOGIN_H
#define PGBATCHD_PROXY_CLOGIN_H

#include <stdbool.h>

struct client;

/*
 * STARTUP: an SSLRequest / GSSENCRequest gets 'N', a CancelRequest is routed
 * (daemon_find_by_key), a StartupMessage is taken and authentication starts
 * (trust, md5, SCRAM-SHA-256 against auth_file). Authenticated, the session
 * is LOGIN: a session of a database with configured tables (lazy_backend)
 * asks logincache.h for its login's outcome and, accepted, goes ACTIVE with
 * no backend (client_login_known); any other opens its own backend, which
 * makes it ACTIVE once logged in (client_backend_ready).
 */

/* CL_STARTUP: reads the first packet. False when the session was closed. */
bool clogin_read_startup(struct client *c);
/* CL_AUTH_*: reads one authentication message. False when closed. */
bool clogin_read_auth(struct client *c);
/* Its login's check is done (c->login is known): refused, a backend of its
 * own, or ACTIVE without one. */
void client_login_known(struct client *c);

#endif
