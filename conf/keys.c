/* The config key table (type, default, bounds, reload rule, doc), value parsing and the Markdown reference. */
#include "conf/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Enum fields are written through int *: they must be int-sized. */
_Static_assert(sizeof(enum auth_type) == sizeof(int), "enum auth_type is not int-sized");
_Static_assert(sizeof(enum conflict_mode) == sizeof(int), "enum conflict_mode is not int-sized");
_Static_assert(sizeof(enum write_mode) == sizeof(int), "enum write_mode is not int-sized");
_Static_assert(sizeof(enum exception_mode) == sizeof(int), "enum exception_mode is not int-sized");
_Static_assert(sizeof(enum ack_mode) == sizeof(int), "enum ack_mode is not int-sized");
_Static_assert(sizeof(enum tx_mode) == sizeof(int), "enum tx_mode is not int-sized");
_Static_assert(sizeof(enum gather_mode) == sizeof(int), "enum gather_mode is not int-sized");
_Static_assert(sizeof(enum tls_mode) == sizeof(int), "enum tls_mode is not int-sized");

static const char *const auth_names[] = { "trust", "md5", "scram-sha-256", NULL };
static const char *const conflict_names[] = { "upsert", "update", "ignore", "strict", NULL };
static const char *const exception_names[] = { "ignore", "strict", NULL };
static const char *const ack_names[] = { "commit", "immediate", "spool", NULL };
static const char *const txmode_names[] = { "batch", "pass", NULL };
static const char *const gather_names[] = { "auto", "on", "off", NULL };
static const char *const tls_names[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL };

#define G(field) offsetof(struct config, field)
#define T(field) offsetof(struct table_conf, field)
#define NOBOUNDS 0, 0

const struct config_key config_keys[] = {
	/* [pgbatchd] */
	{ CONF_PGBATCHD, "listen_addr", CONF_STRING, "127.0.0.1", NOBOUNDS, NULL, CONF_F_RESTART,
	  "IP address or host name to accept client connections on (* for every address).", G(listen_addr) },
	{ CONF_PGBATCHD, "listen_port", CONF_INT, "6432", 1, 65535, NULL, CONF_F_RESTART,
	  "TCP port to accept client connections on; also the number in the unix socket's name.", G(listen_port) },
	{ CONF_PGBATCHD, "unix_socket_dir", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_RESTART,
	  "Directory of a unix socket to accept client connections on, named .s.PGSQL.<listen_port> as PostgreSQL names its own (so `psql -h DIR -p PORT` finds it); unset: none. Anyone may connect to it (mode 0777, as PostgreSQL's default): the directory's permissions and authentication decide.",
	  G(unix_socket_dir) },
	{ CONF_PGBATCHD, "client_tls_sslmode", CONF_ENUM, "disable", NOBOUNDS, tls_names, 0,
	  "TLS with clients over TCP, PgBouncer's modes: disable answers SSLRequest N; allow and prefer take TLS when the client asks; require refuses a client without it (FATAL 28000, as PostgreSQL with only hostssl lines); verify-ca also asks for a client certificate signed by client_tls_ca_file; verify-full also wants its CN to be the user name. Unix-socket clients never use TLS. Certificates are read again on reload.",
	  G(client_tls_sslmode) },
	{ CONF_PGBATCHD, "client_tls_key_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "Private key of pgbatchd's certificate (PEM); required unless client_tls_sslmode is disable.", G(client_tls_key_file) },
	{ CONF_PGBATCHD, "client_tls_cert_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "pgbatchd's certificate (PEM, its chain after it); required unless client_tls_sslmode is disable.", G(client_tls_cert_file) },
	{ CONF_PGBATCHD, "client_tls_ca_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "CA certificates (PEM) that client certificates must chain to; required by verify-ca and verify-full.", G(client_tls_ca_file) },
	{ CONF_PGBATCHD, "client_tls_protocols", CONF_STRING, "secure", NOBOUNDS, NULL, 0,
	  "Lowest TLS version taken from clients: secure or tlsv1.2 (TLS 1.2 and 1.3), tlsv1.3.", G(client_tls_protocols) },
	{ CONF_PGBATCHD, "client_tls_ciphers", CONF_STRING, "HIGH:!aNULL:!MD5", NOBOUNDS, NULL, 0,
	  "OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses OpenSSL's own suites).", G(client_tls_ciphers) },
	{ CONF_PGBATCHD, "server_tls_sslmode", CONF_ENUM, "prefer", NOBOUNDS, tls_names, 0,
	  "TLS with the server, libpq's sslmode (its default, prefer: TLS when the server offers it), for the pass-through connections and login checks as for the sink's; a url's own sslmode wins. verify-ca and verify-full check the server's certificate against server_tls_ca_file (verify-full: and its name against the url's host). Unix sockets never use TLS.",
	  G(server_tls_sslmode) },
	{ CONF_PGBATCHD, "server_tls_ca_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "CA certificates (PEM) the server's certificate must chain to (libpq's sslrootcert); required by verify-ca and verify-full.",
	  G(server_tls_ca_file) },
	{ CONF_PGBATCHD, "server_tls_cert_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "pgbatchd's client certificate for the server (PEM, libpq's sslcert), when the server asks for one.", G(server_tls_cert_file) },
	{ CONF_PGBATCHD, "server_tls_key_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "Its private key (libpq's sslkey).", G(server_tls_key_file) },
	{ CONF_PGBATCHD, "auth_type", CONF_ENUM, "trust", NOBOUNDS, auth_names, 0,
	  "How clients authenticate to pgbatchd; md5 and scram-sha-256 check passwords from auth_file (then required).",
	  G(auth_type) },
	{ CONF_PGBATCHD, "auth_file", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "PgBouncer-style userlist: lines of \"user\" \"secret\" (plain, md5 or SCRAM-SHA-256 secret).",
	  G(auth_file) },
	{ CONF_PGBATCHD, "admin_users", CONF_LIST, NULL, NOBOUNDS, NULL, 0,
	  "Comma-separated users who may use the admin console (the virtual database pgbatchd, as PgBouncer's pgbouncer): every SHOW, FLUSH, PAUSE, RESUME, RELOAD, SHUTDOWN. They authenticate as any client does (auth_type): under trust, anyone who names a listed user gets the console, so give it a password (md5 or scram-sha-256 and an auth_file) wherever the port is reachable by others.",
	  G(admin_users) },
	{ CONF_PGBATCHD, "stats_users", CONF_LIST, NULL, NOBOUNDS, NULL, 0,
	  "Comma-separated users who may use the admin console read-only (SHOW). Anyone else gets 42501.", G(stats_users) },
	{ CONF_PGBATCHD, "metrics_addr", CONF_STRING, "127.0.0.1", NOBOUNDS, NULL, CONF_F_RESTART,
	  "IP address the Prometheus metrics endpoint listens on (* for every address). It has no authentication: keep it where only the scraper reaches it.", G(metrics_addr) },
	{ CONF_PGBATCHD, "metrics_port", CONF_INT, "0", 0, 65535, NULL, CONF_F_RESTART,
	  "TCP port of the Prometheus metrics endpoint (GET /metrics, text exposition format); 0: none.",
	  G(metrics_port) },
	{ CONF_PGBATCHD, "max_client_conn", CONF_INT, "10000", 1, 1000000, NULL, 0,
	  "Most client sessions open at once (a session whose client left counts until its server session ends); further ones are refused with 53300. pgbatchd raises its open-file limit to the hard limit and warns at start-up when this is more than it holds.",
	  G(max_client_conn) },
	{ CONF_PGBATCHD, "logfile", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "Log file (reopened on SIGHUP); none logs to stderr.", G(logfile) },
	{ CONF_PGBATCHD, "verbose", CONF_INT, "0", 0, 2, NULL, 0,
	  "Daemon log level: 0 normal, 1 adds per-batch lines, 2 debug.", G(verbose) },
	{ CONF_PGBATCHD, "max_buffer_bytes", CONF_INT64, "268435456", 1048576, INT64_C(68719476736), NULL, 0,
	  "Bound on buffered rows (bytes); above it pgbatchd stops reading from clients that send intercepted rows.",
	  G(max_buffer_bytes) },
	{ CONF_PGBATCHD, "readyourwrites", CONF_BOOL, "1", NOBOUNDS, NULL, 0,
	  "Before a session's other statements pass through, commit every row that session sent.",
	  G(readyourwrites) },
	{ CONF_PGBATCHD, "io_buffer_size", CONF_INT, "16384", 64, 1048576, NULL, CONF_F_RESTART,
	  "Most bytes read from a socket at once (tests use 64 so messages split).", G(io_buffer_size) },
	{ CONF_PGBATCHD, "max_inspect_bytes", CONF_INT, "1048576", 1024, 1073741824, NULL, 0,
	  "Messages pgbatchd inspects (Query, Parse, Bind, ...) are buffered up to this size; larger ones stream through.",
	  G(max_inspect_bytes) },
	{ CONF_PGBATCHD, "authentication_timeout", CONF_INT, "60", 1, 600, NULL, 0,
	  "Seconds a client has from connecting to being authenticated (startup packet and password) before it is dropped, as PostgreSQL's setting of that name.",
	  G(authentication_timeout) },
	{ CONF_PGBATCHD, "shutdown_timeout", CONF_INT, "30", 1, 3600, NULL, 0,
	  "Seconds SIGTERM/SIGINT wait for the buffered rows to be written; then batches still running are cancelled, their waiting clients get 57P01 and acknowledged rows not written go to the rejects file (or the log). A second signal does that at once.",
	  G(shutdown_timeout) },
	{ CONF_PGBATCHD, "max_insert_bytes", CONF_INT, "67108864", 1024, 1073741824, NULL, 0,
	  "A Query over max_inspect_bytes is still read whole up to this size when tables are configured, so that its size never changes what it means (an INSERT or COPY anywhere in it gets its table's conflict clause); larger ones stream through.",
	  G(max_insert_bytes) },

	{ CONF_PGBATCHD, "spool_dir", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_RESTART,
	  "Directory of the spool (ackmode = spool): segment files of acknowledged INSERTs not yet written, and a LOCK file that keeps a second pgbatchd out. It must exist and be writable; pgbatchd reads it back at start-up and writes what it holds before it takes new INSERTs into those tables. Required when a table has ackmode = spool.",
	  G(spool_dir) },
	{ CONF_PGBATCHD, "spool_max_bytes", CONF_INT64, "1073741824", 1048576, INT64_C(1099511627776), NULL, 0,
	  "Bound on the bytes of the spool's records; above it pgbatchd stops reading from clients that send intercepted rows until written rows' segments are removed. Each segment file also holds up to 1 MiB of zeros written ahead of its records (docs/failures.md).",
	  G(spool_max_bytes) },
	{ CONF_PGBATCHD, "lazy_backend", CONF_BOOL, "1", NOBOUNDS, NULL, 0,
	  "A session of a database with configured tables opens its own backend connection only when a statement must pass through; until then its INSERTs are written by the sink's writers and it holds no server connection. Off: every session logs in to its own backend at once.",
	  G(lazy_backend) },
	{ CONF_PGBATCHD, "login_cache_seconds", CONF_INT, "30", 0, 3600, NULL, 0,
	  "How long a real backend login's outcome for a (user, database, startup parameters) is reused for sessions without a backend: its ParameterStatus messages and view when accepted, its FATAL when refused as the client's own doing (class 28, 3D000, 42501); never past the role's VALID UNTIL. 0: a login is checked for every session.",
	  G(login_cache_seconds) },

	/* [backend] */
	{ CONF_BACKEND, "url", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_RESTART | CONF_F_REQUIRED | CONF_F_SECRET,
	  "Backend address: `jdbc:postgresql://host[:port]/db[?k=v&...]`, "
	  "`postgresql://[user[:password]@]host[:port][/db][?k=v&...]` or libpq `key=value` text.",
	  G(url) },
	{ CONF_BACKEND, "username", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_RESTART | CONF_F_REQUIRED,
	  "Role the writers and pass-through connections log in as; required unless the url carries a user.",
	  G(username) },
	{ CONF_BACKEND, "password", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_RESTART | CONF_F_SECRET,
	  "Password for username (or from the url); never logged.", G(password) },
	{ CONF_BACKEND, "connectionmaxactive", CONF_INT, "5", 1, 64, NULL, CONF_F_RESTART,
	  "Writer connections to the backend; they write in parallel, a statement after those it must follow (same session, same key).",
	  G(connectionmaxactive) },
	{ CONF_BACKEND, "maxretrytimes", CONF_INT, "3", 0, 100, NULL, 0,
	  "Retries after a transient failure (connection loss, serialization failure, ...), exactly this many.",
	  G(maxretrytimes) },
	{ CONF_BACKEND, "retrywaittime", CONF_INT, "100", 0, 600000, NULL, 0,
	  "Milliseconds before the first retry; doubled for each further retry, with jitter.",
	  G(retrywaittime) },
	{ CONF_BACKEND, "ledgertable", CONF_STRING, "pgbatchd.batch_ledger", NOBOUNDS, NULL, CONF_F_RESTART,
	  "Table (`schema.table`, names as written) where each batch writes one row in its own transaction, "
	  "so a COMMIT whose answer is lost is resolved exactly; created on first use; empty: none (at-least-once).",
	  G(ledgertable) },

	/* [table NAME] */
	{ CONF_TABLE, "tablename", CONF_STRING, NULL, NOBOUNDS, NULL, CONF_F_REQUIRED | CONF_F_NODEFAULT,
	  "Target table; defaults to the NAME of `[table NAME]`.", T(name) },
	{ CONF_TABLE, "targetschema", CONF_STRING, "public", NOBOUNDS, NULL, 0,
	  "Schema of the target table.", T(targetschema) },
	{ CONF_TABLE, "conflictmode", CONF_ENUM, "upsert", NOBOUNDS, conflict_names, 0,
	  "On a key conflict: upsert replaces the row, update sets the named columns, ignore keeps the old row, strict makes it an error.",
	  T(conflictmode) },
	{ CONF_TABLE, "writemode", CONF_INT, "1", 0, 2, NULL, 0,
	  "Wire path: 0 multi-row INSERT, 1 COPY, 2 one INSERT ... SELECT FROM unnest(...); every conflictmode works in each.",
	  T(writemode) },
	{ CONF_TABLE, "batchsize", CONF_INT, "50000", 1, 10000000, NULL, 0,
	  "Most rows in one batch.", T(batchsize) },
	{ CONF_TABLE, "batchwritetimeoutms", CONF_INT, "50000", 1, 86400000, NULL, 0,
	  "A batch is flushed when its oldest row is this many milliseconds old.", T(batchwritetimeoutms) },
	{ CONF_TABLE, "exceptionmode", CONF_ENUM, "ignore", NOBOUNDS, exception_names, 0,
	  "Rows the database rejects: ignore is to log them to rejectfile, strict to report them to their client. Today both isolate the bad rows, write the rest, and report each bad row to its client (ackmode = immediate: to the log).",
	  T(exceptionmode) },
	{ CONF_TABLE, "casesensitive", CONF_BOOL, "0", NOBOUNDS, NULL, 0,
	  "How the names of this section (the table, targetschema, conflictkey) read: 0 folds them to lower case, as PostgreSQL folds an unquoted name; 1 takes them exactly as written, so that [table Events] is the table \"Events\". Names in statements always follow PostgreSQL: unquoted ones fold to lower case, quoted ones keep their case. Generated SQL always quotes.",
	  T(casesensitive) },
	{ CONF_TABLE, "verbose", CONF_BOOL, "0", NOBOUNDS, NULL, 0,
	  "1 logs a line per batch of this table.", T(verbose) },
	{ CONF_TABLE, "ackmode", CONF_ENUM, "commit", NOBOUNDS, ack_names, 0,
	  "commit answers an INSERT after its batch commits; immediate once its rows are buffered (rows still buffered when pgbatchd dies are lost); spool once its rows are appended to the spool in spool_dir and fsync'd (one fsync for every INSERT appended meanwhile): they survive a crash of pgbatchd or of the machine, and are written exactly once (the batch ledger records each one), after a restart too; they are written in batches every 20 ms (batchwritetimeoutms if lower, or at batchsize), not one per idle writer.",
	  T(ackmode) },
	{ CONF_TABLE, "txmode", CONF_ENUM, "batch", NOBOUNDS, txmode_names, 0,
	  "INSERTs inside a transaction block: batch writes them in batches inside the client's own transaction (a refused row's error comes with the next statement, COMMIT at the latest); pass runs each as sent, with the table's conflict clause, so that each gets its own error.",
	  T(txmode) },
	{ CONF_TABLE, "copyclause", CONF_BOOL, "1", NOBOUNDS, NULL, 0,
	  "COPY ... FROM (STDIN, a file, a program) into this table gets its conflictmode: the client's COPY fills a temporary staging table on its own connection, then one INSERT ... SELECT with the conflict clause moves the rows, in the same transaction; the client gets COPY's own answer and errors. 0 runs COPY as sent, without the clause.",
	  T(copyclause) },
	{ CONF_TABLE, "adaptiveflush", CONF_BOOL, "1", NOBOUNDS, NULL, 0,
	  "Flush as soon as a writer is idle (group commit): one batch of the table in flight at a time; rows arriving meanwhile gather for the next batch. A lone client's row goes at once.",
	  T(adaptiveflush) },
	{ CONF_TABLE, "directwrite", CONF_BOOL, "1", NOBOUNDS, NULL, 0,
	  "ackmode=commit, adaptiveflush=1: an INSERT (a Query, or a Sync group outside a transaction block) that arrives while nothing else of its table is queued or being written is written at once on the client's own connection (the batch statement with the table's clause, outside a transaction block: one round trip, as directly) instead of in a batch of its own on a writer; should it fail, the writers write it as usual (rejects, errors). Not for tables with volatile defaults. 0: every row goes through the writers.",
	  T(directwrite) },
	{ CONF_TABLE, "gatherwait", CONF_ENUM, "auto", NOBOUNDS, gather_names, 0,
	  "ackmode=commit, adaptiveflush=1: the clients of an idle batch, answered together, come back together. on: the table's next idle batch waits for them (until each has sent an INSERT again, or for as long as a batch takes, 2 ms at most), so that they make one batch rather than a first row alone and the rest behind it; off: it goes as soon as a writer is idle; auto: both are measured, in turn, and the one that writes more rows per second is kept.",
	  T(gatherwait) },
	{ CONF_TABLE, "copystageminrows", CONF_INT, "64", 1, 10000000, NULL, 0,
	  "writemode 1 on a keyed table (not strict) stages rows in a temp table; a run of fewer rows goes as the equivalent multi-row INSERT ... ON CONFLICT, since the temp table's truncation at each commit costs more than a few rows. 1 always stages.",
	  T(copystageminrows) },
	{ CONF_TABLE, "conflictkey", CONF_LIST, NULL, NOBOUNDS, NULL, 0,
	  "Comma list of key columns for tables without a primary key; none makes such a table append-only.",
	  T(conflictkey) },
	{ CONF_TABLE, "maxretrytimes", CONF_INT, "-1", -1, 100, NULL, 0,
	  "Retries of a batch holding this table's rows after a transient error; -1 takes [backend]'s. A batch of several tables gets the largest.",
	  T(maxretrytimes) },
	{ CONF_TABLE, "retrywaittime", CONF_INT, "-1", -1, 600000, NULL, 0,
	  "First wait before such a retry, ms, doubled each time (with up to 50% jitter); -1 takes [backend]'s. A batch of several tables gets the largest.",
	  T(retrywaittime) },
	{ CONF_TABLE, "rejectfile", CONF_STRING, NULL, NOBOUNDS, NULL, 0,
	  "File for the rows the database refuses, one JSON line each (time, table, sqlstate, message, detail, role, client, values), appended atomically; reopened on SIGHUP.",
	  T(rejectfile) },
};

const size_t config_nkeys = ARRAY_LEN(config_keys);

static const char *const section_names[CONF_SECTION_COUNT] = { "pgbatchd", "backend", "table" };

const char *config_section_name(enum config_section sec)
{
	if ((unsigned)sec >= CONF_SECTION_COUNT)
		return "?";
	return section_names[sec];
}

const char *config_tls_mode_name(enum tls_mode m)
{
	return (unsigned)m < sizeof(tls_names) / sizeof(tls_names[0]) - 1 ? tls_names[m] : "disable";
}

enum tls_mode config_server_tls_mode(const struct config *cfg)
{
	char v[32];

	if (backend_addr_option(&cfg->backend, "sslmode", v, sizeof(v)))
		for (int i = 0; tls_names[i]; i++)
			if (strcmp(v, tls_names[i]) == 0)
				return (enum tls_mode)i;
	return cfg->server_tls_sslmode;
}

const struct config_key *config_key_find(enum config_section sec, const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].section == sec && strcasecmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

bool config_key_reloadable(const char *section_kind, const char *key)
{
	const struct config_key *k = NULL;

	for (int s = 0; s < CONF_SECTION_COUNT; s++) {
		if (section_kind == NULL || strcasecmp(section_kind, section_names[s]) != 0)
			continue;
		k = config_key_find((enum config_section)s, key);
		/* A table key set in [pgbatchd] or [backend] is a table default. */
		if (k == NULL && s != CONF_TABLE)
			k = config_key_find(CONF_TABLE, key);
	}
	return k != NULL && !(k->flags & CONF_F_RESTART);
}

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Strict base-10 integer: optional sign, digits, nothing else. */
static bool parse_i64(const char *s, int64_t *out, bool *overflow)
{
	const char *p = s;
	char *end;
	long long v;

	*overflow = false;
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return false;
	if (errno == ERANGE) {
		*overflow = true;
		return false;
	}
	*out = (int64_t)v;
	return true;
}

static int parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "true", "on", "yes" };
	static const char *const no[] = { "0", "false", "off", "no" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* Normalizes a comma list: elements trimmed, double-quoted elements kept whole
 * (a comma inside quotes does not split). Returns a new string, or NULL with
 * why set. */
static char *normalize_list(const char *s, char *why, size_t whylen)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	size_t o = 0;
	const char *p = s;
	int elem = 1;

	if (out == NULL) {
		say(why, whylen, "out of memory");
		return NULL;
	}
	for (;;) {
		const char *start, *end;
		bool inq = false;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && (inq || *p != ',')) {
			if (*p == '"')
				inq = !inq;
			p++;
		}
		if (inq) {
			say(why, whylen, "unterminated quoted name in element %d", elem);
			free(out);
			return NULL;
		}
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start) {
			say(why, whylen, "element %d of the list is empty", elem);
			free(out);
			return NULL;
		}
		if (o > 0)
			out[o++] = ',';
		memcpy(out + o, start, (size_t)(end - start));
		o += (size_t)(end - start);
		if (*p == '\0')
			break;
		p++; /* the comma */
		elem++;
	}
	out[o] = '\0';
	return out;
}

void config_key_format(const struct config_key *k, const void *base, char *out, size_t len)
{
	const char *field = (const char *)base + k->offset;
	const char *str;
	int v;

	if (len == 0)
		return;
	out[0] = '\0';
	switch (k->type) {
	case CONF_STRING:
	case CONF_LIST:
		str = *(char *const *)(const void *)field;
		if (str && str[0] && (k->flags & CONF_F_SECRET))
			snprintf(out, len, "********");
		else
			snprintf(out, len, "%s", str ? str : "");
		return;
	case CONF_INT:
		snprintf(out, len, "%d", *(const int *)(const void *)field);
		return;
	case CONF_INT64:
		snprintf(out, len, "%" PRId64, *(const int64_t *)(const void *)field);
		return;
	case CONF_BOOL:
		snprintf(out, len, "%s", *(const bool *)(const void *)field ? "1" : "0");
		return;
	case CONF_ENUM:
		v = *(const int *)(const void *)field;
		for (int i = 0; k->names[i]; i++)
			if (i == v) {
				snprintf(out, len, "%s", k->names[i]);
				return;
			}
		snprintf(out, len, "%d", v);
		return;
	}
}

bool config_key_set(const struct config_key *k, void *base, const char *text,
	char *why, size_t whylen)
{
	char *field = (char *)base + k->offset;
	bool secret = (k->flags & CONF_F_SECRET) != 0;
	int64_t v;
	bool overflow;

	switch (k->type) {
	case CONF_STRING:
	case CONF_LIST: {
		char *copy = NULL;

		if (text[0] == '\0') {
			if (k->def != NULL || (k->flags & CONF_F_REQUIRED)) {
				say(why, whylen, "must not be empty");
				return false;
			}
		} else if (k->type == CONF_LIST) {
			copy = normalize_list(text, why, whylen);
			if (copy == NULL)
				return false;
		} else {
			copy = strdup(text);
			if (copy == NULL) {
				say(why, whylen, "out of memory");
				return false;
			}
		}
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return true;
	}
	case CONF_INT:
	case CONF_INT64:
		if (!parse_i64(text, &v, &overflow)) {
			if (overflow)
				say(why, whylen, "\"%s\" is out of range %" PRId64 "..%" PRId64, text, k->min, k->max);
			else if (secret)
				say(why, whylen, "not an integer");
			else
				say(why, whylen, "\"%s\" is not an integer", text);
			return false;
		}
		if (v < k->min || v > k->max) {
			say(why, whylen, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, v, k->min, k->max);
			return false;
		}
		if (k->type == CONF_INT)
			*(int *)(void *)field = (int)v;
		else
			*(int64_t *)(void *)field = v;
		return true;
	case CONF_BOOL: {
		int b = parse_bool(text);

		if (b < 0) {
			say(why, whylen, "\"%s\" is not a boolean (0/1, true/false, on/off, yes/no)", text);
			return false;
		}
		*(bool *)(void *)field = b == 1;
		return true;
	}
	case CONF_ENUM:
		for (int i = 0; k->names[i] != NULL; i++) {
			if (strcasecmp(text, k->names[i]) == 0) {
				*(int *)(void *)field = i;
				return true;
			}
		}
		{
			char list[200] = "";
			size_t o = 0;

			for (int i = 0; k->names[i] != NULL && o < sizeof(list); i++) {
				int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", k->names[i]);
				if (w < 0)
					break;
				o += (size_t)w;
			}
			say(why, whylen, "\"%s\" is not one of %s", text, list);
		}
		return false;
	}
	say(why, whylen, "internal error: unknown key type");
	return false;
}

/* ---- the Markdown reference ---- */

static const char *const type_names[] = {
	[CONF_STRING] = "string", [CONF_LIST] = "list", [CONF_INT] = "integer",
	[CONF_INT64] = "integer (64-bit)", [CONF_BOOL] = "bool", [CONF_ENUM] = "enum",
};

static const char *const section_intro[CONF_SECTION_COUNT] = {
	"The daemon itself: where it listens, how clients authenticate, logging and memory bounds.",
	"The database pgbatchd forwards to and writes batches into (PostgreSQL 12+, Greenplum, "
	"AnalyticDB for PostgreSQL, Citus).",
	"One section per intercepted table, written `[table NAME]`. Every key below may also be "
	"set in `[pgbatchd]` or `[backend]` (except `tablename`), where it becomes the default "
	"for every `[table]` section; a table's own setting wins. In `[pgbatchd]`, `verbose` is "
	"the daemon's own key, so set a default table `verbose` in `[backend]`. With no "
	"`[table]` section pgbatchd is a pure pass-through proxy.",
};

static void print_range(FILE *out, const struct config_key *k)
{
	switch (k->type) {
	case CONF_INT:
	case CONF_INT64:
		fprintf(out, "%" PRId64 "..%" PRId64, k->min, k->max);
		break;
	case CONF_BOOL:
		fputs("0, 1", out);
		break;
	case CONF_ENUM:
		for (int i = 0; k->names[i] != NULL; i++)
			fprintf(out, "%s`%s`", i ? ", " : "", k->names[i]);
		break;
	case CONF_LIST:
		fputs("`col,col,...`", out);
		break;
	case CONF_STRING:
		break;
	}
}

void config_print_reference(FILE *out)
{
	fputs("## Keys\n\n"
	      "Syntax: `key = value`, one per line; values may be written in double quotes "
	      "(no backslash escapes); `${NAME}` in a value, quoted or not, is the environment variable NAME (unset: an error), `$$` a literal `$`; lines starting with `#` or `;` are comments "
	      "(only whole lines: a `#` after a value is part of the value). Booleans take "
	      "0/1, true/false, on/off, yes/no. Integers are plain decimal. A key set twice in "
	      "one section, an unknown key or section, and a value out of range are errors "
	      "reported as `FILE:LINE: key: what is wrong`. Keys marked *restart* take effect "
	      "only when pgbatchd restarts; the others change on SIGHUP (reload).\n",
	      out);
	for (int s = 0; s < CONF_SECTION_COUNT; s++) {
		fprintf(out, "\n### [%s%s]\n\n%s\n\n", section_names[s], s == CONF_TABLE ? " NAME" : "",
			section_intro[s]);
		fputs("| key | type | default | range / values | reload | description |\n"
		      "|---|---|---|---|---|---|\n", out);
		for (size_t i = 0; i < config_nkeys; i++) {
			const struct config_key *k = &config_keys[i];

			if ((int)k->section != s)
				continue;
			fprintf(out, "| `%s` | %s | ", k->name, type_names[k->type]);
			if (k->def != NULL)
				fprintf(out, "`%s`", k->def);
			else if (k->flags & CONF_F_REQUIRED)
				fputs("required", out);
			else
				fputs("none", out);
			fputs(" | ", out);
			print_range(out, k);
			fprintf(out, " | %s | %s |\n", k->flags & CONF_F_RESTART ? "restart" : "live", k->help);
		}
	}
}
