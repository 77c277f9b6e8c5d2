/* The INSERT recognizer: PostgreSQL lexical rules over one Query's SQL text, no sockets. */
#ifndef PGBATCHD_PROTOCOL_INSERT_H
#define PGBATCHD_PROTOCOL_INSERT_H

#include <stdbool.h>
#include <stddef.h>

/* What a recognized value was written as. */
enum ins_kind {
	INS_STRING = 0,  /* a string constant in any spelling ('', E'', U&'', $$), decoded */
	INS_NUMBER,      /* integer or decimal constant, text as written (a leading '-' kept) */
	INS_BOOL,        /* TRUE / FALSE: text is "true" / "false" */
	INS_NULL,        /* NULL (also NULL::type): text is NULL */
	INS_DEFAULT,     /* DEFAULT: text is NULL */
	INS_PARAM,       /* $n (ins_parse_params only): text is NULL until ins_bind */
};

struct ins_value {
	enum ins_kind kind;
	const char *text;   /* NUL-terminated decoded value; NULL for INS_NULL / INS_DEFAULT */
	size_t len;         /* bytes in text (may contain NULs only if the SQL did: it cannot) */
	const char *cast;   /* typed literal's type as written, normalized ("timestamp with time
	                       zone", "int4[]", "varchar(10)"), or NULL when there is no cast */
	int param;          /* INS_PARAM: n of $n (1-based) */
	unsigned typoid;    /* a bound parameter's declared type (0: none, read as an untyped
	                       literal); set by ins_bind, 0 for literals */
};

/* An identifier after removing quotes (and "" doubling, U&"" escapes), in its raw
 * case. `quoted` tells whether it was written in double quotes. */
struct ins_name {
	const char *name;   /* NULL when absent (no schema given) */
	bool quoted;
};

struct ins_stmt {
	struct ins_name schema;
	struct ins_name table;
	int ncols;                  /* 0 when the INSERT has no column list */
	struct ins_name *cols;
	int nrows;
	int nvals;                  /* values per row; == ncols when ncols > 0 */
	struct ins_value *values;   /* nrows * nvals, row-major */
	int nparams;                /* the highest $n (ins_parse_params), else 0 */
	size_t end;                 /* where its VALUES end: a clause may be inserted here */
	void *arena;                /* private: owns every string above */
	size_t arena_len;           /* private: its size when it came from common/pool.h, else 0 */
	const char *names;          /* private: the schema, table and column names' text, one
	                               block in the arena (NULL: not known) */
	size_t names_len;
};

/* Why a statement is not interceptable (INS_OK when it is). */
enum ins_reason {
	INS_OK = 0,
	INS_NOT_INSERT,      /* not an INSERT at all */
	INS_MULTI_STMT,      /* several statements in one Query */
	INS_WITH,            /* WITH ... INSERT */
	INS_SELECT,          /* INSERT ... SELECT / DEFAULT VALUES / other source than VALUES */
	INS_RETURNING,
	INS_ON_CONFLICT,
	INS_OVERRIDING,      /* OVERRIDING SYSTEM|USER VALUE */
	INS_EXPRESSION,      /* a value that is an expression, function call, sub-select, parameter */
	INS_SHAPE,           /* rows of different lengths, more values than columns, alias, indirection */
	INS_SYNTAX,          /* anything the recognizer cannot lex or parse */
	INS_REASON_COUNT
};

/* Parses sql[0..len). On INS_OK fills *out (free it with ins_stmt_free);
 * otherwise *out is left empty and needs no freeing. */
enum ins_reason ins_parse(const char *sql, size_t len, struct ins_stmt *out)
	__attribute__((warn_unused_result));
/* The parser keeps the last plain statement's head (up to VALUES) and starts
 * a next statement with the same bytes after it; this forgets it (for tests
 * that compare with a parse from scratch). */
void ins_parse_forget(void);
/* on: rows are always read by the general parser, never the fast path for
 * plain constants (for tests that compare the two). */
void ins_parse_slow(bool on);
void ins_stmt_free(struct ins_stmt *st);

/* The statement of an extended-protocol Parse: as ins_parse, and a value may
 * also be a parameter $1..$65535, alone or with one cast ($1::int8). */
enum ins_reason ins_parse_params(const char *sql, size_t len, struct ins_stmt *out)
	__attribute__((warn_unused_result));

/* One parameter value of a Bind, in the text form its type's input reads. */
struct ins_param {
	const char *text;   /* NULL: the SQL NULL */
	size_t len;
	unsigned typoid;    /* the type the statement declares for it, 0 when none */
};

/* A copy of tmpl (from ins_parse_params) with each $n replaced by params[n-1]:
 * a string (or NULL) that keeps the parameter's cast and declared type. False
 * when out of memory or a $n has no parameter. */
bool ins_bind(const struct ins_stmt *tmpl, const struct ins_param *params, int nparams,
	      struct ins_stmt *out) __attribute__((warn_unused_result));

/* A short stable name for a reason ("expression", "returning", ...). */
const char *ins_reason_name(enum ins_reason r);

/* Cheap test: does the text start (after whitespace and comments) with INSERT? */
bool ins_looks_like_insert(const char *sql, size_t len);
/* Whether what follows the text's first top-level RETURNING is a list of plain
 * column references (name, *, name.*, each maybe with [AS] alias) and nothing
 * else but a ';': it calls no function and no operator (name.name is not
 * taken: it may be the call name(row)). */
bool ins_returning_plain(const char *sql, size_t len, bool scs_off);
/* Whether the text sets a custom setting (a dotted name: SET [SESSION |
 * LOCAL] a.b ..., RESET a.b) at the start of one of its statements, or calls
 * set_config() anywhere with a name that is not a plain literal without a dot.
 * PostgreSQL's pg_settings does not list such placeholders. A name in a string
 * or a comment is not a call. */
bool ins_sets_custom(const char *sql, size_t len, bool scs_off);
/* Whether the text is one transaction statement without options: BEGIN,
 * START TRANSACTION (1), COMMIT, END, ROLLBACK or ABORT (2), maybe with WORK
 * or TRANSACTION, and ';'s; else 0. (Not READ ONLY, AND CHAIN, a savepoint.) */
int ins_tx_plain(const char *sql, size_t len);

/* Identifier resolution: casesensitive=0 folds unquoted names to lower case
 * (ASCII, as PostgreSQL does) and keeps quoted ones; casesensitive=1 keeps
 * every name as written. Writes a NUL-terminated copy into buf (truncated to
 * buflen-1) and returns buf. */
char *ins_name_resolve(const struct ins_name *n, bool casesensitive, char *buf, size_t buflen);

#endif
