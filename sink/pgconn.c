/* One non-blocking libpq connection driven by the libevent loop: connect, query, params, COPY IN. */
#include "sink/pgconn.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/later.h"
#include "common/log.h"

enum pc_state { S_NONE = 0, S_CONNECTING, S_IDLE, S_BUSY };

struct pgconn {
	struct event_base *base;
	char *prefix;
	void (*cb)(void *arg, const struct pc_result *r);
	void *arg;

	PGconn *conn;
	int fd;
	struct event *ev_read;      /* persistent while connected */
	struct event *ev_write;     /* one-shot, armed when libpq cannot send more */
	struct event *ev_timer;     /* connect timeout */
	struct event *ev_defer;     /* reports a failure to start an operation */
	enum pc_state state;

	/* the running operation */
	bool flushing;
	bool copying;
	bool copy_ended;
	bool fill_done;
	bool chunk_pending;
	pc_copy_fill fill;
	void *fill_arg;
	struct buf chunk;

	int ncopy;                  /* COPY FROM STDIN statements begun */

	/* its outcome */
	bool failed;
	char sqlstate[6];
	char *diag[PKT_DIAG_N];     /* the error's fields (owned) */
	struct pkt_diag view;       /* the same, as handed to the callback */
	char *cmdstatus;
	PGresult *rows;             /* the last TUPLES_OK (also in results) */
	PGresult **results;         /* every completed statement's result */
	int nresults, capresults;
	enum pc_event deferred;
};

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static void clear_diag(struct pgconn *pc)
{
	for (int i = 0; i < PKT_DIAG_N; i++) {
		free(pc->diag[i]);
		pc->diag[i] = NULL;
	}
}

static void clear_outcome(struct pgconn *pc)
{
	pc->failed = false;
	pc->sqlstate[0] = '\0';
	clear_diag(pc);
	free(pc->cmdstatus);
	pc->cmdstatus = NULL;
	for (int i = 0; i < pc->nresults; i++)
		PQclear(pc->results[i]);
	pc->nresults = 0;
	pc->rows = NULL;
	pc->ncopy = 0;
}

/* Keeps a completed statement's result (owned from now on). */
static bool keep_result(struct pgconn *pc, PGresult *res)
{
	PGresult **r;
	int cap;

	if (pc->nresults == pc->capresults) {
		cap = pc->capresults ? pc->capresults * 2 : 16;
		r = realloc(pc->results, (size_t)cap * sizeof(*r));
		if (r == NULL) {
			PQclear(res);
			return false;
		}
		pc->results = r;
		pc->capresults = cap;
	}
	pc->results[pc->nresults++] = res;
	return true;
}

static char *dup_trimmed(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
		/* one event, one log line: libpq's messages span lines */
		size_t o = 0;

		for (size_t i = 0; i < n; i++) {
			char c = d[i] == '\n' || d[i] == '\r' || d[i] == '\t' ? ' ' : d[i];

			if (c == ' ' && o > 0 && d[o - 1] == ' ')
				continue;
			d[o++] = c;
		}
		d[o] = '\0';
	}
	return d;
}

static void set_field(struct pgconn *pc, char code, const char *value, bool trimmed)
{
	int i = pkt_diag_index(code);

	free(pc->diag[i]);
	pc->diag[i] = value == NULL ? NULL : trimmed ? dup_trimmed(value) : strdup(value);
}

/* Records a failure of pgbatchd's own making (connection trouble) unless an
 * earlier one is already recorded. */
static void set_failure(struct pgconn *pc, const char *state, const char *msg, const char *detail,
			const char *hint)
{
	if (pc->failed)
		return;
	pc->failed = true;
	snprintf(pc->sqlstate, sizeof(pc->sqlstate), "%s", state ? state : "");
	clear_diag(pc);
	set_field(pc, 'S', "ERROR", false);
	set_field(pc, 'V', "ERROR", false);
	set_field(pc, 'C', state && state[0] ? state : NULL, false);
	set_field(pc, 'M', msg ? msg : "unknown error", true);
	set_field(pc, 'D', detail, true);
	set_field(pc, 'H', hint, true);
}

/* Records the backend's error, every field of it as it sent them. */
static void set_backend_failure(struct pgconn *pc, const PGresult *res)
{
	const char *m;

	if (pc->failed)
		return;
	pc->failed = true;
	m = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(pc->sqlstate, sizeof(pc->sqlstate), "%s", m ? m : "XX000");
	clear_diag(pc);
	for (int i = 0; i < PKT_DIAG_N; i++)
		set_field(pc, PKT_DIAG_CODES[i], PQresultErrorField(res, PKT_DIAG_CODES[i]), false);
	if (pc->diag[pkt_diag_index('M')] == NULL)
		set_field(pc, 'M', PQresultErrorMessage(res), true);
	if (pc->diag[pkt_diag_index('C')] == NULL)
		set_field(pc, 'C', pc->sqlstate, false);
}

static void free_events(struct pgconn *pc)
{
	if (pc->ev_read)
		event_free(pc->ev_read);
	if (pc->ev_write)
		event_free(pc->ev_write);
	pc->ev_read = pc->ev_write = NULL;
	pc->fd = -1;
}

static void drop(struct pgconn *pc)
{
	free_events(pc);
	if (pc->ev_timer)
		event_del(pc->ev_timer);
	if (pc->conn)
		PQfinish(pc->conn);
	pc->conn = NULL;
	pc->state = S_NONE;
	pc->flushing = pc->copying = pc->copy_ended = pc->chunk_pending = false;
}

/* The callback runs last: it may free pc. */
static void report(struct pgconn *pc, enum pc_event ev)
{
	struct pc_result r;

	memset(&r, 0, sizeof(r));
	r.event = ev;
	r.ok = !pc->failed && ev != PC_LOST;
	memcpy(r.sqlstate, pc->sqlstate, sizeof(r.sqlstate));
	for (int i = 0; i < PKT_DIAG_N; i++)
		pc->view.f[i] = pc->diag[i];
	r.diag = &pc->view;
	r.message = pc->diag[pkt_diag_index('M')];
	r.detail = pc->diag[pkt_diag_index('D')];
	r.hint = pc->diag[pkt_diag_index('H')];
	r.rows = pc->rows;
	r.cmdstatus = pc->cmdstatus;
	r.nresults = pc->nresults;
	r.results = pc->results;
	pc->cb(pc->arg, &r);
}

static void lost(struct pgconn *pc)
{
	if (!pc->failed || pc->sqlstate[0] == '\0') {
		pc->failed = false;
		set_failure(pc, "08006", pc->conn ? PQerrorMessage(pc->conn) : "connection lost",
			    NULL, NULL);
		if (pc->diag[pkt_diag_index('M')][0] == '\0')
			set_field(pc, 'M', "connection to the backend lost", false);
	}
	drop(pc);
	report(pc, PC_LOST);
}

static bool ensure_events(struct pgconn *pc)
{
	int fd = PQsocket(pc->conn);

	if (fd == pc->fd && pc->ev_read)
		return true;
	free_events(pc);
	if (fd < 0)
		return false;
	pc->fd = fd;
	pc->ev_read = event_new(pc->base, fd, EV_READ | EV_PERSIST, on_read, pc);
	pc->ev_write = event_new(pc->base, fd, EV_WRITE, on_write, pc);
	return pc->ev_read && pc->ev_write;
}

static void notice_receiver(void *arg, const PGresult *res)
{
	struct pgconn *pc = arg;
	char *m = dup_trimmed(PQresultErrorMessage(res));

	log_debug(pc->prefix, "backend notice: %s", m ? m : "");
	free(m);
}

static void connect_poll(struct pgconn *pc)
{
	PostgresPollingStatusType st = PQconnectPoll(pc->conn);

	if (st == PGRES_POLLING_FAILED || !ensure_events(pc)) {
		set_failure(pc, "08001", PQerrorMessage(pc->conn), NULL, NULL);
		drop(pc);
		report(pc, PC_CONNECTED);
		return;
	}
	switch (st) {
	case PGRES_POLLING_READING:
		event_del(pc->ev_write);
		event_add(pc->ev_read, NULL);
		break;
	case PGRES_POLLING_WRITING:
		event_del(pc->ev_read);
		event_add(pc->ev_write, NULL);
		break;
	case PGRES_POLLING_OK:
		event_del(pc->ev_timer);
		if (PQsetnonblocking(pc->conn, 1) != 0) {
			set_failure(pc, "08001", "cannot make the connection non-blocking", NULL, NULL);
			drop(pc);
			report(pc, PC_CONNECTED);
			return;
		}
		pc->state = S_IDLE;
		event_del(pc->ev_write);
		event_add(pc->ev_read, NULL);
		report(pc, PC_CONNECTED);
		break;
	default:
		break;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)what;
	if (pc->state != S_CONNECTING)
		return;
	set_failure(pc, "08001", "timeout while connecting to the backend", NULL, NULL);
	drop(pc);
	report(pc, PC_CONNECTED);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)what;
	report(pc, pc->deferred);
}

struct pgconn *pc_new(struct event_base *base, const char *prefix,
		      void (*cb)(void *arg, const struct pc_result *r), void *arg)
{
	struct pgconn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return NULL;
	pc->base = base;
	pc->cb = cb;
	pc->arg = arg;
	pc->fd = -1;
	buf_init(&pc->chunk);
	pc->prefix = strdup(prefix ? prefix : "sink");
	pc->ev_timer = evtimer_new(base, on_timer, pc);
	pc->ev_defer = event_new(base, -1, EV_PERSIST, on_defer, pc);
	if (pc->prefix == NULL || pc->ev_timer == NULL || pc->ev_defer == NULL) {
		pc_free(pc);
		return NULL;
	}
	return pc;
}

void pc_free(struct pgconn *pc)
{
	if (pc == NULL)
		return;
	drop(pc);
	clear_outcome(pc);
	free(pc->results);
	if (pc->ev_timer)
		event_free(pc->ev_timer);
	if (pc->ev_defer)
		event_free(pc->ev_defer);
	buf_free(&pc->chunk);
	free(pc->prefix);
	free(pc);
}

static void defer_report(struct pgconn *pc, enum pc_event ev)
{
	pc->deferred = ev;
	event_active(pc->ev_defer, EV_TIMEOUT, 0);
}

void pc_connect(struct pgconn *pc, const char *const *keywords, const char *const *values,
		int timeout_ms)
{
	struct timeval tv;

	drop(pc);
	clear_outcome(pc);
	pc->conn = PQconnectStartParams(keywords, values, 0);
	if (pc->conn == NULL || PQstatus(pc->conn) == CONNECTION_BAD || !ensure_events(pc)) {
		set_failure(pc, "08001", pc->conn ? PQerrorMessage(pc->conn) : "out of memory",
			    NULL, NULL);
		drop(pc);
		defer_report(pc, PC_CONNECTED);
		return;
	}
	PQsetNoticeReceiver(pc->conn, notice_receiver, pc);
	pc->state = S_CONNECTING;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	event_add(pc->ev_timer, &tv);
	event_add(pc->ev_write, NULL);
}

void pc_close(struct pgconn *pc)
{
	drop(pc);
	event_del(pc->ev_defer);
}

void pc_cancel_close(struct pgconn *pc)
{
	PGcancel *cancel;
	char err[256];

	if (pc->state == S_BUSY && pc->conn && (cancel = PQgetCancel(pc->conn)) != NULL) {
		if (!PQcancel(cancel, err, sizeof(err)))
			log_warning(pc->prefix, "cannot cancel the statement in flight: %s", err);
		PQfreeCancel(cancel);
	}
	pc_close(pc);
}

bool pc_connected(const struct pgconn *pc)
{
	return pc->state == S_IDLE || pc->state == S_BUSY;
}

bool pc_busy(const struct pgconn *pc)
{
	return pc->state == S_BUSY || pc->state == S_CONNECTING;
}

int pc_server_version(const struct pgconn *pc)
{
	return pc->conn && pc_connected(pc) ? PQserverVersion(pc->conn) : 0;
}

int pc_backend_pid(const struct pgconn *pc)
{
	return pc->conn && pc_connected(pc) ? PQbackendPID(pc->conn) : 0;
}

const char *pc_parameter(const struct pgconn *pc, const char *name)
{
	return pc->conn && pc_connected(pc) ? PQparameterStatus(pc->conn, name) : NULL;
}

static void finish_op(struct pgconn *pc)
{
	pc->state = S_IDLE;
	pc->copying = false;
	report(pc, PC_DONE);
}

static void process_results(struct pgconn *pc)
{
	PGresult *res;

	for (;;) {
		if (PQstatus(pc->conn) == CONNECTION_BAD) {
			lost(pc);
			return;
		}
		if (PQisBusy(pc->conn))
			return;
		res = PQgetResult(pc->conn);
		if (res == NULL) {
			finish_op(pc);
			return;
		}
		switch (PQresultStatus(res)) {
		case PGRES_COPY_IN:
			PQclear(res);
			if (pc->fill == NULL) {
				set_failure(pc, "XX000", "unexpected COPY FROM STDIN", NULL, NULL);
				PQputCopyEnd(pc->conn, "unexpected COPY");
				continue;
			}
			pc->ncopy++;
			pc->copying = true;
			pc->copy_ended = false;
			pc->fill_done = false;
			pc->chunk_pending = false;
			on_write(pc->fd, EV_WRITE, pc);
			return;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			free(pc->cmdstatus);
			pc->cmdstatus = strdup(PQcmdStatus(res));
			if (pc->failed) {
				PQclear(res);
				continue;
			}
			if (!keep_result(pc, res)) {
				set_failure(pc, "53200", "out of memory keeping a result", NULL, NULL);
				continue;
			}
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				pc->rows = res;
			continue;
		case PGRES_FATAL_ERROR:
		case PGRES_NONFATAL_ERROR:
		case PGRES_BAD_RESPONSE:
			set_backend_failure(pc, res);
			break;
		default:
			set_failure(pc, "XX000", "unexpected result from the backend", NULL, NULL);
			break;
		}
		PQclear(res);
	}
}

static bool do_flush(struct pgconn *pc)
{
	int r = PQflush(pc->conn);

	if (r < 0) {
		lost(pc);
		return false;
	}
	pc->flushing = r == 1;
	if (pc->flushing)
		event_add(pc->ev_write, NULL);
	return true;
}

/* Pushes COPY data until libpq would block, then ends the COPY. */
static void pump(struct pgconn *pc)
{
	int r;

	for (;;) {
		if (pc->copy_ended) {
			if (!do_flush(pc) || pc->flushing)
				return;
			pc->copying = false;
			process_results(pc);
			return;
		}
		if (!pc->chunk_pending && !pc->fill_done) {
			buf_reset(&pc->chunk);
			pc->fill(pc->fill_arg, pc->ncopy - 1, &pc->chunk, &pc->fill_done);
			if (!buf_ok(&pc->chunk)) {
				set_failure(pc, "53200", "out of memory building COPY data", NULL, NULL);
				pc->fill_done = true;
				buf_reset(&pc->chunk);
			}
			pc->chunk_pending = pc->chunk.len > 0;
		}
		if (pc->chunk_pending)
			r = PQputCopyData(pc->conn, pc->chunk.data, (int)pc->chunk.len);
		else
			r = PQputCopyEnd(pc->conn, pc->failed ? "pgbatchd: aborted" : NULL);
		if (r == 0) {
			event_add(pc->ev_write, NULL);
			return;
		}
		if (r < 0) {
			pc->copying = false;
			process_results(pc);
			return;
		}
		if (pc->chunk_pending)
			pc->chunk_pending = false;
		else
			pc->copy_ended = true;
	}
}

static void on_read_in(struct pgconn *pc);

/* What the results ask for (the sink's notifications, the clients' flushes)
 * runs when this returns (common/later.h). */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	later_enter();
	on_read_in(arg);
	later_leave();
}

static void on_read_in(struct pgconn *pc)
{
	PGnotify *n;

	if (pc->state == S_CONNECTING) {
		connect_poll(pc);
		return;
	}
	if (pc->state == S_NONE)
		return;
	if (!PQconsumeInput(pc->conn)) {
		lost(pc);
		return;
	}
	while ((n = PQnotifies(pc->conn)) != NULL)
		PQfreemem(n);
	if (pc->state == S_IDLE) {
		if (PQstatus(pc->conn) == CONNECTION_BAD)
			lost(pc);
		return;
	}
	if (pc->copying) {
		if (!pc->copy_ended)
			return;     /* COPY data goes on when writable */
		if (pc->flushing)
			return;
	}
	if (pc->flushing && !do_flush(pc))
		return;
	process_results(pc);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)what;
	if (pc->state == S_CONNECTING) {
		connect_poll(pc);
		return;
	}
	if (pc->state != S_BUSY)
		return;
	if (pc->copying) {
		pump(pc);
		return;
	}
	if (pc->flushing && do_flush(pc) && !pc->flushing)
		process_results(pc);
}

static bool start_op(struct pgconn *pc)
{
	clear_outcome(pc);
	pc->fill = NULL;
	pc->fill_arg = NULL;
	pc->copying = pc->copy_ended = pc->chunk_pending = pc->flushing = false;
	if (pc->state != S_IDLE) {
		set_failure(pc, "08003", "no connection to the backend", NULL, NULL);
		defer_report(pc, PC_LOST);
		return false;
	}
	return true;
}

static void sent(struct pgconn *pc, int ok)
{
	int r;

	if (!ok) {
		set_failure(pc, "08006", PQerrorMessage(pc->conn), NULL, NULL);
		drop(pc);
		defer_report(pc, PC_LOST);
		return;
	}
	pc->state = S_BUSY;
	r = PQflush(pc->conn);
	if (r < 0) {
		set_failure(pc, "08006", PQerrorMessage(pc->conn), NULL, NULL);
		drop(pc);
		defer_report(pc, PC_LOST);
		return;
	}
	/* Results come through the read event (persistent since the connection
	 * was made); the rest of a long query, when writable. A query sent whole
	 * asks for no EPOLLOUT wake-up, which would find nothing to do. */
	pc->flushing = r == 1;
	if (pc->flushing)
		event_add(pc->ev_write, NULL);
}

void pc_query(struct pgconn *pc, const char *sql)
{
	if (start_op(pc))
		sent(pc, PQsendQuery(pc->conn, sql));
}

void pc_params(struct pgconn *pc, const char *sql, int n, const char *const *values)
{
	if (start_op(pc))
		sent(pc, PQsendQueryParams(pc->conn, sql, n, NULL, values, NULL, NULL, 0));
}

void pc_copy(struct pgconn *pc, const char *sql, pc_copy_fill fill, void *fill_arg)
{
	if (!start_op(pc))
		return;
	pc->fill = fill;
	pc->fill_arg = fill_arg;
	sent(pc, PQsendQuery(pc->conn, sql));
}

bool sqlstate_row_level(const char *sqlstate)
{
	static const char *const batch_classes[] = {
		"0A", "25", "26", "28", "2B", "34", "3D", "3F", "55", "57", "58", "F0", "XX", "08", "0L", "0P",
	};
	size_t i;

	if (strncmp(sqlstate, "42", 2) == 0)
		/* a value of the wrong type: one row's; a privilege or policy of the
		 * role the rows are written as: its units' */
		return strcmp(sqlstate, "42804") == 0 || strcmp(sqlstate, "42501") == 0;
	for (i = 0; i < sizeof(batch_classes) / sizeof(batch_classes[0]); i++)
		if (strncmp(sqlstate, batch_classes[i], 2) == 0)
			return false;
	return true;
}

bool pc_transient(const char *sqlstate)
{
	if (sqlstate == NULL || sqlstate[0] == '\0')
		return true;
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0)
		return true;
	return strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "55P03") == 0 ||
	       strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
	       strcmp(sqlstate, "57P03") == 0;
}
