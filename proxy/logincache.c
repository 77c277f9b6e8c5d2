/* Logins known: a real backend login per (user, database, startup parameters), kept for login_cache_seconds. */
#include "proxy/logincache.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "conf/config.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/client.h"
#include "proxy/clogin.h"
#include "proxy/daemon.h"
#include "proxy/isess.h"
#include "proxy/listen.h"
#include "proxy/login.h"
#include "proxy/sock.h"
#include "sink/sink.h"

#define SEAM_CORE
#include "proxy/seam.h"

#define LC_BUCKETS 1024
#define LC_MAX 20000            /* entries kept at most; past it, sessions log in as before */
#define LC_CHECKS 2             /* checks running at once (each a server connection) */
#define LC_MSG_MAX (256 * 1024) /* one message from the server during a check */

enum lc_state {
	LC_QUEUED = 0,      /* its check waits for a free slot */
	LC_CHECKING,        /* its check runs */
	LC_OK,              /* accepted */
	LC_REFUSED,         /* refused */
};

enum ck_phase {
	CK_CONNECTING = 0,
	CK_LOGIN,           /* startup packet sent: authentication, ParameterStatus... */
	CK_ASKING,          /* logged in: the view and the limits asked */
	CK_CLOSING,         /* answered, Terminate sent: until the server closes (its
	                       backend no longer counted against a connection limit) */
};

struct lc_check {
	struct lc_check *next, *prev;   /* the checks running */
	struct lc_entry *e;             /* (a reference of the check's) */
	struct sock *sk;
	struct event *deadline;     /* authentication_timeout: a server that never answers */
	enum ck_phase phase;
	struct login_auth auth;
	int answered;       /* ReadyForQuery messages after the login's */
	int rows;           /* DataRows of the current question */
	char prefix[192];
};

struct lc_entry {
	struct lc_entry *next;          /* hash chain */
	struct lc_entry *qnext;         /* checks not started, oldest first */
	struct logincache *lc;
	uint32_t hash;
	int refs;                       /* the table's, sessions', its check's */
	bool linked;                    /* in the table */
	enum lc_state state;
	int64_t expires_ms;
	char *user;
	char **params;                  /* name, value, ..., NULL */
	struct pktbuf said;             /* ParameterStatus and NoticeResponse messages, whole */
	struct pktbuf refusal;          /* the ErrorResponse, whole */
	struct pktbuf view;             /* the view's DataRow body */
	bool has_view;
	int ntables;
	bool needs_backend;
	int64_t idle_ms;                /* its idle_session_timeout, 0: none */
	bool keep;                      /* a refusal that stays true (class 28, ...) */
	uint64_t gen;                   /* the cache's generation when its check started */
	struct lc_check *check;
};

struct logincache {
	struct daemon *d;
	struct lc_entry *buckets[LC_BUCKETS];
	int n;
	int checking;
	struct lc_entry *qhead, *qtail;
	uint64_t gen;                   /* a reload: checks started before are kept by no one */
	struct lc_check *checks;        /* running */
	unsigned sweep;                 /* the next bucket looked at for expired entries */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t key_hash(const char *user, char **params)
{
	uint32_t h = 2166136261u;
	const char *s;

	for (s = user; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	for (char **p = params; p && *p; p++) {
		h = (h ^ 0xff) * 16777619u;
		for (s = *p; *s; s++)
			h = (h ^ (uint8_t)*s) * 16777619u;
	}
	return h;
}

static bool key_equal(const struct lc_entry *e, const char *user, char **params)
{
	char **a = e->params, **b = params;

	if (strcmp(e->user, user) != 0)
		return false;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return *a == NULL && *b == NULL;
}

static void unlink_entry(struct lc_entry *e)
{
	struct lc_entry **pp;

	if (!e->linked)
		return;
	for (pp = &e->lc->buckets[e->hash % LC_BUCKETS]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	e->linked = false;
	e->lc->n--;
	lc_unref(e);
}

void lc_ref(struct lc_entry *e)
{
	e->refs++;
}

void lc_unref(struct lc_entry *e)
{
	if (e == NULL || --e->refs > 0)
		return;
	for (char **p = e->params; p && *p; p++)
		free(*p);
	free(e->params);
	free(e->user);
	pkt_free(&e->said);
	pkt_free(&e->refusal);
	pkt_free(&e->view);
	free(e);
}

static char *dup_or_die(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static struct lc_entry *entry_new(struct logincache *lc, uint32_t h, const char *user, char **params)
{
	struct lc_entry *e = calloc(1, sizeof(*e));
	int n = 0;

	if (e == NULL)
		return NULL;
	while (params[n])
		n++;
	e->params = calloc((size_t)n + 1, sizeof(char *));
	if (e->params == NULL) {
		free(e);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		e->params[i] = dup_or_die(params[i]);
	e->user = dup_or_die(user);
	e->lc = lc;
	e->hash = h;
	e->refs = 1;                    /* the table's */
	e->linked = true;
	pkt_init(&e->said);
	pkt_init(&e->refusal);
	pkt_init(&e->view);
	e->next = lc->buckets[h % LC_BUCKETS];
	lc->buckets[h % LC_BUCKETS] = e;
	lc->n++;
	return e;
}

/* ---------------------------------------------------------------- checks -- */

static void check_start(struct lc_entry *e);

/* The check is over: its sessions are told, the next queued check starts. */
static void check_end(struct lc_entry *e, enum lc_state outcome, const char *why)
{
	struct logincache *lc = e->lc;
	struct daemon *d = lc->d;
	struct lc_check *k = e->check;
	struct client *c, *next;
	int secs = d->cfg->login_cache_seconds;

	if (k) {
		if (k->prev)
			k->prev->next = k->next;
		else
			lc->checks = k->next;
		if (k->next)
			k->next->prev = k->prev;
		if (k->deadline)
			event_free(k->deadline);
		sock_free(k->sk);
		login_auth_clear(&k->auth);
		free(k);
		e->check = NULL;
		lc->checking--;
		listen_fd_freed(d);
	}
	e->state = outcome;
	if (why)
		log_info(NULL, "login check for %s: %s", e->user, why);
	if (e->expires_ms == 0 || e->expires_ms > mono_ms() + (int64_t)secs * 1000)
		e->expires_ms = mono_ms() + (int64_t)secs * 1000;
	lc_ref(e);
	if (secs == 0 || (outcome == LC_REFUSED && !e->keep) || e->gen != lc->gen)
		unlink_entry(e);         /* told to those waiting, kept for none after */
	for (c = d->clients; c; c = next) {
		next = c->next;
		if (c->state == CL_LOGIN && c->login == e)
			client_login_known(c);
	}
	lc_unref(e);
	if (k)
		lc_unref(e);            /* the check's */
	while (lc->qhead && lc->checking < LC_CHECKS) {
		struct lc_entry *q = lc->qhead;

		lc->qhead = q->qnext;
		if (lc->qhead == NULL)
			lc->qtail = NULL;
		q->qnext = NULL;
		check_start(q);
		lc_unref(q);            /* the queue's */
	}
}

/* A refusal of pgbatchd's own making (no connection, a protocol error). */
static void check_failed(struct lc_entry *e, const char *sqlstate, const char *message, const char *detail)
{
	pkt_reset(&e->refusal);
	pkt_error(&e->refusal, "FATAL", sqlstate, message, detail, NULL);
	e->keep = false;
	check_end(e, LC_REFUSED, message);
}

static bool refusal_keeps(const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	uint8_t f;
	const char *v;

	rd_init(&r, body, len);
	while (rd_u8(&r, &f) && f != 0 && rd_cstring(&r, &v, NULL))
		if (f == 'C')
			return strncmp(v, "28", 2) == 0 || strcmp(v, "3D000") == 0 || strcmp(v, "42501") == 0;
	return false;
}

static void send_query(struct lc_check *k, const char *sql)
{
	struct pktbuf q;

	pkt_init(&q);
	pkt_query(&q, sql);
	if (pkt_ok(&q))
		evbuffer_add(sock_output(k->sk), q.data, q.len);
	pkt_free(&q);
}

/* Logged in: ask the view (as a session's first question would) and the limits. */
static void ask(struct lc_check *k)
{
	static const char limits[] =
		"SELECT r.rolconnlimit, d.datconnlimit, "
		"(pg_catalog.date_part('epoch', LEAST(r.rolvaliduntil, pg_catalog.now() + '1 day')) * 1000)::pg_catalog.int8, "
		"(pg_catalog.date_part('epoch', pg_catalog.current_setting('idle_session_timeout')::pg_catalog.interval) "
		"* 1000)::pg_catalog.int8 "
		"FROM pg_catalog.pg_roles r, pg_catalog.pg_database d "
		"WHERE r.rolname = SESSION_USER AND d.datname = pg_catalog.current_database()";
	struct sink *s = k->e->lc->d->sink;
	struct pktbuf q;

	pkt_init(&q);
	if (s && isess_view_question(s, &q) && pkt_ok(&q)) {
		evbuffer_add(sock_output(k->sk), q.data, q.len);
		k->e->ntables = sink_table_count(s);
	} else {
		send_query(k, "SELECT");
	}
	pkt_free(&q);
	send_query(k, limits);
	k->phase = CK_ASKING;
}

static int64_t field_int(const uint8_t *p, int32_t n, bool *null)
{
	int64_t v = 0;
	bool neg = false;

	*null = n < 0;
	for (int32_t i = 0; i < n; i++) {
		if (i == 0 && p[i] == '-')
			neg = true;
		else if (p[i] >= '0' && p[i] <= '9' && v < INT64_MAX / 10)
			v = v * 10 + (p[i] - '0');
	}
	return neg ? -v : v;
}

/* The limits' DataRow: rolconnlimit, datconnlimit, valid until (ms since
 * the epoch), idle_session_timeout (ms). */
static void take_limits(struct lc_entry *e, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const uint8_t *f[4];
	int32_t n[4];
	uint16_t cols;
	bool null;
	struct timespec now;

	rd_init(&r, body, len);
	if (!rd_u16(&r, &cols) || cols != 4) {
		e->needs_backend = true;
		return;
	}
	for (int i = 0; i < 4; i++)
		if (!rd_i32(&r, &n[i]) || (n[i] > 0 && !rd_bytes(&r, (size_t)n[i], &f[i]))) {
			e->needs_backend = true;
			return;
		}
	if (field_int(f[0], n[0], &null) >= 0 || null || field_int(f[1], n[1], &null) >= 0 || null)
		e->needs_backend = true;        /* the server counts its sessions */
	e->idle_ms = field_int(f[3], n[3], &null);
	{
		int64_t until = field_int(f[2], n[2], &null);

		clock_gettime(CLOCK_REALTIME, &now);
		if (!null) {
			int64_t left = until - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);

			e->expires_ms = mono_ms() + (left > 0 ? left : 0);
		}
	}
}

/* One whole message from the server. False when the check ended. */
static bool check_message(struct lc_check *k, uint8_t type, const uint8_t *msg, uint32_t len)
{
	struct lc_entry *e = k->e;
	const uint8_t *body = msg + PKT_HDR_LEN;
	struct login_err err;
	struct pktbuf pb;
	bool ok;

	if (k->phase == CK_CLOSING)
		return true;
	if (k->phase == CK_LOGIN) {
		switch (type) {
		case 'R':
			pkt_init(&pb);
			k->auth.user = e->user;
			k->auth.secret = login_secret(e->lc->d, e->user);
			if (!login_answer(&k->auth, body, len, &pb, &ok, &err)) {
				pkt_free(&pb);
				pkt_reset(&e->refusal);
				pkt_error(&e->refusal, "FATAL", err.sqlstate, err.message, err.detail, NULL);
				e->keep = false;
				check_end(e, LC_REFUSED, err.message);
				return false;
			}
			if (pb.len > 0 && pkt_ok(&pb))
				evbuffer_add(sock_output(k->sk), pb.data, pb.len);
			pkt_free(&pb);
			return true;
		case 'E':
			pkt_reset(&e->refusal);
			pkt_put_bytes(&e->refusal, msg, PKT_HDR_LEN + len);
			e->keep = refusal_keeps(body, len);
			check_end(e, LC_REFUSED, "refused");
			return false;
		case 'S':
		case 'N':
			pkt_put_bytes(&e->said, msg, PKT_HDR_LEN + len);
			return true;
		case 'K':
			return true;
		case 'v':
			/* NegotiateProtocolVersion (a _pq_. option it does not know):
			 * the client gets it too, as from a backend of its own */
			pkt_put_bytes(&e->said, msg, PKT_HDR_LEN + len);
			return true;
		case 'Z':
			if (!pkt_ok(&e->said)) {
				check_failed(e, "53200", "out of memory", NULL);
				return false;
			}
			ask(k);
			return true;
		default:
			check_failed(e, "08P01", "backend sent an unexpected message during login", NULL);
			return false;
		}
	}
	switch (type) {
	case 'D':
		if (k->answered == 0 && k->rows++ == 0 && e->ntables > 0) {
			pkt_put_bytes(&e->view, body, len);
			e->has_view = pkt_ok(&e->view);
		} else if (k->answered == 1 && k->rows++ == 0) {
			take_limits(e, body, len);
		}
		return true;
	case 'E':
		/* the question failed (a statement_timeout of the role, ...): its
		 * sessions get backends of their own */
		e->needs_backend = true;
		if (k->answered == 0)
			e->has_view = false;
		return true;
	case 'Z':
		k->answered++;
		k->rows = 0;
		if (k->answered < 2)
			return true;
		if (!e->has_view)
			e->needs_backend = true;
		{
			/* told when the server has closed: a session of a role with a
			 * connection limit opens its backend then, with this one gone */
			static const char terminate[5] = { 'X', 0, 0, 0, 4 };

			evbuffer_add(sock_output(k->sk), terminate, sizeof(terminate));
			k->phase = CK_CLOSING;
		}
		return true;
	default:
		return true;    /* T, C, N, S, ... */
	}
}

static void check_read(struct sock *sk, void *arg)
{
	struct lc_check *k = arg;
	struct evbuffer *in = sock_input(sk);
	uint8_t type, *p;
	uint32_t len;
	size_t total;

	for (;;) {
		if (evbuffer_get_length(in) < PKT_HDR_LEN)
			return;
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || len > LC_MSG_MAX) {
			check_failed(k->e, "08P01", "backend sent an invalid message during login", NULL);
			return;
		}
		total = PKT_HDR_LEN + (size_t)len;
		if (evbuffer_get_length(in) < total)
			return;
		p = evbuffer_pullup(in, (ssize_t)total);
		if (!check_message(k, type, p, len))
			return;
		evbuffer_drain(in, total);
	}
}

static void check_event(struct sock *sk, enum sock_event ev, int err, void *arg)
{
	struct lc_check *k = arg;
	struct pktbuf pb;
	int one = 1;

	if (ev == SOCK_CONNECTED) {
		if (k->e->lc->d->backend_sa.ss_family != AF_UNIX)
			setsockopt(sock_fd(sk), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pkt_init(&pb);
		pkt_startup(&pb, (const char *const *)k->e->params);
		if (pkt_ok(&pb))
			evbuffer_add(sock_output(sk), pb.data, pb.len);
		pkt_free(&pb);
		k->phase = CK_LOGIN;
		return;
	}
	{
		struct lc_entry *e = k->e;
		bool ended;

		lc_ref(e);
		check_read(sk, arg);    /* what it said last */
		ended = e->check != k;
		if (!ended && k->phase == CK_CLOSING) {
			check_end(e, LC_OK, NULL);
		} else if (!ended && k->phase == CK_ASKING) {
			/* logged in, then gone while asked (terminated): the login
			 * stands; its sessions get backends of their own */
			e->needs_backend = true;
			check_end(e, LC_OK, "the connection ended after the login");
		} else if (!ended) {
			check_failed(e, "08006", k->phase == CK_CONNECTING ? "could not connect to the backend" :
				     "backend closed the connection during login",
				     ev != SOCK_ERROR ? NULL : *sock_tls_error(sk) ? sock_tls_error(sk) : strerror(err));
		}
		lc_unref(e);
	}
}

static const struct sock_ops check_ops = {
	.on_read = check_read,
	.on_drain = NULL,
	.on_event = check_event,
};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct lc_check *k = arg;

	(void)fd;
	(void)what;
	/* as a client connecting directly would give up: not kept */
	if (k->phase == CK_CLOSING) {
		check_end(k->e, LC_OK, NULL);       /* (answered; the server is slow to close) */
	} else if (k->phase == CK_ASKING) {
		k->e->needs_backend = true;
		check_end(k->e, LC_OK, "no answer to its questions in time");
	} else {
		check_failed(k->e, "08006", "could not connect to the backend",
			     "the server did not finish the login within authentication_timeout");
	}
}

static void check_start(struct lc_entry *e)
{
	struct logincache *lc = e->lc;
	struct daemon *d = lc->d;
	struct lc_check *k = calloc(1, sizeof(*k));

	e->state = LC_CHECKING;
	e->gen = lc->gen;
	if (k == NULL) {
		check_failed(e, "53200", "out of memory", NULL);
		return;
	}
	k->e = e;
	lc_ref(e);
	e->check = k;
	k->next = lc->checks;
	if (lc->checks)
		lc->checks->prev = k;
	lc->checks = k;
	lc->checking++;
	k->deadline = evtimer_new(d->base, on_deadline, k);
	if (k->deadline) {
		struct timeval tv = { d->cfg->authentication_timeout, 0 };

		evtimer_add(k->deadline, &tv);
	}
	k->sk = sock_new(d->base, -1, &check_ops, k);
	if (k->sk == NULL || !daemon_connect_backend(d, k->sk)) {
		check_failed(e, "08006", "could not connect to the backend", strerror(errno));
		return;
	}
	sock_read(k->sk, true);
}

/* ---------------------------------------------------------------- lookup -- */

/* Expired entries of one bucket go (one bucket per lookup, all of them when
 * the table is full): a fleet of ever new keys does not fill it for good. */
static void sweep(struct logincache *lc, unsigned b, int64_t now)
{
	struct lc_entry *e = lc->buckets[b], *next;

	for (; e; e = next) {
		next = e->next;
		if ((e->state == LC_OK || e->state == LC_REFUSED) && now >= e->expires_ms)
			unlink_entry(e);
	}
}

enum lc_verdict logincache_lookup(struct daemon *d, const char *user, char **params, struct lc_entry **out)
{
	struct logincache *lc = d->logins;
	uint32_t h = key_hash(user, params);
	struct lc_entry *e;
	int64_t now = mono_ms();

	if (lc == NULL) {
		lc = d->logins = calloc(1, sizeof(*lc));
		if (lc == NULL)
			return LC_NONE;
		lc->d = d;
	}
	sweep(lc, lc->sweep++ % LC_BUCKETS, now);
	for (e = lc->buckets[h % LC_BUCKETS]; e; e = e->next)
		if (e->hash == h && key_equal(e, user, params))
			break;
	if (e && (e->state == LC_OK || e->state == LC_REFUSED) && now >= e->expires_ms) {
		unlink_entry(e);
		e = NULL;
	}
	if (e == NULL) {
		if (lc->n >= LC_MAX)
			for (unsigned b = 0; b < LC_BUCKETS; b++)
				sweep(lc, b, now);
		if (lc->n >= LC_MAX || (e = entry_new(lc, h, user, params)) == NULL)
			return LC_NONE;
		lc_ref(e);              /* the session's, from now on */
		if (lc->checking < LC_CHECKS) {
			check_start(e);     /* (may fail at once: a refusal told to this session) */
		} else {
			lc_ref(e);          /* the queue's */
			if (lc->qtail)
				lc->qtail->qnext = e;
			else
				lc->qhead = e;
			lc->qtail = e;
		}
	} else {
		lc_ref(e);
	}
	*out = e;
	return e->state == LC_OK || e->state == LC_REFUSED ? LC_KNOWN : LC_WAIT;
}

bool lc_accepted(const struct lc_entry *e)
{
	return e->state == LC_OK;
}

void lc_said(const struct lc_entry *e, const uint8_t **msgs, uint32_t *len)
{
	*msgs = e->said.data;
	*len = (uint32_t)e->said.len;
}

void lc_refusal(const struct lc_entry *e, const uint8_t **msg, uint32_t *len)
{
	*msg = e->refusal.data;
	*len = (uint32_t)e->refusal.len;
}

bool lc_needs_backend(const struct lc_entry *e)
{
	return e->needs_backend;
}

bool lc_view(const struct lc_entry *e, const uint8_t **row, uint32_t *len, int *ntables)
{
	if (!e->has_view)
		return false;
	*row = e->view.data;
	*len = (uint32_t)e->view.len;
	*ntables = e->ntables;
	return true;
}

int64_t lc_idle_timeout(const struct lc_entry *e)
{
	return e->idle_ms > 0 ? e->idle_ms : 0;
}

const char *lc_param(const struct lc_entry *e, const char *name)
{
	struct pktreader r, m;
	uint8_t type;
	uint32_t len;
	const uint8_t *body;
	const char *n, *v;

	rd_init(&r, e->said.data, e->said.len);
	while (rd_u8(&r, &type) && rd_u32(&r, &len) && len >= 4 && rd_bytes(&r, len - 4, &body)) {
		if (type != 'S')
			continue;
		rd_init(&m, body, len - 4);
		if (rd_cstring(&m, &n, NULL) && rd_cstring(&m, &v, NULL) && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

/* -------------------------------------------------------------- lifetime -- */

void logincache_clear(struct daemon *d)
{
	struct logincache *lc = d->logins;

	if (lc == NULL)
		return;
	lc->gen++;      /* checks running finish for those waiting, kept by no one */
	for (int i = 0; i < LC_BUCKETS; i++) {
		struct lc_entry *e = lc->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			unlink_entry(e);        /* (a check running: its own reference) */
		}
	}
}

void logincache_free(struct daemon *d)
{
	struct logincache *lc = d->logins;

	if (lc == NULL)
		return;
	while (lc->qhead) {
		struct lc_entry *q = lc->qhead;

		lc->qhead = q->qnext;
		lc_unref(q);
	}
	while (lc->checks) {
		struct lc_check *k = lc->checks;

		lc->checks = k->next;
		if (k->deadline)
			event_free(k->deadline);
		sock_free(k->sk);
		login_auth_clear(&k->auth);
		k->e->check = NULL;
		lc_unref(k->e);
		free(k);
	}
	for (int i = 0; i < LC_BUCKETS; i++) {
		struct lc_entry *e = lc->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			unlink_entry(e);
		}
	}
	free(lc);
	d->logins = NULL;
}
