/* The config loader (INI driven by the key table): ${VAR} expansion, table defaults, validation. */
#include "conf/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define MAX_LINE 65536

static void fmt_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- field helpers, by key type ---- */

static void field_free(const struct config_key *k, void *base)
{
	char **p = (char **)(void *)((char *)base + k->offset);

	if (k->type == CONF_STRING || k->type == CONF_LIST) {
		free(*p);
		*p = NULL;
	}
}

static bool field_copy(const struct config_key *k, void *dst, const void *src)
{
	char *d = (char *)dst + k->offset;
	const char *s = (const char *)src + k->offset;

	switch (k->type) {
	case CONF_STRING:
	case CONF_LIST: {
		const char *from = *(char *const *)(const void *)s;
		char *copy = NULL;

		if (from != NULL && (copy = strdup(from)) == NULL)
			return false;
		free(*(char **)(void *)d);
		*(char **)(void *)d = copy;
		return true;
	}
	case CONF_INT:
	case CONF_ENUM:
		*(int *)(void *)d = *(const int *)(const void *)s;
		return true;
	case CONF_INT64:
		*(int64_t *)(void *)d = *(const int64_t *)(const void *)s;
		return true;
	case CONF_BOOL:
		*(bool *)(void *)d = *(const bool *)(const void *)s;
		return true;
	}
	return false;
}

static bool field_equal(const struct config_key *k, const void *a, const void *b)
{
	const char *x = (const char *)a + k->offset;
	const char *y = (const char *)b + k->offset;

	switch (k->type) {
	case CONF_STRING:
	case CONF_LIST: {
		const char *s = *(char *const *)(const void *)x, *t = *(char *const *)(const void *)y;
		return (s == NULL || t == NULL) ? s == t : strcmp(s, t) == 0;
	}
	case CONF_INT:
	case CONF_ENUM:
		return *(const int *)(const void *)x == *(const int *)(const void *)y;
	case CONF_INT64:
		return *(const int64_t *)(const void *)x == *(const int64_t *)(const void *)y;
	case CONF_BOOL:
		return *(const bool *)(const void *)x == *(const bool *)(const void *)y;
	}
	return false;
}

static void section_free(enum config_section sec, void *base)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].section == sec)
			field_free(&config_keys[i], base);
}

/* ---- the loader ---- */

struct tab_state {
	int line;       /* line of its [table] header */
	int *set;       /* [config_nkeys]: line each key was set on, 0 = not set */
};

struct loader {
	const char *path;
	struct config *cfg;
	struct table_conf defaults;     /* table keys set in [pgbatchd] / [backend] */
	int *glob_set;                  /* [config_nkeys]: lines of [pgbatchd] / [backend] keys */
	int *def_set;                   /* [config_nkeys]: lines of table defaults */
	struct tab_state *tabs;         /* parallel to cfg->tables */
	int tabcap;
	int sec_line[CONF_SECTION_COUNT];
	bool insec;
	enum config_section cur;
	char *err;
	size_t errlen;
};

static bool fail(struct loader *L, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool fail(struct loader *L, int line, const char *key, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fmt_err(L->err, L->errlen, "%s:%d: %s: %s", L->path, line, key, what);
	return false;
}

static bool apply_defaults(struct loader *L, enum config_section sec, void *base)
{
	char why[256];

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section != sec || k->def == NULL)
			continue;
		if (!config_key_set(k, base, k->def, why, sizeof(why)))
			return fail(L, 0, k->name, "built-in default: %s", why);
	}
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return s;
}

/* Strips one pair of surrounding double quotes. */
static bool unquote(char **v)
{
	size_t n = strlen(*v);

	if (n == 0 || (*v)[0] != '"')
		return true;
	if (n < 2 || (*v)[n - 1] != '"')
		return false;
	(*v)[n - 1] = '\0';
	(*v)++;
	return true;
}

/*
 * ${NAME} in a value is replaced by the environment variable NAME (letters,
 * digits and '_', not starting with a digit); an unset one is an error naming
 * it, a set but empty one expands to nothing. "$$" is one '$'; any other '$'
 * is itself. The result is not expanded again. Quotes are stripped first, so a
 * variable's value is taken as it is. *out is malloc'd.
 */
static bool expand_env(struct loader *L, int line, const char *key, const char *v, char **out)
{
	size_t cap = strlen(v) + 1, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return fail(L, line, key, "out of memory");
	while (*v != '\0') {
		const char *add = v;
		size_t n = 1;

		if (v[0] == '$' && v[1] == '$') {
			v += 2;
		} else if (v[0] == '$' && v[1] == '{') {
			const char *name = v + 2, *end = strchr(name, '}');
			char var[128];
			size_t nl;

			if (end == NULL) {
				free(buf);
				return fail(L, line, key, "unterminated ${ (a literal '$' is written $$)");
			}
			nl = (size_t)(end - name);
			for (size_t i = 0; i < nl; i++)
				if (!(isalpha((unsigned char)name[i]) || name[i] == '_'
						|| (i > 0 && isdigit((unsigned char)name[i]))))
					nl = 0;
			if (nl == 0 || nl >= sizeof(var)) {
				free(buf);
				return fail(L, line, key, "${...} must hold an environment variable name "
					"(letters, digits, '_'; a literal '$' is written $$)");
			}
			memcpy(var, name, nl);
			var[nl] = '\0';
			if ((add = getenv(var)) == NULL) {
				free(buf);
				return fail(L, line, key, "environment variable %s is not set", var);
			}
			n = strlen(add);
			v = end + 1;
		} else {
			v++;
		}
		if (len + n + 1 > cap) {
			char *nb;

			while (len + n + 1 > cap)
				cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return fail(L, line, key, "out of memory");
			}
			buf = nb;
		}
		memcpy(buf + len, add, n);
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	return true;
}

static bool add_table(struct loader *L, const char *name, int line)
{
	struct config *cfg = L->cfg;
	struct table_conf *t;

	if (cfg->ntables == L->tabcap) {
		int cap = L->tabcap ? L->tabcap * 2 : 4;
		struct table_conf *nt = realloc(cfg->tables, (size_t)cap * sizeof(*nt));
		struct tab_state *ns;

		if (nt == NULL)
			return fail(L, line, "table", "out of memory");
		cfg->tables = nt;
		ns = realloc(L->tabs, (size_t)cap * sizeof(*ns));
		if (ns == NULL)
			return fail(L, line, "table", "out of memory");
		L->tabs = ns;
		L->tabcap = cap;
	}
	t = &cfg->tables[cfg->ntables];
	memset(t, 0, sizeof(*t));
	L->tabs[cfg->ntables].line = line;
	L->tabs[cfg->ntables].set = calloc(config_nkeys, sizeof(int));
	cfg->ntables++;     /* counted now so that config_free releases it */
	if (L->tabs[cfg->ntables - 1].set == NULL)
		return fail(L, line, "table", "out of memory");
	if (!apply_defaults(L, CONF_TABLE, t))
		return false;
	if (name[0] != '\0' && (t->name = strdup(name)) == NULL)
		return fail(L, line, "table", "out of memory");
	return true;
}

static bool open_section(struct loader *L, char *s, int line)
{
	size_t n = strlen(s);
	char *inner, *rest;
	int sec = -1;

	if (s[n - 1] != ']')
		return fail(L, line, s, "a section header must end with ']'");
	s[n - 1] = '\0';
	inner = trim(s + 1);
	rest = inner + strcspn(inner, " \t");
	if (*rest != '\0')
		*rest++ = '\0';
	rest = trim(rest);
	for (int i = 0; i < CONF_SECTION_COUNT; i++)
		if (strcasecmp(inner, config_section_name((enum config_section)i)) == 0)
			sec = i;
	if (sec < 0) {
		char shown[48];

		snprintf(shown, sizeof(shown), "[%.40s]", inner);
		return fail(L, line, shown, "unknown section (expected [pgbatchd], [backend] or [table NAME])");
	}
	if (sec != CONF_TABLE && rest[0] != '\0')
		return fail(L, line, inner, "this section takes no name");
	L->insec = true;
	L->cur = (enum config_section)sec;
	if (L->sec_line[sec] == 0)
		L->sec_line[sec] = line;
	if (sec != CONF_TABLE)
		return true;
	if (!unquote(&rest))
		return fail(L, line, "table", "unterminated quote in the table name");
	return add_table(L, rest, line);
}

static bool assign(struct loader *L, char *s, int line)
{
	char *eq = strchr(s, '=');
	char *key, *val, *expanded = NULL;
	const struct config_key *k;
	bool ok;
	void *base;
	int *set;
	char why[256];
	size_t idx;

	if (eq == NULL) {
		char shown[48];

		/* only the first word: the rest may be a secret missing its '=' */
		snprintf(shown, sizeof(shown), "%.*s", (int)(strcspn(s, " \t") > 40 ? 40 : strcspn(s, " \t")), s);
		return fail(L, line, shown, "expected 'key = value' or a [section]");
	}
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (key[0] == '\0')
		return fail(L, line, "=", "missing key name before '='");
	if (!unquote(&val))
		return fail(L, line, key, "unterminated double quote in the value");
	if (!L->insec)
		return fail(L, line, key, "key outside any section (start with [pgbatchd], [backend] or [table NAME])");

	k = config_key_find(L->cur, key);
	if (L->cur == CONF_TABLE) {
		base = &L->cfg->tables[L->cfg->ntables - 1];
		set = L->tabs[L->cfg->ntables - 1].set;
	} else {
		base = L->cfg;
		set = L->glob_set;
		if (k == NULL && (k = config_key_find(CONF_TABLE, key)) != NULL) {
			/* a table key here is the default for every [table] */
			if (k->flags & CONF_F_NODEFAULT)
				return fail(L, line, key, "only valid in a [table NAME] section");
			base = &L->defaults;
			set = L->def_set;
		}
	}
	if (k == NULL) {
		for (int i = 0; i < CONF_SECTION_COUNT; i++)
			if (i != (int)L->cur && config_key_find((enum config_section)i, key) != NULL)
				return fail(L, line, key, "unknown key in [%s]; it belongs in [%s]",
					config_section_name(L->cur), config_section_name((enum config_section)i));
		return fail(L, line, key, "unknown key in [%s]", config_section_name(L->cur));
	}
	idx = (size_t)(k - config_keys);
	if (set[idx] != 0)
		return fail(L, line, key, "duplicate key (already set at line %d)", set[idx]);
	if (!expand_env(L, line, key, val, &expanded))
		return false;
	ok = config_key_set(k, base, expanded, why, sizeof(why));
	free(expanded);
	if (!ok)
		return fail(L, line, key, "%s", why);
	set[idx] = line;
	return true;
}

static int line_of(const struct loader *L, const char *name)
{
	const struct config_key *k = config_key_find(CONF_BACKEND, name);

	return k ? L->glob_set[k - config_keys] : 0;
}

/* A configured name as it names a relation: folded to lower case (as
 * PostgreSQL folds an unquoted name) when casesensitive = 0, else as written. */
static bool same_part(const char *a, bool a_cs, const char *b, bool b_cs)
{
	for (;; a++, b++) {
		char x = a_cs ? *a : (char)tolower((unsigned char)*a), y = b_cs ? *b : (char)tolower((unsigned char)*b);

		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

/* Two [table] sections name the same relation. */
static bool same_name(const struct table_conf *a, const struct table_conf *b)
{
	return same_part(a->name, a->casesensitive, b->name, b->casesensitive) &&
	       same_part(a->targetschema, a->casesensitive, b->targetschema, b->casesensitive);
}

static bool finish(struct loader *L)
{
	struct config *cfg = L->cfg;
	int bline = L->sec_line[CONF_BACKEND];
	char why[256];

	if (bline == 0)
		return fail(L, 0, "url", "required, but the file has no [backend] section");
	if (cfg->url == NULL)
		return fail(L, bline, "url", "required in [backend]");
	if (!config_parse_url(cfg->url, &cfg->backend, why, sizeof(why)))
		return fail(L, line_of(L, "url"), "url", "%s", why);

	/* username / password may come from the url; if both are given they must agree */
	if (cfg->backend.user != NULL) {
		if (cfg->username == NULL) {
			if ((cfg->username = strdup(cfg->backend.user)) == NULL)
				return fail(L, bline, "username", "out of memory");
		} else if (strcmp(cfg->username, cfg->backend.user) != 0) {
			return fail(L, line_of(L, "username"), "username",
				"\"%s\" differs from the user \"%s\" in url", cfg->username, cfg->backend.user);
		}
	}
	if (cfg->backend.password != NULL) {
		if (cfg->password == NULL) {
			if ((cfg->password = strdup(cfg->backend.password)) == NULL)
				return fail(L, bline, "password", "out of memory");
		} else if (strcmp(cfg->password, cfg->backend.password) != 0) {
			return fail(L, line_of(L, "password"), "password", "differs from the password in url");
		}
	}
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section == CONF_TABLE || !(k->flags & CONF_F_REQUIRED))
			continue;
		if (*(char **)(void *)((char *)cfg + k->offset) == NULL)
			return fail(L, L->sec_line[k->section], k->name, "required in [%s]%s",
				config_section_name(k->section),
				k->offset == offsetof(struct config, username) ? " (the url names no user)" : "");
	}

	if (cfg->auth_type != AUTH_TRUST && cfg->auth_file == NULL) {
		const struct config_key *k = config_key_find(CONF_PGBATCHD, "auth_type");

		return fail(L, L->glob_set[k - config_keys], "auth_file",
			"required when auth_type is %s", k->names[cfg->auth_type]);
	}

	if (cfg->client_tls_sslmode != TLS_DISABLE) {
		const struct config_key *k = config_key_find(CONF_PGBATCHD, "client_tls_sslmode");
		const char *need = cfg->client_tls_key_file == NULL ? "client_tls_key_file" :
				   cfg->client_tls_cert_file == NULL ? "client_tls_cert_file" :
				   cfg->client_tls_ca_file == NULL && cfg->client_tls_sslmode >= TLS_VERIFY_CA ?
				   "client_tls_ca_file" : NULL;

		if (need)
			return fail(L, L->glob_set[k - config_keys], need, "required when client_tls_sslmode is %s",
				k->names[cfg->client_tls_sslmode]);
		if (strcmp(cfg->client_tls_protocols, "secure") != 0 && strcmp(cfg->client_tls_protocols, "tlsv1.2") != 0 &&
		    strcmp(cfg->client_tls_protocols, "tlsv1.3") != 0)
			return fail(L, L->glob_set[config_key_find(CONF_PGBATCHD, "client_tls_protocols") - config_keys],
				"client_tls_protocols", "\"%s\" is not one of secure, tlsv1.2, tlsv1.3",
				cfg->client_tls_protocols);
	}

	for (int t = 0; t < cfg->ntables; t++) {
		struct table_conf *tc = &cfg->tables[t];

		for (size_t i = 0; i < config_nkeys; i++) {
			const struct config_key *k = &config_keys[i];

			if (k->section != CONF_TABLE || L->tabs[t].set[i] != 0 || L->def_set[i] == 0)
				continue;
			if (!field_copy(k, tc, &L->defaults))
				return fail(L, L->tabs[t].line, k->name, "out of memory");
		}
		if (tc->name == NULL)
			return fail(L, L->tabs[t].line, "tablename",
				"required: write [table NAME] or set tablename in the section");
		if (tc->ackmode == ACK_SPOOL && (cfg->spool_dir == NULL || cfg->spool_dir[0] == '\0'))
			return fail(L, L->tabs[t].line, "spool_dir", "required in [pgbatchd] when a table has ackmode = spool");
		for (int u = 0; u < t; u++)
			if (same_name(&cfg->tables[u], tc))
				return fail(L, L->tabs[t].line, "tablename",
					"table %s.%s is already configured at line %d",
					tc->targetschema, tc->name, L->tabs[u].line);
	}
	return true;
}

static void loader_release(struct loader *L)
{
	section_free(CONF_TABLE, &L->defaults);
	free(L->glob_set);
	free(L->def_set);
	for (int t = 0; L->tabs != NULL && t < L->cfg->ntables; t++)
		free(L->tabs[t].set);
	free(L->tabs);
}

static bool parse_file(struct loader *L, FILE *f)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int line = 0;
	bool ok = true;

	while (ok && (n = getline(&buf, &cap, f)) >= 0) {
		char *s = buf;

		line++;
		if (n > MAX_LINE) {
			ok = fail(L, line, "line", "longer than %d bytes", MAX_LINE);
			break;
		}
		if (memchr(buf, '\0', (size_t)n) != NULL) {
			ok = fail(L, line, "line", "contains a NUL byte");
			break;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		if (line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
			s += 3;     /* UTF-8 byte order mark */
		s = trim(s);
		if (s[0] == '\0' || s[0] == '#' || s[0] == ';')
			continue;
		ok = s[0] == '[' ? open_section(L, s, line) : assign(L, s, line);
	}
	if (ok && ferror(f))
		ok = fail(L, line, "file", "read error: %s", strerror(errno));
	free(buf);
	return ok;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct loader L;
	struct config *cfg;
	FILE *f;
	bool ok;

	memset(&L, 0, sizeof(L));
	L.path = path;
	L.err = err;
	L.errlen = errlen;
	fmt_err(err, errlen, "%s", "");
	cfg = calloc(1, sizeof(*cfg));
	L.glob_set = calloc(config_nkeys, sizeof(int));
	L.def_set = calloc(config_nkeys, sizeof(int));
	if (cfg == NULL || L.glob_set == NULL || L.def_set == NULL || (cfg->path = strdup(path)) == NULL) {
		fmt_err(err, errlen, "%s:0: config: out of memory", path);
		free(L.glob_set);
		free(L.def_set);
		config_free(cfg);
		return NULL;
	}
	L.cfg = cfg;
	f = fopen(path, "r");
	if (f == NULL) {
		fmt_err(err, errlen, "%s:0: file: cannot open: %s", path, strerror(errno));
		ok = false;
	} else {
		ok = apply_defaults(&L, CONF_PGBATCHD, cfg) && apply_defaults(&L, CONF_BACKEND, cfg)
			&& apply_defaults(&L, CONF_TABLE, &L.defaults) && parse_file(&L, f) && finish(&L);
		fclose(f);
	}
	loader_release(&L);
	if (!ok) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	section_free(CONF_PGBATCHD, cfg);
	section_free(CONF_BACKEND, cfg);
	backend_addr_clear(&cfg->backend);
	for (int t = 0; t < cfg->ntables; t++)
		section_free(CONF_TABLE, &cfg->tables[t]);
	free(cfg->tables);
	free(cfg);
}

int config_restart_diff(const struct config *cur, const struct config *next,
	char *names, size_t nameslen)
{
	int n = 0;
	size_t o = 0;

	if (names != NULL && nameslen > 0)
		names[0] = '\0';
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section == CONF_TABLE || !(k->flags & CONF_F_RESTART) || field_equal(k, cur, next))
			continue;
		if (names != NULL && o < nameslen) {
			int w = snprintf(names + o, nameslen - o, "%s%s", n ? "," : "", k->name);
			if (w > 0)
				o += (size_t)w;
		}
		n++;
	}
	return n;
}
