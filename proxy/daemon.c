/* The daemon: event loop, configuration and reload, listener, client registry, signals, cancels. */
#include "proxy/daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "conf/config.h"
#include "protocol/pktbuf.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/cshow.h"
#include "proxy/intercept.h"
#include "proxy/isess.h"
#include "proxy/listen.h"
#include "proxy/metrics.h"
#include "proxy/sock.h"
#include "proxy/tls.h"
#include "proxy/logincache.h"
#include "common/log.h"
#include "sink/sink.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

#define SHUTDOWN_GRACE_SECONDS 5

/* ------------------------------------------------------------ addresses -- */

static bool resolve_backend(struct daemon *d, const struct config *cfg)
{
	const struct backend_addr *b = &cfg->backend;
	struct addrinfo hints, *res = NULL;
	char port[16];
	int rc;

	memset(&d->backend_sa, 0, sizeof(d->backend_sa));
	if (b->host == NULL || b->host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&d->backend_sa;
		const char *dir = b->host ? b->host : "/var/run/postgresql";
		un->sun_family = AF_UNIX;
		if ((size_t)snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", dir, b->port) >=
		    sizeof(un->sun_path)) {
			log_error(NULL, "backend socket path too long: %s", dir);
			return false;
		}
		d->backend_salen = sizeof(*un);
		snprintf(d->backend_name, sizeof(d->backend_name), "%s", un->sun_path);
		return true;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", b->port);
	rc = getaddrinfo(b->host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		log_error(NULL, "cannot resolve backend host %s: %s", b->host, gai_strerror(rc));
		return false;
	}
	memcpy(&d->backend_sa, res->ai_addr, res->ai_addrlen);
	d->backend_salen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(d->backend_name, sizeof(d->backend_name), "%s:%d", b->host, b->port);
	return true;
}

/* --------------------------------------------------------------- cancels -- */

/* A CancelRequest forwarded to the backend: its connection stays open until
 * the postmaster closes it, which it does once it has signalled the backend
 * -- what libpq's PQcancel waits for, so that a cancel cannot land on the
 * client's next statement. */
struct canceller {
	struct daemon *d;
	struct canceller *prev, *next;  /* the daemon's list (freed at exit) */
	struct bufferevent *bev;
	void (*done)(void *arg);        /* then, if set */
	void *arg;
};

static void cancel_free(struct canceller *k)
{
	struct daemon *d = k->d;

	if (k->prev)
		k->prev->next = k->next;
	else
		k->d->cancellers = k->next;
	if (k->next)
		k->next->prev = k->prev;
	bufferevent_free(k->bev);
	free(k);
	listen_fd_freed(d);
}

static void cancel_end(struct canceller *k)
{
	void (*done)(void *arg) = k->done;
	void *arg = k->arg;

	cancel_free(k);
	if (done)
		done(arg);
}

static void cancel_read(struct bufferevent *bev, void *arg)
{
	/* the postmaster says nothing; whatever comes is dropped */
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void cancel_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	cancel_end(arg);    /* EOF once the request is taken; an error: nothing more to wait for */
}

struct canceller *daemon_send_cancel(struct daemon *d, uint32_t pid, uint32_t key, void (*done)(void *arg),
				     void *arg)
{
	struct canceller *k = calloc(1, sizeof(*k));
	struct pktbuf pb;

	if (k == NULL)
		return NULL;
	k->bev = bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (k->bev == NULL) {
		free(k);
		return NULL;
	}
	k->done = done;
	k->arg = arg;
	k->d = d;
	k->next = d->cancellers;
	if (d->cancellers)
		d->cancellers->prev = k;
	d->cancellers = k;
	pkt_init(&pb);
	pkt_cancel_request(&pb, pid, key);
	if (pkt_ok(&pb))
		evbuffer_add(bufferevent_get_output(k->bev), pb.data, pb.len);
	pkt_free(&pb);
	bufferevent_setcb(k->bev, cancel_read, NULL, cancel_event, k);
	if (bufferevent_socket_connect(k->bev, (struct sockaddr *)&d->backend_sa, (int)d->backend_salen) < 0) {
		cancel_free(k);
		return NULL;
	}
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	return k;
}

void daemon_cancel_forget(struct canceller *k)
{
	if (k)
		k->done = NULL;
}

bool daemon_connect_backend(struct daemon *d, struct sock *sk)
{
	enum tls_mode mode = config_server_tls_mode(d->cfg);

	if (d->server_tls_ctx == NULL || d->backend_sa.ss_family == AF_UNIX)
		return sock_connect(sk, (struct sockaddr *)&d->backend_sa, d->backend_salen);
	return sock_connect_pg(sk, (struct sockaddr *)&d->backend_sa, d->backend_salen, d->server_tls_ctx,
			       mode >= TLS_REQUIRE, d->cfg->backend.host, mode == TLS_VERIFY_FULL);
}

struct client *daemon_find_by_key(struct daemon *d, uint32_t pid, uint32_t key)
{
	struct client *c;

	for (c = d->clients; c; c = c->next) {
		if (c->key_pid != 0 ? c->key_pid == pid && c->key_secret == key :
		    c->be && c->be->state == BE_ACTIVE && c->be->pid == pid && c->be->key == key)
			return c;
	}
	return NULL;
}

/* --------------------------------------------------------------- signals -- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (d->shutting_down) {
			log_info(NULL, "second shutdown signal: exiting now");
			daemon_abort(d);
			return;
		}
		daemon_shutdown(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	case SIGHUP:
		(void)daemon_reload(d, NULL, 0);
		return;
	case SIGUSR2:
		log_info(NULL, "SIGUSR2: %d stopped table(s) resume", d->sink ? sink_resume(d->sink) : 0);
		return;
	case SIGUSR1:
		log_info(NULL, "stats: sessions=%d", d->nsessions);
		intercept_log_stats(d);
		if (d->sink)
			sink_log_stats(d->sink);
		return;
	default:
		return;
	}
}

static bool add_signal(struct daemon *d, struct event **ev, int sig)
{
	*ev = evsignal_new(d->base, sig, on_signal, d);
	return *ev != NULL && evsignal_add(*ev, NULL) == 0;
}

/* ------------------------------------------------------------- lifecycle -- */

bool daemon_init(struct daemon *d, const char *config_path, bool spool_salvage)
{
	char err[512];

	memset(d, 0, sizeof(*d));
	d->cfg = config_load(config_path, err, sizeof(err));
	if (d->cfg == NULL) {
		fprintf(stderr, "pgbatchd: %s\n", err);
		return false;
	}
	d->cfg->spool_salvage = spool_salvage;
	if (!log_open(d->cfg->logfile, d->cfg->verbose)) {
		fprintf(stderr, "pgbatchd: cannot open logfile %s: %s\n", d->cfg->logfile, strerror(errno));
		return false;
	}
	if (d->cfg->auth_file) {
		d->users = userlist_load(d->cfg->auth_file, err, sizeof(err));
		if (d->users == NULL) {
			log_error(NULL, "%s", err);
			return false;
		}
	} else if (d->cfg->auth_type != AUTH_TRUST) {
		log_error(NULL, "%s: auth_type %s needs an auth_file", config_path,
			  d->cfg->auth_type == AUTH_MD5 ? "md5" : "scram-sha-256");
		return false;
	}
	if (!tls_server_ctx(d->cfg, &d->tls_ctx, err, sizeof(err)) ||
	    !tls_backend_ctx(d->cfg, &d->server_tls_ctx, err, sizeof(err))) {
		log_error(NULL, "%s", err);
		return false;
	}
	if (RAND_bytes(d->scram_mock_key, sizeof(d->scram_mock_key)) != 1) {
		log_error(NULL, "no random source");
		return false;
	}
	{
		/* The changelist folds an add and a delete of the same event within one
		 * loop turn into no epoll_ctl at all: fewer syscalls per relayed message.
		 * Not EVENT_BASE_FLAG_PRECISE_TIMER: it sets a timerfd before every
		 * epoll_wait. The one wait that needs better than the default clock's
		 * 4 ms, group commit's gather (sink/gather.c), has a timer of its own
		 * (common/ptimer.h). */
		struct event_config *ec = event_config_new();
		if (ec) {
			event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
			d->base = event_base_new_with_config(ec);
			event_config_free(ec);
		}
	}
	if (d->base == NULL) {
		log_error(NULL, "cannot create the event loop");
		return false;
	}
	listen_raise_fd_limit(d);
	/* the metrics endpoint before the listeners: a client that reaches
	 * pgbatchd's port finds it listening too */
	if (!resolve_backend(d, d->cfg) || !metrics_start(d) || !listen_open(d))
		return false;
	if (!add_signal(d, &d->sig_term, SIGTERM) || !add_signal(d, &d->sig_int, SIGINT) ||
	    !add_signal(d, &d->sig_hup, SIGHUP) || !add_signal(d, &d->sig_usr1, SIGUSR1) ||
	    !add_signal(d, &d->sig_usr2, SIGUSR2)) {
		log_error(NULL, "cannot install signal handlers");
		return false;
	}
	if (d->cfg->ntables > 0) {
		d->sink = sink_new(d->base, d->cfg);
		if (d->sink == NULL) {
			log_error(NULL, "cannot start the sink");
			return false;
		}
		sink_set_room_callback(d->sink, intercept_room, d);
		sink_set_tx_wake(d->sink, intercept_tx_wake, d);
	}
	d->started = time(NULL);
	{
		struct sink_stats none = { 0 };

		cshow_sample(d, &none);         /* (the first rates are since start-up) */
	}
	return true;
}

int daemon_run(struct daemon *d)
{
	event_base_dispatch(d->base);
	intercept_log_stats(d);
	if (d->sink)
		sink_log_stats(d->sink);
	log_info(NULL, "shutdown complete");
	return 0;
}

void daemon_free(struct daemon *d)
{
	metrics_stop(d);
	if (d->shutdown_ev)
		event_free(d->shutdown_ev);
	while (d->clients)
		client_close(d->clients, "daemon exiting");
	backend_close_lingering(d);
	while (d->cancellers)
		cancel_free(d->cancellers);     /* (done does not run: its client is gone) */
	if (d->sink)
		sink_free(d->sink);
	listen_close(d);
	if (d->accept_ev)
		event_free(d->accept_ev);
	logincache_free(d);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->sig_usr1)
		event_free(d->sig_usr1);
	if (d->sig_usr2)
		event_free(d->sig_usr2);
	if (d->base)
		event_base_free(d->base);
	if (d->users)
		userlist_free(d->users);
	tls_ctx_free(d->tls_ctx);
	tls_ctx_free(d->server_tls_ctx);
	config_free(d->cfg);
	log_close();
	memset(d, 0, sizeof(*d));
}

static void shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	log_warning(NULL, "shutdown: clients did not close in time; exiting");
	event_base_loopexit(d->base, NULL);
}

static void drained(void *arg)
{
	struct daemon *d = arg;
	struct client *c, *next;
	struct timeval grace = { SHUTDOWN_GRACE_SECONDS, 0 };

	log_info(NULL, "shutdown: sink drained, closing %d sessions", d->nsessions);
	if (d->shutdown_ev)
		evtimer_del(d->shutdown_ev);
	for (c = d->clients; c; c = next) {
		next = c->next;
		if (c->state == CL_CLOSING)
			continue;
		if ((c->state == CL_ACTIVE && (c->be == NULL || c->be->stream_left == 0)) || c->state == CL_LOGIN)
			client_fatal(c, "57P01", "terminating connection due to administrator command", NULL);
		else
			client_close(c, "shutdown");
	}
	/* statements of clients that left are not the sink's: the server sees
	 * their connections end, as when its clients die */
	backend_close_lingering(d);
	event_free(d->sig_term);
	event_free(d->sig_int);
	event_free(d->sig_hup);
	event_free(d->sig_usr1);
	d->sig_term = d->sig_int = d->sig_hup = d->sig_usr1 = NULL;
	/* The loop ends when the last socket is gone, or after the grace period. */
	event_base_once(d->base, -1, EV_TIMEOUT, shutdown_timeout, d, &grace);
	if (d->clients == NULL && d->lingering == NULL)
		event_base_loopexit(d->base, NULL);
}

/* What is not written by now is given up: batches cancelled, every session
 * ended with 57P01 as PostgreSQL's shutdown ends them, acknowledged rows
 * kept in the rejects file or the log. */
void daemon_abort(struct daemon *d)
{
	struct client *c, *next;
	struct timeval grace = { SHUTDOWN_GRACE_SECONDS, 0 };

	if (d->aborted)
		return;
	d->aborted = true;
	if (d->sink)
		sink_abort(d->sink, "57P01", "terminating connection due to administrator command");
	backend_abort_lingering(d);
	for (c = d->clients; c; c = next) {
		next = c->next;
		isess_abort(c);
		if (c->state == CL_CLOSING)
			continue;
		if (c->state == CL_ACTIVE && (c->be == NULL || c->be->stream_left == 0))
			client_fatal(c, "57P01", "terminating connection due to administrator command", NULL);
		else
			client_close(c, "shutdown");
	}
	event_base_once(d->base, -1, EV_TIMEOUT, shutdown_timeout, d, &grace);
	if (d->clients == NULL && d->lingering == NULL && d->sink == NULL)
		event_base_loopexit(d->base, NULL);
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	log_warning(NULL, "shutdown: rows still not written after shutdown_timeout (%d s)", d->cfg->shutdown_timeout);
	daemon_abort(d);
}

void daemon_shutdown(struct daemon *d, const char *why)
{
	struct client *c;
	struct timeval tv = { d->cfg->shutdown_timeout, 0 };

	log_info(NULL, "shutdown requested (%s)", why);
	d->shutting_down = true;
	d->shutdown_ev = evtimer_new(d->base, on_shutdown_timeout, d);
	if (d->shutdown_ev)
		evtimer_add(d->shutdown_ev, &tv);
	listen_close(d);
	for (c = d->clients; c; c = c->next)
		if (c->state == CL_ACTIVE)
			client_hold(c, HOLD_SHUTDOWN);   /* (nothing resumes it: a mask, not a flag) */
	if (d->sink)
		sink_drain(d->sink, drained, d);
	else
		drained(d);
}

void daemon_client_gone(struct daemon *d)
{
	listen_fd_freed(d);
	if (d->shutting_down && d->clients == NULL && d->lingering == NULL && d->sig_term == NULL)
		event_base_loopexit(d->base, NULL);
}

/* ---------------------------------------------------------------- reload -- */

static void keep_str(char **fresh, char **old, const char *key)
{
	char *t;

	if ((*fresh == NULL) != (*old == NULL) || (*fresh && strcmp(*fresh, *old) != 0))
		log_warning(NULL, "reload: %s changed; it takes effect after a restart", key);
	t = *fresh;
	*fresh = *old;
	*old = t;
}

static void keep_int(int *fresh, int old, const char *key)
{
	if (*fresh != old)
		log_warning(NULL, "reload: %s changed; it takes effect after a restart", key);
	*fresh = old;
}

static bool reload_failed(const char *err, char *why, size_t whylen)
{
	log_error(NULL, "reload failed, keeping the old configuration: %s", err);
	if (why && whylen)
		snprintf(why, whylen, "%s", err);
	return false;
}

bool daemon_reload(struct daemon *d, char *why, size_t whylen)
{
	char err[512];
	struct config *n, *old = d->cfg;
	struct userlist *users = NULL;
	struct backend_addr tmp;
	struct ssl_ctx_st *tls = NULL, *server_tls = NULL;

	log_info(NULL, "reloading %s", old->path);
	n = config_load(old->path, err, sizeof(err));
	if (n == NULL) {
		return reload_failed(err, why, whylen);
	}
	if (n->auth_file) {
		users = userlist_load(n->auth_file, err, sizeof(err));
		if (users == NULL) {
			config_free(n);
			return reload_failed(err, why, whylen);
		}
	} else if (n->auth_type != AUTH_TRUST) {
		config_free(n);
		return reload_failed("auth_type needs an auth_file", why, whylen);
	}
	if (!tls_server_ctx(n, &tls, err, sizeof(err)) || !tls_backend_ctx(n, &server_tls, err, sizeof(err))) {
		tls_ctx_free(tls);
		if (users)
			userlist_free(users);
		config_free(n);
		return reload_failed(err, why, whylen);
	}
	keep_str(&n->listen_addr, &old->listen_addr, "listen_addr");
	keep_int(&n->listen_port, old->listen_port, "listen_port");
	keep_int(&n->io_buffer_size, old->io_buffer_size, "io_buffer_size");
	keep_str(&n->metrics_addr, &old->metrics_addr, "metrics_addr");
	keep_int(&n->metrics_port, old->metrics_port, "metrics_port");
	keep_str(&n->url, &old->url, "url");
	keep_str(&n->username, &old->username, "username");
	keep_str(&n->password, &old->password, "password");
	keep_int(&n->connectionmaxactive, old->connectionmaxactive, "connectionmaxactive");
	keep_str(&n->spool_dir, &old->spool_dir, "spool_dir");
	n->spool_salvage = old->spool_salvage;
	tmp = n->backend;
	n->backend = old->backend;
	old->backend = tmp;

	if ((n->logfile == NULL) != (old->logfile == NULL) ||
	    (n->logfile && strcmp(n->logfile, old->logfile) != 0)) {
		if (!log_open(n->logfile, n->verbose))
			fprintf(stderr, "pgbatchd: cannot open logfile %s\n", n->logfile);
	} else {
		log_reopen();
		log_set_verbose(n->verbose);
	}
	if (d->users)
		userlist_free(d->users);
	d->users = users;
	tls_ctx_free(d->tls_ctx);       /* (sessions in TLS keep it until they end) */
	d->tls_ctx = tls;               /* certificates read again */
	tls_ctx_free(d->server_tls_ctx);
	d->server_tls_ctx = server_tls;
	d->cfg = n;
	if (d->sink)
		sink_reload(d->sink, n);
	else if (n->ntables > 0 && (d->sink = sink_new(d->base, n)) != NULL) {
		sink_set_room_callback(d->sink, intercept_room, d);
		sink_set_tx_wake(d->sink, intercept_tx_wake, d);
	}
	config_free(old);
	logincache_clear(d);    /* the tables, auth_file, passwords may have changed */
	log_info(NULL, "configuration reloaded: verbose=%d max_client_conn=%d tables=%d",
		 n->verbose, n->max_client_conn, n->ntables);
	listen_check_capacity(d);
	return true;
}
