/* COPY ... FROM with the table's conflict clause (copyin.h): the staging rewrite of the Query, and its answer as a COPY into the table would give it. */
#include "proxy/copyin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "protocol/pgenc.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

#define STAGE_REF "pg_temp." COPYIN_STAGE
#define STAGE_REF_CHARS (sizeof(STAGE_REF) - 1)

struct copyin {
	char *relname;              /* the table's name, in the client's encoding */
	char *schema;               /* its schema, likewise */
	size_t prefix;              /* characters before the client's text */
	size_t name_at;             /* characters of the client's text before the table's name */
	size_t name_chars;          /* characters of that name as written */
	size_t stmt_chars;          /* characters of the client's text to the COPY's end */
	size_t total_chars;         /* characters of the client's whole text */
	bool own_semicolon;         /* its COPY is followed by a ';' of its own */
	uint8_t *tag;               /* the COPY's CommandComplete, held until the rows are in */
	size_t taglen;
	char *relname8, *schema8;   /* the table's names in UTF-8 (the sink's) */
	bool stale;                 /* the staging block found the table changed */
};

/* Characters of UTF-8 text s[0..n) (a position counts them). */
static size_t chars(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

/* UTF-8 text in the client's encoding, malloc'd; NULL when it cannot be written so. */
static char *in_client(const char *enc, const char *s, size_t *n)
{
	*n = strlen(s);
	if (pgenc_reads_as_utf8(enc, s, *n)) {
		char *d = malloc(*n + 1);

		if (d)
			memcpy(d, s, *n + 1);
		return d;
	}
	return pgenc_from_utf8(enc, s, *n, n);
}

bool copyin_build(const char *client, size_t clen, const char *sql, size_t len, const uint32_t *from,
		  const struct ins_site *s, const struct sink_copy *cp, const char *enc, struct buf *out,
		  struct copyin **info)
{
	struct copyin *ci;
	size_t name_start = from ? from[s->name_start] : s->name_start;
	size_t name_end = from ? from[s->name_end] : s->name_end;
	size_t stmt_end = from ? from[s->stmt_end] : s->stmt_end;
	size_t n, ncreate;
	char *insert, *create;

	*info = NULL;
	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		return false;
	ci->relname = in_client(enc, cp->relname, &n);
	ci->schema = in_client(enc, cp->schema, &n);
	ci->relname8 = strdup(cp->relname);
	ci->schema8 = strdup(cp->schema);
	create = in_client(enc, cp->create, &ncreate);
	insert = in_client(enc, cp->insert, &n);
	if (!ci->relname || !ci->schema || !ci->relname8 || !ci->schema8 || !create || !insert) {
		free(create);
		free(insert);
		copyin_free(ci);
		return false;
	}
	/* the columns COPY fills, as they are when it runs (sink_copy) */
	buf_append(out, create, ncreate);
	buf_puts(out, "; ");
	ci->prefix = chars(cp->create, strlen(cp->create)) + 2;
	buf_append(out, client, name_start);
	buf_puts(out, STAGE_REF);
	buf_append(out, client + name_end, stmt_end - name_end);
	/* (a newline: the client's statement may end in a -- comment) */
	buf_puts(out, "\n; ");
	buf_append(out, insert, n);
	buf_puts(out, "; DROP TABLE " STAGE_REF);
	buf_append(out, client + stmt_end, clen - stmt_end);
	free(create);
	free(insert);
	ci->name_at = chars(sql, s->name_start);
	ci->name_chars = chars(sql + s->name_start, s->name_end - s->name_start);
	ci->stmt_chars = chars(sql, s->stmt_end);
	ci->total_chars = chars(sql, len);
	ci->own_semicolon = s->stmt_end < len && sql[s->stmt_end] == ';';
	if (!buf_ok(out)) {
		copyin_free(ci);
		return false;
	}
	*info = ci;
	return true;
}

void copyin_free(struct copyin *ci)
{
	if (ci == NULL)
		return;
	free(ci->relname);
	free(ci->schema);
	free(ci->relname8);
	free(ci->schema8);
	free(ci->tag);
	free(ci);
}

bool copyin_reads(uint8_t type)
{
	return type == 'C' || type == 'E' || type == 'N';
}

/* A position in the Query sent as one in the client's text; 0 when it is
 * in a statement of pgbatchd's. *at_end: it is the ';' pgbatchd put after
 * the client's COPY, where the client's text ended (a syntax error there
 * is "at end of input"). */
static size_t client_position(const struct copyin *ci, size_t pos, bool *at_end)
{
	size_t q, end = ci->stmt_chars - ci->name_chars + STAGE_REF_CHARS;

	*at_end = false;
	if (pos <= ci->prefix)
		return 0;
	q = pos - ci->prefix;
	if (q == end + 2) {
		/* our ';' (after the '\n'): the client's own, or the end of its text */
		*at_end = !ci->own_semicolon;
		return ci->own_semicolon ? ci->stmt_chars + 1 : ci->total_chars + 1;
	}
	if (q > end)
		return 0;
	if (q <= ci->name_at)
		return q;
	if (q <= ci->name_at + STAGE_REF_CHARS)
		return ci->name_at + 1;
	return q - STAGE_REF_CHARS + ci->name_chars;
}

static bool ident_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       ch == '$' || (ch & 0x80);
}

/* Where "pg_temp." or "pg_temp_N." ends right before p in v: its start, else p. */
static const char *temp_prefix(const char *v, const char *p)
{
	const char *q = p;

	if (q == v || q[-1] != '.')
		return p;
	q--;
	while (q > v && q[-1] >= '0' && q[-1] <= '9')
		q--;
	if (q < p - 1 && q > v && q[-1] == '_')
		q--;
	else if (q != p - 1)
		return p;               /* digits without the '_' */
	if (q - v >= 7 && strncmp(q - 7, "pg_temp", 7) == 0 && (q - 7 == v || !ident_char(q[-8])))
		return q - 7;
	return p;
}

/* A field's text with the staging table's name, where it is a whole name
 * (its temporary schema before it or not), made the table's. */
static void put_field(struct pktbuf *m, const struct copyin *ci, const char *v)
{
	const char *p, *from = v, *at = v, *q;
	size_t n = strlen(COPYIN_STAGE);

	while ((p = strstr(at, COPYIN_STAGE)) != NULL) {
		at = p + n;
		q = temp_prefix(v, p);
		if ((q == p && p > v && ident_char(p[-1])) || ident_char(p[n]) || q < from)
			continue;           /* part of another name */
		pkt_put_bytes(m, from, (size_t)(q - from));
		pkt_put_bytes(m, ci->relname, strlen(ci->relname));
		from = at;
	}
	pkt_put_cstring(m, from);
}

void copyin_relay(struct copyin *ci, const uint8_t *msg, size_t total, struct evbuffer *out)
{
	const char *body = (const char *)msg + PKT_HDR_LEN, *end = (const char *)msg + total;
	struct pktbuf m;
	bool stage_table = false, at_end = false, stale_code = false;
	size_t pos = 0;
	char num[32];

	if (msg[0] == 'C') {
		/* the COPY's count, once the INSERT and the DROP that follow it
		 * are done too (an error there is the COPY's only answer); the
		 * other statements are pgbatchd's */
		if (total > PKT_HDR_LEN + 5 && memcmp(body, "COPY ", 5) == 0) {
			free(ci->tag);
			if ((ci->tag = malloc(total)) != NULL) {
				memcpy(ci->tag, msg, total);
				ci->taglen = total;
			}
		} else if (total >= PKT_HDR_LEN + 11 && memcmp(body, "DROP TABLE", 11) == 0 && ci->tag) {
			evbuffer_add(out, ci->tag, ci->taglen);
		}
		return;
	}
	if (total <= PKT_HDR_LEN || msg[total - 1] != '\0') {
		evbuffer_add(out, msg, total);      /* not fields: as it came */
		return;
	}
	/* ErrorResponse, NoticeResponse: first what decides how its fields read */
	for (const char *f = body; f < end && *f; f += strlen(f + 1) + 2) {
		if (*f == 't' && strcmp(f + 1, COPYIN_STAGE) == 0)
			stage_table = true;
		else if (*f == 'P')
			pos = client_position(ci, (size_t)strtoul(f + 1, NULL, 10), &at_end);
		else if (*f == 'C')
			stale_code = strcmp(f + 1, "55000") == 0;
	}
	for (const char *f = body; f < end && *f; f += strlen(f + 1) + 2)
		if (msg[0] == 'E' && *f == 'M' && stale_code && strstr(f + 1, SINK_COPY_STALE))
			ci->stale = true;   /* the staging block's: the table is read again */
	pkt_init(&m);
	pkt_begin(&m, (char)msg[0]);
	for (const char *f = body; f < end && *f; f += strlen(f + 1) + 2) {
		const char *v = f + 1;

		switch (*f) {
		case 'P':
			if (pos == 0)
				continue;
			snprintf(num, sizeof(num), "%zu", pos);
			pkt_put_u8(&m, 'P');
			pkt_put_cstring(&m, num);
			continue;
		case 'M':
			pkt_put_u8(&m, 'M');
			if (at_end && strcmp(v, "syntax error at or near \";\"") == 0)
				pkt_put_cstring(&m, "syntax error at end of input");
			else
				put_field(&m, ci, v);
			continue;
		case 's':
			pkt_put_u8(&m, 's');
			pkt_put_cstring(&m, stage_table ? ci->schema : v);
			continue;
		case 'S': case 'V': case 'C': case 'F': case 'L': case 'R':
			pkt_put_u8(&m, (uint8_t)*f);
			pkt_put_cstring(&m, v);
			continue;
		default:
			pkt_put_u8(&m, (uint8_t)*f);
			put_field(&m, ci, v);
		}
	}
	pkt_put_u8(&m, 0);
	pkt_end(&m);
	if (pkt_ok(&m))
		evbuffer_add(out, m.data, m.len);
	else
		evbuffer_add(out, msg, total);
	pkt_free(&m);
}

bool copyin_stale(const struct copyin *ci, const char **schema, const char **table)
{
	*schema = ci->schema8;
	*table = ci->relname8;
	return ci->stale;
}
