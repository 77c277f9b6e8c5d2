/* Direct writes: a unit that arrives while the sink holds nothing of its tables is written on its client's own connection, in one round trip. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "sink/pgconn.h"

#define REAP_CONNECT_MS 10000
#define REAP_RETRY_MS 200
/* how long one pg_terminate_backend waits for the backend to be gone */
#define REAP_WAIT_MS "10000"

/*
 * A batch costs the server a transaction of its own (BEGIN, the ledger row,
 * the catalog fence, COMMIT) on top of the rows: for one unit alone that is
 * more than the row itself, and a lone client pays it on every INSERT. So a
 * unit placed while nothing of its tables is queued, waiting or being written
 * (and nothing it must follow is live) is offered to its client instead: the
 * client sends sink_tx_batch's statements for it on its own connection,
 * outside a transaction block, and says how that went (sink_direct_done).
 * While it runs the unit stays placed: a later unit of its session, key or
 * ordered table waits for it as for any unit. Under load a table always has
 * something in the sink, so units queue for the writers and group commit.
 *
 * It is the idle flush (adaptiveflush = 1) of a lone unit, done where it
 * costs least. Only what a failed attempt cannot change is offered: ackmode = commit (the
 * client waits for the commit anyway), no volatile default (a rolled-back
 * attempt consumes no sequence value the writers' attempt then does not),
 * and row counts the tags give per statement. A statement that fails gives
 * the unit back: the writers write it as they would have, rejected rows and
 * errors as usual, since the failed attempt left nothing behind.
 */

static bool direct_ok(const struct sink_unit *u)
{
	const struct sink *s = u->s;
	int k, j, own;

	if (u->ack != ACK_COMMIT || u->cancel || u->tx || u->nrows == 0 || s->draining || s->aborting ||
	    u->ss->closed || u->ss->c.direct == NULL)
		return false;
	for (k = 0; k < u->nstmts; k++) {
		const struct stable *tab = u->stmts[k].tab;

		/* (adaptiveflush = 0 asks rows to wait for batchsize or their age) */
		if (tab == NULL || tab->removed || tab->paused || !tab->conf.directwrite || !tab->conf.adaptiveflush)
			return false;
		/* (the clients of its last batch are coming back: a batch gathers) */
		if (gather_pending(u->stmts[k].tab))
			return false;
		/* nothing of the table in the sink but this unit's own statements */
		for (j = own = 0; j < u->nstmts; j++)
			own += u->stmts[j].tab == tab;
		if (tab->nplaced != own)
			return false;
	}
	return sink_tx_rerun_safe(u, u->nstmts) && (u->nstmts == 1 || sink_tx_exact(u, u->nstmts));
}

bool sched_direct(struct sink_unit *u)
{
	struct sink *s = u->s;

	if (!direct_ok(u))
		return false;
	unit_set_state(u, U_DIRECT);
	u->widx = -1;
	u->direct_due = true;
	s->ndirect++;
	unit_notify(u);
	return true;
}

void sched_direct_back(struct sink_unit *u)
{
	struct sink *s = u->s;

	s->ndirect--;
	if (u->cancel)
		sched_fail(s, u, u->cancel);        /* its cancel, or its statement_timeout */
	else
		sched_enqueue(u);
	sched_unblock(s);
}

void sink_direct_done(struct sink_unit *u, bool ok, uint64_t rows)
{
	struct sink *s = u->s;

	if (u->state != U_DIRECT || u->direct_due)
		return;     /* not offered, or settled already */
	if (!ok) {
		s->st.direct_back += u->cancel == NULL;
		log_debug(u->ss->prefix, "unit %llu failed on its own connection: %s", (unsigned long long)u->seq,
			  u->cancel ? "it was cancelled" : "the writers write it");
		sched_direct_back(u);
		return;
	}
	s->ndirect--;
	s->st.direct_units++;
	s->st.direct_rows += rows < u->nrows ? rows : u->nrows;
	for (int k = 0; k < u->nstmts; k++) {
		const struct stable *tab = u->stmts[k].tab;

		log_at(tab->conf.verbose ? LOG_INFO : LOG_DEBUG, u->ss->prefix,
		       "direct table=%s.%s rows=%u ms=%lld", tab->conf.targetschema, tab->conf.name, u->stmts[k].n,
		       (long long)(sink_now_ms() - u->arrival_ms));
	}
	/* a row the database skipped (DO NOTHING, a BEFORE trigger) counts in no tag */
	for (uint32_t i = 0; i < u->nrows; i++)
		u->rows[i]->outcome = i < rows ? ROW_OK : ROW_SKIPPED;
	sched_forget(s, u);
	unit_settle(u);
	sched_unblock(s);
}

void sink_direct_lost(struct sink_unit *u, const char *sqlstate, const char *message)
{
	struct sink *s = u->s;
	struct berr *e;

	if (u->state != U_DIRECT || u->direct_due)
		return;
	s->ndirect--;
	e = u->cancel ? berr_ref(u->cancel) : berr_new(sqlstate, message, NULL, NULL);
	if (e == NULL)
		e = berr_new("53200", "out of memory", NULL, NULL);
	sched_fail(s, u, e);
	berr_unref(e);
	sched_unblock(s);
}

void sched_direct_abort(struct sink *s, struct berr *e)
{
	/* Their statements run on their clients' connections, which the proxy
	 * cancels: each unit fails with e once its statement has failed (or is
	 * written, if its COMMIT came first), when its client reports. */
	for (struct sink_unit *u = s->all; u && s->ndirect > 0; u = u->anext)
		if (u->state == U_DIRECT && u->cancel == NULL)
			u->cancel = berr_ref(e);
}

/* ---- a lost connection's backend, ended before the unit is ---- */

/*
 * A connection lost without a word from the server (an EOF or a reset: a
 * network fault, a relay that died, the client-side socket) does not mean its
 * backend is gone: it may still be running the unit's statement, waiting for a
 * lock, and commit it later. Failing the unit at once would let a later unit
 * of its key or table be written first, and the old statement then land on top
 * of it. So the unit stays placed while a connection of the sink's own ends
 * that backend (the pid and backend start the session's view read, so that a
 * pid used again is never hit) and waits until it is gone; then it fails as
 * sink_direct_lost. Retried until done; a forced shutdown lets it go.
 */
struct reap {
	struct sink *s;
	struct sink_unit *u;
	struct pgconn *pc;
	struct event *timer;        /* the retry, and the free after the last answer */
	struct reap *next;
	bool done;
	bool warned;                /* (once per backend) */
	bool waits;                 /* its pg_terminate_backend waits (PostgreSQL 14+) */
	int pid;
	int64_t start;
	char sqlstate[6];
	char *message;
	char sql[320];
};

static void reap_end(struct reap *r)
{
	struct reap **pp;

	for (pp = &r->s->reaps; *pp && *pp != r; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = r->next;
	if (r->timer)
		event_free(r->timer);
	pc_free(r->pc);
	free(r->message);
	free(r);
}

/* The backend is gone (or the sink lets it go): the unit fails. */
static void reap_finish(struct reap *r)
{
	struct sink_unit *u = r->u;

	r->u = NULL;
	sink_direct_lost(u, r->sqlstate, r->message ? r->message : "the connection was lost");
	unit_unref(u);
}

/* Ends the backend, and asks again until it is gone: pg_terminate_backend
 * waits for that from PostgreSQL 14 (true: gone), earlier it only signals. */
static void reap_ask(struct reap *r)
{
	bool wait = pc_server_version(r->pc) >= 140000;

	snprintf(r->sql, sizeof(r->sql),
		 "SELECT pg_catalog.pg_terminate_backend(pid%s) FROM pg_catalog.pg_stat_activity "
		 "WHERE pid = %d AND (EXTRACT(EPOCH FROM backend_start) * 1000000)::pg_catalog.int8 = %lld",
		 wait ? ", " REAP_WAIT_MS : "", r->pid, (long long)r->start);
	r->waits = wait;
	pc_query(r->pc, r->sql);
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg)
{
	struct reap *r = arg;

	(void)fd;
	(void)what;
	if (r->done) {
		reap_end(r);
		return;
	}
	if (pc_connected(r->pc) && !pc_busy(r->pc)) {
		reap_ask(r);
		return;
	}
	pc_close(r->pc);
	pc_connect(r->pc, r->s->kw, r->s->val, REAP_CONNECT_MS);
}

static void on_reap(void *arg, const struct pc_result *res)
{
	struct reap *r = arg;
	struct timeval tv = { 0, REAP_RETRY_MS * 1000 };

	if (r->done)
		return;
	if (res->event == PC_CONNECTED && res->ok) {
		reap_ask(r);
		return;
	}
	/* no row: gone (or not to be seen by the sink's role); true from a
	 * pg_terminate_backend that waits: ended within the wait */
	if (res->event == PC_DONE && res->ok && res->nresults == 1 &&
	    (PQntuples(res->results[0]) == 0 || (r->waits && strcmp(PQgetvalue(res->results[0], 0, 0), "t") == 0))) {
		log_info(SINK_PREFIX, "the backend (pid %d) of a lost session connection is no longer running: "
			 "its INSERT is settled", r->pid);
		r->done = true;
		reap_finish(r);
		tv.tv_usec = 0;
	} else if (res->event == PC_DONE && res->ok) {
		/* signalled, not gone yet: asked again */
	} else if (!r->warned) {
		/* (without the privilege to end it, it is waited for: it goes
		 * once it has run its statement and found its connection gone) */
		r->warned = true;
		log_warning(SINK_PREFIX, "cannot end the backend of a lost session connection yet (%s): "
			    "its INSERT and those after it wait until it is gone", res->message ? res->message :
			    "still running");
	}
	evtimer_add(r->timer, &tv);
}

void sink_direct_reap(struct sink_unit *u, int pid, int64_t backend_start_us, const char *sqlstate,
		      const char *message)
{
	struct sink *s = u->s;
	struct reap *r;

	if (u->state != U_DIRECT || u->direct_due)
		return;
	r = pid > 0 && backend_start_us > 0 && !s->aborting ? calloc(1, sizeof(*r)) : NULL;
	if (r) {
		r->s = s;
		r->pc = pc_new(s->base, SINK_PREFIX, on_reap, r);
		r->timer = evtimer_new(s->base, on_reap_timer, r);
		r->message = strdup(message);
	}
	if (r == NULL || r->pc == NULL || r->timer == NULL || r->message == NULL) {
		if (r)
			reap_end(r);
		sink_direct_lost(u, sqlstate, message);
		return;
	}
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate);
	r->pid = pid;
	r->start = backend_start_us;
	r->u = u;
	unit_ref(u);
	r->next = s->reaps;
	s->reaps = r;
	log_info(SINK_PREFIX, "a session connection was lost while its INSERT ran: ending its backend (pid %d) "
		 "before anything after the INSERT is written", pid);
	pc_connect(r->pc, s->kw, s->val, REAP_CONNECT_MS);
}

void sched_direct_reap_all(struct sink *s, bool settle)
{
	struct reap *r;

	for (r = s->reaps; r; r = r->next)
		if (r->u && settle)
			reap_finish(r);
	while (s->reaps)
		reap_end(s->reaps);
}

void sink_direct_hold(struct sink_unit *u)
{
	unit_ref(u);
}

void sink_direct_release(struct sink_unit *u)
{
	unit_unref(u);
}

int sink_unit_statements(const struct sink_unit *u)
{
	return u->nstmts;
}
