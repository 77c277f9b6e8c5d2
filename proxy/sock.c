/* Sockets for sessions: evbuffers on raw events, reads capped, writes coalesced per callback, TLS when asked. */
#include "proxy/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/later.h"

#define SEAM_CORE
#include "proxy/seam.h"

struct sock {
	struct event_base *base;
	evutil_socket_t fd;
	struct event *rev, *wev, *kev;
	struct evbuffer *in, *out;
	/* Small output written by sock_put while out is empty: a flat area of
	 * the socket's own, kept from write to write, so that an answer of a
	 * few bytes costs no evbuffer chain (a malloc, a copy, a free). Its
	 * bytes always come before out's: it takes bytes only while out is
	 * empty, and moves to out's front before anything is appended there
	 * (out of memory it stays, and out waits behind it). */
	char *obuf;
	size_t olen, ocap;
	const struct sock_ops *ops;
	void *arg;
	size_t max_read, in_cap, out_low;
	bool want_read;         /* the owner's wish */
	bool reading;           /* rev is added */
	bool writing;           /* wev is added */
	bool connecting;
	bool dirty;             /* on the flush list */
	bool dead;              /* freed while a callback of ours was running */
	bool gone;              /* the peer left: output is dropped, nothing is read */
	bool shut_wr;           /* sock_shutdown_write: once the output is written */
	bool shut_done;
	int busy;               /* callbacks of ours on the stack */
	struct sock *next_dirty;
	/* TLS (sock_start_tls, sock_connect_pg): a handshake, then every byte
	 * through it; none of it is looked at while tls_on is false */
	bool tls_on;
	SSL *ssl;
	bool hs;                /* the handshake runs */
	bool hs_wants_write;    /* ... and waits for writability */
	bool rd_wants_write;    /* a read waits for writability */
	bool wr_wants_read;     /* a write waits for readability */
	bool hs_client;         /* the handshake is the client side's (sock_connect_pg) */
	bool tls_failed;        /* a fatal TLS error: no close_notify then */
	bool negotiating;       /* SSLRequest sent: the server's one-byte answer is due */
	bool tls_required;      /* ... and 'N' is a failure */
	SSL_CTX *cctx;          /* sock_connect_pg's context (a reference) */
	uint32_t tls_io;        /* SSL reads and writes so far (trim) */
	uint32_t tls_io_seen;   /* ... at the last trim */
	struct sock *tls_prev, *tls_next;       /* every socket with an SSL object (tls_socks) */
	char *tls_host;         /* ... the server's name (SNI) */
	bool tls_check_name;    /* ... which its certificate must bear (verify-full) */
	char tls_err[160];
};

/* Sockets with output appended during the current callback; written when it
 * returns (common/later.h), or from the loop when no callback of ours runs. */
static struct sock *dirty_list;
static struct later *flusher;

static bool sock_write_now(struct sock *s);
static void set_writing(struct sock *s, bool on);
static void update_read(struct sock *s);

/* ---------------------------------------------------------------- TLS -- */

static void tls_note(struct sock *s, const char *what, int err)
{
	unsigned long e = ERR_get_error();
	char buf[120];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", err ? strerror(err) : "the peer closed the connection");
	snprintf(s->tls_err, sizeof(s->tls_err), "%s: %s", what, buf);
	s->tls_failed = true;
	ERR_clear_error();
}

/* SSL_get_error reads the thread's error queue, which libpq's connections
 * (the sink's) share: it must be empty before each SSL call. Emptying it
 * costs a walk of all its slots; looking costs a read of two indexes (and
 * after a failure of ours, tls_note emptied it). */
static void tls_clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* Reads up to n bytes: > 0 read, 0 at EOF, -1 with errno (EAGAIN: not now). */
static ssize_t io_read(struct sock *s, void *buf, size_t n)
{
	int k, e;

	if (s->ssl == NULL)
		return recv(s->fd, buf, n, 0);
	tls_clear_errors();
	s->tls_io++;
	errno = 0;
	k = SSL_read(s->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (k > 0)
		return k;
	e = SSL_get_error(s->ssl, k);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		s->rd_wants_write = true;
		set_writing(s, true);
		update_read(s);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0)
			return 0;       /* (closed without close_notify) */
		e = errno ? errno : EPROTO;
		tls_note(s, "TLS read", e);
		errno = e;
		return -1;
	default:
		tls_note(s, "TLS read", 0);
		errno = EPROTO;
		return -1;
	}
}

/* Writes up to n (> 0) bytes: the count written, or -1 with errno. */
static ssize_t io_write(struct sock *s, const void *buf, size_t n)
{
	int k, e;

	if (s->ssl == NULL)
		return send(s->fd, buf, n, MSG_NOSIGNAL);
	tls_clear_errors();
	s->tls_io++;
	errno = 0;
	k = SSL_write(s->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (k > 0)
		return k;
	e = SSL_get_error(s->ssl, k);
	if (e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_WANT_READ) {
		s->wr_wants_read = true;        /* (the write event is off meanwhile) */
		update_read(s);
		errno = EAGAIN;
		return -1;
	}
	e = e == SSL_ERROR_SYSCALL && errno ? errno : EPIPE;
	tls_note(s, "TLS write", e);
	errno = e;
	return -1;
}

/* The output through TLS (evbuffer_write is the way without it). */
static int out_write_tls(struct sock *s)
{
	struct evbuffer_iovec v;
	ssize_t k;

	/* up to a record's worth at once: one record and one write, not one a
	 * chain (a retry then passes the same bytes first, perhaps more) */
	v.iov_len = evbuffer_get_length(s->out);
	if (v.iov_len > 16384)
		v.iov_len = 16384;
	if (v.iov_len == 0 || (v.iov_base = evbuffer_pullup(s->out, (ev_ssize_t)v.iov_len)) == NULL)
		return 0;
	k = io_write(s, v.iov_base, v.iov_len);
	if (k > 0)
		evbuffer_drain(s->out, (size_t)k);
	return (int)k;
}

#define OBUF_FIRST 512
#define OBUF_MAX 4096           /* more goes to the evbuffer */

static size_t out_len(const struct sock *s)
{
	return s->olen + evbuffer_get_length(s->out);
}

/* The flat bytes move to the front of the evbuffer, which then holds all the
 * output. (Out of memory they stay, and nothing behind them is written.) */
static void obuf_spill(struct sock *s)
{
	if (s->olen == 0 || evbuffer_prepend(s->out, s->obuf, s->olen) < 0)
		return;
	s->olen = 0;
}

/* Sends what the kernel takes of the flat bytes; false on an error (errno). */
static bool obuf_send(struct sock *s, bool *wrote)
{
	ssize_t k;

	if (s->olen == 0)
		return true;
	k = io_write(s, s->obuf, s->olen);
	if (k < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if ((size_t)k < s->olen)
		memmove(s->obuf, s->obuf + k, s->olen - (size_t)k);
	s->olen -= (size_t)k;
	*wrote = *wrote || k > 0;
	return true;
}

/* The output is all written and the owner asked for a half-close: the peer reads EOF. */
static void maybe_shut(struct sock *s)
{
	if (s->shut_wr && !s->shut_done && s->fd >= 0 && out_len(s) == 0) {
		s->shut_done = true;
		if (s->ssl && !s->hs) {
			ERR_clear_error();
			(void)SSL_shutdown(s->ssl);     /* close_notify first */
		}
		(void)shutdown(s->fd, SHUT_WR);
	}
}

/* Adds or removes ev when its state (*on) changes: no epoll_ctl otherwise. */
static void toggle(struct event *ev, bool *on, bool want)
{
	if (want == *on)
		return;
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

static void update_read(struct sock *s)
{
	/* (while TLS waits for writability to read, the read event is off: it
	 * would fire again and again with the bytes the read cannot take yet) */
	bool want = s->want_read;

	if (s->tls_on)
		want = (want || s->negotiating || s->hs || s->wr_wants_read) && !s->rd_wants_write && !s->hs_wants_write;
	toggle(s->rev, &s->reading, want && !s->dead && !s->connecting && s->fd >= 0 &&
				    evbuffer_get_length(s->in) < s->in_cap);
	/* bytes OpenSSL read from the socket already are no readable event */
	if (s->tls_on && s->reading && s->ssl && !s->hs && SSL_has_pending(s->ssl))
		event_active(s->rev, EV_READ, 0);
}

static void set_writing(struct sock *s, bool on)
{
	toggle(s->wev, &s->writing, on);
}

/* ---- record buffers of idle TLS sockets ---- */

/* A TLS socket keeps its record buffers (about 50 KB) while it is busy:
 * SSL_MODE_RELEASE_BUFFERS freed and allocated them for every record (1,900
 * instructions an INSERT). Every SOCK_TLS_TRIM_SECONDS the sockets that read
 * and wrote nothing since the last look give them back, so that a fleet of
 * idle TLS sessions holds none. The timer runs only while a TLS socket
 * exists: a timer in the loop costs every loop turn a timeout computation. */
static struct sock *tls_socks;
static struct event *trim_ev;
static int ntls;

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (struct sock *s = tls_socks; s; s = s->tls_next) {
		if (s->hs || s->dead)
			continue;
		if (s->tls_io == s->tls_io_seen && !SSL_has_pending(s->ssl))
			(void)SSL_free_buffers(s->ssl);         /* (refused while a record is half done) */
		s->tls_io_seen = s->tls_io;
	}
}

/* s has its SSL object now: it joins the sockets looked at. */
static void tls_link(struct sock *s)
{
	struct timeval every = { SOCK_TLS_TRIM_SECONDS, 0 };

	s->tls_prev = NULL;
	s->tls_next = tls_socks;
	if (tls_socks)
		tls_socks->tls_prev = s;
	tls_socks = s;
	if (ntls++ == 0) {
		if (trim_ev == NULL)
			trim_ev = event_new(s->base, -1, EV_PERSIST, on_trim, NULL);
		if (trim_ev)
			event_add(trim_ev, &every);
	}
}

static void tls_unlink(struct sock *s)
{
	if (s->tls_prev)
		s->tls_prev->tls_next = s->tls_next;
	else
		tls_socks = s->tls_next;
	if (s->tls_next)
		s->tls_next->tls_prev = s->tls_prev;
	s->tls_prev = s->tls_next = NULL;
	if (--ntls == 0 && trim_ev)
		event_del(trim_ev);
}

__attribute__((noinline)) static void destroy(struct sock *s)
{
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	free(s->obuf);
	if (s->ssl)
		tls_unlink(s);
	SSL_free(s->ssl);
	SSL_CTX_free(s->cctx);
	free(s->tls_host);
	free(s);
}

static void release(struct sock *s)
{
	if (--s->busy == 0 && s->dead)
		destroy(s);
}

static void flush_all(void *arg)
{
	struct sock *s;

	(void)arg;
	while ((s = dirty_list) != NULL) {
		dirty_list = s->next_dirty;
		s->next_dirty = NULL;
		s->dirty = false;
		s->busy++;
		if (!s->dead && !s->connecting && sock_write_now(s) && !s->dead &&
		    out_len(s) <= s->out_low && s->ops->on_drain)
			s->ops->on_drain(s, s->arg);
		release(s);
	}
}

void sock_flush_later(struct sock *s)
{
	if (s->dirty || s->dead)
		return;
	s->dirty = true;
	s->next_dirty = dirty_list;
	dirty_list = s;
	if (flusher)
		later_ask(flusher);
}

/* Writes what the kernel takes; the rest waits for writability. Errors are
 * reported from the write event, never from inside the caller's code. */
static bool sock_write_now(struct sock *s)
{
	bool wrote = false;
	int n;

	if (s->gone) {
		evbuffer_drain(s->out, evbuffer_get_length(s->out));
		s->olen = 0;
		set_writing(s, false);
		return true;
	}
	if (s->hs)
		return false;   /* (written once the handshake is done) */
	/* the usual answer: a few flat bytes, one send; what is left (or an
	 * error, which the evbuffer's write then meets) goes the evbuffer's way */
	(void)obuf_send(s, &wrote);
	obuf_spill(s);
	while (s->olen == 0 && evbuffer_get_length(s->out) > 0) {
		n = s->ssl ? out_write_tls(s) : evbuffer_write(s->out, s->fd);
		if (n > 0) {
			wrote = true;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		/* A dead peer: let the write event see the error. */
		set_writing(s, true);
		event_active(s->wev, EV_WRITE, 0);
		return false;
	}
	set_writing(s, (out_len(s) > 0 && !s->wr_wants_read) || s->rd_wants_write);
	maybe_shut(s);
	return wrote;
}

static void on_readable_in(evutil_socket_t fd, struct sock *s);

/* Connected, in the clear or through TLS: the owner may write. */
static void connected(struct sock *s)
{
	s->ops->on_event(s, SOCK_CONNECTED, 0, s->arg);
	if (!s->dead) {
		update_read(s);
		if (out_len(s) > 0)
			(void)sock_write_now(s);
	}
}

static void handshake(struct sock *s);

/* Connected: an SSLRequest, its answer read by negotiate(). */
static void ask_tls(struct sock *s)
{
	static const unsigned char ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };

	if (send(s->fd, ssl_request, sizeof(ssl_request), MSG_NOSIGNAL) != (ssize_t)sizeof(ssl_request)) {
		s->ops->on_event(s, SOCK_ERROR, errno ? errno : EIO, s->arg);
		return;
	}
	s->negotiating = true;
	update_read(s);
}

/* The server's answer to the SSLRequest: 'S' starts the client side of the
 * handshake, 'N' goes on in the clear unless TLS is required (libpq's words
 * for what fails). One byte only: what follows 'S' is the server's TLS. */
static void negotiate(struct sock *s)
{
	unsigned char b;
	ssize_t n = recv(s->fd, &b, 1, 0);
	struct in6_addr ip;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	s->negotiating = false;
	if (n <= 0) {
		snprintf(s->tls_err, sizeof(s->tls_err), "server closed the connection during SSL negotiation");
		s->ops->on_event(s, SOCK_ERROR, n < 0 ? errno : ECONNRESET, s->arg);
		return;
	}
	if (b == 'N' && !s->tls_required) {
		connected(s);
		return;
	}
	if (b != 'S') {
		snprintf(s->tls_err, sizeof(s->tls_err), b == 'N' ? "server does not support SSL, but SSL was required" :
			 "received invalid response to SSL negotiation: %c", b);
		s->ops->on_event(s, SOCK_ERROR, EPROTO, s->arg);
		return;
	}
	if ((s->ssl = SSL_new(s->cctx)) != NULL)
		tls_link(s);
	if (s->ssl == NULL || !SSL_set_fd(s->ssl, s->fd)) {
		tls_note(s, "TLS start", ENOMEM);
		s->ops->on_event(s, SOCK_ERROR, ENOMEM, s->arg);
		return;
	}
	SSL_set_connect_state(s->ssl);
	if (s->tls_host) {
		bool is_ip = inet_pton(AF_INET, s->tls_host, &ip) == 1 || inet_pton(AF_INET6, s->tls_host, &ip) == 1;

		if (!is_ip)
			(void)SSL_set_tlsext_host_name(s->ssl, s->tls_host);    /* SNI, as libpq sends it */
		if (s->tls_check_name &&
		    !(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), s->tls_host) :
			      SSL_set1_host(s->ssl, s->tls_host))) {
			tls_note(s, "TLS start", EINVAL);
			s->ops->on_event(s, SOCK_ERROR, EINVAL, s->arg);
			return;
		}
	}
	s->hs = s->hs_client = true;
	handshake(s);
}

/* A step of the handshake, either side (the caller holds s). */
static void handshake(struct sock *s)
{
	bool queued;
	int r, err;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->hs = s->hs_wants_write = false;
		set_writing(s, out_len(s) > 0);
		update_read(s);
		if (s->hs_client) {
			s->hs_client = false;
			connected(s);
			return;
		}
		if (s->reading)
			event_active(s->rev, EV_READ, 0);  /* its first message may be in already */
		return;
	}
	err = errno;
	queued = ERR_peek_error() != 0;
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		s->hs_wants_write = false;
		set_writing(s, false);
		update_read(s);
		return;
	case SSL_ERROR_WANT_WRITE:
		s->hs_wants_write = true;
		set_writing(s, true);
		update_read(s);
		return;
	case SSL_ERROR_ZERO_RETURN:
	case SSL_ERROR_SYSCALL:
		if (!queued && err == 0) {
			/* gone before a word of TLS (pgbatchd --ping, a health check) */
			s->want_read = false;
			update_read(s);
			s->ops->on_event(s, SOCK_EOF, 0, s->arg);
			return;
		}
		/* fall through */
	default:
		tls_note(s, "TLS handshake", err);
		/* a reset is the peer's (a health check's), as in the clear */
		s->ops->on_event(s, SOCK_ERROR, !queued && err ? err : EPROTO, s->arg);
	}
}

/* The callbacks of the loop bracket themselves: what they ask for (a flush,
 * the sink's notifications) runs when they return. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	later_enter();
	on_readable_in(fd, arg);
	later_leave();
}

static void on_readable_in(evutil_socket_t fd, struct sock *s)
{
	struct evbuffer_iovec vec;
	static char stage[16384];   /* single-threaded: one read at a time */
	ssize_t n;
	size_t want = s->max_read;
	bool staged;

	if (s->tls_on) {
		if (s->negotiating) {
			s->busy++;
			negotiate(s);
			release(s);
			return;
		}
		if (s->hs) {
			s->busy++;
			handshake(s);
			release(s);
			return;
		}
		if (s->wr_wants_read) {
			s->wr_wants_read = false;
			update_read(s);
			sock_flush_later(s);    /* (the write waited for this) */
		}
	}
	/* An empty input buffer has no chain left to read into: a reserve would
	 * allocate (and the drain free) a chain of max_read bytes per read. Small
	 * reads are the common case (a message per round trip); they go through
	 * one static area and are appended at their size. */
	staged = evbuffer_get_length(s->in) == 0 && want <= sizeof(stage);
	if (staged) {
		vec.iov_base = stage;
		vec.iov_len = want;
	} else if (evbuffer_reserve_space(s->in, (ev_ssize_t)want, &vec, 1) < 1) {
		return;
	}
	if (vec.iov_len < want)
		want = vec.iov_len;
	(void)fd;
	n = io_read(s, vec.iov_base, want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		s->busy++;
		s->ops->on_event(s, SOCK_ERROR, errno, s->arg);
		release(s);
		return;
	}
	s->busy++;
	if (n == 0) {
		s->want_read = false;
		update_read(s);
		s->ops->on_event(s, SOCK_EOF, 0, s->arg);
		release(s);
		return;
	}
	vec.iov_len = (size_t)n;
	if (staged ? evbuffer_add(s->in, stage, vec.iov_len) < 0 : evbuffer_commit_space(s->in, &vec, 1) < 0) {
		s->ops->on_event(s, SOCK_ERROR, ENOMEM, s->arg);
		release(s);
		return;
	}
	s->ops->on_read(s, s->arg);
	if (!s->dead)
		update_read(s);
	release(s);
}

static void on_writable_in(evutil_socket_t fd, struct sock *s);

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	later_enter();
	on_writable_in(fd, arg);
	later_leave();
}

static void on_writable_in(evutil_socket_t fd, struct sock *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	int n;

	s->busy++;
	if (s->tls_on && s->hs) {
		handshake(s);
		release(s);
		return;
	}
	if (s->rd_wants_write) {
		s->rd_wants_write = false;
		update_read(s);
		if (s->reading)
			event_active(s->rev, EV_READ, 0);       /* the read waited for this */
	}
	if (s->connecting) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS) {
			release(s);
			return;
		}
		s->connecting = false;
		set_writing(s, false);
		if (err)
			s->ops->on_event(s, SOCK_ERROR, err, s->arg);
		else if (s->cctx)
			ask_tls(s);
		else
			connected(s);
		release(s);
		return;
	}
	if (s->gone) {
		(void)sock_write_now(s);
		release(s);
		return;
	}
	(void)obuf_send(s, &(bool){ false });
	obuf_spill(s);
	while (s->olen == 0 && evbuffer_get_length(s->out) > 0) {
		n = s->ssl ? out_write_tls(s) : evbuffer_write(s->out, s->fd);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		err = n < 0 ? errno : EPIPE;
		set_writing(s, false);
		s->ops->on_event(s, SOCK_ERROR, err, s->arg);
		release(s);
		return;
	}
	set_writing(s, (out_len(s) > 0 && !s->wr_wants_read) || s->rd_wants_write);
	maybe_shut(s);
	if (out_len(s) <= s->out_low && s->ops->on_drain)
		s->ops->on_drain(s, s->arg);
	release(s);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct sock *s = arg;

	(void)fd;
	(void)what;
	later_enter();
	s->busy++;
	s->ops->on_read(s, s->arg);
	if (!s->dead)
		update_read(s);
	release(s);
	later_leave();
}

void sock_peer_gone(struct sock *s)
{
	s->gone = true;
	s->want_read = false;
	update_read(s);
	evbuffer_drain(s->out, evbuffer_get_length(s->out));
	s->olen = 0;
	set_writing(s, false);
}

void sock_shutdown_write(struct sock *s)
{
	s->shut_wr = true;
	if (out_len(s) > 0)
		sock_flush_later(s);
	else
		maybe_shut(s);
}

void sock_kick(struct sock *s)
{
	if (!s->dead && s->kev)
		event_active(s->kev, EV_READ, 0);
}

static bool make_events(struct sock *s)
{
	s->rev = event_new(s->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
	s->wev = event_new(s->base, s->fd, EV_WRITE | EV_PERSIST, on_writable, s);
	s->kev = event_new(s->base, -1, EV_PERSIST, on_kick, s);
	return s->rev && s->wev && s->kev;
}

struct sock *sock_new(struct event_base *base, evutil_socket_t fd, const struct sock_ops *ops, void *arg)
{
	struct sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (flusher == NULL) {
		flusher = later_new(base, flush_all, NULL);
		if (flusher == NULL) {
			free(s);
			return NULL;
		}
	}
	s->base = base;
	s->fd = fd;
	s->ops = ops;
	s->arg = arg;
	s->max_read = 16384;
	s->in_cap = SIZE_MAX;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	if (s->in == NULL || s->out == NULL ||
	    (fd >= 0 && (evutil_make_socket_nonblocking(fd) < 0 || !make_events(s)))) {
		if (s->rev)
			event_free(s->rev);
		if (s->wev)
			event_free(s->wev);
		if (s->kev)
			event_free(s->kev);
		if (s->in)
			evbuffer_free(s->in);
		if (s->out)
			evbuffer_free(s->out);
		free(s);
		return NULL;
	}
	return s;
}

bool sock_connect(struct sock *s, const struct sockaddr *sa, socklen_t len)
{
	s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return false;
	if (!make_events(s))
		return false;
	if (connect(s->fd, sa, len) < 0 && errno != EINPROGRESS)
		return false;
	s->connecting = true;
	set_writing(s, true);   /* writability tells that the connect finished */
	return true;
}

bool sock_connect_pg(struct sock *s, const struct sockaddr *sa, socklen_t len, SSL_CTX *ctx, bool required,
		     const char *host, bool check_name)
{
	if (ctx) {
		if (!SSL_CTX_up_ref(ctx))
			return false;
		s->cctx = ctx;
		s->tls_on = true;
		s->tls_required = required;
		s->tls_check_name = check_name;
		if (host && (s->tls_host = strdup(host)) == NULL)
			return false;
	}
	return sock_connect(s, sa, len);
}

void sock_free(struct sock *s)
{
	struct sock **pp;

	if (s == NULL || s->dead)
		return;
	if (s->dirty) {
		for (pp = &dirty_list; *pp; pp = &(*pp)->next_dirty)
			if (*pp == s) {
				*pp = s->next_dirty;
				break;
			}
		s->dirty = false;
	}
	if (s->rev)
		event_free(s->rev);
	if (s->wev)
		event_free(s->wev);
	if (s->kev)
		event_free(s->kev);
	s->rev = s->wev = s->kev = NULL;
	s->reading = s->writing = false;
	if (s->ssl && !s->hs && !s->tls_failed && !s->gone && !s->shut_done && s->fd >= 0) {
		/* close_notify, as PostgreSQL ends its side (best effort) */
		ERR_clear_error();
		(void)SSL_shutdown(s->ssl);
		ERR_clear_error();
	}
	if (s->fd >= 0)
		evutil_closesocket(s->fd);
	s->fd = -1;
	s->dead = true;
	if (s->busy == 0) {
		s->busy = 1;
		release(s);
	}
}

struct evbuffer *sock_input(struct sock *s)
{
	return s->in;
}

struct evbuffer *sock_output(struct sock *s)
{
	sock_flush_later(s);
	obuf_spill(s);          /* (what is appended here goes after it) */
	return s->out;
}

void sock_put(struct sock *s, const void *p, size_t n)
{
	char *b;
	size_t cap;

	sock_flush_later(s);
	if (evbuffer_get_length(s->out) == 0 && s->olen + n <= OBUF_MAX) {
		if (s->olen + n > s->ocap) {
			for (cap = s->ocap ? s->ocap : OBUF_FIRST; cap < s->olen + n; cap *= 2)
				;
			b = realloc(s->obuf, cap);
			if (b != NULL) {
				s->obuf = b;
				s->ocap = cap;
			}
		}
		if (s->olen + n <= s->ocap) {
			memcpy(s->obuf + s->olen, p, n);
			s->olen += n;
			return;
		}
	}
	obuf_spill(s);
	evbuffer_add(s->out, p, n);
}

size_t sock_output_len(const struct sock *s)
{
	return out_len(s);
}

evutil_socket_t sock_fd(const struct sock *s)
{
	return s->fd;
}

void sock_set_limits(struct sock *s, size_t max_read, size_t in_cap, size_t out_low)
{
	s->max_read = max_read ? max_read : 16384;
	s->in_cap = in_cap ? in_cap : SIZE_MAX;
	s->out_low = out_low;
	if (!s->dead)
		update_read(s);
}

void sock_read(struct sock *s, bool enable)
{
	s->want_read = enable;
	if (!s->dead)
		update_read(s);
}

/* ---------------------------------------------------------- TLS start -- */

bool sock_start_tls(struct sock *s, SSL_CTX *ctx)
{
	bool wrote = false;

	if (s->ssl || s->dead || s->fd < 0)
		return false;
	/* the answer 'S', in the clear, before anything of TLS */
	if (!obuf_send(s, &wrote) || s->olen > 0)
		return false;
	while (evbuffer_get_length(s->out) > 0)
		if (evbuffer_write(s->out, s->fd) <= 0)
			return false;
	if ((s->ssl = SSL_new(ctx)) != NULL)
		tls_link(s);
	if (s->ssl == NULL || !SSL_set_fd(s->ssl, s->fd)) {
		tls_note(s, "TLS start", ENOMEM);
		return false;
	}
	SSL_set_accept_state(s->ssl);
	s->hs = s->tls_on = true;
	set_writing(s, false);
	update_read(s);
	return true;
}

bool sock_tls(const struct sock *s)
{
	return s->ssl != NULL;
}


bool sock_tls_peer_cn(const struct sock *s, char *buf, size_t len)
{
	X509 *cert;
	int n;

	if (s->ssl == NULL || s->hs || SSL_get_verify_result(s->ssl) != X509_V_OK ||
	    (cert = SSL_get1_peer_certificate(s->ssl)) == NULL)
		return false;
	buf[0] = '\0';         /* (verified, without a usable common name) */
	n = X509_NAME_get_index_by_NID(X509_get_subject_name(cert), NID_commonName, -1);
	if (n >= 0 && len > 0) {
		const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(X509_get_subject_name(cert), n));
		int cl = ASN1_STRING_length(cn);

		if (cl >= 0 && (size_t)cl < len && memchr(ASN1_STRING_get0_data(cn), '\0', (size_t)cl) == NULL) {
			memcpy(buf, ASN1_STRING_get0_data(cn), (size_t)cl);
			buf[cl] = '\0';
		}
	}
	X509_free(cert);
	return true;
}

const char *sock_tls_error(const struct sock *s)
{
	return s->tls_err;
}
