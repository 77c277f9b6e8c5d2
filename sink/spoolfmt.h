/* The spool module's own: its on-disk format and state, shared by spool.c (appends, the I/O thread) and spoolscan.c (reading it back). */
#ifndef PGBATCHD_SINK_SPOOLFMT_H
#define PGBATCHD_SINK_SPOOLFMT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "sink/spool.h"

struct event;

#define SPOOL_PREFIX "spool"
#define SEG_MAGIC "PGBSPOOL"
#define SEG_VERSION 2u                /* 2: writes marked (REC_JOB); 1 is read too */
#define SEG_HDR 24
#define REC_HDR 24
#define REC_VOID 0x80000000u        /* (in the length word) marks seqs [lo, hi] void */
/* (in the length word) the first record of a write (one pwrite and its
 * fdatasync). A write starts only once the one before it is durable, so
 * damage with no write starting after it, in the last segment, is that of
 * the write a crash tore, whichever of its pages reached the disk. */
#define REC_JOB 0x40000000u
#define REC_LEN(lw) ((lw) & ~(REC_VOID | REC_JOB))
#define REC_MAX ((1u << 30) - 1)
#define SEG_TARGET (64 * 1024 * 1024)   /* a segment's size (at most a quarter of spool_max_bytes) */
/* How far past its records a segment is written with zeros ahead of them: an
 * fdatasync of records written over those zeros flushes no file size or
 * block map, only the data (on ext4 here, 80 us against 125 us for an
 * append). A zero length word ends a segment's records. */
#define SEG_PREFILL (1024 * 1024)

struct seg {
	struct seg *next;
	uint64_t lo, hi;            /* its records' seqs (lo 0: none yet) */
	uint32_t live;              /* records durable and not released */
	int64_t bytes;              /* its size: header and records */
	int64_t filled;             /* its file's end, zeros past bytes (this start's writes) */
	bool no_prefill;            /* zeros ahead did not fit once: none more for it */
	int64_t first_us;           /* its first record's append time */
	bool broken;                /* an fsync failed: never written again */
	char name[24];
};

struct owner {
	uint64_t seq;
	void *owner;
};

struct owners {
	struct owner *v;
	size_t n, cap;
};

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

/* What the loop hands the thread, and what the thread says of it. */
struct job {
	int fd;
	const uint8_t *data;
	size_t len;
	off_t at;                   /* the segment's size before: a failed write is cut back to it */
	off_t filled;               /* in: the file's end (zeros past at); out: after the job */
	off_t fill_to;              /* zeros are written ahead at most to here */
	bool prefill_failed;        /* (out) they did not fit, and were cut back */
	bool sync_dir;              /* a segment was made or removed */
	int err;                    /* errno, 0: durable */
	const char *stage;          /* what failed */
	bool cut;                   /* the failed write was cut back */
};

struct spool {
	char *dir;
	int dirfd, lockfd;
	uint64_t id, next_seq;
	uint64_t next_segno;        /* the next segment's name (numbers only go up) */
	uint64_t prev_id;           /* the LOCK file's id before this start, when another */
	int64_t max_bytes;
	struct seg *segs;           /* in seq order; the last is the one written, when open */
	int cur_fd;                 /* the last segment's, -1: the next write starts a segment */
	int nsegs;
	int64_t seg_bytes;          /* the segments' sizes */
	uint64_t live;
	uint64_t fsyncs;
	bool dir_dirty;             /* a segment was removed since the last directory fsync */
	bool dir_synced;            /* ... and the job in flight fsyncs it */
	bool scanned;               /* read: its segments are its own to remove */
	bool mu_init;
	uint64_t low, low_next;
	/* read at start-up */
	struct spool_rec *recs;
	size_t nrecs;
	uint8_t **bufs;
	int nbufs;
	/* appended, not yet handed to the thread */
	struct bytes pend;
	struct owners pend_owners;
	/* being written */
	struct bytes fly;
	struct owners fly_owners;
	bool fly_fresh;             /* the job starts its segment */
	/* the records of a failed fsync: answered once a void record says so */
	struct owners voiding;
	uint64_t void_lo, void_hi;
	bool void_due;
	struct event *retry_ev;
	bool in_retry;              /* submit runs from the retry's event */
	/* the thread */
	pthread_t th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool job_ready, stopping;
	struct job job;
	bool busy;
	int pipefd[2];
	struct event *ev;
	void (*done)(void *arg, void *owner, const char *err);
	void (*room)(void *arg);
	void *arg;
};

/* ---- little-endian fields ---- */

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The record's CRC: of its length word, seq, time and payload. */
uint32_t spool_rec_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len);
/* Fills a record's header for its payload. */
void spool_rec_header(uint8_t *hdr, uint32_t lenword, uint64_t seq, int64_t at, const uint8_t *payload,
		      uint32_t len);
/* A segment at the end of the list, by file name. */
struct seg *spool_seg_add(struct spool *sp, const char *name);
struct seg *spool_seg_last(const struct spool *sp);
/* Out of the list; the file stays. */
void spool_seg_forget(struct spool *sp, struct seg *g);
/* Out of the list, and its file removed (the directory is fsync'd later). */
void spool_seg_unlink(struct spool *sp, struct seg *g);
/* Removes the oldest segments while all their records are released. */
void spool_reap(struct spool *sp);

#endif
