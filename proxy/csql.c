/* The console's SQL text: statement boundaries outside quotes and comments, and words folded as PostgreSQL folds identifiers. */
#include "proxy/csql.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Past the quoted text that starts at s[i] (quote q, doubled inside); 0
 * when it does not end. */
static size_t past_quote(const char *s, size_t i, char q)
{
	for (i++; s[i]; i++)
		if (s[i] == q) {
			if (s[i + 1] != q)
				return i + 1;
			i++;
		}
	return 0;
}

/* Past the comment that starts at s[i] ("--" to the line's end, or a
 * nested slash-star one); 0 when a slash-star one does not end. */
static size_t past_comment(const char *s, size_t i)
{
	int depth = 0;

	if (s[i] == '-') {
		while (s[i] && s[i] != '\n')
			i++;
		return i;
	}
	for (; s[i]; i++) {
		if (s[i] == '/' && s[i + 1] == '*') {
			depth++;
			i++;
		} else if (s[i] == '*' && s[i + 1] == '/') {
			i++;
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

char *csql_next(const char *sql, size_t *pos, const char **err)
{
	size_t i = *pos, len = strlen(sql), n, end;
	char *out;
	bool blank;

	*err = NULL;
	if ((out = malloc(len - i + 1)) == NULL) {
		*err = "out of memory";
		return NULL;
	}
	for (;;) {
		n = 0;
		blank = true;
		while (sql[i] && sql[i] != ';') {
			if (sql[i] == '\'' || sql[i] == '"') {
				if ((end = past_quote(sql, i, sql[i])) == 0) {
					*err = sql[i] == '"' ? "unterminated quoted identifier" :
							       "unterminated quoted string";
					free(out);
					return NULL;
				}
				memcpy(out + n, sql + i, end - i);
				n += end - i;
				i = end;
				blank = false;
			} else if ((sql[i] == '-' && sql[i + 1] == '-') || (sql[i] == '/' && sql[i + 1] == '*')) {
				if ((end = past_comment(sql, i)) == 0) {
					*err = "unterminated /* comment";
					free(out);
					return NULL;
				}
				out[n++] = ' ';
				i = end;
			} else {
				blank &= isspace((unsigned char)sql[i]) != 0;
				out[n++] = sql[i++];
			}
		}
		out[n] = '\0';
		if (sql[i] == ';')
			i++;
		*pos = i;
		if (!blank)
			return out;
		if (sql[i] == '\0') {
			free(out);
			return NULL;
		}
	}
}

int csql_count(const char *sql, const char **err)
{
	size_t pos = 0;
	int n = 0;
	char *one;

	while ((one = csql_next(sql, &pos, err)) != NULL) {
		free(one);
		n++;
	}
	return *err ? -1 : n;
}

int csql_word(const char **p, char *word, size_t size, bool *quoted, const char **err)
{
	const char *s = *p;
	size_t n = 0;

	*quoted = false;
	*err = NULL;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0') {
		*p = s;
		return 0;
	}
	while (*s && !isspace((unsigned char)*s)) {
		if (*s == '"') {
			const char *start = s;

			*quoted = true;
			for (s++;; s++) {
				if (*s == '\0') {
					*err = "unterminated quoted identifier";
					return -1;
				}
				if (*s == '"') {
					if (s[1] != '"')
						break;
					s++;
				}
				if (n + 1 < size)
					word[n++] = *s;
			}
			s++;
			if (s - start == 2) {
				*err = "zero-length delimited identifier";
				return -1;
			}
			continue;
		}
		if (n + 1 < size)
			word[n++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + ('a' - 'A') : *s);
		s++;
	}
	word[n] = '\0';
	*p = s;
	return 1;
}
