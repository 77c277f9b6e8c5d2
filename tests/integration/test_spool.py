"""ackmode = spool: an INSERT is answered once its unit is on disk in spool_dir; a kill -9 of pgbatchd (or a crash of the server while the spool is read back) loses no acknowledged row and writes none twice.

- test_answered_from_the_spool: the answer comes while the table is locked
  (its rows are not written yet), the segment holds them, the ledger names
  their ids once written, and SIGTERM leaves an empty spool.
- test_kill9_stream: 16 clients stream; pgbatchd is killed with SIGKILL in the
  middle, then started again on the same spool. Every acknowledged row is in
  the table once, nothing that was never sent is there, and each session's
  rows are in the order it sent them. SPOOL_TRIALS trials (`make
  crash-trials` runs 50).
- test_kill9_during_replay / test_server_crash_during_replay: the read-back
  itself is interrupted, by SIGKILL or by `pg_ctl restart -m immediate`.
- test_new_inserts_wait_for_the_replay: an INSERT sent while the spool is read
  back is written after the spool's rows of the same key.
- test_enospc: a full spool_dir (a small tmpfs) answers 53100 and
  acknowledges nothing; once there is room, INSERTs are taken again.
- test_torn_tail / test_damaged_segment: a record a crash cut short is
  dropped with a log line; damage in the middle stops start-up with the file
  and offset, and --spool-salvage sets the segment aside.
- test_spool_dir_errors: missing, read-only, or in use by another pgbatchd.
- test_small_spool: a spool_max_bytes smaller than a segment never stalls.
- test_fsync_error / test_fsync_error_stream / test_segment_not_made: an
  fsync that fails (EIO, by an LD_PRELOAD shim, tests/lib/spoolfault.c)
  answers 53100 once a void record in a new segment says so, and that row
  is not written after a restart, also with 16 clients streaming; a new
  segment that cannot be made for a while delays the answer, no more.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request

import psycopg
import pytest

import harness
import sinkutil as su

PG_SETTINGS = {"synchronous_commit": "on", "max_connections": "80"}
HERE = os.path.dirname(os.path.abspath(__file__))
TRIALS = int(os.environ.get("SPOOL_TRIALS", "2"))
REPLAYED = r"units read back from the spool: (\d+) were written before, (\d+) written again, (\d+) could not be"


@pytest.fixture
def spool_dir():
	d = tempfile.mkdtemp(prefix="pgbatchd-spool-")
	yield d
	shutil.rmtree(d, ignore_errors=True)


def spool_proxy(make_proxy, spool, table, pgbatchd=None, **opts):
	t = {"ackmode": "spool", "batchsize": 50}
	t.update(opts)
	return su.start_sink_proxy(make_proxy, {table: t}, pgbatchd=dict({"spool_dir": spool}, **(pgbatchd or {})))


def show_spool(p):
	with psycopg.connect(host=p.host, port=p.port, user="postgres", dbname="pgbatchd", autocommit=True) as c:
		cur = c.execute("SHOW SPOOL")
		names = [d.name for d in cur.description]
		return names, [dict(zip(names, r)) for r in cur.fetchall()]


def metric(port, name):
	with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
		text = r.read().decode()
	m = re.search(r"^%s (\S+)$" % name, text, re.M)
	assert m, text
	return float(m.group(1))


def segments(spool):
	return sorted(f for f in os.listdir(spool) if f.endswith(".seg"))


def restart(p):
	"""pgbatchd killed already: started again on its spool; returns the log
	offset its read-back is logged after."""
	at = len(p.log())
	p.start()
	return at


def wait_replayed(p, at, timeout=60):
	m = p.wait_log(REPLAYED, timeout=timeout, start=at)
	return tuple(int(x) for x in m.groups())


def stream_table(pg, name):
	pg.sql("DROP TABLE IF EXISTS %s" % name)
	# no key: a row written twice would show; `at` gives the order of the writes
	pg.sql("CREATE TABLE %s (c int NOT NULL, n int NOT NULL, at bigserial)" % name)


def check_stream(pg, table, acked, sent):
	rows = pg.sql("SELECT c, n, at FROM %s" % table)
	seen = {}
	for c, n, at in rows:
		assert (c, n) not in seen, "row (%d, %d) written twice" % (c, n)
		seen[(c, n)] = at
	for c, ns in acked.items():
		for n in ns:
			assert (c, n) in seen, "acknowledged row (%d, %d) is missing" % (c, n)
	for (c, n) in seen:
		assert n in sent.get(c, ()), "row (%d, %d) was never sent" % (c, n)
	for c in acked:
		ats = [seen[(c, n)] for n in sorted(n for (cc, n) in seen if cc == c)]
		assert ats == sorted(ats), "session %d's rows are not in the order it sent them" % c
	return len(seen)


def test_answered_from_the_spool(pg, make_proxy, spool_dir):
	pg.sql("DROP TABLE IF EXISTS sp_a")
	pg.sql("CREATE TABLE sp_a (k int PRIMARY KEY, v text)")
	mport = harness.free_port()
	p = spool_proxy(make_proxy, spool_dir, "sp_a", pgbatchd={"admin_users": "postgres", "metrics_port": mport})
	s = su.Session.to(p)
	locker = su.lock_table(pg, "sp_a")
	try:
		for k in range(20):
			s.insert("INSERT INTO sp_a VALUES (%d, 'v%d')" % (k, k), 1)
		# answered, not written: the rows are in the spool
		assert su.count(pg, "sp_a") == 0
		assert len(segments(spool_dir)) == 1
		with open(os.path.join(spool_dir, segments(spool_dir)[0]), "rb") as f:
			data = f.read()
		size = records_end(data)
		assert size > 20 * 24
		# written ahead with zeros, so that a group's fdatasync flushes no
		# file size: the file ends on a page, past its records
		assert len(data) % 4096 == 0 and len(data) - size >= 65536, (len(data), size)
		assert data[size:] == bytes(len(data) - size)
		names, rows = show_spool(p)
		assert names == ["spool_dir", "spool_id", "units", "bytes", "max_bytes", "segments",
			"oldest_unit_age_seconds", "fsyncs", "replaying"]
		r = rows[0]
		assert (r["spool_dir"], r["units"], r["bytes"], r["segments"], r["replaying"]) == \
			(spool_dir, 20, size, 1, False)
		assert r["oldest_unit_age_seconds"] >= 0 and 1 <= r["fsyncs"] <= 20
		assert metric(mport, "pgbatchd_spool_units") == 20
		assert metric(mport, "pgbatchd_spool_bytes") == size
	finally:
		locker.execute("COMMIT")
		locker.close()
	harness.wait_for(lambda: su.count(pg, "sp_a") == 20, what="20 rows written")
	harness.wait_for(lambda: show_spool(p)[1][0]["units"] == 0, what="the spool's units released")
	units = sorted(u for (u,) in pg.sql("SELECT unnest(units) FROM pgbatchd.batch_ledger WHERE spool IS NOT NULL"))
	assert len(units) >= 20 and len(set(units)) == len(units)
	s.close()
	harness.stop_proxy_checked(p)
	assert segments(spool_dir) == [], "SIGTERM drains and leaves an empty spool"


class Stream:
	"""Clients inserting (c, n) for n = 0, 1, ... until their connection fails."""

	def __init__(self, proxy, table, clients, refusals=()):
		self.proxy, self.table = proxy, table
		self.refusals = refusals        # SQLSTATEs an INSERT may get instead
		self.acked = {c: [] for c in range(clients)}
		self.refused = {c: [] for c in range(clients)}
		self.sent = {c: set() for c in range(clients)}
		self.lock = threading.Lock()
		self.total = 0
		self.threads = [threading.Thread(target=self.client, args=(c,), daemon=True) for c in range(clients)]

	def client(self, c):
		try:
			s = su.Session.to(self.proxy, timeout=30)
		except Exception:
			return
		n = 0
		while True:
			self.sent[c].add(n)
			try:
				msgs = s.run("INSERT INTO %s (c, n) VALUES (%d, %d)" % (self.table, c, n))
			except Exception:
				return      # pgbatchd is gone: this row's outcome is unknown
			err = su.error_of(msgs)
			if err is not None and err["C"] in self.refusals and msgs[-1] == su.READY_IDLE:
				with self.lock:
					self.refused[c].append(n)
				n += 1
				continue
			assert msgs == su.insert_reply(1), su.show(msgs)
			with self.lock:
				self.acked[c].append(n)
				self.total += 1
			n += 1

	def start(self):
		for t in self.threads:
			t.start()

	def join(self):
		for t in self.threads:
			t.join(60)
			assert not t.is_alive()


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill9_stream(pg, make_proxy, spool_dir, trial):
	table = "sp_stream"
	stream_table(pg, table)
	p = spool_proxy(make_proxy, spool_dir, table, batchsize=200)
	st = Stream(p, table, 16)
	st.start()
	goal = 300 + 97 * trial       # (a different moment in each trial)
	harness.wait_for(lambda: st.total >= goal, timeout=60, what="%d rows acknowledged" % goal)
	p.kill()
	st.join()
	at = restart(p)
	before, again, failed = wait_replayed(p, at)
	assert failed == 0
	harness.stop_proxy_checked(p)      # (drained: every row written)
	assert segments(spool_dir) == []
	rows = check_stream(pg, table, st.acked, st.sent)
	assert rows >= st.total


def acked_unwritten(pg, p, table, n, end_batches=False):
	"""n rows acknowledged while the table is locked (none written), then
	pgbatchd killed: they are in the spool (the batch that waited for the
	lock may still commit on its own, its client gone: the ledger says so)."""
	locker = su.lock_table(pg, table)
	s = su.Session.to(p)
	for k in range(n):
		s.insert("INSERT INTO %s VALUES (%d, %d)" % (table, k, k), 1)
	p.kill()
	s.close()
	if end_batches:
		# its batch waiting for the lock ends unwritten: the rows are only
		# in the spool
		pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgbatchd-sink'")
		harness.wait_for(lambda: su.waiting_on_lock(pg) == 0, what="its batch ended")
	locker.execute("COMMIT")
	locker.close()
	if end_batches:
		assert su.count(pg, table) == 0


def key_table(pg, name):
	pg.sql("DROP TABLE IF EXISTS %s" % name)
	pg.sql("CREATE TABLE %s (k int, v int, at bigserial)" % name)


def check_once(pg, table, n):
	rows = pg.sql("SELECT k, count(*) FROM %s GROUP BY k ORDER BY k" % table)
	assert rows == [(k, 1) for k in range(n)], rows
	ats = [a for (a,) in pg.sql("SELECT at FROM %s ORDER BY k" % table)]
	assert ats == sorted(ats), "not written in the order acknowledged"


def test_kill9_during_replay(pg, make_proxy, spool_dir):
	table = "sp_rk"
	key_table(pg, table)
	p = spool_proxy(make_proxy, spool_dir, table, batchsize=10)
	acked_unwritten(pg, p, table, 100)
	locker = su.lock_table(pg, table)
	try:
		restart(p)
		# the read-back's first batch waits for the lock: killed there
		harness.wait_for(lambda: su.waiting_on_lock(pg) >= 1, what="the read-back's batch waiting")
		p.kill()
	finally:
		locker.execute("COMMIT")
		locker.close()
	at = restart(p)
	before, again, failed = wait_replayed(p, at)
	assert (before + again, failed) == (100, 0)
	harness.stop_proxy_checked(p)
	assert segments(spool_dir) == []
	check_once(pg, table, 100)


def test_server_crash_during_replay(pg, make_proxy, spool_dir):
	table = "sp_rc"
	key_table(pg, table)
	p = spool_proxy(make_proxy, spool_dir, table, batchsize=10)
	acked_unwritten(pg, p, table, 100)
	locker = su.lock_table(pg, table)
	at = restart(p)
	harness.wait_for(lambda: su.waiting_on_lock(pg) >= 1, what="the read-back's batch waiting")
	pg.restart_immediate()      # (the locker's session goes with it)
	try:
		locker.close()
	except Exception:
		pass
	before, again, failed = wait_replayed(p, at)
	assert (before + again, failed) == (100, 0)
	harness.stop_proxy_checked(p)
	assert segments(spool_dir) == []
	check_once(pg, table, 100)


def test_generation_fence(pg, make_proxy, spool_dir):
	"""Each start takes the spool's next generation before it writes a spooled
	row; a batch of an earlier start (its Query read late by its backend)
	checks its own generation, FOR SHARE, and fails."""
	table = "sp_gen"
	key_table(pg, table)
	p = spool_proxy(make_proxy, spool_dir, table)
	s = su.Session.to(p)
	s.insert("INSERT INTO %s VALUES (1, 1)" % table, 1)
	s.close()
	spool = int(p.wait_log(r"\(id (\d+)\)").group(1))
	gen = pg.sql("SELECT gen FROM pgbatchd.batch_ledger_spool WHERE spool = %d" % spool)[0][0]
	p.kill()
	at = restart(p)
	wait_replayed(p, at)
	assert pg.sql("SELECT gen FROM pgbatchd.batch_ledger_spool WHERE spool = %d" % spool) == [(gen + 1,)]
	# the check an earlier start's batch makes now fails (22012), rows and all
	c = pg.connect()
	with pytest.raises(psycopg.errors.DivisionByZero):
		with c.transaction():
			c.execute("SELECT 1 / (SELECT count(*) FROM (SELECT 1 FROM pgbatchd.batch_ledger_spool "
				"WHERE spool = %d AND gen = %d FOR SHARE) f)::int" % (spool, gen))
	c.close()
	s = su.Session.to(p)
	s.insert("INSERT INTO %s VALUES (2, 2)" % table, 1)        # this start's batches pass it
	s.close()
	harness.stop_proxy_checked(p)
	assert [k for (k,) in pg.sql("SELECT k FROM %s ORDER BY k" % table)] == [1, 2]


def test_new_inserts_wait_for_the_replay(pg, make_proxy, spool_dir):
	pg.sql("DROP TABLE IF EXISTS sp_w")
	pg.sql("CREATE TABLE sp_w (k int PRIMARY KEY, v text)")
	p = spool_proxy(make_proxy, spool_dir, "sp_w")
	locker = su.lock_table(pg, "sp_w")
	s = su.Session.to(p)
	s.insert("INSERT INTO sp_w VALUES (1, 'old')", 1)
	p.kill()
	s.close()
	try:
		at = restart(p)
		p.wait_log(r"units in the spool; the ledger has", start=at)
		# sent while the old row is not written: it follows it
		s = su.Session.to(p)
		s.insert("INSERT INTO sp_w VALUES (1, 'new')", 1)
	finally:
		locker.execute("COMMIT")
		locker.close()
	harness.wait_for(lambda: pg.sql("SELECT v FROM sp_w WHERE k = 1") == [("new",)], what="the new value")
	s.close()
	harness.stop_proxy_checked(p)


def test_enospc(pg, make_proxy):
	mnt = tempfile.mkdtemp(prefix="pgbatchd-spool-full-")
	subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], check=True)
	try:
		pg.sql("DROP TABLE IF EXISTS sp_full")
		pg.sql("CREATE TABLE sp_full (k int PRIMARY KEY, v text)")
		p = spool_proxy(make_proxy, mnt, "sp_full")
		s = su.Session.to(p)
		locker = su.lock_table(pg, "sp_full")
		s.insert("INSERT INTO sp_full VALUES (1, 'a')", 1)
		# the rest of the file system filled
		filler = os.path.join(mnt, "filler")
		fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
		try:
			while os.write(fd, b"\0" * 512) > 0:
				pass
		except OSError:
			pass
		os.close(fd)
		msgs = s.run("INSERT INTO sp_full VALUES (2, '%s')" % ("x" * 8000))
		err = su.error_of(msgs)
		assert err is not None and err["C"] == "53100", su.show(msgs)
		assert "No space left on device" in err["M"], err
		assert msgs[-1] == su.READY_IDLE
		os.unlink(filler)
		s.insert("INSERT INTO sp_full VALUES (3, 'c')", 1)
		locker.execute("COMMIT")
		locker.close()
		harness.wait_for(lambda: su.count(pg, "sp_full") == 2, what="the acknowledged rows written")
		assert [k for (k,) in pg.sql("SELECT k FROM sp_full ORDER BY k")] == [1, 3]
		s.close()
		harness.stop_proxy_checked(p)
	finally:
		subprocess.run(["umount", "-l", mnt])
		os.rmdir(mnt)


def spooled_segment(pg, make_proxy, spool, table, n):
	key_table(pg, table)
	p = spool_proxy(make_proxy, spool, table)
	acked_unwritten(pg, p, table, n, end_batches=True)
	segs = segments(spool)
	assert len(segs) == 1
	return p, os.path.join(spool, segs[0])


def test_torn_tail(pg, make_proxy, spool_dir):
	table = "sp_torn"
	p, seg = spooled_segment(pg, make_proxy, spool_dir, table, 20)
	with open(seg, "rb") as f:
		data = f.read()
	end = records_end(data)
	# a crash in the middle of the next write: a header and half a payload
	with open(seg, "r+b") as f:
		f.seek(end)
		f.write(data[24:24 + 24 + 10])
	at = restart(p)
	p.wait_log(r"a record cut short by a crash at offset %d is dropped \(never acknowledged\)" % end, start=at)
	assert wait_replayed(p, at) == (0, 20, 0)
	harness.stop_proxy_checked(p)
	check_once(pg, table, 20)


def records_end(data):
	"""Where a segment's records end (the rest of the file is zeros)."""
	off = 24
	while off + 24 <= len(data) and data[off:off + 4] != b"\0\0\0\0":
		off += 24 + (int.from_bytes(data[off:off + 4], "little") & 0x3fffffff)
	return off


def run_pgbatchd(p, *args):
	return subprocess.run([p.binary, "-c", p.cfg_path] + list(args), env=p.env(), cwd=p.dir,
		stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)


def test_damaged_segment(pg, make_proxy, spool_dir):
	table = "sp_bad"
	p, seg = spooled_segment(pg, make_proxy, spool_dir, table, 20)
	with open(seg, "rb") as f:
		size = records_end(f.read())
	off = 24 + (size - 24) // 2     # inside a record in the middle
	with open(seg, "r+b") as f:
		f.seek(off)
		b = f.read(1)
		f.seek(off)
		f.write(bytes([b[0] ^ 0xff]))
	at = len(p.log())
	r = run_pgbatchd(p)
	assert r.returncode != 0
	m = re.search(r"segment (\S+) is damaged at offset (\d+)", p.log()[at:])
	assert m, p.log()[at:]
	assert m.group(1) == seg and int(m.group(2)) <= off
	assert su.count(pg, table) == 0
	# --spool-salvage: set aside, started without its rows
	p.args = ["--spool-salvage"]
	at = restart(p)
	p.wait_log(r"set aside as %s\.corrupt \(--spool-salvage\)" % re.escape(os.path.basename(seg)), start=at)
	assert os.path.exists(seg + ".corrupt") and not os.path.exists(seg)
	s = su.Session.to(p)
	s.insert("INSERT INTO %s VALUES (100, 100)" % table, 1)
	s.close()
	harness.stop_proxy_checked(p)
	assert [k for (k,) in pg.sql("SELECT k FROM %s" % table)] == [100]


def test_spool_dir_errors(pg, make_proxy, spool_dir):
	pg.sql("CREATE TABLE IF NOT EXISTS sp_e (k int PRIMARY KEY, v int)")
	p = spool_proxy(make_proxy, spool_dir, "sp_e")
	# a second pgbatchd on the same spool
	q = harness.Proxy(pg, name="second", extra_sections=p.extra_sections, extra_pgbatchd=dict(p.opts))
	q.port = harness.free_port()
	q.write_config()
	r = run_pgbatchd(q)
	assert r.returncode != 0
	assert "is in use by another pgbatchd" in q.log(), q.output()
	# missing
	q.opts["spool_dir"] = os.path.join(spool_dir, "nosuch")
	q.write_config()
	assert run_pgbatchd(q).returncode != 0
	assert re.search(r"spool_dir \S+/nosuch: No such file or directory", q.log()), q.output()
	# on a read-only file system
	ro = tempfile.mkdtemp(prefix="pgbatchd-spool-ro-")
	subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro], check=True)
	try:
		q.opts["spool_dir"] = ro
		q.write_config()
		assert run_pgbatchd(q).returncode != 0
		assert re.search(r"spool_dir %s is not writable: Read-only file system" % re.escape(ro), q.log()), q.output()
	finally:
		subprocess.run(["umount", "-l", ro])
		os.rmdir(ro)
	q.cleanup()
	harness.stop_proxy_checked(p)


def test_small_spool(pg, make_proxy, spool_dir):
	pg.sql("DROP TABLE IF EXISTS sp_small")
	pg.sql("CREATE TABLE sp_small (k int PRIMARY KEY, v text)")
	p = spool_proxy(make_proxy, spool_dir, "sp_small", pgbatchd={"spool_max_bytes": 1048576})
	s = su.Session.to(p, timeout=30)
	big = "x" * 4000
	for k in range(600):        # 2.4 MB through a 1 MB spool
		s.insert("INSERT INTO sp_small VALUES (%d, '%s')" % (k, big), 1)
	s.close()
	harness.stop_proxy_checked(p)
	assert su.count(pg, "sp_small") == 600
	assert segments(spool_dir) == []


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
	d = tmp_path_factory.mktemp("spoolfault")
	so = str(d / "spoolfault.so")
	subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", so, os.path.join(HERE, "..", "lib", "spoolfault.c"), "-ldl"],
		check=True)
	return so, str(d)


def fault(shim, name, n):
	with open(os.path.join(shim[1], name), "w") as f:
		f.write("%d\n" % n)


def faulty_proxy(make_proxy, spool, table, shim):
	for f in ("eio", "enospc", "nocreate"):
		fault(shim, f, 0)
	t = {"ackmode": "spool", "batchsize": 50}
	return su.start_sink_proxy(make_proxy, {table: t}, pgbatchd={"spool_dir": spool},
		env_extra={"LD_PRELOAD": shim[0], "SPOOLFAULT_DIR": shim[1]},
		asan_options={"verify_asan_link_order": "0"})


def test_fsync_error(pg, make_proxy, spool_dir, shim):
	table = "sp_eio"
	key_table(pg, table)
	p = faulty_proxy(make_proxy, spool_dir, table, shim)
	locker = su.lock_table(pg, table)
	s = su.Session.to(p)
	s.insert("INSERT INTO %s VALUES (1, 1)" % table, 1)
	fault(shim, "eio", 1)
	msgs = s.run("INSERT INTO %s VALUES (2, 2)" % table)
	err = su.error_of(msgs)
	assert err is not None and err["C"] == "53100", su.show(msgs)
	assert "an fsync failed" in err["M"], err
	s.insert("INSERT INTO %s VALUES (3, 3)" % table, 1)
	p.kill()
	s.close()
	locker.execute("COMMIT")
	locker.close()
	assert len(segments(spool_dir)) == 2       # the one the fsync failed on, and the void's
	fault(shim, "eio", 0)
	at = restart(p)
	wait_replayed(p, at)
	harness.stop_proxy_checked(p)
	assert segments(spool_dir) == []
	assert [k for (k,) in pg.sql("SELECT k FROM %s ORDER BY k" % table)] == [1, 3]


def test_fsync_error_stream(pg, make_proxy, spool_dir, shim):
	"""An fsync that fails while 16 clients stream: the INSERTs of its group
	get 53100 and are never written; every acknowledged row, before and
	after it, is written once, in each session's order, after a kill -9."""
	table = "sp_eio_stream"
	stream_table(pg, table)
	p = faulty_proxy(make_proxy, spool_dir, table, shim)
	st = Stream(p, table, 16, refusals=("53100",))
	st.start()
	harness.wait_for(lambda: st.total >= 200, timeout=60, what="200 rows acknowledged")
	fault(shim, "eio", 1)
	harness.wait_for(lambda: any(st.refused.values()), timeout=60, what="an INSERT refused with 53100")
	goal = st.total + 300
	harness.wait_for(lambda: st.total >= goal, timeout=60, what="%d rows acknowledged" % goal)
	p.kill()
	st.join()
	at = restart(p)
	assert wait_replayed(p, at)[2] == 0
	harness.stop_proxy_checked(p)
	assert segments(spool_dir) == []
	rows = check_stream(pg, table, st.acked, st.sent)
	assert rows >= st.total
	refused = {(c, n) for c, ns in st.refused.items() for n in ns}
	written = set(pg.sql("SELECT c, n FROM %s" % table))
	assert refused and not refused & written, "a row answered 53100 was written"


def test_segment_not_made(pg, make_proxy, spool_dir, shim):
	table = "sp_nocreate"
	key_table(pg, table)
	p = faulty_proxy(make_proxy, spool_dir, table, shim)
	s = su.Session.to(p, timeout=60)
	s.insert("INSERT INTO %s VALUES (1, 1)" % table, 1)
	# the fsync fails, and the segment for its void record cannot be made
	# three times: the answer waits for it, then says 53100
	fault(shim, "nocreate", 3)
	fault(shim, "eio", 1)
	msgs = s.run("INSERT INTO %s VALUES (2, 2)" % table)
	err = su.error_of(msgs)
	assert err is not None and err["C"] == "53100", su.show(msgs)
	s.insert("INSERT INTO %s VALUES (3, 3)" % table, 1)
	s.close()
	harness.stop_proxy_checked(p)
	assert [k for (k,) in pg.sql("SELECT k FROM %s ORDER BY k" % table)] == [1, 3]
	assert segments(spool_dir) == []
