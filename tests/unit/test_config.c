/* Unit tests for conf/: loader, table defaults, errors, backend urls, reload rules, reference, userlist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char MD5_SECRET[] = "md5" "0123456789abcdef0123456789abcdef";
static const char SCRAM_SECRET[] = "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$c3RvcmVka2V5+/==:c2VydmVya2V5";

/* Writes text to a fresh temp file; returns its path (free it, unlink it). */
static char *write_tmp(const char *text)
{
	char tmpl[] = "/tmp/pgbatchd_test_conf_XXXXXX";
	int fd = mkstemp(tmpl);
	size_t n = strlen(text), off = 0;

	assert_true(fd >= 0);
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(close(fd), 0);
	return strdup(tmpl);
}

static void drop_tmp(char *path)
{
	unlink(path);
	free(path);
}

/* Loads text that must be valid. */
static struct config *load_ok(const char *text)
{
	char err[512];
	char *path = write_tmp(text);
	struct config *cfg = config_load(path, err, sizeof(err));

	if (cfg == NULL)
		fail_msg("config_load failed: %s", err);
	drop_tmp(path);
	return cfg;
}

#define BACKEND_MIN "[backend]\nurl = jdbc:postgresql://127.0.0.1:5432/postgres\nusername = postgres\n"

/* ---- a file that sets every key ---- */

static const char FULL[] =
	"# every key, none at its default\n"
	"[pgbatchd]\n"
	"listen_addr = 0.0.0.0\n"
	"listen_port = 7432\n"
	"unix_socket_dir = /run/pgbatchd\n"
	"client_tls_sslmode = verify-full\n"
	"client_tls_key_file = /etc/pgbatchd/server.key\n"
	"client_tls_cert_file = /etc/pgbatchd/server.crt\n"
	"client_tls_ca_file = /etc/pgbatchd/ca.crt\n"
	"client_tls_protocols = tlsv1.3\n"
	"client_tls_ciphers = HIGH\n"
	"server_tls_sslmode = verify-ca\n"
	"server_tls_ca_file = /etc/pgbatchd/server-ca.crt\n"
	"server_tls_cert_file = /etc/pgbatchd/client.crt\n"
	"server_tls_key_file = /etc/pgbatchd/client.key\n"
	"auth_type = scram-sha-256\n"
	"auth_file = /etc/pgbatchd/userlist.txt\n"
	"admin_users = alice, bob\n"
	"stats_users = carol\n"
	"metrics_addr = 0.0.0.0\n"
	"metrics_port = 9127\n"
	"max_client_conn = 500\n"
	"logfile = \"/var/log/pgbatchd.log\"\n"
	"verbose = 2\n"
	"max_buffer_bytes = 68719476736\n"
	"readyourwrites = off\n"
	"io_buffer_size = 64\n"
	"max_inspect_bytes = 2048\n"
	"max_insert_bytes = 4096\n"
	"authentication_timeout = 5\n"
	"shutdown_timeout = 7\n"
	"lazy_backend = 0\n"
	"login_cache_seconds = 120\n"
	"spool_dir = /var/lib/pgbatchd/spool\n"
	"spool_max_bytes = 2097152\n"
	"\n"
	"[backend]\n"
	"url = jdbc:postgresql://db.example.com:5433/analytics?ApplicationName=pgb\n"
	"username = writer\n"
	"password = \"s3cr#t ;x\"\n"
	"connectionmaxactive = 16\n"
	"maxretrytimes = 0\n"
	"retrywaittime = 600000\n"
	"ledgertable = ops.Batch_Log\n"
	"\n"
	"[table orders]\n"
	"tablename = Orders\n"
	"targetschema = sales\n"
	"conflictmode = update\n"
	"writemode = 2\n"
	"batchsize = 10000000\n"
	"batchwritetimeoutms = 1\n"
	"exceptionmode = strict\n"
	"casesensitive = yes\n"
	"verbose = true\n"
	"ackmode = immediate\n"
	"txmode = pass\n"
	"copyclause = 0\n"
	"adaptiveflush = no\n"
	"directwrite = off\n"
	"gatherwait = on\n"
	"copystageminrows = 500\n"
	"conflictkey =  id , \"Region, Zone\" ,x\n"
	"rejectfile = /var/lib/pgbatchd/rejects.json\n"
	"\n"
	"[table events]\n"
	"writemode = 0\n"
	"conflictmode = STRICT\n";

static void test_full_file(void **state)
{
	struct config *cfg;
	const struct table_conf *t;

	(void)state;
	/* the file above must really set every key in the table */
	for (size_t i = 0; i < config_nkeys; i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\n%s = ", config_keys[i].name);
		if (strstr(FULL, needle) == NULL)
			fail_msg("FULL does not set %s", config_keys[i].name);
	}
	cfg = load_ok(FULL);
	assert_string_equal(cfg->listen_addr, "0.0.0.0");
	assert_int_equal(cfg->listen_port, 7432);
	assert_string_equal(cfg->unix_socket_dir, "/run/pgbatchd");
	assert_int_equal(cfg->client_tls_sslmode, TLS_VERIFY_FULL);
	assert_string_equal(cfg->client_tls_ca_file, "/etc/pgbatchd/ca.crt");
	assert_string_equal(cfg->client_tls_protocols, "tlsv1.3");
	assert_int_equal(cfg->server_tls_sslmode, TLS_VERIFY_CA);
	assert_int_equal(config_server_tls_mode(cfg), TLS_VERIFY_CA);
	assert_string_equal(cfg->server_tls_key_file, "/etc/pgbatchd/client.key");
	assert_int_equal(cfg->auth_type, AUTH_SCRAM);
	assert_string_equal(cfg->auth_file, "/etc/pgbatchd/userlist.txt");
	assert_string_equal(cfg->admin_users, "alice,bob");
	assert_string_equal(cfg->stats_users, "carol");
	assert_string_equal(cfg->metrics_addr, "0.0.0.0");
	assert_int_equal(cfg->metrics_port, 9127);
	assert_int_equal(cfg->max_client_conn, 500);
	assert_string_equal(cfg->logfile, "/var/log/pgbatchd.log");
	assert_int_equal(cfg->verbose, 2);
	assert_true(cfg->max_buffer_bytes == INT64_C(68719476736));
	assert_false(cfg->readyourwrites);
	assert_int_equal(cfg->io_buffer_size, 64);
	assert_int_equal(cfg->max_inspect_bytes, 2048);
	assert_int_equal(cfg->max_insert_bytes, 4096);
	assert_int_equal(cfg->authentication_timeout, 5);
	assert_false(cfg->lazy_backend);
	assert_int_equal(cfg->login_cache_seconds, 120);
	assert_string_equal(cfg->spool_dir, "/var/lib/pgbatchd/spool");
	assert_int_equal(cfg->spool_max_bytes, 2097152);

	assert_string_equal(cfg->url, "jdbc:postgresql://db.example.com:5433/analytics?ApplicationName=pgb");
	assert_string_equal(cfg->backend.host, "db.example.com");
	assert_int_equal(cfg->backend.port, 5433);
	assert_string_equal(cfg->backend.dbname, "analytics");
	assert_null(cfg->backend.user);
	assert_string_equal(cfg->backend.options, "application_name='pgb'");
	assert_string_equal(cfg->username, "writer");
	assert_string_equal(cfg->password, "s3cr#t ;x");
	assert_int_equal(cfg->connectionmaxactive, 16);
	assert_int_equal(cfg->maxretrytimes, 0);
	assert_int_equal(cfg->retrywaittime, 600000);
	assert_string_equal(cfg->ledgertable, "ops.Batch_Log");

	assert_int_equal(cfg->ntables, 2);
	t = &cfg->tables[0];
	assert_string_equal(t->name, "Orders");
	assert_string_equal(t->targetschema, "sales");
	assert_int_equal(t->conflictmode, CONFLICT_UPDATE);
	assert_int_equal(t->writemode, WRITE_UNNEST);
	assert_int_equal(t->batchsize, 10000000);
	assert_int_equal(t->batchwritetimeoutms, 1);
	assert_int_equal(t->exceptionmode, EXC_STRICT);
	assert_true(t->casesensitive);
	assert_true(t->verbose);
	assert_int_equal(t->ackmode, ACK_IMMEDIATE);
	assert_int_equal(t->txmode, TXMODE_PASS);
	assert_false(t->copyclause);
	assert_false(t->adaptiveflush);
	assert_false(t->directwrite);
	assert_int_equal(t->gatherwait, GATHER_ON);
	assert_int_equal(t->copystageminrows, 500);
	assert_string_equal(t->conflictkey, "id,\"Region, Zone\",x");
	assert_string_equal(t->rejectfile, "/var/lib/pgbatchd/rejects.json");

	t = &cfg->tables[1];
	assert_string_equal(t->name, "events");
	assert_string_equal(t->targetschema, "public");
	assert_int_equal(t->writemode, WRITE_INSERT);
	assert_int_equal(t->conflictmode, CONFLICT_STRICT);
	assert_int_equal(t->batchsize, 50000);
	assert_true(t->copyclause);
	config_free(cfg);
}

static void test_defaults(void **state)
{
	struct config *cfg;
	const struct table_conf *t;

	(void)state;
	cfg = load_ok("[backend]\nurl = postgresql://alice:pw@db/app\n[table t1]\n");
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 6432);
	assert_null(cfg->unix_socket_dir);
	assert_int_equal(cfg->client_tls_sslmode, TLS_DISABLE);
	assert_string_equal(cfg->client_tls_protocols, "secure");
	assert_int_equal(cfg->server_tls_sslmode, TLS_PREFER);
	assert_int_equal(cfg->auth_type, AUTH_TRUST);
	assert_null(cfg->auth_file);
	assert_int_equal(cfg->max_client_conn, 10000);
	assert_true(cfg->lazy_backend);
	assert_int_equal(cfg->login_cache_seconds, 30);
	assert_null(cfg->logfile);
	assert_int_equal(cfg->verbose, 0);
	assert_true(cfg->max_buffer_bytes == 268435456);
	assert_true(cfg->readyourwrites);
	assert_int_equal(cfg->io_buffer_size, 16384);
	assert_int_equal(cfg->max_inspect_bytes, 1048576);
	/* username and password come from the url */
	assert_string_equal(cfg->username, "alice");
	assert_string_equal(cfg->password, "pw");
	assert_int_equal(cfg->backend.port, 5432);
	assert_int_equal(cfg->connectionmaxactive, 5);
	assert_int_equal(cfg->maxretrytimes, 3);
	assert_int_equal(cfg->retrywaittime, 100);
	assert_string_equal(cfg->ledgertable, "pgbatchd.batch_ledger");

	assert_int_equal(cfg->ntables, 1);
	t = &cfg->tables[0];
	assert_string_equal(t->name, "t1");
	assert_string_equal(t->targetschema, "public");
	assert_int_equal(t->conflictmode, CONFLICT_UPSERT);
	assert_int_equal(t->writemode, WRITE_COPY);
	assert_int_equal(t->batchsize, 50000);
	assert_int_equal(t->batchwritetimeoutms, 50000);
	assert_int_equal(t->exceptionmode, EXC_IGNORE);
	assert_false(t->casesensitive);
	assert_false(t->verbose);
	assert_int_equal(t->ackmode, ACK_COMMIT);
	assert_true(t->adaptiveflush);
	assert_true(t->directwrite);
	assert_int_equal(t->gatherwait, GATHER_AUTO);
	assert_int_equal(t->copystageminrows, 64);
	assert_null(t->conflictkey);
	assert_null(t->rejectfile);
	config_free(cfg);

	/* zero tables: pure pass-through */
	cfg = load_ok(BACKEND_MIN);
	assert_int_equal(cfg->ntables, 0);
	assert_null(cfg->tables);
	assert_null(cfg->password);
	config_free(cfg);
}

static void test_table_defaults_inherit(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(
		"[table a]\n"                  /* before the defaults: order does not matter */
		"batchsize = 10\n"
		"rejectfile = \"\"\n"          /* explicitly none, not the default */
		"[pgbatchd]\n"
		"verbose = 2\n"                /* the daemon's own key */
		"ackmode = immediate\n"
		"[backend]\n"
		"url = jdbc:postgresql://h/db\n"
		"username = u\n"
		"batchsize = 500\n"
		"conflictmode = ignore\n"
		"verbose = 1\n"                /* default for every table */
		"rejectfile = /tmp/rejects.json\n"
		"conflictkey = id\n"
		"[table b]\n"
		"conflictmode = upsert\n");
	assert_int_equal(cfg->verbose, 2);
	assert_int_equal(cfg->ntables, 2);
	assert_string_equal(cfg->tables[0].name, "a");
	assert_int_equal(cfg->tables[0].batchsize, 10);
	assert_int_equal(cfg->tables[0].conflictmode, CONFLICT_IGNORE);
	assert_int_equal(cfg->tables[0].ackmode, ACK_IMMEDIATE);
	assert_true(cfg->tables[0].verbose);
	assert_null(cfg->tables[0].rejectfile);
	assert_string_equal(cfg->tables[0].conflictkey, "id");
	assert_string_equal(cfg->tables[1].name, "b");
	assert_int_equal(cfg->tables[1].batchsize, 500);
	assert_int_equal(cfg->tables[1].conflictmode, CONFLICT_UPSERT);
	assert_int_equal(cfg->tables[1].ackmode, ACK_IMMEDIATE);
	assert_string_equal(cfg->tables[1].rejectfile, "/tmp/rejects.json");
	/* each table owns its copy */
	assert_ptr_not_equal(cfg->tables[1].conflictkey, cfg->tables[0].conflictkey);
	/* untouched keys keep the key table's default */
	assert_int_equal(cfg->tables[1].writemode, WRITE_COPY);
	config_free(cfg);

	/* [table] with the name given inside; a quoted section name */
	cfg = load_ok(BACKEND_MIN "[table]\ntablename = t\n[table \"Mixed Case\"]\ncasesensitive = 1\n");
	assert_int_equal(cfg->ntables, 2);
	assert_string_equal(cfg->tables[0].name, "t");
	assert_string_equal(cfg->tables[1].name, "Mixed Case");
	config_free(cfg);
}

static void test_syntax_details(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(
		"\xEF\xBB\xBF# a BOM, CRLF line ends, comments of both kinds\r\n"
		"; semicolon comment\r\n"
		"   [ Backend ]   \r\n"
		"\t URL\t=\t\"host=/tmp port=5433 dbname=x\"  \r\n"
		"username = \"  spaced  \"\r\n"
		"password = a#b;c\r\n"
		"   # indented comment\r\n"
		"[pgbatchd]\r\n"
		"readyourwrites = No\r\n"
		"auth_type = MD5\r\n"
		"auth_file = users.txt\r\n"
		"listen_port = +6433\r\n");
	assert_string_equal(cfg->backend.host, "/tmp");
	assert_int_equal(cfg->backend.port, 5433);
	assert_string_equal(cfg->username, "  spaced  ");
	assert_string_equal(cfg->password, "a#b;c");
	assert_false(cfg->readyourwrites);
	assert_int_equal(cfg->auth_type, AUTH_MD5);
	assert_int_equal(cfg->listen_port, 6433);
	config_free(cfg);
}

/* ---- errors: FILE:LINE: key: what ---- */

struct err_case {
	const char *name;
	const char *text;
	int line;
	const char *key;
	const char *what;       /* substring of the message after the key */
};

#define BU "url = jdbc:postgresql://h/db\nusername = u\n"

static const struct err_case err_cases[] = {
	{ "unknown key", "[pgbatchd]\nlisten_adress = x\n", 2, "listen_adress", "unknown key in [pgbatchd]" },
	{ "key of another section", "[backend]\n" BU "[table t]\nconnectionmaxactive = 1\n", 5, "connectionmaxactive",
	  "belongs in [backend]" },
	{ "unknown section", "[backend]\n" BU "[tables t]\n", 4, "[tables]", "unknown section" },
	{ "section with a name", "[backend x]\n" BU, 1, "backend", "takes no name" },
	{ "section not closed", "[backend\n" BU, 1, "[backend", "must end with ']'" },
	{ "port too low", "[pgbatchd]\nlisten_port = 0\n", 2, "listen_port", "0 is out of range 1..65535" },
	{ "port too high", "[pgbatchd]\nlisten_port = 65536\n", 2, "listen_port", "out of range 1..65535" },
	{ "int64 too high", "[pgbatchd]\nmax_buffer_bytes = 68719476737\n", 2, "max_buffer_bytes",
	  "out of range 1048576..68719476736" },
	{ "int64 too low", "[pgbatchd]\nmax_buffer_bytes = 1048575\n", 2, "max_buffer_bytes", "out of range" },
	{ "negative", "[backend]\nretrywaittime = -1\n", 2, "retrywaittime", "-1 is out of range 0..600000" },
	{ "io buffer too small", "[pgbatchd]\nio_buffer_size = 63\n", 2, "io_buffer_size", "out of range 64..1048576" },
	{ "batchsize zero", "[table t]\nbatchsize = 0\n", 2, "batchsize", "out of range 1..10000000" },
	{ "writemode 3", "[table t]\nwritemode = 3\n", 2, "writemode", "out of range 0..2" },
	{ "int overflow", "[pgbatchd]\nmax_client_conn = 99999999999999999999999\n", 2, "max_client_conn",
	  "out of range" },
	{ "int garbage", "[pgbatchd]\nlisten_port = 64x32\n", 2, "listen_port", "\"64x32\" is not an integer" },
	{ "int hex", "[pgbatchd]\nlisten_port = 0x10\n", 2, "listen_port", "not an integer" },
	{ "tls without its key", "[pgbatchd]\nclient_tls_sslmode = require\n[backend]\n" BU, 2, "client_tls_key_file",
	  "required when client_tls_sslmode is require" },
	{ "verify-ca without a CA", "[pgbatchd]\nclient_tls_sslmode = verify-ca\nclient_tls_key_file = k\n"
	  "client_tls_cert_file = c\n[backend]\n" BU, 2, "client_tls_ca_file", "required when client_tls_sslmode is verify-ca" },
	{ "tls protocols", "[pgbatchd]\nclient_tls_sslmode = allow\nclient_tls_key_file = k\nclient_tls_cert_file = c\n"
	  "client_tls_protocols = sslv3\n[backend]\n" BU, 5, "client_tls_protocols", "is not one of secure, tlsv1.2, tlsv1.3" },
	{ "int float", "[table t]\nbatchsize = 1e3\n", 2, "batchsize", "not an integer" },
	{ "int empty", "[pgbatchd]\nverbose =\n", 2, "verbose", "not an integer" },
	{ "int inner space", "[pgbatchd]\nverbose = 1 2\n", 2, "verbose", "not an integer" },
	{ "bad enum", "[table t]\nconflictmode = merge\n", 2, "conflictmode",
	  "\"merge\" is not one of upsert, update, ignore, strict" },
	{ "bad auth_type", "[pgbatchd]\nauth_type = password\n", 2, "auth_type", "not one of trust, md5, scram-sha-256" },
	{ "bad bool", "[pgbatchd]\nreadyourwrites = maybe\n", 2, "readyourwrites", "\"maybe\" is not a boolean" },
	{ "bool 2", "[table t]\ncasesensitive = 2\n", 2, "casesensitive", "not a boolean" },
	{ "duplicate key", "[backend]\n" BU "url = jdbc:postgresql://other/db\n", 4, "url",
	  "duplicate key (already set at line 2)" },
	{ "duplicate in a repeated section", "[pgbatchd]\nverbose = 1\n[backend]\n" BU "[pgbatchd]\nVERBOSE = 2\n", 7,
	  "VERBOSE", "duplicate key (already set at line 2)" },
	{ "duplicate table default", "[pgbatchd]\nbatchsize = 1\n[backend]\n" BU "batchsize = 2\n", 6, "batchsize",
	  "duplicate key (already set at line 2)" },
	{ "duplicate in a table", "[backend]\n" BU "[table t]\nackmode = commit\nackmode = commit\n", 6, "ackmode",
	  "duplicate key (already set at line 5)" },
	{ "spool without spool_dir", "[backend]\n" BU "[table t]\nackmode = spool\n", 4, "spool_dir",
	  "required in [pgbatchd] when a table has ackmode = spool" },
	{ "missing url", "# no url\n[backend]\nusername = u\n", 2, "url", "required in [backend]" },
	{ "no backend section", "[pgbatchd]\nverbose = 1\n", 0, "url", "no [backend] section" },
	{ "missing username", "[pgbatchd]\n[backend]\nurl = jdbc:postgresql://h/db\n", 2, "username",
	  "required in [backend] (the url names no user)" },
	{ "username differs from url", "[backend]\nurl = postgresql://a@h/db\nusername = b\n", 3, "username",
	  "differs from the user \"a\" in url" },
	{ "bad url", "[backend]\nusername = u\nurl = mysql://h/db\n", 3, "url", "expected jdbc:postgresql://" },
	{ "url bad port", "[backend]\nurl = jdbc:postgresql://h:99999/db\nusername = u\n", 2, "url", "port" },
	{ "empty url", "[backend]\nurl = \"\"\n", 2, "url", "must not be empty" },
	{ "md5 without auth_file", "[backend]\n" BU "[pgbatchd]\nauth_type = md5\n", 5, "auth_file",
	  "required when auth_type is md5" },
	{ "key outside a section", "url = jdbc:postgresql://h/db\n", 1, "url", "outside any section" },
	{ "no equals sign", "[backend]\nurl\n", 2, "url", "expected 'key = value'" },
	{ "no equals sign, value not shown", "[backend]\npassword hunter2\n", 2, "password", "expected 'key = value'" },
	{ "no key name", "[backend]\n = x\n", 2, "=", "missing key name" },
	{ "unterminated quote", "[backend]\npassword = \"abc\n", 2, "password", "unterminated double quote" },
	{ "empty schema", "[table t]\ntargetschema =\n", 2, "targetschema", "must not be empty" },
	{ "empty list element", "[table t]\nconflictkey = a,,b\n", 2, "conflictkey", "element 2 of the list is empty" },
	{ "unterminated list quote", "[table t]\nconflictkey = \"a,b\n", 2, "conflictkey", "unterminated" },
	{ "tablename as a default", "[backend]\ntablename = x\n", 2, "tablename", "only valid in a [table NAME]" },
	{ "table without a name", "[backend]\n" BU "\n[table]\nbatchsize = 5\n", 5, "tablename", "required" },
	{ "same table twice", "[backend]\n" BU "[table Foo]\n[table foo]\n", 5, "tablename",
	  "table public.foo is already configured at line 4" },
	{ "same table twice, case kept", "[backend]\n" BU "[table Foo]\ncasesensitive = 1\n[table Foo]\n"
	  "casesensitive = 1\n", 6, "tablename", "already configured at line 4" },
	{ "same table via tablename", "[backend]\n" BU "[table a]\ntablename = x\n[table x]\n", 6, "tablename",
	  "already configured at line 4" },
};

/* casesensitive = 1 names the table as written: "Events" and events are two. */
static void test_tables_differing_in_case(void **state)
{
	char err[512];
	char *path = write_tmp("[backend]\n" BU "[table Events]\ncasesensitive = 1\n[table events]\n");
	struct config *cfg = config_load(path, err, sizeof(err));

	(void)state;
	drop_tmp(path);
	if (cfg == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(cfg->ntables, 2);
	config_free(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(err_cases); i++) {
		const struct err_case *c = &err_cases[i];
		char err[512], want[256];
		char *path = write_tmp(c->text);
		struct config *cfg = config_load(path, err, sizeof(err));

		snprintf(want, sizeof(want), "%s:%d: %s: ", path, c->line, c->key);
		if (cfg != NULL) {
			config_free(cfg);
			drop_tmp(path);
			fail_msg("case \"%s\": loaded, want an error", c->name);
		}
		if (strncmp(err, want, strlen(want)) != 0 || strstr(err + strlen(want), c->what) == NULL) {
			drop_tmp(path);
			fail_msg("case \"%s\": got \"%s\", want \"%s...%s\"", c->name, err, want, c->what);
		}
		drop_tmp(path);
	}
}

static void test_error_hides_secrets(void **state)
{
	char err[512];
	char *path = write_tmp("[backend]\nurl = postgresql://u:hunter2@h:0/db\n");
	struct config *cfg = config_load(path, err, sizeof(err));

	(void)state;
	assert_null(cfg);
	assert_non_null(strstr(err, ":2: url: "));
	assert_null(strstr(err, "hunter2"));
	drop_tmp(path);

	path = write_tmp("[backend]\nurl = postgresql://u:hunter2@h/db\npassword = other\n");
	assert_null(config_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, ":3: password: differs"));
	assert_null(strstr(err, "hunter2"));
	assert_null(strstr(err, "other"));
	drop_tmp(path);

	path = write_tmp("[backend]\npassword hunter2\n");
	assert_null(config_load(path, err, sizeof(err)));
	assert_null(strstr(err, "hunter2"));
	drop_tmp(path);

	assert_null(config_load("/nonexistent/pgbatchd.ini", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/pgbatchd.ini:0: "));
	assert_non_null(strstr(err, "cannot open"));
}

/* ---- ${VAR} expansion ---- */

static void test_env_expansion(void **state)
{
	struct config *cfg;

	(void)state;
	assert_int_equal(setenv("PGB_T_PW", "it's $HOME ${X} \"q\"", 1), 0);
	assert_int_equal(setenv("PGB_T_HOST", "db.internal", 1), 0);
	assert_int_equal(setenv("PGB_T_PORT", "5433", 1), 0);
	assert_int_equal(setenv("PGB_T_EMPTY", "", 1), 0);
	assert_int_equal(setenv("PGB_T_9", "9", 1), 0);
	cfg = load_ok(
		"[pgbatchd]\n"
		"listen_port = 6${PGB_T_EMPTY}4${PGB_T_9}${PGB_T_9}\n"
		"logfile = \"/var/log/$${PGB_T_HOST}/a$b$\"\n"
		"[backend]\n"
		"url = postgresql://${PGB_T_HOST}:${PGB_T_PORT}/app\n"
		"username = loader\n"
		"password = ${PGB_T_PW}\n"
		"[table t]\n"
		"rejectfile = ${PGB_T_EMPTY}\n");
	assert_int_equal(cfg->listen_port, 6499);
	/* $$ is one '$', a '$' not before '{' is itself */
	assert_string_equal(cfg->logfile, "/var/log/${PGB_T_HOST}/a$b$");
	assert_string_equal(cfg->backend.host, "db.internal");
	assert_int_equal(cfg->backend.port, 5433);
	/* a variable's value is taken as it is: not expanded again, quotes kept */
	assert_string_equal(cfg->password, "it's $HOME ${X} \"q\"");
	/* set but empty: nothing, as for a key left empty */
	assert_null(cfg->tables[0].rejectfile);
	config_free(cfg);
}

static void test_env_expansion_errors(void **state)
{
	static const struct {
		const char *value, *what;
	} cases[] = {
		{ "${PGB_T_UNSET_VAR}", "environment variable PGB_T_UNSET_VAR is not set" },
		{ "x${PGB_T_SET}y${PGB_T_UNSET_2}", "environment variable PGB_T_UNSET_2 is not set" },
		{ "hunter2${PGB_T_SET", "unterminated ${" },
		{ "hunter2${}", "must hold an environment variable name" },
		{ "hunter2${9X}", "must hold an environment variable name" },
		{ "hunter2${A-B}", "must hold an environment variable name" },
		{ "hunter2${A B}", "must hold an environment variable name" },
	};

	(void)state;
	assert_int_equal(unsetenv("PGB_T_UNSET_VAR"), 0);
	assert_int_equal(unsetenv("PGB_T_UNSET_2"), 0);
	assert_int_equal(setenv("PGB_T_SET", "hunter2", 1), 0);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char text[256], err[512], want[256];
		char *path;
		struct config *cfg;

		snprintf(text, sizeof(text), "[backend]\nurl = postgresql://h/db\npassword = \"%s\"\n", cases[i].value);
		path = write_tmp(text);
		cfg = config_load(path, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:3: password: ", path);
		drop_tmp(path);
		if (cfg != NULL) {
			config_free(cfg);
			fail_msg("%s: loaded, want an error", cases[i].value);
		}
		if (strncmp(err, want, strlen(want)) != 0 || strstr(err, cases[i].what) == NULL)
			fail_msg("%s: got \"%s\", want \"%s...%s\"", cases[i].value, err, want, cases[i].what);
		/* the value is a secret: neither it nor a variable's value is shown */
		assert_null(strstr(err, "hunter2"));
	}
}

/* ---- backend urls ---- */

struct url_case {
	const char *url;
	const char *host;
	int port;
	const char *dbname, *user, *password, *options;
};

static const struct url_case url_cases[] = {
	{ "jdbc:postgresql://127.0.0.1:5432/postgres", "127.0.0.1", 5432, "postgres", NULL, NULL, NULL },
	{ "jdbc:postgresql://gp-xx.gpdb.rds.aliyuncs.com/db1?user=alice&password=p%40ss&ApplicationName=my%20app"
	  "&sslmode=require&tcpKeepAlive=true",
	  "gp-xx.gpdb.rds.aliyuncs.com", 5432, "db1", "alice", "p@ss",
	  "application_name='my app' sslmode='require' tcpKeepAlive='true'" },
	{ "JDBC:PostgreSQL://h:6000/d?connectTimeout=10&&", "h", 6000, "d", NULL, NULL, "connect_timeout='10'" },
	{ "jdbc:postgresql://h/db?ssl=true", "h", 5432, "db", NULL, NULL, "sslmode='verify-full'" },
	{ "jdbc:postgresql://h/db?sslmode=require&ssl=true", "h", 5432, "db", NULL, NULL, "sslmode='require'" },
	{ "jdbc:postgresql://h/db?ssl=false", "h", 5432, "db", NULL, NULL, NULL },
	{ "jdbc:postgresql://[::1]:15432/db", "::1", 15432, "db", NULL, NULL, NULL },
	{ "postgresql://bob:s%3Acr%40t@db.local:6543/app?application_name=x&connect_timeout=10",
	  "db.local", 6543, "app", "bob", "s:cr@t", "application_name='x' connect_timeout='10'" },
	{ "postgres://[::1]:5433/db", "::1", 5433, "db", NULL, NULL, NULL },
	{ "postgresql://[2001:db8::7]/db", "2001:db8::7", 5432, "db", NULL, NULL, NULL },
	{ "postgresql://[fe80::1%25eth0]/db", "fe80::1%eth0", 5432, "db", NULL, NULL, NULL },
	{ "postgresql://user@host", "host", 5432, NULL, "user", NULL, NULL },
	{ "postgresql://host/", "host", 5432, NULL, NULL, NULL, NULL },
	{ "postgresql://u:@host/db", "host", 5432, "db", "u", "", NULL },
	{ "postgresql:///db?host=/var/run/postgresql&port=5434", "/var/run/postgresql", 5434, "db", NULL, NULL, NULL },
	{ "postgresql://%2Ftmp/db", "/tmp", 5432, "db", NULL, NULL, NULL },
	{ "postgresql://h/my%20db?user=x&dbname=other", "h", 5432, "other", "x", NULL, NULL },
	{ "postgresql://h/db?options=-c%20search_path%3Dfoo", "h", 5432, "db", NULL, NULL,
	  "options='-c search_path=foo'" },
	{ "postgresql://h/db?x=it's%5C", "h", 5432, "db", NULL, NULL, "x='it\\'s\\\\'" },
	{ "host=10.0.0.1 port=5433 dbname='my db' user=u password='it\\'s a \\\\ secret'",
	  "10.0.0.1", 5433, "my db", "u", "it's a \\ secret", NULL },
	{ "  host = localhost   dbname=postgres\tsslmode=disable  ", "localhost", 5432, "postgres", NULL, NULL,
	  "sslmode='disable'" },
	{ "host=/tmp application_name=a\\ b target_session_attrs=any", "/tmp", 5432, NULL, NULL, NULL,
	  "application_name='a b' target_session_attrs='any'" },
	{ "dbname=x host=h password='' port=1", "h", 1, "x", NULL, "", NULL },
	{ "host=h host=g", "g", 5432, NULL, NULL, NULL, NULL },
};

static void check_str(const char *what, const char *url, const char *got, const char *want)
{
	if (want == NULL && got == NULL)
		return;
	if (want == NULL || got == NULL || strcmp(want, got) != 0)
		fail_msg("%s: %s: got %s%s%s, want %s%s%s", url, what, got ? "\"" : "", got ? got : "NULL",
			got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

static void test_url_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		struct backend_addr a;
		char err[256];

		if (!config_parse_url(c->url, &a, err, sizeof(err)))
			fail_msg("%s: %s", c->url, err);
		check_str("host", c->url, a.host, c->host);
		if (a.port != c->port)
			fail_msg("%s: port %d, want %d", c->url, a.port, c->port);
		check_str("dbname", c->url, a.dbname, c->dbname);
		check_str("user", c->url, a.user, c->user);
		check_str("password", c->url, a.password, c->password);
		check_str("options", c->url, a.options, c->options);
		backend_addr_clear(&a);
		assert_null(a.host);
	}
}

static const struct { const char *url, *what; } bad_urls[] = {
	{ "", "expected jdbc:postgresql://" },
	{ "mysql://h/db", "expected jdbc:postgresql://" },
	{ "jdbc:mysql://h/db", "must start with jdbc:postgresql://" },
	{ "jdbc:postgresql://h:0/db", "out of range 1..65535" },
	{ "jdbc:postgresql://h:99999/db", "1..65535" },
	{ "jdbc:postgresql://h:abc/db", "not a number" },
	{ "jdbc:postgresql://h:/db", "empty port" },
	{ "jdbc:postgresql://h/db?ssl=maybe", "ssl must be true or false" },
	{ "postgresql://h1,h2/db", "several hosts" },
	{ "postgresql://h1:5432,h2:5432/db", "several hosts" },
	{ "postgresql://::1/db", "[brackets]" },
	{ "postgresql://[::1/db", "unterminated [" },
	{ "postgresql://[::1]x/db", "after ]" },
	{ "postgresql://h/db?x", "has no '='" },
	{ "postgresql://h/db?=v", "empty parameter name" },
	{ "postgresql://h/db?a-b=1", "bad parameter name" },
	{ "postgresql://h/db?x=%zz", "bad %-escape" },
	{ "postgresql://h/db?x=%2", "truncated %-escape" },
	{ "postgresql://h/db%00", "%00" },
	{ "postgresql:///db", "no host" },
	{ "postgresql://h/db?host=", "empty host" },
	{ "host='abc", "unterminated quoted value" },
	{ "host=h port", "missing '='" },
	{ "host=h =5", "missing parameter name" },
	{ "host=h bad-key=1", "bad parameter name" },
	{ "host=h port=5432,5433", "not a number" },
	{ "dbname=x", "no host" },
};

static void test_url_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad_urls); i++) {
		struct backend_addr a;
		char err[256] = "";

		if (config_parse_url(bad_urls[i].url, &a, err, sizeof(err))) {
			backend_addr_clear(&a);
			fail_msg("\"%s\": parsed, want an error", bad_urls[i].url);
		}
		if (strstr(err, bad_urls[i].what) == NULL)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad_urls[i].url, err, bad_urls[i].what);
		/* nothing is left to free after a failure */
		assert_null(a.host);
		assert_null(a.user);
		assert_null(a.options);
	}
}

/* ---- reload rules ---- */

/* TLS with the server: a url's sslmode wins over server_tls_sslmode; its
 * other parameters are read back as written (quotes, backslashes). */
static void test_server_tls_mode(void **state)
{
	struct config *cfg;
	char v[64];

	(void)state;
	cfg = load_ok("[pgbatchd]\nserver_tls_sslmode = verify-full\n[backend]\n"
		      "url = postgresql://h/db?sslmode=require&sslrootcert=/x/it%27s%5C.crt&application_name=a\n"
		      "username = u\n[table t]\n");
	assert_int_equal(cfg->server_tls_sslmode, TLS_VERIFY_FULL);
	assert_int_equal(config_server_tls_mode(cfg), TLS_REQUIRE);
	assert_true(backend_addr_option(&cfg->backend, "sslrootcert", v, sizeof(v)));
	assert_string_equal(v, "/x/it's\\.crt");
	assert_true(backend_addr_option(&cfg->backend, "application_name", v, sizeof(v)));
	assert_string_equal(v, "a");
	assert_false(backend_addr_option(&cfg->backend, "sslcert", v, sizeof(v)));
	assert_false(backend_addr_option(&cfg->backend, "sslrootcert", v, 4));     /* does not fit */
	assert_string_equal(config_tls_mode_name(config_server_tls_mode(cfg)), "require");
	config_free(cfg);
	cfg = load_ok("[backend]\nurl = postgresql://h/db\nusername = u\n[table t]\n");
	assert_int_equal(config_server_tls_mode(cfg), TLS_PREFER);
	config_free(cfg);
}

static void test_reloadable(void **state)
{
	static const struct { const char *sec, *key; bool live; } cases[] = {
		{ "pgbatchd", "listen_addr", false }, { "pgbatchd", "listen_port", false },
		{ "pgbatchd", "unix_socket_dir", false }, { "pgbatchd", "io_buffer_size", false }, { "pgbatchd", "verbose", true },
		{ "pgbatchd", "auth_file", true }, { "pgbatchd", "auth_type", true },
		{ "pgbatchd", "max_buffer_bytes", true }, { "pgbatchd", "max_inspect_bytes", true },
		{ "backend", "url", false }, { "backend", "username", false }, { "backend", "password", false },
		{ "backend", "connectionmaxactive", false }, { "backend", "maxretrytimes", true },
		{ "backend", "retrywaittime", true }, { "table", "batchsize", true }, { "table", "tablename", true },
		{ "backend", "batchsize", true },     /* a table default */
		{ "pgbatchd", "ackmode", true }, { "table", "url", false }, { "nosuch", "url", false },
		{ "pgbatchd", "nosuchkey", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (config_key_reloadable(cases[i].sec, cases[i].key) != cases[i].live)
			fail_msg("[%s] %s: want %s", cases[i].sec, cases[i].key, cases[i].live ? "live" : "restart");
	/* the rule, over the whole table */
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		bool restart = (k->section == CONF_PGBATCHD && (strcmp(k->name, "listen_addr") == 0
				|| strcmp(k->name, "listen_port") == 0 || strcmp(k->name, "unix_socket_dir") == 0
				|| strcmp(k->name, "io_buffer_size") == 0 || strcmp(k->name, "metrics_addr") == 0
				|| strcmp(k->name, "metrics_port") == 0 || strcmp(k->name, "spool_dir") == 0))
			|| (k->section == CONF_BACKEND && strcmp(k->name, "maxretrytimes") != 0
				&& strcmp(k->name, "retrywaittime") != 0);

		assert_int_equal(config_key_reloadable(config_section_name(k->section), k->name), !restart);
	}
}

static void test_restart_diff(void **state)
{
	struct config *a, *b, *c;
	char names[128];

	(void)state;
	a = load_ok("[pgbatchd]\nlisten_port = 7000\n" BACKEND_MIN "maxretrytimes = 1\n[table t]\nbatchsize = 1\n");
	b = load_ok("[pgbatchd]\nlisten_port = 7001\n" BACKEND_MIN "maxretrytimes = 2\n[table t]\nbatchsize = 2\n");
	c = load_ok("[pgbatchd]\nlisten_port = 7000\n[backend]\nurl = postgresql://postgres@other/postgres\n"
		"maxretrytimes = 9\npassword = x\n");
	assert_int_equal(config_restart_diff(a, a, names, sizeof(names)), 0);
	assert_string_equal(names, "");
	assert_int_equal(config_restart_diff(a, b, names, sizeof(names)), 1);
	assert_string_equal(names, "listen_port");
	assert_int_equal(config_restart_diff(a, c, names, sizeof(names)), 2);
	assert_string_equal(names, "url,password");
	assert_int_equal(config_restart_diff(a, c, NULL, 0), 2);
	config_free(a);
	config_free(b);
	config_free(c);
}

/* ---- the reference ---- */

static char *reference_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print_reference(f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_reference(void **state)
{
	char *ref = reference_text();
	FILE *f;

	(void)state;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		char row[64];

		snprintf(row, sizeof(row), "| `%s` |", k->name);
		if (strstr(ref, row) == NULL)
			fail_msg("reference lacks %s", k->name);
		assert_null(strchr(k->help, '|'));
		assert_null(strchr(k->help, '\n'));
	}
	assert_non_null(strstr(ref, "### [table NAME]"));
	assert_non_null(strstr(ref, "| `listen_port` | integer | `6432` | 1..65535 | restart |"));
	assert_non_null(strstr(ref, "| `conflictmode` | enum | `upsert` | `upsert`, `update`, `ignore`, `strict` | live |"));
	assert_non_null(strstr(ref, "| `url` | string | required |"));

	/* docs/configuration.md holds exactly this output under its intro (run from the repo root) */
	f = fopen("docs/configuration.md", "r");
	if (f != NULL) {
		static const char marker[] = "<!-- generated by `pgbatchd --describe-config`: edit conf/keys.c, not below -->\n";
		char *doc = NULL;
		size_t cap = 0;
		ssize_t n = getdelim(&doc, &cap, '\0', f);
		const char *gen;

		fclose(f);
		assert_true(n > 0);
		gen = strstr(doc, marker);
		if (gen == NULL)
			fail_msg("docs/configuration.md lacks the generated-part marker");
		gen += strlen(marker);
		if (strcmp(gen, ref) != 0)
			fail_msg("docs/configuration.md is stale: regenerate it from config_print_reference");
		free(doc);
	}
	free(ref);
}

/* ---- userlist ---- */

static void test_userlist(void **state)
{
	char text[1024], err[256];
	char *path;
	struct userlist *ul;

	(void)state;
	snprintf(text, sizeof(text),
		"; PgBouncer-style comment\n"
		"# hash comment\n"
		"\n"
		"\"alice\" \"plain pass\"\n"
		"  \"bob\"\t\"%s\"\r\n"
		"\"carol\" \"%s\"\n"
		"\"quo\"\"ted\" \"pa\"\"ss\" \"extra field\" ignored\n"
		"\"dave\" \"\"\n",
		MD5_SECRET, SCRAM_SECRET);
	path = write_tmp(text);
	ul = userlist_load(path, err, sizeof(err));
	if (ul == NULL)
		fail_msg("userlist_load: %s", err);
	assert_string_equal(userlist_find(ul, "alice"), "plain pass");
	assert_string_equal(userlist_find(ul, "bob"), MD5_SECRET);
	assert_string_equal(userlist_find(ul, "carol"), SCRAM_SECRET);
	assert_string_equal(userlist_find(ul, "quo\"ted"), "pa\"ss");
	assert_string_equal(userlist_find(ul, "dave"), "");
	assert_null(userlist_find(ul, "Alice"));
	assert_null(userlist_find(ul, "nobody"));
	assert_null(userlist_find(NULL, "alice"));
	userlist_free(ul);
	drop_tmp(path);

	path = write_tmp("# nothing but comments\n");
	ul = userlist_load(path, err, sizeof(err));
	assert_non_null(ul);
	assert_null(userlist_find(ul, "alice"));
	userlist_free(ul);
	drop_tmp(path);
}

static void test_userlist_errors(void **state)
{
	static const struct { const char *text; int line; const char *what; } cases[] = {
		{ "alice \"x\"\n", 1, "expected \"user\" \"secret\"" },
		{ "\"alice\"\n", 1, "alice: expected the secret" },
		{ "# c\n\"alice\" x\n", 2, "alice: expected the secret" },
		{ "\"alice\n", 1, "unterminated quote in the user name" },
		{ "\"alice\" \"x\n", 1, "alice: unterminated quote in the secret" },
		{ "\"alice\" \"x\"y\n", 1, "unexpected text right after the secret" },
		{ "\"\" \"x\"\n", 1, "empty user name" },
		{ "\"a\" \"SCRAM-SHA-256$abc:c2FsdA==$eA==:eQ==\"\n", 1, "a: malformed SCRAM-SHA-256" },
		{ "\"a\" \"SCRAM-SHA-256$4096:c2FsdA==$eA==\"\n", 1, "malformed SCRAM-SHA-256" },
		{ "\"a\" \"SCRAM-SHA-256$4096:$eA==:eQ==\"\n", 1, "malformed SCRAM-SHA-256" },
		{ "\"a\" \"SCRAM-SHA-256$4096:c2FsdA==$e A==:eQ==\"\n", 1, "malformed SCRAM-SHA-256" },
		{ "\"a\" \"x\"\n\"b\" \"y\"\n\n\"a\" \"z\"\n", 4, "a: duplicate user (also at line 1)" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char err[256], want[256];
		char *path = write_tmp(cases[i].text);
		struct userlist *ul = userlist_load(path, err, sizeof(err));

		snprintf(want, sizeof(want), "%s:%d: ", path, cases[i].line);
		if (ul != NULL) {
			userlist_free(ul);
			fail_msg("case %zu: loaded, want an error", i);
		}
		if (strncmp(err, want, strlen(want)) != 0 || strstr(err, cases[i].what) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, err, want, cases[i].what);
		drop_tmp(path);
	}
	{
		char err[256];

		assert_null(userlist_load("/nonexistent/userlist.txt", err, sizeof(err)));
		assert_non_null(strstr(err, "/nonexistent/userlist.txt:0: cannot open"));
	}
}

/* The shipped samples load. */
static void test_samples(void **state)
{
	char err[512];
	struct config *cfg;
	struct userlist *ul;

	(void)state;
	if (access("conf/pgbatchd.ini", R_OK) != 0)
		skip();
	cfg = config_load("conf/pgbatchd.ini", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 6432);
	assert_string_equal(cfg->backend.host, "127.0.0.1");
	assert_string_equal(cfg->backend.dbname, "postgres");
	assert_int_equal(cfg->ntables, 1);
	assert_string_equal(cfg->tables[0].name, "test_adbpg_table");
	assert_int_equal(cfg->tables[0].conflictmode, CONFLICT_IGNORE);
	assert_int_equal(cfg->maxretrytimes, 2);
	assert_int_equal(cfg->retrywaittime, 200);
	config_free(cfg);

	ul = userlist_load("conf/userlist.txt", err, sizeof(err));
	if (ul == NULL)
		fail_msg("%s", err);
	userlist_free(ul);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table_defaults_inherit),
		cmocka_unit_test(test_syntax_details),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_tables_differing_in_case),
		cmocka_unit_test(test_error_hides_secrets),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_env_expansion_errors),
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_url_errors),
		cmocka_unit_test(test_reloadable),
		cmocka_unit_test(test_restart_diff),
		cmocka_unit_test(test_server_tls_mode),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_userlist),
		cmocka_unit_test(test_userlist_errors),
		cmocka_unit_test(test_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
