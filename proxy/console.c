/* The admin console: a session of the virtual database pgbatchd, answered by pgbatchd alone over the simple and extended protocols. */
#include "proxy/console.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/version.h"
#include "conf/config.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/client.h"
#include "proxy/cshow.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "proxy/sock.h"
#include "sink/sink.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

/*
 * What a driver needs of a server to run a statement and read its rows is
 * all the console speaks: Query; Parse, Bind, Describe, Execute, Close, Sync
 * and Flush without parameters and with text results (pgjdbc, psycopg 3 and
 * asyncpg use these even for SHOW); BEGIN, COMMIT, ROLLBACK and SET are taken
 * and change nothing (drivers send them on their own). Every reply is a real
 * RowDescription / DataRow / CommandComplete, so psql's \x, a JDBC ResultSet
 * and a psycopg cursor read it. FLUSH answers once its rows are written.
 */

#define MAX_STMTS 32
#define MAX_NAME 64


struct cstmt {
	char name[MAX_NAME];
	char *sql;
};

struct console {
	bool admin;                 /* admin_users (else stats_users: SHOW only) */
	char tx;                    /* 'I', or 'T' after BEGIN */
	bool skip;                  /* extended protocol: an error, skipping to Sync */
	bool waiting;               /* a FLUSH waits for its rows */
	bool wait_query;            /* ... sent in a Query: ReadyForQuery follows */
	char *rest;                 /* ... and the statements of that Query after it */
	struct cstmt stmts[MAX_STMTS];
	char *portal;               /* the unnamed portal's statement */
	struct cout o;              /* replies, and the portal's result formats */
};

/* ---------------------------------------------------------------- output -- */

static void send_out(struct client *c)
{
	struct console *k = c->console;

	if (pkt_ok(&k->o.pb) && k->o.pb.len)
		client_put(c, k->o.pb.data, k->o.pb.len);
	pkt_reset(&k->o.pb);
}

static int show_help(struct daemon *d, struct cout *o, int mode);

/* -------------------------------------------------------------- commands -- */

static void flushed(void *arg)
{
	struct client *c = arg;
	struct console *k = c->console;

	k->waiting = false;
	pkt_command_complete(&k->o.pb, "FLUSH");
	console_read(c);        /* what waited behind it (a Query's ReadyForQuery) */
}

static int do_flush(struct client *c, const char *arg, int mode)
{
	struct console *k = c->console;
	char msg[400];

	if (!(mode & OUT_ROWS))
		return RUN_OK;
	if (c->d->sink == NULL) {
		if (arg) {
			snprintf(msg, sizeof(msg), "table \"%s\" is not configured", arg);
			return cout_fail(&k->o, "42P01", msg, NULL);
		}
		cout_complete(&k->o, "FLUSH", mode);
		return RUN_OK;
	}
	switch (sink_flush_now(c->d->sink, arg, flushed, c)) {
	case 0:
		k->waiting = true;
		return RUN_WAIT;
	case -1:
		snprintf(msg, sizeof(msg), "table \"%s\" is not configured", arg);
		return cout_fail(&k->o, "42P01", msg, NULL);
	case -2:
		snprintf(msg, sizeof(msg), "table \"%s\" is paused", arg);
		return cout_fail(&k->o, "55000", msg, "RESUME it first.");
	default:
		return cout_fail(&k->o, "53200", "out of memory", NULL);
	}
}

static int do_pause(struct client *c, const char *arg, int mode, bool pause)
{
	struct console *k = c->console;
	char msg[400];

	if (!(mode & OUT_ROWS))
		return RUN_OK;
	if (c->d->sink == NULL || sink_pause(c->d->sink, arg, pause) < 0) {
		if (arg == NULL) {
			cout_complete(&k->o, pause ? "PAUSE" : "RESUME", mode);
			return RUN_OK;
		}
		snprintf(msg, sizeof(msg), "table \"%s\" is not configured", arg);
		return cout_fail(&k->o, "42P01", msg, NULL);
	}
	log_info(c->prefix, "console: %s %s", pause ? "PAUSE" : "RESUME", arg ? arg : "(every table)");
	cout_complete(&k->o, pause ? "PAUSE" : "RESUME", mode);
	return RUN_OK;
}

static int do_pause_cmd(struct client *c, const char *arg, int mode)
{
	return do_pause(c, arg, mode, true);
}

static int do_resume(struct client *c, const char *arg, int mode)
{
	return do_pause(c, arg, mode, false);
}

static int do_reload(struct client *c, const char *arg, int mode)
{
	struct console *k = c->console;
	char why[512];

	(void)arg;
	if (!(mode & OUT_ROWS))
		return RUN_OK;
	log_info(c->prefix, "console: RELOAD");
	if (!daemon_reload(c->d, why, sizeof(why)))
		return cout_fail(&k->o, "F0000", why, "The old configuration stays in effect.");
	cout_complete(&k->o, "RELOAD", mode);
	return RUN_OK;
}

static int do_shutdown(struct client *c, const char *arg, int mode)
{
	(void)arg;
	cout_complete(&c->console->o, "SHUTDOWN", mode);     /* (run() starts it once answered) */
	return RUN_OK;
}

struct ccmd {
	const char *verb;
	const char *object;         /* SHOW's; NULL: the verb alone, with an optional argument */
	bool admin;                 /* admin_users only */
	bool arg;                   /* takes a table name */
	int (*show)(struct daemon *d, struct cout *o, int mode);        /* SHOW: its rows */
	int (*fn)(struct client *c, const char *arg, int mode);         /* the others */
	const char *help;
};

static const struct ccmd commands[] = {
	{ "SHOW", "STATS", false, false, cshow_stats, NULL, "totals and rates" },
	{ "SHOW", "TABLES", false, false, cshow_tables, NULL, "per configured table: modes, rows, buffer, batches, state" },
	{ "SHOW", "CLIENTS", false, false, cshow_clients, NULL, "every client session" },
	{ "SHOW", "WRITERS", false, false, cshow_writers, NULL, "the sink's writer connections" },
	{ "SHOW", "CONFIG", false, false, cshow_config, NULL, "every setting: value, default, reloadable" },
	{ "SHOW", "PASSTHROUGH", false, false, cshow_passthrough, NULL,
	  "INSERTs into configured tables passed through, by reason" },
	{ "SHOW", "REJECTS", false, false, cshow_rejects, NULL, "the rows refused last, newest first" },
	{ "SHOW", "VERSION", false, false, cshow_version, NULL, "pgbatchd's version" },
	{ "SHOW", "HELP", false, false, show_help, NULL, "this list" },
	{ "FLUSH", NULL, true, true, NULL, do_flush, "FLUSH [table]: write buffered rows now; answers once written" },
	{ "PAUSE", NULL, true, true, NULL, do_pause_cmd, "PAUSE [table]: buffer rows, write none" },
	{ "RESUME", NULL, true, true, NULL, do_resume,
	  "RESUME [table]: write again (also ends an exceptionmode=strict stop)" },
	{ "RELOAD", NULL, true, false, NULL, do_reload, "read the configuration file again (as SIGHUP)" },
	{ "SHUTDOWN", NULL, true, false, NULL, do_shutdown, "write every buffered row, then exit (as SIGTERM)" },
};
#define NCOMMANDS (int)(sizeof(commands) / sizeof(commands[0]))

static int show_help(struct daemon *d, struct cout *o, int mode)
{
	static const struct ccol cols[] = { { "command", OID_TEXT }, { "description", OID_TEXT } };
	char name[64];

	(void)d;
	cout_columns(o, cols, 2, mode);
	for (int i = 0; i < NCOMMANDS && (mode & OUT_ROWS); i++) {
		snprintf(name, sizeof(name), "%s%s%s", commands[i].verb, commands[i].object ? " " : "",
			 commands[i].object ? commands[i].object : "");
		cout_row_begin(o, 2);
		cout_cell(o, name);
		cout_cell(o, commands[i].help);
		cout_row_end(o);
	}
	cout_complete_rows(o, "SHOW", (uint64_t)NCOMMANDS, mode);
	return RUN_OK;
}

/* ---------------------------------------------------------------- parser -- */

/* The next word of *p (letters, digits, _ . $, or a "quoted" name) into
 * word; false at the end. */
static bool next_word(const char **p, char *word, size_t size, bool *quoted)
{
	const char *s = *p;
	size_t n = 0;

	while (isspace((unsigned char)*s))
		s++;
	*quoted = false;
	if (*s == '\0')
		return false;
	if (*s == '"') {
		*quoted = true;
		for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
			if (*s == '"')
				s++;
			if (n + 1 < size)
				word[n++] = *s;
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && !isspace((unsigned char)*s) && n + 1 < size)
			word[n++] = *s++;
	}
	word[n] = '\0';
	*p = s;
	return true;
}

static bool is_word(const char *w, const char *x)
{
	return strcasecmp(w, x) == 0;
}

/* One statement (no ';'). */
static int run(struct client *c, const char *sql, int mode)
{
	struct console *k = c->console;
	char verb[64], obj[64], arg[260], extra[8], msg[400];
	const char *p = sql;
	bool q;
	int i, r;

	if (!next_word(&p, verb, sizeof(verb), &q)) {
		if (mode & OUT_ROWS)
			pkt_begin(&k->o.pb, 'I'), pkt_end(&k->o.pb);     /* EmptyQueryResponse */
		return RUN_OK;
	}
	if (is_word(verb, "BEGIN") || is_word(verb, "START")) {
		k->tx = 'T';
		cout_complete(&k->o, is_word(verb, "BEGIN") ? "BEGIN" : "START TRANSACTION", mode);
		return RUN_OK;
	}
	if (is_word(verb, "COMMIT") || is_word(verb, "END") || is_word(verb, "ROLLBACK") || is_word(verb, "ABORT")) {
		k->tx = 'I';
		cout_complete(&k->o, is_word(verb, "COMMIT") || is_word(verb, "END") ? "COMMIT" : "ROLLBACK", mode);
		return RUN_OK;
	}
	if (is_word(verb, "SET") || is_word(verb, "RESET") || is_word(verb, "DISCARD")) {
		cout_complete(&k->o, is_word(verb, "SET") ? "SET" : is_word(verb, "RESET") ? "RESET" : "DISCARD ALL", mode);
		return RUN_OK;
	}
	obj[0] = arg[0] = '\0';
	for (i = 0; i < NCOMMANDS; i++) {
		if (!is_word(verb, commands[i].verb))
			continue;
		if (commands[i].object) {
			const char *save = p;

			if (!next_word(&p, obj, sizeof(obj), &q) || q || !is_word(obj, commands[i].object)) {
				p = save;
				continue;
			}
		}
		break;
	}
	if (i == NCOMMANDS) {
		if (is_word(verb, "SHOW"))
			snprintf(msg, sizeof(msg), "unrecognized SHOW item \"%s\"", next_word(&p, obj, sizeof(obj), &q) ? obj : "");
		else
			snprintf(msg, sizeof(msg), "unrecognized console command \"%s\"", verb);
		return cout_fail(&k->o, "42601", msg, "SHOW HELP lists the commands.");
	}
	if (commands[i].arg && next_word(&p, arg, sizeof(arg), &q) && !q)
		for (char *a = arg; *a; a++)
			*a = (char)tolower((unsigned char)*a);
	if (next_word(&p, extra, sizeof(extra), &q)) {
		snprintf(msg, sizeof(msg), "syntax error at or near \"%s\"", extra);
		return cout_fail(&k->o, "42601", msg, NULL);
	}
	if (commands[i].admin && !k->admin) {
		snprintf(msg, sizeof(msg), "permission denied to run %s", commands[i].verb);
		return cout_fail(&k->o, "42501", msg, "Only the users of admin_users may; stats_users may SHOW.");
	}
	if (commands[i].show)
		return commands[i].show(c->d, &k->o, mode);
	if (mode == OUT_DESC) {
		pkt_begin(&k->o.pb, 'n');        /* NoData (a Describe's) */
		pkt_end(&k->o.pb);
	}
	r = commands[i].fn(c, arg[0] ? arg : NULL, mode);
	if (r == RUN_OK && (mode & OUT_ROWS) && commands[i].fn == do_shutdown) {
		log_info(c->prefix, "console: SHUTDOWN");
		r = RUN_WAIT + 1;       /* told to the caller: shut down once the answer is out */
	}
	return r;
}

/* The statements of a Query, from sql on: RUN_WAIT when a FLUSH waits. */
static int run_query(struct client *c, const char *sql, bool *shutdown)
{
	struct console *k = c->console;
	const char *p = sql;
	char *one;
	int r = RUN_OK;
	bool ran = false;

	while (*p) {
		const char *semi = strchr(p, ';');
		size_t n = semi ? (size_t)(semi - p) : strlen(p);
		bool blank = true;

		for (size_t i = 0; i < n; i++)
			blank &= isspace((unsigned char)p[i]) != 0;
		if (blank) {
			p += n + (semi != NULL);
			continue;
		}
		if ((one = strndup(p, n)) == NULL)
			return cout_fail(&k->o, "53200", "out of memory", NULL);
		r = run(c, one, OUT_DESC | OUT_ROWS);
		free(one);
		ran = true;
		p += n + (semi != NULL);
		if (r == RUN_WAIT + 1) {
			*shutdown = true;
			r = RUN_OK;
		}
		if (r == RUN_WAIT) {
			free(k->rest);
			k->rest = *p ? strdup(p) : NULL;
			return RUN_WAIT;
		}
		if (r == RUN_ERROR)
			return r;
	}
	if (!ran)
		return run(c, "", OUT_ROWS);
	return r;
}

/* ------------------------------------------------------- extended protocol -- */

static struct cstmt *find_stmt(struct console *k, const char *name)
{
	for (int i = 0; i < MAX_STMTS; i++)
		if (k->stmts[i].sql && strcmp(k->stmts[i].name, name) == 0)
			return &k->stmts[i];
	return NULL;
}

static int ext_parse(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	const char *name, *sql;
	uint16_t ntypes;
	struct cstmt *s;

	if (!rd_cstring(r, &name, NULL) || !rd_cstring(r, &sql, NULL) || !rd_u16(r, &ntypes))
		return cout_fail(&k->o, "08P01", "invalid Parse message", NULL);
	if (ntypes > 0 || strchr(sql, '$'))
		return cout_fail(&k->o, "0A000", "the console takes no parameters", NULL);
	if (strlen(name) >= MAX_NAME)
		return cout_fail(&k->o, "42602", "prepared statement name too long", NULL);
	if ((s = find_stmt(k, name)) != NULL && name[0]) {
		char msg[128];

		snprintf(msg, sizeof(msg), "prepared statement \"%s\" already exists", name);
		return cout_fail(&k->o, "42P05", msg, NULL);
	}
	if (s == NULL)
		for (int i = 0; i < MAX_STMTS && s == NULL; i++)
			if (k->stmts[i].sql == NULL)
				s = &k->stmts[i];
	if (s == NULL)
		return cout_fail(&k->o, "54000", "too many prepared statements in a console session", NULL);
	free(s->sql);
	snprintf(s->name, sizeof(s->name), "%s", name);
	if ((s->sql = strdup(sql)) == NULL)
		return cout_fail(&k->o, "53200", "out of memory", NULL);
	pkt_begin(&k->o.pb, '1');
	pkt_end(&k->o.pb);
	return RUN_OK;
}

static int ext_bind(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	const char *portal, *name;
	uint16_t nf, np, nr, f;
	struct cstmt *s;
	char msg[128];

	if (!rd_cstring(r, &portal, NULL) || !rd_cstring(r, &name, NULL) || !rd_u16(r, &nf))
		return cout_fail(&k->o, "08P01", "invalid Bind message", NULL);
	for (int i = 0; i < nf; i++)
		if (!rd_u16(r, &f))
			return cout_fail(&k->o, "08P01", "invalid Bind message", NULL);
	if (!rd_u16(r, &np) || np > 0)
		return cout_fail(&k->o, "0A000", "the console takes no parameters", NULL);
	if (!rd_u16(r, &nr))
		return cout_fail(&k->o, "08P01", "invalid Bind message", NULL);
	if (nr > COUT_MAX_COLS)
		return cout_fail(&k->o, "54000", "too many result formats", NULL);
	for (int i = 0; i < nr; i++) {
		if (!rd_u16(r, &f))
			return cout_fail(&k->o, "08P01", "invalid Bind message", NULL);
		if (f > 1) {
			snprintf(msg, sizeof(msg), "unsupported format code: %u", f);
			return cout_fail(&k->o, "22023", msg, NULL);
		}
		k->o.fmt[i] = (uint8_t)f;
	}
	k->o.nfmt = nr;
	if (portal[0])
		return cout_fail(&k->o, "0A000", "the console has only the unnamed portal", NULL);
	if ((s = find_stmt(k, name)) == NULL) {
		snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", name);
		return cout_fail(&k->o, "26000", msg, NULL);
	}
	free(k->portal);
	if ((k->portal = strdup(s->sql)) == NULL)
		return cout_fail(&k->o, "53200", "out of memory", NULL);
	pkt_begin(&k->o.pb, '2');
	pkt_end(&k->o.pb);
	return RUN_OK;
}

static int ext_describe(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	uint8_t what;
	const char *name, *sql;
	struct cstmt *s;
	char msg[128];

	if (!rd_u8(r, &what) || !rd_cstring(r, &name, NULL) || (what != 'S' && what != 'P'))
		return cout_fail(&k->o, "08P01", "invalid Describe message", NULL);
	if (what == 'S') {
		if ((s = find_stmt(k, name)) == NULL) {
			snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", name);
			return cout_fail(&k->o, "26000", msg, NULL);
		}
		sql = s->sql;
		pkt_begin(&k->o.pb, 't');        /* ParameterDescription: none */
		pkt_put_u16(&k->o.pb, 0);
		pkt_end(&k->o.pb);
	} else {
		if (name[0] || k->portal == NULL) {
			snprintf(msg, sizeof(msg), "portal \"%s\" does not exist", name);
			return cout_fail(&k->o, "34000", msg, NULL);
		}
		sql = k->portal;
	}
	if (strchr(sql, ';') && strspn(strchr(sql, ';'), "; \t\r\n") != strlen(strchr(sql, ';')))
		return cout_fail(&k->o, "42601", "cannot insert multiple commands into a prepared statement", NULL);
	{
		char *one = strndup(sql, strcspn(sql, ";"));
		bool empty;
		int rr;

		if (one == NULL)
			return cout_fail(&k->o, "53200", "out of memory", NULL);
		empty = strspn(one, " \t\r\n") == strlen(one);
		if (empty) {
			pkt_begin(&k->o.pb, 'n');
			pkt_end(&k->o.pb);
			rr = RUN_OK;
		} else {
			size_t before = k->o.pb.len;

			k->o.fmt_on = what == 'P';
			rr = run(c, one, OUT_DESC);
			k->o.fmt_on = false;
			/* a command without rows said NoData; a transaction word nothing */
			if (rr == RUN_OK && k->o.pb.len == before) {
				pkt_begin(&k->o.pb, 'n');
				pkt_end(&k->o.pb);
			}
		}
		free(one);
		return rr;
	}
}

static int ext_execute(struct client *c, struct pktreader *r, bool *shutdown)
{
	struct console *k = c->console;
	const char *name;
	uint32_t max;
	char *one;
	int rr;

	if (!rd_cstring(r, &name, NULL) || !rd_u32(r, &max))
		return cout_fail(&k->o, "08P01", "invalid Execute message", NULL);
	if (name[0] || k->portal == NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "portal \"%s\" does not exist", name);
		return cout_fail(&k->o, "34000", msg, NULL);
	}
	if ((one = strndup(k->portal, strcspn(k->portal, ";"))) == NULL)
		return cout_fail(&k->o, "53200", "out of memory", NULL);
	k->o.fmt_on = true;
	rr = run(c, one, OUT_ROWS);
	k->o.fmt_on = false;
	free(one);
	if (rr == RUN_WAIT + 1) {
		*shutdown = true;
		rr = RUN_OK;
	}
	return rr;
}

static int ext_close(struct client *c, struct pktreader *r)
{
	struct console *k = c->console;
	uint8_t what;
	const char *name;
	struct cstmt *s;

	if (!rd_u8(r, &what) || !rd_cstring(r, &name, NULL))
		return cout_fail(&k->o, "08P01", "invalid Close message", NULL);
	if (what == 'S' && (s = find_stmt(k, name)) != NULL) {
		free(s->sql);
		s->sql = NULL;
	} else if (what == 'P' && name[0] == '\0') {
		free(k->portal);
		k->portal = NULL;
	}
	pkt_begin(&k->o.pb, '3');
	pkt_end(&k->o.pb);
	return RUN_OK;
}

/* ----------------------------------------------------------------- session -- */

static void ready(struct console *k)
{
	pkt_ready(&k->o.pb, k->tx);
}

void console_read(struct client *c)
{
	struct console *k = c->console;
	struct evbuffer *in = sock_input(c->sk);
	bool shutdown = false;
	uint8_t type, *p;
	uint32_t len;
	struct pktreader r;
	int rr;

	if (k->waiting)
		return;
	if (k->wait_query) {
		/* a FLUSH of a Query is answered: the rest of it, then ReadyForQuery */
		char *rest = k->rest;

		k->rest = NULL;
		k->wait_query = false;
		rr = rest ? run_query(c, rest, &shutdown) : RUN_OK;
		free(rest);
		if (rr == RUN_WAIT) {
			k->wait_query = true;
			send_out(c);
			return;
		}
		ready(k);
	}
	while (c->state == CL_ACTIVE && !k->waiting && evbuffer_get_length(in) >= PKT_HDR_LEN) {
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || len > PKT_SMALL_LIMIT) {
			send_out(c);
			client_fatal(c, "08P01", "invalid message length", NULL);
			return;
		}
		if (evbuffer_get_length(in) < PKT_HDR_LEN + (size_t)len)
			break;
		p = evbuffer_pullup(in, PKT_HDR_LEN + (ssize_t)len);
		rd_init(&r, p + PKT_HDR_LEN, len);
		if (type == 'X') {
			evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
			send_out(c);
			client_finish(c, "client sent Terminate");
			return;
		}
		if (k->skip && type != 'S') {
			evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
			continue;
		}
		switch (type) {
		case 'Q': {
			const char *sql;

			if (!rd_cstring(&r, &sql, NULL)) {
				rr = cout_fail(&k->o, "08P01", "invalid Query message", NULL);
			} else {
				rr = run_query(c, sql, &shutdown);
			}
			if (rr == RUN_WAIT)
				k->wait_query = true;
			else
				ready(k);
			break;
		}
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
			rr = ext_execute(c, &r, &shutdown);
			break;
		case 'C':
			rr = ext_close(c, &r);
			break;
		case 'S':
			k->skip = false;
			ready(k);
			rr = RUN_OK;
			break;
		case 'H':
			rr = RUN_OK;
			break;
		case 'F':
			/* a simple-protocol message: its error, then ReadyForQuery */
			rr = cout_fail(&k->o, "0A000", "the console has no functions", NULL);
			ready(k);
			break;
		case 'd':
		case 'c':
		case 'f':
			rr = RUN_OK;    /* COPY messages outside a COPY: ignored, as PostgreSQL does */
			break;
		default: {
			char msg[80];

			send_out(c);
			snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
			client_fatal(c, "08P01", msg, NULL);
			return;
		}
		}
		if (rr == RUN_ERROR && type != 'Q' && type != 'F')
			k->skip = true;
		evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
		if (!pkt_ok(&k->o.pb)) {
			pkt_reset(&k->o.pb);
			client_fatal(c, "53200", "out of memory", NULL);
			return;
		}
		if (shutdown)
			break;
	}
	send_out(c);
	if (shutdown && !c->d->shutting_down)
		daemon_shutdown(c->d, "SHUTDOWN from the console");
}

void console_cancel(struct client *c)
{
	struct console *k = c->console;

	if (!k || !k->waiting)
		return;
	sink_flush_forget(c->d->sink, c);
	k->waiting = false;
	pkt_error(&k->o.pb, "ERROR", "57014", "canceling statement due to user request", NULL, NULL);
	if (!k->wait_query)
		k->skip = true;         /* (an Execute's: to the Sync) */
	else {
		free(k->rest);
		k->rest = NULL;     /* (a Query stops at its error) */
	}
	console_read(c);
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
	k->admin = admin;
	k->tx = 'I';
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

char console_tx(const struct client *c)
{
	return c->console->tx;
}

void console_free(struct client *c)
{
	struct console *k = c->console;

	if (k == NULL)
		return;
	if (k->waiting && c->d->sink)
		sink_flush_forget(c->d->sink, c);
	for (int i = 0; i < MAX_STMTS; i++)
		free(k->stmts[i].sql);
	free(k->portal);
	free(k->rest);
	pkt_free(&k->o.pb);
	free(k);
	c->console = NULL;
}
