/* The session's prepared statements as pgbatchd knows them: which are INSERTs it may take, which the backend has, their parameter types. */
#include "proxy/pstmt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "protocol/binval.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/pending.h"
#include "proxy/replyq.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

/* ---------------------------------------------------------- statements -- */

void pstmt_unref(struct pstmt *ps)
{
	if (ps == NULL || --ps->refs > 0)
		return;
	free(ps->name);
	free(ps->parse);
	free(ps->types);
	ins_stmt_free(&ps->tmpl);
	pkt_free(&ps->error);
	pkt_free(&ps->describe);
	free(ps);
}

struct pstmt *pstmt_ref(struct pstmt *ps)
{
	ps->refs++;
	return ps;
}

struct pstmt *pstmt_lookup(struct client *c, const char *name)
{
	struct pstmt *ps;

	for (ps = c->is.stmts; ps; ps = ps->next)
		if (strcmp(ps->name, name) == 0)
			return ps;
	return NULL;
}

const char *pstmt_sql(const struct pstmt *ps, size_t *len)
{
	struct pktreader r;
	const char *name, *sql;

	rd_init(&r, ps->parse + PKT_HDR_LEN, ps->parse_len - PKT_HDR_LEN);
	if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &sql, len))
		return NULL;
	return sql;
}

void pstmt_unregister(struct client *c, struct pstmt *ps)
{
	struct pstmt **pp;

	if (!ps->registered)
		return;
	for (pp = &c->is.stmts; *pp; pp = &(*pp)->next)
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	ps->registered = false;
	ps->next = NULL;
	pstmt_unref(ps);
}

void pstmt_unregister_all(struct client *c)
{
	while (c->is.stmts)
		pstmt_unregister(c, c->is.stmts);
}

/* A statement of the Parse message body; NULL when malformed. */
struct pstmt *pstmt_new(struct client *c, const uint8_t *msg, uint32_t len)
{
	struct pktreader r;
	struct pstmt *ps;
	const char *name, *sql;
	size_t namelen, sqllen;
	uint16_t n;
	uint32_t t;

	rd_init(&r, msg + PKT_HDR_LEN, len - PKT_HDR_LEN);
	if (!rd_cstring(&r, &name, &namelen) || !rd_cstring(&r, &sql, &sqllen) || !rd_u16(&r, &n))
		return NULL;
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return NULL;
	ps->refs = 1;
	pkt_init(&ps->error);
	pkt_init(&ps->describe);
	ps->name = strdup(name);
	ps->parse = malloc(len);
	ps->types = calloc((size_t)n + 1, sizeof(*ps->types));
	if (!ps->name || !ps->parse || !ps->types) {
		pstmt_unref(ps);
		return NULL;
	}
	memcpy(ps->parse, msg, len);
	ps->parse_len = len;
	for (ps->ntypes = 0; ps->ntypes < n; ps->ntypes++) {
		if (!rd_u32(&r, &t)) {
			pstmt_unref(ps);
			return NULL;
		}
		ps->types[ps->ntypes] = t;
	}
	if (!rd_at_end(&r)) {
		pstmt_unref(ps);
		return NULL;
	}
	if (c->d->sink && !c->is.odd_settings && ins_looks_like_insert(sql, sqllen)) {
		enum ins_reason why = ins_parse_params(sql, sqllen, &ps->tmpl);

		if (why != INS_OK) {
			intercept_count_pass(c, why, ins_reason_name(why));
		} else if (!sink_wants(c->d->sink, &ps->tmpl, c->database)) {
			ins_stmt_free(&ps->tmpl);
		} else {
			ps->insert = true;
		}
	}
	return ps;
}

/* The statement goes into the registry (the unnamed one replaces the last). */
void pstmt_register(struct client *c, struct pstmt *ps)
{
	struct pstmt *old = pstmt_lookup(c, ps->name);

	if (old)
		pstmt_unregister(c, old);
	ps->next = c->is.stmts;
	c->is.stmts = pstmt_ref(ps);
	ps->registered = true;
}


/* ------------------------------------------------------------- sending -- */

static void to_backend(struct client *c, const void *msg, size_t len)
{
	client_to_backend(c, msg, len);
}

void pstmt_add_clause(struct client *c, struct pstmt *ps)
{
	struct pktreader r;
	struct pktbuf m;
	const char *name, *sql;
	size_t sqllen;
	uint16_t n;
	char *clause;

	if (!ps->insert || ps->clause_done || ps->at_backend || c->is.ss == NULL)
		return;
	clause = sink_head_clause(c->is.ss, &ps->tmpl, c->database);
	if (clause == NULL)
		return;
	rd_init(&r, ps->parse + PKT_HDR_LEN, ps->parse_len - PKT_HDR_LEN);
	if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &sql, &sqllen) || !rd_u16(&r, &n) ||
	    ps->tmpl.end > sqllen) {
		free(clause);
		return;
	}
	pkt_init(&m);
	pkt_begin(&m, 'P');
	pkt_put_cstring(&m, name);
	pkt_put_bytes(&m, sql, ps->tmpl.end);
	pkt_put_u8(&m, '\n');
	pkt_put_bytes(&m, clause, strlen(clause));
	pkt_put_u8(&m, '\n');
	pkt_put_bytes(&m, sql + ps->tmpl.end, sqllen - ps->tmpl.end);
	pkt_put_u8(&m, 0);
	pkt_put_u16(&m, n);
	pkt_put_bytes(&m, ps->parse + ps->parse_len - rd_remaining(&r), rd_remaining(&r));
	pkt_end(&m);
	free(clause);
	if (!pkt_ok(&m) || m.len > UINT32_MAX) {
		pkt_free(&m);
		return;
	}
	free(ps->parse);
	ps->parse = m.data;
	ps->parse_len = (uint32_t)m.len;
	ps->clause_done = true;
}

/* The backend gets the statement's Parse (before entry `before`, or at the
 * tail); the client never hears its answer. */
bool pstmt_inject_parse(struct client *c, struct pstmt *ps, struct rq_entry *before, bool relay_error)
{
	struct rq_entry *e = before ? rq_push_before(&c->rq, before, RQ_SKIP, 'P') :
				      rq_push(&c->rq, RQ_SKIP, 'P');

	if (e == NULL)
		return false;
	rq_capture(e, pstmt_ref(ps));
	rq_relay_error(e, relay_error);
	pstmt_add_clause(c, ps);
	to_backend(c, ps->parse, ps->parse_len);
	ps->at_backend = true;
	return true;
}

/* A Describe of ps that the client sent inside a held group: the backend is
 * asked on the side (Parse if needed, Describe, Sync; every answer
 * swallowed) and the client's answer is made from what it said. */
bool pstmt_probe_parse(struct client *c, struct pstmt *ps)
{
	static const uint8_t sync[] = { 'S', 0, 0, 0, 4 };

	if (!pstmt_inject_parse(c, ps, NULL, false) || rq_push(&c->rq, RQ_SKIP, 'S') == NULL)
		return false;
	to_backend(c, sync, sizeof(sync));
	return true;
}

bool pstmt_probe_describe(struct client *c, struct pstmt *ps)
{
	struct pktbuf m;
	struct rq_entry *e;
	bool ok;

	if (!ps->at_backend && !pstmt_inject_parse(c, ps, NULL, false))
		return false;
	pkt_init(&m);
	pkt_begin(&m, 'D');
	pkt_put_u8(&m, 'S');
	pkt_put_cstring(&m, ps->name);
	pkt_end(&m);
	pkt_begin(&m, 'S');
	pkt_end(&m);
	ok = pkt_ok(&m) && (e = rq_push(&c->rq, RQ_SKIP, 'D')) != NULL;
	if (ok) {
		rq_capture(e, pstmt_ref(ps));
		ok = rq_push(&c->rq, RQ_SKIP, 'S') != NULL;
	}
	if (ok) {
		pkt_reset(&ps->describe);
		to_backend(c, m.data, m.len);
	}
	pkt_free(&m);
	return ok;
}

int pstmt_describe_local(struct client *c, struct pstmt *ps)
{
	int n = ps->tmpl.nparams > ps->ntypes ? ps->tmpl.nparams : ps->ntypes;
	uint32_t *types;
	enum sink_clause r;

	if (ps->local)
		return SINK_CLAUSE_SOME;
	if (!ps->insert || ps->at_backend || ps->failed || client_has_backend(c) || c->is.ss == NULL)
		return SINK_CLAUSE_NONE;
	types = calloc((size_t)n + 1, sizeof(*types));
	if (types == NULL)
		return SINK_CLAUSE_NONE;
	r = sink_describe(c->is.ss, &ps->tmpl, c->database, ps->types, ps->ntypes, types, n);
	if (r != SINK_CLAUSE_SOME) {
		free(types);
		return r == SINK_CLAUSE_WAIT ? SINK_CLAUSE_WAIT : SINK_CLAUSE_NONE;
	}
	/* ParameterDescription and NoData (an INSERT without RETURNING) */
	pkt_reset(&ps->describe);
	pkt_begin(&ps->describe, 't');
	pkt_put_u16(&ps->describe, (uint16_t)n);
	for (int i = 0; i < n; i++)
		pkt_put_u32(&ps->describe, types[i]);
	pkt_end(&ps->describe);
	pkt_begin(&ps->describe, 'n');
	pkt_end(&ps->describe);
	if (!pkt_ok(&ps->describe)) {
		pkt_reset(&ps->describe);
		free(types);
		return SINK_CLAUSE_NONE;
	}
	free(ps->types);
	ps->types = types;
	ps->ntypes = n;
	ps->local = true;
	return SINK_CLAUSE_SOME;
}

/* The backend still owes answers to messages pgbatchd sent for itself. */
bool pstmt_probes_pending(const struct client *c)
{
	return rq_skip_owed(&c->rq);
}

/* The answer to a held Describe of a statement, from the probe's answers. */
void pstmt_describe_answer(struct pktbuf *out, const struct pstmt *ps)
{
	if (ps->failed)
		pkt_put_bytes(out, ps->error.data, ps->error.len);
	else if (ps->describe.len)
		pkt_put_bytes(out, ps->describe.data, ps->describe.len);
	else
		pkt_error(out, "ERROR", "08006", "the backend did not describe the statement", NULL,
			  NULL);
}

/* Makes sure the backend knows statement `name` before a message naming it. */
bool pstmt_ensure_at_backend(struct client *c, const char *name)
{
	struct pstmt *ps = pstmt_lookup(c, name);

	return ps == NULL || ps->at_backend || pstmt_inject_parse(c, ps, NULL, true);
}


/* ------------------------------------------------------------- binding -- */

/* The Bind's values for ps: its rows, or false (the group passes through). */
bool pstmt_bind(const struct pstmt *ps, struct pktreader *r, struct ins_stmt *out)
{
	enum { SMALL = 16 };        /* (a row of a few parameters: on the stack) */
	uint16_t nfmt, nparams = 0, fmt = 0;
	uint16_t *fmts = NULL, fmts_small[SMALL];
	struct ins_param *params = NULL, params_small[SMALL];
	struct bv_text *texts = NULL, texts_small[SMALL];
	const uint8_t *data;
	int32_t plen;
	bool ok = false;
	int i, need;

	if (!rd_u16(r, &nfmt))
		return false;
	fmts = nfmt < SMALL ? fmts_small : calloc((size_t)nfmt + 1, sizeof(*fmts));
	if (fmts == NULL)
		return false;
	for (i = 0; i < nfmt; i++)
		if (!rd_u16(r, &fmts[i]))
			goto out;
	if (!rd_u16(r, &nparams))
		goto out;
	need = ps->tmpl.nparams > ps->ntypes ? ps->tmpl.nparams : ps->ntypes;
	if (nparams != need || (nfmt > 1 && nfmt != nparams))
		goto out;       /* the backend's protocol error */
	if (nparams < SMALL) {
		params = params_small;
		texts = texts_small;
		memset(params, 0, (size_t)nparams * sizeof(*params));
		for (i = 0; i < nparams; i++) {    /* (their small areas need no zeroing) */
			texts[i].s = NULL;
			texts[i].len = texts[i].cap = 0;
			texts[i].failed = false;
		}
	} else {
		params = calloc((size_t)nparams + 1, sizeof(*params));
		texts = calloc((size_t)nparams + 1, sizeof(*texts));
		if (params == NULL || texts == NULL)
			goto out;
	}
	for (i = 0; i < nparams; i++) {
		uint32_t typ = i < ps->ntypes ? ps->types[i] : 0;

		if (nfmt == 1)
			fmt = fmts[0];
		else if (nfmt > 1)
			fmt = fmts[i];
		if (!rd_i32(r, &plen) || plen < -1)
			goto out;
		params[i].typoid = typ;
		if (plen == -1)
			continue;
		if (!rd_bytes(r, (size_t)plen, &data))
			goto out;
		if (fmt == 0) {
			if (!binval_text_ok((const char *)data, (size_t)plen))
				goto out;
			params[i].text = (const char *)data;
			params[i].len = (size_t)plen;
		} else if (fmt == 1 && typ != 0) {
			if (binval_text(typ, data, (size_t)plen, &texts[i]) != BV_OK)
				goto out;
			params[i].text = texts[i].s;
			params[i].len = texts[i].len;
		} else {
			goto out;       /* binary of a type not known here */
		}
	}
	ok = ins_bind(&ps->tmpl, params, nparams, out);
out:
	if (texts)
		for (i = 0; i < nparams; i++)
			bv_text_free(&texts[i]);
	if (texts != texts_small)
		free(texts);
	if (params != params_small)
		free(params);
	if (fmts != fmts_small)
		free(fmts);
	return ok;
}


/* ------------------------------------------------------- simple Query -- */

static size_t word_at(const char *sql, size_t len, size_t pos, char *out, size_t outlen)
{
	size_t n = 0;
	bool bad = false;

	pos = sql_skip_space(sql, len, pos, &bad);
	if (bad)
		return len;
	while (pos < len && (isalnum((unsigned char)sql[pos]) || sql[pos] == '_') && n + 1 < outlen)
		out[n++] = (char)tolower((unsigned char)sql[pos++]);
	out[n] = '\0';
	return pos;
}

void pstmt_query(struct client *c, const char *sql, size_t len)
{
	struct sql_lexer lx;
	struct sql_token t;
	struct pstmt *ps;
	char name[SQL_IDENT_MAX + 1];
	char w[16];

	if (c->is.stmts == NULL)
		return;
	word_at(sql, len, 0, w, sizeof(w));
	if (strcmp(w, "deallocate") != 0 && strcmp(w, "execute") != 0 && strcmp(w, "discard") != 0 &&
	    strcmp(w, "explain") != 0)
		return;
	/* statements the backend does not know yet go first: the query may name them */
	for (ps = c->is.stmts; ps; ps = ps->next)
		if (!ps->at_backend && ps->name[0])
			(void)pstmt_probe_parse(c, ps);
	sql_lex_init(&lx, sql, len);
	(void)sql_lex_next(&lx, &t);
	if (sql_word_is(&lx, &t, "discard")) {
		(void)sql_lex_next(&lx, &t);
		if (sql_word_is(&lx, &t, "all"))
			pstmt_unregister_all(c);
	} else if (sql_word_is(&lx, &t, "deallocate")) {
		(void)sql_lex_next(&lx, &t);
		if (sql_word_is(&lx, &t, "prepare"))
			(void)sql_lex_next(&lx, &t);
		if (sql_word_is(&lx, &t, "all")) {
			pstmt_unregister_all(c);
		} else if ((t.type == SQL_WORD || t.type == SQL_QIDENT) && t.declen <= SQL_IDENT_MAX) {
			sql_token_decode(&lx, &t, name);
			name[t.declen] = '\0';
			if (t.type == SQL_WORD)
				for (char *p = name; *p; p++)
					*p = (char)tolower((unsigned char)*p);
			ps = pstmt_lookup(c, name);
			if (ps)
				pstmt_unregister(c, ps);
		}
	}
}

void pstmt_client_query(struct client *c)
{
	struct pstmt *ps = c->is.stmts ? pstmt_lookup(c, "") : NULL;

	if (ps)
		pstmt_unregister(c, ps);
}

void pstmt_own_query(struct client *c)
{
	struct pstmt *ps = c->is.stmts ? pstmt_lookup(c, "") : NULL;

	if (ps)
		ps->at_backend = false;
}

/* ---------------------------------------------------------------- hooks -- */

void pstmt_entry_done(struct client *c, struct rq_entry *e)
{
	struct pstmt *ps = e->owner;

	if (ps != NULL) {
		rq_set_owner(e, NULL);
		if (e->msg == 'P') {
			if (e->error) {
				/* the backend has no such statement */
				ps->at_backend = false;
				if (e->kind == RQ_SKIP && !e->relay_error)
					ps->failed = true;      /* (a relayed one the client has heard) */
				else
					pstmt_unregister(c, ps);
			}
		} else if (e->msg == 'D' && e->kind == RQ_SKIP && !e->error) {
			pkt_begin(&ps->describe, 'n');
			pkt_end(&ps->describe);
		}
		pstmt_unref(ps);
	}
}

void pstmt_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct pstmt *ps = e->owner;
	struct pktreader r;
	uint16_t n;
	uint32_t *types;

	(void)c;
	if (ps == NULL)
		return;
	if (type == 'E' && e->kind == RQ_SKIP) {
		if (e->relay_error)
			return;         /* the client's message's answer, not the statement's */
		pkt_reset(&ps->error);
		pkt_begin(&ps->error, 'E');
		pkt_put_bytes(&ps->error, body, len);
		pkt_end(&ps->error);
		ps->failed = true;
		return;
	}
	if (type != 't' || e->msg != 'D')
		return;
	if (e->kind == RQ_SKIP) {
		pkt_reset(&ps->describe);
		pkt_begin(&ps->describe, 't');
		pkt_put_bytes(&ps->describe, body, len);
		pkt_end(&ps->describe);
	}
	rd_init(&r, body, len);
	if (!rd_u16(&r, &n) || n < ps->ntypes)
		return;
	types = calloc((size_t)n + 1, sizeof(*types));
	if (types == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (!rd_u32(&r, &types[i])) {
			free(types);
			return;
		}
	free(ps->types);
	ps->types = types;
	ps->ntypes = n;
}

void pstmt_free_all(struct client *c)
{
	struct rq_entry *e;

	for (e = rq_first(&c->rq); e; e = rq_next(e))
		if (e->capture && e->owner && e->kind != RQ_OWN && e->msg != 'Q') {
			pstmt_unref(e->owner);
			rq_set_owner(e, NULL);
		}
	if (c->is.capture_owner) {
		pstmt_unref(c->is.capture_owner);
		c->is.capture_owner = NULL;
	}
	pstmt_unregister_all(c);
}
