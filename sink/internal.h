/* The sink's internal model and the functions its files share (sink, unit, convert, sched, plan, exec, writer, catalog). */
#ifndef PGBATCHD_SINK_INTERNAL_H
#define PGBATCHD_SINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "protocol/insert.h"
#include "protocol/pktbuf.h"
#include "sink/buf.h"
#include "sink/keycanon.h"
#include "sink/shardmap.h"
#include "sink/sink.h"
#include "sink/sqlgen.h"
#include "sink/stats.h"

#include <event2/util.h>
#include <libpq-fe.h>

struct event;
struct pgconn;
struct catalog;
struct writer;
struct berr;

#define SINK_PREFIX "sink"
/* The session settings compared with the sink's connections': the first four
 * are ParameterStatus names, the last two the proxy asks the session for. */
#define SINK_SETTINGS 6
extern const char *const sink_setting_names[SINK_SETTINGS];
/* Distinct sets of session settings the writers set for a batch's rows; the
 * sessions of any more pass through the INSERTs whose values read them. */
#define SINK_CTX_MAX 256
/* A table found missing (or failing) is looked up again after this long. */
#define RECHECK_MS 1000
/* ackmode=spool: acknowledged rows are written at most this long after they
 * came (or batchsize at once): not an idle writer's batch each (sched.c). */
#define SPOOL_FLUSH_MS 20
/* Bytes charged per buffered row beyond its values. */
#define ROW_OVERHEAD 64

/* What the backend is: how its errors read and how its tables are spread.
 * BACKEND_CITUS is PostgreSQL with the citus extension (a coordinator). */
enum backend_kind { BACKEND_POSTGRES = 0, BACKEND_GREENPLUM, BACKEND_ADBPG, BACKEND_CITUS };

/* Why a batch left its writer's queue. The names appear in the per-batch log line. */
enum flush_reason {
	FLUSH_BATCHSIZE = 0, FLUSH_AGE, FLUSH_IDLE, FLUSH_BARRIER, FLUSH_SHUTDOWN, FLUSH_FULL,
	FLUSH_REASONS
};
const char *flush_reason_name(enum flush_reason r);

/* Stable reasons for SINK_PASSTHROUGH, counted in sink_log_stats. */
enum pass_reason {
	PASS_UNKNOWN_TABLE = 0, PASS_NOT_TABLE, PASS_UNKNOWN_COLUMN, PASS_DUPLICATE_COLUMN,
	PASS_TOO_MANY_VALUES, PASS_GENERATED, PASS_NUMBER_TYPE, PASS_BOOL_TYPE, PASS_CAST,
	PASS_ROW_SECURITY, PASS_COLUMN_PRIVILEGE, PASS_PRIVILEGE_CHECK, PASS_REMOVED, PASS_MEMORY,
	PASS_SETTINGS, PASS_PARAM_TYPE, PASS_ROLE, PASS_SEARCH_PATH, PASS_COUNT, PASS_TXMODE, PASS_CATALOG_LOCKED, PASS_TX_ROWWISE, PASS_DEFERRABLE_KEY,
	PASS_SESSION_SETTINGS, PASS_SESSION_DEFAULT, PASS_SEQUENCE, PASS_REASONS
};
const char *pass_reason_text(enum pass_reason r);

/* ---- the catalog ---- */

/* Extra catalog facts per column, beside struct sg_col. */
struct ccol {
	uint32_t basetype;          /* type OID, a domain resolved to its base */
	uint32_t typid;             /* pg_attribute.atttypid: a domain's own OID */
	char category;              /* pg_type.typcategory of the base type */
	char *decl;                 /* format_type(atttypid, atttypmod): the declared type */
	char *decl_nomod;           /* format_type(atttypid, -1) */
	bool generated;             /* GENERATED ALWAYS AS (...) STORED */
	bool identity_always;
	bool identity;              /* GENERATED ... AS IDENTITY */
	bool unique_default;        /* identity or nextval(): an omitted key is new */
	int typmod;                 /* of the base type (varchar(n): n + 4), -1 without */
	bool nondet_collation;      /* its collation is not deterministic */
	char *collation;            /* its collation, quoted and qualified, or NULL */
};

/* How the values of a key column are identified (keycanon.h): by their
 * canonical form, read in C or (for spellings the parser does not take) from
 * the database's output text; or by the database's own hash of the value,
 * for types without a parser and collations that are not deterministic. */
enum key_mode { KM_CANON = 0, KM_DBHASH };

/* How Citus spreads a table (pg_dist_partition): not at all (a table of the
 * coordinator, or a backend without Citus), by the hash of one column into
 * shards, a copy on every node, or by ranges or appends. */
enum citus_dist { CD_LOCAL = 0, CD_HASH, CD_REFERENCE, CD_OTHER };

/* What the catalog says about how a table's rows may be ordered and written. */
struct traits {
	bool other_unique;          /* a unique index or exclusion constraint beside the key */
	bool self_fk;               /* a foreign key to itself */
	bool row_triggers;          /* user BEFORE ROW triggers on INSERT or UPDATE */
	bool stmt_triggers;         /* user statement-level or AFTER ROW triggers */
	bool rules;                 /* INSERT or UPDATE rules (COPY does not run rules) */
	bool volatile_defaults;     /* a default calls a volatile function, or an identity
				       column: its values follow the rows' order */
	bool sequence_defaults;     /* a default calls nextval(), or an identity column:
				       the session's currval()/lastval() follow its INSERTs */
	bool session_defaults;      /* a default reads a fact of its connection
				       (pg_backend_pid(), inet_client_addr(), current_setting()) */
	bool other_volatile_defaults; /* a default calls a volatile function besides nextval() */
	bool other_code;            /* a CHECK calling a volatile function, a domain column, a
				       foreign key whose ON UPDATE changes other rows */
	uint32_t *fk_rels;          /* tables it references or that reference it */
	int nfk_rels;
	enum citus_dist dist;       /* on a Citus coordinator */
	char *dist_col;             /* CD_HASH: the distribution column */
	int nshards;                /* its shards (CD_HASH, CD_OTHER) */
	int dist_idx;               /* CD_HASH: the distribution column's index */
	enum dist_hash dist_hash;   /* CD_HASH: how its values hash (DH_NONE: not here) */
	struct shardmap shards;     /* CD_HASH: the shards' hash ranges, as read */
};

/* One table's catalog, immutable once built, shared by the rows made with it. */
struct tcat {
	int refs;
	uint32_t gen;
	uint32_t oid;
	struct sg_table t;
	struct ccol *cx;
	enum key_kind *kinds;       /* per key column */
	enum key_mode *kmodes;      /* per key column */
	char **kcollate;            /* per key column: a nondeterministic collation, quoted, or NULL */
	int *kmaxlen;               /* per key column: n of varchar(n), else -1 */
	bool nulls_not_distinct;
	bool key_deferrable;        /* the key is a DEFERRABLE constraint: ON CONFLICT cannot use it */
	bool key_unique_default;    /* every key column has a unique default */
	bool key_dbhash;            /* some key column is KM_DBHASH */
	struct traits tr;
	int *attnums;               /* per column: its attnum, the column's identity */
	char fp[33];                /* the catalog fingerprint it was read at (sg_fingerprint);
	                               empty: not checked */
	struct tcat *pos;           /* rebased with its columns moved: the table as it is now,
	                               which its positional rows follow (fence_follow) */
	bool *gone;                 /* rebased: per column, dropped since (NULL: none) */
	uint32_t *npos;             /* with a pos or a gone: the sink's count of such snapshots */
};

/* tcat.c: snapshots built from the catalog connection's answers (no I/O) */
struct tcat *tcat_ref(struct tcat *c);
void tcat_unref(struct tcat *c);
/* Recomputes every table's class from the catalogs (after one loads). */
void tcat_classify(struct sink *s);
/* A snapshot with the columns of the column query's rows (catalog.c asks);
 * *attnums gets each column's attnum. NULL when out of memory. */
struct tcat *tcat_columns(const PGresult *r, uint32_t oid, uint32_t generation, const struct table_conf *conf,
			  int **attnums);
/* Its key from the unique index query: the primary key, else the index that
 * matches conflictkey (*err says why none does). False when out of memory. */
bool tcat_key(struct tcat *cat, const int *attnums, const PGresult *r, const struct table_conf *conf,
	      struct berr **err);
/* Columns renamed since the snapshot was read: rows [first, first + n) of r
 * have (oid, attnum, attname, format_type, fingerprint) of the table now. Each column still there by its
 * attnum with its declared type takes its new name, so that rows keep the
 * meaning they had when they arrived; the snapshot takes the new fingerprint
 * and generation. *whole is false when some column is gone or changed type
 * (its rows are written as they are: the database decides). False when out
 * of memory. */
bool tcat_rebase(struct tcat *cat, const PGresult *r, int first, int n, uint32_t generation, bool *whole);
/* Its key read again from the unique index query's answer (tcat_key);
 * *changed when it is not the key it had. False when out of memory. */
bool tcat_rekey(struct tcat *cat, const PGresult *r, const struct table_conf *conf, bool *changed);
/* Its traits from the traits query. False when the answer is not one. */
bool tcat_traits(struct tcat *cat, const PGresult *r);
/* A boolean column of a result. */
bool pq_true(const PGresult *r, int row, int col);

/* ---- errors ---- */

/* An error, every field as the backend sent it (or as pgbatchd made it),
 * shared by the rows and units it failed. */
struct berr {
	int refs;
	char sqlstate[6];
	char *f[PKT_DIAG_N];
};

struct berr *berr_new(const char *sqlstate, const char *message, const char *detail,
		      const char *hint);
struct berr *berr_from_diag(const struct pkt_diag *d);
struct berr *berr_ref(struct berr *e);
void berr_unref(struct berr *e);
/* A field by its code ('M', 'D', 'n', ...), or NULL. */
const char *berr_field(const struct berr *e, char code);

/* ---- rows, units, sessions ---- */

enum row_outcome {
	ROW_PENDING = 0,
	ROW_OK,         /* written (inserted or updated) */
	ROW_SKIPPED,    /* DO NOTHING kept the row already there */
	ROW_FAILED,     /* the database rejected it */
	ROW_DROPPED,    /* not written: its unit was rejected (exceptionmode=strict) */
};

/* One buffered row: its values per column of its catalog, in one allocation. */
struct srow {
	struct sink_unit *u;
	struct tcat *cat;
	uint32_t stmt;              /* its statement in the unit */
	uint64_t route;             /* its key's identity (has_route): equal keys, equal route */
	bool has_route;             /* false: the row cannot conflict (NULL key, unique default) */
	bool exact;                 /* the route is final (else the database reads the key first) */
	uint8_t kres;               /* enum key_result */
	uint8_t outcome;            /* enum row_outcome */
	bool positional;            /* its INSERT has no column list: values go by position */
	struct berr *err;           /* ROW_FAILED: why */
	size_t bytes;               /* charged */
	size_t alloc;               /* asked of pool_alloc (row_free gives it back) */
	struct sg_val vals[];
};

/* A unit's life. Changed only by unit_set_state(), which rejects illegal moves. */
enum unit_state {
	U_INTAKE = 0,   /* waiting for catalogs, privileges, conversion, key values read by the database */
	U_DECIDED,      /* answered before its rows were buffered: pass through, or an error */
	U_BLOCKED,      /* buffered; what it must follow sits with more than one writer */
	U_QUEUED,       /* buffered in one writer's queue */
	U_WRITING,      /* in that writer's batch */
	U_DIRECT,       /* written on its client's own connection (sink_direct_done tells) */
	U_SETTLED,      /* written or failed; freed once its client is told and nobody waits for it */
	U_STATES
};

/* One INSERT of a unit. */
struct ustmt {
	struct stable *tab;
	struct ins_stmt st;         /* until converted */
	bool has_st;
	uint32_t first, n;          /* its rows: unit->rows[first .. first + n) */
	uint32_t written;           /* settled: rows inserted or updated */
	int64_t charged;            /* bytes charged for st until converted */
	void *arg;                  /* sink_unit_add's stmt_arg */
	bool passed;                /* not taken (a built unit): no rows */
	enum pass_reason why;       /* passed: why */
	const char *ctx;            /* the session's settings its rows are written under
	                               (session_ctx); NULL: the sink's connections' own */
};

/* Whose transaction a unit's rows are written in: the sink's (a batch on a
 * writer), or the client's own (a transaction block: sink_tx_open). */
enum unit_tx {
	UTX_NONE = 0,   /* autocommit: the sink writes it */
	UTX_LATE,       /* a transaction's simple-Query INSERTs, answered before they are written */
	UTX_EXACT,      /* a transaction's extended-protocol group, answered after */
};

/* The rows of one client statement (one Query now): written in one backend
 * transaction, all of them or (exceptionmode=ignore) all but the rejected ones. */
struct sink_unit {
	struct sink *s;
	struct sink_session *ss;
	enum unit_state state;
	void *arg;                  /* the proxy's, passed to its callbacks */
	uint64_t seq;               /* placement order */
	int widx;                   /* U_QUEUED / U_WRITING: its writer */
	int refs;                   /* blocked units waiting for it */
	struct sink_unit *inext;         /* its session's intake queue */
	struct sink_unit *qprev, *qnext; /* a writer's queue, or the blocked list */
	struct sink_unit *nnext;         /* the notify queue */
	bool in_notify;
	struct sink_unit *aprev, *anext; /* every live unit */
	struct sink_unit **deps;         /* U_BLOCKED: the units it must follow (referenced) */
	int ndeps;
	struct ustmt *stmts;
	int nstmts, capstmts;
	int cur;                    /* U_INTAKE: the statement being converted */
	bool built;                 /* made by sink_unit_open: decisions per statement */
	uint8_t tx;                 /* enum unit_tx: never placed, dropped by the proxy */
	bool open;                  /* built and not yet closed: more statements may come */
	bool dropped;               /* sink_unit_drop: no callback any more, freed when free */
	int ntold;                  /* built: statements whose decision the client heard */
	int npassed;                /* built: statements not taken */
	int err_stmt;               /* the statement its error (or warning) belongs to */
	struct berr *probe_err;     /* isolating a strict unit's statement: the error so far */
	uint64_t *counts;           /* settled: rows written per statement (the reply's) */
	struct srow **rows;         /* arrival order */
	uint32_t nrows, caprows;
	/* stmts, counts and rows of a one-statement, one-row unit (the common
	 * one): no allocation of their own */
	struct ustmt stmt1;
	uint64_t count1;
	struct srow *row1;
	enum ack_mode ack;          /* commit when any of its tables says commit */
	bool barrier;               /* read-your-writes: wanted now */
	bool held;                  /* sched_mark_held: behind a paused unit (FLUSH's question) */
	uint64_t ticket;            /* arrival order (st.tickets when made) */
	uint64_t spool_seq;         /* ackmode = spool: its record's (0: none) */
	bool spool_wait;            /* appended, not yet durable: not answered, not written */
	int spool_nstmts;           /* statements in spool_body */
	bool spool_keep;            /* settled unwritten as pgbatchd stops: its record stays */
	struct buf *spool_body;     /* its statements as the record will hold them (spooled.c) */
	bool direct_due;            /* U_DIRECT: to be offered to its client (sink_on_notify) */
	bool reply_due, replied, settle_due;
	bool acked_counted;         /* counted in its tables' `acked` until it settles */
	bool doomed;                /* exceptionmode=strict: a row was rejected, nothing is written */
	bool failed;                /* the batch failed as a whole: nothing is written */
	struct berr *err;           /* the first rejected row's error, or the batch's */
	uint32_t nrejected;
	int canon_pending;          /* catalog jobs reading its key values */
	int64_t arrival_ms;
	int64_t arrival_us;         /* (the same, finer: ack latency, stats.c) */
	int64_t deadline_ms;        /* statement_timeout: fails with 57014 past it (0: none) */
	struct berr *cancel;        /* cancelled (57014): never written; decided or dropped as
	                               soon as its state allows */
	struct event *timeout_ev;   /* fires at deadline_ms */
	int64_t charged;            /* bytes charged for its statements until converted */
	struct sink_reply reply;
	struct pkt_diag error_diag; /* reply.error points here */
	struct pkt_diag *warn_diags; /* per statement: reply.warnings point here */
	char **warn_msgs;
	struct pkt_diag **warn_ptrs;
	struct berr **warn_errs;    /* what they show, held */
};

/* A client session as the sink sees it. */
struct sink_session {
	struct sink *s;
	struct sink_client c;       /* callbacks; strings below */
	char *user;
	char *peer;                 /* the client's address, or NULL */
	const char *role;           /* user, interned: one pointer per role (sink_role) */
	uint32_t *resolved;         /* per table: where its unqualified name resolves; NULL: unknown */
	int nresolved;
	char *prefix;
	char *settings[SINK_SETTINGS];
	unsigned settings_diff;     /* those that differ from the sink's: valid when */
	uint64_t settings_diff_gen; /* ... this is the sink's settings_gen (0: never) */
	const char *ctx;            /* settings_diff other than client_encoding: what sets its
	                               settings in a batch (session_ctx), NULL when too many
	                               sessions differ otherwise; valid with settings_diff */
	struct sink_unit *ihead, *itail; /* units in intake, in the order sent */
	struct sink_unit *last;          /* the latest placed unit not yet settled */
	int nunits;                 /* live units; closed and 0: freed */
	bool closed;
	bool waiting;               /* in the sink's list of sessions waiting for a catalog */
	bool running, again;        /* intake_run is on the stack (re-entry runs it again) */
	bool private_settings;      /* settings of its own that a write may read (sink_session_private) */
	bool custom_settings;       /* ... custom ones, which the view does not see (sink_session_custom) */
	bool seq_taken;             /* took rows into a table with a sequence default */
	bool seq_pass;              /* such tables' INSERTs pass through (sink_session_seq_pass) */
	bool replay;                /* reads the spool back (spooled.c): not held by replay_hold */
	struct stable *gather_tab;  /* a table's next idle flush waits for this session (gather.c) */
	uint32_t gather_gen;
	struct sink_session *wnext;
	struct sink_session *prev, *next;
};

/* ---- tables ---- */

enum cat_state { CAT_NONE = 0, CAT_LOADING, CAT_READY, CAT_MISSING, CAT_FAILED };

enum priv_state { PRIV_CHECKING = 0, PRIV_YES, PRIV_NO, PRIV_NOROLE, PRIV_COLUMNS, PRIV_FAILED };

/* What the catalog said of a role's INSERT on a table: an early answer only
 * (the batch is written as the role, and PostgreSQL decides then), asked
 * again after PRIV_RECHECK_MS. */
struct priv {
	struct priv *next;
	char *role;
	enum priv_state st;
	int64_t checked_ms;
	bool norole_said;           /* the log said it cannot SET ROLE to it */
};
#define PRIV_RECHECK_MS 1000

/* How a table's rows are ordered in a batch (plan.h) and across sessions. */
enum tclass {
	TC_FREE = 0,    /* rows interact only through their key: one statement per key generation */
	TC_ORDERED,     /* rows keep their order (other unique constraints, triggers, rules) */
	TC_ROWWISE,     /* each row is its own statement (foreign keys among configured
			   tables, statement and AFTER ROW triggers): checks see what they
			   see with one row per statement */
};

/* A histogram as counted: integer values (rows, or microseconds). */
struct hist_acc {
	uint64_t counts[SINK_HIST_MAX + 1];
	uint64_t count;
	uint64_t sum;
};

/* One table's share of the counters (sink_stats_take). */
struct tab_counters {
	uint64_t rows_in, rows_written, rows_skipped, rows_rejected;
	uint64_t batches, flush[FLUSH_REASONS], retries, held;
	int64_t last_flush_ms;      /* 0: none */
	int last_flush_reason;
};

struct stable {
	struct sink *s;
	int idx;
	struct table_conf conf;     /* a copy of its [table] section; name and targetschema
				     * folded to lower case unless casesensitive */
	bool removed;               /* gone from the config: flushes what it holds */
	int idle_inflight;          /* its batches flushed for an idle writer, not yet settled */
	int gather_expect;          /* sessions its idle batches answered, not back yet (gather.c) */
	uint32_t gather_gen;        /* ... bumped when they are no longer waited for */
	int64_t gather_until_us;    /* ... waited for until then */
	bool gather_on;             /* its idle batches wait for them, this epoch */
	int64_t gather_epoch_us;    /* when the epoch began */
	uint64_t gather_rows;       /* rows its idle batches wrote in it */
	int gather_epochs;          /* epochs so far */
	double gather_rate[2];      /* rows/s of its epochs without and with the wait (moving averages) */
	int nplaced;                /* statements of placed units into it, not yet settled */
	enum cat_state cstate;
	struct tcat *cat;
	int64_t cat_ms;             /* when the state was reached */
	bool stale;                 /* reload at next use */
	enum pass_reason cat_pass;  /* CAT_MISSING: why */
	struct berr *cat_err;       /* CAT_FAILED: the error */
	struct priv *privs;
	enum tclass cls;            /* from its catalog and the other tables' (tcat_classify) */
	bool linked;                /* a foreign key joins it to a configured table (or itself) */
	struct sink_unit *dom_last;      /* TC_ORDERED: the latest placed unit writing it, not settled */
	int reject_fd;              /* its rejectfile, open; -1 (rejects.c) */
	bool stopped;               /* strict + immediate: a row acknowledged was rejected; INSERTs
	                               get 55000 until sink_resume */
	int acked;                  /* statements of acknowledged units (ackmode = immediate)
	                               into it, not yet written: a transaction's rows wait */
	bool reject_said;           /* a failure to open or write it was logged */
	/* the column list convert_stmt last mapped, against snapshot cmap_gen:
	 * a statement naming the same columns the same way (a prepared
	 * statement's every Bind, a client's every INSERT) maps the same */
	uint32_t cmap_gen;          /* 0: none */
	int cmap_n;
	int *cmap;                  /* [cmap_n] */
	char *cmap_names;           /* per column: its quoted flag ('q' or 'u'), its name, NUL */
	size_t cmap_len;
	bool paused;                /* PAUSE (sink_pause): its rows are buffered, not written */
	struct tab_counters tc;     /* stats.c */
};

/* ---- batches ---- */

/* Units taken from one writer's queue, written in one backend transaction. */
struct batch {
	int widx;
	uint64_t id;                /* its ledger row */
	enum flush_reason reason;
	bool immediate;             /* every unit is ackmode=immediate */
	bool verbose;               /* a table of it has verbose = 1 */
	uint8_t *idle_tabs;         /* flushed for an idle writer: per table (index), 1 when
	                               counted in its idle_inflight (given back when done) */
	int nidle_tabs;
	struct sink_unit **units;
	size_t nunits;
	struct srow **rows;         /* every row, units in order, each unit's rows in order */
	size_t n;
	int64_t start_ms;
	int64_t start_us;
	int attempts;               /* retries after transient failures */
	int passes;                 /* isolation passes */
};

struct counters {
	uint64_t tickets;
	uint64_t rows_in;
	uint64_t rows_written;
	uint64_t rows_failed;
	uint64_t rows_rejected_file;  /* of those, lines in a rejects file */
	uint64_t rows_skipped;
	uint64_t units_rejected;
	uint64_t batches;
	uint64_t batches_failed;
	uint64_t flush[FLUSH_REASONS];
	uint64_t retries;
	uint64_t deadlocks;         /* of the failures retried, deadlocks (40P01) */
	uint64_t isolations;
	uint64_t shard_stmts;       /* batch statements of one Citus shard's rows (plan.h) */
	uint64_t rebases;           /* batches written again after a table changed under them */
	uint64_t tx_rows;           /* rows sent into clients' own transactions (sink_tx_batch) */
	uint64_t tx_batches;        /* and the batches they went in */
	uint64_t direct_units;      /* units written on their client's own connection */
	uint64_t direct_rows;       /* and their rows */
	uint64_t direct_back;       /* of those, given back to the writers (an error) */
	uint64_t pass_clauses;      /* statements passed through with the table's conflict clause */
	uint64_t splits;
	uint64_t ambiguous;
	uint64_t passthrough[PASS_REASONS];
	uint64_t errors;
	uint64_t catalog_loads;
	uint64_t blocked;
};

struct wqueue;
struct keymap;

struct sink {
	struct event_base *base;
	char *dbname;
	const char **kw;            /* connection keywords/values for libpq */
	const char **val;
	char *conninfo_log;         /* the same without the password */
	int nwriters;
	struct writer **writers;
	struct wqueue *wq;          /* one per writer (sched.c) */
	int maxretrytimes;
	int retrywaittime;
	int64_t max_buffer_bytes;
	int verbose;
	struct spool *spool;        /* ackmode = spool's (spooled.c), NULL: no spool_dir */
	char *spool_owner;          /* the quoted table of spools' generations (<ledger>_spool) */
	uint64_t spool_gen;         /* this start's generation of the spool there (0: unknown) */
	struct replay *replay;      /* reading it back at start-up */
	bool replay_hold;           /* ... and other sessions' INSERTs wait meanwhile */
	struct stable **tables;
	int ntables;
	char **roles;               /* every client role seen, once each (sink_role) */
	int nroles;
	struct catalog *catalog;
	struct shardwatch *shardwatch;  /* on a Citus coordinator: its shard maps read again */
	enum backend_kind kind;
	struct sink_unit *nhead, *ntail; /* units whose client is owed a callback */
	struct later *notify;       /* runs sink_on_notify (common/later.h) */
	struct counters st;
	int64_t buffered_bytes;
	bool full;
	void (*room_fn)(void *arg);
	void *room_arg;
	bool room_due;
	bool tx_waiting;            /* a transaction waits for acknowledged rows (sink_tx_wait) */
	bool tx_wake_due;
	void (*tx_wake_fn)(void *arg);
	void *tx_wake_arg;
	bool draining;
	bool aborting;              /* sink_abort: nothing more is written */
	bool drain_reported;
	void (*drain_fn)(void *arg);
	void *drain_arg;
	uint64_t seq;               /* placement order */
	uint64_t rng;
	struct sink_unit *all;           /* every live unit, for sink_free */
	struct sink_session *sessions;  /* every session not yet freed */
	struct sink_session *waiting;   /* sessions whose head unit waits for a catalog or privilege */
	struct sink_unit *blocked_head, *blocked_tail;
	int ndirect;                /* units in U_DIRECT */
	struct reap *reaps;         /* lost connections' backends being ended (direct.c) */
	struct keymap *keys;        /* (table, key route) -> the latest unit writing it, not settled */
	struct sink_unit *fk_last;       /* the latest unit writing a linked table, not settled */
	char *settings[SINK_SETTINGS];  /* the sink's connections' values, once connected */
	uint64_t settings_gen;      /* changed with settings[]; never 0 */
	char **ctxs;                /* every session_ctx text, once each (at most SINK_CTX_MAX) */
	int nctxs;
	char *ctx_own;              /* sets the connections' own settings back (sink_ctx_own) */
	uint64_t ctx_own_gen;       /* ... made for this settings_gen */
	uint32_t pick_rr;
	uint32_t npos;              /* live snapshots with a pos or gone (fence.c): rows may have to follow */
	/* the batch ledger (ledger.c) */
	char *ledger_config;        /* [backend] ledgertable as written */
	char *ledger;               /* its quoted name, NULL: none configured */
	bool ledger_ok;             /* created (or found) and writable */
	uint64_t instance;          /* this process's ledger id */
	uint64_t batch_seq;
	/* stats.c */
	struct hist_acc hist[HIST_KINDS];       /* (stats_observe) */
	int npaused;                /* tables paused (a hint: the row path asks no more when 0) */
	struct sink_reject *rejects;    /* ring of SINK_REJECTS_KEPT, NULL until the first */
	int rej_next, rej_n;
	struct flushwait *flushes;      /* FLUSHes waiting for their rows */
};

/* ---- sink.c ---- */
/* The one copy of a role name the sink keeps (rows of one role compare by
 * pointer); NULL when out of memory. */
const char *sink_role(struct sink *s, const char *name);
int64_t sink_now_ms(void);
int64_t sink_now_us(void);
uint64_t sink_random(struct sink *s);
/* Memory accounting: above max_buffer_bytes the sink is full. */
void charge(struct sink *s, int64_t bytes);

/* ---- unit.c: sessions, units, notifications, intake ---- */
/* A unit without statements yet; NULL when out of memory. */
struct sink_unit *unit_alloc(struct sink_session *ss, void *arg);
/* One more statement into tab (NULL: no longer configured); st is consumed.
 * False when out of memory. */
bool unit_add_stmt(struct sink_unit *u, struct stable *tab, struct ins_stmt *st, void *stmt_arg);
/* A unit of one statement: queues it behind the session's earlier units and
 * starts its intake. */
void unit_submit(struct sink_unit *u);
/* A built unit got a statement: its intake goes on. */
void unit_built_add(struct sink_unit *u);
void sink_on_notify(void *arg);
void schedule_notify(struct sink *s);
void unit_set_state(struct sink_unit *u, enum unit_state to);
void unit_ref(struct sink_unit *u);
void unit_unref(struct sink_unit *u);
void unit_free(struct sink_unit *u);
void session_free(struct sink_session *ss);
/* ---- session.c ---- */
/* What sets, for the rest of a batch's transaction, the settings of ss that
 * differ from the connections' (every one a value, a default or a trigger may
 * read: TimeZone, DateStyle, IntervalStyle, timezone_abbreviations,
 * xmloption): one text per distinct set, kept by the sink, compared by
 * pointer. NULL when out of memory or SINK_CTX_MAX sets are kept already. */
const char *session_ctx(struct sink *s, const struct sink_session *ss);
/* ... and what sets the connections' own back (DateStyle ISO, as they have
 * it): NULL when out of memory. */
const char *sink_ctx_own(struct sink *s);
/* The unit's client is owed a callback (it runs from sink_on_notify, common/later.h). */
void unit_notify(struct sink_unit *u);
/* Freed once told everything and nobody waits for it. */
void unit_maybe_free(struct sink_unit *u);
/* A statement's parsed form goes (converted, or not taken); all of them. */
void unit_release_statement(struct sink_unit *u, int i);
void unit_release_statements(struct sink_unit *u);
/* Decided before its rows were buffered: it passes through; an error; no rows. */
void unit_decide_pass(struct sink_unit *u, enum pass_reason why);
void unit_decide_error(struct sink_unit *u, struct berr *e);
void unit_decide_empty(struct sink_unit *u);

/* ---- intake.c ---- */
/* A built unit's statement i is not taken: its rows leave the unit. */
void intake_stmt_passed(struct sink_unit *u, int i, enum pass_reason why);
/* Forced shutdown: a unit still being read leaves its session's intake, failed with e. */
void intake_abort(struct sink_unit *u, struct berr *e);
/* Converts the head units of the session's intake queue until one must wait. */
void intake_run(struct sink_session *ss);
/* A catalog or privilege check finished: every waiting session tries again. */
void intake_wake(struct sink *s);
/* The unit's rows are buffered (ackmode=immediate: answered now). */
void unit_buffered(struct sink_unit *u);
/* Its batch is done: the unit's reply is made from its rows' outcomes. */
void unit_settle(struct sink_unit *u);
void row_free(struct sink *s, struct srow *r);

/* ---- convert.c: statements into rows ---- */
enum convert_result { CONVERT_OK = 0, CONVERT_PASS, CONVERT_CANON };
/* Converts statement i of u with its table's catalog into rows appended to
 * u->rows; CONVERT_CANON: some key values must be read by the database
 * (catalog_canon was started; sink_canon_done follows). */
enum convert_result convert_stmt(struct sink_unit *u, int i, enum pass_reason *why);
/* True while tab's catalog is being read: a load is started when one is due
 * (never read, stale, or missing/failed longer than the recheck interval). */
bool table_loading(struct stable *tab, int64_t now);
/* The session's unqualified name of tab resolves to tab (its view says so). */
bool session_resolves(const struct sink_session *ss, const struct stable *tab);
/* sink.c: the configured table an INSERT's head names (its schema, when
 * given, checked; an unqualified name is the session's to resolve), or NULL. */
struct stable *find_table(const struct sink *s, const struct ins_stmt *st);
/* The conflict clause of tab for an INSERT's head (ins_find), from the
 * loaded catalog; NULL when there is none or it cannot be known. */
char *convert_head_clause(struct sink *s, const struct stable *tab, const struct ins_stmt *st);
/* The parameter types PostgreSQL gives a Parse of st (its declared ones
 * declared[0..ndeclared)) into out[0..nout), when the catalog proves the
 * Parse valid: every value a parameter (each once) or DEFAULT, the columns
 * the table's, each declared type one the column takes by assignment, no
 * rules. False: the backend must be asked. */
bool convert_describe(const struct tcat *cat, const struct ins_stmt *st, const uint32_t *declared, int ndeclared,
		      uint32_t *out, int nout);
/* The INSERT ... SELECT that moves the rows of a COPY into tab (its columns
 * from head) out of the temp table `stage`, with the table's conflict
 * clause. False when out of memory. */
bool convert_copy_insert(const struct stable *tab, const struct ins_stmt *head, const char *stage, struct buf *out);
/* The DO block that creates the temp table `stage` with the columns COPY
 * fills, as they are when it runs, after checking that they are the ones
 * of tab's catalog (else it raises COPY_STALE_MESSAGE, 55000). version: the
 * server's. False when out of memory or a name cannot be put in it. */
bool convert_copy_stage(const struct stable *tab, int version, const char *stage, struct buf *out);
/* Computes a row's route from its values and, per key column, the database's
 * output text (over[k], or NULL) and hash (dbh[k] when hasdbh[k]). */
void row_route(struct srow *r, const char *const *over, const int64_t *dbh, const uint8_t *hasdbh);
/* The route of a key whose per-column tokens come from a RETURNING clause
 * (text for KM_CANON columns, the hash for KM_DBHASH ones). False when a value
 * is not in a form that gives an exact route. */
bool returned_route(const struct tcat *cat, const char *const *vals, uint64_t *route);

/* ---- sched.c: dependencies, writer queues, the flush policy, batches ---- */
bool sched_init(struct sink *s);
void sched_free(struct sink *s);
/* A table was added (reload): per-table counters grow. */
bool sched_add_table(struct sink *s);
/* A converted unit: it follows its session's last unit, every unit that wrote
 * one of its keys, and (ordered tables) the last unit that wrote its tables. */
void sched_place(struct sink_unit *u);
/* Read-your-writes: the unit's rows are wanted now. */
void sched_barrier(struct sink_unit *u);
/* The latest unit placed to write (tab, route), not yet settled; NULL: none. */
struct sink_unit *sched_key_last(struct sink *s, const struct stable *tab, uint64_t route);
/* Queued units held behind a paused one in their writer's queue (or paused
 * themselves) have mark set; the others have it cleared. */
void sched_mark_held(struct sink *s);
void sched_flush_table(struct sink *s, struct stable *tab);
/* The writer is idle: its next batch, or NULL (nothing due: its timer is armed). */
struct batch *sched_take(struct sink *s, int widx);
/* A batch ended (every row has its outcome, or failed says why all failed):
 * units settle, what waited for them moves on. */
void sched_batch_done(struct sink *s, struct batch *b, struct berr *failed);
/* Frees a batch without settling anything (sink_free). */
void sched_batch_discard(struct sink *s, struct batch *b);
/* A queued or blocked unit leaves its queue, failed with e (settled). False
 * in any other state. */
bool sched_cancel(struct sink_unit *u, struct berr *e);
/* Forced shutdown: every queued or blocked unit fails with e. */
void sched_abort(struct sink *s, struct berr *e);
/* Units of b cancelled or past their deadline (within slack_ms) leave it,
 * failed (settled); true when any did. Before b is written again. */
bool sched_batch_drop_cancelled(struct sink *s, struct batch *b, int64_t slack_ms);
/* The writer's statement_timeout for b: the least time left to a deadline of
 * its units, ms (0: none). */
int64_t sched_batch_timeout(const struct batch *b);
bool sched_idle(const struct sink *s);
/* Scheduling steps the direct writes share (sched.c): u to the writer
 * pick_writer chooses; blocked units move on where they can; u out of the
 * key map, session and table orders; u failed with e and settled. */
void sched_enqueue(struct sink_unit *u);
void sched_unblock(struct sink *s);
void sched_forget(struct sink *s, struct sink_unit *u);
void sched_fail(struct sink *s, struct sink_unit *u, struct berr *e);
/* Shutdown past its bound: units in U_DIRECT fail with e once their
 * statements are done (cancelled by the proxy). */
void sched_direct_abort(struct sink *s, struct berr *e);
/* A unit placed with nothing to follow and nothing else of its tables in
 * the sink: offered to its client (U_DIRECT), or queued as usual. */
bool sched_direct(struct sink_unit *u);

/* ---- gather.c: group commit waits for the clients of the last batch ---- */

/* An idle batch settles: its sessions whose clients waited are expected back. */
void gather_batch_done(struct sink *s, const struct batch *b);
/* The session placed a unit (or closed): true when it was the last expected. */
bool gather_arrived(struct sink *s, struct sink_session *ss);
/* Clients of the table's idle batches are expected back and waited for now
 * (gatherwait); those past their time are expired. */
bool gather_pending(struct stable *tab);
/* Whether the idle batch headed by h waits for them, and until when (*until_us). */
bool gather_holds(const struct sink_unit *h, int64_t *until_us);
/* A gather is over: the writers whose queues hold rows look again. */
void sched_gather_over(struct sink *s);
/* The client would not write it (declined, or its statement failed): it
 * goes to a writer like any unit, or fails with its cancel. */
void sched_direct_back(struct sink_unit *u);
/* Stops ending lost connections' backends (direct.c): their units fail now
 * (settle), or are left to be freed. */
void sched_direct_reap_all(struct sink *s, bool settle);
/* keymap.c: (table, key route) -> the latest unit writing it (sched.c's) */
struct keymap *keymap_new(void);
void keymap_free(struct keymap *m);
/* The map's key of a table's key route (never 0). */
uint64_t key_of(const struct stable *tab, uint64_t route);
/* Sets key to u; returns the unit it named before (NULL: none). *ok false
 * when out of memory (the key is then not remembered). */
struct sink_unit *keymap_swap(struct keymap *m, uint64_t key, struct sink_unit *u, bool *ok);
/* Removes key if it still names u. */
void keymap_drop(struct keymap *m, uint64_t key, const struct sink_unit *u);

/* Rows queued for writers (stats). */
uint64_t sched_queued_rows(const struct sink *s);

/* ---- catalog.c: the catalog connection and its jobs ---- */
struct catalog *catalog_new(struct sink *s);
/* Connects now (at startup: the backend's kind and the ledger are known early). */
void catalog_start(struct catalog *c);
void catalog_free(struct catalog *c);
void catalog_load(struct catalog *c, struct stable *tab);
/* The unique index query tcat_key reads, for the table whose OID is the SQL oid. */
void catalog_index_sql(struct catalog *c, struct buf *b, const char *oid);
/* The server's version (server_version_num), 0 until connected. */
int catalog_version(const struct catalog *c);
/* The backend's kind, as its connection found it. */
enum backend_kind catalog_kind(const struct catalog *c);
/* sql on the catalog connection once it is ready (the ledger made); fn gets
 * its outcome, or NULL when it could not be asked. */
struct pc_result;
void catalog_query(struct catalog *c, const char *sql, void (*fn)(void *arg, const struct pc_result *r),
		   void *arg);
/* The column query tcat_columns reads, and the traits query tcat_traits reads. */
void catalog_columns_sql(struct catalog *c, struct buf *b, const char *oid);
void catalog_traits_sql(struct catalog *c, struct buf *b, const char *oid);
/* pg_cancel_backend(pid) on the catalog connection (a writer's statement). */
void catalog_cancel_backend(struct catalog *c, int pid);
/* What blocks backend pid (pg_blocking_pids), logged after `what`. */
void catalog_log_blockers(struct catalog *c, int pid, const char *what);
/* A new snapshot generation (staging tables are named by it). */
uint32_t catalog_next_generation(struct catalog *c);
/* Closes the connection when no job waits (after a drain: nothing keeps the loop). */
void catalog_close_idle(struct catalog *c);
void catalog_check_priv(struct catalog *c, struct stable *tab, const char *role);
/* Has the database read the key values of statement i of u that the sink
 * cannot identify itself, then calls sink_canon_done. */
void catalog_canon(struct catalog *c, struct sink_unit *u, int i);
/* The catalog's callbacks. */
void sink_catalog_done(struct stable *tab, enum cat_state st, struct tcat *cat, enum pass_reason why,
		       struct berr *err);
void sink_priv_done(struct stable *tab, const char *role, enum priv_state st, struct berr *err);
void sink_canon_done(struct sink_unit *u);
/* The table's catalog no longer matches the database (42703, 42P01, ...). */
void sink_table_stale(struct stable *tab);

/* ---- txbatch.c: a transaction's rows for the client's own connection ---- */
/* May statement i of a UTX_LATE unit be answered before it is written: is
 * its count the number of its rows whatever the table holds? colmap[0..nv):
 * the columns it names. */
bool txbatch_count_stable(const struct sink_unit *u, int i, const int *colmap, int nv);

/* ---- colmap.c: value mapping, no I/O ---- */
/* Does v read the same in a session whose settings differ from the sink's by
 * diff (bit i: sink_setting_names[i])? */
bool catalog_setting_free(const struct tcat *c, int col, const struct ins_value *v, unsigned diff);
/* A parameter of declared type `from` into a column of base type `to`: does
 * its text read by the column's input give what the assignment cast gives?
 * (Each such pair has an assignment cast: a Parse with it is valid.) */
bool catalog_param_ok(uint32_t from, uint32_t to);
/* Is column col part of the conflict key? */
bool catalog_is_key(const struct tcat *c, int col);
bool catalog_value(const struct tcat *c, int col, const struct ins_value *v, struct sg_val *out,
		   enum pass_reason *why) __attribute__((warn_unused_result));
bool catalog_norm_type(const char *in, char *out, size_t outlen, bool *has_mod)
	__attribute__((warn_unused_result));
bool catalog_cast_ok(const struct ccol *cx, const char *cast);

/* ---- ledger.c: the batch ledger ---- */
/* The quoted name of the configured ledger table, NULL for none (or no memory). */
char *ledger_name(const char *config_name);
/* The statements that create the ledger (on the catalog connection). */
void ledger_create_sql(const struct sink *s, struct buf *sql);
/* "INSERT INTO <ledger> VALUES (instance, id)" */
void ledger_insert_sql(const struct sink *s, uint64_t id, struct buf *sql);
/* PREPARE pgbatchd_ledger(id) of that INSERT, and its EXECUTE (no separators). */
void ledger_prepare_sql(const struct sink *s, struct buf *sql);
void ledger_execute_sql(uint64_t id, struct buf *sql);
/* Deletes old rows, keeping every id at or above keep_from. */
void ledger_prune_sql(const struct sink *s, uint64_t keep_from, struct buf *sql);
/* True when an error of the ledger insert says the row is there already. */
bool ledger_conflict(const struct sink *s, const char *sqlstate, const struct pkt_diag *d);
/* The lowest ledger id of a batch in flight (its outcome may still be asked). */
uint64_t ledger_oldest_open(const struct sink *s);

/* ---- writer.c ---- */
struct writer *writer_new(struct sink *s, int idx);
void writer_free(struct writer *w);
/* There may be work: the writer looks when it is idle (deferred). */
void writer_kick(struct writer *w);
/* Its batch's statement in flight is cancelled (a unit of it was). */
void writer_cancel(struct writer *w);
/* Forced shutdown: its batch is cancelled and fails with e, the connection closed. */
void writer_abort(struct writer *w, struct berr *e);
bool writer_busy(const struct writer *w);
/* The ledger id of its batch, 0 when none. */
uint64_t writer_batch_id(const struct writer *w);
/* What SHOW WRITERS says of it. */
void writer_stats(const struct writer *w, struct sink_writer_stats *out);

/* ---- stats.c ---- */
/* A histogram's value: rows (HIST_BATCH_ROWS) or microseconds (the others). */
#define STATS_ROWS_NB 14
#define STATS_US_NB 15
extern const int64_t stats_rows_le[STATS_ROWS_NB];
extern const int64_t stats_us_le[STATS_US_NB];
static inline void stats_observe(struct sink *s, enum sink_hist_kind k, int64_t v)
{
	struct hist_acc *h = &s->hist[k];
	const int64_t *le = k == HIST_BATCH_ROWS ? stats_rows_le : stats_us_le;
	int nb = k == HIST_BATCH_ROWS ? STATS_ROWS_NB : STATS_US_NB, b = 0;

	while (b < nb && v > le[b])
		b++;
	h->counts[b]++;
	h->count++;
	h->sum += (uint64_t)(v > 0 ? v : 0);
}
/* A row not written, with why (NULL: unknown): kept among the recent rejects. */
void stats_reject(struct sink *s, const struct sink_unit *u, const struct srow *r, const struct berr *e);
/* A batch was taken (tables[t] held taken[t] rows) / settled: the tables' counters. */
void stats_batch_taken(struct sink *s, const uint32_t *taken, enum flush_reason why);
/* A batch settled: the histograms, and its line in the log (per table:
 * verbose = 1 logs it at info level). */
void stats_batch_done(struct sink *s, const struct batch *b);
/* The head unit of a queue is paused (a flush due is held, counted when due). */
bool stats_unit_paused(const struct sink_unit *u);
/* The same, asked by the row path: nothing to look at while no table is paused. */
static inline bool stats_paused(const struct sink *s, const struct sink_unit *u)
{
	return s->npaused > 0 && !s->draining && stats_unit_paused(u);
}
/* Units settled: FLUSHes whose rows are all written are told (from sink_on_notify). */
void stats_flushes_check(struct sink *s);
/* u has rows of tab (NULL: of any table). */
bool stats_unit_writes(const struct sink_unit *u, const struct stable *tab);
void stats_free(struct sink *s);

/* ---- spooled.c: ackmode = spool ---- */
struct spool_stats;
/* Opens spool_dir (none: true, nothing to do) and reads it back: its units
 * not in the ledger are written again before other sessions' INSERTs are
 * taken. False when it cannot be used (the log says why). */
bool spooled_open(struct sink *s, const struct config *cfg);
void spooled_close(struct sink *s);
/* A statement of a unit that may be spooled, recorded as taken. */
void spooled_stmt(struct sink_unit *u, const struct stable *tab, const struct ins_stmt *st);
void spooled_body_free(struct sink_unit *u);
/* The unit is placed: its record goes to the spool; it is answered (and
 * may be written) once the record is durable, or fails with 53100. */
void spooled_append(struct sink_unit *u);
/* The unit is written or given up for good: its record is not needed. */
void spooled_release(struct sink_unit *u);
/* The statement a batch with spooled units starts with: the spool's lock
 * (shared) and the check that its generation is this start's. */
void spooled_fence_sql(const struct sink *s, struct buf *sql);
/* Whether a batch holds spooled units. */
bool spooled_in_batch(const struct batch *b);
/* The batch's ledger INSERT with its spooled units' ids; false when it has none. */
bool spooled_ledger_sql(const struct sink *s, const struct batch *b, struct buf *sql);
void spooled_stats(const struct sink *s, struct spool_stats *out);
/* A unit read back from the spool, with its record's seq: consumes sts. */
bool unit_replay(struct sink_session *ss, void *arg, uint64_t seq, struct ins_stmt *sts, int n);
/* An early acknowledgement (ackmode immediate, or spool once durable). */
void unit_acked(struct sink_unit *u);

#endif
