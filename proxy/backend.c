/* Backend connections: connect, log in as the client's user, relay backend -> client. */
#include "proxy/backend.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf/config.h"
#include "protocol/auth.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/client.h"
#include "sink/sink.h"
#include "proxy/copyin.h"
#include "proxy/daemon.h"
#include "proxy/listen.h"
#include "proxy/intercept.h"
#include "proxy/isess.h"
#include "proxy/login.h"
#include "proxy/logincache.h"
#include "common/log.h"
#include "proxy/sock.h"

#define SEAM_CORE
#include "proxy/seam.h"

#define LOGIN_MSG_MAX (1024 * 1024)
#define PARAM_STATUS_MAX 8192

static void backend_read_cb(struct sock *sk, void *arg);
static void backend_write_cb(struct sock *sk, void *arg);
static void backend_event_cb(struct sock *sk, enum sock_event ev, int err, void *arg);

/* An ErrorResponse body whose severity is FATAL or PANIC (V, the severity
 * not translated, else S); *terminated: its SQLSTATE says an administrator or
 * a crash ended the session (57P01, 57P02), not the session's own timeout. */
static bool fatal_error(const uint8_t *body, uint32_t len, bool *terminated)
{
	struct pktreader r;
	const char *v, *sev = NULL, *code = NULL;
	uint8_t f;

	rd_init(&r, body, len);
	while (rd_u8(&r, &f) && f != 0 && rd_cstring(&r, &v, NULL)) {
		if (f == 'V' || (f == 'S' && sev == NULL))
			sev = v;
		else if (f == 'C')
			code = v;
	}
	*terminated = code && (strcmp(code, "57P01") == 0 || strcmp(code, "57P02") == 0);
	return sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

static const struct sock_ops backend_ops = { backend_read_cb, backend_write_cb, backend_event_cb };
/* Largest ErrorResponse / ParameterDescription read whole for the session. */
#define CAPTURE_MAX (1024 * 1024)

static void backend_relay(struct backend *be);

static void set_state(struct backend *be, enum backend_state to)
{
	static const unsigned allowed[] = {
		[BE_CONNECTING] = 1u << BE_LOGIN | 1u << BE_CLOSED,
		[BE_LOGIN] = 1u << BE_ACTIVE | 1u << BE_CLOSED,
		[BE_ACTIVE] = 1u << BE_LINGER | 1u << BE_CLOSED,
		[BE_LINGER] = 1u << BE_CLOSED,
		[BE_CLOSED] = 0,
	};

	if (!(allowed[be->state] & (1u << to))) {
		log_error(be->prefix, "illegal backend state change %d -> %d", be->state, to);
		abort();
	}
	be->state = to;
}

static size_t out_high(const struct backend *be)
{
	size_t n = (size_t)be->d->cfg->io_buffer_size * 4;
	return n < 65536 ? 65536 : n;
}

struct evbuffer *backend_output(struct backend *be)
{
	if (be->state == BE_CONNECTING || be->state == BE_LOGIN)
		return be->hold;
	return sock_output(be->sk);
}

bool backend_output_full(const struct backend *be)
{
	return sock_output_len(be->sk) + evbuffer_get_length(be->hold) > out_high(be);
}

bool backend_open(struct client *c, bool joining)
{
	struct daemon *d = c->d;
	struct backend *be = calloc(1, sizeof(*be));

	if (be == NULL)
		return false;
	be->hold = evbuffer_new();
	if (be->hold == NULL) {
		free(be);
		return false;
	}
	be->d = d;
	be->client = c;
	be->joining = joining;
	snprintf(be->prefix, sizeof(be->prefix), "S-%llu %s/%s@%s", (unsigned long long)c->id,
		 c->database, c->user, d->backend_name);
	be->sk = sock_new(d->base, -1, &backend_ops, be);
	if (be->sk == NULL) {
		evbuffer_free(be->hold);
		free(be);
		return false;
	}
	sock_set_limits(be->sk, (size_t)d->cfg->io_buffer_size, 0, out_high(be) / 2);
	c->be = be;
	if (!daemon_connect_backend(d, be->sk)) {
		log_info(be->prefix, "connect failed: %s", strerror(errno));
		sock_free(be->sk);
		evbuffer_free(be->hold);
		free(be);
		c->be = NULL;
		return false;
	}
	sock_read(be->sk, true);
	return true;
}

static void backend_free(struct backend *be)
{
	struct daemon *d = be->d;

	if (be->state == BE_LINGER) {
		d->nsessions--;
		if (be->lprev)
			be->lprev->lnext = be->lnext;
		else
			d->lingering = be->lnext;
		if (be->lnext)
			be->lnext->lprev = be->lprev;
	}
	sock_free(be->sk);
	evbuffer_free(be->hold);
	login_auth_clear(&be->auth);
	if (be->on_free)
		be->on_free(be->free_arg);
	free(be);
	listen_fd_freed(d);
	if (d->lingering == NULL)
		daemon_client_gone(d);
}

void backend_terminate(struct backend *be)
{
	static const char terminate[5] = { 'X', 0, 0, 0, 4 };

	if (be->terminated)
		return;
	be->terminated = true;
	if (be->state == BE_CONNECTING || be->state == BE_LOGIN)
		return;         /* after what waits for its login (backend_login) */
	evbuffer_add(sock_output(be->sk), terminate, sizeof(terminate));
	sock_shutdown_write(be->sk);
}

void backend_close(struct backend *be, const char *reason)
{
	struct client *c = be->client;
	struct daemon *d = be->d;

	if (c && c->be == be)
		c->be = NULL;
	be->client = NULL;
	/* (a direct write still running lingers even then: it was cancelled,
	 * and the server's close says it is over) */
	if (be->state != BE_ACTIVE || be->ended || sock_fd(be->sk) < 0 || (d->aborted && be->on_free == NULL) ||
	    (c && c->stream_left > 0)) {
		/* not logged in, already ended, or a message cut short: the
		 * server sees the connection end, as when its client dies */
		log_info(be->prefix, "closing backend connection: %s", reason);
		backend_free(be);
		return;
	}
	log_info(be->prefix, "closing backend connection: %s; it ends when the server closes", reason);
	backend_terminate(be);
	set_state(be, BE_LINGER);
	d->nsessions++;         /* a server session still, under max_client_conn */
	be->lprev = NULL;
	be->lnext = d->lingering;
	if (d->lingering)
		d->lingering->lprev = be;
	d->lingering = be;
	evbuffer_drain(sock_input(be->sk), evbuffer_get_length(sock_input(be->sk)));
	sock_read(be->sk, true);
}

void backend_close_lingering(struct daemon *d)
{
	while (d->lingering)
		backend_free(d->lingering);
}

void backend_abort_lingering(struct daemon *d)
{
	struct backend *be, *next;

	for (be = d->lingering; be; be = next) {
		next = be->lnext;
		if (be->on_free)
			(void)daemon_send_cancel(d, be->pid, be->key, NULL, NULL);
		else
			backend_free(be);
	}
}

void backend_kick(struct backend *be)
{
	if (be->state != BE_ACTIVE)
		return;
	be->paused_for_client = false;
	sock_read(be->sk, true);
	if (evbuffer_get_length(sock_input(be->sk)) > 0)
		sock_kick(be->sk);      /* (backend_relay does nothing without input) */
}

/* ----------------------------------------------------------------- login -- */

/* The session settings interception depends on, as the backend reports them. */
static void param_status(struct client *c, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const char *name, *value;

	rd_init(&r, body, len);
	if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &value, NULL) && rd_at_end(&r))
		intercept_param(c, name, value);
}

/* A ParameterStatus of a backend opened later: the same as its login's
 * check said (the client has it). A value that changed since (ALTER ROLE
 * ... SET in between) goes to the client, as a SET's would. */
static bool said_before(struct client *c, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const char *name, *value, *was;

	rd_init(&r, body, len);
	if (c->login == NULL || !rd_cstring(&r, &name, NULL) || !rd_cstring(&r, &value, NULL))
		return false;
	was = lc_param(c->login, name);
	return was && strcmp(was, value) == 0;
}

static void send_pkt(struct backend *be, struct pktbuf *pb)
{
	if (pkt_ok(pb))
		evbuffer_add(sock_output(be->sk), pb->data, pb->len);
	pkt_free(pb);
}

static void send_startup(struct backend *be)
{
	struct pktbuf pb;

	pkt_init(&pb);
	pkt_startup(&pb, (const char *const *)be->client->params);
	send_pkt(be, &pb);
}

/* Fails the login: the client gets a FATAL, both connections close. */
static void login_failed(struct backend *be, const char *sqlstate, const char *message, const char *detail)
{
	struct client *c = be->client;

	log_info(be->prefix, "backend login failed: %s%s%s", message, detail ? ": " : "", detail ? detail : "");
	if (be->joining) {
		struct pktbuf pb;

		pkt_init(&pb);
		pkt_error(&pb, "FATAL", sqlstate, message, detail, NULL);
		if (pkt_ok(&pb)) {
			client_backend_refused(c, pb.data, pb.len);
			pkt_free(&pb);
			return;
		}
		pkt_free(&pb);
	}
	client_fatal(c, sqlstate, message, detail);
}

/* One authentication request from the backend. False when the login failed. */
static bool login_auth(struct backend *be, const uint8_t *body, uint32_t len)
{
	struct login_err err;
	struct pktbuf pb;
	bool ok;

	be->auth.user = be->client->user;
	be->auth.secret = login_secret(be->d, be->client->user);
	pkt_init(&pb);
	if (!login_answer(&be->auth, body, len, &pb, &ok, &err)) {
		pkt_free(&pb);
		login_failed(be, err.sqlstate, err.message, err.detail);
		return false;
	}
	if (ok)
		log_debug(be->prefix, "backend login authenticated");
	if (pb.len > 0)
		send_pkt(be, &pb);
	else
		pkt_free(&pb);
	return true;
}

/* Login phase: answer authentication, pass everything else to the client. */
static void backend_login(struct backend *be)
{
	struct evbuffer *in = sock_input(be->sk);
	struct client *c = be->client;
	struct pktreader r;
	uint8_t type, *p;
	uint32_t len;
	size_t total;

	while (be->state == BE_LOGIN) {
		if (evbuffer_get_length(in) < PKT_HDR_LEN)
			return;
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || len > LOGIN_MSG_MAX) {
			login_failed(be, "08P01", "backend sent an invalid message during login", NULL);
			return;
		}
		total = PKT_HDR_LEN + (size_t)len;
		if (evbuffer_get_length(in) < total)
			return;
		p = evbuffer_pullup(in, (ssize_t)total);
		switch (type) {
		case 'R':
			if (!login_auth(be, p + PKT_HDR_LEN, len))
				return;
			evbuffer_drain(in, total);
			continue;
		case 'E':
			/* The backend's own error (unknown database, role, ...), as it said it. */
			log_info(be->prefix, "backend refused the login");
			if (be->joining) {
				client_backend_refused(c, p, total);
				return;
			}
			evbuffer_remove_buffer(in, client_output(c), total);
			client_finish(c, "backend refused the login");
			return;
		case 'K':
			rd_init(&r, p + PKT_HDR_LEN, len);
			if (!rd_u32(&r, &be->pid) || !rd_u32(&r, &be->key) || !rd_at_end(&r)) {
				login_failed(be, "08P01", "backend sent an invalid BackendKeyData", NULL);
				return;
			}
			snprintf(be->prefix + strlen(be->prefix), sizeof(be->prefix) - strlen(be->prefix),
				 " pid=%u", be->pid);
			if (be->joining) {
				evbuffer_drain(in, total);      /* the client has pgbatchd's key */
				continue;
			}
			break;
		case 'Z':
			if (len != 1) {
				login_failed(be, "08P01", "backend sent an invalid ReadyForQuery", NULL);
				return;
			}
			set_state(be, BE_ACTIVE);
			/* the SETs the session had answered without it come first */
			if (be->joining && !isess_replay(c, sock_output(be->sk))) {
				login_failed(be, "53200", "out of memory", NULL);
				return;
			}
			evbuffer_add_buffer(sock_output(be->sk), be->hold);
			if (be->terminated) {
				be->terminated = false;
				backend_terminate(be);  /* its client ended while it logged in */
			}
			if (be->joining) {
				/* the client had its ReadyForQuery at its login */
				evbuffer_drain(in, total);
				log_info(c->prefix, "its backend logged in, pid %u", be->pid);
				client_backend_joined(c);
				return;
			}
			evbuffer_remove_buffer(in, client_output(c), total);
			log_info(c->prefix, "login: session ready, backend pid %u", be->pid);
			c->tx_status = (char)p[PKT_HDR_LEN];
			client_backend_ready(c);
			return;
		case 'S':
			if (be->joining && said_before(c, p + PKT_HDR_LEN, len)) {
				evbuffer_drain(in, total);      /* told at its login already */
				continue;
			}
			param_status(c, p + PKT_HDR_LEN, len);
			break;
		case 'N':
		case 'v':
			if (be->joining) {
				evbuffer_drain(in, total);      /* its login's, replayed then */
				continue;
			}
			break;
		default:
			login_failed(be, "08P01", "backend sent an unexpected message during login", NULL);
			return;
		}
		evbuffer_remove_buffer(in, client_output(c), total);
	}
}

/* ----------------------------------------------------------------- relay -- */

/* A backend message the client hears as it is when its entry is plain
 * (rq_plain_head): nothing in backend_relay below looks at it. */
static bool plain_type(uint8_t type)
{
	switch (type) {
	case '1': case '2': case '3': case 'n': case 's': case 't': case 'T': case 'D': case 'C':
	case 'I': case 'Z':
		return true;
	default:
		return false;
	}
}

/* The answers to plain entries at the front of the input, whole in its first
 * chunk, moved to the client in one go (per message they were a third of
 * a relayed transaction's instructions): the replyq is moved on for each, as
 * backend_relay would, and what it would do after each (client_pump once an
 * entry is answered, client_ready_for_query after a ReadyForQuery) is done
 * once after the move, which is the same while the head stays plain (then no
 * answer of ours is due and the session is not idle). False: nothing moved
 * (backend_relay reads the first message itself). */
static bool relay_plain(struct backend *be, struct client *c, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer_iovec v;
	const uint8_t *p;
	uint8_t type, done, any_done = 0;
	uint32_t len;
	size_t run = 0, total;
	bool ready = false;
	char status = 0;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return false;
	p = v.iov_base;
	while (v.iov_len - run >= PKT_HDR_LEN && rq_plain_head(&c->rq)) {
		if (pkt_read_header(p + run, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || !plain_type(type))
			break;
		total = PKT_HDR_LEN + (size_t)len;
		if (total > v.iov_len - run || (type == 'Z' && len != 1))
			break;
		(void)rq_backend(&c->rq, type, &done);  /* RQV_RELAY: a plain head */
		be->last_type = type;
		any_done |= done;
		run += total;
		if (type == 'Z') {
			status = (char)p[run - 1];
			ready = true;
			break;
		}
	}
	if (run == 0)
		return false;
	be->stream_drop = false;
	evbuffer_remove_buffer(in, out, run);
	if (ready)
		client_ready_for_query(c, status);
	else if (any_done)
		client_pump(c);
	return true;
}

static void backend_relay(struct backend *be)
{
	struct evbuffer *in = sock_input(be->sk);
	struct client *c = be->client;
	struct evbuffer *out = client_output(c);
	enum rq_verdict v;
	struct copyin *copy;
	uint8_t type, *p, done;
	uint32_t len;
	size_t avail, total, n;
	bool terminated;

	while (be->state == BE_ACTIVE) {
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return;
		if (client_output_full(c)) {
			be->paused_for_client = true;
			sock_read(be->sk, false);
			return;
		}
		if (be->stream_left > 0) {
			n = avail < be->stream_left ? avail : be->stream_left;
			if (be->stream_drop)
				evbuffer_drain(in, n);
			else
				evbuffer_remove_buffer(in, out, n);
			be->stream_left -= (uint32_t)n;
			continue;
		}
		if (avail < PKT_HDR_LEN)
			return;
		if (rq_plain_head(&c->rq) && relay_plain(be, c, in, out))
			continue;
		p = evbuffer_pullup(in, PKT_HDR_LEN);
		if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK) {
			client_backend_lost(c, "backend sent an invalid message length", false);
			return;
		}
		total = PKT_HDR_LEN + (size_t)len;
		if (type == 'Z' && len != 1) {
			client_backend_lost(c, "backend sent an invalid ReadyForQuery", false);
			return;
		}
		/* ReadyForQuery and small ParameterStatus are read whole first */
		if ((type == 'Z' || (type == 'S' && len <= PARAM_STATUS_MAX)) && avail < total)
			return;
		if ((type == 'E' || type == 't' || type == 'D' || type == 'C' || type == 'N') && total <= CAPTURE_MAX) {
			struct rq_entry *e = rq_target(&c->rq, type);

			if (e && e->capture && e->kind != RQ_OWN) {
				/* the session reads this answer first: whole */
				if (avail < total)
					return;
				p = evbuffer_pullup(in, (ssize_t)total);
				isess_captured(c, e, type, p + PKT_HDR_LEN, len);
				if (c->state != CL_ACTIVE || be->client != c)
					return;
			}
		}
		if (type == 'E' && avail >= total &&
		    fatal_error(evbuffer_pullup(in, (ssize_t)total) + PKT_HDR_LEN, len, &terminated)) {
			/* the server ends the session, maybe while an answer of ours
			 * is due or while it answers a question of pgbatchd's (the
			 * view, a probe): the FATAL is the client's last word; when it
			 * was terminated (pg_terminate_backend), a statement waiting
			 * for its batch dies with it, as it would directly */
			(void)client_pump(c);   /* answers of ours ready before it go first */
			if (terminated)
				intercept_server_gone(c);
			evbuffer_remove_buffer(in, out, total);
			client_finish(c, "backend ended the session");
			return;
		}
		copy = NULL;
		if (copyin_reads(type)) {
			struct rq_entry *e = rq_target(&c->rq, type);

			if (e && e->copy) {
				/* a COPY given its table's clause: its answer is the COPY's */
				if (avail < total)
					return;
				copy = e->copy;
			}
		}
		v = rq_backend(&c->rq, type, &done);
		if (v == RQV_RELAY && copy) {
			const char *schema, *table;

			copyin_relay(copy, evbuffer_pullup(in, (ssize_t)total), total, out);
			evbuffer_drain(in, total);
			if (copyin_stale(copy, &schema, &table) && c->d->sink)
				sink_catalog_invalidate(c->d->sink, schema, table);
			be->last_type = type;
			continue;
		}
		if (v == RQV_WAIT) {
			/* an answer of our own comes first: send it, or hold the backend */
			if (client_pump(c))
				continue;
			sock_read(be->sk, false);
			return;
		}
		be->last_type = type;
		be->stream_drop = v == RQV_DROP;
		if (type == 'S' && len <= PARAM_STATUS_MAX) {
			p = evbuffer_pullup(in, (ssize_t)total);
			if (!isess_param_relayed(c, p + PKT_HDR_LEN, len)) {
				evbuffer_drain(in, total);      /* the client has it (a replayed SET's) */
				continue;
			}
			param_status(c, p + PKT_HDR_LEN, len);
		} else if (type == 'Z') {
			p = evbuffer_pullup(in, (ssize_t)total);
			char status = (char)p[PKT_HDR_LEN];

			if (v == RQV_DROP)
				evbuffer_drain(in, total);
			else
				evbuffer_remove_buffer(in, out, total);
			client_ready_for_query(c, status);
			continue;
		}
		n = avail < total ? avail : total;
		if (v == RQV_DROP)
			evbuffer_drain(in, n);
		else
			evbuffer_remove_buffer(in, out, n);
		be->stream_left = (uint32_t)(total - n);
		if (done)
			client_pump(c);
	}
}

static void backend_read_cb(struct sock *sk, void *arg)
{
	struct backend *be = arg;

	(void)sk;
	if (be->state == BE_LOGIN)
		backend_login(be);
	else if (be->state == BE_ACTIVE)
		backend_relay(be);
	else if (be->state == BE_LINGER)
		evbuffer_drain(sock_input(be->sk), evbuffer_get_length(sock_input(be->sk)));
}

static void backend_write_cb(struct sock *sk, void *arg)
{
	struct backend *be = arg;

	(void)sk;
	if (be->state == BE_ACTIVE && !backend_output_full(be))
		client_resume_reading(be->client);
}

static void backend_event_cb(struct sock *sk, enum sock_event ev, int err, void *arg)
{
	struct backend *be = arg;
	struct client *c = be->client;
	char reason[192];
	int one = 1;

	if (be->state == BE_LINGER) {
		log_debug(be->prefix, "backend connection ended");
		backend_free(be);
		return;
	}
	if (ev == SOCK_CONNECTED) {
		evutil_socket_t fd = sock_fd(sk);
		if (be->d->backend_sa.ss_family != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_state(be, BE_LOGIN);
		log_debug(be->prefix, "connected");
		send_startup(be);
		return;
	}
	if (ev == SOCK_ERROR)
		snprintf(reason, sizeof(reason), "%s", *sock_tls_error(sk) ? sock_tls_error(sk) : strerror(err));
	else
		snprintf(reason, sizeof(reason), "backend closed the connection");
	be->ended = true;
	switch (be->state) {
	case BE_CONNECTING:
		login_failed(be, "08006", "could not connect to the backend", reason);
		return;
	case BE_LOGIN:
		login_failed(be, "08006", "backend closed the connection during login", reason);
		return;
	case BE_ACTIVE:
		/* Relay whatever it said last (a FATAL on termination) before closing. */
		backend_relay(be);
		if (c->be != be)
			return;
		if (be->terminated) {
			/* the client sent Terminate, or left: every answer it was owed is out */
			char why[160];

			snprintf(why, sizeof(why), "%s", c->close_reason[0] ? c->close_reason : "client sent Terminate");
			client_finish(c, why);
			return;
		}
		if (be->last_type == 'E' && be->stream_left == 0 &&
		    evbuffer_get_length(sock_input(sk)) == 0) {
			/* It said why (a FATAL such as 57P01): that is the client's answer. */
			log_info(c->prefix, "backend connection ended after an error: %s", reason);
			client_finish(c, "backend ended the session");
			return;
		}
		/* gone without a word (a crash, the network): its INSERTs not yet
		 * answered are a dead session's, as directly */
		intercept_server_gone(c);
		client_backend_lost(c, reason, be->stream_left > 0 || evbuffer_get_length(sock_input(sk)) > 0);
		return;
	case BE_LINGER:         /* above */
	case BE_CLOSED:
		return;
	}
}
