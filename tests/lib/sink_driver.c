/* Development driver for sink/: random INSERTs through the sink vs the same rows run one by one, on a real PostgreSQL. */
/*
 * Usage: sink_driver HOST PORT [SEED] [STATEMENTS] [SHAPE] [MODE] [WRITEMODE]
 * Environment: SINK_WRITERS, SINK_BATCHSIZE, SINK_KEYRANGE (fixed instead of
 * random), SINK_CHAOS=N (terminate the sink's backends about every N
 * statements), SINK_TRACE=1 (print statements), SINK_VERBOSE=1 (debug log).
 * Build (not part of the Makefile):
 *   gcc -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -g -O1 -I. $(pkg-config --cflags libpq) \
 *     tests/lib/sink_driver.c sink/[a-z]*.c protocol/copytext.c protocol/insert.c protocol/sqllex.c \
 *     proxy/log.c -levent -lpq -o /tmp/sink_driver
 *
 * For every table shape x conflictmode x writemode it creates two identical
 * tables, sends random multi-row INSERT statements (parsed by ins_parse) from
 * a few fake sessions through the sink into the first, runs each row alone
 * with its single-row equivalent (DESIGN.md) against the second, drains the
 * sink and compares the tables (EXCEPT ALL both ways) and each statement's
 * outcome. Exit status 0 when every scenario matched.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "conf/config.h"
#include "protocol/insert.h"
#include "proxy/log.h"
#include "sink/buf.h"
#include "sink/sink.h"
#include "sink/sqlgen.h"

#define MAX_COLS 8

enum gen { G_INTKEY, G_TEXT, G_INT, G_TSTZ, G_BOOL, G_NUMKEY, G_TSKEY, G_TEXTKEY, G_UUIDKEY,
	   G_INTARR, G_BYTEA, G_JSONB, G_BOX, G_VC5, G_CH3, G_FLOAT, G_INTERVAL, G_TEXTARR };

struct shape {
	const char *name;
	const char *ddl;            /* %s: the table name (quoted) */
	int ncols;
	const char *cols[MAX_COLS];  /* SQL spelling of each column (quoted when needed) */
	enum gen gens[MAX_COLS];
	bool key[MAX_COLS];
	bool has_default[MAX_COLS];
	const char *conflictkey;
	bool casesensitive;
	bool no_bad;                /* no failing rows (ids of a serial column must match) */
};

static const struct shape shapes[] = {
	{ "basic", "CREATE TABLE %s (k int PRIMARY KEY, a text, b int DEFAULT 7 CHECK (b >= 0), "
	  "c timestamptz DEFAULT '2000-01-01 00:00:00+00', d boolean)",
	  5, { "k", "a", "b", "c", "d" }, { G_INTKEY, G_TEXT, G_INT, G_TSTZ, G_BOOL },
	  { true }, { false, false, true, true, false }, NULL, false, false },
	{ "composite", "CREATE TABLE %s (k1 text, k2 numeric, v text DEFAULT 'dflt', w int DEFAULT 42 "
	  "CHECK (w >= 0), PRIMARY KEY (k1, k2))",
	  4, { "k1", "k2", "v", "w" }, { G_TEXTKEY, G_NUMKEY, G_TEXT, G_INT },
	  { true, true }, { false, false, true, true }, NULL, false, false },
	{ "allkey", "CREATE TABLE %s (a int, b text, PRIMARY KEY (a, b))",
	  2, { "a", "b" }, { G_INTKEY, G_TEXTKEY }, { true, true }, { false }, NULL, false, false },
	{ "nokey", "CREATE TABLE %s (id serial, a text, b int CHECK (b >= 0))",
	  3, { "id", "a", "b" }, { G_INT, G_TEXT, G_INT }, { false }, { true, false, false },
	  NULL, false, true },
	{ "conflictkey", "CREATE TABLE %s (u int NOT NULL, a text, b int DEFAULT 3, UNIQUE (u))",
	  3, { "u", "a", "b" }, { G_INTKEY, G_TEXT, G_INT }, { true }, { false, false, true },
	  "u", false, false },
	{ "tskey", "CREATE TABLE %s (ts timestamp PRIMARY KEY, v int)",
	  2, { "ts", "v" }, { G_TSKEY, G_INT }, { true }, { false }, NULL, false, false },
	{ "types", "CREATE TABLE %s (k uuid PRIMARY KEY, arr int[], bin bytea, js jsonb, bx box, "
	  "vc varchar(5), ch char(3), f float8, iv interval)",
	  8, { "k", "arr", "bin", "js", "bx", "vc", "ch", "f" },
	  { G_UUIDKEY, G_INTARR, G_BYTEA, G_JSONB, G_BOX, G_VC5, G_CH3, G_FLOAT },
	  { true }, { false }, NULL, false, false },
	{ "types2", "CREATE TABLE %s (k int PRIMARY KEY, iv interval, ta text[] DEFAULT '{x}')",
	  3, { "k", "iv", "ta" }, { G_INTKEY, G_INTERVAL, G_TEXTARR },
	  { true }, { false, false, true }, NULL, false, false },
	{ "quoted", "CREATE TABLE %s (\"select\" int PRIMARY KEY, \"Val\" text, \"a\"\"b\" int)",
	  3, { "\"select\"", "\"Val\"", "\"a\"\"b\"" }, { G_INTKEY, G_TEXT, G_INT },
	  { true }, { false }, NULL, true, false },
};

static const char *const mode_names[] = { "upsert", "update", "ignore", "strict" };

/* ---- a tiny random generator ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static PGconn *db;
static uint32_t keyrange = 6;

static PGresult *run(const char *sql)
{
	PGresult *r = PQexec(db, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("setup failed: %s\n%s", sql, PQerrorMessage(db));
	return r;
}

/* ---- value generators: SQL literals ---- */

static void gen_value(struct buf *b, enum gen g, bool allow_bad)
{
	static const char *const texts[] = {
		"plain", "tab\there", "new\nline", "back\\slash", "quote'd", "dq\"x", "cr\rx",
		"\\N", "null", "", "caf\xc3\xa9", "\\x41", "sp ace ", "a\\tb", "{}",
	};
	static const char *const tsz[] = {
		"'2024-01-01 10:00:00+02'", "'2024-01-01 08:00:00Z'", "'2024-03-05 12:34:56.123456+00'",
		"timestamptz '2020-02-29 00:00:00+00'",
	};
	static const char *const tskeys[] = {
		"'2024-01-01 00:00:00'", "'2024-01-01T00:00'", "'2024-01-01 00:00:00.000001'",
		"'2024-01-01 00:00:00.000002'", "'2024-01-01 00:00:01'", "'Jan 1 2024 00:00:01'",
		"timestamp '2024-01-01 00:00:00'",
	};
	static const char *const numkeys[] = {
		"1", "1.0", "'1.00'", "1e0", "2", "'2.000'", "0.5", "'5e-1'", "-0", "0",
	};
	int v;

	switch (g) {
	case G_INTKEY:
		v = (int)rnd(keyrange);
		switch (rnd(5)) {
		case 0: buf_printf(b, "%d", v); break;
		case 1: buf_printf(b, "'%d'", v); break;
		case 2: buf_printf(b, "'0%d'", v); break;
		case 3: buf_printf(b, "' +%d '", v); break;
		default: buf_printf(b, "%d", v); break;
		}
		return;
	case G_TEXTKEY:
		buf_printf(b, "'%c'", "xyz"[rnd(3)]);
		return;
	case G_UUIDKEY: {
		static const char *const u[] = {
			"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'",
			"'a0eebc999c0b4ef8bb6d6bb9bd380a11'", "'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
			"'B0EEBC999C0B4EF8BB6D6BB9BD380A11'", "uuid 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
		};
		buf_puts(b, u[rnd(6)]);
		return;
	}
	case G_INTARR: {
		static const char *const a[] = { "'{1,2}'", "'{}'", "'{NULL,3}'", "NULL", "'{ 4 , 5 }'",
						 "'{1,2}'::int[]", "'{{1},{2}}'" };
		buf_puts(b, a[rnd(7)]);
		return;
	}
	case G_TEXTARR: {
		static const char *const a[] = { "'{a,b}'", "'{\"a b\",\"c,d\"}'", "'{NULL}'",
						 "E'{\"back\\\\slash\"}'", "DEFAULT", "'{\"q\\\"uote\"}'" };
		buf_puts(b, a[rnd(6)]);
		return;
	}
	case G_BYTEA: {
		static const char *const a[] = { "'\\x0102ff'", "'abc'", "E'\\\\000x'", "'\\x'",
						 "NULL", "'\\xzz'" };
		buf_puts(b, a[rnd(allow_bad ? 6 : 5)]);
		return;
	}
	case G_JSONB: {
		static const char *const a[] = { "'{\"a\": 1}'", "'[1, \"two\", null]'", "'\"str\\ttab\"'",
						 "NULL", "'{\"b\":{\"c\":[]}}'" };
		buf_puts(b, a[rnd(5)]);
		return;
	}
	case G_BOX:
		buf_puts(b, rnd(2) ? "'(1,1),(0,0)'" : "'((2,3),(4,5))'");
		return;
	case G_VC5: {
		static const char *const a[] = { "'abc'", "'abcde'", "'abcde   '", "''", "'abcdef'" };
		buf_puts(b, a[rnd(allow_bad ? 5 : 4)]);
		return;
	}
	case G_CH3:
		buf_puts(b, rnd(2) ? "'a'" : "'ab '");
		return;
	case G_FLOAT: {
		static const char *const a[] = { "1.5", "'1e300'", "-0", "'NaN'", "'-Infinity'", "0.1",
						 "'  2.5  '", "1e-5" };
		buf_puts(b, a[rnd(8)]);
		return;
	}
	case G_INTERVAL: {
		static const char *const a[] = { "'1 day'", "'24 hours'", "interval '1 day'", "NULL",
						 "'P1D'" };
		buf_puts(b, a[rnd(5)]);
		return;
	}
	case G_NUMKEY:
		buf_puts(b, numkeys[rnd(sizeof(numkeys) / sizeof(numkeys[0]))]);
		return;
	case G_TSKEY:
		buf_puts(b, tskeys[rnd(sizeof(tskeys) / sizeof(tskeys[0]))]);
		return;
	case G_TEXT:
		if (rnd(8) == 0) {
			buf_puts(b, "NULL");
			return;
		}
		if (rnd(6) == 0) {
			buf_puts(b, "'typed'::text");
			return;
		}
		{
			const char *t = texts[rnd(sizeof(texts) / sizeof(texts[0]))];
			char tmp[64];

			snprintf(tmp, sizeof(tmp), "%s%u", t, rnd(3));
			sg_literal(b, tmp, strlen(tmp));
		}
		return;
	case G_INT:
		if (rnd(8) == 0) {
			buf_puts(b, "NULL");
			return;
		}
		v = (int)rnd(100);
		if (allow_bad && rnd(40) == 0)
			v = -v - 1;
		if (rnd(2))
			buf_printf(b, "%d", v);
		else
			buf_printf(b, "'%d'", v);
		return;
	case G_TSTZ:
		if (rnd(6) == 0) {
			buf_puts(b, "NULL");
			return;
		}
		buf_puts(b, tsz[rnd(sizeof(tsz) / sizeof(tsz[0]))]);
		return;
	case G_BOOL:
		switch (rnd(6)) {
		case 0: buf_puts(b, "TRUE"); break;
		case 1: buf_puts(b, "FALSE"); break;
		case 2: buf_puts(b, "'yes'"); break;
		case 3: buf_puts(b, "'f'"); break;
		case 4: buf_puts(b, "NULL"); break;
		default: buf_puts(b, "'on'::boolean"); break;
		}
		return;
	}
}

/* ---- statements ---- */

struct stmt {
	char *multi;                /* the INSERT for the sink (several rows) */
	int nrows;
	char **single;              /* each row alone, with its conflict clause, for the serial table */
	bool serial_failed;         /* some row failed when run alone */
	char serial_state[6];
	int status;                 /* -1 pending, else enum sink_status */
	char sink_state[6];
	bool settled;
	bool replied;
	struct sink_ticket *ticket;
};

static void conflict_clause(struct buf *b, const struct shape *sh, int mode, const bool *named)
{
	int i, n = 0, nkey = 0;

	for (i = 0; i < sh->ncols; i++)
		nkey += sh->key[i];
	if (nkey == 0 || mode == CONFLICT_STRICT)
		return;
	buf_puts(b, " ON CONFLICT (");
	for (i = 0; i < sh->ncols; i++)
		if (sh->key[i])
			buf_printf(b, "%s%s", n++ ? ", " : "", sh->cols[i]);
	buf_puts(b, ")");
	n = 0;
	if (mode == CONFLICT_UPSERT || mode == CONFLICT_UPDATE) {
		for (i = 0; i < sh->ncols; i++) {
			if (sh->key[i] || (mode == CONFLICT_UPDATE && !named[i]))
				continue;
			buf_printf(b, "%s%s = EXCLUDED.%s", n++ ? ", " : " DO UPDATE SET ", sh->cols[i],
				   sh->cols[i]);
		}
	}
	if (n == 0)
		buf_puts(b, " DO NOTHING");
}

static void make_stmt(struct stmt *st, const struct shape *sh, const char *target, const char *serial,
		      int mode)
{
	bool use[MAX_COLS], named[MAX_COLS];
	struct buf m, one, vals[8];
	int i, r, nr = 1 + (int)rnd(4), nuse = 0;
	bool collist = rnd(4) != 0;
	struct buf colbuf;

	memset(st, 0, sizeof(*st));
	st->status = -1;
	for (i = 0; i < sh->ncols; i++) {
		use[i] = !collist || sh->key[i] || rnd(3) != 0;
		if (sh->key[i] && sh->has_default[i] && rnd(2))
			use[i] = false;
		if (strcmp(sh->cols[i], "id") == 0)
			use[i] = false;     /* the serial column: always its default */
		nuse += use[i];
	}
	if (!collist)
		for (i = 0; i < sh->ncols; i++)
			use[i] = true;
	if (nuse == 0) {
		use[sh->ncols - 1] = true;
		nuse = 1;
	}
	buf_init(&colbuf);
	if (collist) {
		buf_putc(&colbuf, '(');
		for (i = 0, r = 0; i < sh->ncols; i++)
			if (use[i])
				buf_printf(&colbuf, "%s%s", r++ ? ", " : "", sh->cols[i]);
		buf_putc(&colbuf, ')');
	}
	buf_init(&m);
	buf_printf(&m, "INSERT INTO %s %s VALUES ", target, colbuf.data ? colbuf.data : "");
	st->nrows = nr;
	st->single = calloc((size_t)nr, sizeof(char *));
	for (r = 0; r < nr; r++) {
		buf_init(&vals[0]);
		buf_putc(&vals[0], '(');
		for (i = 0; i < sh->ncols; i++) {
			named[i] = use[i];
			if (!use[i])
				continue;
			if (vals[0].len > 1)
				buf_puts(&vals[0], ", ");
			if (!collist && strcmp(sh->cols[i], "id") == 0)
				buf_puts(&vals[0], "DEFAULT");
			else if (sh->has_default[i] && rnd(5) == 0)
				buf_puts(&vals[0], "DEFAULT");
			else
				gen_value(&vals[0], sh->gens[i], !sh->no_bad);
		}
		buf_putc(&vals[0], ')');
		buf_printf(&m, "%s%s", r ? ", " : "", vals[0].data);
		buf_init(&one);
		buf_printf(&one, "INSERT INTO %s %s VALUES %s", serial, colbuf.data ? colbuf.data : "",
			   vals[0].data);
		conflict_clause(&one, sh, mode, named);
		st->single[r] = buf_steal(&one);
		buf_free(&vals[0]);
	}
	st->multi = buf_steal(&m);
	buf_free(&colbuf);
}

/* ---- sink callbacks ---- */

static int unsettled;

static void on_reply(void *arg, const struct sink_reply *r)
{
	struct stmt *st = arg;

	if (st->replied)
		die("reply called twice");
	st->replied = true;
	st->status = (int)r->status;
	if (r->status == SINK_ERROR)
		snprintf(st->sink_state, sizeof(st->sink_state), "%s", r->sqlstate);
	if (r->status == SINK_DONE && r->rows != (uint64_t)st->nrows)
		die("reply counts %llu rows, statement has %d", (unsigned long long)r->rows, st->nrows);
}

static void on_settled(void *arg)
{
	struct stmt *st = arg;

	if (!st->replied || st->settled)
		die("settled before reply or twice");
	st->settled = true;
	unsettled--;
}

static bool drained;

static void on_drained(void *arg)
{
	(void)arg;
	drained = true;
}

/* ---- one scenario ---- */

static bool compare(const char *a, const char *b, const char *what)
{
	char sql[1024];
	PGresult *r;
	int n1, n2;

	snprintf(sql, sizeof(sql), "SELECT x::text FROM %s x EXCEPT ALL SELECT y::text FROM %s y", a, b);
	r = run(sql);
	n1 = PQntuples(r);
	if (n1)
		fprintf(stderr, "  %s: %d rows only in batched table, first: %s|%s|%s\n", what, n1,
			PQgetvalue(r, 0, 0), PQnfields(r) > 1 ? PQgetvalue(r, 0, 1) : "",
			PQnfields(r) > 2 ? PQgetvalue(r, 0, 2) : "");
	PQclear(r);
	snprintf(sql, sizeof(sql), "SELECT x::text FROM %s x EXCEPT ALL SELECT y::text FROM %s y", b, a);
	r = run(sql);
	n2 = PQntuples(r);
	if (n2)
		fprintf(stderr, "  %s: %d rows only in serial table, first: %s|%s|%s\n", what, n2,
			PQgetvalue(r, 0, 0), PQnfields(r) > 1 ? PQgetvalue(r, 0, 1) : "",
			PQnfields(r) > 2 ? PQgetvalue(r, 0, 2) : "");
	PQclear(r);
	return n1 == 0 && n2 == 0;
}

static bool scenario(const char *host, int port, const struct shape *sh, int mode, int wmode,
		     int nstmts, int batchsize, bool adaptive, int writers)
{
	static const char *const sessions[] = { "C-1 a", "C-2 b", "C-3 c" };
	char bname[64], sname[64], bq[80], sq[80], ddl[512], sql[256], errs[64];
	struct event_base *base = event_base_new();
	struct table_conf tc;
	struct config cfg;
	struct sink *s;
	struct stmt *stmts = calloc((size_t)nstmts, sizeof(*stmts));
	struct sink_client c;
	struct ins_stmt ist;
	int i, r, status_mismatch = 0, loops;
	bool ok;
	PGresult *res;

	snprintf(bname, sizeof(bname), "%s%s_%s_%d_b", sh->casesensitive ? "Q" : "", sh->name,
		 mode_names[mode], wmode);
	snprintf(sname, sizeof(sname), "%s%s_%s_%d_s", sh->casesensitive ? "Q" : "", sh->name,
		 mode_names[mode], wmode);
	snprintf(bq, sizeof(bq), "\"%s\"", bname);
	snprintf(sq, sizeof(sq), "\"%s\"", sname);
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s, %s", bq, sq);
	PQclear(run(sql));
	snprintf(ddl, sizeof(ddl), sh->ddl ? sh->ddl : "%s", bq);
	PQclear(run(ddl));
	snprintf(ddl, sizeof(ddl), sh->ddl ? sh->ddl : "%s", sq);
	PQclear(run(ddl));

	memset(&tc, 0, sizeof(tc));
	tc.name = bname;
	tc.targetschema = "public";
	tc.conflictmode = (enum conflict_mode)mode;
	tc.writemode = (enum write_mode)wmode;
	tc.batchsize = batchsize;
	tc.batchwritetimeoutms = 20;
	tc.casesensitive = sh->casesensitive;
	tc.verbose = false;
	tc.ackmode = rnd(4) == 0 ? ACK_IMMEDIATE : ACK_COMMIT;
	tc.adaptiveflush = adaptive;
	tc.conflictkey = (char *)sh->conflictkey;
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend.host = (char *)host;
	cfg.backend.port = port;
	cfg.backend.dbname = "postgres";
	cfg.username = "postgres";
	cfg.connectionmaxactive = writers;
	cfg.maxretrytimes = 2;
	cfg.retrywaittime = 10;
	cfg.max_buffer_bytes = 1 << 20;
	cfg.tables = &tc;
	cfg.ntables = 1;
	s = sink_new(base, &cfg);
	if (s == NULL)
		die("sink_new failed");

	for (i = 0; i < nstmts; i++) {
		make_stmt(&stmts[i], sh, bq, sq, mode);
		/* serial equivalent, in arrival order */
		for (r = 0; r < stmts[i].nrows; r++) {
			res = PQexec(db, stmts[i].single[r]);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				if (!stmts[i].serial_failed)
					snprintf(stmts[i].serial_state, 6, "%s",
						 PQresultErrorField(res, PG_DIAG_SQLSTATE));
				stmts[i].serial_failed = true;
			}
			PQclear(res);
		}
		if (getenv("SINK_TRACE"))
			printf("stmt %d: %s\n", i, stmts[i].multi);
		if (ins_parse(stmts[i].multi, strlen(stmts[i].multi), &ist) != INS_OK)
			die("ins_parse refused: %s", stmts[i].multi);
		if (!sink_wants(s, &ist, "postgres"))
			die("sink_wants says no: %s", stmts[i].multi);
		memset(&c, 0, sizeof(c));
		c.user = "postgres";
		c.database = "postgres";
		c.prefix = sessions[rnd(3)];
		c.reply = on_reply;
		c.settled = on_settled;
		c.arg = &stmts[i];
		unsettled++;
		stmts[i].ticket = sink_submit(s, &c, &ist);
		if (rnd(3) == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
		if (getenv("SINK_CHAOS") && rnd((uint32_t)atoi(getenv("SINK_CHAOS"))) == 0)
			PQclear(PQexec(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				       "WHERE application_name = 'pgbatchd-sink'"));
		if (rnd(20) == 0 && !stmts[i].settled)
			sink_flush_ticket(stmts[i].ticket);
		while (sink_full(s))
			event_base_loop(base, EVLOOP_ONCE);
	}
	drained = false;
	sink_drain(s, on_drained, NULL);
	for (loops = 0; (!drained || unsettled > 0) && loops < 1000000; loops++)
		event_base_loop(base, EVLOOP_ONCE);
	if (!drained || unsettled)
		die("drain did not finish: unsettled=%d", unsettled);
	for (i = 0; i < nstmts; i++) {
		bool sink_failed = stmts[i].status == SINK_ERROR;

		if (stmts[i].status == SINK_PASSTHROUGH)
			die("unexpected pass-through: %s", stmts[i].multi);
		if (tc.ackmode == ACK_IMMEDIATE)
			continue;
		if (sink_failed != stmts[i].serial_failed) {
			if (status_mismatch++ < 3)
				fprintf(stderr, "  outcome differs (sink %s, serial %s): %s\n",
					sink_failed ? stmts[i].sink_state : "ok",
					stmts[i].serial_failed ? stmts[i].serial_state : "ok", stmts[i].multi);
		}
	}
	if (strcmp(sh->name, "nokey") == 0 && writers > 1) {
		/* rows of different sessions take serial ids in commit order */
		char a[128], b2[128];

		snprintf(a, sizeof(a), "(SELECT a, b FROM %s)", bq);
		snprintf(b2, sizeof(b2), "(SELECT a, b FROM %s)", sq);
		ok = compare(a, b2, "content without ids");
	} else {
		ok = compare(bq, sq, "content");
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", bq);
	res = run(sql);
	snprintf(errs, sizeof(errs), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	fflush(stderr);
	printf("%-12s %-7s writemode=%d ack=%-9s batchsize=%-3d adaptive=%d: %s (rows %s, outcome mismatches %d)\n",
	       sh->name, mode_names[mode], wmode, tc.ackmode == ACK_IMMEDIATE ? "immediate" : "commit",
	       batchsize, adaptive, ok ? "same" : "DIFFERENT", errs, status_mismatch);
	fflush(stdout);
	sink_log_stats(s);
	sink_free(s);
	event_base_free(base);
	for (i = 0; i < nstmts; i++) {
		for (r = 0; r < stmts[i].nrows; r++)
			free(stmts[i].single[r]);
		free(stmts[i].single);
		free(stmts[i].multi);
	}
	free(stmts);
	return ok;
}

int main(int argc, char **argv)
{
	char conninfo[256];
	const char *host;
	int port, nstmts, failures = 0;
	size_t si;
	int mode, wmode;

	if (argc < 3)
		die("usage: %s HOST PORT [SEED] [STATEMENTS] [SHAPE]", argv[0]);
	host = argv[1];
	port = atoi(argv[2]);
	rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) * 2654435761ULL + 1 : 88172645463325252ULL;
	nstmts = argc > 4 ? atoi(argv[4]) : 200;
	if (getenv("SINK_KEYRANGE"))
		keyrange = (uint32_t)atoi(getenv("SINK_KEYRANGE"));
	if (!log_open(NULL, getenv("SINK_VERBOSE") ? 1 : 0))
		die("log_open");
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d dbname=postgres user=postgres", host, port);
	db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK)
		die("connect: %s", PQerrorMessage(db));
	PQclear(run("SET client_min_messages = warning"));
	for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		if (argc > 5 && strcmp(argv[5], shapes[si].name) != 0)
			continue;
		for (mode = 0; mode < 4; mode++)
			for (wmode = 0; wmode < 3; wmode++)
				if ((argc <= 6 || strcmp(argv[6], mode_names[mode]) == 0) &&
				    (argc <= 7 || atoi(argv[7]) == wmode) &&!scenario(host, port, &shapes[si], mode, wmode, nstmts,
					      getenv("SINK_BATCHSIZE") ? atoi(getenv("SINK_BATCHSIZE")) :
					      1 + (int)rnd(40), rnd(2),
					      getenv("SINK_WRITERS") ? atoi(getenv("SINK_WRITERS")) :
					      1 + (int)rnd(4)))
					failures++;
	}
	PQfinish(db);
	log_close();
	printf("%d scenario(s) differ\n", failures);
	return failures ? 1 : 0;
}
