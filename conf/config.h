/* The configuration model: one struct built from one key table, and its loader. */
#ifndef PGBATCHD_CONF_CONFIG_H
#define PGBATCHD_CONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MUST_CHECK __attribute__((warn_unused_result))

enum auth_type { AUTH_TRUST = 0, AUTH_MD5, AUTH_SCRAM };
enum conflict_mode { CONFLICT_UPSERT = 0, CONFLICT_UPDATE, CONFLICT_IGNORE, CONFLICT_STRICT };
enum write_mode { WRITE_INSERT = 0, WRITE_COPY = 1, WRITE_UNNEST = 2 };
enum exception_mode { EXC_IGNORE = 0, EXC_STRICT };
enum ack_mode { ACK_COMMIT = 0, ACK_IMMEDIATE, ACK_SPOOL };
/* INSERTs inside a transaction block: batched into it, or run one by one as sent. */
enum tx_mode { TXMODE_BATCH = 0, TXMODE_PASS };
enum gather_mode { GATHER_AUTO = 0, GATHER_ON, GATHER_OFF };
/* client_tls_sslmode, PgBouncer's names: the server side of a client's TLS */
enum tls_mode { TLS_DISABLE = 0, TLS_ALLOW, TLS_PREFER, TLS_REQUIRE, TLS_VERIFY_CA, TLS_VERIFY_FULL };

/* One [table NAME] section. Keys not set in the section inherit the value set
 * in [backend] or [pgbatchd], else the key table's default. */
struct table_conf {
	char *name;                 /* tablename (section name unless overridden) */
	char *targetschema;         /* default "public" */
	enum conflict_mode conflictmode;
	enum write_mode writemode;
	int batchsize;
	int batchwritetimeoutms;
	enum exception_mode exceptionmode;
	bool casesensitive;
	bool verbose;
	enum ack_mode ackmode;
	enum tx_mode txmode;
	bool copyclause;            /* COPY ... FROM gets the conflict clause (a staging table) */
	bool adaptiveflush;
	bool directwrite;           /* a lone unit goes on its client's own connection (sink/direct.c) */
	enum gather_mode gatherwait; /* an idle batch waits for the clients of the last (sink/gather.c) */
	int copystageminrows;       /* writemode 1, keyed: fewer rows skip the stage */
	char *conflictkey;          /* "col,col" or NULL */
	char *rejectfile;           /* NULL: none */
	int maxretrytimes;          /* -1: [backend]'s */
	int retrywaittime;          /* -1: [backend]'s */
};

/* The parsed [backend] url: jdbc:postgresql://, postgresql:// or key=value. */
struct backend_addr {
	char *host;                 /* hostname, IP, or a Unix socket directory */
	int port;                   /* default 5432 */
	char *dbname;               /* NULL if the url names none */
	char *user;                 /* from the url, if any */
	char *password;             /* from the url, if any */
	char *options;              /* other url parameters as "k=v k=v" libpq text */
};

struct config {
	char *path;                 /* the file it was loaded from */

	/* [pgbatchd] */
	char *listen_addr;
	int listen_port;
	char *unix_socket_dir;
	enum tls_mode client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	enum tls_mode server_tls_sslmode;   /* the url's sslmode, when it has one, wins */
	char *server_tls_ca_file;
	char *server_tls_cert_file;
	char *server_tls_key_file;
	enum auth_type auth_type;
	char *auth_file;
	char *admin_users;          /* "a, b": the console's users (everything); NULL: none */
	char *stats_users;          /* ... and its read-only users (SHOW) */
	char *metrics_addr;
	int metrics_port;           /* 0: no metrics endpoint */
	int max_client_conn;
	char *logfile;              /* NULL: stderr */
	int verbose;
	int64_t max_buffer_bytes;
	bool readyourwrites;
	int io_buffer_size;         /* max bytes per socket read (tests use 64) */
	int max_inspect_bytes;      /* messages the proxy inspects are buffered up to this */
	int max_insert_bytes;       /* an INSERT Query is, up to this */
	int authentication_timeout; /* s: from accept to authenticated */
	int shutdown_timeout;       /* s: SIGTERM's drain, before what is not written is given up */
	bool lazy_backend;          /* a session's own backend only when something passes through */
	int login_cache_seconds;    /* logincache.h */
	char *spool_dir;            /* ackmode = spool's segments (sink/spool.h); NULL: none */
	int64_t spool_max_bytes;
	bool spool_salvage;         /* --spool-salvage (not a key): a damaged segment is set aside */

	/* [backend] */
	char *url;
	struct backend_addr backend;
	char *username;
	char *password;
	int connectionmaxactive;
	int maxretrytimes;
	int retrywaittime;
	char *ledgertable;          /* "schema.table", "" or NULL: none */

	struct table_conf *tables;
	int ntables;
};

/* Loads and validates a file. On failure returns NULL and writes
 * "FILE:LINE: key: what is wrong" into err. On success backend holds the
 * parsed url, and username / password are filled from it when the file does
 * not set them (so callers only read cfg->username / cfg->password). */
struct config *config_load(const char *path, char *err, size_t errlen) MUST_CHECK;
void config_free(struct config *cfg);

/* Parses a backend url in any accepted form. *out is overwritten (not freed
 * first); on failure it is left empty and err says why, never echoing a
 * password. host is always set on success; port defaults to 5432. */
bool config_parse_url(const char *url, struct backend_addr *out, char *err, size_t errlen) MUST_CHECK;
void backend_addr_clear(struct backend_addr *a);
/* The value of one of the url's other parameters (options), into val;
 * false when the url has none (or it does not fit). */
bool backend_addr_option(const struct backend_addr *a, const char *key, char *val, size_t len);
/* TLS with the server: the url's sslmode when it has one, else server_tls_sslmode. */
enum tls_mode config_server_tls_mode(const struct config *cfg);
/* libpq's (and PgBouncer's) name of a TLS mode. */
const char *config_tls_mode_name(enum tls_mode m);

/* True when a key may change on SIGHUP without a restart. */
bool config_key_reloadable(const char *section_kind, const char *key);

/* Writes the key table as a Markdown reference (docs/configuration.md). */
void config_print_reference(FILE *out);

/* Names of the restart-only keys (see config_key_reloadable) whose values
 * differ between two configs, comma-separated into names (truncated to fit).
 * Returns how many differ: 0 means `next` can replace `cur` on SIGHUP. Table
 * keys are all reloadable, so only [pgbatchd] and [backend] are compared. */
int config_restart_diff(const struct config *cur, const struct config *next,
	char *names, size_t nameslen);

/* The key table (conf/keys.c). One row per key: the loader, the reference
 * printer and the reload rules are all driven by it. A row's offset points
 * into struct config, or into struct table_conf for CONF_TABLE keys. */
enum config_section { CONF_PGBATCHD = 0, CONF_BACKEND, CONF_TABLE, CONF_SECTION_COUNT };
enum config_type {
	CONF_STRING = 0,  /* char *, owned; "" means none for keys without a default */
	CONF_LIST,        /* char *: comma list, stored trimmed as "a,b,c" */
	CONF_INT,         /* int (also the enum fields that take numbers, e.g. writemode) */
	CONF_INT64,       /* int64_t */
	CONF_BOOL,        /* bool: 0/1, true/false, on/off, yes/no */
	CONF_ENUM,        /* int-sized enum: value = index into names */
};
#define CONF_F_RESTART   (1u << 0)  /* changing it needs a restart */
#define CONF_F_REQUIRED  (1u << 1)  /* must be set */
#define CONF_F_SECRET    (1u << 2)  /* value never echoed (errors, listings) */
#define CONF_F_NODEFAULT (1u << 3)  /* table key that [pgbatchd]/[backend] cannot default */

struct config_key {
	enum config_section section;
	const char *name;
	enum config_type type;
	const char *def;            /* default as written in the file; NULL: none */
	int64_t min, max;           /* CONF_INT / CONF_INT64 bounds */
	const char *const *names;   /* CONF_ENUM: NULL-terminated, index = enum value */
	unsigned flags;             /* CONF_F_* */
	const char *help;           /* one line, no '|' */
	size_t offset;              /* offsetof the field */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The row for name in that section (case-insensitive), or NULL. */
const struct config_key *config_key_find(enum config_section sec, const char *name);
/* "pgbatchd" / "backend" / "table". */
const char *config_section_name(enum config_section sec);
/* Parses text as k's type, checks bounds, and stores it at base + k->offset
 * (base is a struct config or a struct table_conf). On failure the field is
 * unchanged and why says what is wrong (without the value for secret keys). */
bool config_key_set(const struct config_key *k, void *base, const char *text,
	char *why, size_t whylen) MUST_CHECK;
/* Its value at base, as the file would write it ("********" for a secret
 * that is set; "" for none). */
void config_key_format(const struct config_key *k, const void *base, char *out, size_t len);

/* The auth_file: PgBouncer-style lines `"user" "secret"`, where the secret is
 * a plain password, "md5" + md5(password || user), or a SCRAM-SHA-256 verifier. */
struct userlist;
struct userlist *userlist_load(const char *path, char *err, size_t errlen) MUST_CHECK;
const char *userlist_find(const struct userlist *ul, const char *user);
void userlist_free(struct userlist *ul);

#endif
