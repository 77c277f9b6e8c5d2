"""The compose stack (docker/docker-compose.yml) under podman-compose: the seed scenario end to end, the image's properties, SIGTERM mid-stream, the `scale` profile behind HAProxy, the `monitoring` profile's Prometheus scraping every replica, and nothing left behind. Run by `make docker-test` (scripts/docker-test.sh), which provides podman and the base images.

One stack for the module, and the tests are steps of one story, in file order: each starts from where the one before left the stack (run the module whole, not with -k)."""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
import tempfile
import time

import psycopg2
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER = os.path.join(REPO, "docker")
PYTHON = "/usr/bin/python3"
DATAGEN = os.path.join(REPO, "scripts", "datagen.py")
PROJECT = "pgbatchd-test-%d" % os.getpid()


def free_port():
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def run(cmd, check=True, timeout=600, stderr=subprocess.STDOUT, **kw):
	res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, timeout=timeout, **kw)
	out = res.stdout.decode(errors="replace")
	if check and res.returncode != 0:
		raise AssertionError("%s exited %d:\n%s" % (" ".join(cmd), res.returncode, out[-4000:]))
	return res.returncode, out


def wait_for(pred, timeout, what):
	"""Polls pred (an observable event); the bound only keeps a broken stack
	from hanging the run."""
	return harness.wait_for(pred, timeout=timeout, interval=0.25, what=what)


class Stack:
	"""One compose project of docker/docker-compose.yml, its own ports and password."""

	def __init__(self, tmp):
		self.tmp = tmp
		self.env = dict(os.environ)
		self.env.update({
			"PGBATCHD_PORT": str(free_port()),
			"PGBATCHD_SCALE_PORT": str(free_port()),
			"PROMETHEUS_PORT": str(free_port()),
			"POSTGRES_PASSWORD": "pw-" + secrets.token_hex(8),
			"DATAGEN_ROWS_PER_SECOND": "250",
		})
		self.env.pop("PGBATCHD_CONFIG", None)

	@property
	def port(self):
		return int(self.env["PGBATCHD_PORT"])

	def compose(self, *args, check=True, env=None, timeout=600):
		e = dict(self.env)
		e.update(env or {})
		return run(["podman-compose", "-p", PROJECT, "-f", "docker-compose.yml"] + list(args),
			check=check, cwd=DOCKER, env=e, timeout=timeout)

	@staticmethod
	def name(service):
		return "%s_%s_1" % (PROJECT, service)

	def up(self, *services, env=None):
		self.compose("up", "-d", *services, env=env)

	def remove(self, *services):
		for s in services:
			run(["podman", "rm", "-f", "-t", "30", self.name(s)], check=False)

	def healthy(self, service):
		"""Runs the container's own HEALTHCHECK (no systemd here to run it on a timer)."""
		rc, _ = run(["podman", "healthcheck", "run", self.name(service)], check=False)
		return rc == 0

	def wait_healthy(self, *services):
		for s in services:
			wait_for(lambda: self.healthy(s), 120, "%s to be healthy" % s)

	def logs(self, service):
		return run(["podman", "logs", self.name(service)])[1]

	def psql(self, sql):
		"""Runs sql in the postgres container (as the database sees it, not through pgbatchd)."""
		return run(["podman", "exec", "-u", "postgres", self.name("postgres"), "psql", "-X", "-At",
			"-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql])[1]

	def table(self, sql):
		"""{b1: (b2, b3)} of a query returning b1, b2, b3."""
		out = self.psql("COPY (%s) TO STDOUT" % sql)
		rows = {}
		for line in out.splitlines():
			b1, b2, b3 = line.split("\t")
			assert int(b1) not in rows
			rows[int(b1)] = (int(b2), b3)
		return rows

	def config(self, name, **table):
		"""docker/pgbatchd.ini with the [table test_adbpg_table] keys replaced; its path."""
		text = open(os.path.join(DOCKER, "pgbatchd.ini")).read()
		for k, v in table.items():
			text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
			assert n == 1, k
		path = os.path.join(self.tmp, name)
		with open(path, "w") as f:
			f.write(text)
		os.chmod(path, 0o644)
		return path

	def containers(self):
		out = run(["podman", "ps", "-a", "--filter", "label=io.podman.compose.project=%s" % PROJECT,
			"--format", "{{.Names}}"])[1]
		return out.split()

	def volumes(self):
		"""Volumes of the project's containers (postgres's PGDATA is an anonymous one)."""
		vols = set()
		for c in self.containers():
			_, out = run(["podman", "inspect", "--format", "{{range .Mounts}}{{.Type}}:{{.Name}} {{end}}", c],
				stderr=subprocess.DEVNULL)
			vols.update(m.split(":", 1)[1] for m in out.split() if m.startswith("volume:"))
		return vols

	def down(self):
		"""`compose down` (SIGTERM, 30 s grace), then what podman-compose 1.0
		leaves: anonymous volumes and the project's network."""
		vols = self.volumes()
		self.compose("down", "-v", "-t", "30", check=False)
		for c in self.containers():
			run(["podman", "rm", "-f", "-v", c], check=False)
		for v in vols:
			run(["podman", "volume", "rm", "-f", v], check=False)
		run(["podman", "network", "rm", "-f", "%s_default" % PROJECT], check=False)
		return vols


@pytest.fixture(scope="module")
def stack():
	tmp = tempfile.mkdtemp(prefix="pgbatchd-docker-")
	os.chmod(tmp, 0o755)
	s = Stack(tmp)
	# Built every run (the layer cache makes an unchanged tree quick): `up`
	# alone would reuse an image of an older tree.
	s.compose("build", "pgbatchd", "datagen", "haproxy", "prometheus", timeout=1200)
	try:
		yield s
	finally:
		s.down()
		shutil.rmtree(tmp, ignore_errors=True)


def acks(path):
	with open(path) as f:
		return [json.loads(line) for line in f if line.endswith("\n")]


def host_datagen(stack, port, ack_log, fields, rows=None, clients=1, seed=1):
	cmd = [PYTHON, DATAGEN, "--dsn", "host=127.0.0.1 port=%d dbname=postgres user=postgres" % port,
		"--rows-per-second", "0", "--clients", str(clients), "--seed", str(seed), "--quiet",
		"--ack-log", ack_log, "--connect-timeout", "60"]
	for f in fields:
		cmd += ["--field", f]
	if rows is not None:
		cmd += ["--rows", str(rows)]
	return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


# ------------------------------------------------------------ the seed scenario

def test_seed_scenario(stack):
	stack.up("postgres", "pgbatchd")
	stack.wait_healthy("postgres", "pgbatchd")
	# datagen waits for pgbatchd's health in `docker compose`; podman-compose 1.0
	# ignores the condition, so it is started once pgbatchd is healthy
	stack.up("datagen")
	rc = int(run(["podman", "wait", stack.name("datagen")], timeout=600)[1].strip())
	report = stack.logs("datagen")
	assert rc == 0, report
	assert re.search(r"datagen: 1000 rows inserted into test_adbpg_table by 1 client\(s\) in \S+ \(\S+ rows/s\), "
		r"0 errors", report), report

	ack_log = os.path.join(stack.tmp, "seed-acks.jsonl")
	run(["podman", "cp", "%s:/tmp/acks.jsonl" % stack.name("datagen"), ack_log])
	sent = acks(ack_log)
	assert len(sent) == 1000 and all(a["ok"] for a in sent)
	expect = {a["row"][0]: (a["row"][1], a["row"][2]) for a in sent}
	assert sorted(expect) == list(range(1, 1001))
	assert stack.table("SELECT b1, b2, b3 FROM test_adbpg_table") == expect

	# `compose logs pgbatchd` shows its writes (batches, and rows written
	# directly on their client's connection), and their rows add up
	_, logs = stack.compose("logs", "pgbatchd")
	flushed = [int(m) for m in re.findall(r"(?:flush|direct) table=public\.test_adbpg_table .*?\brows=(\d+)", logs)]
	assert flushed and sum(flushed) == 1000, logs[-3000:]


def test_image(stack):
	image = "localhost/pgbatchd:latest"
	_, user = run(["podman", "image", "inspect", "--format", "{{.Config.User}}", image])
	assert user.strip() == "pgbatchd:pgbatchd"
	_, uid = run(["podman", "exec", stack.name("pgbatchd"), "sh", "-c", "id -u; id -g"])
	assert uid.split() == ["6432", "6432"]
	# PID 1 is pgbatchd itself (exec form: SIGTERM reaches it)
	_, comm = run(["podman", "exec", stack.name("pgbatchd"), "cat", "/proc/1/comm"])
	assert comm.strip() == "pgbatchd"
	_, hc = run(["podman", "image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image])
	assert json.loads(hc) == ["CMD", "pgbatchd", "--ping", "-c", "/etc/pgbatchd/pgbatchd.ini"]
	# no compiler, no -dev package
	_, found = run(["podman", "run", "--rm", "--entrypoint", "sh", image, "-c",
		"for c in gcc cc c99 make ld as cpp pkg-config; do command -v $c; done; "
		"dpkg-query -W -f '${Package}\\n' | grep -E -e '-dev$' -e '^(gcc|gcc-[0-9]+|cpp|cpp-[0-9]+|binutils.*|make)$'; "
		"true"], stderr=subprocess.DEVNULL)
	assert found.strip() == ""
	# what it does have: the three libraries
	_, pkgs = run(["podman", "run", "--rm", "--entrypoint", "dpkg-query", image, "-W", "-f", "${Package}\\n",
		"libevent-2.1-7", "libssl3", "libpq5"], stderr=subprocess.DEVNULL)
	assert pkgs.split() == ["libevent-2.1-7", "libpq5", "libssl3"]
	_, size = run(["podman", "image", "inspect", "--format", "{{.Size}}", image])
	mb = int(size) / 1e6
	readme = open(os.path.join(REPO, "README.md")).read()
	m = re.search(r"runtime\s+image\s+is\s+about\s+(\d+)\s+MB", readme)
	assert m, "README.md states the image size"
	assert abs(mb - int(m.group(1))) <= 5, "README says %s MB, the image is %.1f MB" % (m.group(1), mb)


def test_sigterm_mid_stream_loses_no_acknowledged_row(stack):
	"""ackmode=immediate, where SIGTERM's drain is all that stands between an
	acknowledged row and its loss."""
	stack.remove("pgbatchd")
	stack.up("pgbatchd", env={"PGBATCHD_CONFIG": stack.config("immediate.ini", ackmode="immediate")})
	stack.wait_healthy("pgbatchd")
	ack_log = os.path.join(stack.tmp, "sigterm-acks.jsonl")
	gen = host_datagen(stack, stack.port, ack_log, ["b1=sequence:100001:400000", "b2=random:1:1000",
		"b3=string:10"], clients=4)
	try:
		wait_for(lambda: os.path.exists(ack_log) and sum(a["ok"] for a in acks(ack_log)) >= 5000, 300,
			"5000 acknowledged rows")
		run(["podman", "kill", "--signal", "TERM", stack.name("pgbatchd")])
		rc = int(run(["podman", "wait", stack.name("pgbatchd")], timeout=120)[1].strip())
		out, _ = gen.communicate(timeout=120)
	finally:
		if gen.poll() is None:
			gen.kill()
			gen.wait()
	logs = stack.logs("pgbatchd")
	assert rc == 0, logs[-3000:]
	assert "shutdown requested" in logs and "shutdown complete" in logs, logs[-3000:]

	sent = acks(ack_log)
	acked = {a["row"][0]: (a["row"][1], a["row"][2]) for a in sent if a["ok"]}
	maybe = {a["row"][0]: (a["row"][1], a["row"][2]) for a in sent if not a["ok"]}
	assert len(acked) >= 5000 and len(acked) < 300000, out
	table = stack.table("SELECT b1, b2, b3 FROM test_adbpg_table WHERE b1 > 100000")
	lost = [k for k, v in acked.items() if table.get(k) != v]
	assert lost == [], "%d acknowledged rows lost or changed, e.g. %s" % (len(lost), lost[:5])
	# and nothing appeared that was not sent (an unanswered row may or may not be there)
	assert all(maybe.get(k) == v or acked.get(k) == v for k, v in table.items())
	print("sigterm: %d rows acknowledged, %d unanswered (%d of them written), table %d" % (
		len(acked), len(maybe), sum(1 for k in maybe if k in table), len(table)), file=sys.stderr)


# ------------------------------------------------------------ profile scale

def replicas_reached(port):
	"""The backend's view of the client address of three sessions opened at once through port."""
	conns = []
	try:
		for _ in range(3):
			conns.append(psycopg2.connect("host=127.0.0.1 port=%d dbname=postgres user=postgres "
				"connect_timeout=5" % port))
		addrs = set()
		for c in conns:
			with c.cursor() as cur:
				cur.execute("SELECT inet_client_addr()")
				addrs.add(cur.fetchone()[0])
		return addrs
	except psycopg2.OperationalError:
		return set()
	finally:
		for c in conns:
			c.close()


def test_scale_profile(stack):
	"""Three pgbatchd behind HAProxy, three datagen clients upserting overlapping
	keys with ackmode=commit: the final table is a serial replay of the
	acknowledged INSERTs in an order their real time allows, and every replica
	wrote rows (in batches, or directly)."""
	stack.psql("TRUNCATE test_adbpg_table")
	cfg = stack.config("scale.ini", conflictmode="upsert", ackmode="commit")
	replicas = ["pgbatchd-1", "pgbatchd-2", "pgbatchd-3"]
	stack.up(*replicas, "haproxy", env={"PGBATCHD_CONFIG": cfg})
	stack.wait_healthy(*replicas)
	port = int(stack.env["PGBATCHD_SCALE_PORT"])
	# HAProxy sends connections to all three: the backend sees three client
	# addresses (a pass-through session's backend connection is its replica's)
	wait_for(lambda: len(replicas_reached(port)) == 3, 120, "HAProxy to reach the three replicas")
	logs = []
	gens = []
	for i in range(3):
		logs.append(os.path.join(stack.tmp, "scale-%d.jsonl" % i))
		gens.append(host_datagen(stack, port, logs[-1], ["b1=random:1:300", "b2=random:1:1000000000",
			"b3=string:16"], rows=1500, clients=2, seed=100 + i))
	for g in gens:
		out, _ = g.communicate(timeout=600)
		assert g.returncode == 0, out.decode()

	writes = {}
	for path in logs:
		for a in acks(path):
			assert a["ok"], a
			writes.setdefault(a["row"][0], []).append(a)
	assert sum(len(w) for w in writes.values()) == 4500
	table = stack.table("SELECT b1, b2, b3 FROM test_adbpg_table")
	assert sorted(table) == sorted(writes)
	forced = 0
	for k, ws in writes.items():
		# A write can be the last in some serial order that respects real time
		# only if no other write of the key was sent after it was acknowledged.
		last_sent = max(w["sent"] for w in ws)
		candidates = {(w["row"][1], w["row"][2]) for w in ws
			if not any(o is not w and o["sent"] > w["done"] for o in ws)}
		assert table[k] in candidates, "key %d: %s is not a last write (%d writes, last sent %.3f)" % (
			k, table[k], len(ws), last_sent)
		forced += len(candidates) == 1
	assert forced > 0
	batches = {}
	for r in replicas:
		rows = [int(m) for m in re.findall(r"(?:flush|direct) table=public\.test_adbpg_table .*?\brows=(\d+)",
			stack.logs(r))]
		batches[r] = (len(rows), sum(rows))
	assert all(n > 0 for n, _ in batches.values()), batches
	assert sum(rows for _, rows in batches.values()) == 4500, batches
	print("scale: per replica (batches, rows) %s; %d of %d keys had one possible last write" % (
		batches, forced, len(writes)), file=sys.stderr)


# ------------------------------------------------------- profile monitoring

def prometheus_get(stack, path):
	url = "http://127.0.0.1:%s%s" % (stack.env["PROMETHEUS_PORT"], path)
	try:
		with urllib.request.urlopen(url, timeout=10) as r:
			return json.loads(r.read().decode())
	except (OSError, ValueError):
		return None


def targets_up(stack, want):
	"""{instance: health} of Prometheus's active targets, once every one in want is up."""
	t = prometheus_get(stack, "/api/v1/targets?state=active")
	if not t or t.get("status") != "success":
		return None
	health = {a["labels"]["instance"]: a["health"] for a in t["data"]["activeTargets"]}
	return health if all(health.get(w) == "up" for w in want) else None


def test_monitoring_profile(stack):
	"""Prometheus (Debian's, in the monitoring profile) finds every pgbatchd
	of the stack by its compose name, scrapes each one's /metrics (its
	targets API says up), and has the rows the scale test wrote through
	them, per replica and table."""
	replicas = ["pgbatchd-1", "pgbatchd-2", "pgbatchd-3"]
	stack.up("prometheus")
	health = wait_for(lambda: targets_up(stack, replicas), 180, "Prometheus to scrape the three replicas")
	assert all(h == "up" for h in health.values()), health
	assert set(replicas) <= set(health)

	def written():
		q = prometheus_get(stack, "/api/v1/query?query=" + urllib.parse.quote(
			'sum by (instance) (pgbatchd_rows_written_total{table="public.test_adbpg_table"})'))
		if not q or q.get("status") != "success":
			return None
		per = {r["metric"]["instance"]: float(r["value"][1]) for r in q["data"]["result"]}
		return per if set(replicas) <= set(per) else None
	per = wait_for(written, 60, "the replicas' series in Prometheus")
	assert sum(per[r] for r in replicas) == 4500, per      # the scale test's rows, each written once
	assert all(per[r] > 0 for r in replicas), per


def test_down_leaves_nothing(stack):
	# postgres, pgbatchd, datagen, 3 replicas, haproxy, prometheus
	assert len(stack.containers()) == 8
	vols = stack.down()
	assert vols
	assert stack.containers() == []
	_, left = run(["podman", "volume", "ls", "--format", "{{.Name}}"])
	assert vols.isdisjoint(left.split())
	rc, _ = run(["podman", "network", "exists", "%s_default" % PROJECT], check=False)
	assert rc != 0
