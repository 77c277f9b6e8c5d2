/* The auth_file: PgBouncer-style "user" "secret" lines, loaded into a sorted table for lookup. */
#include "conf/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define UL_MAX_LINE 65536

struct ul_entry {
	char *user;
	char *secret;   /* as written: plain, "md5" + 32 hex, or a SCRAM-SHA-256 verifier */
	int line;
};

struct userlist {
	struct ul_entry *v;
	size_t n, cap;
};

static bool ul_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static bool ul_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s:%d: %s", path, line, what);
	return false;
}

enum field_result { FIELD_OK = 0, FIELD_NOT_QUOTED, FIELD_UNTERMINATED, FIELD_OOM };

/* Reads a double-quoted field at *pp; "" inside it is one literal quote. */
static enum field_result read_quoted(const char **pp, char **out)
{
	const char *p = *pp;
	size_t n = 0;
	char *s;

	if (*p != '"')
		return FIELD_NOT_QUOTED;
	/* first pass: find the end and the decoded length */
	for (const char *q = p + 1;; q++) {
		if (*q == '\0')
			return FIELD_UNTERMINATED;
		if (*q == '"') {
			if (q[1] != '"')
				break;
			q++;
		}
		n++;
	}
	if ((s = malloc(n + 1)) == NULL)
		return FIELD_OOM;
	n = 0;
	for (p++;; p++) {
		if (*p == '"') {
			if (p[1] != '"')
				break;
			p++;
		}
		s[n++] = *p;
	}
	s[n] = '\0';
	*pp = p + 1;
	*out = s;
	return FIELD_OK;
}

static bool is_b64(const char *s, const char *end)
{
	if (s == end)
		return false;
	for (; s < end; s++)
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' && *s != '=')
			return false;
	return true;
}

/* "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", base64 parts. */
static bool scram_well_formed(const char *s)
{
	const char *p = s + strlen("SCRAM-SHA-256$"), *colon, *dollar, *colon2;
	size_t digits = strspn(p, "0123456789");

	if (digits == 0 || digits > 9 || p[digits] != ':' || p[0] == '0')
		return false;
	colon = p + digits;
	dollar = strchr(colon + 1, '$');
	if (dollar == NULL || !is_b64(colon + 1, dollar))
		return false;
	colon2 = strchr(dollar + 1, ':');
	if (colon2 == NULL || !is_b64(dollar + 1, colon2))
		return false;
	return is_b64(colon2 + 1, colon2 + 1 + strlen(colon2 + 1));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ul_entry *)a)->user, ((const struct ul_entry *)b)->user);
}

static bool parse_line(struct userlist *ul, const char *p, int line, const char *path,
	char *err, size_t errlen)
{
	char *user = NULL, *secret = NULL;
	enum field_result r;

	r = read_quoted(&p, &user);
	if (r == FIELD_NOT_QUOTED)
		return ul_fail(err, errlen, path, line, "expected \"user\" \"secret\" (the user name in double quotes)");
	if (r != FIELD_OK)
		return ul_fail(err, errlen, path, line, r == FIELD_OOM ? "out of memory" : "unterminated quote in the user name");
	while (*p == ' ' || *p == '\t')
		p++;
	r = read_quoted(&p, &secret);
	if (r != FIELD_OK) {
		ul_fail(err, errlen, path, line, "%s: %s", user,
			r == FIELD_NOT_QUOTED ? "expected the secret in double quotes after the user name"
			: r == FIELD_OOM ? "out of memory" : "unterminated quote in the secret");
		free(user);
		return false;
	}
	/* PgBouncer ignores further fields; they must be separated by blanks */
	if (*p != '\0' && *p != ' ' && *p != '\t') {
		ul_fail(err, errlen, path, line, "%s: unexpected text right after the secret", user);
		goto bad;
	}
	if (user[0] == '\0') {
		ul_fail(err, errlen, path, line, "empty user name");
		goto bad;
	}
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0 && !scram_well_formed(secret)) {
		ul_fail(err, errlen, path, line,
			"%s: malformed SCRAM-SHA-256 secret (expected SCRAM-SHA-256$iterations:salt$storedkey:serverkey)", user);
		goto bad;
	}
	if (ul->n == ul->cap) {
		size_t cap = ul->cap ? ul->cap * 2 : 16;
		struct ul_entry *nv = realloc(ul->v, cap * sizeof(*nv));

		if (nv == NULL) {
			ul_fail(err, errlen, path, line, "out of memory");
			goto bad;
		}
		ul->v = nv;
		ul->cap = cap;
	}
	ul->v[ul->n].user = user;
	ul->v[ul->n].secret = secret;
	ul->v[ul->n].line = line;
	ul->n++;
	return true;
bad:
	free(user);
	free(secret);
	return false;
}

struct userlist *userlist_load(const char *path, char *err, size_t errlen)
{
	struct userlist *ul = calloc(1, sizeof(*ul));
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int line = 0;
	bool ok = true;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (ul == NULL) {
		ul_fail(err, errlen, path, 0, "out of memory");
		return NULL;
	}
	if ((f = fopen(path, "r")) == NULL) {
		ul_fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
		free(ul);
		return NULL;
	}
	while (ok && (n = getline(&buf, &cap, f)) >= 0) {
		const char *p = buf;

		line++;
		if (n > UL_MAX_LINE || memchr(buf, '\0', (size_t)n) != NULL) {
			ok = ul_fail(err, errlen, path, line, n > UL_MAX_LINE ? "line too long" : "NUL byte in line");
			break;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == ';' || *p == '#')
			continue;
		ok = parse_line(ul, p, line, path, err, errlen);
	}
	if (ok && ferror(f))
		ok = ul_fail(err, errlen, path, line, "read error: %s", strerror(errno));
	free(buf);
	fclose(f);
	if (ok && ul->n > 1) {
		qsort(ul->v, ul->n, sizeof(*ul->v), entry_cmp);
		for (size_t i = 1; ok && i < ul->n; i++) {
			const struct ul_entry *a = &ul->v[i - 1], *b = &ul->v[i];

			if (strcmp(a->user, b->user) == 0)
				ok = ul_fail(err, errlen, path, a->line > b->line ? a->line : b->line,
					"%s: duplicate user (also at line %d)", a->user,
					a->line > b->line ? b->line : a->line);
		}
	}
	if (!ok) {
		userlist_free(ul);
		return NULL;
	}
	return ul;
}

const char *userlist_find(const struct userlist *ul, const char *user)
{
	struct ul_entry key = { .user = (char *)(uintptr_t)user };
	const struct ul_entry *e;

	if (ul == NULL || user == NULL || ul->n == 0)
		return NULL;
	e = bsearch(&key, ul->v, ul->n, sizeof(*ul->v), entry_cmp);
	return e ? e->secret : NULL;
}

void userlist_free(struct userlist *ul)
{
	if (ul == NULL)
		return;
	for (size_t i = 0; i < ul->n; i++) {
		free(ul->v[i].user);
		free(ul->v[i].secret);
	}
	free(ul->v);
	free(ul);
}
