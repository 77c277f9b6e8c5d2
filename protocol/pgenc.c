/* Client encodings (pgenc.h) through iconv: PostgreSQL's encoding names mapped to iconv's. */
#include "protocol/pgenc.h"

#include <errno.h>
#include <stdint.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *pg, *iconv;
} names[] = {
	{ "LATIN1", "ISO-8859-1" }, { "LATIN2", "ISO-8859-2" }, { "LATIN3", "ISO-8859-3" },
	{ "LATIN4", "ISO-8859-4" }, { "LATIN5", "ISO-8859-9" }, { "LATIN6", "ISO-8859-10" },
	{ "LATIN7", "ISO-8859-13" }, { "LATIN8", "ISO-8859-14" }, { "LATIN9", "ISO-8859-15" },
	{ "LATIN10", "ISO-8859-16" }, { "ISO_8859_5", "ISO-8859-5" }, { "ISO_8859_6", "ISO-8859-6" },
	{ "ISO_8859_7", "ISO-8859-7" }, { "ISO_8859_8", "ISO-8859-8" }, { "WIN1250", "CP1250" },
	{ "WIN1251", "CP1251" }, { "WIN1252", "CP1252" }, { "WIN1253", "CP1253" }, { "WIN1254", "CP1254" },
	{ "WIN1255", "CP1255" }, { "WIN1256", "CP1256" }, { "WIN1257", "CP1257" }, { "WIN1258", "CP1258" },
	{ "WIN866", "CP866" }, { "WIN874", "CP874" }, { "KOI8R", "KOI8-R" }, { "KOI8U", "KOI8-U" },
	{ "EUC_JP", "EUC-JP" }, { "EUC_CN", "EUC-CN" }, { "EUC_KR", "EUC-KR" }, { "EUC_TW", "EUC-TW" },
	{ "EUC_JIS_2004", "EUC-JISX0213" }, { "SJIS", "CP932" }, { "SHIFT_JIS_2004", "SHIFT_JISX0213" },
	{ "BIG5", "BIG5" }, { "GBK", "GBK" }, { "GB18030", "GB18030" }, { "UHC", "CP949" },
	{ "JOHAB", "JOHAB" },
};

static const char *iconv_name(const char *enc)
{
	for (size_t i = 0; enc && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(enc, names[i].pg) == 0)
			return names[i].iconv;
	return NULL;
}

bool pgenc_reads_as_utf8(const char *enc, const char *s, size_t len)
{
	if (enc == NULL || strcasecmp(enc, "UTF8") == 0 || strcasecmp(enc, "UTF-8") == 0 ||
	    strcasecmp(enc, "SQL_ASCII") == 0)
		return true;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Room for n more bytes of UTF-8 text (and its offsets, and a NUL). */
static bool reserve(struct pgenc_text *t, size_t *cap, size_t n)
{
	size_t want = t->len + n + 1, c = *cap;
	char *s;
	uint32_t *from;

	if (want <= c)
		return true;
	while (c < want)
		c = c < 64 ? 64 : c * 2;
	if ((s = realloc(t->s, c)) == NULL)
		return false;
	t->s = s;
	if ((from = realloc(t->from, c * sizeof(*from))) == NULL)
		return false;
	t->from = from;
	*cap = c;
	return true;
}

bool pgenc_to_utf8(const char *enc, const char *s, size_t len, struct pgenc_text *out)
{
	const char *name = iconv_name(enc);
	size_t cap = 0;
	iconv_t cd;

	memset(out, 0, sizeof(*out));
	if (name == NULL || len >= ((size_t)1 << 30) || (cd = iconv_open("UTF-8", name)) == (iconv_t)-1)
		return false;
	if (!reserve(out, &cap, len + len / 4 + 16))
		goto fail;
	for (size_t i = 0; i < len;) {
		size_t n;

		if (!reserve(out, &cap, 16))
			goto fail;
		if ((unsigned char)s[i] < 0x80) {
			out->from[out->len] = (uint32_t)i;
			out->s[out->len++] = s[i++];
			continue;
		}
		/* one character: as many bytes as the encoding needs */
		for (n = 1; n <= 4 && i + n <= len; n++) {
			char *in = (char *)(uintptr_t)(s + i), *dst = out->s + out->len;
			size_t inleft = n, outleft = 16;

			iconv(cd, NULL, NULL, NULL, NULL);
			if (iconv(cd, &in, &inleft, &dst, &outleft) != (size_t)-1 && inleft == 0) {
				for (char *p = out->s + out->len; p < dst; p++)
					out->from[out->len++] = (uint32_t)i;
				break;
			}
			if (errno != EINVAL)
				goto fail;
		}
		if (n > 4 || i + n > len)
			goto fail;
		i += n;
	}
	out->s[out->len] = '\0';
	out->from[out->len] = (uint32_t)len;
	iconv_close(cd);
	return true;
fail:
	iconv_close(cd);
	pgenc_text_free(out);
	return false;
}

void pgenc_text_free(struct pgenc_text *t)
{
	free(t->s);
	free(t->from);
	memset(t, 0, sizeof(*t));
}

char *pgenc_from_utf8(const char *enc, const char *s, size_t len, size_t *outlen)
{
	const char *name = iconv_name(enc);
	size_t cap = len * 4 + 1, inleft = len, outleft = cap - 1;
	char *out, *in = (char *)(uintptr_t)s, *dst;
	iconv_t cd;

	if (name == NULL || (cd = iconv_open(name, "UTF-8")) == (iconv_t)-1)
		return NULL;
	out = dst = malloc(cap);
	if (out == NULL || iconv(cd, &in, &inleft, &dst, &outleft) == (size_t)-1) {
		free(out);
		iconv_close(cd);
		return NULL;
	}
	iconv_close(cd);
	*dst = '\0';
	*outlen = (size_t)(dst - out);
	return out;
}
