/* The session as an INSERT sees it: its current role, where unqualified table names resolve, settings that change how input reads, read-only; asked of the session's own backend when something may have changed it. */
#ifndef PGBATCHD_PROXY_VIEW_H
#define PGBATCHD_PROXY_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct rq_entry;

/*
 * pgbatchd knows the view is still true as long as the session runs only
 * statements it takes. After anything that passes through (or a
 * ParameterStatus), it is asked again before the next INSERT is taken: one
 * Query on the session's own connection, its answer swallowed (a SKIP entry
 * whose DataRow is captured). A session that only inserts asks once.
 */

enum view_result {
	VIEW_OK = 0,    /* the view is true: take the INSERT (or not) by it */
	VIEW_WAIT,      /* asked: the session resumes by itself when it is answered */
	VIEW_NONE,      /* cannot be known (the question failed): pass the INSERT through */
};

/* settings: the INSERT may go to the sink's writers (autocommit), so the
 * settings the session set itself are wanted too. They cost the server a scan
 * of every setting (about 1 ms); an INSERT that passes through with its
 * table's clause, or is written in the client's own transaction, needs only
 * the rest (the role, where names resolve, read-only, statement_timeout). */
enum view_result view_ready(struct client *c, bool settings);
/* The question (a Query message, appended to q), for a connection of
 * pgbatchd's own: a login's check (logincache.c) asks it with settings. */
struct sink;
struct pktbuf;
bool view_question(struct sink *s, bool settings, struct pktbuf *q);
/* A session without a backend of its own: the answer its login's check got
 * (a DataRow body, asked for ntables tables). False when it does not fit
 * (the tables changed since): the view is asked as usual then. */
bool view_install(struct client *c, const uint8_t *row, uint32_t len, int ntables);
/* A backend opened later for the session (direct writes): asked now on it,
 * outside a transaction, which names the backend by its start. Without the
 * scan of settings when its login's check had them (the same login). */
void view_joined(struct client *c);
/* Ask now (not its settings), the question's entry just before `before`:
 * statements already queued after it are to be read by the answer (a
 * transaction's staged statements that pass through behind rows whose
 * triggers ran). False when not asked; view_entry_done ends it. */
bool view_ask_before(struct client *c, struct rq_entry *before);
bool view_asking(const struct client *c);
/* The session just started: ask now, so that its first INSERT need not wait. */
void view_prefetch(struct client *c);
/* A transaction ended (ReadyForQuery 'I'): a view asked during it may hold
 * what the transaction set (SET LOCAL, a SET rolled back): asked again. */
void view_tx_end(struct client *c);
/* The view was asked in the transaction (or behind a statement running). */
bool view_asked_in_tx(const struct client *c);
/* Whether the view is true now (asked, and nothing passed through since). */
bool view_fresh(const struct client *c);
/* Something passed through, or a setting changed: ask again before the next INSERT. */
void view_stale(struct client *c);
/* The session runs in a read-only transaction (INSERT gets 25006 there). */
bool view_read_only(const struct client *c);

/* Its statement_timeout, ms (0: none): an INSERT waiting for its commit
 * fails with 57014 past it, as directly. */
int64_t view_statement_timeout(const struct client *c);
/* Its backend's start (microseconds since the epoch), 0 when not asked yet. */
int64_t view_backend_start(const struct client *c);

/* Reply-queue hooks for the question's entry (its owner is c->is.view). */
bool view_owns(const struct client *c, const struct rq_entry *e);
void view_entry_done(struct client *c, struct rq_entry *e);
void view_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);

void view_free(struct client *c);

#endif
