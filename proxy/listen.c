/* Listening sockets (TCP and unix), the open-file limit, and accepting paced when descriptors run out. */
#include "proxy/listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "conf/config.h"
#include "proxy/client.h"
#include "proxy/daemon.h"

#define SEAM_CORE
#include "proxy/seam.h"

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct daemon *d = arg;

	(void)l;
	if (d->shutting_down) {
		close(fd);
		return;
	}
	client_accept(d, fd, sa, salen);
}

/* Descriptors kept aside from client sessions: the listener, the log, the
 * sink's catalog connection, cancels in flight, libevent's own. */
#define FD_RESERVE 32

/* Connections the kernel completes before pgbatchd accepts them (capped by
 * net.core.somaxconn): a fleet reconnecting at once is not dropped to SYN
 * retries. */
#define LISTEN_BACKLOG 4096

/* Raises the open-file limit from its soft value to its hard one and says how
 * many sessions it holds: each session takes its client's socket and its own
 * backend's, the sink's writers two each (a connection, a precise timer). */
void listen_raise_fd_limit(struct daemon *d)
{
	struct rlimit rl;
	long spare;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warning(NULL, "cannot read the open-file limit: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			log_warning(NULL, "cannot raise the open-file limit from %llu to %llu: %s",
				    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
				    strerror(errno));
	}
	d->fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
	spare = d->fd_limit - FD_RESERVE - (d->cfg->ntables > 0 ? 2L * d->cfg->connectionmaxactive : 0);
	d->fd_spare = spare > 0 ? spare : 0;
	log_info(NULL, "open-file limit %ld: room for %ld client sessions with a backend each, %ld without "
		 "(max_client_conn %d)", d->fd_limit, d->fd_spare / 2, d->fd_spare, d->cfg->max_client_conn);
	listen_check_capacity(d);
}

void listen_check_capacity(struct daemon *d)
{
	/* sessions of a database with tables start without a backend (clogin.c) */
	long room = d->cfg->lazy_backend && d->cfg->ntables > 0 ? d->fd_spare : d->fd_spare / 2;

	if (d->fd_limit > 0 && room < d->cfg->max_client_conn)
		log_warning(NULL, "max_client_conn %d is more than the open-file limit %ld holds (%ld sessions): "
			    "raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower max_client_conn",
			    d->cfg->max_client_conn, d->fd_limit, room);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Accepting again: a descriptor was freed, or a second passed. */
static void accept_resume(struct daemon *d)
{
	if (!d->accept_paused || d->nlisteners == 0 || d->shutting_down)
		return;
	d->accept_paused = false;
	evtimer_del(d->accept_ev);
	for (int i = 0; i < d->nlisteners; i++)
		evconnlistener_enable(d->listeners[i]);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	accept_resume(arg);
}

/* Out of descriptors (or kernel memory): the listening socket stays readable,
 * so accepting again at once would spin the loop. Not accepting until a
 * session's descriptor is freed or a second has passed; waiting clients stay
 * in the kernel's backlog. Logged at most once a second, with a count. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct daemon *d = arg;
	int err = errno;
	int64_t now;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warning(NULL, "accept failed: %s", strerror(err));
		return;
	}
	d->accept_failures++;
	now = mono_ms();
	if (d->accept_logged_ms == 0 || now - d->accept_logged_ms >= 1000) {
		log_warning(NULL, "accept failed: %s (%llu time%s since the last report; %d sessions open): "
			    "not accepting until a connection closes",
			    strerror(err), (unsigned long long)d->accept_failures,
			    d->accept_failures == 1 ? "" : "s", d->nsessions);
		d->accept_failures = 0;
		d->accept_logged_ms = now;
	}
	if (d->accept_ev == NULL)
		d->accept_ev = evtimer_new(d->base, on_accept_retry, d);
	(void)l;
	for (int i = 0; i < d->nlisteners; i++)
		evconnlistener_disable(d->listeners[i]);       /* (out of descriptors for all) */
	d->accept_paused = true;
	if (d->accept_ev) {
		struct timeval tv = { 1, 0 };

		evtimer_add(d->accept_ev, &tv);
	}
}

void listen_fd_freed(struct daemon *d)
{
	accept_resume(d);
}

static bool add_listener(struct daemon *d, const struct sockaddr *sa, int salen, bool reuse, const char *name)
{
	struct evconnlistener *l;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | (reuse ? LEV_OPT_REUSEABLE : 0);

	if (d->nlisteners >= (int)(sizeof(d->listeners) / sizeof(d->listeners[0])))
		return false;
	l = evconnlistener_new_bind(d->base, accept_cb, d, flags, LISTEN_BACKLOG, sa, salen);
	if (l == NULL) {
		log_error(NULL, "cannot listen on %s: %s", name, strerror(errno));
		return false;
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	d->listeners[d->nlisteners++] = l;
	return true;
}

static bool open_tcp(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct addrinfo hints, *res = NULL;
	char port[16], name[300];
	const char *host = cfg->listen_addr;
	bool ok;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (host && strcmp(host, "*") == 0)
		host = NULL;
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		log_error(NULL, "cannot resolve listen_addr %s: %s", cfg->listen_addr, gai_strerror(rc));
		return false;
	}
	snprintf(name, sizeof(name), "%s:%d", cfg->listen_addr, cfg->listen_port);
	ok = add_listener(d, res->ai_addr, (int)res->ai_addrlen, true, name);
	freeaddrinfo(res);
	if (ok)
		log_info(NULL, "listening on %s, backend %s", name, d->backend_name);
	return ok;
}

/* A socket file at path already: one that still accepts connections is
 * another server's (false); a stale one is removed. */
static bool clear_stale(const char *path, const struct sockaddr_un *un)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return true;
		log_error(NULL, "cannot stat %s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error(NULL, "cannot listen on %s: the file exists and is not a socket", path);
		return false;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_error(NULL, "cannot create a unix socket: %s", strerror(errno));
		return false;
	}
	if (connect(fd, (const struct sockaddr *)un, sizeof(*un)) == 0) {
		close(fd);
		log_error(NULL, "cannot listen on %s: another server is listening there", path);
		return false;
	}
	close(fd);
	if (unlink(path) != 0 && errno != ENOENT) {
		log_error(NULL, "cannot remove the stale socket %s: %s", path, strerror(errno));
		return false;
	}
	log_info(NULL, "removed the stale socket %s", path);
	return true;
}

static bool open_unix(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct sockaddr_un un;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	if ((size_t)snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", cfg->unix_socket_dir,
			     cfg->listen_port) >= sizeof(un.sun_path)) {
		log_error(NULL, "unix_socket_dir %s is too long for a socket path", cfg->unix_socket_dir);
		return false;
	}
	if (!clear_stale(un.sun_path, &un) || !add_listener(d, (struct sockaddr *)&un, (int)sizeof(un), false, un.sun_path))
		return false;
	snprintf(d->unix_path, sizeof(d->unix_path), "%s", un.sun_path);
	/* anyone may connect, as to PostgreSQL's socket by default: the
	 * directory's permissions and authentication decide */
	if (chmod(un.sun_path, 0777) != 0)
		log_warning(NULL, "cannot chmod %s: %s", un.sun_path, strerror(errno));
	log_info(NULL, "listening on %s", un.sun_path);
	return true;
}

bool listen_open(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	/* the unix socket first: a client that sees the TCP port accept (a
	 * readiness check) finds the socket there too */
	if ((cfg->unix_socket_dir && !open_unix(d)) || !open_tcp(d)) {
		listen_close(d);
		return false;
	}
	return true;
}

void listen_close(struct daemon *d)
{
	for (int i = 0; i < d->nlisteners; i++)
		evconnlistener_free(d->listeners[i]);
	d->nlisteners = 0;
	if (d->unix_path[0]) {
		if (unlink(d->unix_path) != 0 && errno != ENOENT)
			log_warning(NULL, "cannot remove %s: %s", d->unix_path, strerror(errno));
		d->unix_path[0] = '\0';
	}
	if (d->accept_ev)
		evtimer_del(d->accept_ev);
	d->accept_paused = false;
}
