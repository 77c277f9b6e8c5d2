"""pytest fixtures for the integration suite: one PostgreSQL per module, pgbatchd per module or per test, each stopped with sanitizer checks."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

import harness  # noqa: E402


def _proxy_available():
	"""A missing binary fails the test: the proxy leg is never skipped."""
	if not os.path.exists(harness.pgbatchd_path()):
		pytest.fail("pgbatchd binary not found: %s (make asan, or set PGBATCHD)" % harness.pgbatchd_path())


@pytest.fixture(scope="module")
def pg(request):
	"""A throwaway PostgreSQL 15 for this module. A module may set
	PG_SETTINGS = {...} to add postgresql.conf lines."""
	settings = getattr(request.module, "PG_SETTINGS", None)
	server = harness.PgServer(name=request.module.__name__.split(".")[-1], settings=settings)
	try:
		server.start()
		yield server
	finally:
		server.stop()


@pytest.fixture(scope="module")
def dbs(pg):
	"""The module's server with a second database, "direct", for tests that
	run the same client code directly and through pgbatchd (difftest.py)."""
	pg.create_database("direct")
	return pg


@pytest.fixture(scope="module")
def proxy(pg):
	"""pgbatchd with the default config in front of this module's server."""
	_proxy_available()
	p = harness.start_proxy(pg)
	yield p
	harness.stop_proxy_checked(p)


@pytest.fixture
def make_proxy(pg):
	"""Factory for a pgbatchd with a custom config, stopped (and checked for a
	clean exit and sanitizer reports) at the end of the test."""
	made = []

	def factory(**kw):
		_proxy_available()
		backend = kw.pop("backend", pg)
		p = harness.start_proxy(backend, **kw)
		made.append(p)
		return p

	yield factory
	problems = []
	for p in made:
		try:
			harness.stop_proxy_checked(p)
		except AssertionError as e:
			problems.append(str(e))
	if problems:
		pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def module_proxy_factory(pg):
	"""Like make_proxy, but the proxies live for the whole module (used by
	modules parametrized over io_buffer_size)."""
	made = {}

	def factory(key, **kw):
		_proxy_available()
		if key not in made:
			backend = kw.pop("backend", pg)
			made[key] = harness.start_proxy(backend, **kw)
		return made[key]

	yield factory
	problems = []
	for p in made.values():
		try:
			harness.stop_proxy_checked(p)
		except AssertionError as e:
			problems.append(str(e))
	if problems:
		pytest.fail("\n\n".join(problems), pytrace=False)

