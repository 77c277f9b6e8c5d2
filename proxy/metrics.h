/* The Prometheus endpoint: GET /metrics on metrics_addr:metrics_port, served by libevent's evhttp. */
#ifndef PGBATCHD_PROXY_METRICS_H
#define PGBATCHD_PROXY_METRICS_H

#include <stdbool.h>

struct daemon;
struct evbuffer;
struct metrics;

/* Listens when metrics_port is set (d->metrics stays NULL otherwise). False
 * when it is set and cannot listen. */
bool metrics_start(struct daemon *d);
void metrics_stop(struct daemon *d);

/* The text exposition of every metric, into out (also used by tests). */
bool metrics_render(struct daemon *d, struct evbuffer *out);

#endif
