"""psql through pgbatchd: one script (core.sql) run directly and through the proxy must print exactly the same output."""

import os
import re
import tempfile

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "core.sql")
IO_SIZES = [16384, 64]

PID_RX = re.compile(rb"(received from server process with PID |PID:)(\d+)")


def run_script(host, port, dbname):
	"""Runs core.sql into `dbname`; returns stdout+stderr interleaved as psql wrote them."""
	with tempfile.TemporaryDirectory(prefix="pgbatchd-psql-") as cwd:
		res = harness.psql(host, port, ["-v", "ON_ERROR_STOP=0", "-a", "-f", SCRIPT],
			dbname=dbname, cwd=cwd, env={"PGAPPNAME": "psql"}, merge_stderr=True)
	out = res.stdout
	assert res.returncode == 0, out.decode(errors="replace")[-4000:]
	return out


def normalize(out):
	"""Replaces PIDs by a placeholder after checking they all name the session's own backend."""
	pids = {m.group(2) for m in PID_RX.finditer(out)}
	assert len(pids) == 1, "notifications must come from the session's own backend pid: %r" % pids
	return PID_RX.sub(rb"\1<pid>", out)


@pytest.fixture(scope="module")
def direct_output(pg):
	pg.create_database("core_direct")
	return normalize(run_script(pg.host, pg.port, "core_direct"))


def first_diff(a, b):
	la, lb = a.splitlines(), b.splitlines()
	for i, (x, y) in enumerate(zip(la, lb)):
		if x != y:
			return "line %d:\n direct: %r\n proxy:  %r" % (i + 1, x[:300], y[:300])
	return "lengths differ: direct %d lines, proxy %d lines" % (len(la), len(lb))


def test_script_is_meaningful(direct_output):
	"""Guards the script itself: every feature it exercises shows up in the output."""
	for needle in (b"ERROR:  23505: duplicate key value", b"ERROR:  22012: division by zero",
			b"NOTICE:  00000: hello from plpgsql", b"WARNING:  01000: careful",
			b'Asynchronous notification "chan" with payload "payload one"',
			b'with payload "sent at commit"', b"ERROR:  22P02: invalid input syntax for type integer",
			b"ERROR:  25P02: current transaction is aborted", b"COPY 3", b"204800 | t",
			b"4,\"four, quoted\"", b"(300 rows)", b"done"):
		assert needle in direct_output, needle
	assert b"rolled back, never sent" not in direct_output.split(b"ROLLBACK;")[-1]
	assert b'payload "nobody listens"' not in direct_output


@pytest.mark.parametrize("io", IO_SIZES, ids=["io16384", "io64"])
def test_psql_script_same_through_proxy(pg, module_proxy_factory, direct_output, io):
	proxy = module_proxy_factory(io, io_buffer_size=io)
	db = "core_proxy_io%d" % io
	pg.create_database(db)
	through = normalize(run_script(proxy.host, proxy.port, db))
	assert through == direct_output, first_diff(direct_output, through)
