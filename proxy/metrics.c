/* The Prometheus text exposition of the daemon's and the sink's counters, gauges and histograms, over evhttp. */
#include "proxy/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/version.h"
#include "conf/config.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "sink/sink.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

/*
 * Names and units follow Prometheus's conventions: counters end in _total,
 * durations are in seconds, sizes in bytes; a table is the label
 * table="schema.name". Every family is written whole (HELP, TYPE, samples),
 * also with no sample, so a dashboard's series exist before the first row.
 */

struct metrics {
	struct evhttp *http;
	struct evconnlistener *listener;        /* evhttp's own */
	struct event *resume_ev;                /* out of descriptors: accepting again later */
	int64_t said;                           /* the last time that was logged */
};

/* accept() failed: out of descriptors, libevent's listener would try again
 * at once, forever. It pauses for a second instead (logged once a second,
 * as the client listener does). */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct metrics *m = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval second = { 1, 0 };

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return;
	evconnlistener_disable(l);
	event_add(m->resume_ev, &second);
	if (time(NULL) != m->said) {
		m->said = time(NULL);
		log_warning(NULL, "metrics: cannot accept a connection (%s); not accepting for a second", strerror(e));
	}
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(m->listener);
}

static void label_value(struct evbuffer *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(out, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, v, 1);
	}
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void table_sample(struct evbuffer *out, const char *name, const struct sink_table_stats *t,
			 const char *extra_label, const char *extra_value, uint64_t v)
{
	evbuffer_add_printf(out, "%s{table=\"", name);
	label_value(out, t->schema);
	evbuffer_add(out, ".", 1);
	label_value(out, t->name);
	evbuffer_add(out, "\"", 1);
	if (extra_label) {
		evbuffer_add_printf(out, ",%s=\"", extra_label);
		label_value(out, extra_value);
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add_printf(out, "} %llu\n", (unsigned long long)v);
}

/* A table's counter: one sample per table. */
static void per_table(struct evbuffer *out, const struct sink_stats *st, const char *name, const char *type,
		      const char *help, size_t offset)
{
	family(out, name, type, help);
	for (int i = 0; i < st->ntables; i++)
		table_sample(out, name, &st->tables[i], NULL, NULL,
			     *(const uint64_t *)(const void *)((const char *)&st->tables[i] + offset));
}

static void histogram(struct evbuffer *out, const char *name, const char *help, const char *label,
		      const char *const *values, const struct sink_hist *h, int n)
{
	family(out, name, "histogram", help);
	for (int k = 0; k < n; k++) {
		char lab[80] = "";
		uint64_t cum = 0;

		if (label)
			snprintf(lab, sizeof(lab), "%s=\"%s\",", label, values[k]);
		for (int b = 0; b < h[k].nb; b++) {
			cum += h[k].counts[b];
			evbuffer_add_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, lab, h[k].le[b],
					    (unsigned long long)cum);
		}
		cum += h[k].counts[h[k].nb];
		evbuffer_add_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, lab, (unsigned long long)cum);
		if (label) {
			lab[strlen(lab) - 1] = '\0';
			evbuffer_add_printf(out, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, lab, h[k].sum, name, lab,
					    (unsigned long long)h[k].count);
		} else {
			evbuffer_add_printf(out, "%s_sum %.9g\n%s_count %llu\n", name, h[k].sum, name,
					    (unsigned long long)h[k].count);
		}
	}
}

#define TOFF(field) offsetof(struct sink_table_stats, field)

bool metrics_render(struct daemon *d, struct evbuffer *out)
{
	struct sink_stats st;
	const char *name;
	int sessions = 0, with_backend = 0, consoles = 0;
	static const char *const wstates[] = { "down", "connecting", "setup", "idle", "tx", "rollback", "probe",
					       "backoff", "rebase" };
	static const char *const acks[] = { "commit", "immediate", "spool" };

	memset(&st, 0, sizeof(st));
	if (d->sink && !sink_stats_take(d->sink, &st))
		return false;
	family(out, "pgbatchd_info", "gauge", "pgbatchd's version, as a label; always 1.");
	evbuffer_add_printf(out, "pgbatchd_info{version=\"%s\"} 1\n", PGBATCHD_VERSION);
	family(out, "pgbatchd_start_time_seconds", "gauge", "When pgbatchd started, in seconds since the epoch.");
	evbuffer_add_printf(out, "pgbatchd_start_time_seconds %lld\n", (long long)d->started);

	/* sessions */
	for (struct client *c = d->clients; c; c = c->next) {
		sessions++;
		with_backend += client_backend_pid(c) != 0;
		consoles += c->console != NULL;
	}
	family(out, "pgbatchd_client_sessions", "gauge", "Client sessions open, by kind.");
	evbuffer_add_printf(out, "pgbatchd_client_sessions{kind=\"backend\"} %d\n", with_backend);
	evbuffer_add_printf(out, "pgbatchd_client_sessions{kind=\"console\"} %d\n", consoles);
	evbuffer_add_printf(out, "pgbatchd_client_sessions{kind=\"without_backend\"} %d\n",
			    sessions - with_backend - consoles);
	{
		int writers = 0, lingering = 0;

		for (int w = 0; w < st.nwriters; w++)
			writers += st.writers[w].backend_pid != 0;
		for (struct backend *b = d->lingering; b; b = b->lnext)
			lingering++;
		family(out, "pgbatchd_server_connections", "gauge",
		       "Connections to the server: sessions' own, the sink's writers, and those of sessions that left (until the server ends them).");
		evbuffer_add_printf(out, "pgbatchd_server_connections{kind=\"session\"} %d\n", with_backend);
		evbuffer_add_printf(out, "pgbatchd_server_connections{kind=\"writer\"} %d\n", writers);
		evbuffer_add_printf(out, "pgbatchd_server_connections{kind=\"lingering\"} %d\n", lingering);
	}
	family(out, "pgbatchd_max_client_conn", "gauge", "The max_client_conn setting.");
	evbuffer_add_printf(out, "pgbatchd_max_client_conn %d\n", d->cfg->max_client_conn);

	/* interception */
	family(out, "pgbatchd_intercepted_messages_total", "counter",
	       "Messages with INSERTs into configured tables taken by pgbatchd.");
	evbuffer_add_printf(out, "pgbatchd_intercepted_messages_total %llu\n",
			    (unsigned long long)d->istats.messages);
	family(out, "pgbatchd_passthrough_total", "counter",
	       "INSERTs into configured tables passed through to the server, by who decided and why.");
	for (int i = 1; i < PASS_SLOTS; i++)
		if (i != PASS_AT_SINK)
			evbuffer_add_printf(out, "pgbatchd_passthrough_total{decided_by=\"proxy\",reason=\"%s\"} %llu\n",
					    intercept_pass_name(i), (unsigned long long)d->istats.passthrough[i]);
	for (int i = 0; (name = sink_pass_reason_key(i)) != NULL; i++)
		evbuffer_add_printf(out, "pgbatchd_passthrough_total{decided_by=\"sink\",reason=\"%s\"} %llu\n", name,
				    (unsigned long long)st.passthrough[i]);

	/* tables */
	per_table(out, &st, "pgbatchd_rows_intercepted_total", "counter",
		  "Rows taken into the sink (buffered, or written in a client's transaction).", TOFF(rows_in));
	per_table(out, &st, "pgbatchd_rows_written_total", "counter", "Rows inserted or updated by the sink.",
		  TOFF(rows_written));
	per_table(out, &st, "pgbatchd_rows_skipped_total", "counter",
		  "Rows not written because their key existed (conflictmode ignore).", TOFF(rows_skipped));
	per_table(out, &st, "pgbatchd_rows_rejected_total", "counter",
		  "Rows not written: refused by the database, failed or given up.", TOFF(rows_rejected));
	per_table(out, &st, "pgbatchd_batch_retries_total", "counter",
		  "Batch attempts made again after a transient failure.", TOFF(retries));
	per_table(out, &st, "pgbatchd_flushes_held_total", "counter",
		  "Flushes that were due while the table was paused.", TOFF(held));
	family(out, "pgbatchd_batches_total", "counter", "Batches that held the table's rows, by flush reason.");
	for (int i = 0; i < st.ntables; i++)
		for (int r = 0; (name = sink_flush_reason_key(r)) != NULL; r++)
			table_sample(out, "pgbatchd_batches_total", &st.tables[i], "reason", name, st.tables[i].flush[r]);
	per_table(out, &st, "pgbatchd_buffered_rows", "gauge", "Rows in the sink, not yet written or failed.",
		  TOFF(buffered_rows));
	per_table(out, &st, "pgbatchd_buffered_bytes", "gauge", "Bytes those rows take.", TOFF(buffered_bytes));
	family(out, "pgbatchd_table_paused", "gauge", "1 while the table is paused (PAUSE), else 0.");
	for (int i = 0; i < st.ntables; i++)
		table_sample(out, "pgbatchd_table_paused", &st.tables[i], NULL, NULL, st.tables[i].paused);
	family(out, "pgbatchd_table_stopped", "gauge",
	       "1 while exceptionmode=strict keeps the table stopped after a rejected row, else 0.");
	for (int i = 0; i < st.ntables; i++)
		table_sample(out, "pgbatchd_table_stopped", &st.tables[i], NULL, NULL, st.tables[i].stopped);
	family(out, "pgbatchd_direct_rows_total", "counter",
	       "Rows of lone INSERTs written on their client's own connection (directwrite), not in a batch.");
	evbuffer_add_printf(out, "pgbatchd_direct_rows_total %llu\n", (unsigned long long)st.direct_rows);
	family(out, "pgbatchd_sink_buffered_bytes", "gauge",
	       "Bytes the sink holds in all, against max_buffer_bytes.");
	evbuffer_add_printf(out, "pgbatchd_sink_buffered_bytes %llu\n", (unsigned long long)st.buffered_bytes);
	family(out, "pgbatchd_max_buffer_bytes", "gauge", "The max_buffer_bytes setting.");
	evbuffer_add_printf(out, "pgbatchd_max_buffer_bytes %lld\n", (long long)d->cfg->max_buffer_bytes);
	if (st.spool) {
		family(out, "pgbatchd_spool_units", "gauge",
		       "Acknowledged INSERTs (ackmode = spool) in the spool and not yet written.");
		evbuffer_add_printf(out, "pgbatchd_spool_units %llu\n", (unsigned long long)st.spool_units);
		family(out, "pgbatchd_spool_bytes", "gauge", "Bytes of the spool's segments, against spool_max_bytes.");
		evbuffer_add_printf(out, "pgbatchd_spool_bytes %lld\n", (long long)st.spool_bytes);
		family(out, "pgbatchd_spool_oldest_unit_age_seconds", "gauge",
		       "Age of the oldest spool segment that holds a unit not yet written (0: none).");
		evbuffer_add_printf(out, "pgbatchd_spool_oldest_unit_age_seconds %.3f\n", sink_spool_age(&st));
		family(out, "pgbatchd_spool_fsyncs_total", "counter", "fsyncs of the spool (one per group of units).");
		evbuffer_add_printf(out, "pgbatchd_spool_fsyncs_total %llu\n", (unsigned long long)st.spool_fsyncs);
	}

	/* writers */
	family(out, "pgbatchd_writers", "gauge", "The sink's writer connections, by state.");
	for (size_t s = 0; s < sizeof(wstates) / sizeof(wstates[0]); s++) {
		int n = 0;

		for (int w = 0; w < st.nwriters; w++)
			n += strcmp(st.writers[w].state, wstates[s]) == 0;
		evbuffer_add_printf(out, "pgbatchd_writers{state=\"%s\"} %d\n", wstates[s], n);
	}

	/* histograms */
	histogram(out, "pgbatchd_batch_rows", "Rows per batch the writers committed (or failed).", NULL, NULL,
		  &st.hist[HIST_BATCH_ROWS], 1);
	histogram(out, "pgbatchd_batch_duration_seconds", "A batch's write, from taken to settled.", NULL, NULL,
		  &st.hist[HIST_BATCH_SECONDS], 1);
	histogram(out, "pgbatchd_ack_latency_seconds",
		  "From an intercepted INSERT's arrival to its answer, by the table's ackmode.", "ackmode", acks,
		  &st.hist[HIST_ACK_COMMIT], 3);
	sink_stats_free(&st);
	return true;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	struct evbuffer *out;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return;
	}
	out = evbuffer_new();

	if (out == NULL || !metrics_render(d, out)) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		if (out)
			evbuffer_free(out);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	if (cmd == EVHTTP_REQ_HEAD) {
		/* (libevent would send the body of a HEAD too) */
		char n[24];

		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(out));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", n);
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	} else {
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	}
	evbuffer_free(out);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, HTTP_NOTFOUND, "pgbatchd serves /metrics");
}

bool metrics_start(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	const char *addr = cfg->metrics_addr && strcmp(cfg->metrics_addr, "*") != 0 ? cfg->metrics_addr : "0.0.0.0";
	struct metrics *m;
	struct evhttp_bound_socket *bound;

	if (cfg->metrics_port == 0)
		return true;
	if ((m = calloc(1, sizeof(*m))) == NULL || (m->http = evhttp_new(d->base)) == NULL) {
		free(m);
		log_error(NULL, "metrics: out of memory");
		return false;
	}
	/* (every method reaches on_metrics, which allows GET and HEAD with 405:
	 * libevent's own refusal would say 501) */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(m->http, 16384);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_cb(m->http, "/metrics", on_metrics, d);
	evhttp_set_gencb(m->http, on_other, d);
	if ((bound = evhttp_bind_socket_with_handle(m->http, addr, (uint16_t)cfg->metrics_port)) == NULL ||
	    (m->resume_ev = evtimer_new(d->base, on_resume, m)) == NULL) {
		log_error(NULL, "metrics: cannot listen on %s:%d", addr, cfg->metrics_port);
		evhttp_free(m->http);
		free(m);
		return false;
	}
	m->listener = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(m->listener, on_accept_error);
	d->metrics = m;
	log_info(NULL, "metrics: serving http://%s:%d/metrics", addr, cfg->metrics_port);
	return true;
}

void metrics_stop(struct daemon *d)
{
	if (d->metrics == NULL)
		return;
	evhttp_free(d->metrics->http);
	if (d->metrics->resume_ev)
		event_free(d->metrics->resume_ev);
	free(d->metrics);
	d->metrics = NULL;
}
