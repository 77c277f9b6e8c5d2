/* The [backend] url: jdbc:postgresql://, postgresql:// URIs and libpq key=value text, parsed into a backend_addr. */
#include "conf/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

struct url_parse {
	struct backend_addr a;
	struct sbuf opts;
	bool jdbc_ssl;          /* jdbc ssl=true seen */
	bool have_sslmode;
	char *err;
	size_t errlen;
};

static bool url_fail(struct url_parse *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool url_fail(struct url_parse *u, const char *fmt, ...)
{
	va_list ap;

	if (u->err != NULL && u->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(u->err, u->errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool set_str(struct url_parse *u, char **dst, const char *v)
{
	char *c = strdup(v);

	if (c == NULL)
		return url_fail(u, "out of memory");
	free(*dst);
	*dst = c;
	return true;
}

static bool set_port(struct url_parse *u, const char *v)
{
	long p = 0;

	if (v[0] == '\0')
		return url_fail(u, "empty port");
	for (const char *c = v; *c; c++) {
		if (!isdigit((unsigned char)*c) || p > 65535)
			return url_fail(u, "port \"%.20s\" is not a number in 1..65535", v);
		p = p * 10 + (*c - '0');
	}
	if (p < 1 || p > 65535)
		return url_fail(u, "port %ld is out of range 1..65535", p);
	u->a.port = (int)p;
	return true;
}

static bool set_host(struct url_parse *u, const char *v)
{
	if (v[0] == '\0')
		return url_fail(u, "empty host");
	if (strchr(v, ',') != NULL)
		return url_fail(u, "several hosts are not supported");
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return url_fail(u, "control character in host");
	return set_str(u, &u->a.host, v);
}

/* One parameter from any url form. Unknown ones become libpq "k='v'" text. */
static bool apply_param(struct url_parse *u, const char *k, const char *v)
{
	if (strcmp(k, "host") == 0)
		return set_host(u, v);
	if (strcmp(k, "port") == 0)
		return set_port(u, v);
	if (strcmp(k, "dbname") == 0)
		return set_str(u, &u->a.dbname, v);
	if (strcmp(k, "user") == 0)
		return set_str(u, &u->a.user, v);
	if (strcmp(k, "password") == 0)
		return set_str(u, &u->a.password, v);
	if (k[0] == '\0')
		return url_fail(u, "empty parameter name");
	for (const char *c = k; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return url_fail(u, "bad parameter name \"%.40s\"", k);
	if (strcmp(k, "sslmode") == 0)
		u->have_sslmode = true;
	if (u->opts.len > 0)
		sb_putc(&u->opts, ' ');
	sb_puts(&u->opts, k);
	sb_puts(&u->opts, "='");
	for (const char *c = v; *c; c++) {
		if (*c == '\'' || *c == '\\')
			sb_putc(&u->opts, '\\');
		sb_putc(&u->opts, *c);
	}
	sb_putc(&u->opts, '\'');
	if (u->opts.oom)
		return url_fail(u, "out of memory");
	return true;
}

/* pgjdbc's names for the parameters libpq spells differently. */
static bool apply_jdbc_param(struct url_parse *u, const char *k, const char *v)
{
	static const struct { const char *jdbc, *libpq; } renames[] = {
		{ "ApplicationName", "application_name" },
		{ "connectTimeout", "connect_timeout" },
	};

	for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++)
		if (strcmp(k, renames[i].jdbc) == 0)
			return apply_param(u, renames[i].libpq, v);
	if (strcmp(k, "ssl") == 0) {
		/* pgjdbc: ssl=true without sslmode means verify-full */
		if (strcasecmp(v, "true") == 0)
			u->jdbc_ssl = true;
		else if (strcasecmp(v, "false") != 0)
			return url_fail(u, "ssl must be true or false");
		return true;
	}
	return apply_param(u, k, v);
}

/* Percent-decodes s[0..n) into a new string. */
static char *pct_decode(struct url_parse *u, const char *s, size_t n, const char *what)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL) {
		url_fail(u, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			free(out);
			url_fail(u, "truncated %%-escape in the %s", what);
			return NULL;
		}
		if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])) {
			free(out);
			url_fail(u, "bad %%-escape in the %s", what);
			return NULL;
		}
		{
			char hex[3] = { s[i + 1], s[i + 2], '\0' };
			long c = strtol(hex, NULL, 16);

			if (c == 0) {
				free(out);
				url_fail(u, "%%00 in the %s", what);
				return NULL;
			}
			out[o++] = (char)c;
		}
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/* Decodes s[0..n) into *dst. */
static bool decode_into(struct url_parse *u, const char *s, size_t n, const char *what, char **dst)
{
	char *v = pct_decode(u, s, n, what);

	if (v == NULL)
		return false;
	free(*dst);
	*dst = v;
	return true;
}

static bool parse_query(struct url_parse *u, const char *q, bool jdbc)
{
	while (*q != '\0') {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		char *k = NULL, *v = NULL;
		bool ok;

		if (n == 0) {
			q++;
			continue;
		}
		if (eq == NULL)
			return url_fail(u, "query parameter \"%.*s\" has no '='", (int)(n > 40 ? 40 : n), q);
		ok = (k = pct_decode(u, q, (size_t)(eq - q), "parameter name")) != NULL
			&& (v = pct_decode(u, eq + 1, n - (size_t)(eq + 1 - q), "parameter value")) != NULL
			&& (jdbc ? apply_jdbc_param(u, k, v) : apply_param(u, k, v));
		free(k);
		free(v);
		if (!ok)
			return false;
		q += n;
		if (*q == '&')
			q++;
	}
	return true;
}

/* s is what follows "scheme://": [user[:password]@]host[:port][/db][?query] */
static bool parse_uri(struct url_parse *u, const char *s, bool jdbc)
{
	size_t alen = strcspn(s, "/?");
	const char *aend = s + alen, *hp = s, *at = NULL, *hend, *port = NULL, *p;
	char *host = NULL;
	bool ok;

	for (const char *c = s; c < aend; c++)
		if (*c == '@')
			at = c;
	if (at != NULL) {
		const char *colon = memchr(s, ':', (size_t)(at - s));

		if (!decode_into(u, s, (size_t)((colon ? colon : at) - s), "user name", &u->a.user))
			return false;
		if (colon != NULL && !decode_into(u, colon + 1, (size_t)(at - colon - 1), "password", &u->a.password))
			return false;
		if (u->a.user[0] == '\0') {
			free(u->a.user);
			u->a.user = NULL;
		}
		hp = at + 1;
	}
	if (memchr(hp, ',', (size_t)(aend - hp)) != NULL)
		return url_fail(u, "several hosts are not supported");
	if (*hp == '[') {
		const char *close = memchr(hp, ']', (size_t)(aend - hp));

		if (close == NULL)
			return url_fail(u, "unterminated [ in the host");
		if (close + 1 < aend && close[1] != ':')
			return url_fail(u, "unexpected text after ] in the host");
		if (close + 1 < aend)
			port = close + 2;
		hp++;
		hend = close;
	} else {
		const char *colon = memchr(hp, ':', (size_t)(aend - hp));

		if (colon != NULL && memchr(colon + 1, ':', (size_t)(aend - colon - 1)) != NULL)
			return url_fail(u, "an IPv6 host must be written in [brackets]");
		hend = colon ? colon : aend;
		if (colon != NULL)
			port = colon + 1;
	}
	if (hend > hp) {
		host = pct_decode(u, hp, (size_t)(hend - hp), "host");
		ok = host != NULL && set_host(u, host);
		free(host);
		if (!ok)
			return false;
	}
	if (port != NULL) {
		char *pt = pct_decode(u, port, (size_t)(aend - port), "port");

		ok = pt != NULL && set_port(u, pt);
		free(pt);
		if (!ok)
			return false;
	}
	p = aend;
	if (*p == '/') {
		size_t dlen = strcspn(++p, "?");

		if (dlen > 0 && !decode_into(u, p, dlen, "database name", &u->a.dbname))
			return false;
		p += dlen;
	}
	if (*p == '?')
		return parse_query(u, p + 1, jdbc);
	return true;
}

/* libpq's key=value form: values bare or in '...', backslash escapes in both. */
static bool parse_kv(struct url_parse *u, const char *p)
{
	for (;;) {
		struct sbuf v = { 0 };
		const char *k0;
		char *k;
		bool ok;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return true;
		k0 = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (p == k0)
			return url_fail(u, "missing parameter name before '='");
		if ((k = strndup(k0, (size_t)(p - k0))) == NULL)
			return url_fail(u, "out of memory");
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			url_fail(u, "missing '=' after \"%.40s\"", k);
			free(k);
			return false;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		sb_puts(&v, "");
		if (*p == '\'') {
			for (p++;; p++) {
				if (*p == '\0') {
					url_fail(u, "unterminated quoted value for %.40s", k);
					free(k);
					free(v.p);
					return false;
				}
				if (*p == '\'') {
					p++;
					break;
				}
				if (*p == '\\' && p[1] != '\0')
					p++;
				sb_putc(&v, *p);
			}
		} else {
			for (; *p != '\0' && !isspace((unsigned char)*p); p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				sb_putc(&v, *p);
			}
		}
		ok = !v.oom ? apply_param(u, k, v.p) : url_fail(u, "out of memory");
		free(k);
		free(v.p);
		if (!ok)
			return false;
	}
}

bool config_parse_url(const char *url, struct backend_addr *out, char *err, size_t errlen)
{
	struct url_parse u;
	bool ok;

	memset(&u, 0, sizeof(u));
	u.err = err;
	u.errlen = errlen;
	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "jdbc:", 5) == 0) {
		ok = strncasecmp(url + 5, "postgresql://", 13) == 0
			? parse_uri(&u, url + 18, true)
			: url_fail(&u, "a jdbc url must start with jdbc:postgresql://");
	} else if (strncasecmp(url, "postgresql://", 13) == 0) {
		ok = parse_uri(&u, url + 13, false);
	} else if (strncasecmp(url, "postgres://", 11) == 0) {
		ok = parse_uri(&u, url + 11, false);
	} else if (strstr(url, "://") == NULL && strchr(url, '=') != NULL) {
		ok = parse_kv(&u, url);
	} else {
		ok = url_fail(&u, "expected jdbc:postgresql://..., postgresql://... or key=value text");
	}
	if (ok && u.jdbc_ssl && !u.have_sslmode)
		ok = apply_param(&u, "sslmode", "verify-full");
	if (ok && u.a.host == NULL)
		ok = url_fail(&u, "no host (for a Unix socket give its directory: host=/path)");
	if (!ok) {
		backend_addr_clear(&u.a);
		free(u.opts.p);
		return false;
	}
	if (u.a.port == 0)
		u.a.port = 5432;
	u.a.options = u.opts.p;
	*out = u.a;
	return true;
}

bool backend_addr_option(const struct backend_addr *a, const char *key, char *val, size_t len)
{
	const char *p = a->options, *k, *eq;
	size_t n;
	bool fits;

	/* options is "k='v' k='v'", quotes and backslashes escaped (apply_param) */
	while (p && *p) {
		k = p;
		if ((eq = strchr(k, '=')) == NULL || eq[1] != '\'')
			return false;
		n = 0;
		fits = true;
		for (p = eq + 2; *p && *p != '\''; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < len)
				val[n++] = *p;
			else
				fits = false;
		}
		if (*p != '\'')
			return false;
		p++;
		if ((size_t)(eq - k) == strlen(key) && strncmp(k, key, (size_t)(eq - k)) == 0) {
			if (!fits || len == 0)
				return false;
			val[n] = '\0';
			return true;
		}
		while (*p == ' ')
			p++;
	}
	return false;
}

void backend_addr_clear(struct backend_addr *a)
{
	if (a == NULL)
		return;
	free(a->host);
	free(a->dbname);
	free(a->user);
	free(a->password);
	free(a->options);
	memset(a, 0, sizeof(*a));
}
