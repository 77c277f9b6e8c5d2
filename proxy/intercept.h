/* INSERT interception in a client session: which messages to inspect, handing rows to the sink. */
#ifndef PGBATCHD_PROXY_INTERCEPT_H
#define PGBATCHD_PROXY_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct reply;
struct evbuffer;

enum intercept_result {
	INTERCEPT_FORWARD,  /* relay the message to the backend as usual */
	INTERCEPT_TAKEN,    /* consumed from the input; its reply is queued */
	INTERCEPT_WAIT,     /* leave it in the input; the session resumes later */
	INTERCEPT_CLOSED,   /* the session was closed */
};

/* Should this message be read whole and offered to intercept_message? */
bool intercept_wanted(const struct client *c, uint8_t type, uint32_t len);

/* Called with the whole message (total bytes, header included) at the front of `in`. */
enum intercept_result intercept_message(struct client *c, uint8_t type, struct evbuffer *in,
					size_t total);

/* A reply of ours is dropped with its session: let go of its sink ticket. */
void intercept_forget(struct reply *r);

#endif
