/* The sink's operator view: counters per table, histograms, recent rejects, the snapshot, and PAUSE / RESUME / FLUSH. */
#include "sink/internal.h"
#include "sink/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "common/log.h"

/* Bucket bounds: rows, and microseconds (exported as seconds). */
const int64_t stats_rows_le[STATS_ROWS_NB] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000 };
const int64_t stats_us_le[STATS_US_NB] = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
					   1000000, 2500000, 5000000, 10000000, 30000000 };
static const double rows_le[STATS_ROWS_NB] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000 };
static const double seconds_le[STATS_US_NB] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
						1, 2.5, 5, 10, 30 };

_Static_assert(STATS_ROWS_NB <= SINK_HIST_MAX && STATS_US_NB <= SINK_HIST_MAX, "too many buckets");
_Static_assert(FLUSH_REASONS <= 8, "sink_table_stats.flush is too short");
_Static_assert(PASS_REASONS <= 32, "sink_stats.passthrough is too short");

static const char *const flush_keys[FLUSH_REASONS] = {
	[FLUSH_BATCHSIZE] = "batchsize", [FLUSH_AGE] = "age", [FLUSH_IDLE] = "idle",
	[FLUSH_BARRIER] = "barrier", [FLUSH_SHUTDOWN] = "shutdown", [FLUSH_FULL] = "full",
};

static const char *const conflict_words[] = { "upsert", "update", "ignore", "strict" };
static const char *const write_words[] = { "insert", "copy", "unnest" };
static const char *const ack_words[] = { "commit", "immediate", "spool" };

const char *sink_flush_reason_key(int i)
{
	return i >= 0 && i < FLUSH_REASONS ? flush_keys[i] : NULL;
}

/* ---- recent rejects ---- */

static void row_text(const struct srow *r, char *out, size_t size)
{
	size_t n = 0;
	bool first = true;

	out[0] = '\0';
	if (r->cat == NULL)
		return;
	for (int i = 0; i < r->cat->t.ncols && n + 1 < size; i++) {
		const struct sg_val *v = &r->vals[i];
		int w;

		if (v->state == SG_OMIT || v->state == SG_DEFAULT)
			continue;
		if (v->state == SG_VALUE)
			w = snprintf(out + n, size - n, "%s%s=%.*s", first ? "" : ", ", r->cat->t.cols[i].name,
				     (int)(v->len < size ? v->len : size), v->text);
		else
			w = snprintf(out + n, size - n, "%s%s=NULL", first ? "" : ", ", r->cat->t.cols[i].name);
		first = false;
		if (w < 0)
			break;
		n += (size_t)w;
	}
	if (n >= size)
		out[size - 1] = '\0';
	/* (cut inside a UTF-8 sequence: the console's text must stay valid) */
	n = strlen(out);
	while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
		n--;
	if (n > 0 && ((unsigned char)out[n - 1] & 0x80)) {
		unsigned char lead = (unsigned char)out[n - 1];
		size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;

		if (strlen(out) - (n - 1) < want)
			out[n - 1] = '\0';
	}
}

void stats_reject(struct sink *s, const struct sink_unit *u, const struct srow *r, const struct berr *e)
{
	const struct stable *tab = u->stmts[r->stmt].tab;
	struct sink_reject *j;
	struct timeval tv;

	if (s->rejects == NULL && (s->rejects = calloc(SINK_REJECTS_KEPT, sizeof(*s->rejects))) == NULL)
		return;
	j = &s->rejects[s->rej_next];
	s->rej_next = (s->rej_next + 1) % SINK_REJECTS_KEPT;
	if (s->rej_n < SINK_REJECTS_KEPT)
		s->rej_n++;
	memset(j, 0, sizeof(*j));
	gettimeofday(&tv, NULL);
	j->unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	snprintf(j->table, sizeof(j->table), "%s.%s", tab->conf.targetschema, tab->conf.name);
	snprintf(j->sqlstate, sizeof(j->sqlstate), "%s", e ? e->sqlstate : "XX000");
	snprintf(j->message, sizeof(j->message), "%s",
		 e && berr_field(e, 'M') ? berr_field(e, 'M') : "the row was not written");
	row_text(r, j->row, sizeof(j->row));
	j->acknowledged = u->ack != ACK_COMMIT;
}

int sink_rejects_recent(const struct sink *s, struct sink_reject *out, int max)
{
	int n = 0;

	for (int i = 1; i <= s->rej_n && n < max; i++)
		out[n++] = s->rejects[(s->rej_next - i + SINK_REJECTS_KEPT) % SINK_REJECTS_KEPT];
	return n;
}

/* ---- counters of tables ---- */

void stats_batch_taken(struct sink *s, const uint32_t *taken, enum flush_reason why)
{
	int64_t now = 0;

	for (int t = 0; t < s->ntables; t++) {
		struct tab_counters *tc = &s->tables[t]->tc;

		if (taken[t] == 0)
			continue;
		if (now == 0)
			now = sink_now_ms();
		tc->batches++;
		tc->flush[why]++;
		tc->last_flush_ms = now;
		tc->last_flush_reason = (int)why;
	}
}

void stats_batch_done(struct sink *s, const struct batch *b)
{
	struct stable *tab;
	size_t rows, failed, skipped, units, i;
	int t;

	stats_observe(s, HIST_BATCH_ROWS, (int64_t)b->n);
	stats_observe(s, HIST_BATCH_SECONDS, sink_now_us() - b->start_us);
	for (t = 0; t < s->ntables; t++) {
		tab = s->tables[t];
		rows = failed = skipped = units = 0;
		for (i = 0; i < b->n; i++) {
			const struct srow *r = b->rows[i];

			if (r->u->stmts[r->stmt].tab != tab)
				continue;
			rows++;
			failed += r->outcome == ROW_FAILED || r->outcome == ROW_DROPPED ||
				  r->outcome == ROW_PENDING;
			skipped += r->outcome == ROW_SKIPPED;
		}
		if (rows == 0)
			continue;
		for (i = 0; i < b->nunits; i++)
			for (int k = 0; k < b->units[i]->nstmts; k++)
				units += b->units[i]->stmts[k].tab == tab;
		log_at(tab->conf.verbose ? LOG_INFO : LOG_DEBUG, SINK_PREFIX,
		       "flush table=%s.%s writer=%d reason=%s rows=%zu ms=%lld units=%zu failed=%zu skipped=%zu attempts=%d passes=%d batch=%llu",
		       tab->conf.targetschema, tab->conf.name, b->widx, flush_reason_name(b->reason), rows,
		       (long long)(sink_now_ms() - b->start_ms), units, failed, skipped, b->attempts,
		       b->passes, (unsigned long long)b->id);
	}
}

bool stats_unit_paused(const struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].tab && u->stmts[i].tab->paused && !u->stmts[i].tab->removed)
			return true;    /* (a table removed by a reload flushes what it holds) */
	return false;
}

static const char *word(const char *const *words, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? words[v] : "?";
}

double sink_spool_age(const struct sink_stats *st)
{
	struct timespec ts;
	int64_t now;

	if (st->spool_oldest_us == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return now > st->spool_oldest_us ? (double)(now - st->spool_oldest_us) / 1e6 : 0;
}

bool sink_stats_take(const struct sink *s, struct sink_stats *out)
{
	const struct counters *c = &s->st;
	const struct sink_unit *u;
	int64_t now = sink_now_ms();

	memset(out, 0, sizeof(*out));
	out->tables = calloc((size_t)s->ntables + 1, sizeof(*out->tables));
	out->writers = calloc((size_t)s->nwriters + 1, sizeof(*out->writers));
	if (out->tables == NULL || out->writers == NULL) {
		sink_stats_free(out);
		return false;
	}
	if (s->spool) {
		struct spool_stats sp;

		spooled_stats(s, &sp);
		out->spool = true;
		out->spool_replaying = s->replay_hold;
		out->spool_id = sp.id;
		out->spool_units = sp.units;
		out->spool_fsyncs = sp.fsyncs;
		out->spool_bytes = sp.bytes;
		out->spool_oldest_us = sp.oldest_us;
		out->spool_segments = sp.segments;
	}
	out->units = c->tickets;
	out->rows_in = c->rows_in;
	out->rows_written = c->rows_written;
	out->rows_skipped = c->rows_skipped;
	out->rows_rejected = c->rows_failed;
	out->rows_rejected_file = c->rows_rejected_file;
	out->batches = c->batches;
	out->batches_failed = c->batches_failed;
	out->retries = c->retries;
	out->errors = c->errors;
	out->tx_rows = c->tx_rows;
	out->direct_rows = c->direct_rows;
	memcpy(out->flush, c->flush, sizeof(c->flush));
	memcpy(out->passthrough, c->passthrough, sizeof(c->passthrough));
	out->buffered_bytes = s->buffered_bytes > 0 ? (uint64_t)s->buffered_bytes : 0;
	for (int k = 0; k < HIST_KINDS; k++) {
		bool rows = k == HIST_BATCH_ROWS;

		out->hist[k].le = rows ? rows_le : seconds_le;
		out->hist[k].nb = rows ? STATS_ROWS_NB : STATS_US_NB;
		memcpy(out->hist[k].counts, s->hist[k].counts, sizeof(s->hist[k].counts));
		out->hist[k].count = s->hist[k].count;
		out->hist[k].sum = rows ? (double)s->hist[k].sum : (double)s->hist[k].sum / 1e6;
	}
	out->ntables = s->ntables;
	for (int t = 0; t < s->ntables; t++) {
		const struct stable *tab = s->tables[t];
		struct sink_table_stats *ts = &out->tables[t];

		snprintf(ts->schema, sizeof(ts->schema), "%s", tab->conf.targetschema);
		snprintf(ts->name, sizeof(ts->name), "%s", tab->conf.name);
		ts->conflictmode = word(conflict_words, 4, (int)tab->conf.conflictmode);
		ts->writemode = word(write_words, 3, (int)tab->conf.writemode);
		ts->ackmode = word(ack_words, 3, (int)tab->conf.ackmode);
		ts->rows_in = tab->tc.rows_in;
		ts->rows_written = tab->tc.rows_written;
		ts->rows_skipped = tab->tc.rows_skipped;
		ts->rows_rejected = tab->tc.rows_rejected;
		ts->batches = tab->tc.batches;
		memcpy(ts->flush, tab->tc.flush, sizeof(tab->tc.flush));
		ts->retries = tab->tc.retries;
		ts->held = tab->tc.held;
		ts->last_flush_age_ms = tab->tc.last_flush_ms ? now - tab->tc.last_flush_ms : -1;
		ts->last_flush_reason = tab->tc.last_flush_ms ? flush_keys[tab->tc.last_flush_reason] : NULL;
		ts->paused = tab->paused;
		ts->stopped = tab->stopped;
		ts->removed = tab->removed;
	}
	/* rows in the sink now: buffered, waiting or being written (a walk over
	 * the live units, for an operator's question, not per row) */
	for (u = s->all; u; u = u->anext) {
		if (u->state != U_BLOCKED && u->state != U_QUEUED && u->state != U_WRITING && u->state != U_DIRECT)
			continue;
		for (uint32_t i = 0; i < u->nrows; i++) {
			const struct stable *tab = u->stmts[u->rows[i]->stmt].tab;

			out->buffered_rows++;
			if (tab && tab->idx < out->ntables) {
				out->tables[tab->idx].buffered_rows++;
				out->tables[tab->idx].buffered_bytes += u->rows[i]->bytes;
			}
		}
	}
	out->nwriters = s->nwriters;
	for (int w = 0; w < s->nwriters; w++)
		writer_stats(s->writers[w], &out->writers[w]);
	return true;
}

void sink_stats_free(struct sink_stats *st)
{
	free(st->tables);
	free(st->writers);
	st->tables = NULL;
	st->writers = NULL;
}

/* ---- PAUSE, RESUME, FLUSH ---- */

/* "name" or "schema.name" against a table's configured names (the console
 * folds what is not quoted, as PostgreSQL folds identifiers). */
static bool table_named(const struct stable *tab, const char *what)
{
	const char *dot = strchr(what, '.');

	if (dot == NULL)
		return strcmp(tab->conf.name, what) == 0;
	return strncmp(tab->conf.targetschema, what, (size_t)(dot - what)) == 0 &&
	       tab->conf.targetschema[dot - what] == '\0' && strcmp(tab->conf.name, dot + 1) == 0;
}

int sink_pause(struct sink *s, const char *table, bool pause)
{
	int matched = 0, changed = 0;

	for (int t = 0; t < s->ntables; t++) {
		struct stable *tab = s->tables[t];

		/* (a removed table cannot be paused, but can be resumed) */
		if ((pause && tab->removed) || (table && !table_named(tab, table)))
			continue;
		matched++;
		if (!pause && tab->stopped) {
			/* (RESUME also ends an exceptionmode = strict stop, as SIGUSR2) */
			tab->stopped = false;
			changed++;
			log_info(SINK_PREFIX, "table %s.%s takes rows again", tab->conf.targetschema, tab->conf.name);
		}
		if (tab->paused == pause)
			continue;
		tab->paused = pause;
		changed++;
		log_info(SINK_PREFIX, "table %s.%s %s", tab->conf.targetschema, tab->conf.name,
			 pause ? "paused: its rows are buffered, not written" : "resumed: its rows are written again");
	}
	s->npaused = 0;
	for (int t = 0; t < s->ntables; t++)
		s->npaused += s->tables[t]->paused && !s->tables[t]->removed;
	if (matched == 0)
		return -1;
	if (!pause && changed)
		for (int i = 0; i < s->nwriters; i++)
			writer_kick(s->writers[i]);
	if (s->flushes)
		schedule_notify(s);     /* (a FLUSH of a table paused now is answered) */
	return changed;
}

/* A FLUSH: it waits for the units that held rows of its tables when it came. */
struct flushwait {
	struct flushwait *next;
	const struct stable *tab;   /* NULL: every table */
	uint64_t upto;              /* units made up to this ticket */
	void (*done)(void *arg, bool paused);
	void *arg;
};

bool stats_unit_writes(const struct sink_unit *u, const struct stable *tab)
{
	if (tab == NULL)
		return true;
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].tab == tab)
			return true;
	return false;
}

/* A unit still to be written by the sink (not decided, not settled; a
 * transaction block's rows are its client's to commit). */
static bool unwritten(const struct sink_unit *u)
{
	return !u->tx && (u->state == U_INTAKE || u->state == U_BLOCKED || u->state == U_QUEUED ||
			  u->state == U_WRITING || u->state == U_DIRECT);
}

/* 0: done; 1: it waits; 2: a unit of its table is held by a PAUSE (a FLUSH
 * of every table does not wait for paused ones). */
static int flush_state(const struct sink *s, const struct flushwait *f)
{
	int r = 0;

	for (const struct sink_unit *u = s->all; u; u = u->anext) {
		if (u->ticket > f->upto || !unwritten(u) || !stats_unit_writes(u, f->tab))
			continue;
		if ((u->state == U_QUEUED && u->held) ||
		    ((u->state == U_INTAKE || u->state == U_BLOCKED) && stats_unit_paused(u))) {
			if (f->tab)
				r = 2;
			continue;
		}
		return 1;
	}
	return r;
}

int sink_flush_now(struct sink *s, const char *table, void (*done)(void *arg, bool paused), void *arg)
{
	struct stable *tab = NULL;
	struct flushwait *f;

	if (table) {
		for (int t = 0; t < s->ntables && tab == NULL; t++)
			if (!s->tables[t]->removed && table_named(s->tables[t], table))
				tab = s->tables[t];
		if (tab == NULL)
			return -1;
		if (tab->paused)
			return -2;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -3;
	f->tab = tab;
	f->upto = s->st.tickets;
	f->done = done;
	f->arg = arg;
	f->next = s->flushes;
	s->flushes = f;
	/* every unit it waits for is wanted now, wherever it is: queued, blocked
	 * or still being taken in (the barrier applies once it is queued) */
	for (struct sink_unit *u = s->all; u; u = u->anext)
		if (unwritten(u) && !u->barrier && stats_unit_writes(u, tab) && !stats_unit_paused(u))
			sched_barrier(u);
	schedule_notify(s);     /* (nothing buffered: answered from the loop) */
	return 0;
}

void sink_flush_forget(struct sink *s, void *arg)
{
	for (struct flushwait **p = &s->flushes; *p;) {
		struct flushwait *f = *p;

		if (f->arg == arg) {
			*p = f->next;
			free(f);
		} else {
			p = &f->next;
		}
	}
}

void stats_flushes_check(struct sink *s)
{
	struct flushwait *ready = NULL, **p = &s->flushes, *f;
	int st;

	sched_mark_held(s);
	/* (taken off the list first: a done may ask for another FLUSH) */
	while ((f = *p) != NULL) {
		if ((st = flush_state(s, f)) == 1) {
			p = &f->next;
			continue;
		}
		*p = f->next;
		f->next = ready;
		ready = f;
		f->upto = (uint64_t)st;     /* (now: how it ended) */
	}
	while ((f = ready) != NULL) {
		ready = f->next;
		f->done(f->arg, f->upto == 2);
		free(f);
	}
}

void stats_free(struct sink *s)
{
	while (s->flushes) {
		struct flushwait *f = s->flushes;

		s->flushes = f->next;
		free(f);
	}
	free(s->rejects);
	s->rejects = NULL;
}
