/* The admin console: a session of the virtual database pgbatchd, answered by pgbatchd alone over the simple and extended protocols. */
#include "proxy/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/version.h"
#include "conf/config.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/ccmd.h"
#include "proxy/client.h"
#include "proxy/cshow.h"
#include "proxy/csql.h"
#include "proxy/daemon.h"
#include "proxy/sock.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

/*
 * What a driver needs of a server to run a statement and read its rows is
 * all the console speaks: Query; Parse, Bind, Describe, Execute (with its row
 * limit: PortalSuspended), Close, Sync and Flush, without parameters, results
 * in text or binary (pgjdbc, psycopg 3 and asyncpg use these even for SHOW);
 * BEGIN, COMMIT, ROLLBACK and SET are taken and change nothing (drivers send
 * them on their own). Every reply is a real RowDescription / DataRow /
 * CommandComplete, so psql's \x, a JDBC ResultSet and a psycopg cursor read
 * it. A portal is run once, at its first Execute, and its answer kept: a
 * later Execute takes the next rows. FLUSH answers once its rows are
 * written; meanwhile the session reads on but runs nothing.
 */

/* A prepared statement, or a portal (its answer once run). */
struct cnamed {
	struct cnamed *next;
	char *name;
	char *sql;
	bool run;                   /* portal: run, its answer in out */
	struct pktbuf out;          /* ... DataRows, then its last message */
	size_t pos;                 /* ... the next one to send */
	uint16_t nfmt;              /* ... its Bind's result formats */
	uint8_t fmt[COUT_MAX_COLS];
};

struct console {
	struct ccmd_session cs;
	struct cout o;              /* replies, and the portal's result formats */
	bool skip;                  /* extended protocol: an error, skipping to Sync */
	bool wait_query;            /* a FLUSH of a Query waits: the rest of it, then ReadyForQuery */
	char *rest;                 /* ... its statements after the FLUSH */
	struct cnamed *stmts, *portals;
};

/* ---------------------------------------------------------------- output -- */

static void send_out(struct client *c)
{
	struct console *k = c->console;

	if (pkt_ok(&k->o.pb) && k->o.pb.len)
		client_put(c, k->o.pb.data, k->o.pb.len);
	pkt_reset(&k->o.pb);
}

static int fail(struct console *k, const char *sqlstate, const char *message)
{
	return cout_fail(&k->o, sqlstate, message, NULL);
}

static void simple_msg(struct console *k, char type)
{
	pkt_begin(&k->o.pb, type);
	pkt_end(&k->o.pb);
}

void console_flushed(void *arg, bool paused)
{
	struct client *c = arg;
	struct console *k = c->console;

	k->cs.waiting = false;
	if (paused) {
		cout_fail(&k->o, "55000", "the table was paused before its rows were written", NULL);
		if (k->wait_query) {
			free(k->rest);
			k->rest = NULL;         /* (a Query stops at its error) */
		} else {
			k->skip = true;         /* (an Execute's: to the Sync) */
		}
	} else {
		pkt_command_complete(&k->o.pb, "FLUSH");
	}
	/* the rest from the loop, through the socket: reading is turned on
	 * again there if the input filled up meanwhile */
	sock_kick(c->sk);
}

/* --------------------------------------------------------------- queries -- */

/* The statements of a Query from sql on; RUN_WAIT when a FLUSH waits (the
 * rest kept for then). */
static int run_query(struct client *c, const char *sql)
{
	struct console *k = c->console;
	const char *err;
	size_t pos = 0;
	char *one;
	int r = RUN_OK;
	bool ran = false;

	while ((one = csql_next(sql, &pos, &err)) != NULL) {
		r = ccmd_run(&k->cs, one, OUT_DESC | OUT_ROWS);
		free(one);
		ran = true;
		if (r == RUN_WAIT) {
			free(k->rest);
			k->rest = sql[pos] ? strdup(sql + pos) : NULL;
			return RUN_WAIT;
		}
		if (r == RUN_ERROR)
			return r;
	}
	if (err) {
		r = cout_fail(&k->o, "42601", err, NULL);
		if (k->cs.tx == 'T')
			k->cs.tx = 'E';
		return r;
	}
	if (!ran)
		simple_msg(k, 'I');     /* EmptyQueryResponse */
	return r;
}

/* ------------------------------------------------------- extended protocol -- */

static struct cnamed *find(struct cnamed *list, const char *name)
{
	for (; list; list = list->next)
		if (strcmp(list->name, name) == 0)
			return list;
	return NULL;
}

static void drop(struct cnamed **list, const char *name)
{
	for (struct cnamed **p = list; *p; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0) {
			struct cnamed *n = *p;

			*p = n->next;
			free(n->name);
			free(n->sql);
			pkt_free(&n->out);
			free(n);
			return;
		}
}

static struct cnamed *add(struct cnamed **list, const char *name, const char *sql)
{
	struct cnamed *n = calloc(1, sizeof(*n));

	if (n == NULL || (n->name = strdup(name)) == NULL || (n->sql = strdup(sql)) == NULL) {
		if (n)
			free(n->name);
		free(n);
		return NULL;
	}
	pkt_init(&n->out);
	n->next = *list;
	*list = n;
	return n;
}

static int bad_message(struct console *k, const char *what)
{
	char msg[80];

	snprintf(msg, sizeof(msg), "invalid %s message format", what);
	return fail(k, "08P01", msg);
}

static int ext_parse(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	const char *name, *sql, *err;
	uint16_t ntypes;
	uint32_t t;
	char msg[128];
	int n;

	if (!rd_cstring(r, &name, NULL) || !rd_cstring(r, &sql, NULL) || !rd_u16(r, &ntypes))
		return bad_message(k, "Parse");
	for (int i = 0; i < ntypes; i++)
		if (!rd_u32(r, &t))
			return bad_message(k, "Parse");
	if (!rd_at_end(r))
		return bad_message(k, "Parse");
	if (ntypes > 0)
		return fail(k, "0A000", "the console takes no parameters");
	if ((n = csql_count(sql, &err)) < 0)
		return fail(k, "42601", err);
	if (n > 1)
		return fail(k, "42601", "cannot insert multiple commands into a prepared statement");
	if (name[0] && find(k->stmts, name)) {
		snprintf(msg, sizeof(msg), "prepared statement \"%.80s\" already exists", name);
		return fail(k, "42P05", msg);
	}
	drop(&k->stmts, "");         /* (the unnamed one is replaced) */
	if (add(&k->stmts, name, sql) == NULL)
		return fail(k, "53200", "out of memory");
	simple_msg(k, '1');
	return RUN_OK;
}

static int ext_bind(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	const char *portal, *name;
	uint16_t nf, np, nr, f;
	uint8_t fmt[COUT_MAX_COLS];
	struct cnamed *s, *p;
	char msg[128];

	if (!rd_cstring(r, &portal, NULL) || !rd_cstring(r, &name, NULL) || !rd_u16(r, &nf))
		return bad_message(k, "Bind");
	for (int i = 0; i < nf; i++)
		if (!rd_u16(r, &f))
			return bad_message(k, "Bind");
	if (!rd_u16(r, &np))
		return bad_message(k, "Bind");
	if (np > 0)
		return fail(k, "0A000", "the console takes no parameters");
	if (!rd_u16(r, &nr))
		return bad_message(k, "Bind");
	for (int i = 0; i < nr; i++) {
		if (!rd_u16(r, &f))
			return bad_message(k, "Bind");
		if (f > 1) {
			snprintf(msg, sizeof(msg), "unsupported format code: %u", f);
			return fail(k, "22023", msg);
		}
		if (i < COUT_MAX_COLS)
			fmt[i] = (uint8_t)f;
	}
	if (!rd_at_end(r))
		return bad_message(k, "Bind");
	if ((s = find(k->stmts, name)) == NULL) {
		snprintf(msg, sizeof(msg), "prepared statement \"%.80s\" does not exist", name);
		return fail(k, "26000", msg);
	}
	if (portal[0] && find(k->portals, portal)) {
		snprintf(msg, sizeof(msg), "portal \"%.80s\" already exists", portal);
		return fail(k, "42P03", msg);
	}
	drop(&k->portals, "");
	if ((p = add(&k->portals, portal, s->sql)) == NULL)
		return fail(k, "53200", "out of memory");
	/* (more formats than the console has columns: one per column cannot be) */
	p->nfmt = nr > COUT_MAX_COLS ? COUT_MAX_COLS + 1 : nr;
	memcpy(p->fmt, fmt, nr < COUT_MAX_COLS ? nr : COUT_MAX_COLS);
	simple_msg(k, '2');
	return RUN_OK;
}

/* Runs sql for a portal's formats (p NULL: text); an ErrorResponse in place
 * of what it wrote when the formats do not fit its columns. */
static int run_formatted(struct console *k, struct cnamed *p, const char *sql, int mode)
{
	size_t start = k->o.pb.len;
	char msg[128];
	int r;

	k->o.fmt_on = p != NULL;
	k->o.fmt_bad = false;
	if (p) {
		k->o.nfmt = p->nfmt;
		memcpy(k->o.fmt, p->fmt, sizeof(k->o.fmt));
	}
	r = ccmd_run(&k->cs, sql, mode);
	k->o.fmt_on = false;
	if (k->o.fmt_bad) {
		k->o.pb.len = start;
		snprintf(msg, sizeof(msg), "bind message has %d result formats but query has %d columns",
			 p->nfmt, k->o.fmt_cols);
		return fail(k, "08P01", msg);
	}
	return r;
}

static int ext_describe(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	uint8_t what;
	const char *name, *err;
	struct cnamed *n;
	char msg[128], *one;
	size_t pos = 0;
	int rr;

	if (!rd_u8(r, &what) || !rd_cstring(r, &name, NULL) || !rd_at_end(r))
		return bad_message(k, "Describe");
	if (what != 'S' && what != 'P') {
		snprintf(msg, sizeof(msg), "invalid DESCRIBE message subtype %d", what);
		return fail(k, "08P01", msg);
	}
	if ((n = find(what == 'S' ? k->stmts : k->portals, name)) == NULL) {
		snprintf(msg, sizeof(msg), what == 'S' ? "prepared statement \"%.80s\" does not exist" :
			 "portal \"%.80s\" does not exist", name);
		return fail(k, what == 'S' ? "26000" : "34000", msg);
	}
	if (what == 'S') {
		pkt_begin(&k->o.pb, 't');       /* ParameterDescription: none */
		pkt_put_u16(&k->o.pb, 0);
		pkt_end(&k->o.pb);
	}
	if ((one = csql_next(n->sql, &pos, &err)) == NULL) {
		if (err)
			return fail(k, "42601", err);
		simple_msg(k, 'n');             /* an empty statement: NoData */
		return RUN_OK;
	}
	{
		size_t before = k->o.pb.len;

		rr = run_formatted(k, what == 'P' ? n : NULL, one, OUT_DESC);
		if (rr == RUN_OK && k->o.pb.len == before)
			simple_msg(k, 'n');     /* (a transaction word: no rows) */
	}
	free(one);
	return rr;
}

/* A portal's kept answer, up to max DataRows (0: all); PortalSuspended when
 * rows are left. */
static void serve(struct console *k, struct cnamed *p, uint32_t max)
{
	struct pktreader r;
	uint32_t sent = 0, len;
	uint8_t type;
	const uint8_t *body;

	while (p->pos < p->out.len) {
		size_t at = p->pos;

		rd_init(&r, p->out.data + at, p->out.len - at);
		if (!rd_u8(&r, &type) || !rd_u32(&r, &len) || len < 4 || !rd_bytes(&r, len - 4, &body))
			break;
		if (type == 'D' && max && sent == max) {
			simple_msg(k, 's');             /* PortalSuspended */
			return;
		}
		pkt_put_bytes(&k->o.pb, p->out.data + at, 1 + (size_t)len);
		if (type != 'D')
			return;                         /* its last message: sent again by a later Execute */
		p->pos = at + 1 + len;
		sent++;
	}
}

static int ext_execute(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	const char *name, *err;
	uint32_t max;
	struct cnamed *p;
	char msg[128], *one;
	size_t pos = 0, start;
	int rr;

	if (!rd_cstring(r, &name, NULL) || !rd_u32(r, &max) || !rd_at_end(r))
		return bad_message(k, "Execute");
	if ((p = find(k->portals, name)) == NULL) {
		snprintf(msg, sizeof(msg), "portal \"%.80s\" does not exist", name);
		return fail(k, "34000", msg);
	}
	if (p->run) {
		serve(k, p, max);
		return RUN_OK;
	}
	p->run = true;
	if ((one = csql_next(p->sql, &pos, &err)) == NULL) {
		if (err)
			return fail(k, "42601", err);
		simple_msg(k, 'I');
		return RUN_OK;
	}
	start = k->o.pb.len;
	rr = run_formatted(k, p, one, OUT_ROWS);
	free(one);
	if (rr == RUN_WAIT) {
		/* a FLUSH: its CommandComplete comes later, and later Executes repeat it */
		pkt_command_complete(&p->out, "FLUSH");
		return rr;
	}
	if (rr != RUN_OK || !pkt_ok(&k->o.pb))
		return rr;
	/* the answer is the portal's: sent from there, max rows at a time */
	pkt_put_bytes(&p->out, k->o.pb.data + start, k->o.pb.len - start);
	k->o.pb.len = start;
	if (!pkt_ok(&p->out))
		return fail(k, "53200", "out of memory");
	serve(k, p, max);
	return RUN_OK;
}

static int ext_close(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	uint8_t what;
	const char *name;
	char msg[80];

	if (!rd_u8(r, &what) || !rd_cstring(r, &name, NULL) || !rd_at_end(r))
		return bad_message(k, "Close");
	if (what != 'S' && what != 'P') {
		snprintf(msg, sizeof(msg), "invalid CLOSE message subtype %d", what);
		return fail(k, "08P01", msg);
	}
	drop(what == 'S' ? &k->stmts : &k->portals, name);
	simple_msg(k, '3');
	return RUN_OK;
}

/* ----------------------------------------------------------------- session -- */

static void ready(struct console *k)
{
	pkt_ready(&k->o.pb, k->cs.tx);
}

/* One message; false when the session ended. */
static bool message(struct client *c, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct console *k = c->console;
	struct pktreader r;
	const char *sql;
	int rr = RUN_OK;

	rd_init(&r, body, len);
	if (k->skip && type != 'S')
		return true;
	switch (type) {
	case 'Q':
		/* (a Query ends the unnamed statement and portal, as in PostgreSQL) */
		drop(&k->stmts, "");
		drop(&k->portals, "");
		if (!rd_cstring(&r, &sql, NULL) || !rd_at_end(&r))
			rr = bad_message(k, "Query");
		else
			rr = run_query(c, sql);
		if (rr == RUN_WAIT)
			k->wait_query = true;
		else
			ready(k);
		return true;
	case 'P':
		rr = ext_parse(c, &r);
		break;
	case 'B':
		rr = ext_bind(c, &r);
		break;
	case 'D':
		rr = ext_describe(c, &r);
		break;
	case 'E':
		rr = ext_execute(c, &r);
		break;
	case 'C':
		rr = ext_close(c, &r);
		break;
	case 'S':
		if (!rd_at_end(&r)) {
			rr = bad_message(k, "Sync");
			break;
		}
		k->skip = false;
		if (k->cs.tx == 'I')
			drop(&k->portals, "");       /* (the end of its implicit transaction) */
		ready(k);
		return true;
	case 'H':
		return true;
	case 'F':
		/* a simple-protocol message: its error, then ReadyForQuery */
		fail(k, "0A000", "the console has no functions");
		ready(k);
		return true;
	case 'd':
	case 'c':
	case 'f':
		return true;    /* COPY messages outside a COPY: ignored, as PostgreSQL does */
	default: {
		char msg[80];

		send_out(c);
		snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
		client_fatal(c, "08P01", msg, NULL);
		return false;
	}
	}
	if (rr == RUN_ERROR) {
		k->skip = true;
		if (k->cs.tx == 'T')
			k->cs.tx = 'E';
	}
	return true;
}

void console_read(struct client *c)
{
	struct console *k = c->console;
	struct evbuffer *in = sock_input(c->sk);
	uint8_t type, *p;
	uint32_t len, limit = (uint32_t)c->d->cfg->max_inspect_bytes;
	bool done = false;

	if (k->cs.waiting)
		return;         /* (console_flushed kicks the socket) */
	if (k->wait_query) {
		/* a FLUSH of a Query is answered: the rest of it, then ReadyForQuery */
		char *rest = k->rest;

		k->rest = NULL;
		k->wait_query = false;
		if (rest && run_query(c, rest) == RUN_WAIT)
			k->wait_query = true;
		else
			ready(k);
		free(rest);
		done = !k->wait_query;
	}
	while (c->state == CL_ACTIVE && !k->cs.waiting && evbuffer_get_length(in) >= PKT_HDR_LEN) {
		if (k->cs.shutdown && done)
			break;          /* (the rest is for nobody: the shutdown ends the session) */
		send_out(c);
		if (client_output_full(c)) {
			/* a client that does not read its answers: nothing more is read
			 * until it does (client_write_cb releases it) */
			client_hold(c, HOLD_OUTPUT);
			return;
		}
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || len > limit) {
			client_fatal(c, "08P01", "invalid message length", NULL);
			return;
		}
		if (evbuffer_get_length(in) < PKT_HDR_LEN + (size_t)len)
			break;
		if (type == 'X') {
			evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
			send_out(c);
			client_finish(c, "client sent Terminate");
			return;
		}
		p = evbuffer_pullup(in, PKT_HDR_LEN + (ssize_t)len);
		if (!message(c, type, p + PKT_HDR_LEN, len))
			return;
		evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
		if (!pkt_ok(&k->o.pb)) {
			pkt_reset(&k->o.pb);
			client_fatal(c, "53200", "out of memory", NULL);
			return;
		}
		/* SHUTDOWN starts once the Query or the Sync after it is answered */
		done = (type == 'Q' && !k->wait_query) || type == 'S';
	}
	send_out(c);
	if (k->cs.shutdown && done && !c->d->shutting_down)
		daemon_shutdown(c->d, "SHUTDOWN from the console");
}

void console_cancel(struct client *c)
{
	struct console *k = c->console;

	if (!k || !k->cs.waiting)
		return;
	sink_flush_forget(c->d->sink, c);
	k->cs.waiting = false;
	fail(k, "57014", "canceling statement due to user request");
	if (k->cs.tx == 'T')
		k->cs.tx = 'E';
	if (!k->wait_query) {
		k->skip = true;         /* (an Execute's: to the Sync) */
	} else {
		free(k->rest);
		k->rest = NULL;         /* (a Query stops at its error) */
	}
	sock_kick(c->sk);
}

char console_tx(const struct client *c)
{
	return c->console->cs.tx;
}

/* ------------------------------------------------------------------- login -- */

bool console_wanted(const struct client *c)
{
	return c->database && strcmp(c->database, CONSOLE_DBNAME) == 0;
}

static bool listed(const char *list, const char *user)
{
	size_t n = strlen(user);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, user, n) == 0)
			return true;
		p = e ? e + 1 : p + len;
	}
	return false;
}

static const char *param(const struct client *c, const char *name)
{
	for (char **p = c->params; p && p[0]; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

void console_login(struct client *c)
{
	const struct config *cfg = c->d->cfg;
	bool admin = listed(cfg->admin_users, c->user);
	struct console *k;
	struct pktbuf pb;
	const char *app = param(c, "application_name");

	if (!admin && !listed(cfg->stats_users, c->user)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "permission denied for database \"%s\"", CONSOLE_DBNAME);
		log_info(c->prefix, "console: user is in neither admin_users nor stats_users");
		client_fatal(c, "42501", msg, "The user is in neither admin_users nor stats_users.");
		return;
	}
	if (c->d->shutting_down) {
		client_fatal(c, "57P03", "the database system is shutting down", NULL);
		return;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		client_fatal(c, "53200", "out of memory", NULL);
		return;
	}
	k->cs.c = c;
	k->cs.o = &k->o;
	k->cs.admin = admin;
	k->cs.tx = 'I';
	pkt_init(&k->o.pb);
	c->console = k;
	c->key_pid = 0x40000000u | (uint32_t)(c->id & 0x3fffffff);
	if (RAND_bytes((unsigned char *)&c->key_secret, sizeof(c->key_secret)) != 1)
		c->key_secret = (uint32_t)c->id * 2654435761u;
	pkt_init(&pb);
	/* what drivers need of a server: a version they can parse (the
	 * PostgreSQL pgbatchd is made for), UTF-8, ISO dates */
	pkt_parameter_status(&pb, "server_version", "15.0 (pgbatchd " PGBATCHD_VERSION " console)");
	pkt_parameter_status(&pb, "server_encoding", "UTF8");
	pkt_parameter_status(&pb, "client_encoding", "UTF8");
	pkt_parameter_status(&pb, "DateStyle", "ISO, MDY");
	pkt_parameter_status(&pb, "IntervalStyle", "postgres");
	pkt_parameter_status(&pb, "TimeZone", "UTC");
	pkt_parameter_status(&pb, "integer_datetimes", "on");
	pkt_parameter_status(&pb, "standard_conforming_strings", "on");
	pkt_parameter_status(&pb, "is_superuser", "off");
	pkt_parameter_status(&pb, "session_authorization", c->user);
	pkt_parameter_status(&pb, "application_name", app ? app : "");
	pkt_backend_key(&pb, c->key_pid, c->key_secret);
	pkt_ready(&pb, 'I');
	if (pkt_ok(&pb))
		client_put(c, pb.data, pb.len);
	pkt_free(&pb);
	c->tx_status = 'I';
	client_set_state(c, CL_ACTIVE);
	log_info(c->prefix, "login: console session (%s)", admin ? "admin" : "stats");
	sock_kick(c->sk);
}

void console_free(struct client *c)
{
	struct console *k = c->console;

	if (k == NULL)
		return;
	if (k->cs.waiting && c->d->sink)
		sink_flush_forget(c->d->sink, c);
	while (k->stmts)
		drop(&k->stmts, k->stmts->name);
	while (k->portals)
		drop(&k->portals, k->portals->name);
	free(k->rest);
	pkt_free(&k->o.pb);
	free(k);
	c->console = NULL;
}
