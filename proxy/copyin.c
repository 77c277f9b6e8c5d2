/* COPY ... FROM with the table's conflict clause (copyin.h): the staging rewrite of the Query, and its answer as a COPY into the table would give it. */
#include "proxy/copyin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "protocol/pgenc.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"

#define STAGE_REF "pg_temp." COPYIN_STAGE
#define STAGE_REF_CHARS (sizeof(STAGE_REF) - 1)

struct copyin {
	char *relname;              /* the table's name, in the client's encoding */
	char *schema;               /* its schema, likewise */
	size_t prefix;              /* characters before the client's text */
	size_t name_at;             /* characters of the client's text before the table's name */
	size_t name_chars;          /* characters of that name as written */
	size_t stmt_chars;          /* characters of the client's text to the COPY's end */
	uint8_t *tag;               /* the COPY's CommandComplete, held until the rows are in */
	size_t taglen;
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
	size_t start = out->len, n;
	char *insert;

	(void)len;
	*info = NULL;
	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		return false;
	ci->relname = in_client(enc, cp->relname, &n);
	ci->schema = in_client(enc, cp->schema, &n);
	insert = in_client(enc, cp->insert, &n);
	if (!ci->relname || !ci->schema || !insert) {
		free(insert);
		copyin_free(ci);
		return false;
	}
	/* the columns COPY fills, as they are when it runs */
	buf_printf(out, "DO $pgbatchd$BEGIN EXECUTE (SELECT 'CREATE TEMP TABLE " COPYIN_STAGE " (' || "
		   "pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' || "
		   "pg_catalog.format_type(a.atttypid, a.atttypmod) || COALESCE((SELECT ' COLLATE ' || "
		   "pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(o.collname) "
		   "FROM pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace "
		   "WHERE o.oid = a.attcollation), ''), ', ' ORDER BY a.attnum) || ')' "
		   "FROM pg_catalog.pg_attribute a WHERE a.attrelid = %u AND a.attnum > 0 "
		   "AND NOT a.attisdropped AND a.attgenerated = ''); END$pgbatchd$; ", cp->oid);
	ci->prefix = out->len - start;
	buf_append(out, client, name_start);
	buf_puts(out, STAGE_REF);
	buf_append(out, client + name_end, stmt_end - name_end);
	buf_puts(out, "; ");
	buf_append(out, insert, n);
	buf_puts(out, "; DROP TABLE " STAGE_REF);
	buf_append(out, client + stmt_end, clen - stmt_end);
	free(insert);
	ci->name_at = chars(sql, s->name_start);
	ci->name_chars = chars(sql + s->name_start, s->name_end - s->name_start);
	ci->stmt_chars = chars(sql, s->stmt_end);
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
	free(ci->tag);
	free(ci);
}

bool copyin_reads(uint8_t type)
{
	return type == 'C' || type == 'E' || type == 'N';
}

/* A position in the Query sent as one in the client's text; 0 when it is
 * in a statement of pgbatchd's. */
static size_t client_position(const struct copyin *ci, size_t pos)
{
	size_t q, end = ci->stmt_chars - ci->name_chars + STAGE_REF_CHARS;

	if (pos <= ci->prefix || pos - ci->prefix > end)
		return 0;
	q = pos - ci->prefix;
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

/* A field's text with the staging table's name, where it is a whole name
 * (pg_temp. before it or not), made the table's. */
static void put_field(struct pktbuf *m, const struct copyin *ci, const char *v)
{
	const char *p, *from = v, *at = v;
	size_t n = strlen(COPYIN_STAGE);

	while ((p = strstr(at, COPYIN_STAGE)) != NULL) {
		at = p + n;
		if ((p > v && ident_char(p[-1]) && !(p - v >= 8 && strncmp(p - 8, "pg_temp.", 8) == 0)) ||
		    ident_char(p[n]))
			continue;           /* part of another name */
		if (p - v >= 8 && strncmp(p - 8, "pg_temp.", 8) == 0 && p - 8 >= from)
			p -= 8;
		pkt_put_bytes(m, from, (size_t)(p - from));
		pkt_put_bytes(m, ci->relname, strlen(ci->relname));
		from = at;
	}
	pkt_put_cstring(m, from);
}

void copyin_relay(struct copyin *ci, const uint8_t *msg, size_t total, struct evbuffer *out)
{
	const char *body = (const char *)msg + PKT_HDR_LEN, *end = (const char *)msg + total;
	struct pktbuf m;
	bool stage_table = false;
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
	/* ErrorResponse, NoticeResponse: the table where the staging table is named */
	for (const char *f = body; f < end && *f; f += strlen(f + 1) + 2)
		if (*f == 't' && strcmp(f + 1, COPYIN_STAGE) == 0)
			stage_table = true;
	pkt_init(&m);
	pkt_begin(&m, (char)msg[0]);
	for (const char *f = body; f < end && *f; f += strlen(f + 1) + 2) {
		const char *v = f + 1;

		switch (*f) {
		case 'P': {
			size_t pos = client_position(ci, (size_t)strtoul(v, NULL, 10));

			if (pos == 0)
				continue;
			snprintf(num, sizeof(num), "%zu", pos);
			pkt_put_u8(&m, 'P');
			pkt_put_cstring(&m, num);
			continue;
		}
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
