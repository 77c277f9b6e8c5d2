/* The spool: an append-only, fsync'd log of acknowledged units in segment files under spool_dir, read back after a crash. */
#ifndef PGBATCHD_SINK_SPOOL_H
#define PGBATCHD_SINK_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct spool;

/*
 * Records are appended in seq order to the current segment by an I/O thread
 * of the spool's own: one write and one fdatasync for every record appended
 * while the last ones were written (group commit across sessions), never one
 * per record. A record's owner hears once (the done callback, from the event
 * loop) that it is durable, or that it is not and never will be: a write
 * error truncates the segment back, an fsync error marks its records void in
 * a new segment (a page the kernel failed to write is never fsync'd again).
 * A segment is removed once every record in it is released.
 *
 * On disk: NNNNNNNNNNNNNNNN.seg, the hex seq of its first record; a 24-byte
 * header (magic, version, the spool's id); then records of a 24-byte header
 * (payload length, CRC-32C of what follows the CRC, seq, append time in µs)
 * and the payload.
 */

/* A record read back at start-up, in seq order. */
struct spool_rec {
	uint64_t seq;
	int64_t at_us;              /* when it was appended */
	const uint8_t *data;
	uint32_t len;
};

/* Locks dir (a second pgbatchd on it fails), reads its segments and keeps
 * the records not marked void. A torn record at the end of the last segment
 * (a crash mid-write: never acknowledged) is cut off, with a log line. A
 * damaged record anywhere else fails, naming the file and offset, unless
 * salvage: then that segment is renamed aside (.corrupt) and left out. NULL
 * on failure (the log says why). */
struct spool *spool_open(const char *dir, int64_t max_bytes, bool salvage);
/* Starts the I/O thread. done(arg, owner, err): err NULL once the record is
 * durable, else why it is not (and never will be); room(arg): the spool is
 * not full any more. False on failure. */
bool spool_start(struct spool *sp, struct event_base *base,
		 void (*done)(void *arg, void *owner, const char *err), void (*room)(void *arg), void *arg);
/* Stops the thread (after the write in progress) and closes the segments;
 * those whose records are all released are removed. */
void spool_close(struct spool *sp);

uint64_t spool_id(const struct spool *sp);
/* The id the spool had before (emptied since: a new id), 0 if none: the
 * ledger's rows of that id are needed no more. */
uint64_t spool_previous_id(const struct spool *sp);
/* The records read at start-up (valid until spool_recovered_free). */
size_t spool_recovered(const struct spool *sp, const struct spool_rec **recs);
void spool_recovered_free(struct spool *sp);

/* Appends a record for owner; its seq, 0 when out of memory. */
uint64_t spool_append(struct spool *sp, const void *data, size_t len, void *owner);
/* Its owner is gone (freed before the spool answered): no answer for it.
 * The record is written all the same. */
void spool_disown(struct spool *sp, uint64_t seq);
/* The record is written to the database (or given up for good): its segment
 * goes once all of its records are. */
void spool_release(struct spool *sp, uint64_t seq);
/* Records below this seq are in no segment any more (the removal is
 * durable): the ledger need not remember them. */
uint64_t spool_low(const struct spool *sp);
/* spool_max_bytes changed (a reload). */
void spool_set_max_bytes(struct spool *sp, int64_t max_bytes);
/* True while the spool holds more than its max_bytes: INSERTs wait. */
bool spool_full(const struct spool *sp);

struct spool_stats {
	int64_t bytes;              /* in its segments and waiting to be written */
	uint64_t units;             /* records not released */
	int64_t oldest_us;          /* append time of the oldest segment holding one, 0: none */
	int segments;
	uint64_t fsyncs;
	uint64_t id;
};
void spool_stats(const struct spool *sp, struct spool_stats *out);

/* CRC-32C (Castagnoli), as records carry it. */
uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len);

#endif
