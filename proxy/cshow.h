/* The console's SHOW commands and the reply writer they share with console.c: RowDescription, DataRow (text or binary), CommandComplete, ErrorResponse. */
#ifndef PGBATCHD_PROXY_CSHOW_H
#define PGBATCHD_PROXY_CSHOW_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/pktbuf.h"

struct daemon;

#define OID_BOOL 16
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701
#define COUT_MAX_COLS 64

/* What a command writes: its RowDescription (Query, Describe), its rows
 * and tag (Query, Execute). */
enum { OUT_DESC = 1, OUT_ROWS = 2 };
/* RUN_WAIT: answered later (a FLUSH waits for its rows). */
enum run_result { RUN_OK = 0, RUN_ERROR, RUN_WAIT };

struct ccol {
	const char *name;
	uint32_t oid;
};

/* The replies being written, and the result formats of the portal's Bind
 * (used while fmt_on: a Describe of the portal, an Execute). */
struct cout {
	struct pktbuf pb;
	uint16_t nfmt;
	uint8_t fmt[COUT_MAX_COLS];
	bool fmt_on;
	bool fmt_bad;               /* more than one format, not one per column */
	int fmt_cols;               /* ... the columns then */
	uint32_t oids[COUT_MAX_COLS];
	int ncols, col;
};

void cout_columns(struct cout *o, const struct ccol *cols, int n, int mode);
void cout_row_begin(struct cout *o, int n);
void cout_cell(struct cout *o, const char *s);         /* NULL: SQL NULL */
void cout_u64(struct cout *o, uint64_t v);
void cout_i64(struct cout *o, int64_t v);
void cout_f(struct cout *o, double v);
void cout_bool(struct cout *o, bool v);
void cout_row_end(struct cout *o);
void cout_complete(struct cout *o, const char *tag, int mode);
void cout_complete_rows(struct cout *o, const char *verb, uint64_t n, int mode);
/* An ErrorResponse; returns RUN_ERROR. */
int cout_fail(struct cout *o, const char *sqlstate, const char *message, const char *hint);

int cshow_stats(struct daemon *d, struct cout *o, int mode);
int cshow_tables(struct daemon *d, struct cout *o, int mode);
int cshow_spool(struct daemon *d, struct cout *o, int mode);
int cshow_clients(struct daemon *d, struct cout *o, int mode);
int cshow_writers(struct daemon *d, struct cout *o, int mode);
int cshow_config(struct daemon *d, struct cout *o, int mode);
int cshow_passthrough(struct daemon *d, struct cout *o, int mode);
int cshow_rejects(struct daemon *d, struct cout *o, int mode);
int cshow_version(struct daemon *d, struct cout *o, int mode);

/* SHOW STATS's rates: totals kept when asked for, at most every
 * CSHOW_SAMPLE_SECONDS (at start-up too: the first rates are since then). */
#define CSHOW_SAMPLE_SECONDS 15
struct sink_stats;
void cshow_sample(struct daemon *d, const struct sink_stats *st);

#endif
