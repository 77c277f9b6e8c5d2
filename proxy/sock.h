/* Sockets for sessions: evbuffers on raw events, reads capped, writes coalesced per callback, TLS when asked. */
#ifndef PGBATCHD_PROXY_SOCK_H
#define PGBATCHD_PROXY_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/util.h>

struct event_base;
struct evbuffer;
struct sock;

enum sock_event { SOCK_CONNECTED, SOCK_EOF, SOCK_ERROR };

struct sock_ops {
	void (*on_read)(struct sock *s, void *arg);        /* new bytes in the input */
	void (*on_drain)(struct sock *s, void *arg);       /* output fell to the low mark */
	void (*on_event)(struct sock *s, enum sock_event ev, int err, void *arg);
};

/* Output appended by the owner is written when the current callback returns
 * (one write per socket per callback, however many messages were added); what
 * the kernel does not take waits for writability. Reading stops while the
 * input holds in_cap bytes or more, or while the owner disabled it. A sock
 * may be freed from inside its own callbacks. */

/* Wraps a connected, or (fd < 0) a not yet created, socket. */
struct sock *sock_new(struct event_base *base, evutil_socket_t fd, const struct sock_ops *ops, void *arg);
/* Non-blocking connect; SOCK_CONNECTED or SOCK_ERROR follows. */
bool sock_connect(struct sock *s, const struct sockaddr *sa, socklen_t len) __attribute__((warn_unused_result));
void sock_free(struct sock *s);

struct evbuffer *sock_input(struct sock *s);
/* The output, to append to: it is written when the callback returns (taking it marks the
 * socket for the flush; no evbuffer callback per append). */
struct evbuffer *sock_output(struct sock *s);
/* Appends n bytes to the output, as appending to sock_output's evbuffer does;
 * a few bytes while nothing else waits go to a flat area of the socket's own
 * instead, which costs no evbuffer chain. */
void sock_put(struct sock *s, const void *p, size_t n);
/* Bytes not yet written (no mark). */
size_t sock_output_len(const struct sock *s);
evutil_socket_t sock_fd(const struct sock *s);

void sock_set_limits(struct sock *s, size_t max_read, size_t in_cap, size_t out_low);
void sock_read(struct sock *s, bool enable);
/* Runs on_read from the loop soon (input already buffered needs processing),
 * never from inside the caller. */
void sock_kick(struct sock *s);
/* The peer left (EOF or an error): from now on output is dropped and nothing
 * more is read; what is already in the input stays for the owner to finish. */
void sock_peer_gone(struct sock *s);
/* Once the output is written, the write side is shut down (the peer reads
 * EOF); reading goes on. */
void sock_shutdown_write(struct sock *s);
/* Marks the output as having new bytes (sock_output does it). */
void sock_flush_later(struct sock *s);

/* TLS from now on, the server side (pgbatchd answered a client's
 * SSLRequest with 'S'): what is in the output is written first, in the
 * clear; the handshake then runs from the loop (a failure is SOCK_ERROR,
 * sock_tls_error says why) and every byte after it goes through TLS. False
 * when it cannot start (the output not written at once, no memory). */
struct ssl_ctx_st;
/* sock_connect as a PostgreSQL client that wants TLS (ctx not NULL): once
 * connected it sends an SSLRequest; 'S' starts the client side of the
 * handshake (the server's certificate checked as ctx says; with check_name,
 * its name against host, which also goes as SNI), 'N' goes on in the clear
 * unless required. SOCK_CONNECTED comes when the StartupMessage may be
 * sent; a failure is SOCK_ERROR, sock_tls_error saying why. */
bool sock_connect_pg(struct sock *s, const struct sockaddr *sa, socklen_t len, struct ssl_ctx_st *ctx,
		     bool required, const char *host, bool check_name) __attribute__((warn_unused_result));
bool sock_start_tls(struct sock *s, struct ssl_ctx_st *ctx) __attribute__((warn_unused_result));
bool sock_tls(const struct sock *s);
/* A TLS socket that read and wrote nothing for this long gives its record
 * buffers back (about 50 KB; a busy one keeps them). */
#define SOCK_TLS_TRIM_SECONDS 2
/* The client sent a certificate that verified: true, and its common name
 * in buf ("" when it has none, or one with a NUL); false otherwise. */
bool sock_tls_peer_cn(const struct sock *s, char *buf, size_t len);
/* Why the last TLS operation failed, in OpenSSL's words ("" when none). */
const char *sock_tls_error(const struct sock *s);

#endif
