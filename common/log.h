/* Logging: one line per event, a connection prefix on each, level checked before formatting. */
#ifndef PGBATCHD_COMMON_LOG_H
#define PGBATCHD_COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* path NULL or "" logs to stderr. verbose: 0 = info, 1 = +debug (per-batch lines). */
bool log_open(const char *path, int verbose) __attribute__((warn_unused_result));
void log_set_verbose(int verbose);
void log_close(void);
/* Reopens the file (after logrotate, on SIGHUP). */
void log_reopen(void);

extern int log_max_level;

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, prefix, ...) \
	do { if ((lvl) <= log_max_level) log_write((lvl), (prefix), __VA_ARGS__); } while (0)
#define log_error(prefix, ...)   log_at(LOG_ERROR, prefix, __VA_ARGS__)
#define log_warning(prefix, ...) log_at(LOG_WARNING, prefix, __VA_ARGS__)
#define log_info(prefix, ...)    log_at(LOG_INFO, prefix, __VA_ARGS__)
#define log_debug(prefix, ...)   log_at(LOG_DEBUG, prefix, __VA_ARGS__)

#endif
