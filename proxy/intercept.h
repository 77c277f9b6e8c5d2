/* INSERT interception in a client session: which messages to inspect, handing rows to the sink. */
#ifndef PGBATCHD_PROXY_INTERCEPT_H
#define PGBATCHD_PROXY_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct daemon;
struct evbuffer;

enum intercept_result {
	INTERCEPT_FORWARD,  /* relay the message to the backend as usual */
	INTERCEPT_TAKEN,    /* consumed from the input; its reply is queued */
	INTERCEPT_WAIT,     /* leave it in the input; the session resumes later */
};

/* Should this message be read whole and offered to intercept_message? */
bool intercept_wanted(const struct client *c, uint8_t type, uint32_t len);
/* A Query over the inspection cap, within max_insert_bytes: read whole too
 * (an INSERT anywhere in it gets its table's clause, so that its size never
 * changes what it means). */
bool intercept_big_query(const struct client *c, uint8_t type, uint32_t len);

/* Called with the whole message (total bytes, header included) at the front of `in`. */
enum intercept_result intercept_message(struct client *c, uint8_t type, struct evbuffer *in,
					size_t total);

/* A message is forwarded now (after intercept_must_wait said go); `total`
 * bytes of it, header included, start `in` (maybe not all there yet). */
void intercept_forwarding(struct client *c, uint8_t type, struct evbuffer *in, size_t total);

/* Before any message is forwarded: true (and a flush requested) while the
 * session must first see its intercepted rows decided, or committed when
 * readyourwrites = 1. The session resumes by itself when they are. */
bool intercept_must_wait(struct client *c);
/* True (and those units flushed now) while an INSERT of the session is not
 * answered yet: it may still pass through to the backend. The session
 * resumes by itself. */
bool intercept_undecided(struct client *c);

/* The session ends: its rows stay in the sink, nobody is told. */
void intercept_session_end(struct client *c);
/* A CancelRequest for the session: its INSERT waiting for its commit fails
 * with 57014 and is not written (unless it is being committed already). */
void intercept_cancel(struct client *c);
/* The server ended the session on its own (pg_terminate_backend, a crash):
 * its INSERTs not yet answered are statements of a session that no longer
 * exists: they leave the queue unwritten, as a cancel takes them (unless
 * their batch is committing already). Acknowledged rows stay promised. */
void intercept_server_gone(struct client *c);

/* A ParameterStatus from the backend: interception needs client_encoding UTF8
 * and standard_conforming_strings on, as the recognizer assumes. */
void intercept_param(struct client *c, const char *name, const char *value);

/* A statement passes through (its SQL text): DDL and GRANT/REVOKE make the
 * sink's catalog stale. */
void intercept_note_statement(struct client *c, const char *sql, size_t len);
/* A ReadyForQuery was relayed. */
void intercept_ready(struct client *c, char tx_status);

/* The sink has room again: sessions that stopped reading resume. */
void intercept_room(void *daemon);
/* Rows a transaction waited for are written: its session goes on. */
void intercept_tx_wake(void *daemon);

/* Why an INSERT into a configured table passed through: the recognizer's
 * enum ins_reason (0 .. INS_REASON_COUNT), then these. Counted in the
 * daemon's intercept_stats.passthrough. */
enum pass_slot {
	PASS_AT_TXBLOCK = 11,       /* (INS_REASON_COUNT) in a transaction block, or a group's */
	PASS_AT_SINK,               /* the sink gave it back (its own reasons, sink/stats.h) */
	PASS_AT_SETTINGS,           /* session settings the recognizer cannot honour */
	PASS_AT_GROUP,              /* an extended-protocol group holding other messages */
	PASS_SLOTS
};
/* A slot's name in snake case (ins_reason_name's for the recognizer's). */
const char *intercept_pass_name(int slot);

/* Counters, logged on SIGUSR1 and at exit. */
void intercept_log_stats(const struct daemon *d);

#endif
