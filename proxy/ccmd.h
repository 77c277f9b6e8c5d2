/* The console's commands: one statement run -- SHOW, FLUSH, PAUSE, RESUME, RELOAD, SHUTDOWN, and the transaction and SET words drivers send. */
#ifndef PGBATCHD_PROXY_CCMD_H
#define PGBATCHD_PROXY_CCMD_H

#include <stdbool.h>

struct client;
struct cout;

/* What a console session is to its commands. */
struct ccmd_session {
	struct client *c;
	struct cout *o;             /* the replies */
	bool admin;                 /* admin_users (else stats_users: SHOW only) */
	char tx;                    /* 'I'; 'T' after BEGIN; 'E' after an error in it */
	bool waiting;               /* a FLUSH waits for its rows (console_flushed says when) */
	bool shutdown;              /* SHUTDOWN was answered: started once the answers are out */
};

/* One statement (comments gone, no ';'), its RowDescription and/or rows and
 * tag as mode says (cshow.h's OUT_*): RUN_OK, RUN_ERROR (an ErrorResponse
 * written) or RUN_WAIT (a FLUSH: console_flushed(c) runs once its rows are
 * written; its CommandComplete is written then). */
int ccmd_run(struct ccmd_session *s, const char *sql, int mode);

/* The FLUSH's rows are written (paused: its table was paused before they
 * were): called by the sink (sink_flush_now), defined in console.c. */
void console_flushed(void *client, bool paused);

#endif
