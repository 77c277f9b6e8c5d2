/* The console's commands: a statement's words, who may run it, and what it does. */
#include "proxy/ccmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "proxy/client.h"
#include "proxy/cshow.h"
#include "proxy/csql.h"
#include "proxy/daemon.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

static int show_help(struct daemon *d, struct cout *o, int mode);

/* -------------------------------------------------------------- commands -- */

static int not_configured(struct ccmd_session *s, const char *table)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "table \"%s\" is not configured", table);
	return cout_fail(s->o, "42P01", msg, NULL);
}

static int do_flush(struct ccmd_session *s, const char *arg, int mode)
{
	struct sink *sink = s->c->d->sink;
	char msg[400];

	if (!(mode & OUT_ROWS))
		return RUN_OK;
	if (sink == NULL) {
		if (arg)
			return not_configured(s, arg);
		cout_complete(s->o, "FLUSH", mode);
		return RUN_OK;
	}
	switch (sink_flush_now(sink, arg, console_flushed, s->c)) {
	case 0:
		s->waiting = true;
		return RUN_WAIT;
	case -1:
		return not_configured(s, arg);
	case -2:
		snprintf(msg, sizeof(msg), "table \"%s\" is paused", arg);
		return cout_fail(s->o, "55000", msg, "RESUME it first.");
	default:
		return cout_fail(s->o, "53200", "out of memory", NULL);
	}
}

static int do_pause(struct ccmd_session *s, const char *arg, int mode, bool pause)
{
	struct sink *sink = s->c->d->sink;

	if (!(mode & OUT_ROWS))
		return RUN_OK;
	if (sink == NULL || sink_pause(sink, arg, pause) < 0) {
		if (arg)
			return not_configured(s, arg);
	} else {
		log_info(s->c->prefix, "console: %s %s", pause ? "PAUSE" : "RESUME", arg ? arg : "(every table)");
	}
	cout_complete(s->o, pause ? "PAUSE" : "RESUME", mode);
	return RUN_OK;
}

static int do_pause_cmd(struct ccmd_session *s, const char *arg, int mode)
{
	return do_pause(s, arg, mode, true);
}

static int do_resume(struct ccmd_session *s, const char *arg, int mode)
{
	return do_pause(s, arg, mode, false);
}

static int do_reload(struct ccmd_session *s, const char *arg, int mode)
{
	char why[512];

	(void)arg;
	if (!(mode & OUT_ROWS))
		return RUN_OK;
	log_info(s->c->prefix, "console: RELOAD");
	if (!daemon_reload(s->c->d, why, sizeof(why)))
		return cout_fail(s->o, "F0000", why, "The old configuration stays in effect.");
	cout_complete(s->o, "RELOAD", mode);
	return RUN_OK;
}

static int do_shutdown(struct ccmd_session *s, const char *arg, int mode)
{
	(void)arg;
	if (!(mode & OUT_ROWS))
		return RUN_OK;
	log_info(s->c->prefix, "console: SHUTDOWN");
	s->shutdown = true;         /* (started once the answers are out) */
	cout_complete(s->o, "SHUTDOWN", mode);
	return RUN_OK;
}

struct ccmd {
	const char *verb;           /* lower case, as csql_word folds */
	const char *object;         /* SHOW's; NULL: the verb alone, with an optional argument */
	bool admin;                 /* admin_users only */
	bool arg;                   /* takes a table name */
	int (*show)(struct daemon *d, struct cout *o, int mode);        /* SHOW: its rows */
	int (*fn)(struct ccmd_session *s, const char *arg, int mode);   /* the others */
	const char *help;
};

static const struct ccmd commands[] = {
	{ "show", "stats", false, false, cshow_stats, NULL, "totals and rates" },
	{ "show", "tables", false, false, cshow_tables, NULL, "per configured table: modes, rows, buffer, batches, state" },
	{ "show", "clients", false, false, cshow_clients, NULL, "every client session" },
	{ "show", "writers", false, false, cshow_writers, NULL, "the sink's writer connections" },
	{ "show", "config", false, false, cshow_config, NULL, "every setting: value, default, reloadable" },
	{ "show", "passthrough", false, false, cshow_passthrough, NULL,
	  "INSERTs into configured tables passed through, by reason" },
	{ "show", "rejects", false, false, cshow_rejects, NULL, "the rows refused last, newest first" },
	{ "show", "spool", false, false, cshow_spool, NULL,
	  "ackmode = spool: units in the spool not yet written, its size, its oldest unit's age" },
	{ "show", "version", false, false, cshow_version, NULL, "pgbatchd's version" },
	{ "show", "help", false, false, show_help, NULL, "this list" },
	{ "flush", NULL, true, true, NULL, do_flush, "FLUSH [table]: write buffered rows now; answers once written" },
	{ "pause", NULL, true, true, NULL, do_pause_cmd, "PAUSE [table]: buffer rows, write none" },
	{ "resume", NULL, true, true, NULL, do_resume,
	  "RESUME [table]: write again (also ends an exceptionmode=strict stop)" },
	{ "reload", NULL, true, false, NULL, do_reload, "read the configuration file again (as SIGHUP)" },
	{ "shutdown", NULL, true, false, NULL, do_shutdown, "write every buffered row, then exit (as SIGTERM)" },
};
#define NCOMMANDS (int)(sizeof(commands) / sizeof(commands[0]))

static int show_help(struct daemon *d, struct cout *o, int mode)
{
	static const struct ccol cols[] = { { "command", OID_TEXT }, { "description", OID_TEXT } };
	char name[64];

	(void)d;
	cout_columns(o, cols, 2, mode);
	for (int i = 0; i < NCOMMANDS && (mode & OUT_ROWS); i++) {
		snprintf(name, sizeof(name), "%s%s%s", commands[i].verb, commands[i].object ? " " : "",
			 commands[i].object ? commands[i].object : "");
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - ('a' - 'A') : *p);
		cout_row_begin(o, 2);
		cout_cell(o, name);
		cout_cell(o, commands[i].help);
		cout_row_end(o);
	}
	cout_complete_rows(o, "SHOW", (uint64_t)NCOMMANDS, mode);
	return RUN_OK;
}

/* ---------------------------------------------------------------- parser -- */

static int syntax(struct ccmd_session *s, const char *why, const char *near)
{
	char msg[400];

	if (near)
		snprintf(msg, sizeof(msg), "%s at or near \"%s\"", why, near);
	else
		snprintf(msg, sizeof(msg), "%s", why);
	return cout_fail(s->o, "42601", msg, NULL);
}

static int run(struct ccmd_session *s, const char *sql, int mode)
{
	char verb[64], obj[64], arg[260], extra[64], msg[400];
	const char *p = sql, *err;
	bool q;
	int i, w;

	if ((w = csql_word(&p, verb, sizeof(verb), &q, &err)) <= 0) {
		if (w < 0)
			return syntax(s, err, NULL);
		if (mode & OUT_ROWS) {
			pkt_begin(&s->o->pb, 'I');          /* EmptyQueryResponse */
			pkt_end(&s->o->pb);
		}
		return RUN_OK;
	}
	if (!q && (strcmp(verb, "commit") == 0 || strcmp(verb, "end") == 0 || strcmp(verb, "rollback") == 0 ||
		   strcmp(verb, "abort") == 0)) {
		/* (COMMIT of a failed transaction block is its ROLLBACK, as in PostgreSQL) */
		cout_complete(s->o, s->tx != 'E' && (strcmp(verb, "commit") == 0 || strcmp(verb, "end") == 0) ?
				    "COMMIT" : "ROLLBACK", mode);
		if (mode & OUT_ROWS)
			s->tx = 'I';
		return RUN_OK;
	}
	if (s->tx == 'E')
		return cout_fail(s->o, "25P02",
				 "current transaction is aborted, commands ignored until end of transaction block", NULL);
	if (!q && (strcmp(verb, "begin") == 0 || strcmp(verb, "start") == 0)) {
		cout_complete(s->o, verb[0] == 'b' ? "BEGIN" : "START TRANSACTION", mode);
		if (mode & OUT_ROWS)
			s->tx = 'T';
		return RUN_OK;
	}
	if (!q && (strcmp(verb, "set") == 0 || strcmp(verb, "reset") == 0 || strcmp(verb, "discard") == 0)) {
		/* (drivers send these unasked; the console has no settings) */
		cout_complete(s->o, verb[0] == 's' ? "SET" : verb[0] == 'r' ? "RESET" : "DISCARD ALL", mode);
		return RUN_OK;
	}
	obj[0] = arg[0] = '\0';
	for (i = 0; i < NCOMMANDS; i++) {
		if (q || strcmp(verb, commands[i].verb) != 0)
			continue;
		if (commands[i].object) {
			const char *save = p;

			if ((w = csql_word(&p, obj, sizeof(obj), &q, &err)) < 0)
				return syntax(s, err, NULL);
			if (w == 0 || q || strcmp(obj, commands[i].object) != 0) {
				p = save;
				continue;
			}
		}
		break;
	}
	if (i == NCOMMANDS) {
		if (!q && strcmp(verb, "show") == 0)
			snprintf(msg, sizeof(msg), "unrecognized SHOW item \"%s\"",
				 csql_word(&p, obj, sizeof(obj), &q, &err) > 0 ? obj : "");
		else
			snprintf(msg, sizeof(msg), "unrecognized console command \"%s\"", verb);
		return cout_fail(s->o, "42601", msg, "SHOW HELP lists the commands.");
	}
	if (commands[i].arg && (w = csql_word(&p, arg, sizeof(arg), &q, &err)) < 0)
		return syntax(s, err, NULL);
	if ((w = csql_word(&p, extra, sizeof(extra), &q, &err)) != 0)
		return w < 0 ? syntax(s, err, NULL) : syntax(s, "syntax error", extra);
	if (commands[i].admin && !s->admin) {
		snprintf(msg, sizeof(msg), "permission denied to run %s", commands[i].verb);
		for (char *m = msg + strlen("permission denied to run "); *m; m++)
			*m = (char)(*m >= 'a' && *m <= 'z' ? *m - ('a' - 'A') : *m);
		return cout_fail(s->o, "42501", msg, "Only the users of admin_users may; stats_users may SHOW.");
	}
	if (commands[i].show)
		return commands[i].show(s->c->d, s->o, mode);
	if (mode == OUT_DESC) {
		pkt_begin(&s->o->pb, 'n');        /* NoData (a Describe's) */
		pkt_end(&s->o->pb);
		return RUN_OK;
	}
	return commands[i].fn(s, arg[0] ? arg : NULL, mode);
}

int ccmd_run(struct ccmd_session *s, const char *sql, int mode)
{
	int r = run(s, sql, mode);

	if (r == RUN_ERROR && s->tx == 'T')
		s->tx = 'E';
	return r;
}
