/* The conflict clause of INSERTs that pass through (clause.h): find them, ask the sink, rewrite the text. */
#include "proxy/clause.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "protocol/insert_find.h"
#include "protocol/pgenc.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "proxy/client.h"
#include "proxy/copyin.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "proxy/pending.h"
#include "proxy/view.h"
#include "sink/buf.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

struct edit {
	size_t at;                  /* in the client's text */
	char *clause;               /* in the client's encoding */
};

struct plan {
	struct ins_sites sites;
	struct pgenc_text u8;       /* the text as UTF-8, when the session's encoding is another */
	struct edit *edits;
	int nedits;
	char error[512];            /* the statement cannot be sent: why */
	int err_site;               /* the INSERT it is about (its statement is
	                               replaced), or -1: the whole text */
	char hint[256];
	const char *sqlstate;       /* of the error: 0A000 unless said */
	char state[6];              /* (sqlstate's storage when it is not a constant) */
	bool query;                 /* a Query's text (else a Parse's) */
	int copy_site;              /* a COPY FROM that goes through a staging table (copyin.h), or -1 */
	struct sink_copy cp;        /* its statements */
	struct copyin *copy_info;   /* built: what its answer needs (the Query's entry takes it) */
};

static void plan_free(struct plan *p)
{
	for (int i = 0; i < p->nedits; i++)
		free(p->edits[i].clause);
	free(p->edits);
	free(p->cp.create);
	free(p->cp.insert);
	free(p->cp.relname);
	copyin_free(p->copy_info);
	free(p->cp.schema);
	ins_sites_free(&p->sites);
	pgenc_text_free(&p->u8);
}

static const char *encoding(const struct client *c)
{
	return c->is.settings[3] ? c->is.settings[3] : "UTF8";
}

static void table_name(const struct ins_stmt *h, char *buf, size_t len)
{
	if (h->schema.name)
		snprintf(buf, len, "%s.%s", h->schema.name, h->table.name);
	else
		snprintf(buf, len, "%s", h->table.name);
}

/* Whether a site names a configured table (the sink decides for certain). */
static bool wanted(const struct client *c, const struct ins_site *s)
{
	return !s->own_clause && sink_wants(c->d->sink, &s->head, c->database);
}

/* Whether sql[0..len) is the statement of site s and nothing else (space, comments, ';'). */
static bool alone(const char *sql, size_t len, const struct ins_site *s)
{
	bool bad = false;
	size_t i = sql_skip_space(sql, len, 0, &bad);

	if (bad || i != s->stmt_start)
		return false;
	for (i = s->stmt_end;; i++) {
		i = sql_skip_space(sql, len, i, &bad);
		if (bad || i >= len)
			return !bad;
		if (sql[i] != ';')
			return false;
	}
}

/* Site i's table's catalog cannot be read: its clause is not known. The
 * statement fails as an INSERT the sink takes does then: with the catalog's
 * error (a conflictkey no unique index matches: 42P10). */
static enum clause_result no_catalog(struct client *c, struct plan *p, int i)
{
	char name[160], why[256];

	table_name(&p->sites.v[i].head, name, sizeof(name));
	sink_clause_error(c->is.ss, &p->sites.v[i].head, p->state, why, sizeof(why));
	p->sqlstate = p->state;
	p->err_site = i;
	if (why[0])
		snprintf(p->error, sizeof(p->error), "%s", why);
	else
		snprintf(p->error, sizeof(p->error), "pgbatchd cannot read the catalog of table \"%s\" now, so it "
			 "cannot give the statement the table's conflict clause", name);
	snprintf(p->hint, sizeof(p->hint), "pgbatchd's log says why it could not read the table's catalog.");
	return CLAUSE_NEW;
}

/* A COPY FROM site of a configured table: its staging statement, or p->error. */
static enum clause_result ask_copy(struct client *c, struct plan *p, int i, const char *sql, size_t len,
				   bool can_wait)
{
	struct ins_site *s = &p->sites.v[i];
	char name[160];

	table_name(&s->head, name, sizeof(name));
	if (!p->query || !alone(sql, len, s)) {
		/* (no way to tell its CommandComplete from the others', nor to stage in a Parse) */
		char *cl = NULL;
		enum sink_clause r = sink_clause(c->is.ss, &s->head, true, can_wait, c->database, &cl);

		free(cl);
		if (r == SINK_CLAUSE_NONE || !sink_copies(c->is.ss, &s->head))
			return CLAUSE_AS_SENT;
		if (r == SINK_CLAUSE_UNKNOWN)
			return no_catalog(c, p, i);
		if (r == SINK_CLAUSE_WAIT) {
			c->is.clause_wait = true;
			return CLAUSE_WAIT;
		}
		p->err_site = i;
		snprintf(p->error, sizeof(p->error), "COPY into \"%s\" gets the table's conflict clause only when "
			 "it is sent alone, as a simple Query", name);
		snprintf(p->hint, sizeof(p->hint), "Send the COPY as a Query of its own, or set copyclause = 0 "
			 "for the table.");
		return CLAUSE_NEW;
	}
	switch (sink_copy(c->is.ss, &s->head, can_wait, c->database, COPYIN_STAGE, &p->cp)) {
	case SINK_CLAUSE_UNKNOWN:
		return no_catalog(c, p, i);
	case SINK_CLAUSE_NONE:
	case SINK_CLAUSE_COLUMNS:
		return CLAUSE_AS_SENT;
	case SINK_CLAUSE_WAIT:
		c->is.clause_wait = true;
		return CLAUSE_WAIT;
	case SINK_CLAUSE_SOME:
		break;
	}
	if (p->cp.refusal[0]) {
		p->err_site = i;
		snprintf(p->error, sizeof(p->error), "%s", p->cp.refusal);
		snprintf(p->hint, sizeof(p->hint), "Set copyclause = 0 for the table to run COPY as sent.");
		return CLAUSE_NEW;
	}
	p->copy_site = i;
	return CLAUSE_NEW;
}

/* The clause of each site, into p->edits; p->error when one cannot be placed. */
static enum clause_result ask(struct client *c, struct plan *p, const char *sql, size_t len, bool converted,
			      bool can_wait)
{
	const char *enc = encoding(c);

	p->edits = calloc((size_t)p->sites.n, sizeof(*p->edits));
	if (p->edits == NULL) {
		snprintf(p->error, sizeof(p->error), "out of memory");
		return CLAUSE_NEW;
	}
	for (int i = 0; i < p->sites.n; i++) {
		struct ins_site *s = &p->sites.v[i];
		char *cl = NULL, name[160];
		size_t n;

		if (!wanted(c, s))
			continue;
		if (s->copy) {
			enum clause_result r = ask_copy(c, p, i, sql, len, can_wait);

			if (r != CLAUSE_AS_SENT)
				return r;
			continue;
		}
		if (s->unsure) {
			p->err_site = i;
			table_name(&s->head, name, sizeof(name));
			snprintf(p->error, sizeof(p->error), "pgbatchd cannot tell where the conflict clause of an "
				 "INSERT into \"%s\" goes", name);
			return CLAUSE_NEW;
		}
		switch (sink_clause(c->is.ss, &s->head, s->width_known && !s->odd, can_wait, c->database, &cl)) {
		case SINK_CLAUSE_NONE:
			continue;
		case SINK_CLAUSE_UNKNOWN:
			return no_catalog(c, p, i);
		case SINK_CLAUSE_WAIT:
			c->is.clause_wait = true;  /* intercept_tx_wake resumes it */
			return CLAUSE_WAIT;
		case SINK_CLAUSE_COLUMNS:
			p->err_site = i;
			table_name(&s->head, name, sizeof(name));
			snprintf(p->error, sizeof(p->error),
				 "pgbatchd cannot tell which columns an INSERT into \"%s\" sets, and the table's "
				 "conflict clause depends on them", name);
			snprintf(p->hint, sizeof(p->hint), "Name the columns: INSERT INTO %s (...) ...", name);
			return CLAUSE_NEW;
		case SINK_CLAUSE_SOME:
			break;
		}
		p->edits[p->nedits].at = converted ? p->u8.from[s->at] : s->at;
		if (!pgenc_reads_as_utf8(enc, cl, strlen(cl))) {     /* a non-ASCII column name */
			char *back = pgenc_from_utf8(enc, cl, strlen(cl), &n);

			free(cl);
			if (back == NULL) {
				table_name(&s->head, name, sizeof(name));
				snprintf(p->error, sizeof(p->error),
					 "the conflict clause of table \"%s\" cannot be written in client_encoding %s",
					 name, enc);
				return CLAUSE_NEW;
			}
			cl = back;
		}
		p->edits[p->nedits++].clause = cl;
	}
	return p->nedits ? CLAUSE_NEW : CLAUSE_AS_SENT;
}

/* currval() or lastval() called in the text. */
static bool reads_sequence(const char *sql, size_t len, bool scs_off)
{
	struct sql_lexer lx;
	struct sql_token t;
	bool named = false;

	sql_lex_init(&lx, sql, len);
	lx.scs_off = scs_off;
	while (sql_lex_next(&lx, &t) != SQL_EOF && t.type != SQL_ERROR) {
		if (named && t.type == SQL_PUNCT && t.ch == '(')
			return true;
		named = sql_word_is(&lx, &t, "currval") || sql_word_is(&lx, &t, "lastval");
	}
	return false;
}

/* The session reads its sequence state after pgbatchd wrote rows of its
 * with other connections' (a table with a sequence default): currval() would
 * fail 55000 or, worse, give a value of an earlier INSERT. It gets a clear
 * error instead, and that table's INSERTs pass through from now on. */
static bool stale_sequence(struct client *c, const char *sql, size_t len, struct plan *p)
{
	if (!sink_session_seq_taken(c->is.ss) || !reads_sequence(sql, len, c->is.scs_odd))
		return false;
	sink_session_seq_pass(c->is.ss);
	p->sqlstate = "55000";
	snprintf(p->error, sizeof(p->error), "currval() and lastval() do not follow INSERTs that pgbatchd "
		 "batched into a table with a sequence default: they were written by another connection");
	snprintf(p->hint, sizeof(p->hint), "From now on this session's INSERTs into such tables run on its "
		 "own connection: run the INSERT again, or use INSERT ... RETURNING.");
	return true;
}

/* The sites of sql[0..len) in the session's encoding and string setting, and their clauses. */
static enum clause_result plan_text(struct client *c, const char *sql, size_t len, bool query, bool can_wait,
				    bool can_ask, struct plan *p)
{
	const char *enc = encoding(c);
	bool converted = false, any = false;
	enum ins_find_result fr;

	memset(p, 0, sizeof(*p));
	p->err_site = -1;
	p->copy_site = -1;
	p->query = query;
	if (!pgenc_reads_as_utf8(enc, sql, len)) {
		converted = pgenc_to_utf8(enc, sql, len, &p->u8);
		if (!converted) {
			/* read as it is: a site of a configured table is not placed for certain */
			fr = ins_find(sql, len, c->is.scs_odd, &p->sites);
			for (int i = 0; fr == INS_FIND_OK && i < p->sites.n; i++)
				if (wanted(c, &p->sites.v[i])) {
					snprintf(p->error, sizeof(p->error),
						 "pgbatchd cannot read this statement in client_encoding %s to place the "
						 "conflict clause of table \"%s\"", enc, p->sites.v[i].head.table.name);
					return CLAUSE_NEW;
				}
			return CLAUSE_AS_SENT;
		}
		sql = p->u8.s;
		len = p->u8.len;
	}
	if (stale_sequence(c, sql, len, p))
		return CLAUSE_NEW;
	fr = ins_find(sql, len, c->is.scs_odd, &p->sites);
	if (fr == INS_FIND_LEXERR)
		return CLAUSE_AS_SENT;      /* PostgreSQL refuses the whole text */
	if (fr == INS_FIND_NOMEM) {
		snprintf(p->error, sizeof(p->error), "out of memory");
		return CLAUSE_NEW;
	}
	for (int i = 0; i < p->sites.n && !any; i++)
		any = wanted(c, &p->sites.v[i]);
	if (!any)
		return CLAUSE_AS_SENT;
	/* an unqualified name resolves by the session's search_path */
	if (c->is.ss == NULL && !intercept_open_session(c)) {
		snprintf(p->error, sizeof(p->error), "out of memory");
		return CLAUSE_NEW;
	}
	/* the view is asked with a Query of pgbatchd's, which an extended-protocol
	 * group not yet synced would hold up: there it is as last asked */
	switch (can_ask ? view_ready(c, false) : VIEW_OK) {
	case VIEW_OK:
	case VIEW_NONE:             /* unknown: an unqualified name gets no clause */
		break;
	case VIEW_WAIT:
		return CLAUSE_WAIT;
	}
	return ask(c, p, sql, len, converted, can_wait);   /* (in a read-only transaction: 25006 all the same) */
}

/* A statement the backend raises p->error with: it fails there, and its
 * transaction with it. */
static void raise_stmt(struct client *c, const struct plan *p, struct buf *out)
{
	const char *enc = encoding(c);
	struct buf b;
	char *text;
	size_t n;

	log_warning(c->prefix, "an INSERT is refused: %s", p->error);
	buf_init(&b);
	buf_printf(&b, "DO $pgbatchd$BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = E'",
		   p->sqlstate ? p->sqlstate : "0A000");
	for (const char *s = p->error; *s; s++) {
		if (*s == '\'' || *s == '\\')
			buf_putc(&b, *s);
		buf_putc(&b, *s);
	}
	buf_puts(&b, "', HINT = E'");
	for (const char *s = p->hint; *s; s++) {
		if (*s == '\'' || *s == '\\')
			buf_putc(&b, *s);
		buf_putc(&b, *s);
	}
	buf_puts(&b, "'; END$pgbatchd$");
	if (!buf_ok(&b) || strstr(b.data + 16, "$pgbatchd$") != b.data + b.len - 10) {
		buf_puts(out, "DO $pgbatchd$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = "
			      "'pgbatchd cannot place the conflict clause of this INSERT'; END$pgbatchd$");
	} else if (!pgenc_reads_as_utf8(enc, b.data, b.len) &&
		   (text = pgenc_from_utf8(enc, b.data, b.len, &n)) != NULL) {
		buf_append(out, text, n);
		free(text);
	} else {
		buf_append(out, b.data, b.len);
	}
	buf_free(&b);
}

/* The SQL text with every clause in place; when p->error, the statement of
 * the INSERT it is about (or the whole text) replaced by one that raises it:
 * the statements before it run as sent, those after it would not run anyway. */
static bool build(struct client *c, const char *sql, size_t len, struct plan *p, struct buf *out)
{
	size_t from = 0, cut = len, resume = len;

	if (p->copy_site >= 0 && !p->error[0]) {
		struct copyin *info = NULL;

		if (copyin_build(sql, len, p->u8.s ? p->u8.s : sql, p->u8.s ? p->u8.len : len,
				 p->u8.s ? p->u8.from : NULL, &p->sites.v[p->copy_site], &p->cp, encoding(c), out,
				 &info)) {
			p->copy_info = info;
			return true;
		}
		buf_reset(out);
		p->err_site = p->copy_site;
		snprintf(p->error, sizeof(p->error), "COPY into \"%s\" cannot be given its conflict clause in "
			 "client_encoding %s", p->cp.relname, encoding(c));
	}

	if (p->error[0] && p->err_site >= 0) {
		const struct ins_site *s = &p->sites.v[p->err_site];

		cut = p->u8.s ? p->u8.from[s->stmt_start] : s->stmt_start;
		resume = p->u8.s ? p->u8.from[s->stmt_end] : s->stmt_end;
	} else if (p->error[0]) {
		cut = 0;
	}
	for (int i = 0; i < p->nedits && p->edits[i].at <= cut; i++) {
		buf_append(out, sql + from, p->edits[i].at - from);
		buf_putc(out, '\n');
		buf_puts(out, p->edits[i].clause);
		buf_putc(out, '\n');
		from = p->edits[i].at;
	}
	buf_append(out, sql + from, cut - from);
	if (p->error[0])
		raise_stmt(c, p, out);
	buf_append(out, sql + resume, len - resume);
	return buf_ok(out);
}

/* Skipped outright: no sink for this database, or no INSERT (and no
 * currval() that could read a sequence of a batched INSERT) in the text. (In
 * an aborted transaction too the clause goes in: a ROLLBACK TO before the
 * INSERT in the same Query or group makes it run.) */
static bool nothing_to_do(const struct client *c, const char *sql, size_t len)
{
	return c->d->sink == NULL || !sink_serves(c->d->sink, c->database) ||
	       (!ins_mentions2(sql, len, "insert", "copy") &&
		!(sink_session_seq_taken(c->is.ss) && (ins_mentions(sql, len, "currval") || ins_mentions(sql, len, "lastval"))));
}

/* The Query is one INSERT of constants into a configured table that changes
 * nothing of the session (sink_insert_inert), RETURNING plain columns if
 * anything: the ORM's INSERT ... RETURNING id. The view, true before it, is
 * true after it: the next one is not held up by asking it again. */
static bool inert(const struct client *c, const char *sql, size_t len, const struct plan *p)
{
	struct ins_stmt st;
	enum ins_reason why;

	if (p->sites.n != 1 || p->error[0] || p->u8.s || c->is.scs_odd || !view_fresh(c) ||
	    p->sites.v[0].copy || !wanted(c, &p->sites.v[0]) || !alone(sql, len, &p->sites.v[0]))
		return false;
	why = ins_parse(sql, len, &st);
	if (why == INS_OK)
		ins_stmt_free(&st);
	else if (why != INS_RETURNING || !ins_returning_plain(sql, len, false))
		return false;
	return sink_insert_inert(c->is.ss, &p->sites.v[0].head, c->database);
}

/* A Query message with every clause in place (malloc'd), or NULL: as sent. */
static struct pktbuf *query_rewrite(struct client *c, const uint8_t *msg, size_t total, bool can_wait,
				    enum clause_result *res, bool *inert_out)
{
	struct pktreader r;
	struct plan p;
	struct buf out;
	struct pktbuf *m;
	const char *sql;
	size_t len;

	*res = CLAUSE_AS_SENT;
	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (!rd_cstring(&r, &sql, &len) || !rd_at_end(&r) || nothing_to_do(c, sql, len))
		return NULL;
	*res = plan_text(c, sql, len, true, can_wait, can_wait && !c->is.in_group, &p);
	if (*res != CLAUSE_WAIT && inert_out)
		*inert_out = inert(c, sql, len, &p);
	if (*res == CLAUSE_WAIT && !can_wait) {
		/* its decision came now: a catalog read again since cannot wait */
		snprintf(p.error, sizeof(p.error), "the catalog of a table this statement inserts into is being "
			 "read again: pgbatchd cannot place its conflict clause now");
		snprintf(p.hint, sizeof(p.hint), "Try the statement again.");
		*res = CLAUSE_NEW;
	}
	if (*res != CLAUSE_NEW || (m = calloc(1, sizeof(*m))) == NULL) {
		if (*res == CLAUSE_NEW)
			*res = CLAUSE_AS_SENT;
		plan_free(&p);
		return NULL;
	}
	buf_init(&out);
	pkt_init(m);
	if (build(c, sql, len, &p, &out)) {
		pkt_begin(m, 'Q');
		pkt_put_bytes(m, out.data, out.len);
		pkt_put_u8(m, 0);
		pkt_end(m);
	}
	buf_free(&out);
	if (!pkt_ok(m) || m->len == 0 || m->len > UINT32_MAX / 2) {
		plan_free(&p);
		pkt_free(m);
		free(m);
		*res = CLAUSE_AS_SENT;      /* no memory: as sent */
		return NULL;
	}
	if (p.copy_info) {
		copyin_free(c->is.copy_next);
		c->is.copy_next = p.copy_info;     /* its Query's entry takes it (expect_reply) */
		p.copy_info = NULL;
	}
	plan_free(&p);
	return m;
}

enum clause_result clause_query(struct client *c, struct evbuffer *in, size_t total)
{
	enum clause_result res;
	bool inert_query = false;
	struct pktbuf *m = query_rewrite(c, evbuffer_pullup(in, (ssize_t)total), total, true, &res,
					 &inert_query);

	c->is.inert_query = inert_query && res != CLAUSE_WAIT;
	if (m == NULL)
		return res;
	evbuffer_drain(in, total);
	evbuffer_prepend(in, m->data, m->len);
	pkt_free(m);
	free(m);
	return CLAUSE_NEW;
}

bool clause_query_now(struct client *c, uint8_t **msg, uint32_t *len)
{
	enum clause_result res;
	struct pktbuf *m = query_rewrite(c, *msg, *len, false, &res, NULL);

	if (m == NULL)
		return false;
	free(*msg);
	*msg = m->data;
	*len = (uint32_t)m->len;
	free(m);
	return true;
}

/* The highest $n of a statement's text. */
static int max_param(const char *sql, size_t len, bool scs_off)
{
	struct sql_lexer lx;
	struct sql_token t;
	int max = 0;

	sql_lex_init(&lx, sql, len);
	lx.scs_off = scs_off;
	while (sql_lex_next(&lx, &t) != SQL_EOF && t.type != SQL_ERROR)
		if (t.type == SQL_PARAM) {
			long n = strtol(sql + t.pos + 1, NULL, 10);

			if (n > max && n <= 65535)
				max = (int)n;
		}
	return max;
}

enum clause_result clause_parse(struct client *c, const uint8_t *msg, size_t total, uint8_t **outmsg, size_t *outlen)
{
	struct pktreader r;
	struct plan p;
	struct buf out;
	struct pktbuf m;
	enum clause_result res;
	const char *name, *sql;
	size_t len;
	uint16_t ntypes;
	uint32_t type;
	int pad = 0;

	rd_init(&r, msg + PKT_HDR_LEN, total - PKT_HDR_LEN);
	if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &sql, &len) || !rd_u16(&r, &ntypes) ||
	    nothing_to_do(c, sql, len))
		return CLAUSE_AS_SENT;
	res = plan_text(c, sql, len, false, true, !c->is.in_group, &p);
	if (res != CLAUSE_NEW) {
		plan_free(&p);
		return res;
	}
	/* the failing statement takes the parameters the client will bind */
	if (p.error[0])
		pad = max_param(sql, len, c->is.scs_odd) - ntypes;
	buf_init(&out);
	pkt_init(&m);
	if (build(c, sql, len, &p, &out)) {
		pkt_begin(&m, 'P');
		pkt_put_cstring(&m, name);
		pkt_put_bytes(&m, out.data, out.len);
		pkt_put_u8(&m, 0);
		pkt_put_u16(&m, (uint16_t)(ntypes + (pad > 0 ? pad : 0)));
		/* unspecified types (0) would be 42P18 in a statement that does not use them */
		for (int i = 0; i < ntypes && rd_u32(&r, &type); i++)
			pkt_put_u32(&m, p.error[0] && type == 0 ? 25 : type);
		for (int i = 0; i < pad; i++)
			pkt_put_u32(&m, 25);    /* text */
		pkt_end(&m);
	}
	plan_free(&p);
	buf_free(&out);
	if (!pkt_ok(&m) || m.len == 0 || m.len > UINT32_MAX / 2) {
		pkt_free(&m);
		return CLAUSE_AS_SENT;
	}
	*outmsg = (uint8_t *)m.data;
	*outlen = m.len;
	return CLAUSE_NEW;
}
