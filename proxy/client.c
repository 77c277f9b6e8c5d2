/* Client sessions: startup, authentication, the query loop and the ordered reply queue. */
#include "proxy/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "conf/config.h"
#include "protocol/auth.h"
#include "protocol/reader.h"
#include "protocol/startup.h"
#include "proxy/backend.h"
#include "proxy/clogin.h"
#include "proxy/console.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "proxy/isess.h"
#include "proxy/logincache.h"
#include "protocol/insert.h"
#include "common/log.h"
#include "proxy/sock.h"

#define SEAM_CORE
#include "proxy/seam.h"


static void client_read_cb(struct sock *sk, void *arg);
static void client_write_cb(struct sock *sk, void *arg);
static void client_event_cb(struct sock *sk, enum sock_event ev, int err, void *arg);
static const struct sock_ops client_ops = { client_read_cb, client_write_cb, client_event_cb };
static void client_relay(struct client *c);

/* Legal transitions only; anything else is a bug. */
void client_set_state(struct client *c, enum client_state to)
{
	static const unsigned allowed[] = {
		[CL_STARTUP] = 1u << CL_AUTH_MD5 | 1u << CL_AUTH_SASL_INIT | 1u << CL_LOGIN | 1u << CL_CLOSING,
		[CL_AUTH_MD5] = 1u << CL_LOGIN | 1u << CL_CLOSING,
		[CL_AUTH_SASL_INIT] = 1u << CL_AUTH_SASL_FINAL | 1u << CL_CLOSING,
		[CL_AUTH_SASL_FINAL] = 1u << CL_LOGIN | 1u << CL_CLOSING,
		[CL_LOGIN] = 1u << CL_ACTIVE | 1u << CL_CLOSING,
		[CL_ACTIVE] = 1u << CL_CLOSING,
		[CL_CLOSING] = 1u << CL_CLOSING,
	};

	if (!(allowed[c->state] & (1u << to))) {
		log_error(c->prefix, "illegal client state change %d -> %d", c->state, to);
		abort();
	}
	c->state = to;
	if (to >= CL_LOGIN && c->auth_ev)
		event_del(c->auth_ev);  /* authenticated (or leaving) in time */
}

/* authentication_timeout: a client that has not authenticated by then is
 * dropped, as PostgreSQL drops it (silently while its startup packet is
 * incomplete; with a FATAL during authentication). Slowloris costs a slot for
 * that long at most. */
static void on_auth_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->state == CL_STARTUP) {
		client_close(c, "startup packet not received in time (authentication_timeout)");
		return;
	}
	if (c->state >= CL_AUTH_MD5 && c->state <= CL_AUTH_SASL_FINAL)
		client_fatal(c, "57014", "canceling authentication due to timeout", NULL);
}

static size_t out_high(const struct client *c)
{
	size_t n = (size_t)c->d->cfg->io_buffer_size * 4;
	return n < 65536 ? 65536 : n;
}

struct evbuffer *client_output(struct client *c)
{
	return sock_output(c->sk);
}

void client_put(struct client *c, const void *p, size_t n)
{
	sock_put(c->sk, p, n);
}

bool client_output_full(const struct client *c)
{
	return sock_output_len(c->sk) > out_high(c);
}

void client_set_prefix(struct client *c)
{
	snprintf(c->prefix, sizeof(c->prefix), "C-%llu %s/%s@%s", (unsigned long long)c->id,
		 c->database ? c->database : "?", c->user ? c->user : "?", c->peer);
}

static void apply_socket_limits(struct client *c)
{
	const struct config *cfg = c->d->cfg;

	sock_set_limits(c->sk, (size_t)cfg->io_buffer_size, (size_t)cfg->max_inspect_bytes + PKT_HDR_LEN,
			out_high(c) / 2);
}

static void rq_done(void *arg, struct rq_entry *e)
{
	isess_entry_done(arg, e);
}

/* A late entry's message replaced: the replacement goes in its place. */
static bool rq_late(void *arg, struct rq_entry *e)
{
	struct client *c = arg;
	struct pktbuf r;
	bool replaced;

	pkt_init(&r);
	replaced = isess_late(c, e, &r);
	if (replaced)
		client_put(c, r.data, r.len);
	pkt_free(&r);
	return replaced;
}

void client_accept(struct daemon *d, int fd, const struct sockaddr *sa, int salen)
{
	struct client *c = calloc(1, sizeof(*c));
	char host[INET6_ADDRSTRLEN] = "?";
	int one = 1;

	(void)salen;
	if (c == NULL) {
		close(fd);
		return;
	}
	c->d = d;
	c->id = ++d->next_id;
	rq_init(&c->rq);
	c->rq.on_done = rq_done;
	c->rq.on_late = rq_late;
	c->rq.arg = c;
	c->tx_status = 'I';
	c->probed_only = true;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(in->sin_port));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(in6->sin6_port));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else {
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
	client_set_prefix(c);

	c->sk = sock_new(d->base, fd, &client_ops, c);
	if (c->sk == NULL) {
		close(fd);
		free(c);
		return;
	}
	apply_socket_limits(c);
	sock_read(c->sk, true);
	c->auth_ev = evtimer_new(d->base, on_auth_timeout, c);
	if (c->auth_ev) {
		struct timeval tv = { d->cfg->authentication_timeout, 0 };

		evtimer_add(c->auth_ev, &tv);
	}

	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	log_debug(c->prefix, "new connection");
}

/* ---------------------------------------------------------------- replies -- */

static void refusal_due(struct client *c);
static void idle_arm(struct client *c);

bool client_pump(struct client *c)
{
	struct rq_entry *e;
	bool sent = false;

	while ((e = rq_own_head(&c->rq)) != NULL) {
		if (!e->cancelled)
			client_put(c, e->own.data, e->own.len);
		rq_pop(&c->rq);
		sent = true;
	}
	if (sent && c->be)
		backend_kick(c->be);
	refusal_due(c);
	idle_arm(c);
	return sent;
}

/* idle_session_timeout, for a session without a backend: the server ends a
 * session idle that long outside a transaction; its backend, once it has
 * one, does it itself. */
static bool idle_now(struct client *c)
{
	return c->backendless && c->state == CL_ACTIVE && c->tx_status == 'I' && rq_empty(&c->rq) &&
	       isess_settled(c) && evbuffer_get_length(sock_input(c->sk)) == 0 && !c->gone && !c->terminated;
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (idle_now(c))
		client_fatal(c, "57P05", "terminating connection due to idle-session timeout", NULL);
}

static void idle_arm(struct client *c)
{
	struct timeval tv;

	if (c->idle_ms <= 0 || !idle_now(c))
		return;
	if (c->idle_ev == NULL && (c->idle_ev = evtimer_new(c->d->base, on_idle, c)) == NULL)
		return;
	tv.tv_sec = (time_t)(c->idle_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->idle_ms % 1000) * 1000;
	evtimer_add(c->idle_ev, &tv);
}

void client_ready_for_query(struct client *c, char tx_status)
{
	c->tx_status = tx_status;
	isess_ready(c, tx_status);
	client_pump(c);
	if (isess_forward_woken(c))
		sock_kick(c->sk);
}

struct rq_entry *client_own_reply(struct client *c, uint8_t msg)
{
	return rq_push(&c->rq, RQ_OWN, msg);
}

void client_continue(struct client *c)
{
	client_pump(c);
	if (c->state == CL_ACTIVE && !(c->holds & HOLD_BACKEND) &&
	    (c->gone || evbuffer_get_length(sock_input(c->sk)) > 0))     /* (else nothing to relay) */
		sock_kick(c->sk);
}

/* ------------------------------------------------------------- closing -- */

static void unlink_client(struct client *c)
{
	struct daemon *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else if (d->clients == c)
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	if (c->counted) {
		d->nsessions--;
		c->counted = false;
	}
}

/* quiet: a line only at verbose = 2 */
static void close_client(struct client *c, const char *reason, bool quiet)
{
	char **p;

	if (quiet)
		log_debug(c->prefix, "closing: %s", reason);
	else
		log_info(c->prefix, "closing: %s", reason);
	isess_backend_closing(c);
	if (c->warm)
		c->d->warm_backends--;
	if (c->be) {
		/* not cancelled: what it sent runs, as it does directly */
		backend_close(c->be, "client closed");
		c->be = NULL;
	}
	if (c->auth_ev)
		event_free(c->auth_ev);
	if (c->idle_ev)
		event_free(c->idle_ev);
	free(c->refusal);
	lc_unref(c->login);
	daemon_cancel_forget(c->canceller);
	if (c->doom_ev)
		event_free(c->doom_ev);
	isess_end(c);
	console_free(c);
	rq_clear(&c->rq);
	unlink_client(c);
	sock_free(c->sk);
	scram_server_free(c->scram);
	if (c->params)
		for (p = c->params; *p; p++)
			free(*p);
	free(c->params);
	free(c->user);
	free(c->database);
	{
		struct daemon *d = c->d;
		free(c);
		daemon_client_gone(d);
	}
}

void client_close(struct client *c, const char *reason)
{
	close_client(c, reason, false);
}

/* Flush what is queued for the client, then close. */
void client_finish(struct client *c, const char *reason)
{
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	isess_backend_closing(c);
	if (c->be) {
		backend_close(c->be, "client session ending");
		c->be = NULL;
	}
	if (c->state != CL_CLOSING)
		client_set_state(c, CL_CLOSING);
	sock_read(c->sk, false);
	sock_set_limits(c->sk, (size_t)c->d->cfg->io_buffer_size, 0, 0);
	if (sock_output_len(c->sk) == 0)
		client_close(c, c->close_reason);
}

static void send_error(struct client *c, const char *severity, const char *sqlstate,
		       const char *message, const char *detail)
{
	struct pktbuf pb;

	pkt_init(&pb);
	pkt_error(&pb, severity, sqlstate, message, detail, NULL);
	if (pkt_ok(&pb))
		client_put(c, pb.data, pb.len);
	pkt_free(&pb);
}

void client_fatal(struct client *c, const char *sqlstate, const char *message, const char *detail)
{
	char reason[160];

	snprintf(reason, sizeof(reason), "FATAL %s: %s", sqlstate, message);
	if (detail)
		log_info(c->prefix, "FATAL %s: %s: %s", sqlstate, message, detail);
	send_error(c, "FATAL", sqlstate, message, detail);
	client_finish(c, reason);
}

static void on_doom(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->refusal) {
		/* the server's words, after the answers of its own ahead of them */
		client_put(c, c->refusal, c->refusal_len);
		client_finish(c, "backend refused the login");
		return;
	}
	client_fatal(c, c->doom_state, c->doom_msg, NULL);
}

/* A refusal waits while an answer of pgbatchd's own, ready or not, heads the
 * queue: it comes after them, where the statement that needed the backend
 * would have been answered. */
static void refusal_due(struct client *c)
{
	if (c->refusal == NULL || c->doom_ev || (rq_first(&c->rq) && rq_first(&c->rq)->kind == RQ_OWN))
		return;
	c->doom_ev = event_new(c->d->base, -1, 0, on_doom, c);
	if (c->doom_ev)
		event_active(c->doom_ev, EV_TIMEOUT, 0);
}

void client_backend_refused(struct client *c, const uint8_t *msg, size_t len)
{
	struct backend *be = c->be;
	bool needed = be && evbuffer_get_length(backend_output(be)) > 0;

	c->cancel_on_join = false;
	if (!needed && c->warm) {
		/* opened for direct writes only: nothing lost, it goes on without */
		log_info(c->prefix, "its backend for direct writes was refused: it goes on without one");
		backend_close(be, "login refused");
		c->be = NULL;
		c->warm = false;
		c->warm_refused = true;
		c->d->warm_backends--;
		c->backendless = true;
		if (c->terminated) {
			/* it ended meanwhile (Terminate, or gone), waiting for this
			 * backend to close: no server session, so it ends now */
			char why[sizeof(c->close_reason)];

			snprintf(why, sizeof(why), "%s", c->close_reason[0] ? c->close_reason : "client sent Terminate");
			(void)client_pump(c);
			client_finish(c, why);
			return;
		}
		idle_arm(c);
		return;
	}
	c->refusal = malloc(len);
	if (c->refusal == NULL) {
		client_fatal_soon(c, "53200", "out of memory");
		return;
	}
	memcpy(c->refusal, msg, len);
	c->refusal_len = len;
	backend_close(be, "login refused");
	c->be = NULL;
	client_hold(c, HOLD_ENDING);    /* nothing more of it is taken */
	refusal_due(c);
}

void client_fatal_soon(struct client *c, const char *sqlstate, const char *message)
{
	if (c->doom_ev)
		return;
	snprintf(c->doom_state, sizeof(c->doom_state), "%s", sqlstate);
	snprintf(c->doom_msg, sizeof(c->doom_msg), "%s", message);
	c->doom_ev = event_new(c->d->base, -1, 0, on_doom, c);
	if (c->doom_ev)
		event_active(c->doom_ev, EV_TIMEOUT, 0);
	sock_read(c->sk, false);
}

void client_backend_lost(struct client *c, const char *reason, bool mid_message)
{
	log_info(c->prefix, "backend connection lost: %s", reason);
	isess_backend_closing(c);
	if (c->be) {
		backend_close(c->be, reason);
		c->be = NULL;
	}
	if (mid_message || c->state == CL_CLOSING) {
		/* The client is inside a message: nothing more can be said. */
		client_close(c, "backend connection lost mid-message");
		return;
	}
	client_fatal(c, "08006", "server closed the connection unexpectedly", reason);
}

/* ------------------------------------------------------ startup and auth -- */

static bool open_later(struct client *c, const char *why)
{
	c->backendless = false;
	log_debug(c->prefix, "%s: opening its backend", why);
	if (!backend_open(c, true)) {
		client_fatal_soon(c, "08006", "could not connect to the backend");
		return false;
	}
	return true;
}

struct evbuffer *client_backend_output(struct client *c)
{
	if (c->be)
		return backend_output(c->be);
	if (!c->backendless || c->state != CL_ACTIVE || !open_later(c, "a statement passes through"))
		return NULL;
	return backend_output(c->be);
}

void client_warm_backend(struct client *c)
{
	/* a few sessions each on a connection of its own, or many through the
	 * writers: not both (a fleet holds no backends) */
	if (!c->backendless || c->state != CL_ACTIVE || c->warm_refused ||
	    c->d->nsessions > c->d->cfg->connectionmaxactive ||
	    c->d->warm_backends >= c->d->cfg->connectionmaxactive)
		return;
	if (open_later(c, "alone: its rows may go on its own connection")) {
		c->warm = true;
		c->d->warm_backends++;
	}
}

void client_to_backend(struct client *c, const void *data, size_t len)
{
	struct evbuffer *out = client_backend_output(c);

	if (out)
		evbuffer_add(out, data, len);
}

/* ------------------------------------------ for the interception modules -- */

bool client_has_backend(const struct client *c)
{
	return c->be != NULL;
}

bool client_without_backend(const struct client *c)
{
	return c->backendless && c->be == NULL;
}

struct lc_entry *client_login(const struct client *c)
{
	return c->login;
}

bool client_backend_quiet(const struct client *c)
{
	return c->state == CL_ACTIVE && c->be && c->be->state == BE_ACTIVE && !c->be->terminated &&
	       !backend_output_full(c->be) && !c->terminated && c->tx_status == 'I' && c->stream_left == 0 &&
	       c->be->stream_left == 0;
}

uint32_t client_backend_pid(const struct client *c)
{
	return c->be ? c->be->pid : 0;
}

void client_backend_send(struct client *c, const void *data, size_t len)
{
	evbuffer_add(backend_output(c->be), data, len);
	backend_kick(c->be);
}

bool client_cancel_backend(struct client *c)
{
	if (c->be == NULL)
		return false;
	(void)daemon_send_cancel(c->d, c->be->pid, c->be->key, NULL, NULL);
	return true;
}

bool client_backend_linger(struct client *c, void (*fn)(void *arg), void *arg)
{
	if (c->be == NULL || c->be->on_free)
		return false;
	c->be->on_free = fn;
	c->be->free_arg = arg;
	return true;
}

void client_release_all(struct daemon *d, unsigned why)
{
	struct client *c;

	for (c = d->clients; c; c = c->next)
		if (c->holds & why) {
			client_release(c, why);
			client_continue(c);
		}
}

void client_each(struct daemon *d, void (*fn)(struct client *c))
{
	struct client *c, *next;

	for (c = d->clients; c; c = next) {
		next = c->next;
		fn(c);
	}
}

/* ------------------------------------------------------------ query loop -- */

void client_backend_ready(struct client *c)
{
	client_set_state(c, CL_ACTIVE);
	log_debug(c->prefix, "session ready, backend pid %u", c->be ? c->be->pid : 0);
	isess_backend_ready(c);
	sock_kick(c->sk);
}

void client_backend_joined(struct client *c)
{
	lc_unref(c->login);
	c->login = NULL;
	if (c->idle_ev)
		evtimer_del(c->idle_ev);        /* (its backend keeps the time now) */
	if (c->cancel_on_join) {
		/* a CancelRequest came while it logged in: for what it runs now */
		c->cancel_on_join = false;
		if (!isess_cancel_after_replay(c))      /* (not the SETs replayed first) */
			(void)daemon_send_cancel(c->d, c->be->pid, c->be->key, NULL, NULL);
	}
	/* opened for direct writes: its view is asked on it now, which also
	 * names the backend by its start, as a direct write needs (direct.c)
	 * -- between two of the client's messages only (this runs when the
	 * login ends, maybe in the middle of one): else before its next INSERT */
	isess_backend_joined(c, c->warm, c->stream_left == 0 && c->tx_status == 'I');
	sock_kick(c->sk);
}

void client_resume_reading(struct client *c)
{
	client_release(c, HOLD_BACKEND);
}

void client_hold(struct client *c, unsigned why)
{
	c->holds |= why;
	sock_read(c->sk, false);
}

void client_release(struct client *c, unsigned why)
{
	if (!(c->holds & why))
		return;
	c->holds &= ~why;
	if (c->holds || c->state != CL_ACTIVE || c->gone || c->terminated)
		return;         /* (held still, or its input is over) */
	sock_read(c->sk, true);
	sock_kick(c->sk);
}

static void protocol_violation(struct client *c, const char *message)
{
	client_fatal(c, "08P01", message, NULL);
}

/* Books the answer a message is owed. False when out of memory. */
static bool expect_reply(struct client *c, uint8_t type)
{
	struct rq_entry *e;
	isess_message(c, type, rq_answered(type));
	if (!rq_answered(type))
		return true;
	e = rq_push(&c->rq, RQ_FORWARD, type);
	if (e)
		isess_entry(c, e, type);
	return e != NULL;
}

/* The client sent Terminate, or left (reason NULL: c->close_reason says
 * how). PostgreSQL reads Terminate after what came before it, so that goes
 * first: rows still deciding, a held group, a transaction's group. Then the
 * backend gets Terminate and a half-close; its answers still reach the
 * client until it closes (backend_event_cb). Rows staged in the transaction
 * are dropped, as the server's Terminate rolls it back. False: waiting (the
 * session is resumed when they are done). */
static bool end_input(struct client *c, const char *reason)
{
	if (!isess_may_end(c))
		return false;
	if (c->state != CL_ACTIVE || (c->be == NULL && !c->backendless))
		return false;
	if (reason)
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	log_debug(c->prefix, "%s: the session ends when the server has answered", c->close_reason);
	c->terminated = true;
	evbuffer_drain(sock_input(c->sk), evbuffer_get_length(sock_input(c->sk)));
	sock_read(c->sk, false);
	isess_input_ended(c);
	if (c->be) {
		backend_terminate(c->be);
	} else {
		/* no server session: it ends once its answers are out */
		char why[sizeof(c->close_reason)];

		snprintf(why, sizeof(why), "%s", c->close_reason[0] ? c->close_reason : "client sent Terminate");
		(void)client_pump(c);
		client_finish(c, why);
	}
	return true;
}

/* Without a sink nothing but the replyq looks at a session's
 * extended-protocol messages (no extq, no transaction tracking, nothing
 * pending: client_relay's checks all pass, and nothing is sent ahead of
 * them): the whole ones at the front of the input's first chunk each get
 * their entry and move to the backend in one go (one move per message was a
 * fifth of a relayed transaction's instructions). False: nothing moved,
 * client_relay reads the first message itself. */
static bool forward_run(struct client *c, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	struct evbuffer *out;
	const uint8_t *p;
	uint8_t type;
	uint32_t len;
	size_t run = 0, total;

	if (c->d->sink || !isess_bare(c) || c->be == NULL || c->stream_left > 0 ||
	    evbuffer_peek(in, -1, NULL, &v, 1) < 1 || (out = client_backend_output(c)) == NULL)
		return false;
	p = v.iov_base;
	while (v.iov_len - run >= PKT_HDR_LEN) {
		if (pkt_read_header(p + run, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK ||
		    !(type == 'P' || type == 'B' || type == 'D' || type == 'E' || type == 'C' || type == 'S' ||
		      type == 'H') ||
		    (pkt_frontend_type_small(type) && len > PKT_SMALL_LIMIT))
			break;
		total = PKT_HDR_LEN + (size_t)len;
		if (total > v.iov_len - run || !expect_reply(c, type))
			break;
		run += total;
	}
	if (run == 0)
		return false;
	evbuffer_remove_buffer(in, out, run);
	return true;
}

/* Relays complete or streamed messages from the client to its backend. */
static void client_relay(struct client *c)
{
	struct evbuffer *in = sock_input(c->sk), *out;
	uint8_t type, *p;
	uint32_t len;
	size_t avail, total, n;
	char msg[96];

	while (c->state == CL_ACTIVE && (c->be || c->backendless) && !c->terminated) {
		avail = evbuffer_get_length(in);
		if (avail == 0)
			goto idle;
		if (client_output_full(c) && !c->gone) {
			/* a client that does not read its answers: no more of its
			 * requests until it does (its answers stay bounded) */
			client_hold(c, HOLD_OUTPUT);
			return;
		}
		if (c->be && backend_output_full(c->be)) {
			client_hold(c, HOLD_BACKEND);
			return;
		}
		if (c->stream_left > 0) {
			n = avail < c->stream_left ? avail : c->stream_left;
			if ((out = client_backend_output(c)) == NULL)
				return;
			evbuffer_remove_buffer(in, out, n);
			c->stream_left -= (uint32_t)n;
			continue;
		}
		if (c->holds & (HOLD_SHUTDOWN | HOLD_ENDING))
			return;         /* no new message, read or not: the session is ending */
		if (c->idle_ev)
			evtimer_del(c->idle_ev);        /* not idle: a message comes */
		if (avail < PKT_HDR_LEN)
			goto idle;
		if (forward_run(c, in))
			continue;
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK) {
			protocol_violation(c, "invalid message length");
			return;
		}
		if (!pkt_frontend_type_known(type)) {
			snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
			protocol_violation(c, msg);
			return;
		}
		if ((pkt_frontend_type_small(type) && len > PKT_SMALL_LIMIT) || len > PKT_LARGE_LIMIT - 4) {
			protocol_violation(c, "invalid message length");
			return;
		}
		if (type == 'X') {
			(void)end_input(c, "client sent Terminate");
			return;
		}
		total = PKT_HDR_LEN + (size_t)len;
		if (c->backendless && isess_absorb(c, in)) {
			if (c->state != CL_ACTIVE)
				return;
			continue;       /* a SET it answers itself */
		}
		if (intercept_big_query(c, type, len)) {
			/* read whole though past the inspection cap: its size must not
			 * change what it means (the table's conflictmode) */
			if (avail < total) {
				sock_set_limits(c->sk, (size_t)c->d->cfg->io_buffer_size, total, out_high(c) / 2);
				goto idle;
			}
			apply_socket_limits(c);
		}
		if (intercept_wanted(c, type, len) || (avail >= total && intercept_big_query(c, type, len))) {
			/* Messages we inspect are taken whole (the read watermark allows it). */
			if (avail < total)
				goto idle;
			switch (intercept_message(c, type, in, total)) {
			case INTERCEPT_TAKEN:
				continue;
			case INTERCEPT_WAIT:
				return;
			case INTERCEPT_FORWARD:
				break;
			}
			if (c->state != CL_ACTIVE)
				return;
			/* it may have been rewritten in place (a conflict clause added) */
			p = evbuffer_pullup(in, PKT_HDR_LEN);
			if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK)
				return;
			total = PKT_HDR_LEN + (size_t)len;
			avail = evbuffer_get_length(in);
		} else if (!isess_may_forward(c, type)) {
			return;   /* a held group, or a transaction's staged rows, go first; resumed when they may */
		}
		if (intercept_must_wait(c))
			return;   /* resumed when the session's rows are decided / committed */
		intercept_forwarding(c, type, in, total);
		if (!expect_reply(c, type)) {
			client_fatal(c, "53200", "out of memory", NULL);
			return;
		}
		n = avail < total ? avail : total;
		if ((out = client_backend_output(c)) == NULL)
			return;
		evbuffer_remove_buffer(in, out, n);
		c->stream_left = (uint32_t)(total - n);
	}
	return;
idle:
	/* Every whole message the client sent before it left is on its way. */
	if (c->gone && !c->terminated)
		(void)end_input(c, NULL);
	else
		idle_arm(c);
}

static void client_read_cb(struct sock *sk, void *arg)
{
	struct client *c = arg;

	(void)sk;
	switch (c->state) {
	case CL_STARTUP:
		if (!clogin_read_startup(c) || c->state != CL_LOGIN)
			return;
		/* A client may pipeline its first query behind the startup packet. */
		return;
	case CL_AUTH_MD5:
	case CL_AUTH_SASL_INIT:
	case CL_AUTH_SASL_FINAL:
		while (c->state >= CL_AUTH_MD5 && c->state <= CL_AUTH_SASL_FINAL)
			if (!clogin_read_auth(c) || evbuffer_get_length(sock_input(c->sk)) == 0)
				return;
		return;
	case CL_LOGIN:
		return;  /* kept until the backend is ready; the watermark bounds it */
	case CL_ACTIVE:
		if (c->console)
			console_read(c);
		else
			client_relay(c);
		return;
	case CL_CLOSING:
		evbuffer_drain(sock_input(c->sk), evbuffer_get_length(sock_input(c->sk)));
		return;
	}
}

static void client_write_cb(struct sock *sk, void *arg)
{
	struct client *c = arg;

	if (c->state == CL_CLOSING) {
		if (sock_output_len(sk) == 0)
			client_close(c, c->close_reason);
		return;
	}
	if (c->be && c->be->paused_for_client && !client_output_full(c))
		backend_kick(c->be);
	if ((c->holds & HOLD_OUTPUT) && !client_output_full(c))
		client_release(c, HOLD_OUTPUT);
}

static void client_event_cb(struct sock *sk, enum sock_event ev, int err, void *arg)
{
	struct client *c = arg;
	char reason[160];
	bool probe;

	(void)sk;
	if ((c->gone || c->terminated) && c->state != CL_CLOSING) {
		if (ev == SOCK_ERROR) {
			/* its answers cannot be written: dropped, the backend read on */
			sock_peer_gone(c->sk);
			if (c->be)
				backend_kick(c->be);
		}
		return;
	}
	if ((ev == SOCK_EOF || ev == SOCK_ERROR) && (c->be || c->backendless || c->login) && !c->gone &&
	    ((c->state == CL_ACTIVE && c->stream_left == 0) ||
	     (c->state == CL_LOGIN && evbuffer_get_length(sock_input(c->sk)) > 0))) {
		/* As directly: what the server has read of a departed client
		 * still runs (its answers written while the socket takes them),
		 * then the session ends as on Terminate. */
		if (ev == SOCK_EOF)
			snprintf(c->close_reason, sizeof(c->close_reason), "client disconnected");
		else
			snprintf(c->close_reason, sizeof(c->close_reason), "client socket error: %s", strerror(err));
		c->gone = true;
		if (ev == SOCK_ERROR)
			sock_peer_gone(c->sk);
		else
			sock_read(c->sk, false);
		sock_kick(c->sk);
		return;
	}
	/* Gone before a startup packet, nothing half-sent: a TCP health check
	 * (HAProxy's ends with a reset) or `pgbatchd --ping`'s SSLRequest.
	 * PostgreSQL logs no such probe either. */
	probe = c->state == CL_STARTUP && c->probed_only && evbuffer_get_length(sock_input(c->sk)) == 0
		&& (ev == SOCK_EOF || (ev == SOCK_ERROR && err == ECONNRESET));
	if (ev == SOCK_EOF) {
		if (c->state == CL_ACTIVE && !rq_empty(&c->rq))
			snprintf(reason, sizeof(reason), "client disconnected mid-query");
		else if (c->state == CL_ACTIVE || c->state == CL_CLOSING)
			snprintf(reason, sizeof(reason), "client disconnected");
		else
			snprintf(reason, sizeof(reason), "client disconnected during startup");
		close_client(c, reason, probe);
	} else if (ev == SOCK_ERROR) {
		snprintf(reason, sizeof(reason), "client socket error: %s",
			 *sock_tls_error(c->sk) ? sock_tls_error(c->sk) : strerror(err));
		close_client(c, reason, probe);
	}
}
