/* The batching sink's API: configuration copies, tables, writers, submission, drain, reload, stats. */
#include "sink/internal.h"
#include "sink/rejects.h"
#include "sink/shardwatch.h"
#include "sink/spool.h"
#include "protocol/sqllex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "common/later.h"
#include "common/log.h"

/*
 * Log lines other components and tests rely on (keep them stable):
 *   flush table=<schema.table> writer=<n> reason=<batchsize|age|idle|barrier|shutdown|full> rows=<n> ms=<n>
 *       then " units=<n> failed=<n> skipped=<n> attempts=<n> passes=<n> batch=<id>"; one per
 *       table of a batch, at LOG level when the table has verbose = 1, else at DEBUG
 *       (verbose = 1 in [pgbatchd]).
 *   stats: sink tickets=<n> rows_in=<n> ... passthrough_<reason>=<n> ...  (sink_log_stats)
 */

const char *const sink_setting_names[SINK_SETTINGS] = {
	"TimeZone", "DateStyle", "IntervalStyle", "client_encoding", "timezone_abbreviations", "xmloption",
};

static const char *const pass_names[PASS_REASONS] = {
	[PASS_UNKNOWN_TABLE] = "unknown table",
	[PASS_NOT_TABLE] = "not a plain table",
	[PASS_UNKNOWN_COLUMN] = "unknown column",
	[PASS_DUPLICATE_COLUMN] = "duplicate column",
	[PASS_TOO_MANY_VALUES] = "more values than columns",
	[PASS_GENERATED] = "value for a generated or identity column",
	[PASS_NUMBER_TYPE] = "number literal needs a conversion",
	[PASS_BOOL_TYPE] = "boolean literal needs a conversion",
	[PASS_CAST] = "typed literal differs from the column type",
	[PASS_PARAM_TYPE] = "parameter type needs a conversion",
	[PASS_ROLE] = "the sink's account cannot SET ROLE to the client's role",
	[PASS_SEARCH_PATH] = "the name resolves to another relation in the session",
	[PASS_ROW_SECURITY] = "row level security",
	[PASS_COLUMN_PRIVILEGE] = "column privileges",
	[PASS_PRIVILEGE_CHECK] = "privilege check failed",
	[PASS_REMOVED] = "table removed from the configuration",
	[PASS_MEMORY] = "out of memory",
	[PASS_SETTINGS] = "session settings",
	[PASS_COUNT] = "in a transaction, its row count is the database's to tell",
	[PASS_TXMODE] = "in a transaction, txmode = pass",
	[PASS_CATALOG_LOCKED] = "the table's catalog could not be read for a lock",
	[PASS_TX_ROWWISE] = "in a transaction, several rows for a table written row by row",
	[PASS_DEFERRABLE_KEY] = "the conflict key is DEFERRABLE: ON CONFLICT cannot use it",
	[PASS_SESSION_SETTINGS] = "the session changed a setting a write may read",
	[PASS_SESSION_DEFAULT] = "a default reads a fact of the client's connection",
	[PASS_SEQUENCE] = "the session reads currval()/lastval() of the table's sequence",
};

static const char *const pass_keys[PASS_REASONS] = {
	[PASS_UNKNOWN_TABLE] = "unknown_table",
	[PASS_NOT_TABLE] = "not_table",
	[PASS_UNKNOWN_COLUMN] = "unknown_column",
	[PASS_DUPLICATE_COLUMN] = "duplicate_column",
	[PASS_TOO_MANY_VALUES] = "too_many_values",
	[PASS_GENERATED] = "generated_column",
	[PASS_NUMBER_TYPE] = "number_type",
	[PASS_BOOL_TYPE] = "bool_type",
	[PASS_CAST] = "cast",
	[PASS_ROW_SECURITY] = "row_security",
	[PASS_COLUMN_PRIVILEGE] = "column_privilege",
	[PASS_PRIVILEGE_CHECK] = "privilege_check",
	[PASS_REMOVED] = "removed",
	[PASS_MEMORY] = "memory",
	[PASS_SETTINGS] = "session_settings",
	[PASS_PARAM_TYPE] = "param_type",
	[PASS_ROLE] = "role",
	[PASS_SEARCH_PATH] = "search_path",
	[PASS_COUNT] = "tx_count",
	[PASS_TXMODE] = "txmode",
	[PASS_CATALOG_LOCKED] = "catalog_locked",
	[PASS_TX_ROWWISE] = "tx_rowwise",
	[PASS_DEFERRABLE_KEY] = "deferrable_key",
	[PASS_SESSION_SETTINGS] = "private_settings",
	[PASS_SESSION_DEFAULT] = "session_default",
	[PASS_SEQUENCE] = "sequence",
};

static const char *const flush_names[FLUSH_REASONS] = {
	"batchsize", "age", "idle", "barrier", "shutdown", "full",
};

const char *sink_pass_reason_key(int i)
{
	return i >= 0 && i < PASS_REASONS ? pass_keys[i] : NULL;
}

const char *pass_reason_text(enum pass_reason r)
{
	return r < PASS_REASONS ? pass_names[r] : "sink";
}

const char *flush_reason_name(enum flush_reason r)
{
	return r < FLUSH_REASONS ? flush_names[r] : "unknown";
}

int64_t sink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sink_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t sink_random(struct sink *s)
{
	uint64_t x = s->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return x;
}

/* ---- memory accounting ---- */

void charge(struct sink *s, int64_t bytes)
{
	s->buffered_bytes += bytes;
	if (!s->full && s->buffered_bytes > s->max_buffer_bytes) {
		/* full: every writer flushes what it holds, whatever its triggers say */
		s->full = true;
		for (int i = 0; i < s->nwriters; i++)
			writer_kick(s->writers[i]);
	} else if (s->full && s->buffered_bytes <= s->max_buffer_bytes) {
		s->full = false;
		s->room_due = true;
		schedule_notify(s);
	}
}

/* ---- errors ---- */

struct berr *berr_new(const char *sqlstate, const char *message, const char *detail,
		      const char *hint)
{
	struct pkt_diag d;

	memset(&d, 0, sizeof(d));
	d.f[pkt_diag_index('S')] = "ERROR";
	d.f[pkt_diag_index('V')] = "ERROR";
	d.f[pkt_diag_index('C')] = sqlstate && sqlstate[0] ? sqlstate : "XX000";
	d.f[pkt_diag_index('M')] = message ? message : "unknown error";
	d.f[pkt_diag_index('D')] = detail;
	d.f[pkt_diag_index('H')] = hint;
	return berr_from_diag(&d);
}

struct berr *berr_from_diag(const struct pkt_diag *d)
{
	struct berr *e = calloc(1, sizeof(*e));
	const char *state;

	if (e == NULL)
		return NULL;
	e->refs = 1;
	for (int i = 0; i < PKT_DIAG_N; i++)
		if (d && d->f[i] && (e->f[i] = strdup(d->f[i])) == NULL) {
			berr_unref(e);
			return NULL;
		}
	if (e->f[pkt_diag_index('S')] == NULL)
		e->f[pkt_diag_index('S')] = strdup("ERROR");
	if (e->f[pkt_diag_index('M')] == NULL)
		e->f[pkt_diag_index('M')] = strdup("unknown error");
	if (e->f[pkt_diag_index('C')] == NULL)
		e->f[pkt_diag_index('C')] = strdup("XX000");
	state = e->f[pkt_diag_index('C')];
	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", state ? state : "XX000");
	if (!e->f[pkt_diag_index('S')] || !e->f[pkt_diag_index('M')] || !state) {
		berr_unref(e);
		return NULL;
	}
	return e;
}

struct berr *berr_ref(struct berr *e)
{
	if (e)
		e->refs++;
	return e;
}

void berr_unref(struct berr *e)
{
	if (e == NULL || --e->refs > 0)
		return;
	for (int i = 0; i < PKT_DIAG_N; i++)
		free(e->f[i]);
	free(e);
}

const char *berr_field(const struct berr *e, char code)
{
	int i = pkt_diag_index(code);

	return e && i >= 0 ? e->f[i] : NULL;
}

/* ---- configuration copies ---- */

static char *fold_dup(const char *s, bool casesensitive)
{
	char *d = strdup(s ? s : "");
	char *p;

	if (d && !casesensitive)
		for (p = d; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return d;
}

static void tconf_clear(struct table_conf *c)
{
	free(c->name);
	free(c->targetschema);
	free(c->conflictkey);
	free(c->rejectfile);
	memset(c, 0, sizeof(*c));
}

static bool tconf_copy(struct table_conf *c, const struct table_conf *tc)
{
	memset(c, 0, sizeof(*c));
	c->name = fold_dup(tc->name, tc->casesensitive);
	c->targetschema = fold_dup(tc->targetschema ? tc->targetschema : "public", tc->casesensitive);
	c->conflictkey = tc->conflictkey ? strdup(tc->conflictkey) : NULL;
	c->rejectfile = tc->rejectfile ? strdup(tc->rejectfile) : NULL;
	c->conflictmode = tc->conflictmode;
	c->writemode = tc->writemode;
	c->batchsize = tc->batchsize > 0 ? tc->batchsize : 1;
	c->batchwritetimeoutms = tc->batchwritetimeoutms >= 0 ? tc->batchwritetimeoutms : 0;
	c->exceptionmode = tc->exceptionmode;
	c->casesensitive = tc->casesensitive;
	c->verbose = tc->verbose;
	c->ackmode = tc->ackmode;
	c->txmode = tc->txmode;
	c->copyclause = tc->copyclause;
	c->adaptiveflush = tc->adaptiveflush;
	c->directwrite = tc->directwrite;
	c->gatherwait = tc->gatherwait;
	c->copystageminrows = tc->copystageminrows;
	c->maxretrytimes = tc->maxretrytimes;
	c->retrywaittime = tc->retrywaittime;
	if (!c->name || !c->targetschema || (tc->conflictkey && !c->conflictkey) ||
	    (tc->rejectfile && !c->rejectfile)) {
		tconf_clear(c);
		return false;
	}
	return true;
}

/* Resolves host once into a libpq host list and hostaddr list of every
 * address ("h,h" / "a1,a2"), so libpq still tries each address in turn. */
static bool resolve(const char *host, struct buf *hosts, struct buf *addrs)
{
	struct addrinfo hints, *res = NULL, *ai;
	char addr[INET6_ADDRSTRLEN];
	const void *a;
	int n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
		log_warning(SINK_PREFIX, "cannot resolve backend host %s now; libpq will try", host);
		return false;
	}
	for (ai = res; ai && n < 8; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, a, addr, sizeof(addr)) == NULL)
			continue;
		buf_printf(hosts, "%s%s", n ? "," : "", host);
		buf_printf(addrs, "%s%s", n ? "," : "", addr);
		n++;
	}
	freeaddrinfo(res);
	return n > 0 && buf_ok(hosts) && buf_ok(addrs);
}

static bool add_param(struct sink *s, int *n, const char *k, const char *v)
{
	s->kw[*n] = strdup(k);
	s->val[*n] = strdup(v);
	if (!s->kw[*n] || !s->val[*n])
		return false;
	(*n)++;
	return true;
}

/* The writers' and catalog's libpq parameters, from [backend]. Client startup
 * parameters never reach these connections. */
static bool build_conninfo(struct sink *s, const struct config *cfg)
{
	const struct backend_addr *a = &cfg->backend;
	const char *user = cfg->username ? cfg->username : a->user;
	const char *password = cfg->password ? cfg->password : a->password;
	PQconninfoOption *opts = NULL, *o;
	struct buf logline, hosts, addrs;
	char port[16];
	int n = 0, max = 13;
	bool resolved;

	if (a->options && a->options[0]) {
		opts = PQconninfoParse(a->options, NULL);
		if (opts == NULL)
			log_warning(SINK_PREFIX, "cannot parse the backend url options; ignoring them");
		for (o = opts; o && o->keyword; o++)
			max++;
	}
	s->kw = calloc((size_t)max, sizeof(char *));
	s->val = calloc((size_t)max, sizeof(char *));
	if (!s->kw || !s->val)
		goto fail;
	for (o = opts; o && o->keyword; o++)
		if (o->val && strcmp(o->keyword, "password") != 0 && strcmp(o->keyword, "user") != 0 &&
		    strcmp(o->keyword, "dbname") != 0 && !add_param(s, &n, o->keyword, o->val))
			goto fail;
	/* Resolved here, once: libpq would resolve the name inside the loop,
	 * blocking it on DNS at every connect. host stays for TLS and .pgpass. */
	buf_init(&hosts);
	buf_init(&addrs);
	if (a->host && a->host[0] != '/' && a->host[0] != '@' && !strchr(a->host, ',') &&
	    resolve(a->host, &hosts, &addrs)) {
		resolved = add_param(s, &n, "host", hosts.data) && add_param(s, &n, "hostaddr", addrs.data);
		buf_free(&hosts);
		buf_free(&addrs);
		if (!resolved)
			goto fail;
	} else {
		buf_free(&hosts);
		buf_free(&addrs);
		if (a->host && !add_param(s, &n, "host", a->host))
			goto fail;
	}
	snprintf(port, sizeof(port), "%d", a->port > 0 ? a->port : 5432);
	if (!add_param(s, &n, "port", port))
		goto fail;
	if (a->dbname && !add_param(s, &n, "dbname", a->dbname))
		goto fail;
	if (user && !add_param(s, &n, "user", user))
		goto fail;
	if (password && !add_param(s, &n, "password", password))
		goto fail;
	if (!add_param(s, &n, "application_name", "pgbatchd-sink"))
		goto fail;
	/* TLS as the pass-through connections have it (server_tls_*), where
	 * the url says nothing of its own */
	{
		char v[1024];
		const struct { const char *kw, *val; } tls[] = {
			{ "sslmode", config_tls_mode_name(cfg->server_tls_sslmode) },
			{ "sslrootcert", cfg->server_tls_ca_file },
			{ "sslcert", cfg->server_tls_cert_file },
			{ "sslkey", cfg->server_tls_key_file },
		};

		for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
			if (tls[i].val && !backend_addr_option(a, tls[i].kw, v, sizeof(v)) &&
			    !add_param(s, &n, tls[i].kw, tls[i].val))
				goto fail;
	}
	s->kw[n] = NULL;
	s->val[n] = NULL;
	if (opts)
		PQconninfoFree(opts);
	opts = NULL;
	s->dbname = strdup(a->dbname ? a->dbname : user ? user : "");
	buf_init(&logline);
	for (n = 0; s->kw[n]; n++)
		buf_printf(&logline, "%s%s=%s", n ? " " : "", s->kw[n],
			   strcmp(s->kw[n], "password") == 0 ? "********" : s->val[n]);
	s->conninfo_log = buf_steal(&logline);
	return s->dbname && s->conninfo_log;
fail:
	if (opts)
		PQconninfoFree(opts);
	return false;
}

/* ---- tables ---- */

static struct stable *table_new(struct sink *s, const struct table_conf *tc, int idx)
{
	struct stable *tab = calloc(1, sizeof(*tab));

	if (tab == NULL)
		return NULL;
	tab->s = s;
	tab->idx = idx;
	tab->reject_fd = -1;
	if (!tconf_copy(&tab->conf, tc)) {
		free(tab);
		return NULL;
	}
	return tab;
}

static void table_free(struct stable *tab)
{
	struct priv *p;

	while ((p = tab->privs) != NULL) {
		tab->privs = p->next;
		free(p->role);
		free(p);
	}
	tcat_unref(tab->cat);
	berr_unref(tab->cat_err);
	tconf_clear(&tab->conf);
	free(tab->cmap);
	free(tab->cmap_names);
	if (tab->reject_fd >= 0)
		close(tab->reject_fd);
	free(tab);
}

static bool add_table(struct sink *s, const struct table_conf *tc)
{
	struct stable **tabs, *tab;

	tabs = realloc(s->tables, (size_t)(s->ntables + 1) * sizeof(*tabs));
	if (tabs == NULL)
		return false;
	s->tables = tabs;
	tab = table_new(s, tc, s->ntables);
	if (tab == NULL)
		return false;
	s->tables[s->ntables++] = tab;
	if (s->wq && !sched_add_table(s)) {
		table_free(tab);
		s->ntables--;
		return false;
	}
	return true;
}

/* ---- the API ---- */

/* A random positive 63-bit id for this process's ledger rows. */
static uint64_t instance_id(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)sink_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	v &= INT64_MAX;
	return v ? v : 1;
}

struct sink *sink_new(struct event_base *base, const struct config *cfg)
{
	struct sink *s = calloc(1, sizeof(*s));
	int i;

	if (s == NULL)
		return NULL;
	s->base = base;
	s->settings_gen = 1;
	s->nwriters = cfg->connectionmaxactive > 0 ? cfg->connectionmaxactive : 1;
	s->maxretrytimes = cfg->maxretrytimes;
	s->retrywaittime = cfg->retrywaittime;
	s->max_buffer_bytes = cfg->max_buffer_bytes > 0 ? cfg->max_buffer_bytes : INT64_MAX;
	s->verbose = cfg->verbose;
	s->rng = (uint64_t)sink_now_ms() * 0x9e3779b97f4a7c15ULL | 1;
	s->instance = instance_id();
	if (cfg->ledgertable && cfg->ledgertable[0]) {
		s->ledger_config = strdup(cfg->ledgertable);
		s->ledger = ledger_name(cfg->ledgertable);
		if (s->ledger_config == NULL || s->ledger == NULL)
			goto fail;
		if (cfg->spool_dir && cfg->spool_dir[0]) {
			char owner[512];

			snprintf(owner, sizeof(owner), "%s_spool", cfg->ledgertable);
			if ((s->spool_owner = ledger_name(owner)) == NULL)
				goto fail;
		}
	}
	s->notify = later_new(base, sink_on_notify, s);
	s->writers = calloc((size_t)s->nwriters, sizeof(*s->writers));
	if (s->notify == NULL || s->writers == NULL || !build_conninfo(s, cfg))
		goto fail;
	for (i = 0; i < s->nwriters; i++) {
		s->writers[i] = writer_new(s, i);
		if (s->writers[i] == NULL)
			goto fail;
	}
	for (i = 0; i < cfg->ntables; i++)
		if (!add_table(s, &cfg->tables[i]))
			goto fail;
	if (!sched_init(s))
		goto fail;
	s->catalog = catalog_new(s);
	s->shardwatch = shardwatch_new(s);
	if (s->catalog == NULL || s->shardwatch == NULL)
		goto fail;
	if (s->ntables > 0)
		catalog_start(s->catalog);
	if (!spooled_open(s, cfg))
		goto fail;
	log_info(SINK_PREFIX, "%d tables, %d writers, backend %s", s->ntables, s->nwriters,
		 s->conninfo_log);
	return s;
fail:
	sink_free(s);
	return NULL;
}

const char *sink_role(struct sink *s, const char *name)
{
	char **r, *copy;

	for (int i = 0; i < s->nroles; i++)
		if (strcmp(s->roles[i], name) == 0)
			return s->roles[i];
	r = realloc(s->roles, (size_t)(s->nroles + 1) * sizeof(*r));
	if (r == NULL)
		return NULL;
	s->roles = r;
	copy = strdup(name);
	if (copy == NULL)
		return NULL;
	s->roles[s->nroles++] = copy;
	return copy;
}

void sink_free(struct sink *s)
{
	int i;

	if (s == NULL)
		return;
	/* Writers first: they hold batches whose rows belong to units. */
	for (i = 0; s->writers && i < s->nwriters; i++)
		writer_free(s->writers[i]);
	catalog_free(s->catalog);
	shardwatch_free(s->shardwatch);
	sched_direct_reap_all(s, false);
	/* Units still owed a callback: nobody is told any more. */
	while (s->all)
		unit_free(s->all);
	while (s->sessions)
		session_free(s->sessions);
	spooled_close(s);       /* (after the units: what they released goes) */
	sched_free(s);
	stats_free(s);
	for (i = 0; i < s->ntables; i++)
		table_free(s->tables[i]);
	s->nhead = s->ntail = NULL;
	free(s->tables);
	for (i = 0; i < s->nroles; i++)
		free(s->roles[i]);
	free(s->roles);
	free(s->writers);
	later_free(s->notify);
	for (i = 0; s->kw && s->val && (s->kw[i] || s->val[i]); i++) {
		free((char *)s->kw[i]);
		free((char *)s->val[i]);
	}
	free(s->kw);
	free(s->val);
	free(s->dbname);
	free(s->conninfo_log);
	free(s->ledger);
	free(s->ledger_config);
	free(s->spool_owner);
	for (i = 0; i < SINK_SETTINGS; i++)
		free(s->settings[i]);
	for (i = 0; i < s->nctxs; i++)
		free(s->ctxs[i]);
	free(s->ctxs);
	free(s->ctx_own);
	free(s);
}

/* Whether n names conf (a folded, configured name): as ins_name_resolve()
 * would fold and clip it, compared without a copy. */
static bool name_is(const struct ins_name *n, const char *conf)
{
	const char *p = n->name;
	size_t i;

	for (i = 0; i < SQL_IDENT_MAX && p[i]; i++) {
		char c = p[i];

		if (!n->quoted && c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != conf[i])
			return false;
	}
	return conf[i] == '\0';
}

struct stable *find_table(const struct sink *s, const struct ins_stmt *st)
{
	struct stable *tab;
	int i;

	if (st->table.name == NULL)
		return NULL;
	for (i = 0; i < s->ntables; i++) {
		tab = s->tables[i];
		if (tab->removed || !name_is(&st->table, tab->conf.name))
			continue;
		if (st->schema.name && !name_is(&st->schema, tab->conf.targetschema))
			continue;
		/* an unqualified name is the session's search_path's to resolve:
		 * the unit's intake checks where it resolves (sink_session_resolved) */
		return tab;
	}
	return NULL;
}

bool sink_serves(const struct sink *s, const char *database)
{
	return s && database && strcmp(database, s->dbname) == 0 && s->ntables > 0;
}

bool sink_wants(const struct sink *s, const struct ins_stmt *st, const char *database)
{
	if (s == NULL || database == NULL || strcmp(database, s->dbname) != 0)
		return false;
	return find_table(s, st) != NULL;
}

struct sink_unit *sink_submit(struct sink_session *ss, struct ins_stmt *st, void *arg)
{
	struct sink_unit *u = unit_alloc(ss, arg);

	if (u == NULL) {
		ins_stmt_free(st);
		return NULL;
	}
	if (!unit_add_stmt(u, find_table(ss->s, st), st, NULL)) {
		unit_free(u);
		return NULL;
	}
	unit_submit(u);
	return u;
}

struct sink_unit *sink_tx_open(struct sink_session *ss, void *arg, bool late)
{
	struct sink_unit *u = sink_unit_open(ss, arg);

	if (u)
		u->tx = late ? UTX_LATE : UTX_EXACT;
	return u;
}

bool sink_unit_add(struct sink_unit *u, struct ins_stmt *st, void *stmt_arg)
{
	if (!unit_add_stmt(u, find_table(u->s, st), st, stmt_arg))
		return false;
	unit_built_add(u);
	return true;
}

bool sink_table_bounds(const struct sink *s, const struct ins_stmt *st, int *batchsize, int *timeout_ms)
{
	const struct stable *tab = find_table(s, st);

	if (tab == NULL)
		return false;
	*batchsize = tab->conf.batchsize;
	*timeout_ms = tab->conf.batchwritetimeoutms;
	return true;
}

int sink_table_count(const struct sink *s)
{
	return s->ntables;
}

const char *sink_table_name(const struct sink *s, int i)
{
	return s->tables[i]->conf.name;
}

void sink_unit_cancel(struct sink_unit *u, const char *sqlstate, const char *message)
{
	struct berr *e;

	if (u == NULL || u->cancel || u->replied || u->state == U_DECIDED || u->state == U_SETTLED ||
	    (u->state != U_INTAKE && u->ack != ACK_COMMIT))
		return;                 /* answered already: too late, as directly */
	if ((e = berr_new(sqlstate, message, NULL, NULL)) == NULL)
		return;
	u->cancel = e;
	/* read: decided when its intake ends; in a batch: the batch's statement
	 * is cancelled (pg_cancel_backend on the catalog connection) and the batch
	 * written again without it; written if the batch commits first, as a
	 * cancel that comes too late */
	if (u->state == U_BLOCKED || u->state == U_QUEUED)
		(void)sched_cancel(u, e);
	else if (u->state == U_WRITING && u->widx >= 0 && u->widx < u->s->nwriters)
		writer_cancel(u->s->writers[u->widx]);
}

static void on_unit_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_unit_cancel(arg, "57014", "canceling statement due to statement timeout");
}

void sink_unit_set_timeout(struct sink_unit *u, int64_t ms)
{
	struct timeval tv;

	if (u == NULL || ms <= 0 || u->timeout_ev)
		return;
	u->deadline_ms = sink_now_ms() + ms;
	u->timeout_ev = evtimer_new(u->s->base, on_unit_timeout, u);
	if (u->timeout_ev == NULL)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(u->timeout_ev, &tv);
}

int sink_resume(struct sink *s)
{
	int n = 0;

	for (int i = 0; i < s->ntables; i++)
		if (s->tables[i]->stopped) {
			s->tables[i]->stopped = false;
			log_info(SINK_PREFIX, "table %s.%s takes rows again", s->tables[i]->conf.targetschema,
				 s->tables[i]->conf.name);
			n++;
		}
	return n;
}

void sink_flush_unit(struct sink_unit *u)
{
	if (u)
		sched_barrier(u);
}

bool sink_full(const struct sink *s)
{
	return s->full || (s->spool && spool_full(s->spool));
}

void sink_set_room_callback(struct sink *s, void (*fn)(void *arg), void *arg)
{
	s->room_fn = fn;
	s->room_arg = arg;
}

void sink_drain(struct sink *s, void (*done)(void *arg), void *arg)
{
	int i;

	s->draining = true;
	s->drain_reported = false;
	s->drain_fn = done;
	s->drain_arg = arg;
	log_info(SINK_PREFIX, "draining: flushing every buffer");
	for (i = 0; i < s->nwriters; i++)
		writer_kick(s->writers[i]);
	schedule_notify(s);
}

void sink_abort(struct sink *s, const char *sqlstate, const char *message)
{
	struct berr *e = berr_new(sqlstate, message, NULL, NULL);
	struct sink_session *ss;
	struct sink_unit *u, *next;

	if (e == NULL || s->aborting) {
		berr_unref(e);
		return;
	}
	s->aborting = true;
	log_warning(SINK_PREFIX, "shutdown: what is not written yet is given up (%s)", message);
	/* batches in flight, then what waits for a writer, then what is read */
	for (int i = 0; i < s->nwriters; i++)
		writer_abort(s->writers[i], e);
	sched_abort(s, e);
	sched_direct_reap_all(s, true);         /* lost connections' backends: not waited for */
	for (ss = s->sessions; ss; ss = ss->next) {
		for (u = ss->ihead; u; u = next) {
			next = u->inext;
			if (u->open)
				continue;       /* built, not closed: its session drops it */
			intake_abort(u, e);
		}
	}
	berr_unref(e);
	schedule_notify(s);
}

void sink_reload(struct sink *s, const struct config *cfg)
{
	struct stable *tab;
	struct table_conf nc;
	bool seen;
	int i, j;

	s->maxretrytimes = cfg->maxretrytimes;
	s->retrywaittime = cfg->retrywaittime;
	s->max_buffer_bytes = cfg->max_buffer_bytes > 0 ? cfg->max_buffer_bytes : INT64_MAX;
	s->verbose = cfg->verbose;
	if (s->spool)
		spool_set_max_bytes(s->spool, cfg->spool_max_bytes);
	charge(s, 0);
	rejects_reopen(s);      /* logrotate: the files are opened anew */
	for (i = 0; i < s->ntables; i++) {
		tab = s->tables[i];
		seen = false;
		for (j = 0; j < cfg->ntables && !seen; j++) {
			if (!tconf_copy(&nc, &cfg->tables[j]))
				continue;
			if (strcmp(nc.name, tab->conf.name) == 0 && strcmp(nc.targetschema, tab->conf.targetschema) == 0) {
				seen = true;
				if (nc.casesensitive != tab->conf.casesensitive ||
				    (nc.conflictkey == NULL) != (tab->conf.conflictkey == NULL) ||
				    (nc.conflictkey && strcmp(nc.conflictkey, tab->conf.conflictkey) != 0))
					tab->stale = true;
				tconf_clear(&tab->conf);
				tab->conf = nc;
				tab->removed = false;
			} else {
				tconf_clear(&nc);
			}
		}
		if (!seen && !tab->removed) {
			tab->removed = true;
			log_info(SINK_PREFIX, "table %s.%s is no longer configured: flushing what it holds",
				 tab->conf.targetschema, tab->conf.name);
			intake_wake(s);
			for (j = 0; j < s->nwriters; j++)
				writer_kick(s->writers[j]);
		}
	}
	for (j = 0; j < cfg->ntables; j++) {
		if (!tconf_copy(&nc, &cfg->tables[j]))
			continue;
		seen = false;
		for (i = 0; i < s->ntables && !seen; i++)
			seen = strcmp(nc.name, s->tables[i]->conf.name) == 0 &&
			       strcmp(nc.targetschema, s->tables[i]->conf.targetschema) == 0;
		tconf_clear(&nc);
		if (!seen && !add_table(s, &cfg->tables[j]))
			log_error(SINK_PREFIX, "out of memory adding table %s", cfg->tables[j].name);
	}
}

void sink_catalog_invalidate(struct sink *s, const char *schema, const char *table)
{
	struct stable *tab;
	struct priv **pp, *p;
	int i;

	for (i = 0; i < s->ntables; i++) {
		tab = s->tables[i];
		if (table && strcmp(tab->conf.name, table) != 0)
			continue;
		if (schema && strcmp(tab->conf.targetschema, schema) != 0)
			continue;
		tab->stale = true;
		tab->cat_ms = 0;
		/* privileges may have changed too (GRANT, REVOKE) */
		for (pp = &tab->privs; *pp;) {
			p = *pp;
			if (p->st == PRIV_CHECKING) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			free(p->role);
			free(p);
		}
	}
}

void sink_log_stats(const struct sink *s)
{
	const struct counters *c = &s->st;
	struct buf line;
	int i;

	buf_init(&line);
	buf_printf(&line, "sink tickets=%llu rows_in=%llu rows_written=%llu rows_failed=%llu rows_rejected_file=%llu "
		   "rows_skipped=%llu "
		   "units_rejected=%llu batches=%llu batches_failed=%llu retries=%llu deadlocks=%llu isolations=%llu splits=%llu "
		   "shard_stmts=%llu "
		   "ambiguous=%llu blocked=%llu errors=%llu catalog_loads=%llu rebases=%llu pass_clauses=%llu "
		   "tx_rows=%llu tx_batches=%llu direct_units=%llu direct_rows=%llu direct_back=%llu "
		   "buffered_bytes=%lld queued_rows=%llu",
		   (unsigned long long)c->tickets, (unsigned long long)c->rows_in,
		   (unsigned long long)c->rows_written, (unsigned long long)c->rows_failed,
		   (unsigned long long)c->rows_rejected_file,
		   (unsigned long long)c->rows_skipped, (unsigned long long)c->units_rejected,
		   (unsigned long long)c->batches, (unsigned long long)c->batches_failed,
		   (unsigned long long)c->retries, (unsigned long long)c->deadlocks, (unsigned long long)c->isolations,
		   (unsigned long long)c->splits, (unsigned long long)c->shard_stmts, (unsigned long long)c->ambiguous,
		   (unsigned long long)c->blocked, (unsigned long long)c->errors,
		   (unsigned long long)c->catalog_loads, (unsigned long long)c->rebases,
		   (unsigned long long)c->pass_clauses,
		   (unsigned long long)c->tx_rows, (unsigned long long)c->tx_batches,
		   (unsigned long long)c->direct_units, (unsigned long long)c->direct_rows,
		   (unsigned long long)c->direct_back, (long long)s->buffered_bytes,
		   (unsigned long long)sched_queued_rows(s));
	if (s->spool) {
		struct spool_stats sp;

		spooled_stats(s, &sp);
		buf_printf(&line, " spool_units=%llu spool_bytes=%lld spool_segments=%d spool_fsyncs=%llu "
			   "spool_oldest_ms=%lld", (unsigned long long)sp.units, (long long)sp.bytes, sp.segments,
			   (unsigned long long)sp.fsyncs,
			   sp.oldest_us ? (long long)(time(NULL) * 1000LL - sp.oldest_us / 1000) : 0LL);
	}
	for (i = 0; i < FLUSH_REASONS; i++)
		buf_printf(&line, " flush_%s=%llu", flush_names[i], (unsigned long long)c->flush[i]);
	for (i = 0; i < PASS_REASONS; i++)
		buf_printf(&line, " passthrough_%s=%llu", pass_keys[i],
			   (unsigned long long)c->passthrough[i]);
	log_info(NULL, "stats: %s", buf_ok(&line) ? line.data : "sink (out of memory)");
	buf_free(&line);
}

void sink_table_stale(struct stable *tab)
{
	tab->stale = true;
}
