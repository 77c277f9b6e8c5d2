/* Direct writes: a unit that arrives while the sink holds nothing of its tables is written on its client's own connection, in one round trip. */
#include "sink/internal.h"

#include "common/log.h"

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
		if (tab == NULL || tab->removed || !tab->conf.directwrite || !tab->conf.adaptiveflush)
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
