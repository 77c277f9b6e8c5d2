/* pgbatchd's entry point: command line, then the daemon. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "proxy/daemon.h"

#define PGBATCHD_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"pgbatchd %s - a PostgreSQL proxy that batches row-level INSERTs\n\n"
		"Usage: pgbatchd -c FILE\n\n"
		"  -c, --config FILE     configuration file (INI; see docs/configuration.md)\n"
		"      --describe-config print the reference of every configuration key\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n\n"
		"Signals: SIGTERM/SIGINT drain buffered rows and exit; SIGHUP reloads the\n"
		"configuration; SIGUSR1 logs counters.\n",
		PGBATCHD_VERSION);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "describe-config", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct daemon d;
	int opt, rc;

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
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
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
