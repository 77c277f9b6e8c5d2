"""Integration-test harness: throwaway PostgreSQL 15 servers, pgbatchd processes with sanitizer checks, free ports, client runners."""

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PGBIN = "/usr/lib/postgresql/15/bin"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KEEP = os.environ.get("PGBATCHD_KEEP") == "1"    # keep temp dirs for post-mortems

# Every process the harness starts, so an interrupted run does not leave any.
_live = []


def _cleanup_at_exit():
	for obj in list(_live):
		try:
			obj.kill()
		except Exception:
			pass


atexit.register(_cleanup_at_exit)


def pgbin(name):
	return os.path.join(PGBIN, name)


def free_port():
	"""A TCP port on 127.0.0.1 that nobody listens on right now."""
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def clean_env(**extra):
	"""The environment for client programs: no PG* variable leaks in from the
	caller, a UTF-8 C locale so messages and encodings are the same everywhere."""
	env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
	env["LC_ALL"] = "C.UTF-8"
	env["LANG"] = "C.UTF-8"
	for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
		env.pop(k, None)
	env.update({k: str(v) for k, v in extra.items()})
	return env


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
	deadline = time.monotonic() + timeout
	while True:
		v = pred()
		if v:
			return v
		if time.monotonic() > deadline:
			raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
		time.sleep(interval)


def _as_postgres():
	"""Prefix for commands that must run as the postgres OS user (the server
	refuses to run as root)."""
	if os.geteuid() == 0:
		return ["runuser", "-u", "postgres", "--"]
	return []


def pgbatchd_path():
	"""The binary under test: $PGBATCHD, else the ASan build, else the release build."""
	p = os.environ.get("PGBATCHD")
	if p:
		return p
	for cand in ("build/asan/pgbatchd", "pgbatchd"):
		full = os.path.join(REPO, cand)
		if os.path.exists(full):
			return full
	return os.path.join(REPO, "build/asan/pgbatchd")


# ---------------------------------------------------------------- PostgreSQL

class PgServer:
	"""A throwaway PostgreSQL 15 cluster: initdb'd into a temp dir, trust auth,
	listening on 127.0.0.1:<free port> and on a Unix socket in its own dir."""

	def __init__(self, name="pg", settings=None):
		self.name = name
		self.dir = tempfile.mkdtemp(prefix="pgbatchd-%s-" % name)
		if os.geteuid() == 0:
			pw = pwd.getpwnam("postgres")
			os.chown(self.dir, pw.pw_uid, pw.pw_gid)
		os.chmod(self.dir, 0o755)
		self.datadir = os.path.join(self.dir, "data")
		self.sockdir = self.dir
		self.host = "127.0.0.1"
		self.port = None
		self.pid = None
		self.settings = {
			"fsync": "off",
			"synchronous_commit": "off",
			"full_page_writes": "off",
			"max_connections": "100",
			"shared_buffers": "32MB",
			"log_min_messages": "warning",
			"log_connections": "off",
			"lc_messages": "C",
		}
		if settings:
			self.settings.update(settings)
		self.started = False

	def _run(self, args, **kw):
		env = clean_env(LC_ALL="C")
		return subprocess.run(_as_postgres() + args, env=env, check=True,
			stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, **kw)

	def start(self):
		self._run([pgbin("initdb"), "-D", self.datadir, "-A", "trust", "--no-sync",
			"-U", "postgres", "-E", "UTF8", "--locale=C", "--no-instructions"])
		with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
			f.write("\n# pgbatchd test harness\n")
			for k, v in self.settings.items():
				f.write("%s = '%s'\n" % (k, v))
		for attempt in range(5):
			self.port = free_port()
			opts = "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.sockdir)
			try:
				self._run([pgbin("pg_ctl"), "-D", self.datadir, "-o", opts,
					"-l", os.path.join(self.dir, "postgres.log"), "-w", "-t", "60", "start"])
				break
			except subprocess.CalledProcessError:
				if attempt == 4:
					raise RuntimeError("PostgreSQL did not start:\n" + self.server_log())
		with open(os.path.join(self.datadir, "postmaster.pid")) as f:
			self.pid = int(f.readline())
		self.started = True
		_live.append(self)
		return self

	def restart_immediate(self):
		"""A crash and recovery: `pg_ctl restart -m immediate` (backends killed,
		no shutdown checkpoint; the server replays its WAL when it starts)."""
		self._run([pgbin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "-t", "60",
			"-l", os.path.join(self.dir, "postgres.log"), "restart"])
		with open(os.path.join(self.datadir, "postmaster.pid")) as f:
			self.pid = int(f.readline())

	def server_log(self):
		try:
			with open(os.path.join(self.dir, "postgres.log"), errors="replace") as f:
				return f.read()
		except OSError:
			return ""

	def reload(self):
		self._run([pgbin("pg_ctl"), "-D", self.datadir, "reload"])
		time.sleep(0.2)  # the postmaster re-reads pg_hba.conf asynchronously

	def set_hba(self, tcp_method, local_method="trust"):
		"""Rewrites pg_hba.conf: Unix socket (the admin path) stays `local_method`,
		every TCP connection must use `tcp_method`."""
		with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
			f.write("local all all %s\n" % local_method)
			f.write("host all all 127.0.0.1/32 %s\n" % tcp_method)
			f.write("host all all ::1/128 %s\n" % tcp_method)
		self.reload()

	def write_hba(self, tcp_lines):
		"""Rewrites pg_hba.conf: the Unix socket (the admin path) trusted, then
		these lines for TCP; reloads. Callers wait for the change to show."""
		with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
			f.write("local all all trust\n")
			for line in tcp_lines:
				f.write(line + "\n")
		self._run([pgbin("pg_ctl"), "-D", self.datadir, "reload"])

	def stop(self):
		if not self.started:
			self._rmdir()
			return
		self.started = False
		if self in _live:
			_live.remove(self)
		try:
			self._run([pgbin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "-t", "30", "stop"])
		except Exception:
			self.kill()
		self._rmdir()

	def kill(self):
		if self.pid:
			try:
				os.kill(self.pid, signal.SIGQUIT)
				time.sleep(0.5)
				os.kill(self.pid, signal.SIGKILL)
			except ProcessLookupError:
				pass

	def _rmdir(self):
		if not KEEP:
			shutil.rmtree(self.dir, ignore_errors=True)

	# -- clients

	def connect(self, dbname="postgres", user="postgres", **kw):
		"""An autocommit psycopg connection over the Unix socket (the admin path,
		which stays trust whatever pg_hba says for TCP)."""
		import psycopg
		return psycopg.connect(host=self.sockdir, port=self.port, dbname=dbname,
			user=user, autocommit=True, **kw)

	def sql(self, query, params=None, dbname="postgres"):
		"""Runs one statement as postgres; returns all rows (or None)."""
		with self.connect(dbname=dbname) as c:
			cur = c.execute(query, params)
			return cur.fetchall() if cur.description else None

	def create_database(self, name):
		self.sql('DROP DATABASE IF EXISTS "%s"' % name)
		self.sql('CREATE DATABASE "%s"' % name)


# ---------------------------------------------------------------- pgbatchd

SANITIZER_MARKERS = ("runtime error", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer")


class Proxy:
	"""One pgbatchd process in front of a PgServer, with its own temp dir
	holding the config, the userlist, the log and any sanitizer reports."""

	def __init__(self, backend, name="proxy", binary=None, auth_type="trust", users=None,
			io_buffer_size=16384, max_client_conn=100, verbose=0, max_inspect_bytes=1048576,
			backend_url=None, backend_user="postgres", backend_password="postgres",
			extra_pgbatchd=None, extra_sections="", asan_options=None, env_extra=None,
			nofile=None, args=None):
		self.backend = backend
		self.args = list(args or [])     # more command-line arguments (--spool-salvage)
		self.name = name
		self.binary = binary or pgbatchd_path()
		self.dir = tempfile.mkdtemp(prefix="pgbatchd-%s-" % name)
		self.cfg_path = os.path.join(self.dir, "pgbatchd.ini")
		self.userlist_path = os.path.join(self.dir, "userlist.txt")
		self.log_path = os.path.join(self.dir, "pgbatchd.log")
		self.stderr_path = os.path.join(self.dir, "stderr.log")
		self.host = "127.0.0.1"
		self.port = None
		self.proc = None
		self.opts = {
			"auth_type": auth_type,
			"max_client_conn": max_client_conn,
			"verbose": verbose,
			"io_buffer_size": io_buffer_size,
			"max_inspect_bytes": max_inspect_bytes,
		}
		if extra_pgbatchd:
			self.opts.update(extra_pgbatchd)
		self.users = dict(users) if users is not None else {"postgres": "postgres"}
		self.backend_url = backend_url or "postgresql://127.0.0.1:%d/postgres" % backend.port
		self.backend_user = backend_user
		self.backend_password = backend_password
		self.extra_sections = extra_sections
		self.asan_options = asan_options or {}
		self.env_extra = env_extra or {}
		self.nofile = nofile            # (soft, hard) RLIMIT_NOFILE to start it with
		self.returncode = None

	# -- config

	def write_config(self):
		with open(self.userlist_path, "w") as f:
			for u, secret in self.users.items():
				f.write('"%s" "%s"\n' % (u.replace('"', '""'), secret.replace('"', '""')))
		lines = ["[pgbatchd]",
			"listen_addr = %s" % self.host,
			"listen_port = %d" % self.port,
			"auth_file = %s" % self.userlist_path,
			"logfile = %s" % self.log_path]
		for k, v in self.opts.items():
			lines.append("%s = %s" % (k, v))
		lines += ["", "[backend]",
			"url = %s" % self.backend_url,
			"username = %s" % self.backend_user]
		if self.backend_password is not None:
			lines.append("password = %s" % self.backend_password)
		text = "\n".join(lines) + "\n" + self.extra_sections
		with open(self.cfg_path, "w") as f:
			f.write(text)
		return text

	def env(self):
		asan = {
			"detect_leaks": "1",   # LeakSanitizer works in this sandbox (checked: no ptrace restriction)
			"log_path": os.path.join(self.dir, "asan"),
			"abort_on_error": "0",
			"strict_string_checks": "1",
			"detect_stack_use_after_return": "1",
		}
		asan.update(self.asan_options)
		return clean_env(
			ASAN_OPTIONS=":".join("%s=%s" % kv for kv in asan.items()),
			UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=%s" % os.path.join(self.dir, "ubsan"),
			**self.env_extra,
		)

	# -- lifecycle

	def start(self):
		# free_port's port can be taken before pgbatchd binds it (a client's
		# ephemeral port, a test beside this one): then another port
		for attempt in range(5):
			try:
				return self._start()
			except RuntimeError as e:
				taken = re.search(r"cannot listen on \S+:%d: Address already in use" % self.port, str(e))
				if not taken or attempt == 4:
					raise
				self.stderr.close()

	def _start(self):
		if not os.path.exists(self.binary):
			raise FileNotFoundError("pgbatchd binary not found: %s (build it or set PGBATCHD)" % self.binary)
		self.port = free_port()
		self.write_config()
		self.stderr = open(self.stderr_path, "ab")
		preexec = None
		if self.nofile:
			import resource
			soft, hard = self.nofile
			preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # noqa: E731
		self.proc = subprocess.Popen([self.binary, "-c", self.cfg_path] + self.args, stdin=subprocess.DEVNULL,
			stdout=self.stderr, stderr=self.stderr, env=self.env(), cwd=self.dir,
			preexec_fn=preexec)
		if self not in _live:
			_live.append(self)
		deadline = time.monotonic() + 20
		while True:
			if self.proc.poll() is not None:
				raise RuntimeError("pgbatchd exited with %s at start-up:\n%s" % (self.proc.returncode, self.output()))
			try:
				socket.create_connection((self.host, self.port), timeout=1).close()
				break
			except OSError:
				if time.monotonic() > deadline:
					self.kill()
					raise RuntimeError("pgbatchd did not accept on port %d:\n%s" % (self.port, self.output()))
				time.sleep(0.02)
		return self

	@property
	def pid(self):
		return self.proc.pid

	def signal(self, sig):
		self.proc.send_signal(sig)

	def reload(self, **changes):
		"""Rewrites the config with `changes` applied to [pgbatchd] keys and sends SIGHUP."""
		users = changes.pop("users", None)
		if users is not None:
			self.users = dict(users)
		self.opts.update(changes)
		self.write_config()
		self.signal(signal.SIGHUP)

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def stop(self, timeout=30):
		"""SIGTERM, wait, then return a list of problems (empty when the
		process exited 0 with no sanitizer report)."""
		if self.proc is None:
			return []
		if getattr(self, "problems", None) is not None:
			return self.problems    # (stopped and checked already, by the test itself)
		problems = []
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				problems.append("pgbatchd did not exit within %ds of SIGTERM" % timeout)
				self.proc.kill()
				self.proc.wait()
		self.returncode = self.proc.returncode
		if self in _live:
			_live.remove(self)
		self.stderr.close()
		if self.returncode != 0:
			problems.append("pgbatchd exited with %s (expected 0)" % self.returncode)
		problems += self.sanitizer_reports()
		self.problems = problems
		return problems

	def kill(self):
		if self.proc is not None and self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait()

	def cleanup(self):
		if not KEEP:
			shutil.rmtree(self.dir, ignore_errors=True)

	# -- inspection

	def sanitizer_reports(self):
		found = []
		for fn in sorted(os.listdir(self.dir)):
			if fn.startswith("asan") or fn.startswith("ubsan"):
				with open(os.path.join(self.dir, fn), errors="replace") as f:
					found.append("sanitizer report %s:\n%s" % (fn, f.read()[:20000]))
		text = self.output()
		for m in SANITIZER_MARKERS:
			if m in text:
				found.append("%r in pgbatchd's stderr/log:\n%s" % (m, text[-20000:]))
				break
		return found

	def log(self):
		try:
			with open(self.log_path, errors="replace") as f:
				return f.read()
		except OSError:
			return ""

	def output(self):
		"""The log file and stderr together."""
		try:
			with open(self.stderr_path, errors="replace") as f:
				err = f.read()
		except OSError:
			err = ""
		return self.log() + ("\n--- stderr ---\n" + err if err else "")

	def wait_log(self, pattern, timeout=10.0, start=0):
		"""Waits until the log (from byte offset `start`) matches `pattern`."""
		rx = re.compile(pattern)
		return wait_for(lambda: rx.search(self.log()[start:]), timeout,
			what="log line matching %r" % pattern)

	def proc_status(self, key):
		"""A /proc/PID/status field in kB (VmHWM, VmRSS)."""
		with open("/proc/%d/status" % self.proc.pid) as f:
			for line in f:
				if line.startswith(key + ":"):
					return int(line.split()[1])
		raise KeyError(key)

	def dsn(self, user="postgres", dbname="postgres", **kw):
		parts = ["host=%s" % self.host, "port=%d" % self.port, "user=%s" % user, "dbname=%s" % dbname]
		parts += ["%s=%s" % kv for kv in kw.items()]
		return " ".join(parts)

	def connect(self, user="postgres", dbname="postgres", **kw):
		import psycopg
		return psycopg.connect(host=self.host, port=self.port, user=user, dbname=dbname,
			autocommit=True, **kw)


def start_proxy(backend, **kw):
	p = Proxy(backend, **kw)
	try:
		p.start()
	except Exception:
		p.kill()       # its output is in the exception already
		p.cleanup()
		raise
	return p


def stop_proxy_checked(proxy):
	"""Stops a proxy; raises AssertionError listing every problem found."""
	problems = proxy.stop()
	if problems:
		msg = "\n\n".join(problems) + "\n\n--- pgbatchd log (tail; all files kept in %s) ---\n" % proxy.dir
		msg += proxy.output()[-8000:]
		raise AssertionError(msg)
	proxy.cleanup()


# ---------------------------------------------------------------- client programs

def psql(host, port, args=(), user="postgres", dbname="postgres", input=None, env=None,
		timeout=120, cwd=None, password=None, merge_stderr=False):
	"""Runs psql -X (no psqlrc). Returns the CompletedProcess (stdout/stderr bytes;
	with merge_stderr both go to one pipe, in the order psql wrote them)."""
	e = clean_env(PGHOST=host, PGPORT=port, PGUSER=user, PGDATABASE=dbname)
	if password is not None:
		e["PGPASSWORD"] = password
	if env:
		e.update({k: str(v) for k, v in env.items()})
	return subprocess.run([pgbin("psql"), "-X"] + list(args), input=input, env=e,
		stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
		timeout=timeout, cwd=cwd)


def run(args, env=None, timeout=300, input=None, cwd=None):
	e = clean_env()
	if env:
		e.update({k: str(v) for k, v in env.items()})
	return subprocess.run(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
		timeout=timeout, input=input, cwd=cwd)
