"""Fixtures for the Citus tests (make citus-test): a coordinator and two workers, each a throwaway PostgreSQL 15 with shared_preload_libraries = citus, and the coordinator in the metadata (so that it may hold local tables such as the ledger). The parent conftest's make_proxy puts pgbatchd in front of the coordinator (the `pg` fixture here)."""

import os
import sys

import pytest

import harness

# the integration suite's modules (test_sink_serial's workloads) are imported here too
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SHARDS = 32
CITUS_SETTINGS = {
	"shared_preload_libraries": "citus,pg_stat_statements",
	"max_connections": "300",
	"max_prepared_transactions": "200",
	"citus.shard_count": str(SHARDS),
}


class CitusCluster:
	"""The coordinator (a PgServer, what clients and pgbatchd connect to) and its workers."""

	def __init__(self, name, nworkers=2):
		self.coordinator = harness.PgServer(name=name + "-coord", settings=CITUS_SETTINGS)
		# (the workers log each connection: test_citus_writers.py counts them)
		self.workers = [harness.PgServer(name="%s-w%d" % (name, i),
			settings=dict(CITUS_SETTINGS, log_connections="on")) for i in range(nworkers)]

	def start(self):
		for s in [self.coordinator] + self.workers:
			s.start()
			s.sql("CREATE EXTENSION citus")
			# (what each node ran: test_citus_routing.py)
			s.sql("CREATE EXTENSION pg_stat_statements")
		c = self.coordinator
		c.sql("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (c.port,))
		for w in self.workers:
			c.sql("SELECT citus_add_node('127.0.0.1', %s)", (w.port,))
		return self

	def stop(self):
		for s in [self.coordinator] + self.workers:
			s.stop()

	def worker_logs(self):
		"""Each worker's server log, as written so far."""
		out = []
		for w in self.workers:
			with open(os.path.join(w.dir, "postgres.log"), errors="replace") as f:
				out.append(f.read())
		return out

	def workers_sql(self, query, params=None):
		"""Runs a statement on every worker; the rows of all, concatenated."""
		out = []
		for w in self.workers:
			out += w.sql(query, params) or []
		return out


@pytest.fixture(scope="session")
def citus():
	"""One cluster for the whole suite (a start costs three initdbs; the
	modules' tables have names of their own)."""
	cluster = CitusCluster("citus")
	try:
		cluster.start()
		yield cluster
	finally:
		cluster.stop()


@pytest.fixture(scope="module")
def pg(citus):
	"""The coordinator: what the parent conftest's proxy fixtures put pgbatchd in front of."""
	return citus.coordinator
