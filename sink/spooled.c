/* ackmode = spool in the sink: units recorded in the spool and answered once durable, their ids in the batch ledger, and the replay at start-up. */
#include "sink/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "sink/pgconn.h"
#include "sink/spool.h"

#define REPLAY_PREFIX "spool replay"
#define REC_VERSION 1
#define NO_STR UINT32_MAX
#define MAX_COLS 1600          /* (PostgreSQL's most columns of a table) */

/*
 * A record is what the unit's INSERTs were when the sink took them, and whose
 * they were: the session's user, role and the settings a literal reads
 * (SINK_SETTINGS), then each statement with its table as configured (schema
 * and name, so no search_path is needed to find it again), its columns as
 * written and its values as parsed (kind, bound type, text). The replay runs
 * them through the sink as new units of a session with that user, role and
 * settings: converted by the table's catalog as the first time, batched, and
 * recorded in the ledger with the same ids.
 */

/* The replay: records read back, checked against the ledger, written again. */
struct replay;

/* A record's unit, as the replay session's callbacks see it. */
struct rslot {
	struct replay *r;
	size_t idx;
	bool retry;                 /* refused for a reason that passes: submitted again */
};

struct replay {
	struct sink *s;
	const struct spool_rec *recs;
	struct rslot *slots;
	size_t n, next;
	size_t nretry;              /* slots to submit again once those before are answered */
	bool retrying;              /* a pass over those */
	bool ledger_read;
	uint64_t *written;          /* seqs the ledger holds, sorted */
	size_t nwritten;
	struct sink_session *ss;    /* of the records being submitted */
	const uint8_t *ss_head;     /* their user, role and settings (in the record) */
	size_t ss_head_len;
	size_t unplaced;            /* submitted, not yet answered */
	size_t skipped, submitted, failed;
	struct event *retry_ev;
	int64_t start_ms;
};

static void replay_next(struct replay *r);

/* ---- the record ---- */

static void put_u32(struct buf *b, uint32_t v)
{
	char c[4];

	for (int i = 0; i < 4; i++)
		c[i] = (char)(v >> (8 * i));
	buf_append(b, c, 4);
}

static void put_str(struct buf *b, const char *s, size_t len)
{
	put_u32(b, s ? (uint32_t)len : NO_STR);
	if (s)
		buf_append(b, s, len);
}

void spooled_stmt(struct sink_unit *u, const struct stable *tab, const struct ins_stmt *st)
{
	struct buf *b = u->spool_body;
	size_t nv = (size_t)st->nrows * (size_t)st->nvals;

	if (b == NULL) {
		b = u->spool_body = calloc(1, sizeof(*b));
		if (b == NULL)
			return;
		buf_init(b);
	}
	put_str(b, tab->conf.targetschema, strlen(tab->conf.targetschema));
	put_str(b, tab->conf.name, strlen(tab->conf.name));
	put_u32(b, (uint32_t)st->ncols);
	for (int i = 0; i < st->ncols; i++) {
		put_str(b, st->cols[i].name, strlen(st->cols[i].name));
		buf_putc(b, st->cols[i].quoted ? 1 : 0);
	}
	put_u32(b, (uint32_t)st->nrows);
	put_u32(b, (uint32_t)st->nvals);
	put_u32(b, (uint32_t)st->nparams);
	for (size_t i = 0; i < nv; i++) {
		const struct ins_value *v = &st->values[i];

		buf_putc(b, (char)v->kind);
		put_u32(b, v->typoid);
		put_u32(b, (uint32_t)v->param);
		put_str(b, v->text, v->len);
		put_str(b, v->cast, v->cast ? strlen(v->cast) : 0);
	}
	u->spool_nstmts++;
}

/* The session's part: user, role, settings. */
static void put_head(struct buf *b, const struct sink_session *ss)
{
	buf_putc(b, REC_VERSION);
	put_str(b, ss->user, strlen(ss->user));
	put_str(b, ss->role, ss->role ? strlen(ss->role) : 0);
	buf_putc(b, SINK_SETTINGS);
	for (int i = 0; i < SINK_SETTINGS; i++)
		put_str(b, ss->settings[i], ss->settings[i] ? strlen(ss->settings[i]) : 0);
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint32_t get_u32(struct rd *r)
{
	uint32_t v = 0;

	if (r->len - r->off < 4) {
		r->bad = true;
		return 0;
	}
	for (int i = 3; i >= 0; i--)
		v = v << 8 | r->p[r->off + (size_t)i];
	r->off += 4;
	return v;
}

static uint8_t get_u8(struct rd *r)
{
	if (r->off >= r->len) {
		r->bad = true;
		return 0;
	}
	return r->p[r->off++];
}

/* A string copied into the arena (NUL-terminated); NULL for none. */
static char *get_str(struct rd *r, char **arena, size_t *len)
{
	uint32_t n = get_u32(r);
	char *s;

	if (r->bad || n == NO_STR)
		return NULL;
	if (r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	s = *arena;
	memcpy(s, r->p + r->off, n);
	s[n] = '\0';
	*arena += n + 1;
	r->off += n;
	if (len)
		*len = n;
	return s;
}

/* One statement of a record as the parser would have made it. False when
 * the record does not read (then *st is empty). */
static bool get_stmt(struct rd *r, struct ins_stmt *st)
{
	size_t start = r->off, nv, room = r->len - r->off;
	uint32_t ncols, nrows, nvals;
	char *arena, *a;

	memset(st, 0, sizeof(*st));
	/* first the counts, to size one block for all of it (a value takes 17
	 * bytes of the record at least) */
	{
		struct rd q = *r;
		uint32_t n;

		for (int k = 0; k < 2 && !q.bad; k++)
			if ((n = get_u32(&q)) != NO_STR)
				q.off += n;
		ncols = get_u32(&q);
		if (q.bad || q.off > q.len || ncols > MAX_COLS)
			return false;
		for (uint32_t i = 0; i < ncols && !q.bad && q.off <= q.len; i++) {
			if ((n = get_u32(&q)) != NO_STR)
				q.off += n;
			if (q.off < q.len)
				q.off++;
		}
		nrows = get_u32(&q);
		nvals = get_u32(&q);
		if (q.bad || q.off > q.len || nvals > MAX_COLS || (uint64_t)nrows * nvals > room / 17 + 1)
			return false;
	}
	nv = (size_t)nrows * nvals;
	arena = malloc(ncols * sizeof(struct ins_name) + nv * sizeof(struct ins_value) + room + 1);
	if (arena == NULL)
		return false;
	st->arena = arena;
	st->cols = ncols ? (struct ins_name *)(void *)arena : NULL;
	st->values = (struct ins_value *)(void *)(arena + ncols * sizeof(struct ins_name));
	a = arena + ncols * sizeof(struct ins_name) + nv * sizeof(struct ins_value);
	st->schema.name = get_str(r, &a, NULL);
	st->schema.quoted = true;
	st->table.name = get_str(r, &a, NULL);
	st->table.quoted = true;
	st->ncols = (int)get_u32(r);
	for (int i = 0; i < st->ncols && !r->bad; i++) {
		st->cols[i].name = get_str(r, &a, NULL);
		st->cols[i].quoted = get_u8(r) != 0;
		r->bad |= st->cols[i].name == NULL;
	}
	st->nrows = (int)get_u32(r);
	st->nvals = (int)get_u32(r);
	st->nparams = (int)get_u32(r);
	for (size_t i = 0; i < nv && !r->bad; i++) {
		struct ins_value *v = &st->values[i];

		v->kind = (enum ins_kind)get_u8(r);
		v->typoid = get_u32(r);
		v->param = (int)get_u32(r);
		v->text = get_str(r, &a, &v->len);
		v->cast = get_str(r, &a, NULL);
		r->bad |= v->kind > INS_PARAM;
	}
	if (r->bad || st->schema.name == NULL || st->table.name == NULL) {
		free(st->arena);
		memset(st, 0, sizeof(*st));
		r->off = start;
		return false;
	}
	return true;
}

/* ---- the live path ---- */

static void unit_failed(struct sink_unit *u, const char *sqlstate, const char *msg)
{
	struct berr *e = berr_new(sqlstate, msg, NULL, NULL);

	/* never acknowledged: it fails as a commit-mode unit does, its rows
	 * unwritten and its client told */
	u->spool_seq = 0;
	u->spool_wait = false;
	u->ack = ACK_COMMIT;
	if (!sched_cancel(u, e))
		log_error(SINK_PREFIX, "a unit that the spool refused is past its queue");
	berr_unref(e);
}

void spooled_append(struct sink_unit *u)
{
	struct sink *s = u->s;
	struct buf rec;
	uint64_t seq;

	bool whole = u->spool_nstmts == u->nstmts && u->spool_body && buf_ok(u->spool_body);

	buf_init(&rec);
	put_head(&rec, u->ss);
	put_u32(&rec, (uint32_t)u->spool_nstmts);
	if (whole)
		buf_append(&rec, u->spool_body->data, u->spool_body->len);
	spooled_body_free(u);
	if (!whole) {
		/* a statement of an immediate table came before the first of a
		 * spool table (it is not in the record), or memory ran out while
		 * it was made: answered once written, the stronger promise */
		buf_free(&rec);
		u->ack = ACK_COMMIT;
		return;
	}
	seq = buf_ok(&rec) ? spool_append(s->spool, rec.data, rec.len, u) : 0;
	buf_free(&rec);
	if (seq == 0) {
		unit_failed(u, "53200", "out of memory writing to the spool");
		return;
	}
	u->spool_seq = seq;
	u->spool_wait = true;
}

void spooled_body_free(struct sink_unit *u)
{
	if (u->spool_body) {
		buf_free(u->spool_body);
		free(u->spool_body);
		u->spool_body = NULL;
	}
}

/* The spool is not full any more: the clients it held are read again. */
static void on_room(void *arg)
{
	struct sink *s = arg;

	if (!s->full) {
		s->room_due = true;
		schedule_notify(s);
	}
}

/* The spool's answer for a unit appended. */
static void on_durable(void *arg, void *owner, const char *err)
{
	struct sink *s = arg;
	struct sink_unit *u = owner;

	if (u->state == U_SETTLED || u->state == U_DECIDED)
		return;         /* (failed meanwhile: a shutdown past its timeout) */
	if (err) {
		unit_failed(u, "53100", err);
		return;
	}
	u->spool_wait = false;
	unit_acked(u);
	if (u->state == U_QUEUED)
		writer_kick(s->writers[u->widx]);
}

void spooled_release(struct sink_unit *u)
{
	struct sink *s = u->s;

	if (u->spool_wait && s->spool) {
		/* freed before the spool answered (a shutdown past its timeout):
		 * its record stays, for the next start */
		spool_disown(s->spool, u->spool_seq);
		u->spool_wait = false;
		return;
	}
	if (u->spool_seq == 0 || s->spool == NULL || u->spool_keep || u->state != U_SETTLED)
		return;         /* (kept: the next start writes it; a refused replay unit: the replay's) */
	spool_release(s->spool, u->spool_seq);
	u->spool_seq = 0;
}

void spooled_fence_sql(const struct sink *s, struct buf *sql)
{
	buf_printf(sql, "SELECT pg_catalog.pg_advisory_xact_lock_shared(%lld)", (long long)spool_id(s->spool));
	if (s->spool_owner && s->spool_gen)
		buf_printf(sql, ", 1 / (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s WHERE spool = %lld AND "
			   "gen = %llu FOR SHARE) f)::int", s->spool_owner, (long long)spool_id(s->spool),
			   (unsigned long long)s->spool_gen);
}

bool spooled_in_batch(const struct batch *b)
{
	for (size_t i = 0; i < b->nunits; i++)
		if (b->units[i]->spool_seq)
			return true;
	return false;
}

bool spooled_ledger_sql(const struct sink *s, const struct batch *b, struct buf *sql)
{
	bool any = false;

	for (size_t i = 0; i < b->nunits; i++) {
		uint64_t seq = b->units[i]->spool_seq;

		if (seq == 0)
			continue;
		if (!any)
			buf_printf(sql, "INSERT INTO %s (instance, id, spool, units) VALUES (%lld, %llu, %lld, '{",
				   s->ledger, (long long)s->instance, (unsigned long long)b->id,
				   (long long)spool_id(s->spool));
		else
			buf_putc(sql, ',');
		buf_printf(sql, "%" PRIu64, seq);
		any = true;
	}
	if (any)
		buf_puts(sql, "}')");
	return any;
}

/* ---- the replay ---- */

/* A refusal that may pass: the catalog could not be read (its connection,
 * a lock), the table is stopped until RESUME, resources. */
static bool refusal_passes(const struct sink_reply *rep)
{
	const char *c;

	if (rep->status == SINK_PASSTHROUGH)
		return rep->reason && strcmp(rep->reason, pass_reason_text(PASS_CATALOG_LOCKED)) == 0;
	c = rep->error ? rep->error->f[pkt_diag_index('C')] : NULL;
	return c && (strncmp(c, "08", 2) == 0 || strncmp(c, "53", 2) == 0 || strncmp(c, "55", 2) == 0 ||
		     strncmp(c, "57", 2) == 0 || strncmp(c, "40", 2) == 0 || strcmp(c, "XX000") == 0);
}

/* The record's statements as SQL, for the log: what an operator runs to
 * write them by hand. */
static void record_sql(const struct spool_rec *rec, struct buf *out)
{
	struct rd rd = { rec->data, rec->len, 0, false };
	char *arena = malloc(rec->len + 1), *a = arena;
	uint32_t n;

	if (arena == NULL)
		return;
	(void)get_u8(&rd);
	(void)get_str(&rd, &a, NULL);
	(void)get_str(&rd, &a, NULL);
	for (int i = get_u8(&rd); i > 0; i--)
		(void)get_str(&rd, &a, NULL);
	n = get_u32(&rd);
	for (uint32_t k = 0; k < n && !rd.bad; k++) {
		struct ins_stmt st;

		if (!get_stmt(&rd, &st))
			break;
		buf_puts(out, k ? "; INSERT INTO " : "INSERT INTO ");
		sg_ident(out, st.schema.name);
		buf_putc(out, '.');
		sg_ident(out, st.table.name);
		for (int c = 0; c < st.ncols; c++) {
			buf_puts(out, c ? ", " : " (");
			sg_ident(out, st.cols[c].name);
		}
		buf_puts(out, st.ncols ? ") VALUES " : " VALUES ");
		for (int row = 0; row < st.nrows; row++) {
			buf_puts(out, row ? ", (" : "(");
			for (int v = 0; v < st.nvals; v++) {
				const struct ins_value *x = &st.values[(size_t)row * (size_t)st.nvals + (size_t)v];

				buf_puts(out, v ? ", " : "");
				if (x->kind == INS_DEFAULT)
					buf_puts(out, "DEFAULT");
				else if (x->text == NULL)
					buf_puts(out, "NULL");
				else
					sg_literal(out, x->text, x->len);
			}
			buf_putc(out, ')');
		}
		ins_stmt_free(&st);
	}
	free(arena);
}

static void replay_reply(void *arg, const struct sink_reply *rep)
{
	struct rslot *sl = arg;
	struct replay *r = sl->r;
	const struct spool_rec *rec = &r->recs[sl->idx];
	const char *why = rep->status == SINK_ERROR && rep->error && rep->error->f[pkt_diag_index('M')] ?
			  rep->error->f[pkt_diag_index('M')] : rep->reason ? rep->reason : "not taken";

	if (rep->status != SINK_DONE && refusal_passes(rep)) {
		/* kept in the spool: submitted again once these are answered */
		log_warning(REPLAY_PREFIX, "unit %" PRIu64 " of the spool is refused for now (%s): it is "
			    "submitted again in a second", rec->seq, why);
		sl->retry = true;
		r->nretry++;
	} else if (rep->status != SINK_DONE) {
		struct buf sql;

		r->failed++;
		buf_init(&sql);
		record_sql(rec, &sql);
		log_error(REPLAY_PREFIX, "unit %" PRIu64 " of the spool, acknowledged, cannot be written (%s); "
			  "its statements: %s", rec->seq, why, buf_ok(&sql) ? sql.data : "(out of memory)");
		buf_free(&sql);
		spool_release(r->s->spool, rec->seq);
	}
	if (--r->unplaced == 0)
		replay_next(r);
}

static void replay_settled(void *arg)
{
	(void)arg;
}

static void replay_decided(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
}

static bool replay_direct(void *arg, struct sink_unit *u)
{
	(void)arg;
	(void)u;
	return false;
}

/* A session for records of this head: user, role, settings. */
static bool replay_session(struct replay *r, struct rd *rd)
{
	struct sink *s = r->s;
	size_t head_start = rd->off, len;
	char *arena = malloc(rd->len + 1), *a = arena, *user, *role, *set[SINK_SETTINGS];
	struct sink_client c = { 0 };

	if (arena == NULL)
		return false;
	if (get_u8(rd) != REC_VERSION) {
		free(arena);
		return false;
	}
	user = get_str(rd, &a, NULL);
	role = get_str(rd, &a, NULL);
	if (get_u8(rd) != SINK_SETTINGS || user == NULL) {
		free(arena);
		return false;
	}
	for (int i = 0; i < SINK_SETTINGS; i++)
		set[i] = get_str(rd, &a, NULL);
	len = rd->off - head_start;
	if (rd->bad) {
		free(arena);
		return false;
	}
	if (r->ss && r->ss_head_len == len && memcmp(r->ss_head, rd->p + head_start, len) == 0) {
		free(arena);
		return true;
	}
	if (r->ss)
		sink_session_close(r->ss);
	c.user = user;
	c.prefix = REPLAY_PREFIX;
	c.reply = replay_reply;
	c.settled = replay_settled;
	c.decided = replay_decided;
	c.direct = replay_direct;
	r->ss = sink_session_open(s, &c);
	if (r->ss) {
		r->ss->replay = true;
		if (role)
			sink_session_role(r->ss, role);
		for (int i = 0; i < SINK_SETTINGS; i++)
			if (set[i])
				sink_session_setting(r->ss, sink_setting_names[i], set[i]);
	}
	r->ss_head = rd->p + head_start;
	r->ss_head_len = len;
	free(arena);
	return r->ss != NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool was_written(const struct replay *r, uint64_t seq)
{
	return r->nwritten && bsearch(&seq, r->written, r->nwritten, sizeof(seq), cmp_u64) != NULL;
}

/* The record's statements as a unit of its session. */
static bool replay_one(struct replay *r, const struct spool_rec *rec)
{
	struct rd rd = { rec->data, rec->len, 0, false };
	struct ins_stmt *sts;
	uint32_t n, got;
	bool ok = true;

	if (!replay_session(r, &rd))
		return false;
	n = get_u32(&rd);
	if (rd.bad || n == 0 || n > rec->len)
		return false;
	sts = calloc(n, sizeof(*sts));
	if (sts == NULL)
		return false;
	for (got = 0; got < n && ok; got++)
		ok = get_stmt(&rd, &sts[got]);
	if (ok)
		ok = unit_replay(r->ss, &r->slots[rec - r->recs], rec->seq, sts, (int)n);     /* (consumes them) */
	else
		for (uint32_t i = 0; i < got; i++)
			ins_stmt_free(&sts[i]);
	free(sts);
	if (ok)
		r->unplaced++;
	return ok;
}

static void replay_done(struct replay *r)
{
	struct sink *s = r->s;

	if (r->ss)
		sink_session_close(r->ss);
	r->ss = NULL;
	log_info(REPLAY_PREFIX, "%zu units read back from the spool: %zu were written before, %zu written again, "
		 "%zu could not be (the log above says why) in %lld ms", r->n, r->skipped, r->submitted - r->failed,
		 r->failed, (long long)(sink_now_ms() - r->start_ms));
	s->replay_hold = false;
	s->replay = NULL;
	spool_recovered_free(s->spool);
	free(r->written);
	free(r->slots);
	if (r->retry_ev)
		event_free(r->retry_ev);
	free(r);
	intake_wake(s);
}

static void replay_next(struct replay *r)
{
	struct timeval tv = { 1, 0 };

	while (r->next < r->n) {
		size_t i = r->next;
		const struct spool_rec *rec = &r->recs[i];

		if (r->retrying && !r->slots[i].retry) {
			r->next++;
			continue;
		}
		if (!r->retrying && was_written(r, rec->seq)) {
			spool_release(r->s->spool, rec->seq);
			r->skipped++;
			r->next++;
			continue;
		}
		/* a record of another session: once those before are placed (the
		 * order of placement is the order of the keys' writes) */
		if (r->unplaced > 0 && r->ss &&
		    !(rec->len > r->ss_head_len && memcmp(rec->data, r->ss_head, r->ss_head_len) == 0))
			return;
		r->next++;
		if (r->retrying) {
			r->slots[i].retry = false;
			r->nretry--;
		} else {
			r->submitted++;
		}
		if (!replay_one(r, rec)) {
			r->failed++;
			log_error(REPLAY_PREFIX, "unit %" PRIu64 " of the spool does not read as one: it is not written",
				  rec->seq);
			spool_release(r->s->spool, rec->seq);
		}
	}
	if (r->unplaced > 0)
		return;
	if (r->nretry > 0) {
		/* the refused ones again, in their order, in a second */
		r->retrying = true;
		r->next = 0;
		event_add(r->retry_ev, &tv);
		return;
	}
	replay_done(r);
}

static void ask_ledger(struct replay *r);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct replay *r = arg;

	(void)fd;
	(void)what;
	if (r->ledger_read)
		replay_next(r);
	else
		ask_ledger(r);
}

static void on_ledger(void *arg, const struct pc_result *res)
{
	struct replay *r = arg;
	struct timeval tv = { 1, 0 };
	const PGresult *rows;
	int n;

	if (res && !res->ok && !r->s->ledger_ok) {
		log_warning(REPLAY_PREFIX, "the batch ledger cannot be used (%s): the spool's %zu units are written "
			    "again, those written before too (at-least-once)", res->message ? res->message : "", r->n);
		r->ledger_read = true;
		replay_next(r);
		return;
	}
	if (res == NULL || !res->ok || res->rows == NULL) {
		log_warning(REPLAY_PREFIX, "cannot read the ledger (%s): asked again in a second; INSERTs into "
			    "the tables wait for the spool's units", res && res->message ? res->message : "no connection");
		event_add(r->retry_ev, &tv);
		return;
	}
	/* (the third statement's: this start's generation; the fourth's: the
	 * ledger's rows) */
	if (res->nresults < 4 || PQresultStatus(res->results[2]) != PGRES_TUPLES_OK ||
	    PQntuples(res->results[2]) != 1 || PQresultStatus(res->results[3]) != PGRES_TUPLES_OK) {
		event_add(r->retry_ev, &tv);
		return;
	}
	r->s->spool_gen = strtoull(PQgetvalue(res->results[2], 0, 0), NULL, 10);
	rows = res->results[3];
	n = PQntuples(rows);
	free(r->written);
	r->nwritten = 0;
	r->written = calloc((size_t)n + 1, sizeof(*r->written));
	if (r->written == NULL) {
		event_add(r->retry_ev, &tv);
		return;
	}
	for (int i = 0; i < n; i++)
		r->written[r->nwritten++] = strtoull(PQgetvalue(rows, i, 0), NULL, 10);
	qsort(r->written, r->nwritten, sizeof(*r->written), cmp_u64);
	log_info(REPLAY_PREFIX, "%zu units in the spool; the ledger has %zu of this spool's written "
		 "(generation %llu)", r->n, r->nwritten, (unsigned long long)r->s->spool_gen);
	r->ledger_read = true;
	replay_next(r);
}

static void ask_ledger(struct replay *r)
{
	struct sink *s = r->s;
	struct buf sql;

	uint64_t id = spool_id(s->spool);

	/* A batch of an earlier pgbatchd on this spool may still run on a
	 * connection whose client is gone (killed; its last Query has COMMIT in
	 * it): its outcome must be known before the ledger is read. Each batch
	 * holds the spool's advisory lock, shared, in its transaction: those
	 * holding it now are ended, and the lock is taken once they are (in the
	 * Query's implicit transaction: an error leaves nothing held). */
	/* A Query of such a batch still unread in its backend's socket when
	 * this runs would take the lock after it: each batch also checks, FOR
	 * SHARE, that the spool's generation is its start's; this one is bumped
	 * here (waiting for those holding the row), so such a batch fails. */
	buf_init(&sql);
	buf_printf(&sql, "SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(l.pid)) FROM pg_catalog.pg_locks l "
		   "WHERE l.locktype = 'advisory' AND l.classid = %u AND l.objid = %u AND l.objsubid = 1 "
		   "AND l.pid <> pg_catalog.pg_backend_pid(); SELECT pg_catalog.pg_advisory_xact_lock(%lld); ",
		   (unsigned)(id >> 32), (unsigned)(id & 0xffffffffu), (long long)id);
	if (s->spool_owner)
		buf_printf(&sql, "INSERT INTO %s AS o (spool, gen) VALUES (%lld, 1) ON CONFLICT (spool) "
			   "DO UPDATE SET gen = o.gen + 1 RETURNING gen; ", s->spool_owner, (long long)id);
	else
		buf_puts(&sql, "SELECT 0; ");
	buf_printf(&sql, "SELECT u FROM %s, pg_catalog.unnest(units) u WHERE spool = %lld", s->ledger, (long long)id);
	if (buf_ok(&sql))
		catalog_query(s->catalog, sql.data, on_ledger, r);
	else
		on_ledger(r, NULL);
	buf_free(&sql);
}

static void on_forgotten(void *arg, const struct pc_result *res)
{
	(void)arg;
	if (res == NULL || !res->ok)
		log_warning(REPLAY_PREFIX, "cannot delete the ledger's rows of the spool's previous id (%s): "
			    "they stay, harmless", res && res->message ? res->message : "no connection");
}

bool spooled_open(struct sink *s, const struct config *cfg)
{
	struct replay *r;

	if (cfg->spool_dir == NULL || cfg->spool_dir[0] == '\0')
		return true;
	s->spool = spool_open(cfg->spool_dir, cfg->spool_max_bytes, cfg->spool_salvage);
	if (s->spool == NULL || !spool_start(s->spool, s->base, on_durable, on_room, s))
		return false;
	if (spool_previous_id(s->spool)) {
		/* the spool was emptied and has a new id: the old one's rows go */
		char sql[256];

		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE spool = %lld", s->ledger,
			 (long long)spool_previous_id(s->spool));
		catalog_query(s->catalog, sql, on_forgotten, NULL);
		if (s->spool_owner) {
			snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE spool = %lld", s->spool_owner,
				 (long long)spool_previous_id(s->spool));
			catalog_query(s->catalog, sql, on_forgotten, NULL);
		}
	}
	/* even with nothing to read back: this start's generation is taken
	 * before any spooled unit is written */
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return false;
	r->s = s;
	r->n = spool_recovered(s->spool, &r->recs);
	r->start_ms = sink_now_ms();
	r->retry_ev = evtimer_new(s->base, on_retry, r);
	r->slots = calloc(r->n + 1, sizeof(*r->slots));
	if (r->retry_ev == NULL || r->slots == NULL) {
		if (r->retry_ev)
			event_free(r->retry_ev);
		free(r->slots);
		free(r);
		return false;
	}
	for (size_t i = 0; i < r->n; i++)
		r->slots[i] = (struct rslot){ r, i, false };
	s->replay = r;
	s->replay_hold = true;     /* new INSERTs wait: the spool's go first */
	ask_ledger(r);
	return true;
}

void spooled_close(struct sink *s)
{
	struct replay *r = s->replay;

	if (r) {
		free(r->written);
		free(r->slots);
		if (r->retry_ev)
			event_free(r->retry_ev);
		free(r);
		s->replay = NULL;
	}
	spool_close(s->spool);
	s->spool = NULL;
}

void spooled_stats(const struct sink *s, struct spool_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->spool)
		spool_stats(s->spool, out);
}
