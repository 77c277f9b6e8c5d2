/* pgbatchd's entry point: command line, then the daemon. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conf/config.h"
#include "proxy/daemon.h"

#include "common/version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"pgbatchd %s - a PostgreSQL proxy that batches row-level INSERTs\n\n"
		"Usage: pgbatchd -c FILE [--ping]\n\n"
		"  -c, --config FILE     configuration file (INI; see docs/configuration.md)\n"
		"      --ping            ask the pgbatchd that FILE configures whether it answers\n"
		"                        on its port (exit 0 yes, 1 it refuses, 2 no answer, 3 bad\n"
		"                        FILE: pg_isready's codes); for container health checks\n"
		"      --describe-config print the reference of every configuration key\n"
		"      --spool-salvage   start although a spool segment is damaged: it is set\n"
		"                        aside (renamed .corrupt) and its rows are not written\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n\n"
		"Signals: SIGTERM/SIGINT drain buffered rows and exit; SIGHUP reloads the\n"
		"configuration; SIGUSR1 logs counters.\n",
		PGBATCHD_VERSION);
}

/*
 * The container's HEALTHCHECK: is the pgbatchd that config_path configures
 * answering on its port? An SSLRequest is sent and its one-byte answer read,
 * which takes the daemon's event loop (a port the kernel still accepts on is
 * not enough) and no backend connection, and is not logged. Exit codes are
 * pg_isready's: 0 answered, 1 refused ('E'), 2 no answer, 3 bad config.
 */
static int ping(const char *config_path)
{
	static const unsigned char ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	const struct timeval tmo = { .tv_sec = 5 };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char err[512], port[16];
	struct config *cfg = config_load(config_path, err, sizeof(err));
	const char *host, *what = "no response";
	int rc = 2;

	if (cfg == NULL) {
		fprintf(stderr, "pgbatchd: %s\n", err);
		return 3;
	}
	host = cfg->listen_addr;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	if (getaddrinfo(host, port, &hints, &res) != 0)
		res = NULL;
	for (ai = res; ai != NULL && rc == 2; ai = ai->ai_next) {
		unsigned char answer;
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

		if (fd < 0)
			continue;
		/* on Linux SO_SNDTIMEO bounds connect() too */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) == 0
				&& setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) == 0
				&& connect(fd, ai->ai_addr, ai->ai_addrlen) == 0
				&& send(fd, ssl_request, sizeof(ssl_request), MSG_NOSIGNAL) == (ssize_t)sizeof(ssl_request)
				&& read(fd, &answer, 1) == 1) {
			if (answer == 'N' || answer == 'S') {
				rc = 0;
				what = "accepting connections";
			} else if (answer == 'E') {
				rc = 1;
				what = "rejecting connections";
			}
		}
		close(fd);
	}
	if (res != NULL)
		freeaddrinfo(res);
	printf("%s:%s - %s\n", host, port, what);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "describe-config", no_argument, NULL, 'D' },
		{ "ping", no_argument, NULL, 'P' },
		{ "spool-salvage", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct daemon d;
	int opt, rc;
	bool do_ping = false, salvage = false;

	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pgbatchd %s\n", PGBATCHD_VERSION);
			return 0;
		case 'D':
			config_print_reference(stdout);
			return 0;
		case 'P':
			do_ping = true;
			break;
		case 'S':
			salvage = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL || optind != argc) {
		usage(stderr);
		return do_ping ? 3 : 2;
	}
	if (do_ping)
		return ping(config_path);
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/* A read allocates an I/O chain that the write to the other side frees:
	 * with glibc's default 128 KiB trim threshold, nearly every turn of the
	 * loop gave the top of the heap back to the kernel and took it again
	 * (a brk() pair per message). Keep a few MiB instead. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_TOP_PAD, 1 << 20);
#endif
	if (!daemon_init(&d, config_path, salvage)) {
		daemon_free(&d);
		return 1;
	}
	rc = daemon_run(&d);
	daemon_free(&d);
	return rc;
}
