/* Extended-protocol interception: prepared INSERT statements, their Bind values, and Sync groups taken as units. */
#ifndef PGBATCHD_PROXY_EXTQ_H
#define PGBATCHD_PROXY_EXTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/intercept.h"

struct client;
struct evbuffer;
struct pending;
struct rq_entry;
struct sink_reply;
struct sink_unit;
struct group;
struct pktbuf;

/*
 * A Sync group (the messages from one Sync to the next) whose every message
 * is about recognized INSERTs -- Parse of an INSERT into a configured table,
 * Bind of such a statement (text, or binary of a decoded type), Describe and
 * Close of its unnamed portal, Execute -- is held whole and, at its Sync,
 * handed to the sink as one unit: PostgreSQL runs such a group as one
 * implicit transaction. Its answers are ours, made when the sink answers.
 * Anything else in a group (another statement, a Describe of a statement, a
 * Flush, a message too large to inspect) makes the whole group pass through:
 * what was held is forwarded in order, each prepared statement the backend
 * has not seen first sent as a Parse whose answer is swallowed.
 */

/* Parse, Bind, Describe, Execute, Close, Sync or Flush of a session with a
 * sink, whole at the front of `in`. */
enum intercept_result extq_message(struct client *c, uint8_t type, struct evbuffer *in, size_t total);
/* A message that was not offered (too large, a Query, a FunctionCall) is
 * about to be forwarded: a held group passes through first. False: wait
 * (the session resumes by itself). */
bool extq_before_forward(struct client *c, uint8_t type);

/* The sink answered a group's unit; it settled. */
void extq_reply(struct pending *p, const struct sink_reply *r);
void extq_settled(struct pending *p);

/* A message pgbatchd sent for itself was answered: a session waiting for
 * its probes goes on. */
void extq_probe_done(struct client *c);

/* The session ends. */
void extq_free(struct client *c);

#endif
