"""The Prometheus endpoint (issue 20): after a known workload every counter has its exact value (rows per table in, written, rejected; batches; pass-through by reason; ack latency and rows-per-batch histograms whose counts and sums add up), the exposition passes `promtool check metrics`, and the endpoint serves GET and HEAD on /metrics only."""

import re
import subprocess
import urllib.error
import urllib.request

import psycopg
import pytest

import harness
import sinkutil as su

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(proxy, port):
	with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
		assert r.status == 200
		assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
		return r.read().decode()


def samples(text):
	"""{(name, labels text): value}; every sample line must parse."""
	out = {}
	for line in text.splitlines():
		if not line or line.startswith("#"):
			continue
		m = SAMPLE.match(line)
		assert m, "bad sample line: %r" % line
		out[(m.group(1), m.group(2) or "")] = float(m.group(3))
	return out


def test_counters_after_a_known_workload(pg, make_proxy):
	pg.sql("DROP TABLE IF EXISTS mt_a; CREATE TABLE mt_a (id int PRIMARY KEY, v int CHECK (v > 0))")
	pg.sql("DROP TABLE IF EXISTS mt_b; CREATE TABLE mt_b (id int PRIMARY KEY)")
	port = harness.free_port()
	proxy = su.start_sink_proxy(make_proxy, {
		"mt_a": {"ackmode": "commit", "exceptionmode": "ignore"},
		"mt_b": {"ackmode": "immediate"}},
		pgbatchd={"metrics_port": port})
	before = samples(scrape(proxy, port))
	assert before[("pgbatchd_rows_intercepted_total", '{table="public.mt_a"}')] == 0
	assert before[("pgbatchd_ack_latency_seconds_count", '{ackmode="commit"}')] == 0

	with psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="postgres",
			autocommit=True) as c:
		for i in range(1, 5):
			c.execute("INSERT INTO mt_a VALUES (%d, %d)" % (i, i))
		c.execute("INSERT INTO mt_a VALUES (5, -5)")      # refused: a WARNING, INSERT 0 0
		c.execute("INSERT INTO mt_b VALUES (1), (2), (3)")
		assert c.execute("INSERT INTO mt_a VALUES (6, 6) RETURNING id").fetchone() == (6,)
	su.wait_count(pg, "mt_b", 3)
	text = scrape(proxy, port)
	s = samples(text)

	def tab(name, t, extra=""):
		return s[(name, '{table="public.%s"%s}' % (t, extra))]

	assert tab("pgbatchd_rows_intercepted_total", "mt_a") == 5
	assert tab("pgbatchd_rows_written_total", "mt_a") == 4
	assert tab("pgbatchd_rows_rejected_total", "mt_a") == 1
	assert tab("pgbatchd_rows_intercepted_total", "mt_b") == 3
	harness.wait_for(lambda: samples(scrape(proxy, port))[
		("pgbatchd_rows_written_total", '{table="public.mt_b"}')] == 3, what="mt_b's rows counted")
	s = samples(scrape(proxy, port))
	assert tab("pgbatchd_rows_rejected_total", "mt_b") == 0
	assert tab("pgbatchd_buffered_rows", "mt_a") == 0 and tab("pgbatchd_buffered_bytes", "mt_b") == 0
	assert tab("pgbatchd_table_paused", "mt_a") == 0
	assert s[("pgbatchd_intercepted_messages_total", "")] == 6
	assert s[("pgbatchd_passthrough_total", '{decided_by="proxy",reason="returning"}')] == 1
	# (once: not again when its Parse, given the table's conflict clause, waits for mt_b's rows and is read again)
	assert sum(v for (n, _), v in s.items() if n == "pgbatchd_passthrough_total") == 1
	batches_a = sum(v for (n, l), v in s.items() if n == "pgbatchd_batches_total" and "mt_a" in l)
	assert batches_a >= 1
	# every answered unit is in its ackmode's latency histogram
	assert s[("pgbatchd_ack_latency_seconds_count", '{ackmode="commit"}')] == 5
	assert s[("pgbatchd_ack_latency_seconds_count", '{ackmode="immediate"}')] == 1
	assert s[("pgbatchd_ack_latency_seconds_bucket", '{ackmode="commit",le="+Inf"}')] == 5
	# every row was in one batch, or written on its client's connection
	assert s[("pgbatchd_batch_rows_sum", "")] + s[("pgbatchd_direct_rows_total", "")] == 8
	assert s[("pgbatchd_batch_rows_count", "")] == s[("pgbatchd_batch_duration_seconds_count", "")] >= 1
	assert s[("pgbatchd_batch_rows_bucket", '{le="+Inf"}')] == s[("pgbatchd_batch_rows_count", "")]
	assert s[("pgbatchd_client_sessions", '{kind="console"}')] == 0
	# (the sink's catalog reader is a connection of its own, not a writer's)
	sink_conns = pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbatchd-sink'")[0][0]
	assert 1 <= s[("pgbatchd_server_connections", '{kind="writer"}')] <= min(sink_conns, 5)
	assert s[("pgbatchd_server_connections", '{kind="session"}')] == 0       # psycopg's session has ended
	assert sum(v for (n, _), v in s.items() if n == "pgbatchd_writers") == 5    # connectionmaxactive
	assert s[("pgbatchd_info", '{version="0.1.0"}')] == 1

	lint = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE,
		stderr=subprocess.STDOUT, timeout=60)
	assert lint.returncode == 0 and lint.stdout == b"", lint.stdout.decode()


def test_only_get_and_head_on_metrics(pg, make_proxy):
	pg.sql("DROP TABLE IF EXISTS mt_c; CREATE TABLE mt_c (id int PRIMARY KEY)")
	port = harness.free_port()
	proxy = su.start_sink_proxy(make_proxy, {"mt_c": {}}, pgbatchd={"metrics_port": port})
	req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, method="HEAD")
	with urllib.request.urlopen(req, timeout=30) as r:
		assert r.status == 200 and r.read() == b""
	with pytest.raises(urllib.error.HTTPError) as e:
		urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=30)
	assert e.value.code == 404
	req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, data=b"", method="POST")
	with pytest.raises(urllib.error.HTTPError) as e:
		urllib.request.urlopen(req, timeout=30)
	assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
	assert "pgbatchd_rows_written_total" in scrape(proxy, port)
