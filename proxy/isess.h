/* The interception session: what pgbatchd holds of one client session to answer its INSERTs itself. */
#ifndef PGBATCHD_PROXY_ISESS_H
#define PGBATCHD_PROXY_ISESS_H

#include <stdbool.h>
#include <stdint.h>

struct pending;
struct sink_session;
struct extq;
struct pstmt;
struct txn;
struct view;
struct direct;
struct copyin;
struct absorbed;
struct client;
struct rq_entry;
struct pktbuf;

/*
 * A client session (client.h) is a socket, a login and perhaps a backend
 * connection; this is the rest: the statements pgbatchd took from it and has
 * not settled, its sink session, its held extended-protocol group, its
 * prepared statements, its transaction block's staged rows and the view of
 * its role and settings. client.c owns one per session (zeroed at accept) and
 * touches it only through the hooks of intercept.h, extq.h, txn.h, pstmt.h,
 * view.h, direct.h, absorb.h and clause.h; those modules change it and reach
 * the session only through client.h's functions and the reply queue
 * (replyq.h). scripts/structure.sh checks both directions.
 */
struct isess {
	struct pending *pending;        /* intercepted messages not yet settled, newest first */
	struct pending *pending_oldest; /* its other end */
	struct sink_session *ss;        /* its sink session, from its first intercepted INSERT */
	bool in_group;                  /* extended-protocol messages sent since the last Sync */
	bool waiting_forward;           /* an INSERT waits for the ReadyForQuery before it */
	bool clause_wait;               /* a statement waits for a table's catalog (clause.c) */
	bool clause_wait_msg;           /* the Query first in the input is not taken: it waits (staged rows, its clause) */
	bool query_decided;             /* ... it was decided and given its clauses, and waits to go
	                                   (intercept_must_wait): read again, not decided (counted) again */
	bool custom_settings;           /* it set a custom setting (ins_sets_custom), or its startup did */
	bool inert_query;               /* the Query about to go changes nothing of the session
	                                   (clause.c): its view stays true */
	bool enc_odd, scs_odd;
	bool odd_settings;              /* client_encoding not UTF8 or standard_conforming_strings
	                                   off: the recognizer's assumptions do not hold */
	bool ddl_seen;                  /* DDL/GRANT/REVOKE passed: the sink's catalog is stale */
	bool tx_ddl;                    /* ALTER/CREATE/DROP passed since the last idle ReadyForQuery */
	bool tx_savepoint;              /* SAVEPOINT passed since then: simple-Query INSERTs not staged */
	char *settings[4];              /* TimeZone, DateStyle, IntervalStyle, client_encoding */
	struct extq *xq;                /* its held extended-protocol group (extq.c) */
	struct pstmt *stmts;            /* its prepared statements (pstmt.c) */
	struct txn *txn;                /* its transaction block's staged INSERTs (txn.c) */
	struct view *view;              /* its role, search_path, settings as asked (view.c) */
	struct direct *direct;          /* its INSERT written on its own connection (direct.c) */
	struct absorbed *abs;           /* SETs it had answered without a backend (absorb.h) */
	struct copyin *copy_next;       /* the next forwarded Query is a COPY given its table's
	                                   clause: its entry takes this (copyin.h) */
	void *capture_owner;            /* the next forwarded message's entry is a capture one,
	                                   owned by this (extq.c) */
};

/*
 * The hooks the session core (client.c, clogin.c, backend.c, daemon.c) calls
 * (isess.c), besides intercept.h's for the messages it offers; nothing else
 * of the interception modules is called from there.
 */
struct evbuffer;

/* The session's life. */
void isess_end(struct client *c);                       /* it ends: all it holds is let go */
/* Its backend is about to be closed (or the session ends): a direct write
 * running there holds its unit until the server has ended that connection. */
void isess_backend_closing(struct client *c);
/* Shutdown past its bound: a direct write still running is cancelled. */
void isess_abort(struct client *c);
/* Logged in with a backend of its own: its view is asked now. */
void isess_backend_ready(struct client *c);
/* ... without one: the view its login's check read (view_install). */
void isess_login_view(struct client *c, const uint8_t *row, uint32_t len, int ntables);
/* A backend opened later logged in; for_direct: opened for direct writes, its view
 * asked on it now when between two messages (quiet), else before the next
 * INSERT. */
void isess_backend_joined(struct client *c, bool for_direct, bool quiet);
/* A CancelRequest came while that backend logged in: true when the SETs
 * replayed there run first (the cancel goes once they are done). */
bool isess_cancel_after_replay(struct client *c);
/* The question a login's check asks on its own connection (view.h), with
 * the session's settings: a Query appended to q. */
struct sink;
bool isess_view_question(struct sink *s, struct pktbuf *q);
/* ... the SETs it answered itself go to it first. False: out of memory. */
bool isess_replay(struct client *c, struct evbuffer *to_backend);
/* A ParameterStatus from the backend (body): false when the client was told
 * that value last already, so it is not sent again. */
bool isess_param_relayed(struct client *c, const uint8_t *body, uint32_t len);

/* Its input. */
/* Without a backend: SETs at the head of the input it answers itself (true: taken). */
bool isess_absorb(struct client *c, struct evbuffer *in);
/* A message not offered to intercept_message is about to pass through: false
 * when what the session holds goes first (it resumes by itself). */
bool isess_may_forward(struct client *c, uint8_t type);
/* Terminate: false while taken or staged statements still decide. */
bool isess_may_end(struct client *c);
/* ... it is sent: staged rows are dropped, as the server rolls back. */
void isess_input_ended(struct client *c);
/* A message of type t goes to the backend (answered: it gets an entry). */
void isess_message(struct client *c, uint8_t t, bool answered);
/* ... and its reply-queue entry takes what waits for it (a COPY's clause, a
 * capture owner). */
void isess_entry(struct client *c, struct rq_entry *e, uint8_t t);

/* The backend's answers. */
/* A ReadyForQuery was relayed. */
void isess_ready(struct client *c, char tx_status);
/* ... and the answers of pgbatchd's own after it went: true when an INSERT
 * waited for it (the client's input is to be read again). */
bool isess_forward_woken(struct client *c);
/* A capture entry's ErrorResponse, ParameterDescription or CommandComplete. */
void isess_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len);
/* An entry with an owner is answered (reply queue on_done). */
void isess_entry_done(struct client *c, struct rq_entry *e);
/* A late entry's first ErrorResponse or CommandComplete (reply queue
 * on_late): true when it is replaced, by what is written to out. */
bool isess_late(struct client *c, struct rq_entry *e, struct pktbuf *out);

/* What the core must know of it. */
bool isess_settled(const struct client *c);             /* nothing taken waits for the sink */
bool isess_bare(const struct client *c);                /* nothing held, staged or taken */

#endif
