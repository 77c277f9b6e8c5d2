/* The spool's appends: records grouped, written and fsync'd by an I/O thread, owners told from the loop, emptied segments removed. */
#include "sink/spoolfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/later.h"
#include "common/log.h"

/* ---- CRC-32C ---- */

/* Eight bytes a step (slicing-by-8): crc_table[k][b] is the CRC of byte b
 * followed by k zero bytes. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int i = 0; i < 256; i++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian fields ---- */

static bool bytes_reserve(struct bytes *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->n >= more)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->n < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

static bool owners_push(struct owners *o, uint64_t seq, void *owner)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct owner *v = realloc(o->v, cap * sizeof(*v));

		if (v == NULL)
			return false;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct owner){ seq, owner };
	return true;
}

/* The record's CRC: of its length word, seq, time and payload. */
uint32_t spool_rec_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uint32_t crc = spool_crc32c(0, hdr, 4);

	crc = spool_crc32c(crc, hdr + 8, REC_HDR - 8);
	return spool_crc32c(crc, payload, len);
}

void spool_rec_header(uint8_t *hdr, uint32_t lenword, uint64_t seq, int64_t at, const uint8_t *payload,
		       uint32_t len)
{
	put32(hdr, lenword);
	put64(hdr + 8, seq);
	put64(hdr + 16, (uint64_t)at);
	put32(hdr + 4, spool_rec_crc(hdr, payload, len));
}

struct seg *spool_seg_add(struct spool *sp, const char *name)
{
	struct seg *g = calloc(1, sizeof(*g)), **pp;

	if (g == NULL)
		return NULL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	for (pp = &sp->segs; *pp; pp = &(*pp)->next)
		;
	*pp = g;
	sp->nsegs++;
	return g;
}

struct seg *spool_seg_last(const struct spool *sp)
{
	struct seg *g = sp->segs;

	while (g && g->next)
		g = g->next;
	return g;
}

/* Out of the list (the file stays). */
void spool_seg_forget(struct spool *sp, struct seg *g)
{
	struct seg **pp;

	for (pp = &sp->segs; *pp && *pp != g; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = g->next;
	sp->nsegs--;
	sp->seg_bytes -= g->bytes;
	free(g);
}

void spool_seg_unlink(struct spool *sp, struct seg *g)
{
	struct seg **pp;

	for (pp = &sp->segs; *pp && *pp != g; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = g->next;
	sp->nsegs--;
	sp->seg_bytes -= g->bytes;
	if (unlinkat(sp->dirfd, g->name, 0) != 0 && errno != ENOENT)
		log_warning(SPOOL_PREFIX, "cannot remove %s/%s: %s", sp->dir, g->name, strerror(errno));
	sp->dir_dirty = true;
	free(g);
}

uint64_t spool_id(const struct spool *sp)
{
	return sp->id;
}

uint64_t spool_previous_id(const struct spool *sp)
{
	return sp->prev_id;
}

size_t spool_recovered(const struct spool *sp, const struct spool_rec **recs)
{
	*recs = sp->recs;
	return sp->nrecs;
}

void spool_recovered_free(struct spool *sp)
{
	for (int i = 0; i < sp->nbufs; i++)
		free(sp->bufs[i]);
	free(sp->bufs);
	free(sp->recs);
	sp->bufs = NULL;
	sp->nbufs = 0;
	sp->recs = NULL;
	sp->nrecs = 0;
}


/* ---- the I/O thread ---- */

/* Zeros ahead of the job's records, once they reach the file's end, so that
 * the next jobs' fdatasyncs flush their data alone. Best effort: when the
 * zeros do not fit (a full disk), the file is cut back to the records, and
 * that segment gets no more (the loop's no_prefill). */
static void prefill(struct job *j)
{
	static const uint8_t zeros[65536];
	off_t end = j->at + (off_t)j->len, to = (end + SEG_PREFILL) / 4096 * 4096;

	if (end <= j->filled)
		return;
	if (to > j->fill_to)
		to = j->fill_to;
	for (off_t o = end; o < to;) {
		size_t n = (size_t)(to - o) < sizeof(zeros) ? (size_t)(to - o) : sizeof(zeros);
		ssize_t w = pwrite(j->fd, zeros, n, o);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			j->filled = ftruncate(j->fd, end) == 0 ? end : o;
			j->prefill_failed = true;
			return;
		}
		o += w;
	}
	j->filled = to > end ? to : end;
}

static void *io_main(void *arg)
{
	struct spool *sp = arg;
	struct job *j = &sp->job;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (!sp->job_ready && !sp->stopping)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (!sp->job_ready)
			break;
		pthread_mutex_unlock(&sp->mu);
		j->err = 0;
		j->cut = false;
		for (size_t done = 0; done < j->len;) {
			ssize_t n = pwrite(j->fd, j->data + done, j->len - done, j->at + (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				j->err = n < 0 ? errno : ENOSPC;
				j->stage = "write";
				/* what it wrote goes, durably: its records were never there */
				j->cut = ftruncate(j->fd, j->at) == 0 && fdatasync(j->fd) == 0;
				break;
			}
			done += (size_t)n;
		}
		if (j->err == 0 && j->len > 0)
			prefill(j);
		else if (j->cut)
			j->filled = j->at;
		if (j->err == 0 && j->len > 0 && fdatasync(j->fd) != 0) {
			j->err = errno;
			j->stage = "fsync";
		}
		if (j->err == 0 && j->sync_dir && fsync(sp->dirfd) != 0) {
			j->err = errno;
			j->stage = "directory fsync";
		}
		pthread_mutex_lock(&sp->mu);
		sp->job_ready = false;
		pthread_mutex_unlock(&sp->mu);
		/* (outside the lock: the loop it wakes takes it at once) */
		while (write(sp->pipefd[1], "", 1) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* Segments go oldest first, once all their records are released: a void
 * record never outlives the segment whose records it names. */
static int64_t seg_target(const struct spool *sp)
{
	int64_t t = sp->max_bytes / 4 / 4096 * 4096;

	return t > SEG_TARGET ? SEG_TARGET : t < 65536 ? 65536 : t;
}

static bool held_full(const struct spool *sp);

/* The segment being written goes too once it is big enough (or the spool
 * is full) and no write to it is in flight. */
static bool removable(const struct spool *sp, const struct seg *g)
{
	if (g->live != 0)
		return false;
	if (g->next != NULL || sp->cur_fd < 0 || g->broken)
		return true;
	return !sp->busy && g->lo != 0 && (g->bytes * 2 >= seg_target(sp) || held_full(sp));
}

void spool_reap(struct spool *sp)
{
	struct seg *g;

	while ((g = sp->segs) != NULL && removable(sp, g)) {
		if (g->next == NULL && sp->cur_fd >= 0) {
			close(sp->cur_fd);
			sp->cur_fd = -1;
		}
		spool_seg_unlink(sp, g);
	}
}

/* The segment this write goes to: the last, or a new one (its header then
 * starts the job). False when it cannot be made. */
static bool target(struct spool *sp)
{
	struct seg *last = spool_seg_last(sp), *g;
	char name[24];
	int fd;

	sp->fly_fresh = false;
	if (sp->cur_fd >= 0 && last && !last->broken &&
	    (last->bytes + (int64_t)sp->pend.n <= seg_target(sp) || last->bytes <= SEG_HDR))
		return true;
	if (sp->cur_fd >= 0) {
		close(sp->cur_fd);
		sp->cur_fd = -1;
		spool_reap(sp);
	}
	/* names from a number that only goes up: a name is never used twice */
	do {
		snprintf(name, sizeof(name), "%016" PRIx64 ".seg", sp->next_segno++);
		fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	} while (fd < 0 && errno == EEXIST);
	if (fd < 0) {
		log_error(SPOOL_PREFIX, "cannot create %s/%s: %s", sp->dir, name, strerror(errno));
		return false;
	}
	g = spool_seg_add(sp, name);
	if (g == NULL) {
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return false;
	}
	memcpy(sp->fly.p, SEG_MAGIC, 8);
	put32(sp->fly.p + 8, SEG_VERSION);
	put32(sp->fly.p + 12, 0);
	put64(sp->fly.p + 16, sp->id);
	sp->fly.n = SEG_HDR;
	sp->cur_fd = fd;
	sp->fly_fresh = true;
	return true;
}

static void submit(struct spool *sp);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;

	(void)fd;
	(void)what;
	bool was = held_full(sp);

	later_enter();
	sp->in_retry = true;
	submit(sp);
	sp->in_retry = false;
	if (was && !held_full(sp) && sp->room)
		sp->room(sp->arg);
	later_leave();
}

static void retry_later(struct spool *sp)
{
	struct timeval tv = { 0, 200000 };      /* (a full disk stays full a while) */

	/* (an armed retry is not pushed back by each append that fails) */
	if (sp->retry_ev && !evtimer_pending(sp->retry_ev, NULL))
		event_add(sp->retry_ev, &tv);
}

static void fail_owners(struct spool *sp, struct owners *o, const char *err)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].owner)
			sp->done(sp->arg, o->v[i].owner, err);
	o->n = 0;
}

static void disown(struct owners *o, uint64_t seq)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].seq == seq)
			o->v[i].owner = NULL;
}

void spool_disown(struct spool *sp, uint64_t seq)
{
	disown(&sp->pend_owners, seq);
	disown(&sp->fly_owners, seq);
	disown(&sp->voiding, seq);
}

/* Hands what is appended (and a void record, and a directory fsync) to the
 * thread, when it is idle. */
static void submit(struct spool *sp)
{
	struct owners swap;
	char err[256];
	uint64_t first;

	if (sp->busy || sp->stopping || !sp->th_started)
		return;
	if (sp->pend.n == 0 && !sp->void_due && !sp->dir_dirty)
		return;
	sp->fly_fresh = false;
	first = sp->void_due ? sp->void_lo : sp->pend_owners.n ? sp->pend_owners.v[0].seq : sp->next_seq;
	sp->fly.n = 0;
	if (!bytes_reserve(&sp->fly, SEG_HDR + REC_HDR + 16 + sp->pend.n)) {
		retry_later(sp);
		return;
	}
	if ((sp->pend.n || sp->void_due) && !target(sp)) {
		/* the pending units fail from the retry (never from inside an
		 * append: its caller has not noted the unit yet); a void record
		 * still due is tried again */
		if (sp->in_retry) {
			snprintf(err, sizeof(err), "could not write to the spool: cannot create a segment in %s",
				 sp->dir);
			fail_owners(sp, &sp->pend_owners, err);
			sp->pend.n = 0;
		}
		retry_later(sp);
		return;
	}
	if (sp->void_due) {
		uint8_t *r = sp->fly.p + sp->fly.n;

		put64(r + REC_HDR, sp->void_lo);
		put64(r + REC_HDR + 8, sp->void_hi);
		spool_rec_header(r, REC_VOID | REC_JOB | 16, 0, now_us(), r + REC_HDR, 16);
		sp->fly.n += REC_HDR + 16;
	}
	if (sp->pend.n) {
		uint8_t *r = sp->fly.p + sp->fly.n;

		memcpy(r, sp->pend.p, sp->pend.n);
		sp->fly.n += sp->pend.n;
		if (!sp->void_due) {
			/* the write's first record says so */
			uint32_t lw = get32(r);

			spool_rec_header(r, lw | REC_JOB, get64(r + 8), (int64_t)get64(r + 16), r + REC_HDR, REC_LEN(lw));
		}
	}
	sp->pend.n = 0;
	swap = sp->fly_owners;
	sp->fly_owners = sp->pend_owners;
	sp->pend_owners = swap;
	sp->pend_owners.n = 0;
	/* the lowest seq in a segment once this job's directory fsync is done
	 * (a segment of a header or void records alone has none) */
	sp->low_next = first;
	for (const struct seg *g = sp->segs; g; g = g->next)
		if (g->lo) {
			sp->low_next = g->lo < first ? g->lo : first;
			break;
		}
	pthread_mutex_lock(&sp->mu);
	sp->job = (struct job){
		.fd = sp->cur_fd, .data = sp->fly.p, .len = sp->cur_fd >= 0 ? sp->fly.n : 0,
		.at = sp->fly_fresh || sp->cur_fd < 0 ? 0 : (off_t)spool_seg_last(sp)->bytes,
		.filled = sp->fly_fresh || sp->cur_fd < 0 ? 0 : (off_t)spool_seg_last(sp)->filled,
		.fill_to = !sp->fly_fresh && sp->cur_fd >= 0 && spool_seg_last(sp)->no_prefill ? 0 : (off_t)seg_target(sp),
		.sync_dir = sp->fly_fresh || sp->dir_dirty,
	};
	sp->dir_synced = sp->dir_dirty;
	sp->dir_dirty = false;
	sp->job_ready = true;
	sp->busy = true;
	pthread_mutex_unlock(&sp->mu);
	/* (after the unlock: a thread woken under it would only wait for it) */
	pthread_cond_signal(&sp->cv);
}


/* The write's records may be on disk, or its new segment's name may not be:
 * that segment is written no more, and the records are made void (a record
 * in the next segment) before their owners hear they failed. */
static void write_off(struct spool *sp, const char *err)
{
	struct seg *last = spool_seg_last(sp);

	if (last)
		last->broken = true;
	if (sp->cur_fd >= 0)
		close(sp->cur_fd);
	sp->cur_fd = -1;
	if (sp->fly_owners.n) {
		if (!sp->void_due)
			sp->void_lo = sp->fly_owners.v[0].seq;
		sp->void_due = true;
		sp->void_hi = sp->fly_owners.v[sp->fly_owners.n - 1].seq;
		for (size_t i = 0; i < sp->fly_owners.n; i++)
			if (!owners_push(&sp->voiding, sp->fly_owners.v[i].seq, sp->fly_owners.v[i].owner) &&
			    sp->fly_owners.v[i].owner)
				sp->done(sp->arg, sp->fly_owners.v[i].owner, err);      /* (no memory) */
		sp->fly_owners.n = 0;
	}
	spool_reap(sp);
}

static void done_run(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	struct seg *last = spool_seg_last(sp);
	struct job j;
	char drain[64], err[320];

	(void)what;
	/* a byte per job, and one job at a time: one read (a second would only
	 * say EAGAIN) */
	if (read(fd, drain, sizeof(drain)) < 0 && errno != EAGAIN && errno != EINTR)
		log_warning(SPOOL_PREFIX, "cannot read the I/O thread's pipe: %s", strerror(errno));
	pthread_mutex_lock(&sp->mu);
	j = sp->job;
	if (sp->job_ready || !sp->busy) {
		pthread_mutex_unlock(&sp->mu);
		return;
	}
	pthread_mutex_unlock(&sp->mu);
	sp->busy = false;
	if (j.err != 0 && strcmp(j.stage, "directory fsync") == 0 && !sp->fly_fresh) {
		/* only removals were not made durable: the records are */
		log_warning(SPOOL_PREFIX, "cannot fsync %s: %s", sp->dir, strerror(j.err));
		sp->dir_dirty = true;
		j.err = 0;
		sp->low_next = sp->low;
	}
	if (j.err == 0) {
		if (j.len > 0) {
			sp->fsyncs++;
			last->bytes = (int64_t)j.at + (int64_t)j.len;
			last->filled = (int64_t)j.filled;
			last->no_prefill |= j.prefill_failed;
			sp->seg_bytes += (int64_t)j.len;
			for (size_t i = 0; i < sp->fly_owners.n; i++) {
				if (last->lo == 0) {
					last->lo = sp->fly_owners.v[i].seq;
					last->first_us = now_us();
				}
				last->hi = sp->fly_owners.v[i].seq;
				last->live++;
				sp->live++;
			}
		}
		sp->low = sp->low_next;
		if (sp->void_due && j.len > 0) {
			sp->void_due = false;
			snprintf(err, sizeof(err), "could not write to the spool in %s (an fsync failed)", sp->dir);
			fail_owners(sp, &sp->voiding, err);
		}
		fail_owners(sp, &sp->fly_owners, NULL);
		spool_reap(sp);
		submit(sp);
		return;
	}
	snprintf(err, sizeof(err), "could not %s the spool file %s/%s: %s", j.stage, sp->dir,
		 last ? last->name : "?", strerror(j.err));
	log_error(SPOOL_PREFIX, "%s", err);
	if (strcmp(j.stage, "write") == 0 && j.cut) {
		/* cut back: nothing of it is on disk, and its records fail now */
		fail_owners(sp, &sp->fly_owners, err);
		if (last)
			last->filled = (int64_t)j.filled;
		if (sp->fly_fresh && last) {
			/* nothing in it: it goes now, wherever it is in the list */
			close(sp->cur_fd);
			sp->cur_fd = -1;
			spool_seg_unlink(sp, last);
		}
	} else {
		write_off(sp, err);
	}
	if (sp->dir_synced)
		sp->dir_dirty = true;
	retry_later(sp);
}

/* (the owners' answers coalesce, as an event callback's do) */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	bool was = held_full(sp);

	later_enter();
	done_run(fd, what, arg);
	if (was && !held_full(sp) && sp->room)
		sp->room(sp->arg);
	later_leave();
}

bool spool_start(struct spool *sp, struct event_base *base,
		 void (*done)(void *arg, void *owner, const char *err), void (*room)(void *arg), void *arg)
{
	sp->done = done;
	sp->room = room;
	sp->arg = arg;
	if (pipe2(sp->pipefd, O_NONBLOCK | O_CLOEXEC) != 0)
		return false;
	sp->ev = event_new(base, sp->pipefd[0], EV_READ | EV_PERSIST, on_done, sp);
	sp->retry_ev = evtimer_new(base, on_retry, sp);
	if (sp->ev == NULL || sp->retry_ev == NULL || event_add(sp->ev, NULL) != 0)
		return false;
	if (pthread_create(&sp->th, NULL, io_main, sp) != 0)
		return false;
	sp->th_started = true;
	submit(sp);
	return true;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->th_started) {
		pthread_mutex_lock(&sp->mu);
		sp->stopping = true;
		pthread_cond_signal(&sp->cv);
		pthread_mutex_unlock(&sp->mu);
		pthread_join(sp->th, NULL);
	}
	if (sp->ev)
		event_free(sp->ev);
	if (sp->retry_ev)
		event_free(sp->retry_ev);
	if (sp->cur_fd >= 0)
		close(sp->cur_fd);
	sp->cur_fd = -1;
	if (sp->dirfd >= 0 && sp->lockfd >= 0 && sp->scanned) {
		spool_reap(sp);
		if (sp->dir_dirty && fsync(sp->dirfd) != 0)
			log_warning(SPOOL_PREFIX, "cannot fsync %s: %s", sp->dir, strerror(errno));
		if (sp->segs)
			log_info(SPOOL_PREFIX, "%d segments holding %" PRIu64 " units not yet written stay in %s "
				 "for the next start", sp->nsegs, sp->live, sp->dir);
	}
	while (sp->segs) {
		struct seg *g = sp->segs;

		sp->segs = g->next;
		free(g);
	}
	spool_recovered_free(sp);
	if (sp->lockfd >= 0)
		close(sp->lockfd);      /* (the lock goes with it) */
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->pipefd[0] >= 0)
		close(sp->pipefd[0]);
	if (sp->pipefd[1] >= 0)
		close(sp->pipefd[1]);
	if (sp->mu_init) {
		pthread_mutex_destroy(&sp->mu);
		pthread_cond_destroy(&sp->cv);
	}
	free(sp->pend.p);
	free(sp->fly.p);
	free(sp->pend_owners.v);
	free(sp->fly_owners.v);
	free(sp->voiding.v);
	free(sp->dir);
	free(sp);
}

uint64_t spool_append(struct spool *sp, const void *data, size_t len, void *owner)
{
	uint64_t seq = sp->next_seq;
	uint8_t *r;

	if (len > REC_MAX || !bytes_reserve(&sp->pend, REC_HDR + len) ||
	    !owners_push(&sp->pend_owners, seq, owner))
		return 0;
	r = sp->pend.p + sp->pend.n;
	memcpy(r + REC_HDR, data, len);
	spool_rec_header(r, (uint32_t)len, seq, now_us(), r + REC_HDR, (uint32_t)len);
	sp->pend.n += REC_HDR + len;
	sp->next_seq++;
	submit(sp);
	return seq;
}

void spool_release(struct spool *sp, uint64_t seq)
{
	struct seg *g;

	for (g = sp->segs; g; g = g->next)
		if (seq >= g->lo && seq <= g->hi && g->live > 0)
			break;
	if (g == NULL)
		return;
	g->live--;
	sp->live--;
	if (g->live == 0 && g == sp->segs && removable(sp, g)) {
		bool was = held_full(sp);

		spool_reap(sp);
		submit(sp);     /* (the directory's fsync, when idle) */
		if (was && !held_full(sp) && sp->room)
			sp->room(sp->arg);
	}
}

uint64_t spool_low(const struct spool *sp)
{
	return sp->low;
}

static int64_t held_bytes(const struct spool *sp)
{
	return sp->seg_bytes + (int64_t)sp->pend.n + (sp->busy ? (int64_t)sp->fly.n : 0);
}

void spool_set_max_bytes(struct spool *sp, int64_t max_bytes)
{
	bool was = held_full(sp);

	sp->max_bytes = max_bytes;
	if (was && !held_full(sp) && sp->room)
		sp->room(sp->arg);
}

static bool held_full(const struct spool *sp)
{
	return held_bytes(sp) > sp->max_bytes;
}

bool spool_full(const struct spool *sp)
{
	return held_full(sp);
}

void spool_stats(const struct spool *sp, struct spool_stats *out)
{
	out->bytes = held_bytes(sp);
	out->units = sp->live + sp->pend_owners.n + sp->fly_owners.n + sp->voiding.n;
	out->oldest_us = 0;
	for (const struct seg *g = sp->segs; g; g = g->next)
		if (g->live > 0) {
			out->oldest_us = g->first_us;
			break;
		}
	out->segments = sp->nsegs;
	out->fsyncs = sp->fsyncs;
	out->id = sp->id;
}
