/* Development checks for sink/ against a real PostgreSQL: pass-through reasons, privileges, errors, flush triggers, backpressure, retries. */
/*
 * Usage: sink_checks HOST PORT   (SINK_LOG=file: the log; SINK_BENCH=rows: also print write rates)
 * Each check prints "ok <name>" or "FAIL <name>: why"; exit status 1 on any failure.
 * Build as tests/lib/sink_driver.c, with sink_checks.c instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "conf/config.h"
#include "protocol/insert.h"
#include "proxy/log.h"
#include "sink/sink.h"

static PGconn *db;
static const char *host;
static int port;
static int failures;

struct req {
	const char *sql;
	const char *user;
	const char *timezone;
	int status;
	char sqlstate[6];
	char reason[64];
	char message[256];
	uint64_t rows;
	bool replied, settled;
	int64_t replied_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run(const char *sql)
{
	PGresult *r = PQexec(db, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "setup failed: %s: %s", sql, PQerrorMessage(db));
		exit(2);
	}
	PQclear(r);
}

static char *value(const char *sql)
{
	static char v[256];
	PGresult *r = PQexec(db, sql);

	snprintf(v, sizeof(v), "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
		 !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "(none)");
	PQclear(r);
	return v;
}

static void check(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok   %s\n", name);
		return;
	}
	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void on_reply(void *arg, const struct sink_reply *r)
{
	struct req *q = arg;

	q->replied = true;
	q->replied_ms = now_ms();
	q->status = (int)r->status;
	q->rows = r->rows;
	if (r->status == SINK_ERROR) {
		snprintf(q->sqlstate, sizeof(q->sqlstate), "%s", r->sqlstate);
		snprintf(q->message, sizeof(q->message), "%s", r->message);
	}
	if (r->status == SINK_PASSTHROUGH)
		snprintf(q->reason, sizeof(q->reason), "%s", r->reason);
}

static void on_settled(void *arg)
{
	((struct req *)arg)->settled = true;
}

static struct sink_ticket *submit(struct sink *s, struct req *q)
{
	struct sink_client c;
	struct ins_stmt st;

	memset(&c, 0, sizeof(c));
	c.user = q->user ? q->user : "postgres";
	c.database = "postgres";
	c.prefix = "C-test";
	c.reply = on_reply;
	c.settled = on_settled;
	c.arg = q;
	c.timezone = q->timezone;
	q->status = -1;
	if (ins_parse(q->sql, strlen(q->sql), &st) != INS_OK) {
		fprintf(stderr, "ins_parse refused %s\n", q->sql);
		exit(2);
	}
	if (!sink_wants(s, &st, "postgres")) {
		fprintf(stderr, "sink does not want %s\n", q->sql);
		exit(2);
	}
	return sink_submit(s, &c, &st);
}

static void wait_settled(struct event_base *base, struct req *q, int n)
{
	int64_t end = now_ms() + 15000;
	int i, done;

	do {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		for (done = 0, i = 0; i < n; i++)
			done += q[i].settled;
		if (done < n) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	} while (done < n && now_ms() < end);
}

static struct table_conf tables[4];

static struct sink *make_sink(struct event_base *base, int ntables, int64_t max_buffer)
{
	static struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend.host = (char *)host;
	cfg.backend.port = port;
	cfg.backend.dbname = "postgres";
	cfg.username = "postgres";
	cfg.connectionmaxactive = 2;
	cfg.maxretrytimes = 3;
	cfg.retrywaittime = 20;
	cfg.max_buffer_bytes = max_buffer;
	cfg.tables = tables;
	cfg.ntables = ntables;
	return sink_new(base, &cfg);
}

static void table(int i, const char *name, enum conflict_mode m, enum write_mode w, int batchsize,
		  int timeout, bool adaptive)
{
	memset(&tables[i], 0, sizeof(tables[i]));
	tables[i].name = (char *)name;
	tables[i].targetschema = "public";
	tables[i].conflictmode = m;
	tables[i].writemode = w;
	tables[i].batchsize = batchsize;
	tables[i].batchwritetimeoutms = timeout;
	tables[i].adaptiveflush = adaptive;
	tables[i].verbose = true;
}

static void check_decisions(void)
{
	struct event_base *base = event_base_new();
	struct req q[] = {
		{ .sql = "INSERT INTO sp_missing VALUES (1)" },
		{ .sql = "INSERT INTO sp_t (k, nope) VALUES (1, 'x')" },
		{ .sql = "INSERT INTO sp_t (k, v) VALUES (1, 5)" },
		{ .sql = "INSERT INTO sp_t (k, v) VALUES (1, 'x'::varchar(1))" },
		{ .sql = "INSERT INTO sp_t (k, g) VALUES (1, 2)" },
		{ .sql = "INSERT INTO sp_t (k, n) VALUES (1, TRUE)" },
		{ .sql = "INSERT INTO sp_t VALUES (1, 'a', 1, 2, '2024-01-01', 6)" },
		{ .sql = "INSERT INTO sp_t (k, v) VALUES (1, 'x')", .user = "sp_noins" },
		{ .sql = "INSERT INTO sp_t (k, v) VALUES (1, 'x')", .user = "sp_colpriv" },
		{ .sql = "INSERT INTO sp_t (k, v, n, ts) VALUES (1, 'ok', 1.005, '2024-01-01'), "
			 "(3, E'tab\\there', -0.5, timestamp '2024-02-02 10:00')" },
		{ .sql = "INSERT INTO sp_t (k, n) VALUES (2, 'abc')" },
		{ .sql = "INSERT INTO sp_t (k, v) VALUES (4, 'four'), (5, NULL)", .user = "sp_ins" },
		{ .sql = "INSERT INTO \"SP_T\" (k) VALUES (9)" },
	};
	const char *reasons[] = { "unknown table", "unknown column", "number literal needs a conversion",
				  "typed literal differs from the column type",
				  "value for a generated or identity column", "boolean literal needs a conversion",
				  "more values than columns" };
	struct sink *s;
	size_t i, n = sizeof(q) / sizeof(q[0]);
	char name[64];

	run("DROP TABLE IF EXISTS sp_t, \"SP_T\"");
	run("DROP ROLE IF EXISTS sp_noins");
	run("DROP ROLE IF EXISTS sp_colpriv");
	run("DROP ROLE IF EXISTS sp_ins");
	run("CREATE TABLE sp_t (k int PRIMARY KEY, v text, n numeric(5,2), "
	    "g int GENERATED ALWAYS AS (k * 2) STORED, ts timestamp)");
	run("CREATE TABLE \"SP_T\" (k int)");
	run("CREATE ROLE sp_noins");
	run("CREATE ROLE sp_colpriv");
	run("CREATE ROLE sp_ins");
	run("GRANT INSERT (k, v) ON sp_t TO sp_colpriv");
	run("GRANT INSERT ON sp_t TO sp_ins");
	table(0, "sp_t", CONFLICT_UPSERT, WRITE_COPY, 100, 50, true);
	table(1, "sp_missing", CONFLICT_UPSERT, WRITE_COPY, 100, 50, true);
	s = make_sink(base, 2, 1 << 20);
	for (i = 0; i < n - 1; i++)
		submit(s, &q[i]);
	wait_settled(base, q, (int)n - 1);
	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "pass-through: %s", reasons[i]);
		check(q[i].status == SINK_PASSTHROUGH && strcmp(q[i].reason, reasons[i]) == 0, name,
		      "status %d reason '%s'", q[i].status, q[i].reason);
	}
	check(q[7].status == SINK_ERROR && strcmp(q[7].sqlstate, "42501") == 0 &&
	      strcmp(q[7].message, "permission denied for table sp_t") == 0,
	      "no INSERT privilege: 42501", "status %d %s %s", q[7].status, q[7].sqlstate, q[7].message);
	check(q[8].status == SINK_PASSTHROUGH && strcmp(q[8].reason, "column privileges") == 0,
	      "column privileges: pass through", "status %d %s", q[8].status, q[8].reason);
	check(q[9].status == SINK_DONE && q[9].rows == 2, "two rows: INSERT 0 2", "status %d rows %llu",
	      q[9].status, (unsigned long long)q[9].rows);
	check(strcmp(value("SELECT n::text || '|' || ts::text || '|' || g::text FROM sp_t WHERE k = 1"),
		     "1.01|2024-01-01 00:00:00|2") == 0, "numeric typmod, timestamp, generated column",
	      "%s", value("SELECT n::text || '|' || ts::text || '|' || g::text FROM sp_t WHERE k = 1"));
	check(strcmp(value("SELECT v || '|' || n::text FROM sp_t WHERE k = 3"), "tab\there|-0.50") == 0,
	      "escaped text, typed timestamp literal", "%s", value("SELECT v || '|' || n FROM sp_t WHERE k = 3"));
	check(q[10].status == SINK_ERROR && strcmp(q[10].sqlstate, "22P02") == 0,
	      "bad value: the backend's 22P02", "status %d %s %s", q[10].status, q[10].sqlstate, q[10].message);
	check(q[11].status == SINK_DONE && strcmp(value("SELECT count(*) FROM sp_t WHERE k IN (4, 5)"), "2") == 0,
	      "role with INSERT privilege writes", "status %d %s", q[11].status, q[11].message);
	/* case: "SP_T" is another table than sp_t when quoted */
	{
		struct ins_stmt st;

		if (ins_parse(q[12].sql, strlen(q[12].sql), &st) == INS_OK) {
			check(!sink_wants(s, &st, "postgres"), "quoted \"SP_T\" is not sp_t", "wanted");
			ins_stmt_free(&st);
		}
	}
	sink_log_stats(s);
	sink_free(s);
	event_base_free(base);
}

static void check_age_flush(void)
{
	struct event_base *base = event_base_new();
	struct req q[2] = { { .sql = "INSERT INTO sp_age VALUES (1, 'a')" },
			    { .sql = "INSERT INTO sp_age VALUES (2, 'b')" } };
	struct sink *s;
	int64_t t0;

	run("DROP TABLE IF EXISTS sp_age");
	run("CREATE TABLE sp_age (k int PRIMARY KEY, v text)");
	table(0, "sp_age", CONFLICT_UPSERT, WRITE_INSERT, 1000, 300, false);
	s = make_sink(base, 1, 1 << 20);
	t0 = now_ms();
	submit(s, &q[0]);
	/* a second row 100 ms later must not push the first row's deadline */
	while (now_ms() - t0 < 100)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	submit(s, &q[1]);
	wait_settled(base, q, 2);
	check(q[0].status == SINK_DONE && q[0].replied_ms - t0 >= 290 && q[0].replied_ms - t0 < 1500,
	      "age flush from the oldest row", "replied after %lld ms",
	      (long long)(q[0].replied_ms - t0));
	check(q[1].replied_ms - t0 < 1500, "later row rides the same batch", "after %lld ms",
	      (long long)(q[1].replied_ms - t0));
	sink_free(s);
	event_base_free(base);
}

static int rooms;

static void on_room(void *arg)
{
	(void)arg;
	rooms++;
}

static void check_backpressure(void)
{
	struct event_base *base = event_base_new();
	static struct req q[200];
	static char sql[200][96];
	struct sink *s;
	int i, n = 0;
	bool was_full = false;

	run("DROP TABLE IF EXISTS sp_bp");
	run("CREATE TABLE sp_bp (k int PRIMARY KEY, v text)");
	table(0, "sp_bp", CONFLICT_UPSERT, WRITE_COPY, 10000, 200, false);
	s = make_sink(base, 1, 4000);
	sink_set_room_callback(s, on_room, NULL);
	for (i = 0; i < 200 && !was_full; i++) {
		snprintf(sql[i], sizeof(sql[i]), "INSERT INTO sp_bp VALUES (%d, 'some text for the row %d')", i, i);
		q[i].sql = sql[i];
		submit(s, &q[i]);
		n++;
		was_full = sink_full(s);
	}
	check(was_full && n < 200, "sink_full above max_buffer_bytes", "full=%d after %d rows", was_full, n);
	wait_settled(base, q, n);
	check(!sink_full(s) && rooms == 1, "room callback once the batch committed", "full=%d rooms=%d",
	      sink_full(s), rooms);
	check(atoi(value("SELECT count(*) FROM sp_bp")) == n, "every row written", "%s rows of %d",
	      value("SELECT count(*) FROM sp_bp"), n);
	sink_free(s);
	event_base_free(base);
}

static void check_retry(void)
{
	struct event_base *base = event_base_new();
	struct req q[3] = { { .sql = "INSERT INTO sp_rt VALUES (1, 'a')" },
			    { .sql = "INSERT INTO sp_rt VALUES (2, 'b')" },
			    { .sql = "INSERT INTO sp_rt VALUES (3, 'c')" } };
	struct sink *s;

	run("DROP TABLE IF EXISTS sp_rt");
	run("CREATE TABLE sp_rt (k int PRIMARY KEY, v text)");
	table(0, "sp_rt", CONFLICT_STRICT, WRITE_COPY, 100, 20, true);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q[0]);
	wait_settled(base, q, 1);
	/* the writers' sessions die under them */
	run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgbatchd-sink'");
	submit(s, &q[1]);
	submit(s, &q[2]);
	wait_settled(base, q, 3);
	check(q[1].status == SINK_DONE && q[2].status == SINK_DONE &&
	      strcmp(value("SELECT string_agg(v, '' ORDER BY k) FROM sp_rt"), "abc") == 0,
	      "rows written after the backend connections were terminated", "status %d %d %s: %s",
	      q[1].status, q[2].status, q[1].message, value("SELECT string_agg(v, '' ORDER BY k) FROM sp_rt"));
	/* strict: a duplicate is the 23505 of the row alone, not retried */
	{
		struct req d = { .sql = "INSERT INTO sp_rt VALUES (1, 'dup')" };

		submit(s, &d);
		wait_settled(base, &d, 1);
		check(d.status == SINK_ERROR && strcmp(d.sqlstate, "23505") == 0, "strict duplicate: 23505",
		      "status %d %s", d.status, d.sqlstate);
	}
	sink_log_stats(s);
	sink_free(s);
	event_base_free(base);
}

static bool drained;

static void on_drained(void *arg)
{
	(void)arg;
	drained = true;
}

static void check_drain_forget(void)
{
	struct event_base *base = event_base_new();
	struct req q[3] = { { .sql = "INSERT INTO sp_dr VALUES (1, 'a')" },
			    { .sql = "INSERT INTO sp_dr VALUES (2, 'b')" },
			    { .sql = "INSERT INTO sp_dr VALUES (3, 'c')" } };
	struct sink_ticket *t;
	struct sink *s;
	int64_t end;

	run("DROP TABLE IF EXISTS sp_dr");
	run("CREATE TABLE sp_dr (k int PRIMARY KEY, v text)");
	/* nothing would flush these rows for a minute but the drain */
	table(0, "sp_dr", CONFLICT_UPSERT, WRITE_UNNEST, 1000, 60000, false);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q[0]);
	t = submit(s, &q[1]);
	sink_forget(t);
	submit(s, &q[2]);
	drained = false;
	sink_drain(s, on_drained, NULL);
	for (end = now_ms() + 10000; !drained && now_ms() < end;)
		event_base_loop(base, EVLOOP_ONCE);
	check(drained && q[0].status == SINK_DONE && q[2].status == SINK_DONE && !q[1].replied,
	      "drain writes every row; a forgotten ticket gets no callback", "drained=%d %d %d %d",
	      drained, q[0].status, q[1].replied, q[2].status);
	check(strcmp(value("SELECT count(*) FROM sp_dr"), "3") == 0, "forgotten rows are written",
	      "%s", value("SELECT count(*) FROM sp_dr"));
	event_base_loop(base, EVLOOP_NONBLOCK);
	check(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0,
	      "after the drain the sink holds no event (the loop can end)", "%d events",
	      event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED));
	sink_free(s);
	event_base_free(base);
}

static void check_admin_flush(void)
{
	struct event_base *base = event_base_new();
	struct req q = { .sql = "INSERT INTO sp_fl VALUES (1, 'a')" };
	struct sink *s;
	int64_t t0;

	run("DROP TABLE IF EXISTS sp_fl");
	run("CREATE TABLE sp_fl (k int PRIMARY KEY, v text)");
	table(0, "sp_fl", CONFLICT_UPSERT, WRITE_COPY, 1000, 60000, false);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q);
	for (t0 = now_ms(); now_ms() - t0 < 100;)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	check(!q.replied, "no flush trigger: the row waits", "replied");
	sink_flush(s, "sp_fl");
	wait_settled(base, &q, 1);
	check(q.status == SINK_DONE && q.replied_ms - t0 < 5000, "admin FLUSH writes it now",
	      "status %d after %lld ms", q.status, (long long)(q.replied_ms - t0));
	sink_free(s);
	event_base_free(base);
}

static void check_unreachable(void)
{
	struct event_base *base = event_base_new();
	struct req q = { .sql = "INSERT INTO sp_rt VALUES (10, 'x')" };
	int saved = port;
	struct sink *s;

	/* a port nobody listens on: the catalog lookup cannot connect */
	port = 1;
	table(0, "sp_rt", CONFLICT_UPSERT, WRITE_COPY, 100, 20, true);
	s = make_sink(base, 1, 1 << 20);
	port = saved;
	submit(s, &q);
	wait_settled(base, &q, 1);
	check(q.status == SINK_ERROR && strncmp(q.sqlstate, "08", 2) == 0,
	      "backend unreachable: a connection SQLSTATE, no hang", "status %d %s %s", q.status,
	      q.sqlstate, q.message);
	sink_free(s);
	event_base_free(base);
}

static void check_reload(void)
{
	struct event_base *base = event_base_new();
	struct req q[4] = { { .sql = "INSERT INTO sp_rl VALUES (1, 'a')" },
			    { .sql = "INSERT INTO sp_rl VALUES (1, 'b')" },
			    { .sql = "INSERT INTO sp_rl2 VALUES (1, 'c')" },
			    { .sql = "INSERT INTO sp_rl VALUES (1, 'd')" } };
	struct config cfg;
	struct sink *s;

	run("DROP TABLE IF EXISTS sp_rl, sp_rl2");
	run("CREATE TABLE sp_rl (k int PRIMARY KEY, v text)");
	run("CREATE TABLE sp_rl2 (k int PRIMARY KEY, v text)");
	table(0, "sp_rl", CONFLICT_IGNORE, WRITE_COPY, 100, 20, true);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q[0]);
	wait_settled(base, q, 1);
	/* upsert now, and a second table */
	table(0, "sp_rl", CONFLICT_UPSERT, WRITE_INSERT, 100, 20, true);
	table(1, "sp_rl2", CONFLICT_UPSERT, WRITE_COPY, 100, 20, true);
	memset(&cfg, 0, sizeof(cfg));
	cfg.maxretrytimes = 3;
	cfg.retrywaittime = 20;
	cfg.max_buffer_bytes = 1 << 20;
	cfg.tables = tables;
	cfg.ntables = 2;
	sink_reload(s, &cfg);
	submit(s, &q[1]);
	submit(s, &q[2]);
	wait_settled(base, q, 3);
	check(strcmp(value("SELECT v FROM sp_rl"), "b") == 0 && strcmp(value("SELECT v FROM sp_rl2"), "c") == 0,
	      "reload: new conflictmode and a new table", "%s", value("SELECT v FROM sp_rl"));
	/* the table leaves the configuration */
	cfg.tables = &tables[1];
	cfg.ntables = 1;
	sink_reload(s, &cfg);
	{
		struct ins_stmt st;

		if (ins_parse(q[3].sql, strlen(q[3].sql), &st) == INS_OK) {
			check(!sink_wants(s, &st, "postgres"), "reload: a removed table is not wanted", "wanted");
			ins_stmt_free(&st);
		}
	}
	sink_free(s);
	event_base_free(base);
}

static void check_commit_cut(void)
{
	struct event_base *base = event_base_new();
	struct req q = { .sql = "INSERT INTO sp_cu VALUES (1, 'a')" };
	struct sink *s;
	int64_t t0;

	run("DROP TABLE IF EXISTS sp_cu");
	run("CREATE TABLE sp_cu (k int PRIMARY KEY, v text)");
	run("CREATE OR REPLACE FUNCTION sp_slow() RETURNS trigger LANGUAGE plpgsql AS "
	    "$$ BEGIN PERFORM pg_sleep(0.6); RETURN NULL; END $$");
	run("CREATE CONSTRAINT TRIGGER sp_slow AFTER INSERT ON sp_cu DEFERRABLE INITIALLY DEFERRED "
	    "FOR EACH ROW EXECUTE FUNCTION sp_slow()");
	table(0, "sp_cu", CONFLICT_STRICT, WRITE_COPY, 100, 20, true);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q);
	/* the COMMIT runs the deferred trigger: cut the connection under it */
	for (t0 = now_ms(); now_ms() - t0 < 300;)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'pgbatchd-sink' AND query = 'COMMIT'");
	wait_settled(base, &q, 1);
	check(q.status == SINK_DONE && strcmp(value("SELECT count(*) FROM sp_cu"), "1") == 0,
	      "COMMIT cut off: txid_status says it did not commit, the retry writes once",
	      "status %d %s %s rows=%s", q.status, q.sqlstate, q.message, value("SELECT count(*) FROM sp_cu"));
	sink_free(s);
	event_base_free(base);
}

static void check_settings(void)
{
	struct event_base *base = event_base_new();
	char tz[128];
	struct req q[2] = { { .sql = "INSERT INTO sp_tz VALUES (1, '2024-06-01 12:00:00')", .timezone = "Asia/Tokyo" },
			    { .sql = "INSERT INTO sp_tz VALUES (2, '2024-06-01 12:00:00')" } };
	struct sink *s;

	snprintf(tz, sizeof(tz), "%s", value("SHOW TimeZone"));
	q[1].timezone = tz;
	run("DROP TABLE IF EXISTS sp_tz");
	run("CREATE TABLE sp_tz (k int PRIMARY KEY, t timestamptz)");
	table(0, "sp_tz", CONFLICT_UPSERT, WRITE_COPY, 100, 20, true);
	s = make_sink(base, 1, 1 << 20);
	submit(s, &q[0]);
	submit(s, &q[1]);
	wait_settled(base, q, 2);
	check(q[0].status == SINK_PASSTHROUGH && strcmp(q[0].reason, "session settings") == 0,
	      "another TimeZone than the sink's: pass through", "status %d %s", q[0].status, q[0].reason);
	check(q[1].status == SINK_DONE, "the sink's own TimeZone: carried", "status %d %s", q[1].status,
	      q[1].reason);
	sink_free(s);
	event_base_free(base);
}

/* Not an assertion: prints rows per second for each write path. */
static void bench(int nrows, int per_stmt)
{
	static const char *const wm[] = { "INSERT", "COPY", "UNNEST" };
	struct event_base *base;
	struct sink *s;
	struct req *q;
	char **sql;
	int w, i, j, n = nrows / per_stmt;
	int64_t t0;

	q = calloc((size_t)n, sizeof(*q));
	sql = calloc((size_t)n, sizeof(*sql));
	for (i = 0; i < n; i++) {
		size_t cap = 64 + (size_t)per_stmt * 64, len;

		sql[i] = malloc(cap);
		len = (size_t)snprintf(sql[i], cap, "INSERT INTO sp_bench VALUES ");
		for (j = 0; j < per_stmt; j++)
			len += (size_t)snprintf(sql[i] + len, cap - len, "%s(%d, 'row %d', %d.5)", j ? ", " : "",
						i * per_stmt + j, j, i);
		q[i].sql = sql[i];
	}
	for (w = 0; w < 3; w++) {
		run("DROP TABLE IF EXISTS sp_bench");
		run("CREATE TABLE sp_bench (k int PRIMARY KEY, v text, x numeric)");
		table(0, "sp_bench", CONFLICT_UPSERT, (enum write_mode)w, 10000, 1000, true);
		base = event_base_new();
		s = make_sink(base, 1, (int64_t)1 << 30);
		t0 = now_ms();
		for (i = 0; i < n; i++) {
			memset(&q[i].status, 0, sizeof(*q) - offsetof(struct req, status));
			submit(s, &q[i]);
			if (i % 50 == 0)
				event_base_loop(base, EVLOOP_NONBLOCK);
		}
		wait_settled(base, q, n);
		printf("bench upsert writemode=%d (%s): %d rows in %lld ms (%.0f rows/s), %s rows in the table\n",
		       w, wm[w], nrows, (long long)(now_ms() - t0),
		       nrows * 1000.0 / (double)(now_ms() - t0 + 1), value("SELECT count(*) FROM sp_bench"));
		sink_free(s);
		event_base_free(base);
	}
	for (i = 0; i < n; i++)
		free(sql[i]);
	free(sql);
	free(q);
}

int main(int argc, char **argv)
{
	char conninfo[256];

	if (argc < 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	if (!log_open(getenv("SINK_LOG"), 1))
		return 2;
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d dbname=postgres user=postgres", host, port);
	db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(db));
		return 2;
	}
	run("SET client_min_messages = warning");
	check_decisions();
	check_age_flush();
	check_backpressure();
	check_retry();
	check_drain_forget();
	check_admin_flush();
	check_settings();
	check_unreachable();
	check_commit_cut();
	check_reload();
	if (getenv("SINK_BENCH"))
		bench(atoi(getenv("SINK_BENCH")), 10);
	PQfinish(db);
	log_close();
	printf("%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
