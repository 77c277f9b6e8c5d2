"""Fleets (issue 19): pgbatchd raises its open-file limit and says how many
sessions it holds; out of descriptors, it stops accepting (logged once a
second, the loop does not spin) and accepts again as soon as one is freed."""

import re
import socket
import threading

import psycopg

import harness


def fd_limits(pid):
	with open("/proc/%d/limits" % pid) as f:
		for line in f:
			if line.startswith("Max open files"):
				soft, hard = line.split()[3:5]
				return int(soft), int(hard)
	raise AssertionError("no Max open files line")


def cpu_seconds(pid):
	"""utime + stime of the process, in seconds."""
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	import os
	return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_open_file_limit_raised_and_reported(pg, make_proxy):
	"""Soft limit 256, hard 4096: it runs with 4096 and says how many
	sessions that holds (a client socket and a backend socket each, 32 kept
	aside); max_client_conn 100 fits, so no warning."""
	p = make_proxy(nofile=(256, 4096))
	assert fd_limits(p.pid) == (4096, 4096)
	p.wait_log(r"open-file limit 4096: room for 2032 client sessions \(max_client_conn 100\)")
	assert "more than the open-file limit" not in p.log()
	with p.connect() as c:
		assert c.execute("SELECT 1").fetchone() == (1,)


def test_default_max_client_conn_is_ten_thousand(pg, make_proxy):
	"""Without the key, max_client_conn is 10,000; a hard limit that cannot
	hold it is named at start-up, with what to do."""
	p = harness.Proxy(pg, nofile=(1024, 1024))
	del p.opts["max_client_conn"]
	p.start()
	try:
		p.wait_log(r"open-file limit 1024: room for 496 client sessions \(max_client_conn 10000\)")
		p.wait_log(r"max_client_conn 10000 is more than the open-file limit 1024 holds \(496 sessions\): "
			r"raise the hard limit")
	finally:
		problems = p.stop()
		p.cleanup()
	assert problems == []


def test_out_of_descriptors_stops_accepting_without_spinning(pg, make_proxy):
	"""Hard limit 64: raw connections fill the descriptors until accept fails
	with EMFILE. The failure is logged, then again a second later (one line a
	second, with a count), and the process burns almost no CPU in between: it
	stopped accepting instead of retrying in a loop. A client that connects
	meanwhile waits in the backlog and is served once the raw connections
	close; nothing is left broken."""
	p = make_proxy(nofile=(64, 64))
	p.wait_log(r"max_client_conn 100 is more than the open-file limit 64 holds")
	raw = []
	try:
		for _ in range(80):
			raw.append(socket.create_connection((p.host, p.port), timeout=5))
		first = p.wait_log(r"accept failed: Too many open files \((\d+) times? since the last report; "
			r"\d+ sessions open\): not accepting until a connection closes")
		start_log = first.end()
		cpu0 = cpu_seconds(p.pid)
		second = p.wait_log(r"accept failed: Too many open files \((\d+) times? since", start=start_log)
		cpu1 = cpu_seconds(p.pid)
		# A loop retrying accept() burns a whole CPU between two reports a
		# second apart; paused, it does next to nothing.
		assert cpu1 - cpu0 < 0.5, "%.2f s of CPU between two reports: the loop spins" % (cpu1 - cpu0)
		assert int(second.group(1)) <= 5, second.group(0)

		result = {}

		def late_client():
			try:
				with psycopg.connect(p.dsn(), autocommit=True, connect_timeout=60) as c:
					result["row"] = c.execute("SELECT 41 + 1").fetchone()
			except Exception as e:      # reported by the assertion below
				result["error"] = e

		t = threading.Thread(target=late_client)
		t.start()
	finally:
		for s in raw:
			s.close()
	t.join(90)
	assert not t.is_alive()
	assert result == {"row": (42,)}, result
	with p.connect() as c:
		assert c.execute("SELECT 2").fetchone() == (2,)
	assert len(re.findall(r"accept failed", p.log())) < 20
