/* Logging: timestamped lines to stderr or a file, with a per-connection prefix. */
#include "common/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_max_level = LOG_INFO;
static FILE *log_fp;
static char *log_path;

static const char *const level_names[] = { "ERROR", "WARNING", "LOG", "DEBUG" };

bool log_open(const char *path, int verbose)
{
	log_set_verbose(verbose);
	free(log_path);
	log_path = NULL;
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	if (path == NULL || path[0] == '\0')
		return true;
	log_fp = fopen(path, "a");
	if (log_fp == NULL)
		return false;
	setvbuf(log_fp, NULL, _IOLBF, 0);
	log_path = strdup(path);
	return log_path != NULL;
}

void log_set_verbose(int verbose)
{
	log_max_level = verbose > 0 ? LOG_DEBUG : LOG_INFO;
}

void log_reopen(void)
{
	FILE *fp;

	if (log_path == NULL)
		return;
	fp = fopen(log_path, "a");
	if (fp == NULL)
		return;
	setvbuf(fp, NULL, _IOLBF, 0);
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = fp;
}

void log_close(void)
{
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	free(log_path);
	log_path = NULL;
}

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	char line[4096];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;
	FILE *fp = log_fp ? log_fp : stderr;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03d [%d] %s %s%s", (int)(tv.tv_usec / 1000),
		     (int)getpid(), level_names[lvl], prefix ? prefix : "", prefix && prefix[0] ? " " : "");
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	fprintf(fp, "%.*s\n", (int)n, line);
}
