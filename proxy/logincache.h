/* Logins known: what a real backend login said lately for a (user, database, startup parameters), so that a session that only inserts needs no backend of its own. */
#ifndef PGBATCHD_PROXY_LOGINCACHE_H
#define PGBATCHD_PROXY_LOGINCACHE_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct lc_entry;

/*
 * The first session of a (user, database, startup parameters) -- and the
 * first after login_cache_seconds -- makes pgbatchd log in on a connection
 * of its own with exactly that startup packet: the server's own answer
 * (refused, with its FATAL; or accepted, with its ParameterStatus messages)
 * is what the session and the sessions behind it are told. Accepted, the
 * check also asks the session's view (view.h) and the role's and database's
 * connection limits, then ends. Sessions that arrive while it runs wait for
 * it. At most LC_CHECKS checks run at once.
 *
 * Kept for login_cache_seconds (and never past the role's VALID UNTIL):
 * accepted logins and refusals of the client's own doing (class 28: no such
 * role, NOLOGIN, a password, pg_hba; 3D000 no such database; 42501 no
 * CONNECT privilege). Refusals that say the server is busy or starting
 * (53300, 57P03, ...) are told to the sessions waiting and not kept.
 */

enum lc_verdict {
	LC_WAIT = 0,        /* being checked: client_login_known() runs when it is */
	LC_KNOWN,           /* *out is the answer */
	LC_NONE,            /* not kept (disabled, out of memory, too many): log in as before */
};

/* The answer for this session's login, or a check started. The session holds
 * a reference to *out (LC_KNOWN) or to the entry it waits on (c->login). */
enum lc_verdict logincache_lookup(struct daemon *d, const char *user, char **params, struct lc_entry **out);

/* Accepted: ParameterStatus / NoticeResponse messages as the server sent them. */
bool lc_accepted(const struct lc_entry *e);
void lc_said(const struct lc_entry *e, const uint8_t **msgs, uint32_t *len);
/* Refused: the server's ErrorResponse message, whole. */
void lc_refusal(const struct lc_entry *e, const uint8_t **msg, uint32_t *len);
/* Accepted, but a session needs its own backend from its login: the role or
 * the database has a connection limit (the server must count it), or the
 * view could not be asked. */
bool lc_needs_backend(const struct lc_entry *e);
/* The view's answer (a DataRow body) and the number of tables it was asked for. */
bool lc_view(const struct lc_entry *e, const uint8_t **row, uint32_t *len, int *ntables);
/* Its idle_session_timeout in ms (0: none): a session without a backend is
 * ended after that long idle, as the server would end it. */
int64_t lc_idle_timeout(const struct lc_entry *e);
/* The value the login reported for a ParameterStatus name, or NULL. */
const char *lc_param(const struct lc_entry *e, const char *name);

void lc_ref(struct lc_entry *e);
void lc_unref(struct lc_entry *e);

/* Forget every entry (reload: the tables, the backend or auth_file changed). */
void logincache_clear(struct daemon *d);
void logincache_free(struct daemon *d);

#endif
