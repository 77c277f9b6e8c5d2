/* SETs a session without a backend answers itself (a driver's connect-time extra_float_digits and application_name), replayed on the backend it opens later. */
#include "proxy/absorb.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/sqllex.h"
#include "sink/buf.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/logincache.h"
#include "proxy/pstmt.h"
#include "proxy/replyq.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

/* (longer application_names pass through) */
#define APP_MAX 256
/* a group of ours is small: more than this in the input is not one */
#define GROUP_PEEK 2048

enum which { SET_NONE = 0, SET_EFD, SET_APP };

struct absorbed {
	bool has_efd;
	int efd;                    /* extra_float_digits to replay */
	char *app;                  /* application_name to replay (NULL: none) */
	char *told_app;             /* the application_name the client was told last */
	bool replaying;             /* the replay's answer is not all in yet */
	bool cancel_after;          /* ... and a CancelRequest waits for it */
};

static bool op_is(const struct sql_lexer *lx, const struct sql_token *t, char ch)
{
	return t->type == SQL_OP && t->end == t->pos + 1 && lx->s[t->pos] == ch;
}

/* `SET [SESSION] extra_float_digits {=|TO} 0..3` or
 * `SET [SESSION] application_name {=|TO} '<printable ASCII>'`, one
 * statement, an optional `;`: what PostgreSQL takes as written. */
static enum which parse_set(const char *sql, size_t len, int *efd, char *app)
{
	struct sql_lexer lx;
	struct sql_token t;
	enum which w;

	sql_lex_init(&lx, sql, len);
	if (sql_lex_next(&lx, &t) != SQL_WORD || !sql_word_is(&lx, &t, "set"))
		return SET_NONE;
	if (sql_lex_next(&lx, &t) == SQL_WORD && sql_word_is(&lx, &t, "session"))
		(void)sql_lex_next(&lx, &t);
	if (t.type == SQL_WORD && sql_word_is(&lx, &t, "extra_float_digits"))
		w = SET_EFD;
	else if (t.type == SQL_WORD && sql_word_is(&lx, &t, "application_name"))
		w = SET_APP;
	else
		return SET_NONE;
	(void)sql_lex_next(&lx, &t);
	if (!op_is(&lx, &t, '=') && !(t.type == SQL_WORD && sql_word_is(&lx, &t, "to")))
		return SET_NONE;
	(void)sql_lex_next(&lx, &t);
	if (w == SET_EFD) {
		if (t.type != SQL_INTEGER || t.end != t.pos + 1 || sql[t.pos] < '0' || sql[t.pos] > '3')
			return SET_NONE;
		*efd = sql[t.pos] - '0';
	} else {
		if (t.type != SQL_STRING || t.str != SQL_STR_PLAIN || t.declen >= APP_MAX)
			return SET_NONE;
		sql_token_decode(&lx, &t, app);
		app[t.declen] = '\0';
		for (size_t i = 0; i < t.declen; i++)
			if (app[i] < 32 || app[i] > 126)
				return SET_NONE;        /* PostgreSQL would change it */
	}
	if (sql_lex_next(&lx, &t) == SQL_PUNCT && t.ch == ';')
		(void)sql_lex_next(&lx, &t);
	return t.type == SQL_EOF ? w : SET_NONE;
}

static const char *app_now(const struct client *c)
{
	const char *v;

	if (c->is.abs && c->is.abs->told_app)
		return c->is.abs->told_app;
	v = client_login(c) ? lc_param(client_login(c), "application_name") : NULL;
	return v ? v : "";
}

/* Remembers the SET; *changed: application_name has a new value (the
 * client is told it). False when out of memory. */
static bool remember(struct client *c, enum which w, int efd, const char *app, bool *changed)
{
	struct absorbed *a = c->is.abs;
	char *copy, *told;

	*changed = false;
	if (a == NULL && (a = c->is.abs = calloc(1, sizeof(*a))) == NULL)
		return false;
	if (w == SET_EFD) {
		a->has_efd = true;
		a->efd = efd;
		return true;
	}
	*changed = strcmp(app_now(c), app) != 0;
	copy = strdup(app);
	told = *changed ? strdup(app) : NULL;
	if (copy == NULL || (*changed && told == NULL)) {
		free(copy);
		free(told);
		return false;
	}
	free(a->app);
	a->app = copy;
	if (*changed) {
		free(a->told_app);
		a->told_app = told;
	}
	return true;
}

/* The answer to the SET's execution, and to the Sync or Query after it. */
static void put_done(struct pktbuf *b, bool changed, const char *app, bool complete)
{
	if (complete)
		pkt_command_complete(b, "SET");
	if (changed)
		pkt_parameter_status(b, "application_name", app);      /* (just before ReadyForQuery) */
	pkt_ready(b, 'I');
}

static bool answer(struct client *c, uint8_t msg, uint8_t type)
{
	struct rq_entry *e = client_own_reply(c, msg);

	if (e == NULL)
		return false;
	pkt_begin(rq_answer(e), type);
	pkt_end(rq_answer(e));
	return rq_ready_if_whole(e);
}

static bool try_query(struct client *c, struct evbuffer *in, size_t total)
{
	const uint8_t *m = evbuffer_pullup(in, (ssize_t)total);
	const char *sql = (const char *)m + PKT_HDR_LEN;
	size_t len = total - PKT_HDR_LEN;
	char app[APP_MAX];
	struct rq_entry *e;
	enum which w;
	bool changed;
	int efd = 0;

	if (len == 0 || sql[len - 1] != '\0')
		return false;
	w = parse_set(sql, len - 1, &efd, app);
	if (w == SET_NONE || memchr(sql, '\0', len - 1) != NULL || !remember(c, w, efd, app, &changed))
		return false;
	if ((e = client_own_reply(c, 'Q')) == NULL)
		return false;
	put_done(rq_answer(e), changed, app, true);
	(void)rq_ready_if_whole(e);
	pstmt_client_query(c);          /* a Query drops the unnamed statement */
	evbuffer_drain(in, total);
	return e->ready;
}

/* One message of the group at *at: its type, body and length. */
static bool next_msg(const uint8_t *p, size_t n, size_t *at, uint8_t *type, struct pktreader *r)
{
	uint32_t len;

	if (n - *at < PKT_HDR_LEN || pkt_read_header(p + *at, PKT_HDR_LEN, type, &len) != PKT_HDR_OK ||
	    n - *at < PKT_HDR_LEN + (size_t)len)
		return false;
	rd_init(r, p + *at + PKT_HDR_LEN, len);
	*at += PKT_HDR_LEN + (size_t)len;
	return true;
}

/* Parse (no parameter types), Bind of it (unnamed portal, no parameters),
 * maybe Describe of the portal, Execute, Sync: all whole in the input. */
static bool try_group(struct client *c, struct evbuffer *in, size_t avail)
{
	size_t n = avail < GROUP_PEEK ? avail : GROUP_PEEK, at = 0, plen;
	const uint8_t *p = evbuffer_pullup(in, (ssize_t)n);
	const char *name, *sql, *s;
	struct pktreader r;
	struct pstmt *ps;
	uint16_t k, nfmt;
	uint8_t type, what;
	char app[APP_MAX];
	enum which w;
	bool describe = false, changed;
	int efd = 0;
	size_t sqllen;

	if (!next_msg(p, n, &at, &type, &r) || type != 'P' || !rd_cstring(&r, &name, NULL) ||
	    !rd_cstring(&r, &sql, &sqllen) || !rd_u16(&r, &k) || k != 0 || !rd_at_end(&r))
		return false;
	plen = at;
	if ((w = parse_set(sql, sqllen, &efd, app)) == SET_NONE || (name[0] && pstmt_lookup(c, name)))
		return false;
	if (!next_msg(p, n, &at, &type, &r) || type != 'B' || !rd_cstring(&r, &s, NULL) || s[0] ||
	    !rd_cstring(&r, &s, NULL) || strcmp(s, name) != 0 || !rd_u16(&r, &nfmt) || nfmt > 1)
		return false;       /* (more formats than parameters: the server's 08P01) */
	while (nfmt-- > 0)
		if (!rd_u16(&r, &k))
			return false;
	if (!rd_u16(&r, &k) || k != 0 || !rd_u16(&r, &nfmt))
		return false;
	while (nfmt-- > 0)
		if (!rd_u16(&r, &k))
			return false;
	if (!rd_at_end(&r) || !next_msg(p, n, &at, &type, &r))
		return false;
	if (type == 'D') {
		if (!rd_u8(&r, &what) || what != 'P' || !rd_cstring(&r, &s, NULL) || s[0] || !rd_at_end(&r) ||
		    !next_msg(p, n, &at, &type, &r))
			return false;
		describe = true;
	}
	if (type != 'E' || !rd_cstring(&r, &s, NULL) || s[0] || !rd_u32(&r, &(uint32_t){ 0 }) || !rd_at_end(&r))
		return false;
	if (!next_msg(p, n, &at, &type, &r) || type != 'S' || !rd_at_end(&r))
		return false;
	/* the statement is the session's now, as the backend's would be */
	if ((ps = pstmt_new(c, p, (uint32_t)plen)) == NULL)
		return false;
	if (!remember(c, w, efd, app, &changed)) {
		pstmt_unref(ps);
		return false;
	}
	pstmt_register(c, ps);
	pstmt_unref(ps);
	if (!answer(c, 'P', '1') || !answer(c, 'B', '2') || (describe && !answer(c, 'D', 'n')))
		return false;
	{
		struct rq_entry *e = client_own_reply(c, 'E'), *z;

		if (e == NULL)
			return false;
		pkt_command_complete(rq_answer(e), "SET");
		(void)rq_ready_if_whole(e);
		if ((z = client_own_reply(c, 'S')) == NULL)
			return false;
		put_done(rq_answer(z), changed, app, false);
		(void)rq_ready_if_whole(z);
		if (!e->ready || !z->ready)
			return false;
	}
	evbuffer_drain(in, at);
	return true;
}

bool absorb_try(struct client *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in), total;
	const uint8_t *p;
	uint8_t type;
	uint32_t len;
	bool ok;

	if (!client_without_backend(c) || client_login(c) == NULL || c->tx_status != 'I' || c->is.in_group ||
	    c->is.pending != NULL || !rq_empty(&c->rq) || c->is.enc_odd || c->is.scs_odd || avail < PKT_HDR_LEN)
		return false;
	p = evbuffer_pullup(in, PKT_HDR_LEN);
	if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || (type != 'Q' && type != 'P'))
		return false;
	total = PKT_HDR_LEN + (size_t)len;
	if (total > GROUP_PEEK || avail < total)
		return false;
	ok = type == 'Q' ? try_query(c, in, total) : try_group(c, in, avail);
	if (!ok && !rq_empty(&c->rq)) {
		/* out of memory half way: nothing can be said exactly any more */
		client_fatal(c, "53200", "out of memory", NULL);
		return true;
	}
	if (ok) {
		log_debug(c->prefix, "a SET answered without a backend");
		client_pump(c);
	}
	return ok;
}

bool absorb_replay(struct client *c, struct evbuffer *to_backend)
{
	struct absorbed *a = c->is.abs;
	struct rq_entry *e;
	struct pktbuf m;
	struct buf q;

	if (a == NULL || (!a->has_efd && a->app == NULL))
		return true;
	buf_init(&q);
	if (a->has_efd)
		buf_printf(&q, "SET extra_float_digits = %d; ", a->efd);
	if (a->app) {
		/* (printable ASCII; E'' reads the same whatever standard_conforming_strings) */
		buf_puts(&q, "SET application_name = E'");
		for (const char *s = a->app; *s; s++) {
			if (*s == '\'' || *s == '\\')
				buf_putc(&q, *s);
			buf_putc(&q, *s);
		}
		buf_putc(&q, '\'');
	}
	pkt_init(&m);
	if (buf_ok(&q))
		pkt_query(&m, q.data);
	buf_free(&q);
	e = NULL;
	if (m.len > 0 && pkt_ok(&m))
		e = rq_push_first(&c->rq, RQ_SKIP, 'Q');
	if (e == NULL) {
		pkt_free(&m);
		return false;
	}
	rq_capture(e, a);      /* (absorb_entry_done) */
	a->replaying = true;
	evbuffer_add(to_backend, m.data, m.len);
	pkt_free(&m);
	a->has_efd = false;
	free(a->app);
	a->app = NULL;
	return true;
}

bool absorb_owns(const struct client *c, const struct rq_entry *e)
{
	return c->is.abs != NULL && e->owner == c->is.abs;
}

void absorb_entry_done(struct client *c)
{
	struct absorbed *a = c->is.abs;

	a->replaying = false;
	if (a->cancel_after && client_cancel_backend(c))
		a->cancel_after = false;
}

bool absorb_cancel_after(struct client *c)
{
	if (c->is.abs == NULL || !c->is.abs->replaying)
		return false;
	c->is.abs->cancel_after = true;
	return true;
}

bool absorb_param_new(struct client *c, const uint8_t *body, uint32_t len)
{
	struct absorbed *a = c->is.abs;
	struct pktreader r;
	const char *name, *value;
	char *copy;

	if (a == NULL || a->told_app == NULL)
		return true;
	rd_init(&r, body, len);
	if (!rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &value, NULL) || strcmp(name, "application_name") != 0)
		return true;
	if (strcmp(value, a->told_app) == 0)
		return false;
	/* PostgreSQL reports a value that changed: from now on, what it said */
	copy = strdup(value);
	free(a->told_app);
	a->told_app = copy;     /* (NULL: nothing is held back any more) */
	return true;
}

void absorb_free(struct client *c)
{
	if (c->is.abs == NULL)
		return;
	free(c->is.abs->app);
	free(c->is.abs->told_app);
	free(c->is.abs);
	c->is.abs = NULL;
}
