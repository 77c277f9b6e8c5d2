/* pgbatchd's entry point: command line, then the daemon. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conf/config.h"
#include "proxy/daemon.h"

#define PGBATCHD_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"pgbatchd %s - a PostgreSQL proxy that batches row-level INSERTs\n\n"
		"Usage: pgbatchd -c FILE [--ping]\n\n"
		"  -c, --config FILE     configuration file (INI; see docs/configuration.md)\n"
		"      --ping            ask the pgbatchd that FILE configures whether it accepts\n"
		"                        connections, as pg_isready does (exit 0 yes, 1 it refuses,\n"
		"                        2 no answer, 3 bad FILE); for container health checks\n"
		"      --describe-config print the reference of every configuration key\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n\n"
		"Signals: SIGTERM/SIGINT drain buffered rows and exit; SIGHUP reloads the\n"
		"configuration; SIGUSR1 logs counters.\n",
		PGBATCHD_VERSION);
}

/*
 * pg_isready's question put to pgbatchd's own listener: the container's
 * HEALTHCHECK, without a PostgreSQL client in the image. An answer of any
 * kind (a password request, an error from the backend) means the proxy is
 * up; only 57P03 is "refusing". Exit codes are pg_isready's.
 */
static int ping(const char *config_path)
{
	const char *keys[] = { "host", "port", "dbname", "user", "connect_timeout", "sslmode",
		"application_name", NULL };
	const char *vals[8];
	char err[512], port[16];
	struct config *cfg = config_load(config_path, err, sizeof(err));
	const char *host;
	PGPing r;

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
	vals[0] = host;
	vals[1] = port;
	vals[2] = cfg->backend.dbname ? cfg->backend.dbname : cfg->username;
	vals[3] = cfg->username;
	vals[4] = "5";
	vals[5] = "disable";
	vals[6] = "pgbatchd --ping";
	vals[7] = NULL;
	r = PQpingParams(keys, vals, 0);
	printf("%s:%s - %s\n", host, port, r == PQPING_OK ? "accepting connections"
		: r == PQPING_REJECT ? "rejecting connections"
		: r == PQPING_NO_RESPONSE ? "no response" : "no attempt");
	config_free(cfg);
	return r == PQPING_OK ? 0 : r == PQPING_REJECT ? 1 : r == PQPING_NO_RESPONSE ? 2 : 3;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "describe-config", no_argument, NULL, 'D' },
		{ "ping", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct daemon d;
	int opt, rc;
	bool do_ping = false;

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
	if (!daemon_init(&d, config_path)) {
		daemon_free(&d);
		return 1;
	}
	rc = daemon_run(&d);
	daemon_free(&d);
	return rc;
}
