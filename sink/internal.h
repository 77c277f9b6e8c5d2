/* The sink's internal model and the functions its files share (sink, ticket, shard, catalog, colmap, writer). */
#ifndef PGBATCHD_SINK_INTERNAL_H
#define PGBATCHD_SINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "protocol/insert.h"
#include "sink/buf.h"
#include "sink/keycanon.h"
#include "sink/sink.h"
#include "sink/sqlgen.h"

#include <event2/util.h>

struct event;
struct pgconn;
struct catalog;

#define SINK_PREFIX "sink"
/* The session settings compared with the sink's connections' (ParameterStatus names). */
#define SINK_SETTINGS 4
extern const char *const sink_setting_names[SINK_SETTINGS];
/* A table found missing (or failing) is looked up again after this long. */
#define RECHECK_MS 1000
/* Bytes charged per buffered row beyond its values. */
#define ROW_OVERHEAD 64

enum backend_kind { BACKEND_POSTGRES = 0, BACKEND_GREENPLUM, BACKEND_ADBPG };

/* Why a batch left its buffer. The names appear in the per-batch log line. */
enum flush_reason {
	FLUSH_BATCHSIZE = 0, FLUSH_AGE, FLUSH_IDLE, FLUSH_BARRIER, FLUSH_SHUTDOWN, FLUSH_FULL,
	FLUSH_REASONS
};

/* Stable reasons for SINK_PASSTHROUGH, counted in sink_log_stats. */
enum pass_reason {
	PASS_UNKNOWN_TABLE = 0, PASS_NOT_TABLE, PASS_UNKNOWN_COLUMN, PASS_DUPLICATE_COLUMN,
	PASS_TOO_MANY_VALUES, PASS_GENERATED, PASS_NUMBER_TYPE, PASS_BOOL_TYPE, PASS_CAST,
	PASS_ROW_SECURITY, PASS_COLUMN_PRIVILEGE, PASS_PRIVILEGE_CHECK, PASS_REMOVED, PASS_MEMORY,
	PASS_SETTINGS, PASS_REASONS
};
const char *pass_reason_text(enum pass_reason r);

/* Extra catalog facts per column, beside struct sg_col. */
struct ccol {
	uint32_t basetype;          /* type OID, a domain resolved to its base */
	char category;              /* pg_type.typcategory of the base type */
	char *decl;                 /* format_type(atttypid, atttypmod): the declared type */
	char *decl_nomod;           /* format_type(atttypid, -1) */
	bool generated;             /* GENERATED ALWAYS AS (...) STORED */
	bool identity_always;
	bool unique_default;        /* identity or nextval(): an omitted key is new */
};

/* One table's catalog, immutable once built, shared by the rows made with it. */
struct tcat {
	int refs;
	uint32_t gen;
	uint32_t oid;
	struct sg_table t;
	struct ccol *cx;
	enum key_kind *kinds;       /* per key column */
	bool nulls_not_distinct;
	bool key_unique_default;    /* every key column has a unique default */
};

struct tcat *tcat_ref(struct tcat *c);
void tcat_unref(struct tcat *c);

/* A backend error, shared by the rows it failed. */
struct berr {
	int refs;
	char sqlstate[6];
	char *message;
	char *detail;
	char *hint;
};

struct berr *berr_new(const char *sqlstate, const char *message, const char *detail,
		      const char *hint);
struct berr *berr_ref(struct berr *e);
void berr_unref(struct berr *e);

/* One buffered row: its values per column of its catalog, in one allocation. */
struct srow {
	struct srow *next;
	struct sink_ticket *ticket;
	struct tcat *cat;
	uint64_t seq;
	int64_t arrival_ms;
	size_t bytes;
	const unsigned char *key;   /* canonical key, NULL when not reducible */
	size_t keylen;
	uint64_t hash;
	uint64_t route;             /* picks the writer: equal keys, equal route */
	bool exact;                 /* the key is canonical (see keycanon.h) */
	bool key_owned;             /* key was allocated apart (rewritten after canonicalization) */
	uint8_t kres;               /* enum key_result */
	struct sg_val vals[];
};

enum row_outcome { ROW_PENDING = 0, ROW_OK, ROW_FAILED };

/* One table buffer per writer. */
struct shard {
	struct stable *tab;
	int idx;
	struct srow *head, *tail;
	size_t count;
	struct event *timer;        /* the oldest row's age limit */
	bool age_due;
	uint64_t barrier_seq;       /* rows up to this seq are wanted now */
	bool barrier;
};

enum cat_state { CAT_NONE = 0, CAT_LOADING, CAT_READY, CAT_MISSING, CAT_FAILED };

enum priv_state { PRIV_CHECKING = 0, PRIV_YES, PRIV_NO, PRIV_COLUMNS, PRIV_FAILED };

struct priv {
	struct priv *next;
	char *role;
	enum priv_state st;
};

struct stable {
	struct sink *s;
	int idx;
	struct table_conf conf;     /* a copy of its [table] section; name and targetschema
				     * folded to lower case unless casesensitive */
	bool removed;               /* gone from the config: flushes what it holds */
	int idle_inflight;          /* its batches flushed for an idle writer, not yet settled */
	enum cat_state cstate;
	struct tcat *cat;
	int64_t cat_ms;             /* when the state was reached */
	bool stale;                 /* reload at next use */
	enum pass_reason cat_pass;  /* CAT_MISSING: why */
	struct berr *cat_err;       /* CAT_FAILED: the error */
	struct priv *privs;
	struct sink_ticket *wait_head, *wait_tail;
	struct shard *shards;
	uint32_t rr;
};

struct sink_ticket {
	struct sink *s;
	struct stable *tab;
	struct sink_client c;
	char *user;
	char *prefix;
	char *settings[SINK_SETTINGS];  /* the client's, see struct sink_client */
	struct ins_stmt st;
	bool has_st;
	struct sink_ticket *aprev, *anext; /* the sink's list of live tickets */
	struct sink_ticket *wnext;  /* the table's wait queue */
	struct sink_ticket *nnext;  /* the notify queue */
	bool in_notify;
	uint64_t nrows;
	uint64_t pending;           /* rows not yet committed or failed */
	enum ack_mode ack;
	bool barrier;
	bool forgotten;
	bool reply_due;
	bool replied;
	bool settle_due;
	struct sink_reply reply;
	char sqlstate[6];
	char *message;
	char *detail;
	char *hint;
	bool failed;
	uint32_t *shard_rows;       /* buffered rows per shard */
	struct srow **crows;        /* converted, not yet buffered */
	size_t ncrows;
	bool canon_wait;            /* the database is reading some of its key values */
	int64_t st_bytes;           /* charged for the statement until it is converted */
};

/* A batch: rows taken from one shard, written in one transaction. */
struct batch {
	struct stable *tab;
	struct tcat *cat;
	int widx;
	enum flush_reason reason;
	enum conflict_mode mode;
	enum write_mode wmode;
	bool verbose;
	bool immediate;             /* every row's ticket is ackmode=immediate */
	struct srow **rows;
	size_t n;
	struct key_reduction red;
	uint8_t *outcome;
	struct berr **err;
	int64_t start_ms;
	int attempts;
};

struct writer;

struct counters {
	uint64_t tickets;
	uint64_t rows_in;
	uint64_t rows_written;
	uint64_t rows_failed;
	uint64_t rows_merged;
	uint64_t batches;
	uint64_t batches_failed;
	uint64_t flush[FLUSH_REASONS];
	uint64_t retries;
	uint64_t isolations;
	uint64_t splits;
	uint64_t passthrough[PASS_REASONS];
	uint64_t errors;
	uint64_t catalog_loads;
};

struct sink {
	struct event_base *base;
	char *dbname;
	const char **kw;            /* connection keywords/values for libpq */
	const char **val;
	char *conninfo_log;         /* the same without the password */
	int nwriters;
	struct writer **writers;
	int maxretrytimes;
	int retrywaittime;
	int64_t max_buffer_bytes;
	int verbose;
	struct stable **tables;
	int ntables;
	struct catalog *catalog;
	enum backend_kind kind;
	struct sink_ticket *nhead, *ntail;
	struct event *notify_ev;
	struct counters st;
	int64_t buffered_bytes;
	bool full;
	void (*room_fn)(void *arg);
	void *room_arg;
	bool room_due;
	bool draining;
	bool drain_reported;
	void (*drain_fn)(void *arg);
	void *drain_arg;
	uint64_t seq;
	uint64_t rng;
	uint64_t live_tickets;
	struct sink_ticket *all;    /* every live ticket, for sink_free */
	char *settings[SINK_SETTINGS];  /* the sink's connections' values, once connected */
	uint32_t take_rr;
};

/* sink.c */
int64_t sink_now_ms(void);
uint64_t sink_random(struct sink *s);

/* ticket.c: tickets, notifications (every client callback runs from
 * sink_on_notify, never inside an API call), conversion, the wait queue */
void sink_on_notify(evutil_socket_t fd, short what, void *arg);
void schedule_notify(struct sink *s);
void reply_passthrough(struct sink_ticket *t, enum pass_reason why);
void ticket_error(struct sink_ticket *t, const char *sqlstate, const char *message,
		  const char *detail, const char *hint);
void ticket_row_settled(struct sink_ticket *t);
void ticket_free(struct sink_ticket *t);
/* Works through the table's queue of tickets in order until one must wait. */
void process_queue(struct stable *tab);

/* shard.c: buffers, flush policy, memory accounting */
void charge(struct sink *s, int64_t bytes);
void row_free(struct sink *s, struct srow *r);
void srow_release(struct srow *r);
void shard_append(struct shard *sh, struct srow *r);
/* Rows now in the shard are wanted now (read-your-writes). */
void shard_barrier(struct shard *sh);
void shard_on_timer(evutil_socket_t fd, short what, void *arg);

/* ticket.c, called by catalog.c */
void sink_catalog_done(struct stable *tab, enum cat_state st, struct tcat *cat, enum pass_reason why,
		       struct berr *err);
void sink_priv_done(struct stable *tab, const char *role, enum priv_state st, struct berr *err);
/* The ticket's rows have the keys the database read for them (or kept theirs). */
void sink_canon_done(struct sink_ticket *t);
/* shard.c, called by writer.c */
struct batch *sink_take_batch(struct sink *s, int widx);
/* Settles every row of the batch by its outcome, logs the batch line, frees it. */
void sink_batch_done(struct sink *s, struct batch *b);
/* Frees a batch and its rows without settling anything (sink_free). */
void sink_batch_discard(struct sink *s, struct batch *b);
/* The table's catalog no longer matches the database (42703, 42P01, ...). */
void sink_table_stale(struct stable *tab);

/* catalog.c: the catalog connection and its jobs */
struct catalog *catalog_new(struct sink *s);
void catalog_free(struct catalog *c);
void catalog_load(struct catalog *c, struct stable *tab);
/* Closes the connection when no job waits (after a drain: nothing keeps the loop). */
void catalog_close_idle(struct catalog *c);
void catalog_check_priv(struct catalog *c, struct stable *tab, const char *role);
/* Has the database read the key values of t's converted rows that the sink
 * could not canonicalize (casting them to the column type and back to text),
 * rewrites those keys, then calls sink_canon_done. */
void catalog_canon(struct catalog *c, struct stable *tab, struct sink_ticket *t);

/* colmap.c: catalog snapshots and value mapping, no I/O */
/* Maps a recognized value onto column col: true when it carries exactly,
 * else false with why it must pass through. */
bool catalog_value(const struct tcat *c, int col, const struct ins_value *v, struct sg_val *out,
		   enum pass_reason *why) __attribute__((warn_unused_result));
/* Normalizes a type name as written in a cast to format_type's spelling. */
bool catalog_norm_type(const char *in, char *out, size_t outlen, bool *has_mod)
	__attribute__((warn_unused_result));
/* True when a literal typed as cast reads the same as an untyped one into the column. */
bool catalog_cast_ok(const struct ccol *cx, const char *cast);

/* writer.c */
struct writer *writer_new(struct sink *s, int idx);
void writer_free(struct writer *w);
/* There may be work: the writer looks when it is idle (deferred). */
void writer_kick(struct writer *w);
bool writer_busy(const struct writer *w);

/* sink.c */
const char *flush_reason_name(enum flush_reason r);

#endif
