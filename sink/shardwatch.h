/* Citus shard maps kept current: each hash-distributed table's shard ranges, read again every few seconds. */
#ifndef PGBATCHD_SINK_SHARDWATCH_H
#define PGBATCHD_SINK_SHARDWATCH_H

struct sink;
struct shardwatch;

/* Every SHARDWATCH_MS while armed, the catalog connection reads the shards of
 * the configured tables Citus spreads by hash; a table whose ranges changed
 * (a shard split, tables distributed again) takes the new map at once and
 * says so in the log. Only the grouping of a batch's rows reads the map. */
#define SHARDWATCH_MS 5000

struct shardwatch *shardwatch_new(struct sink *s);
void shardwatch_free(struct shardwatch *w);
/* Starts the timer (the backend is a Citus coordinator); again: no change. */
void shardwatch_arm(struct shardwatch *w);
/* Stops it (pgbatchd drains). */
void shardwatch_stop(struct shardwatch *w);

#endif
