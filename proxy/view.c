/* The session as an INSERT sees it, asked of its own backend when something may have changed it. */
#include "proxy/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/client.h"
#include "proxy/pstmt.h"
#include "proxy/daemon.h"
#include "proxy/pending.h"
#include "proxy/replyq.h"
#include "sink/sink.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

enum vstate {
	V_STALE = 0,    /* to be asked before the next INSERT */
	V_ASKING,       /* the question is on its way */
	V_FRESH,        /* true until something passes through */
	V_FAILED,       /* the question failed: INSERTs pass through until asked again */
};

struct view {
	enum vstate state;
	bool answered;              /* a DataRow came */
	bool restale;               /* something passed through while asking */
	bool asking_settings;       /* V_ASKING: the session's own settings were asked too */
	bool asked_in_tx;           /* asked in a transaction block, or behind a statement
	                               still running: true until the transaction ends */
	bool settings_known;        /* V_FRESH: ... and are known (sink_session_private) */
	bool keep_settings;         /* V_ASKING: known already (view_joined): true once answered */
	bool read_only;
	int64_t statement_timeout;  /* ms, 0: none */
	int64_t backend_start;      /* the backend's, in us since the epoch; 0: unknown */
	int ntables;                /* the sink's tables when asked */
};

/* Its state changes here only: a question may be asked, or the view made
 * stale or installed (FRESH), in any state; it fails only while asked. */
static void set_state(struct view *v, enum vstate to)
{
	if (to == V_FAILED && v->state != V_ASKING) {
		log_error("view", "illegal state transition %d -> %d", (int)v->state, (int)to);
		abort();
	}
	v->state = to;
}

static struct view *view_of(struct client *c)
{
	if (c->is.view == NULL)
		c->is.view = calloc(1, sizeof(struct view));
	return c->is.view;
}

static void put_str(struct pktbuf *b, const char *s)
{
	pkt_put_bytes(b, s, strlen(s));
}

/* One literal: '...' with quotes doubled (standard_conforming_strings is on
 * in a session whose INSERTs are taken). */
static void put_literal(struct pktbuf *b, const char *s)
{
	pkt_put_bytes(b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			pkt_put_bytes(b, "'", 1);
		pkt_put_bytes(b, s, 1);
	}
	pkt_put_bytes(b, "'", 1);
}

/* The settings the session set itself (SET, set_config(), its startup
 * packet, ALTER ROLE ... SET) that a write may read and the sink's writers do
 * not have: all but those that change no row and no error of an INSERT, and
 * those the sink follows itself (TimeZone, DateStyle, IntervalStyle,
 * client_encoding, timezone_abbreviations, xmloption, the role, search_path,
 * statement_timeout, read-only). */
static const char private_settings_sql[] =
	"(SELECT pg_catalog.string_agg(name, ',' ORDER BY name) FROM pg_catalog.pg_settings "
	"WHERE source IN ('session', 'client', 'user', 'database user') AND name NOT IN ("
	"'application_name', 'extra_float_digits', 'bytea_output', 'client_min_messages', 'DateStyle', "
	"'IntervalStyle', 'TimeZone', 'client_encoding', 'timezone_abbreviations', 'xmloption', 'search_path', "
	"'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout', "
	"'default_transaction_isolation', 'transaction_isolation', 'default_transaction_read_only', "
	"'transaction_read_only', 'default_transaction_deferrable', 'transaction_deferrable', "
	"'standard_conforming_strings', 'escape_string_warning', 'backslash_quote', 'work_mem', "
	"'maintenance_work_mem', 'temp_buffers', 'hash_mem_multiplier', 'random_page_cost', 'seq_page_cost', "
	"'effective_cache_size', 'effective_io_concurrency', 'maintenance_io_concurrency', 'plan_cache_mode', "
	"'cursor_tuple_fraction', 'from_collapse_limit', 'join_collapse_limit', 'constraint_exclusion', "
	"'client_connection_check_interval', 'synchronous_commit', 'check_function_bodies', 'commit_delay', "
	"'commit_siblings', 'default_tablespace', 'temp_tablespaces', 'role', 'session_authorization', "
	"'gin_fuzzy_search_limit', 'default_statistics_target', 'force_parallel_mode') "
	"AND name !~ '^(enable_|log_|track_|geqo|jit|parallel_|max_parallel_|cpu_|debug_|trace_|vacuum_|tcp_)')";

bool view_question(struct sink *s, bool settings, struct pktbuf *q)
{
	int i, n = sink_table_count(s);

	pkt_begin(q, 'Q');
	put_str(q, "SELECT CURRENT_USER::text, pg_catalog.current_setting('transaction_read_only'), "
		"pg_catalog.current_setting('timezone_abbreviations'), "
		"pg_catalog.current_setting('xmloption'), "
		/* in ms; not from pg_settings, a scan of every setting (0.9 ms) */
		"(pg_catalog.date_part('epoch', pg_catalog.current_setting('statement_timeout')::pg_catalog.interval) "
		"* 1000)::pg_catalog.int8, ARRAY[0");
	for (i = 0; i < n; i++) {
		put_str(q, ", pg_catalog.to_regclass(pg_catalog.quote_ident(");
		put_literal(q, sink_table_name(s, i));
		put_str(q, "))::pg_catalog.oid");
	}
	put_str(q, "]::pg_catalog.oid[]::text, ");
	put_str(q, settings ? private_settings_sql : "NULL::pg_catalog.text");
	/* the backend's start, which with its pid names it past its connection */
	put_str(q, ", (SELECT (EXTRACT(EPOCH FROM a.backend_start) * 1000000)::pg_catalog.int8 "
		"FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a)");
	pkt_put_u8(q, 0);
	pkt_end(q);
	return pkt_ok(q);
}

/* The question: the role, read-only, the two settings the sink compares
 * besides the reported ones, and where each configured table's name resolves
 * without a schema (search_path, temporary tables). */
static bool ask(struct client *c, struct view *v, bool settings, struct rq_entry *before)
{
	struct sink *s = c->d->sink;
	struct rq_entry *e;
	struct pktbuf q;

	pkt_init(&q);
	e = !view_question(s, settings, &q) ? NULL : before ? rq_push_before(&c->rq, before, RQ_SKIP, 'Q') :
	    rq_push(&c->rq, RQ_SKIP, 'Q');
	if (e == NULL) {
		pkt_free(&q);
		return false;
	}
	rq_capture(e, v);
	pstmt_own_query(c);
	client_to_backend(c, q.data, q.len);
	pkt_free(&q);
	v->ntables = sink_table_count(s);
	v->asked_in_tx |= c->tx_status != 'I' || rq_relaying(&c->rq);
	v->answered = v->restale = false;
	v->asking_settings = settings;
	v->settings_known = false;
	v->keep_settings = false;
	set_state(v, V_ASKING);
	return true;
}

bool view_install(struct client *c, const uint8_t *row, uint32_t len, int ntables)
{
	struct view *v = view_of(c);

	if (v == NULL || c->d->sink == NULL || ntables != sink_table_count(c->d->sink) ||
	    (c->is.ss == NULL && !intercept_open_session(c)))
		return false;
	v->ntables = ntables;
	v->answered = false;
	v->asking_settings = true;
	view_captured(c, NULL, 'D', row, len);
	if (!v->answered)
		return false;
	v->backend_start = 0;           /* (the check's backend, not one of the session's) */
	set_state(v, V_FRESH);
	return true;
}

enum view_result view_ready(struct client *c, bool settings)
{
	struct view *v = view_of(c);

	if (v == NULL || c->d->sink == NULL)
		return VIEW_NONE;
	switch (v->state) {
	case V_FRESH:
		if (!settings || v->settings_known)
			return VIEW_OK;
		break;                  /* asked again, with them */
	case V_FAILED:
		return VIEW_NONE;
	case V_ASKING:
		c->is.waiting_forward = true;
		return VIEW_WAIT;
	case V_STALE:
		break;
	}
	if (c->is.ss == NULL && !intercept_open_session(c))
		return VIEW_NONE;
	if (!ask(c, v, settings, NULL))
		return VIEW_NONE;
	c->is.waiting_forward = true;
	return VIEW_WAIT;
}

void view_prefetch(struct client *c)
{
	struct view *v;

	if (!sink_serves(c->d->sink, c->database) || c->is.odd_settings)
		return;
	v = view_of(c);
	if (v == NULL || v->state != V_STALE)
		return;
	if (c->is.ss == NULL && !intercept_open_session(c))
		return;
	(void)ask(c, v, true, NULL);
}

void view_joined(struct client *c)
{
	struct view *v = c->is.view;
	bool known = v && v->state == V_FRESH && v->settings_known;

	if (v == NULL || v->state == V_ASKING || c->d->sink == NULL || c->is.ss == NULL)
		return;
	if (ask(c, v, false, NULL))
		v->keep_settings = known;
}

bool view_ask_before(struct client *c, struct rq_entry *before)
{
	struct view *v = c->is.view;

	if (v == NULL || v->state == V_ASKING || c->d->sink == NULL || c->is.ss == NULL)
		return false;
	return ask(c, v, false, before);
}

bool view_asking(const struct client *c)
{
	return c->is.view && c->is.view->state == V_ASKING;
}

void view_tx_end(struct client *c)
{
	if (c->is.view == NULL || !c->is.view->asked_in_tx)
		return;
	c->is.view->asked_in_tx = false;
	view_stale(c);
}

bool view_asked_in_tx(const struct client *c)
{
	return c->is.view && c->is.view->asked_in_tx;
}

bool view_fresh(const struct client *c)
{
	return c->is.view && c->is.view->state == V_FRESH;
}

void view_stale(struct client *c)
{
	if (c->is.view == NULL)
		return;
	if (c->is.view->state == V_ASKING)
		c->is.view->restale = true;        /* asked before it: ask again after */
	else
		set_state(c->is.view, V_STALE);
}

bool view_read_only(const struct client *c)
{
	return c->is.view && c->is.view->read_only;
}

int64_t view_statement_timeout(const struct client *c)
{
	return c->is.view ? c->is.view->statement_timeout : 0;
}

int64_t view_backend_start(const struct client *c)
{
	return c->is.view ? c->is.view->backend_start : 0;
}

bool view_owns(const struct client *c, const struct rq_entry *e)
{
	return c->is.view && e->owner == c->is.view;
}

/* A text array of OIDs ("{16384,NULL,0}") into oids[0..n); false when not one. */
static bool parse_oids(const char *s, size_t len, uint32_t *oids, int n)
{
	size_t i = 0;
	int k = 0;

	if (len < 2 || s[0] != '{' || s[len - 1] != '}')
		return false;
	for (i = 1; i < len - 1 && k < n;) {
		uint32_t v = 0;

		if (len - 1 - i >= 4 && strncmp(s + i, "NULL", 4) == 0) {
			i += 4;
		} else {
			while (i < len - 1 && s[i] >= '0' && s[i] <= '9')
				v = v * 10 + (uint32_t)(s[i++] - '0');
		}
		oids[k++] = v;
		if (i < len - 1 && s[i] == ',')
			i++;
	}
	return k == n;
}

/* A non-negative integer's text; 0 for none (NULL). */
static int64_t digits(const uint8_t *s, int32_t len)
{
	int64_t n = 0;

	for (int32_t i = 0; i < len && s[i] >= '0' && s[i] <= '9' && n < INT64_MAX / 10; i++)
		n = n * 10 + (s[i] - '0');
	return n;
}

void view_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	struct view *v = c->is.view;
	struct pktreader r;
	const uint8_t *f[8];
	int32_t flen[8];
	uint16_t n;
	uint32_t *oids;
	char *text[4];

	(void)e;
	if (v == NULL || type != 'D' || c->is.ss == NULL)
		return;
	rd_init(&r, body, len);
	if (!rd_u16(&r, &n) || n != 8)
		return;
	for (int i = 0; i < 8; i++)
		f[i] = (const uint8_t *)"";
	for (int i = 0; i < 8; i++)
		if (!rd_i32(&r, &flen[i]) || (flen[i] < 0 && i < 6) ||
		    (flen[i] > 0 && !rd_bytes(&r, (size_t)flen[i], &f[i])))
			return;
	oids = calloc((size_t)v->ntables + 2, sizeof(*oids));
	for (int i = 0; i < 4; i++) {
		text[i] = malloc((size_t)flen[i] + 1);
		if (text[i]) {
			memcpy(text[i], f[i], (size_t)flen[i]);
			text[i][flen[i]] = '\0';
		}
	}
	if (oids && text[0] && text[1] && text[2] && text[3] &&
	    parse_oids((const char *)f[5], (size_t)flen[5], oids, v->ntables + 1)) {
		sink_session_role(c->is.ss, text[0]);
		sink_session_setting(c->is.ss, "timezone_abbreviations", text[2]);
		sink_session_setting(c->is.ss, "xmloption", text[3]);
		sink_session_resolved(c->is.ss, oids + 1, v->ntables);
		v->read_only = strcmp(text[1], "on") == 0;
		/* NULL: none of its own (or not asked: as known before, not used
		 * before they are asked) */
		if (v->asking_settings)
			sink_session_private(c->is.ss, flen[6] > 0);
		if (v->asking_settings && flen[6] > 0)
			log_debug(c->prefix, "settings of its own (%.*s): its INSERTs pass through", (int)flen[6],
				  (const char *)f[6]);
		v->statement_timeout = digits(f[4], flen[4]);
		v->backend_start = digits(f[7], flen[7]);
		v->answered = true;
		v->settings_known = v->asking_settings || v->keep_settings;
	}
	for (int i = 0; i < 4; i++)
		free(text[i]);
	free(oids);
}

void view_entry_done(struct client *c, struct rq_entry *e)
{
	struct view *v = c->is.view;

	if (v == NULL || e->owner != v)
		return;
	rq_set_owner(e, NULL);
	if (v->state == V_ASKING) {
		set_state(v, e->error || !v->answered ? V_FAILED : v->restale ? V_STALE : V_FRESH);
		if (v->state == V_FAILED)
			log_debug(c->prefix, "the session's view could not be asked: INSERTs pass through");
	}
	client_continue(c);
}

void view_free(struct client *c)
{
	struct rq_entry *e;

	for (e = rq_first(&c->rq); e; e = rq_next(e))
		if (c->is.view && e->owner == c->is.view)
			rq_set_owner(e, NULL);
	free(c->is.view);
	c->is.view = NULL;
}
