"""Real drivers through pgbatchd: pgjdbc (tests/clients/JdbcClient.java) and psycopg 3 + psycopg2 (tests/clients/psycopg_client.py) print the same transcript directly and through the proxy."""

import os

import pytest

import harness

CLIENTS = os.path.join(harness.REPO, "tests", "clients")
JDBC_JAR = "/usr/share/java/postgresql.jar"
IO_SIZES = [16384, 64]


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
	out = tmp_path_factory.mktemp("jdbc")
	res = harness.run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", str(out),
		os.path.join(CLIENTS, "JdbcClient.java")], timeout=300)
	assert res.returncode == 0, (res.stdout + res.stderr).decode()
	return str(out)


def run_jdbc(classes, host, port, dbname):
	url = "jdbc:postgresql://%s:%d/%s?sslmode=disable" % (host, port, dbname)
	res = harness.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", "%s:%s" % (classes, JDBC_JAR),
		"JdbcClient", url, "postgres"], timeout=300)
	text = res.stdout.decode(errors="replace")
	assert res.returncode == 0, text + res.stderr.decode(errors="replace")
	return text


def run_psycopg(host, port, dbname):
	dsn = "host=%s port=%d dbname=%s user=postgres sslmode=disable" % (host, port, dbname)
	res = harness.run(["/usr/bin/python3", os.path.join(CLIENTS, "psycopg_client.py"), dsn], timeout=300)
	text = res.stdout.decode(errors="replace")
	assert res.returncode == 0, text + res.stderr.decode(errors="replace")
	return text


RUNNERS = {
	"jdbc": lambda ctx, host, port, db: run_jdbc(ctx["classes"], host, port, db),
	"psycopg": lambda ctx, host, port, db: run_psycopg(host, port, db),
}

# What each transcript must show, so a client that silently stops exercising
# something is noticed.
MUST_SHOW = {
	"jdbc": ["BackendKeyData pid is the backend's own: true", "S_1", "batch counts: 50 entries, sum 50",
		"BatchUpdateException 23505", "Key (id)=(5) already exists", "SQLSTATE 23502",
		"fetched 60 rows, sum 1830", "warning 00000: jdbc notice 7", "callable: CALLABLE",
		"SQLSTATE 57014", "alive after cancel", "done"],
	"psycopg": ["backend pid matches BackendKeyData: True", "server-side prepared statements: 1",
		"UniqueViolation 23505", "NotNullViolation 23502", "DivisionByZero 22012", "copied: 20",
		"copied out: 20", "cancel: QueryCanceled 57014", "alive after cancel", "notice: NOTICE 00000: psycopg notice 3",
		"psycopg2 backend pid matches: True", "psycopg2 error: 23505", "psycopg2 named cursor sum: 4950", "done"],
}


@pytest.fixture(scope="module")
def ctx(jdbc_classes):
	return {"classes": jdbc_classes, "direct": {}}


def direct_transcript(pg, ctx, client):
	if client not in ctx["direct"]:
		db = "%s_direct" % client
		pg.create_database(db)
		ctx["direct"][client] = RUNNERS[client](ctx, pg.host, pg.port, db)
	return ctx["direct"][client]


@pytest.mark.parametrize("client", list(RUNNERS))
def test_transcript_is_meaningful(pg, ctx, client):
	text = direct_transcript(pg, ctx, client)
	missing = [m for m in MUST_SHOW[client] if m not in text]
	assert not missing, "direct transcript lacks %r:\n%s" % (missing, text)


@pytest.mark.parametrize("io", IO_SIZES, ids=["io16384", "io64"])
@pytest.mark.parametrize("client", list(RUNNERS))
def test_same_transcript_through_proxy(pg, module_proxy_factory, ctx, client, io):
	direct = direct_transcript(pg, ctx, client)
	proxy = module_proxy_factory(io, io_buffer_size=io)
	db = "%s_proxy_io%d" % (client, io)
	pg.create_database(db)
	through = RUNNERS[client](ctx, proxy.host, proxy.port, db)
	assert through.splitlines() == direct.splitlines()
