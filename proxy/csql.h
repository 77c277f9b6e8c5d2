/* The console's SQL text: statements split at semicolons outside quotes and comments, and its words, names folded as PostgreSQL folds identifiers. No sockets. */
#ifndef PGBATCHD_PROXY_CSQL_H
#define PGBATCHD_PROXY_CSQL_H

#include <stdbool.h>
#include <stddef.h>

/* The next statement of sql from *pos (a new string, its comments replaced
 * by a space), *pos moved past its ';'. NULL with *err NULL at the end
 * (nothing but blanks, comments and semicolons left); NULL with *err set
 * for an unterminated quote or comment, or out of memory. */
char *csql_next(const char *sql, size_t *pos, const char **err);

/* Statements in sql (blank ones not counted); -1 with *err as csql_next. */
int csql_count(const char *sql, const char **err);

/* The next word of *p into word: bare characters up to a blank, ASCII
 * letters folded to lower case; "quoted" parts kept as written (a doubled
 * quote is one). 1: a word; 0: none left; -1: *err says why (an unterminated
 * or zero-length quoted name, as PostgreSQL's 42601). *quoted: a part was
 * quoted. A word longer than size is cut. */
int csql_word(const char **p, char *word, size_t size, bool *quoted, const char **err);

#endif
