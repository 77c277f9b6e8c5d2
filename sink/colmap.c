/* The mapping of recognized INSERT values onto a table's columns (typed literals, numbers, booleans); no I/O. */
#include "sink/internal.h"

#include "protocol/binval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- type names and value mapping (pure) ---- */

static const struct { const char *alias; const char *name; } type_aliases[] = {
	{ "int", "integer" }, { "int4", "integer" }, { "integer", "integer" },
	{ "int2", "smallint" }, { "smallint", "smallint" },
	{ "int8", "bigint" }, { "bigint", "bigint" },
	{ "float4", "real" }, { "real", "real" },
	{ "float8", "double precision" }, { "double precision", "double precision" },
	{ "float", "double precision" },
	{ "bool", "boolean" }, { "boolean", "boolean" },
	{ "varchar", "character varying" }, { "character varying", "character varying" },
	{ "char", "character" }, { "character", "character" }, { "bpchar", "bpchar" },
	{ "decimal", "numeric" }, { "dec", "numeric" }, { "numeric", "numeric" },
	{ "timestamp", "timestamp without time zone" },
	{ "timestamp without time zone", "timestamp without time zone" },
	{ "timestamptz", "timestamp with time zone" },
	{ "timestamp with time zone", "timestamp with time zone" },
	{ "time", "time without time zone" }, { "time without time zone", "time without time zone" },
	{ "timetz", "time with time zone" }, { "time with time zone", "time with time zone" },
	{ "varbit", "bit varying" }, { "bit varying", "bit varying" },
};

bool catalog_norm_type(const char *in, char *out, size_t outlen, bool *has_mod)
{
	char base[128], mod[64], *p;
	const char *s = in, *paren, *close, *name;
	size_t blen, arrays = 0, mlen = 0, n;
	int w;

	*has_mod = false;
	if (strncmp(s, "pg_catalog.", 11) == 0)
		s += 11;
	n = strlen(s);
	while (n >= 2 && s[n - 2] == '[' && s[n - 1] == ']') {
		arrays++;
		n -= 2;
		while (n > 0 && s[n - 1] == ' ')
			n--;
	}
	paren = memchr(s, '(', n);
	blen = paren ? (size_t)(paren - s) : n;
	while (blen > 0 && s[blen - 1] == ' ')
		blen--;
	if (blen == 0 || blen >= sizeof(base))
		return false;
	memcpy(base, s, blen);
	base[blen] = '\0';
	if (paren) {
		close = memchr(paren, ')', n - (size_t)(paren - s));
		if (close == NULL)
			return false;
		for (p = (char *)paren + 1; p < close; p++)
			if (*p != ' ' && mlen + 1 < sizeof(mod))
				mod[mlen++] = *p;
		mod[mlen] = '\0';
		*has_mod = true;
		/* "timestamp(3) with time zone": the zone words follow the modifier */
		if ((size_t)(close + 1 - s) < n) {
			size_t rest = n - (size_t)(close + 1 - s);

			if (blen + rest >= sizeof(base))
				return false;
			memcpy(base + blen, close + 1, rest);
			base[blen + rest] = '\0';
		}
	}
	name = base;
	for (w = 0; w < (int)(sizeof(type_aliases) / sizeof(type_aliases[0])); w++)
		if (strcmp(base, type_aliases[w].alias) == 0) {
			name = type_aliases[w].name;
			break;
		}
	if (strcmp(base, "float") == 0 && *has_mod) {
		name = atoi(mod) <= 24 ? "real" : "double precision";
		*has_mod = false;
	}
	if ((strcmp(name, "character") == 0 || strcmp(base, "bit") == 0) && !*has_mod) {
		snprintf(mod, sizeof(mod), "1");
		*has_mod = true;
	}
	if (*has_mod && strncmp(name, "time", 4) == 0 && strchr(name, ' ')) {
		const char *rest = strchr(name, ' ');

		w = snprintf(out, outlen, "%.*s(%s)%s", (int)(rest - name), name, mod, rest);
	} else if (*has_mod) {
		w = snprintf(out, outlen, "%s(%s)", name, mod);
	} else {
		w = snprintf(out, outlen, "%s", name);
	}
	if (w < 0 || (size_t)w >= outlen)
		return false;
	for (; arrays > 0; arrays--) {
		if ((size_t)w + 2 >= outlen)
			return false;
		out[w++] = '[';
		out[w++] = ']';
		out[w] = '\0';
	}
	return true;
}

bool catalog_cast_ok(const struct ccol *cx, const char *cast)
{
	char norm[256];
	bool has_mod;

	if (!catalog_norm_type(cast, norm, sizeof(norm), &has_mod))
		return false;
	if (strcmp(norm, cx->decl) == 0)
		/* An explicit cast to a length cuts the value ('abcdef'::varchar(3) is
		 * 'abc') where the column's assignment refuses it (22001): such a value
		 * is left to the database. Other modifiers round alike both ways. */
		return !has_mod || (strncmp(norm, "character", 9) != 0 && strncmp(norm, "bit", 3) != 0);
	/* A cast without a modifier reads the text with the input function; the
	 * column's modifier then applies as an assignment, as it would directly. */
	return !has_mod && strcmp(norm, cx->decl_nomod) == 0;
}

static bool integer_text(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i == n)
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool zero_text(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == 'e' || s[i] == 'E')
			break;
		if (s[i] != '-' && s[i] != '+' && s[i] != '.' && s[i] != '0')
			return false;
	}
	return true;
}

bool catalog_param_ok(uint32_t from, uint32_t to)
{
	if (from == to || from == OID_UNKNOWN)
		return true;
	switch (from) {
	case OID_INT2:
		return to == OID_INT4 || to == OID_INT8 || to == OID_NUMERIC;
	case OID_INT4:
		return to == OID_INT8 || to == OID_NUMERIC;
	case OID_INT8:
		return to == OID_NUMERIC;
	case OID_TEXT:
	case OID_VARCHAR:
		return to == OID_TEXT || to == OID_VARCHAR || to == OID_BPCHAR;
	case OID_NAME:
		return to == OID_TEXT || to == OID_VARCHAR;
	default:
		return false;
	}
}

bool catalog_value(const struct tcat *c, int col, const struct ins_value *v, struct sg_val *out,
		   enum pass_reason *why)
{
	const struct ccol *cx = &c->cx[col];

	out->text = NULL;
	out->len = 0;
	if (v->kind == INS_DEFAULT) {
		out->state = cx->generated || cx->identity_always ? SG_OMIT : SG_DEFAULT;
		return true;
	}
	if (cx->generated || cx->identity_always) {
		*why = PASS_GENERATED;
		return false;
	}
	if (v->cast && !catalog_cast_ok(cx, v->cast)) {
		*why = PASS_CAST;
		return false;
	}
	if (v->typoid && v->typoid != cx->typid && !catalog_param_ok(v->typoid, cx->basetype)) {
		*why = PASS_PARAM_TYPE;
		return false;
	}
	switch (v->kind) {
	case INS_NULL:
		out->state = SG_NULL;
		return true;
	case INS_STRING:
		break;
	case INS_NUMBER:
		switch (cx->basetype) {
		case 20: case 21: case 23:
			if (!integer_text(v->text, v->len)) {
				*why = PASS_NUMBER_TYPE;
				return false;
			}
			break;
		case 700: case 701:
			if (v->len > 0 && v->text[0] == '-' && zero_text(v->text, v->len)) {
				/* the literal -0 is the integer 0, or numeric 0: positive zero */
				out->state = SG_VALUE;
				out->text = v->text + 1;
				out->len = (uint32_t)(v->len - 1);
				return true;
			}
			break;
		case 1700:
			break;
		default:
			*why = PASS_NUMBER_TYPE;
			return false;
		}
		break;
	case INS_BOOL:
		if (cx->basetype == 16) {
			out->state = SG_VALUE;
			out->text = strcmp(v->text, "true") == 0 ? "t" : "f";
			out->len = 1;
			return true;
		}
		if (cx->basetype == 25 || cx->basetype == 1043 || cx->basetype == 1042)
			break;      /* the assignment cast writes "true" / "false" */
		*why = PASS_BOOL_TYPE;
		return false;
	default:
		*why = PASS_CAST;
		return false;
	}
	if (v->len > UINT32_MAX) {
		*why = PASS_MEMORY;
		return false;
	}
	out->state = SG_VALUE;
	out->text = v->text;
	out->len = (uint32_t)v->len;
	return true;
}


/* ---- values that read the same under other settings ---- */

static size_t digits(const char *s, size_t n, size_t i)
{
	size_t j = i;

	while (j < n && s[j] >= '0' && s[j] <= '9')
		j++;
	return j - i;
}

/* [+-]hh[[:]mm[[:]ss]] or Z, from s[*i] */
static bool zone_part(const char *s, size_t n, size_t *i)
{
	size_t d;

	if (*i < n && s[*i] == 'Z') {
		(*i)++;
		return true;
	}
	if (*i >= n || (s[*i] != '+' && s[*i] != '-'))
		return false;
	(*i)++;
	d = digits(s, n, *i);
	if (d != 2 && d != 4 && d != 6)
		return false;
	*i += d;
	for (int k = 0; k < 2 && d == 2 && *i < n && s[*i] == ':'; k++) {
		if (digits(s, n, *i + 1) != 2)
			return false;
		*i += 3;
	}
	return true;
}

/* hh:mm[:ss[.f]] from s[*i] */
static bool time_part(const char *s, size_t n, size_t *i)
{
	if (digits(s, n, *i) != 2 || *i + 2 >= n || s[*i + 2] != ':' || digits(s, n, *i + 3) != 2)
		return false;
	*i += 5;
	if (*i < n && s[*i] == ':') {
		if (digits(s, n, *i + 1) != 2)
			return false;
		*i += 3;
		if (*i < n && s[*i] == '.') {
			size_t d = digits(s, n, *i + 1);
			if (d == 0)
				return false;
			*i += 1 + d;
		}
	}
	return true;
}

/* An ISO 8601 date, time or timestamp as PostgreSQL writes it: read the same
 * under every DateStyle; with a zone (when one is needed) under every TimeZone. */
static bool iso_text(const char *s, size_t n, bool date, bool time, bool zone)
{
	size_t i = 0, d;
	bool has_zone = false;

	if ((n == 8 && strncmp(s, "infinity", 8) == 0) || (n == 9 && strncmp(s, "-infinity", 9) == 0))
		return date;
	if (date) {
		d = digits(s, n, 0);
		if (d < 4 || d + 6 > n || s[d] != '-' || digits(s, n, d + 1) != 2 || s[d + 3] != '-' ||
		    digits(s, n, d + 4) != 2)
			return false;
		i = d + 6;
		if (i < n && (s[i] == ' ' || s[i] == 'T') && time) {
			i++;
			if (!time_part(s, n, &i))
				return false;
			has_zone = zone_part(s, n, &i);
		}
	} else {
		if (!time_part(s, n, &i))
			return false;
		has_zone = zone_part(s, n, &i);
	}
	if (date && n - i == 3 && strncmp(s + i, " BC", 3) == 0)
		i += 3;
	return i == n && (has_zone || !zone);
}

bool catalog_is_key(const struct tcat *c, int col)
{
	for (int k = 0; k < c->t.nkey; k++)
		if (c->t.key[k] == col)
			return true;
	return false;
}

bool catalog_setting_free(const struct tcat *c, int col, const struct ins_value *v, unsigned diff)
{
	const struct ccol *cx = &c->cx[col];
	bool tz = diff & 1u, ds = diff & 2u, is = diff & 4u, xo = diff & 32u;

	if (v->kind != INS_STRING)
		return true;
	if (cx->category == 'A')
		return false;
	if (cx->basetype == 142)        /* xml: xmloption decides what is accepted */
		return !xo;
	switch (cx->basetype) {
	case OID_DATE:
	case OID_TIMESTAMP:
		return !(tz || ds) || iso_text(v->text, v->len, true, true, false);
	case OID_TIMESTAMPTZ:
		return !(tz || ds) || iso_text(v->text, v->len, true, true, tz);
	case OID_TIME:
		return !tz || iso_text(v->text, v->len, false, true, false);
	case OID_TIMETZ:
		return !tz || iso_text(v->text, v->len, false, true, true);
	case OID_INTERVAL:
		return !is;
	default:
		return true;
	}
}
