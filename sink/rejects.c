/* The rejects file: one JSON line per refused row, appended atomically, reopened on SIGHUP. */
#include "sink/rejects.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static void json_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c == '\r') {
			buf_puts(b, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			buf_puts(b, "\\u00");
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		} else {
			buf_putc(b, (char)c);   /* UTF-8 as the SQL text had it */
		}
	}
	buf_putc(b, '"');
}

static void json_field(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, ", \"%s\": ", name);
	if (value)
		json_string(b, value, strlen(value));
	else
		buf_puts(b, "null");
}

static int open_file(struct stable *tab)
{
	if (tab->reject_fd >= 0)
		return tab->reject_fd;
	tab->reject_fd = open(tab->conf.rejectfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (tab->reject_fd < 0 && !tab->reject_said) {
		log_error(SINK_PREFIX, "cannot open the rejects file %s of table %s: %s; rejected rows go to the log",
			  tab->conf.rejectfile, tab->conf.name, strerror(errno));
		tab->reject_said = true;
	}
	return tab->reject_fd;
}

bool rejects_write(struct sink *s, const struct sink_unit *u, const struct srow *r, const struct berr *e,
		   bool own)
{
	struct stable *tab = u->stmts[r->stmt].tab;
	struct timeval tv;
	struct tm tm;
	struct buf line;
	char when[40];
	ssize_t n;
	bool first = true, ok;
	int fd;

	(void)s;
	if (tab->conf.rejectfile == NULL || (fd = open_file(tab)) < 0)
		return false;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_init(&line);
	buf_printf(&line, "{\"time\": \"%s.%03dZ\", \"table\": ", when, (int)(tv.tv_usec / 1000));
	{
		char qual[256];

		snprintf(qual, sizeof(qual), "%s.%s", tab->conf.targetschema, tab->conf.name);
		json_string(&line, qual, strlen(qual));
	}
	json_field(&line, "sqlstate", e ? e->sqlstate : "XX000");
	json_field(&line, "message", e ? berr_field(e, 'M') : NULL);
	json_field(&line, "detail", e ? berr_field(e, 'D') : NULL);
	json_field(&line, "role", u->ss->user);
	json_field(&line, "client", u->ss->peer);
	buf_printf(&line, ", \"row\": %s, \"values\": {", own ? "true" : "false");
	for (int i = 0; i < r->cat->t.ncols; i++) {
		const struct sg_val *v = &r->vals[i];

		if (v->state == SG_OMIT || v->state == SG_DEFAULT)
			continue;
		if (!first)
			buf_puts(&line, ", ");
		first = false;
		json_string(&line, r->cat->t.cols[i].name, strlen(r->cat->t.cols[i].name));
		buf_puts(&line, ": ");
		if (v->state == SG_VALUE)
			json_string(&line, v->text, v->len);
		else
			buf_puts(&line, "null");
	}
	buf_puts(&line, "}}\n");
	ok = buf_ok(&line);
	if (ok) {
		n = write(fd, line.data, line.len);     /* O_APPEND: one line, whole */
		ok = n == (ssize_t)line.len;
		if (!ok && !tab->reject_said) {
			log_error(SINK_PREFIX, "cannot write the rejects file %s: %s", tab->conf.rejectfile,
				  n < 0 ? strerror(errno) : "short write");
			tab->reject_said = true;
		}
	}
	buf_free(&line);
	return ok;
}

void rejects_reopen(struct sink *s)
{
	for (int i = 0; i < s->ntables; i++) {
		struct stable *tab = s->tables[i];

		if (tab->reject_fd >= 0)
			close(tab->reject_fd);
		tab->reject_fd = -1;
		tab->reject_said = false;
	}
}
