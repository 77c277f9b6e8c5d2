/* INSERT interception in a client session: recognize, hand rows to the sink, queue the reply. */
#include "proxy/intercept.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "conf/config.h"
#include "protocol/insert.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "proxy/clause.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/direct.h"
#include "proxy/extq.h"
#include "proxy/pending.h"
#include "proxy/pstmt.h"
#include "proxy/txn.h"
#include "proxy/view.h"
#include "common/log.h"
#include "common/pool.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

static bool starts_with_word(const char *sql, size_t len, const char *word);
static const char *query_text(const uint8_t *body, size_t len, size_t *sqllen);

/* The settings that change how a literal reads (the sink compares them). */
static const char *const setting_names[4] = { "TimeZone", "DateStyle", "IntervalStyle", "client_encoding" };

bool intercept_wanted(const struct client *c, uint8_t type, uint32_t len)
{
	return (type == 'Q' || type == 'P' || type == 'B' || type == 'D' || type == 'E' || type == 'C' ||
		type == 'S' || type == 'H') &&
	       c->d->sink != NULL && len <= (uint32_t)c->d->cfg->max_inspect_bytes;
}

bool intercept_big_query(const struct client *c, uint8_t type, uint32_t len)
{
	return type == 'Q' && c->d->sink != NULL && len > (uint32_t)c->d->cfg->max_inspect_bytes &&
	       len <= (uint32_t)c->d->cfg->max_insert_bytes;
}

void intercept_count_pass(struct client *c, int slot, const char *why)
{
	c->d->istats.passthrough[slot]++;
	log_debug(c->prefix, "INSERT passes through: %s", why);
}

/* (pendings and their messages come from the pool: one of each per row,
 * freed when its batch commits) */
static void orig_free(struct pending *p)
{
	if (p->orig_pooled)
		pool_free(p->orig, p->orig_len);
	else
		free(p->orig);
	p->orig = NULL;
	p->orig_pooled = false;
}

/* orig made a malloc'd block (what clause_query_now replaces); false when
 * out of memory (it stays as it was). */
static bool orig_unpool(struct pending *p)
{
	uint8_t *m;

	if (!p->orig_pooled)
		return true;
	if ((m = malloc(p->orig_len)) == NULL)
		return false;
	memcpy(m, p->orig, p->orig_len);
	pool_free(p->orig, p->orig_len);
	p->orig = m;
	p->orig_pooled = false;
	return true;
}

static void pending_free(struct pending *p)
{
	orig_free(p);
	pool_free(p, sizeof(*p));
}

struct pending *pending_new(struct client *c)
{
	struct pending *p = pool_zalloc(sizeof(*p));

	if (p == NULL)
		return NULL;
	pending_link(c, p);
	return p;
}

void pending_link(struct client *c, struct pending *p)
{
	p->client = c;
	p->prev = NULL;
	p->next = c->is.pending;
	if (c->is.pending)
		c->is.pending->prev = p;
	else
		c->is.pending_oldest = p;
	c->is.pending = p;
}

/* O(1): units settle oldest first, and a session may hold thousands. */
static void unlink_pending(struct client *c, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else if (c->is.pending == p)
		c->is.pending = p->next;
	else
		return;                 /* not linked */
	if (p->next)
		p->next->prev = p->prev;
	else
		c->is.pending_oldest = p->prev;
	p->next = p->prev = NULL;
}

void pending_abandon(struct client *c, struct pending *p)
{
	unlink_pending(c, p);
	pending_free(p);
}

/* The message taken goes to the backend after all, in its place in the queue. */
static void forward_original(struct client *c, struct pending *p)
{
	view_stale(c);
	rq_forward(&c->rq, p->entry);
	client_to_backend(c, p->orig, p->orig_len);
	orig_free(p);
}

/* The sink decided: send "INSERT 0 n", the error, or pass the message through. */
static void on_reply(void *arg, const struct sink_reply *r)
{
	struct pending *p = arg;
	struct client *c = p->client;
	struct rq_entry *e = p->entry;

	p->replied = true;
	if (p->g) {
		extq_reply(p, r);
		return;
	}
	switch (r->status) {
	case SINK_DONE:
		if (r->warning)
			pkt_diag(rq_answer(e), 'N', r->warning);
		pkt_insert_complete(rq_answer(e), r->rows);
		pkt_ready(rq_answer(e), p->tx_status);
		break;
	case SINK_ERROR:
		pkt_diag(rq_answer(e), 'E', r->error);
		pkt_ready(rq_answer(e), p->tx_status);
		break;
	case SINK_PASSTHROUGH:
		/* Later messages waited for this decision, so order holds. */
		intercept_count_pass(c, PASS_AT_SINK, r->reason ? r->reason : "sink");
		if (orig_unpool(p))
			(void)clause_query_now(c, &p->orig, &p->orig_len);     /* its conflict clauses */
		if (p->next) {
			/* a session's statements commit in the order sent: this one runs
			 * after the rows of its earlier INSERTs are written */
			p->pass_deferred = true;
			p->replied = false;
			(void)intercept_must_wait(c);
			return;
		}
		forward_original(c, p);
		p->entry = NULL;
		client_continue(c);
		return;
	}
	if (!pkt_ok(rq_answer(e))) {
		pkt_reset(rq_answer(e));
		pkt_error(rq_answer(e), "ERROR", "53200", "out of memory", NULL, NULL);
		pkt_ready(rq_answer(e), p->tx_status);
	}
	rq_ready(e);
	p->entry = NULL;
	orig_free(p);
	client_continue(c);
}

bool intercept_unsettled(struct client *c)
{
	for (struct pending *p = c->is.pending; p; p = p->next)
		sink_flush_unit(p->unit);
	return c->is.pending != NULL;
}

static void free_settled(struct client *c, struct pending *p)
{
	direct_forget(c, p);
	unlink_pending(c, p);
	if (p->g)
		extq_settled(p);
	pending_free(p);
}

static void on_settled(void *arg)
{
	struct pending *p = arg, *q;
	struct client *c = p->client;

	if (p->pass_deferred) {
		p->unit_gone = true;    /* forwarded (and freed) in its turn */
		p->unit = NULL;
		return;
	}
	free_settled(c, p);
	/* the oldest units left may be pass-throughs that waited for this one */
	for (;;) {
		q = c->is.pending_oldest;
		if (q == NULL || !q->pass_deferred)
			break;
		q->pass_deferred = false;
		q->replied = true;
		forward_original(c, q);
		q->entry = NULL;
		if (!q->unit_gone)
			break;
		free_settled(c, q);
	}
	client_continue(c);
}

/* A statement of a unit built statement by statement is decided. */
static void on_decided(void *stmt_arg, const char *reason)
{
	if (stmt_arg)
		txn_decided(stmt_arg, reason);
}

bool intercept_must_wait(struct client *c)
{
	struct pending *p;
	bool wait = false;

	if (c->is.pending == NULL)
		return false;
	for (p = c->is.pending; p; p = p->next) {
		if (!p->replied || c->d->cfg->readyourwrites) {
			sink_flush_unit(p->unit);
			wait = true;
		}
	}
	return wait;
}

bool intercept_undecided(struct client *c)
{
	bool wait = false;

	for (struct pending *p = c->is.pending; p; p = p->next)
		if (!p->replied) {
			sink_flush_unit(p->unit);
			wait = true;
		}
	return wait;
}

void intercept_cancel(struct client *c)
{
	struct pending *p, *oldest = NULL;

	/* the statement running is the oldest one not yet answered */
	for (p = c->is.pending; p; p = p->next)
		if (!p->replied && p->unit)
			oldest = p;
	if (oldest)
		sink_unit_cancel(oldest->unit, "57014", "canceling statement due to user request");
}

void intercept_server_gone(struct client *c)
{
	for (struct pending *p = c->is.pending; p; p = p->next)
		if (!p->replied && p->unit)
			sink_unit_cancel(p->unit, "57P01", "terminating connection due to administrator command");
	direct_session_end(c);
	/* the client hears nothing more of them: the backend's FATAL is its answer */
	intercept_session_end(c);
}

void intercept_session_end(struct client *c)
{
	struct pending *p;

	while ((p = c->is.pending) != NULL) {
		direct_forget(c, p);
		c->is.pending = p->next;
		if (c->is.pending == NULL)
			c->is.pending_oldest = NULL;
		if (p->g)
			extq_settled(p);
		pending_free(p);
	}
	sink_session_close(c->is.ss);
	c->is.ss = NULL;
}

/* The settings that change how a literal reads, as the session's backend reports them. */
void intercept_param(struct client *c, const char *name, const char *value)
{
	if (c->is.ss)
		sink_session_setting(c->is.ss, name, value);
	if (strcmp(name, "client_encoding") == 0)
		c->is.enc_odd = !(strcasecmp(value, "UTF8") == 0 || strcasecmp(value, "UTF-8") == 0);
	else if (strcmp(name, "standard_conforming_strings") == 0)
		c->is.scs_odd = strcmp(value, "on") != 0;
	c->is.odd_settings = c->is.enc_odd || c->is.scs_odd;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, setting_names[i]) == 0) {
			free(c->is.settings[i]);
			c->is.settings[i] = strdup(value);
		}
}

/* A statement passing through: note what makes the sink's catalog stale. */
/* A custom setting in the startup packet: a dotted parameter name, or one in
 * options ("-c app.user=x", "--app.user=x"). */
static bool startup_custom(const struct client *c)
{
	for (char **p = c->params; p && p[0]; p += 2) {
		if (strchr(p[0], '.'))
			return true;
		if (strcmp(p[0], "options") != 0 || p[1] == NULL)
			continue;
		for (const char *s = p[1]; *s;) {
			size_t n = strcspn(s, " \t");
			const char *eq = memchr(s, '=', n);

			if (eq && memchr(s, '.', (size_t)(eq - s)))
				return true;
			s += n;
			s += strspn(s, " \t");
		}
	}
	return false;
}

/* A statement that passes through sets a custom setting (which the view
 * cannot see: pg_settings does not list placeholders): the session's INSERTs
 * pass through from now on, where a trigger reads it as directly. */
static void note_custom(struct client *c, const char *sql, size_t len)
{
	if (c->is.custom_settings || !ins_sets_custom(sql, len, c->is.scs_odd))
		return;
	c->is.custom_settings = true;
	log_debug(c->prefix, "a custom setting: its INSERTs pass through");
	if (c->is.ss)
		sink_session_custom(c->is.ss);
}

void intercept_note_statement(struct client *c, const char *sql, size_t len)
{
	static const char *const ddl[] = { "alter", "drop", "create", "grant", "revoke", "truncate",
					   "comment", "security", "reindex", "cluster", "vacuum", NULL };
	const char *const *w;

	if (c->d->sink == NULL)
		return;
	note_custom(c, sql, len);
	for (w = ddl; *w; w++)
		if (starts_with_word(sql, len, *w)) {
			c->is.ddl_seen = true;
			break;
		}
	/* the sink's catalog cannot see DDL of this transaction: its INSERTs
	 * are not staged any more, until it ends */
	if (starts_with_word(sql, len, "alter") || starts_with_word(sql, len, "drop") ||
	    starts_with_word(sql, len, "create"))
		c->is.tx_ddl = true;
	/* a client that sets savepoints recovers from a statement's error by
	 * rolling back to one (psql's ON_ERROR_ROLLBACK, pgjdbc's autosave,
	 * ORMs): each INSERT's error must be its own from now on, so its
	 * INSERTs are not staged any more in this transaction */
	if (starts_with_word(sql, len, "savepoint"))
		c->is.tx_savepoint = true;
}

/* ReadyForQuery: DDL seen in this session is committed (or rolled back) now. */
void intercept_ready(struct client *c, char tx_status)
{
	if (tx_status == 'I') {
		c->is.tx_ddl = c->is.tx_savepoint = false;
		view_tx_end(c);
	}
	if (c->is.ddl_seen && tx_status == 'I' && c->d->sink) {
		c->is.ddl_seen = false;
		sink_catalog_invalidate(c->d->sink, NULL, NULL);
	}
}

static void tx_wake(struct client *c)
{
	if (c->is.clause_wait) {
		c->is.clause_wait = false;
		client_continue(c);
	}
	txn_wake(c);
}

void intercept_tx_wake(void *arg)
{
	client_each(arg, tx_wake);
}

void intercept_room(void *arg)
{
	client_release_all(arg, HOLD_ROOM);
}

/* A forwarded statement's answer is still due: the transaction state after it
 * is unknown until its ReadyForQuery. */
enum fwd_state { FWD_NONE, FWD_RUNNING, FWD_OPEN_GROUP };

static enum fwd_state forward_pending(const struct client *c)
{
	if (c->is.in_group)
		return FWD_OPEN_GROUP;
	return rq_backend_owes(&c->rq) ? FWD_RUNNING : FWD_NONE;
}

static bool starts_with_word(const char *sql, size_t len, const char *word)
{
	size_t n = strlen(word), pos;
	bool bad = false;

	pos = sql_skip_space(sql, len, 0, &bad);
	if (bad || len - pos < n || strncasecmp(sql + pos, word, n) != 0)
		return false;
	return len - pos == n || !(isalnum((unsigned char)sql[pos + n]) || sql[pos + n] == '_' ||
				   sql[pos + n] == '$' || (unsigned char)sql[pos + n] >= 0x80);
}

/* The Query's SQL text, or NULL when the message is malformed (the backend
 * then answers it as PostgreSQL does). */
static const char *query_text(const uint8_t *body, size_t len, size_t *sqllen)
{
	struct pktreader r;
	const char *sql;

	rd_init(&r, body, len);
	if (!rd_cstring(&r, &sql, sqllen) || !rd_at_end(&r))
		return NULL;
	return sql;
}

bool intercept_open_session(struct client *c)
{
	struct sink_client sc;

	memset(&sc, 0, sizeof(sc));
	sc.user = c->user;
	sc.prefix = c->prefix;
	sc.peer = c->peer;
	sc.reply = on_reply;
	sc.settled = on_settled;
	sc.decided = on_decided;
	sc.direct = direct_offer;
	c->is.ss = sink_session_open(c->d->sink, &sc);
	if (c->is.ss == NULL)
		return false;
	if (c->is.custom_settings || startup_custom(c))
		sink_session_custom(c->is.ss);
	for (int i = 0; i < 4; i++)
		if (c->is.settings[i])
			sink_session_setting(c->is.ss, setting_names[i], c->is.settings[i]);
	return true;
}

static enum intercept_result query_message(struct client *c, struct evbuffer *in, size_t total);

enum intercept_result intercept_message(struct client *c, uint8_t type, struct evbuffer *in,
					size_t total)
{
	enum intercept_result res;
	const char *sql;
	uint8_t *msg;
	size_t sqllen;

	msg = evbuffer_pullup(in, (ssize_t)total);
	if (type == 'P') {
		/* DDL and search_path are watched in every Parse */
		struct pktreader r;
		const char *name;

		rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
		if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &sql, &sqllen)) {
			intercept_note_statement(c, sql, sqllen);
			if (c->is.ss && !ins_looks_like_insert(sql, sqllen))
				sink_session_busy(c->is.ss);       /* (not an INSERT: not waited for) */
		}
	}
	if (type != 'Q')
		return extq_message(c, type, in, total);
	c->is.inert_query = false;         /* (clause_query says, for this one) */
	pstmt_client_query(c);
	/* a Query ends an unsynced group: what it held goes first */
	if (!extq_before_forward(c, 'Q'))
		return INTERCEPT_WAIT;
	/* decided already when it waited for its clause (a catalog, the view) */
	res = c->is.clause_wait_msg || c->is.query_decided ? INTERCEPT_FORWARD : query_message(c, in, total);
	c->is.clause_wait_msg = false;
	if (res != INTERCEPT_FORWARD)
		return res;
	/* not taken. In a transaction block the staged rows go first: their
	 * triggers may change what its names mean, so its clauses wait. */
	msg = evbuffer_pullup(in, (ssize_t)total);
	sql = query_text(msg + PKT_HDR_LEN, total - PKT_HDR_LEN, &sqllen);
	if (txn_gate(c, sql, sqllen) != TG_GO) {
		c->is.clause_wait_msg = true;
		return INTERCEPT_WAIT;
	}
	/* it passes through with its tables' conflict clauses */
	switch (clause_query(c, in, total)) {
	case CLAUSE_WAIT:
		c->is.clause_wait_msg = true;
		return INTERCEPT_WAIT;
	case CLAUSE_NEW:
		msg = evbuffer_pullup(in, PKT_HDR_LEN);
		total = 1 + ((size_t)msg[1] << 24 | (size_t)msg[2] << 16 | (size_t)msg[3] << 8 | msg[4]);
		break;
	case CLAUSE_AS_SENT:
		break;
	}
	msg = evbuffer_pullup(in, (ssize_t)total);
	sql = query_text(msg + PKT_HDR_LEN, total - PKT_HDR_LEN, &sqllen);
	/* BEGIN and COMMIT change nothing the view holds; what it learned in
	 * the transaction is forgotten as its end goes (a statement after it
	 * need not wait for its ReadyForQuery: clause.c) */
	switch (ins_tx_plain(sql, sqllen)) {
	case 1:
		c->is.inert_query = true;
		break;
	case 2:
		c->is.inert_query = !view_asked_in_tx(c);
		break;
	}
	c->is.query_decided = true;     /* (until intercept_forwarding: it may wait to go) */
	return INTERCEPT_FORWARD;
}

static enum intercept_result query_message(struct client *c, struct evbuffer *in, size_t total)
{
	struct daemon *d = c->d;
	struct ins_stmt st;
	struct pending *p;
	enum ins_reason why;
	const char *sql;
	uint8_t *msg;
	size_t sqllen;

	msg = evbuffer_pullup(in, (ssize_t)total);
	sql = query_text(msg + PKT_HDR_LEN, total - PKT_HDR_LEN, &sqllen);
	if (sql == NULL)
		return INTERCEPT_FORWARD;
	if (!ins_looks_like_insert(sql, sqllen)) {
		intercept_note_statement(c, sql, sqllen);
		if (c->is.ss)
			sink_session_busy(c->is.ss);       /* (not an INSERT: not waited for) */
		/* WITH ... INSERT is never carried, but it is counted. */
		if (starts_with_word(sql, sqllen, "with")) {
			why = ins_parse(sql, sqllen, &st);
			if (why == INS_OK)
				ins_stmt_free(&st);
			else if (why != INS_NOT_INSERT)
				intercept_count_pass(c, why, ins_reason_name(why));
		}
		return INTERCEPT_FORWARD;
	}
	if (c->is.odd_settings) {
		note_custom(c, sql, sqllen);
		intercept_count_pass(c, PASS_AT_SETTINGS, "client_encoding or standard_conforming_strings");
		return INTERCEPT_FORWARD;
	}
	switch (forward_pending(c)) {
	case FWD_NONE:
		break;
	case FWD_RUNNING:
		/* The transaction state after the statements still running decides
		 * whether this INSERT may be taken: wait for their ReadyForQuery. */
		c->is.waiting_forward = true;
		return INTERCEPT_WAIT;
	case FWD_OPEN_GROUP:
		/* Extended-protocol messages without their Sync yet: no ReadyForQuery
		 * will come before this Query is relayed. */
		note_custom(c, sql, sqllen);
		intercept_count_pass(c, PASS_AT_TXBLOCK, "inside an unsynced extended-protocol group");
		return INTERCEPT_FORWARD;
	}
	if (c->tx_status != 'I' && !txn_can_stage(c)) {
		/* it runs as sent, with its table's conflict clause (clause.c) */
		note_custom(c, sql, sqllen);
		intercept_count_pass(c, PASS_AT_TXBLOCK, "in a transaction block");
		return INTERCEPT_FORWARD;
	}
	why = ins_parse(sql, sqllen, &st);
	if (why != INS_OK) {
		note_custom(c, sql, sqllen);    /* (INSERT ...; SET app.x = ..., set_config() in VALUES) */
		intercept_count_pass(c, why, ins_reason_name(why));
		return INTERCEPT_FORWARD;
	}
	if (!sink_wants(d->sink, &st, c->database)) {
		ins_stmt_free(&st);
		return INTERCEPT_FORWARD;
	}
	/* the session's role, search_path and settings, as its backend has them
	 * (its own settings matter to a write on the sink's connections only) */
	switch (view_ready(c, c->tx_status == 'I')) {
	case VIEW_OK:
		break;
	case VIEW_WAIT:
		ins_stmt_free(&st);
		return INTERCEPT_WAIT;
	case VIEW_NONE:
		ins_stmt_free(&st);
		intercept_count_pass(c, PASS_AT_SETTINGS, "the session's settings are not known");
		return INTERCEPT_FORWARD;
	}
	if (view_read_only(c)) {
		ins_stmt_free(&st);
		intercept_count_pass(c, PASS_AT_SETTINGS, "a read-only transaction");
		return INTERCEPT_FORWARD;
	}
	if (sink_full(d->sink)) {
		/* Backpressure: stop reading this client until the sink drains. */
		ins_stmt_free(&st);
		client_hold(c, HOLD_ROOM);
		return INTERCEPT_WAIT;
	}
	if (c->is.ss == NULL && !intercept_open_session(c)) {
		ins_stmt_free(&st);
		return INTERCEPT_FORWARD;   /* no memory to take it: the backend runs it */
	}
	if (c->tx_status == 'T') {
		enum intercept_result res;

		/* a session's statements keep their order: its earlier units first */
		if (intercept_unsettled(c)) {
			ins_stmt_free(&st);
			return INTERCEPT_WAIT;
		}
		sink_session_seq_own(c->is.ss, &st);     /* its nextval() is the session's own */
		res = txn_stage_query(c, &st, in, total);
		if (res == INTERCEPT_WAIT)
			ins_stmt_free(&st);
		return res;
	}
	p = pool_zalloc(sizeof(*p));
	if (p && (p->orig = pool_alloc(total)) != NULL) {
		p->orig_pooled = true;
		p->orig_len = (uint32_t)total;      /* (what pool_free is given back) */
	}
	if (p == NULL || p->orig == NULL || (p->entry = client_own_reply(c, 'Q')) == NULL) {
		if (p)
			pending_free(p);
		ins_stmt_free(&st);
		return INTERCEPT_FORWARD;   /* no memory to take it: the backend runs it */
	}
	evbuffer_remove(in, p->orig, total);
	pending_link(c, p);
	d->istats.messages++;
	d->istats.rows += (uint64_t)st.nrows;

	p->tx_status = c->tx_status;
	p->unit = sink_submit(c->is.ss, &st, p);
	if (p->unit == NULL) {
		/* no memory to take it: the backend runs it */
		unlink_pending(c, p);
		forward_original(c, p);
		pending_free(p);
		return INTERCEPT_TAKEN;
	}
	sink_unit_set_timeout(p->unit, view_statement_timeout(c));
	return INTERCEPT_TAKEN;
}

void intercept_forwarding(struct client *c, uint8_t type, struct evbuffer *in, size_t total)
{
	const char *sql;
	size_t sqllen;

	if (type == 'Q')
		c->is.query_decided = false;
	if (type != 'Q' || c->is.stmts == NULL)
		return;
	pstmt_client_query(c);
	if (evbuffer_get_length(in) < total)
		return;
	sql = query_text(evbuffer_pullup(in, (ssize_t)total) + PKT_HDR_LEN, total - PKT_HDR_LEN, &sqllen);
	if (sql)
		pstmt_query(c, sql, sqllen);
}

_Static_assert((int)PASS_AT_TXBLOCK == (int)INS_REASON_COUNT, "enum pass_slot follows enum ins_reason");
_Static_assert(PASS_SLOTS <= sizeof(((struct intercept_stats *)0)->passthrough) / sizeof(uint64_t),
	       "intercept_stats.passthrough is too short");

const char *intercept_pass_name(int slot)
{
	static const char *const names[] = {
		[PASS_AT_TXBLOCK - PASS_AT_TXBLOCK] = "transaction",
		[PASS_AT_SINK - PASS_AT_TXBLOCK] = "sink",
		[PASS_AT_SETTINGS - PASS_AT_TXBLOCK] = "settings",
		[PASS_AT_GROUP - PASS_AT_TXBLOCK] = "group",
	};

	if (slot >= 0 && slot < INS_REASON_COUNT)
		return ins_reason_name((enum ins_reason)slot);
	if (slot >= PASS_AT_TXBLOCK && slot < PASS_SLOTS)
		return names[slot - PASS_AT_TXBLOCK];
	return NULL;
}

void intercept_log_stats(const struct daemon *d)
{
	char line[1024];
	size_t n;
	int i;

	n = (size_t)snprintf(line, sizeof(line), "intercepted messages=%llu rows=%llu; passthrough:",
			     (unsigned long long)d->istats.messages, (unsigned long long)d->istats.rows);
	for (i = 1; i < PASS_SLOTS && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu", intercept_pass_name(i),
				      (unsigned long long)d->istats.passthrough[i]);
	log_info(NULL, "stats: %s", line);
}
