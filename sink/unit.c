/* Units: a client statement's rows from submission to settlement, notifications, decisions and replies (intake: intake.c). */
#include "sink/internal.h"
#include "sink/rejects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/later.h"
#include "common/log.h"
#include "common/pool.h"

/* ---- the unit's life ---- */

static const char *const state_names[U_STATES] = {
	"intake", "decided", "blocked", "queued", "writing", "direct", "settled",
};

/* Legal moves only; anything else is a bug. */
void unit_set_state(struct sink_unit *u, enum unit_state to)
{
	static const unsigned allowed[U_STATES] = {
		[U_INTAKE] = 1u << U_DECIDED | 1u << U_BLOCKED | 1u << U_QUEUED | 1u << U_DIRECT,
		[U_DECIDED] = 0,
		[U_BLOCKED] = 1u << U_QUEUED | 1u << U_SETTLED,       /* settled: cancelled */
		[U_QUEUED] = 1u << U_WRITING | 1u << U_SETTLED,
		[U_WRITING] = 1u << U_SETTLED,
		[U_DIRECT] = 1u << U_QUEUED | 1u << U_SETTLED,     /* queued: given back */
		[U_SETTLED] = 0,
	};

	if (!(allowed[u->state] & (1u << to))) {
		log_error(SINK_PREFIX, "illegal unit state change %s -> %s", state_names[u->state],
			  state_names[to]);
		abort();
	}
	u->state = to;
}

/* ---- notifications: every client callback runs from here ---- */

void schedule_notify(struct sink *s)
{
	later_ask(s->notify);   /* (once, however many units) */
}

void unit_notify(struct sink_unit *u)
{
	struct sink *s = u->s;

	if (u->in_notify)
		return;
	u->in_notify = true;
	u->nnext = NULL;
	if (s->ntail)
		s->ntail->nnext = u;
	else
		s->nhead = u;
	s->ntail = u;
	schedule_notify(s);
}

static bool sink_drained(const struct sink *s)
{
	const struct sink_session *ss;

	if (s->nhead || !sched_idle(s))
		return false;
	for (ss = s->sessions; ss; ss = ss->next)
		for (const struct sink_unit *u = ss->ihead; u; u = u->inext)
			if (!u->tx)
				return false;   /* a transaction's staged rows are its own, not the sink's */
	return true;
}

/* The unit is told everything and nobody waits for it: freed. */
void unit_maybe_free(struct sink_unit *u)
{
	if ((u->state == U_SETTLED || u->state == U_DECIDED) && u->settle_due && !u->in_notify &&
	    u->refs == 0 && u->canon_pending == 0)
		unit_free(u);
}

void sink_on_notify(void *arg)
{
	struct sink *s = arg;
	struct sink_unit *u;
	bool told;

	while ((u = s->nhead) != NULL) {
		s->nhead = u->nnext;
		if (s->nhead == NULL)
			s->ntail = NULL;
		u->in_notify = false;
		told = !u->ss->closed && !u->dropped;
		while (told && u->ntold < u->cur && u->ntold < u->nstmts && !(u->tx && u->canon_pending)) {
			struct ustmt *us = &u->stmts[u->ntold++];

			if (u->ss->c.decided)
				u->ss->c.decided(us->arg, us->passed ? pass_reason_text(us->why) : NULL);
			told = !u->ss->closed && !u->dropped;
		}
		if (u->dropped) {
			unit_maybe_free(u);
			continue;
		}
		if (u->direct_due) {
			/* its client writes it, or the writers do (a unit cancelled
			 * meanwhile fails: it is back in this queue then) */
			u->direct_due = false;
			if (!(told && u->cancel == NULL && u->ss->c.direct(u->arg, u)))
				sched_direct_back(u);
			if (u->in_notify)
				continue;
		}
		if (u->reply_due && !u->replied) {
			u->replied = true;
			if (told) {
				stats_observe(s, u->ack == ACK_IMMEDIATE ? HIST_ACK_IMMEDIATE :
					      u->ack == ACK_SPOOL ? HIST_ACK_SPOOL : HIST_ACK_COMMIT,
					      sink_now_us() - u->arrival_us);
				u->ss->c.reply(u->arg, &u->reply);
			}
		}
		if (u->settle_due) {
			if (told && u->ss->c.settled)
				u->ss->c.settled(u->arg);
			unit_maybe_free(u);
		}
	}
	if (s->room_due) {
		s->room_due = false;
		if (s->room_fn)
			s->room_fn(s->room_arg);
	}
	if (s->flushes)
		stats_flushes_check(s);
	if (s->tx_wake_due) {
		s->tx_wake_due = false;
		s->tx_waiting = false;
		if (s->tx_wake_fn)
			s->tx_wake_fn(s->tx_wake_arg);
	}
	if (s->draining && !s->drain_reported && sink_drained(s)) {
		s->drain_reported = true;
		log_info(SINK_PREFIX, "drained: every buffered row is committed or failed");
		for (int i = 0; i < s->nwriters; i++)
			writer_kick(s->writers[i]);
		catalog_close_idle(s->catalog);
		if (s->drain_fn)
			s->drain_fn(s->drain_arg);
	}
}

/* ---- units ---- */

void unit_ref(struct sink_unit *u)
{
	u->refs++;
}

void unit_unref(struct sink_unit *u)
{
	u->refs--;
	unit_maybe_free(u);
}

void row_free(struct sink *s, struct srow *r)
{
	charge(s, -(int64_t)r->bytes);
	berr_unref(r->err);
	tcat_unref(r->cat);
	pool_free(r, r->alloc);
}

static void drop_rows(struct sink_unit *u)
{
	uint32_t i;

	for (i = 0; i < u->nrows; i++)
		row_free(u->s, u->rows[i]);
	if (u->rows != &u->row1)
		free(u->rows);
	u->rows = NULL;
	u->nrows = u->caprows = 0;
}

void unit_release_statement(struct sink_unit *u, int i)
{
	struct ustmt *us = &u->stmts[i];

	if (us->has_st) {
		ins_stmt_free(&us->st);
		us->has_st = false;
	}
	if (us->charged) {
		charge(u->s, -us->charged);
		us->charged = 0;
	}
}

void unit_release_statements(struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++)
		unit_release_statement(u, i);
	if (u->charged) {
		charge(u->s, -u->charged);
		u->charged = 0;
	}
}

static void free_warnings(struct sink_unit *u)
{
	if (u->warn_msgs)
		for (int k = 0; k < u->nstmts; k++)
			free(u->warn_msgs[k]);
	if (u->warn_errs)
		for (int k = 0; k < u->nstmts; k++)
			berr_unref(u->warn_errs[k]);
	free(u->warn_errs);
	u->warn_errs = NULL;
	free(u->warn_msgs);
	free(u->warn_diags);
	free(u->warn_ptrs);
	u->warn_msgs = NULL;
	u->warn_diags = NULL;
	u->warn_ptrs = NULL;
	u->reply.warning = NULL;
	u->reply.warnings = NULL;
}

void unit_free(struct sink_unit *u)
{
	struct sink *s = u->s;
	struct sink_session *ss = u->ss;

	if (u->spool_seq || u->spool_body) {
		spooled_release(u);
		spooled_body_free(u);
	}
	drop_rows(u);
	unit_release_statements(u);
	for (int i = 0; i < u->ndeps; i++)
		u->deps[i]->refs--;
	free(u->deps);
	if (u->stmts != &u->stmt1)
		free(u->stmts);
	if (u->counts != &u->count1)
		free(u->counts);
	if (u->timeout_ev)
		event_free(u->timeout_ev);
	berr_unref(u->cancel);
	berr_unref(u->err);
	berr_unref(u->probe_err);
	free_warnings(u);
	if (u->aprev)
		u->aprev->anext = u->anext;
	else
		s->all = u->anext;
	if (u->anext)
		u->anext->aprev = u->aprev;
	pool_free(u, sizeof(*u));
	if (--ss->nunits == 0 && ss->closed)
		session_free(ss);
}

/* A view of e's fields for the client: the position and context refer to the
 * statement pgbatchd wrote, not the client's, and are left out (the writer
 * keeps a context that is the client's own, see exec.c). */
static void error_view(struct pkt_diag *d, const struct berr *e)
{
	for (int i = 0; i < PKT_DIAG_N; i++)
		d->f[i] = e->f[i];
}

/* The unit's answer is decided before its rows were buffered: pass through. */
void unit_decide_pass(struct sink_unit *u, enum pass_reason why)
{
	drop_rows(u);
	unit_release_statements(u);
	u->s->st.passthrough[why]++;
	u->reply.status = SINK_PASSTHROUGH;
	u->reply.reason = pass_reason_text(why);
	unit_set_state(u, U_DECIDED);
	u->reply_due = true;
	u->settle_due = true;
	unit_notify(u);
}

static void fill_counts(struct sink_unit *u, bool written);

/* The error, and for the statements before the one that failed, the rows
 * they had (as PostgreSQL reports each statement before it rolls back). */
static void fill_error_reply(struct sink_unit *u)
{
	u->reply.status = SINK_ERROR;
	u->reply.stmt = u->err_stmt;
	fill_counts(u, false);
	error_view(&u->error_diag, u->err);
	u->reply.error = &u->error_diag;
}

/* Decided before buffering: an error (catalog failure, no privilege). */
void unit_decide_error(struct sink_unit *u, struct berr *e)
{
	drop_rows(u);
	unit_release_statements(u);
	u->s->st.errors++;
	berr_unref(u->err);
	u->err = berr_ref(e);
	if (u->err == NULL)
		u->err = berr_new("53200", "out of memory", NULL, NULL);
	if (u->err)
		fill_error_reply(u);
	else
		u->reply.status = SINK_PASSTHROUGH;
	unit_set_state(u, U_DECIDED);
	u->reply_due = true;
	u->settle_due = true;
	unit_notify(u);
}

/* The reply's rows per statement: written, or (buffered) taken. */
static void fill_counts(struct sink_unit *u, bool written)
{
	if (u->counts != &u->count1)
		free(u->counts);
	u->counts = u->nstmts <= 1 ? &u->count1 : calloc((size_t)u->nstmts + 1, sizeof(*u->counts));
	u->count1 = 0;
	u->reply.nstmts = u->counts ? u->nstmts : 0;
	u->reply.counts = u->counts;
	if (u->counts)
		for (int i = 0; i < u->nstmts; i++)
			u->counts[i] = written ? u->stmts[i].written : u->stmts[i].n;
}

/* A closed unit without rows: nothing to write. */
void unit_decide_empty(struct sink_unit *u)
{
	unit_release_statements(u);
	u->reply.status = SINK_DONE;
	u->reply.rows = 0;
	fill_counts(u, false);
	unit_set_state(u, U_DECIDED);
	u->reply_due = true;
	u->settle_due = true;
	unit_notify(u);
}

void unit_buffered(struct sink_unit *u)
{
	u->s->st.rows_in += u->nrows;
	if (u->nstmts == 1 && u->stmts[0].tab)
		u->stmts[0].tab->tc.rows_in += u->nrows;
	else
		for (int i = 0; i < u->nstmts; i++)
			if (u->stmts[i].tab)
				u->stmts[i].tab->tc.rows_in += u->stmts[i].n;
	if (u->ack == ACK_COMMIT)
		return;
	if (u->ack == ACK_SPOOL && u->spool_seq == 0) {
		spooled_append(u);      /* answered once the spool has it on disk */
		return;
	}
	unit_acked(u);
}

void unit_acked(struct sink_unit *u)
{
	/* acknowledged before written: a transaction writing its tables follows it */
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].tab)
			u->stmts[i].tab->acked++;
	u->acked_counted = true;
	u->reply.status = SINK_DONE;
	u->reply.rows = u->nrows;
	fill_counts(u, false);
	u->reply_due = true;
	unit_notify(u);
}

/* A value for a log line: quoted, control characters escaped, so one event
 * stays one line. */
static void log_value(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;

	buf_puts(b, "E'");
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\'' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\r') {
			buf_puts(b, "\\r");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			buf_puts(b, "\\x");
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '\'');
}

/* A row of an ackmode=immediate unit that is not written: its client was
 * answered already, so the log says so, one line with every value. */
static void log_unwritten_row(const struct sink_unit *u, const struct srow *r, const struct berr *e)
{
	const struct stable *tab = u->stmts[r->stmt].tab;
	struct buf line;
	int i;

	buf_init(&line);
	for (i = 0; i < r->cat->t.ncols; i++) {
		const struct sg_val *v = &r->vals[i];

		buf_printf(&line, "%s%s=", i ? ", " : "", r->cat->t.cols[i].name);
		if (v->state == SG_VALUE)
			log_value(&line, v->text, v->len);
		else
			buf_puts(&line, v->state == SG_NULL ? "NULL" : "DEFAULT");
	}
	log_error(u->ss->prefix, "row not written: table=%s.%s sqlstate=%s message=%s%s row=(%s)",
		  tab->conf.targetschema, tab->conf.name, e ? e->sqlstate : "XX000",
		  e && berr_field(e, 'M') ? berr_field(e, 'M') : "unknown error",
		  r->outcome == ROW_DROPPED ? " (another row of its statement was rejected)" : "",
		  buf_ok(&line) ? line.data : "?");
	buf_free(&line);
}

/* exceptionmode=strict, ackmode=immediate: its client was answered before a
 * row of it was rejected. Its strict tables take nothing more until resumed
 * (sink_resume): the rows after it would be written as if it had been. */
static void stop_tables(struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++) {
		struct stable *tab = u->stmts[i].tab;

		if (tab->conf.exceptionmode != EXC_STRICT || tab->stopped)
			continue;
		tab->stopped = true;
		log_error(SINK_PREFIX, "table %s.%s stops taking rows: an acknowledged statement had a rejected "
			  "row (%s: %s); SIGUSR2 resumes", tab->conf.targetschema, tab->conf.name,
			  u->err ? u->err->sqlstate : "XX000",
			  u->err && berr_field(u->err, 'M') ? berr_field(u->err, 'M') : "");
	}
}

/* exceptionmode=ignore, ackmode=commit: the rows each statement wrote are
 * reported with a WARNING that carries its first rejected row's SQLSTATE and
 * fields. */
static void fill_warnings(struct sink_unit *u)
{
	uint32_t *n = calloc((size_t)u->nstmts + 1, sizeof(*n));
	const struct berr **first = calloc((size_t)u->nstmts + 1, sizeof(*first));
	struct buf msg;
	int i, k;

	free_warnings(u);
	u->warn_diags = calloc((size_t)u->nstmts + 1, sizeof(*u->warn_diags));
	u->warn_msgs = calloc((size_t)u->nstmts + 1, sizeof(*u->warn_msgs));
	u->warn_ptrs = calloc((size_t)u->nstmts + 1, sizeof(*u->warn_ptrs));
	u->warn_errs = calloc((size_t)u->nstmts + 1, sizeof(*u->warn_errs));
	if (!n || !first || !u->warn_diags || !u->warn_msgs || !u->warn_ptrs || !u->warn_errs) {
		free(n);
		free(first);
		free_warnings(u);
		return;
	}
	for (uint32_t r = 0; r < u->nrows; r++)
		if (u->rows[r]->outcome == ROW_FAILED) {
			k = (int)u->rows[r]->stmt;
			if (n[k]++ == 0)
				first[k] = u->rows[r]->err ? u->rows[r]->err : u->err;
		}
	for (k = 0; k < u->nstmts; k++) {
		const struct berr *e = first[k];
		struct pkt_diag *d = &u->warn_diags[k];

		if (n[k] == 0 || e == NULL)
			continue;
		u->warn_errs[k] = berr_ref((struct berr *)e);    /* the rows' go before the reply */
		buf_init(&msg);
		buf_printf(&msg, "%u row%s of this INSERT %s rejected: %s", n[k], n[k] == 1 ? "" : "s",
			   n[k] == 1 ? "was" : "were", berr_field(e, 'M') ? berr_field(e, 'M') : "");
		u->warn_msgs[k] = buf_steal(&msg);
		for (i = 0; i < PKT_DIAG_N; i++)
			if (strchr("CDHstcdn", PKT_DIAG_CODES[i]))
				d->f[i] = e->f[i];
		d->f[pkt_diag_index('S')] = "WARNING";
		d->f[pkt_diag_index('V')] = "WARNING";
		d->f[pkt_diag_index('M')] = u->warn_msgs[k] ? u->warn_msgs[k] : "rows were rejected";
		u->warn_ptrs[k] = d;
		if (u->reply.warning == NULL) {
			u->reply.warning = d;
			u->reply.stmt = k;
		}
	}
	u->reply.warnings = (const struct pkt_diag *const *)u->warn_ptrs;
	free(n);
	free(first);
}

/* An acknowledged unit is written (or failed): transactions waiting for it go on. */
static void acked_done(struct sink_unit *u)
{
	struct sink *s = u->s;

	if (!u->acked_counted)
		return;
	u->acked_counted = false;
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].tab && --u->stmts[i].tab->acked == 0 && s->tx_waiting) {
			s->tx_wake_due = true;
			schedule_notify(s);
		}
}

void unit_settle(struct sink_unit *u)
{
	struct sink *s = u->s;
	struct srow *r;
	uint64_t written = 0;
	uint32_t i;

	unit_set_state(u, U_SETTLED);
	acked_done(u);
	/* ackmode=spool, not written because pgbatchd stops (past the shutdown
	 * timeout, or the backend down through a drain's retries): kept in the
	 * spool for the next start, not in the rejects file */
	u->spool_keep = u->spool_seq && u->ack != ACK_COMMIT && (s->aborting || (s->draining && u->failed));
	if (s->tx_waiting) {
		s->tx_wake_due = true;      /* a transaction may have waited for this one */
		schedule_notify(s);
	}
	for (i = 0; i < (uint32_t)u->nstmts; i++)
		u->stmts[i].written = 0;
	for (i = 0; i < u->nrows; i++) {
		r = u->rows[i];
		switch ((enum row_outcome)r->outcome) {
		case ROW_OK:
			s->st.rows_written++;
			u->stmts[r->stmt].tab->tc.rows_written++;
			u->stmts[r->stmt].written++;
			written++;
			break;
		case ROW_SKIPPED:
			s->st.rows_skipped++;
			u->stmts[r->stmt].tab->tc.rows_skipped++;
			break;
		case ROW_PENDING:
		case ROW_FAILED:
		case ROW_DROPPED:
			s->st.rows_failed++;
			u->stmts[r->stmt].tab->tc.rows_rejected++;
			stats_reject(s, u, r, r->err ? r->err : u->err);
			/* a row the database refused goes to its table's rejects file; an
			 * acknowledged row not written is said in the log otherwise */
			if (r->outcome == ROW_FAILED && r->err && rejects_write(s, u, r, r->err, true))
				s->st.rows_rejected_file++;
			else if (u->spool_keep)
				;       /* kept in the spool: the next start writes it */
			else if (u->ack != ACK_COMMIT && (u->doomed || u->failed) && u->err &&
				 rejects_write(s, u, r, u->err, false))
				s->st.rows_rejected_file++;     /* acknowledged: kept, never dropped */
			else if (u->ack != ACK_COMMIT)
				log_unwritten_row(u, r, r->err ? r->err : u->err);
			break;
		}
	}
	if (u->doomed || u->failed)
		s->st.units_rejected++;
	if (u->doomed && u->ack != ACK_COMMIT && !u->spool_keep)
		stop_tables(u);
	if (u->ack == ACK_COMMIT) {
		if ((u->doomed || u->failed) && u->err) {
			s->st.errors++;
			fill_error_reply(u);
		} else {
			u->reply.status = SINK_DONE;
			u->reply.rows = written;
			fill_counts(u, true);
			if (u->nrejected && u->err)
				fill_warnings(u);
		}
		u->reply_due = true;
	}
	/* rows go now: their memory is what backpressure counts */
	drop_rows(u);
	u->settle_due = true;
	unit_notify(u);
}

/* ---- submission ---- */

struct sink_unit *unit_alloc(struct sink_session *ss, void *arg)
{
	struct sink *s = ss->s;
	struct sink_unit *u = pool_zalloc(sizeof(*u));

	if (u == NULL)
		return NULL;
	u->s = s;
	u->ss = ss;
	u->arg = arg;
	u->widx = -1;
	u->state = U_INTAKE;
	u->arrival_us = sink_now_us();
	u->arrival_ms = u->arrival_us / 1000;
	u->ack = ACK_IMMEDIATE;
	u->charged = (int64_t)sizeof(*u);
	charge(s, u->charged);
	u->anext = s->all;
	if (s->all)
		s->all->aprev = u;
	s->all = u;
	u->ticket = ++s->st.tickets;
	ss->nunits++;
	return u;
}

bool unit_add_stmt(struct sink_unit *u, struct stable *tab, struct ins_stmt *st, void *stmt_arg)
{
	struct ustmt *us;

	if (u->capstmts == 0) {
		u->stmts = &u->stmt1;
		u->capstmts = 1;
	} else if (u->nstmts == u->capstmts) {
		int cap = u->capstmts * 2;
		struct ustmt *n = u->stmts == &u->stmt1 ? malloc((size_t)cap * sizeof(*n)) :
				  realloc(u->stmts, (size_t)cap * sizeof(*n));

		if (n == NULL) {
			ins_stmt_free(st);
			return false;
		}
		if (u->stmts == &u->stmt1)
			n[0] = u->stmt1;
		u->stmts = n;
		u->capstmts = cap;
	}
	/* ackmode = spool: what the record of the unit will hold */
	if (u->s->spool && u->spool_seq == 0 && u->tx == UTX_NONE && tab && tab->conf.ackmode == ACK_SPOOL)
		spooled_stmt(u, tab, st);
	us = &u->stmts[u->nstmts++];
	memset(us, 0, sizeof(*us));
	us->tab = tab;
	us->st = *st;
	us->has_st = true;
	us->arg = stmt_arg;
	memset(st, 0, sizeof(*st));
	/* a statement waiting for its table's catalog counts as buffered */
	for (size_t i = 0; i < (size_t)us->st.nrows * (size_t)us->st.nvals; i++)
		us->charged += (int64_t)us->st.values[i].len + ROW_OVERHEAD / 2;
	charge(u->s, us->charged);
	/* commit when any of its tables says commit (or spool without a
	 * spool: spool_dir added by a reload); else spool when any says spool */
	if (tab == NULL || tab->conf.ackmode == ACK_COMMIT || (tab->conf.ackmode == ACK_SPOOL && !u->s->spool))
		u->ack = ACK_COMMIT;
	else if (tab->conf.ackmode == ACK_SPOOL && u->ack == ACK_IMMEDIATE)
		u->ack = ACK_SPOOL;
	return true;
}

/* Queues it behind the session's earlier units and starts its intake. */
static void unit_enqueue(struct sink_unit *u)
{
	struct sink_session *ss = u->ss;

	if (ss->itail)
		ss->itail->inext = u;
	else
		ss->ihead = u;
	ss->itail = u;
}

void unit_submit(struct sink_unit *u)
{
	if (u->stmts[0].tab == NULL) {
		unit_decide_pass(u, PASS_REMOVED);
		return;
	}
	unit_enqueue(u);
	intake_run(u->ss);
}

bool unit_replay(struct sink_session *ss, void *arg, uint64_t seq, struct ins_stmt *sts, int n)
{
	struct sink_unit *u = unit_alloc(ss, arg);
	int i;

	if (u == NULL) {
		for (i = 0; i < n; i++)
			ins_stmt_free(&sts[i]);
		return false;
	}
	u->spool_seq = seq;     /* (durable already: answered once buffered) */
	for (i = 0; i < n; i++)
		if (!unit_add_stmt(u, find_table(ss->s, &sts[i]), &sts[i], NULL)) {
			while (++i < n)
				ins_stmt_free(&sts[i]);
			u->spool_seq = 0;
			unit_free(u);
			return false;
		}
	/* acknowledged before the crash, whatever its tables say now: its
	 * record goes only once it is written (or kept, as pgbatchd stops) */
	u->ack = ACK_SPOOL;
	unit_submit(u);
	return true;
}

struct sink_unit *sink_unit_open(struct sink_session *ss, void *arg)
{
	struct sink_unit *u = unit_alloc(ss, arg);

	if (u == NULL)
		return NULL;
	u->built = u->open = true;
	unit_enqueue(u);
	return u;
}

void unit_built_add(struct sink_unit *u)
{
	struct ustmt *us = &u->stmts[u->nstmts - 1];

	if (us->tab == NULL && u->cur == u->nstmts - 1) {
		intake_stmt_passed(u, u->cur, PASS_REMOVED);
		unit_release_statement(u, u->cur);
		u->cur++;
		unit_notify(u);
	}
	intake_run(u->ss);
}

void sink_unit_close(struct sink_unit *u)
{
	u->open = false;
	intake_run(u->ss);
}

void sink_unit_drop(struct sink_unit *u)
{
	struct sink_session *ss = u->ss;
	struct sink_unit **pp;

	if (u->state != U_INTAKE) {
		log_error(SINK_PREFIX, "a unit past intake cannot be dropped");
		return;
	}
	for (pp = &ss->ihead; *pp; pp = &(*pp)->inext)
		if (*pp == u) {
			*pp = u->inext;
			break;
		}
	ss->itail = NULL;
	for (struct sink_unit *x = ss->ihead; x; x = x->inext)
		ss->itail = x;
	u->inext = NULL;
	u->open = false;
	u->dropped = true;
	/* a catalog job reading key values of its rows still points at them:
	 * they go with the unit, once that job is done */
	if (u->canon_pending == 0)
		drop_rows(u);
	unit_release_statements(u);
	unit_set_state(u, U_DECIDED);
	u->settle_due = true;
	unit_notify(u);
	/* the session's next unit may have waited for this one */
	if (ss->ihead)
		intake_run(ss);
}
