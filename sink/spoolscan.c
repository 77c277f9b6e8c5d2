/* Reading the spool back at start-up: the directory's lock, its segments checked record by record, torn tails and torn last writes cut, damage refused or set aside. */
#include "sink/spoolfmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* ---- reading it back ---- */

static bool read_all(int fd, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;

	if (fstat(fd, &st) != 0)
		return false;
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL)
		return false;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return false;
		}
		got += (size_t)n;
	}
	*out = p;
	*len = got;
	return true;
}

/* A whole, valid record at off? Its length, 0 if not. */
static size_t rec_at(const uint8_t *p, size_t size, size_t off)
{
	uint32_t lw, len;

	if (size - off < REC_HDR)
		return 0;
	lw = get32(p + off);
	len = REC_LEN(lw);
	if (len > REC_MAX || size - off - REC_HDR < len || ((lw & REC_VOID) && len != 16))
		return 0;
	if (get32(p + off + 4) != spool_rec_crc(p + off, p + off + REC_HDR, len))
		return 0;
	return REC_HDR + len;
}

/* How many valid first records of writes (REC_JOB) there are from off. */
static int marks_from(const uint8_t *p, size_t size, size_t off)
{
	int n = 0;

	for (size_t o = off; o + REC_HDR <= size; o++)
		if ((get32(p + o) & REC_JOB) && rec_at(p, size, o) > 0)
			n++;
	return n;
}

/* Whether the segment is zeros from off to its end: the part written ahead
 * of its records (a record's length word is never 0). */
static bool zeros_from(const uint8_t *p, size_t size, size_t off)
{
	if (size - off >= 4 && get32(p + off) != 0)
		return false;
	for (size_t o = off; o < size; o++)
		if (p[o] != 0)
			return false;
	return true;
}

/* Whether a write starts after off (then the damage at off is not that of
 * the last write, torn by a crash). A segment of version 1 has no marks:
 * any valid record. */
static bool write_after(const uint8_t *p, size_t size, size_t off, bool marked)
{
	for (size_t o = off + 1; o + REC_HDR <= size; o++)
		if (get32(p + o) != 0 && (!marked || (get32(p + o) & REC_JOB)) && rec_at(p, size, o) > 0 &&
		    get64(p + o + 8) != 0)
			return true;
	return false;
}

/* Whether the segment's first record is a void record: it was started after
 * a failed write or fsync on the one before, whose tail may then be torn. */
static bool starts_void(int dirfd, const char *name)
{
	uint8_t h[4];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	bool v;

	if (fd < 0)
		return false;
	v = pread(fd, h, 4, SEG_HDR) == 4 && (get32(h) & REC_VOID);
	close(fd);
	return v;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool seg_name(const char *n)
{
	size_t i;

	for (i = 0; i < 16; i++)
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	return strcmp(n + 16, ".seg") == 0;
}

struct voids {
	uint64_t (*r)[2];
	size_t n, cap;
};

static bool voided(const struct voids *v, uint64_t seq)
{
	for (size_t i = 0; i < v->n; i++)
		if (seq >= v->r[i][0] && seq <= v->r[i][1])
			return true;
	return false;
}

/* One segment read: its records appended to sp->recs. -1 when it is damaged
 * and may not be passed over, 0 when salvaged, 1 when read. */
static int read_segment(struct spool *sp, const char *name, bool tail_ok, bool salvage, struct voids *vs,
			uint64_t *maxseq)
{
	uint8_t *p = NULL;
	size_t size = 0, off = SEG_HDR, n;
	int fd = openat(sp->dirfd, name, O_RDONLY);
	struct seg *g;
	const char *why = NULL;
	bool marked;
	uint64_t id;

	if (fd < 0 || !read_all(fd, &p, &size)) {
		log_error(SPOOL_PREFIX, "cannot read %s/%s: %s", sp->dir, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (size < SEG_HDR) {
		if (tail_ok) {
			/* made, and the crash came before its header was whole */
			log_warning(SPOOL_PREFIX, "%s/%s: a segment cut off before its header (%zu bytes) is "
				    "removed: nothing in it was acknowledged", sp->dir, name, size);
			free(p);
			if (unlinkat(sp->dirfd, name, 0) != 0)
				return -1;
			sp->dir_dirty = true;
			return 1;
		}
		why = "header cut off";
		off = 0;
		goto damaged;
	}
	if (tail_ok && zeros_from(p, SEG_HDR, 0) && marks_from(p, size, SEG_HDR) <= 1) {
		/* its first write (1 MiB with the zeros ahead) torn by a crash,
		 * the header's page lost: no write came after it, so nothing in
		 * it was acknowledged */
		log_warning(SPOOL_PREFIX, "%s/%s: a segment whose first write a crash tore (its header is zeros) "
			    "is removed: nothing in it was acknowledged", sp->dir, name);
		free(p);
		if (unlinkat(sp->dirfd, name, 0) != 0)
			return -1;
		sp->dir_dirty = true;
		return 1;
	}
	if (memcmp(p, SEG_MAGIC, 8) != 0 || get32(p + 8) < 1 || get32(p + 8) > SEG_VERSION) {
		why = "not a pgbatchd spool segment (magic or version)";
		off = 0;
		goto damaged;
	}
	id = get64(p + 16);
	if (sp->id && id != sp->id) {
		why = "a segment of another spool (its id differs)";
		off = 0;
		goto damaged;
	}
	sp->id = id;
	g = spool_seg_add(sp, name);
	if (g == NULL) {
		free(p);
		return -1;
	}
	marked = get32(p + 8) >= 2;
	while (off < size) {
		if (marked && zeros_from(p, size, off)) {
			size = off;     /* written ahead of the records (SEG_PREFILL) */
			break;
		}
		n = rec_at(p, size, off);
		if (n == 0) {
			if (tail_ok && !write_after(p, size, off, marked)) {
				if (!write_after(p, size, off, false))
					/* the write a crash cut short: never fsync'd,
					 * never acknowledged */
					log_warning(SPOOL_PREFIX, "%s/%s: a record cut short by a crash at offset %zu is "
						    "dropped (never acknowledged)", sp->dir, name, off);
				else
					/* records of the same write after the damage: a
					 * crash tore it, its pages reached the disk in any
					 * order (or the disk damaged it once written) */
					log_warning(SPOOL_PREFIX, "%s/%s: the last write does not read whole from offset "
						    "%zu: a crash tore it (never acknowledged, unless the disk damaged it "
						    "after it was written); its records from there are dropped",
						    sp->dir, name, off);
				fd = openat(sp->dirfd, name, O_WRONLY);
				if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
					log_error(SPOOL_PREFIX, "cannot cut %s/%s at offset %zu: %s", sp->dir, name, off,
						  strerror(errno));
					if (fd >= 0)
						close(fd);
					free(p);
					return -1;
				}
				close(fd);
				size = off;
				break;
			}
			why = "a damaged record (CRC or length)";
			spool_seg_forget(sp, g);
			goto damaged;
		}
		uint32_t lw = get32(p + off);
		uint64_t seq = get64(p + off + 8);

		if (lw & REC_VOID) {
			uint64_t lo = get64(p + off + REC_HDR), hi = get64(p + off + REC_HDR + 8);

			if (vs->n == vs->cap) {
				size_t cap = vs->cap ? vs->cap * 2 : 8;
				void *r = realloc(vs->r, cap * sizeof(*vs->r));

				if (r == NULL) {
					free(p);
					return -1;
				}
				vs->r = r;
				vs->cap = cap;
			}
			vs->r[vs->n][0] = lo;
			vs->r[vs->n][1] = hi;
			vs->n++;
			if (hi > *maxseq)
				*maxseq = hi;
		} else {
			if (seq == 0 || seq <= *maxseq) {
				why = "records out of order";
				spool_seg_forget(sp, g);
				goto damaged;
			}
			*maxseq = seq;
			if (sp->nrecs % 1024 == 0) {
				struct spool_rec *r = realloc(sp->recs, (sp->nrecs + 1024) * sizeof(*r));

				if (r == NULL) {
					free(p);
					return -1;
				}
				sp->recs = r;
			}
			sp->recs[sp->nrecs++] = (struct spool_rec){ seq, (int64_t)get64(p + off + 16),
								    p + off + REC_HDR, (uint32_t)(n - REC_HDR) };
			if (g->lo == 0) {
				g->lo = seq;
				g->first_us = (int64_t)get64(p + off + 16);
			}
			g->hi = seq;
			g->live++;
		}
		off += n;
	}
	g->bytes = (int64_t)size;
	sp->seg_bytes += g->bytes;
	{
		uint8_t **b = realloc(sp->bufs, (size_t)(sp->nbufs + 1) * sizeof(*b));

		if (b == NULL) {
			free(p);
			return -1;
		}
		sp->bufs = b;
		sp->bufs[sp->nbufs++] = p;
	}
	return 1;
damaged:
	/* the records read from it so far are left out with it */
	{
		size_t k = sp->nrecs;

		while (k > 0 && sp->recs[k - 1].data >= p && sp->recs[k - 1].data < p + size)
			k--;
		sp->nrecs = k;
	}
	free(p);
	if (!salvage) {
		log_error(SPOOL_PREFIX, "segment %s/%s is damaged at offset %zu (%s): pgbatchd does not start, "
			  "so that no acknowledged row is passed over; --spool-salvage sets the segment aside "
			  "(renamed .corrupt) and starts without its rows", sp->dir, name, off, why);
		return -1;
	}
	{
		char aside[64];

		snprintf(aside, sizeof(aside), "%s.corrupt", name);
		if (renameat(sp->dirfd, name, sp->dirfd, aside) != 0) {
			log_error(SPOOL_PREFIX, "cannot set %s/%s aside: %s", sp->dir, name, strerror(errno));
			return -1;
		}
		sp->dir_dirty = true;
		log_error(SPOOL_PREFIX, "segment %s/%s is damaged at offset %zu (%s): set aside as %s "
			  "(--spool-salvage); its acknowledged rows are not written", sp->dir, name, off, why, aside);
	}
	return 0;
}

static uint64_t random_id(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	if (v == 0)
		v = (uint64_t)now_us() * 0x9e3779b97f4a7c15ULL;
	return (v & INT64_MAX) | 1;
}

static bool scan(struct spool *sp, bool salvage)
{
	DIR *d = fdopendir(dup(sp->dirfd));
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, keep = 0;
	struct voids vs = { 0 };
	uint64_t maxseq = 0;
	bool ok = true;

	if (d == NULL) {
		log_error(SPOOL_PREFIX, "cannot list %s: %s", sp->dir, strerror(errno));
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) > 20 && strcmp(e->d_name + 20, ".corrupt") == 0) {
			/* a segment set aside keeps its number: never made again */
			uint64_t no = strtoull(e->d_name, NULL, 16);

			if (no >= sp->next_segno)
				sp->next_segno = no + 1;
			continue;
		}
		if (!seg_name(e->d_name))
			continue;
		char **v = realloc(names, (n + 1) * sizeof(*v));

		if (v == NULL || (v[n] = strdup(e->d_name)) == NULL) {
			free(v ? v : names);
			closedir(d);
			return false;
		}
		names = v;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && ok; i++) {
		uint64_t no = strtoull(names[i], NULL, 16);

		if (no >= sp->next_segno)
			sp->next_segno = no + 1;
		/* a torn tail: the last segment's (a crash while it was written),
		 * or one the spool stopped writing after an error */
		ok = read_segment(sp, names[i], i + 1 == n || starts_void(sp->dirfd, names[i + 1]), salvage, &vs,
				  &maxseq) >= 0;
	}
	if (sp->next_segno == 0)
		sp->next_segno = 1;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!ok) {
		free(vs.r);
		return false;
	}
	/* void records: the records they name were never acknowledged */
	for (size_t i = 0; i < sp->nrecs; i++) {
		if (voided(&vs, sp->recs[i].seq)) {
			for (struct seg *g = sp->segs; g; g = g->next)
				if (sp->recs[i].seq >= g->lo && sp->recs[i].seq <= g->hi && g->live > 0) {
					g->live--;
					break;
				}
			continue;
		}
		sp->recs[keep++] = sp->recs[i];
	}
	sp->nrecs = keep;
	free(vs.r);
	for (struct seg *g = sp->segs; g; g = g->next)
		sp->live += g->live;
	spool_reap(sp);
	if (sp->dir_dirty && fsync(sp->dirfd) != 0) {
		log_error(SPOOL_PREFIX, "cannot fsync %s: %s", sp->dir, strerror(errno));
		return false;
	}
	sp->dir_dirty = false;
	if (sp->id == 0)
		sp->id = random_id();   /* (an empty spool: a new id, its seqs from 1) */
	sp->next_seq = maxseq + 1;
	sp->low = sp->next_seq;
	for (const struct seg *g = sp->segs; g; g = g->next)
		if (g->lo) {
			sp->low = g->lo;
			break;
		}
	return true;
}

/* The LOCK file holds the spool's id: the one it held before, when another,
 * is the previous spool's (its ledger rows are needed no more). */
static bool keep_id(struct spool *sp)
{
	char text[64], want[64];
	ssize_t n = pread(sp->lockfd, text, sizeof(text) - 1, 0);
	unsigned long long prev = 0;

	if (n > 0) {
		text[n] = '\0';
		if (sscanf(text, "pgbatchd spool %llu", &prev) != 1)
			prev = 0;
	}
	if (prev == sp->id)
		return true;
	sp->prev_id = prev;
	snprintf(want, sizeof(want), "pgbatchd spool %" PRIu64 "\n", sp->id);
	if (ftruncate(sp->lockfd, 0) != 0 || pwrite(sp->lockfd, want, strlen(want), 0) != (ssize_t)strlen(want) ||
	    fsync(sp->lockfd) != 0) {
		log_error(SPOOL_PREFIX, "cannot write %s/LOCK: %s", sp->dir, strerror(errno));
		return false;
	}
	return true;
}

struct spool *spool_open(const char *dir, int64_t max_bytes, bool salvage)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	struct stat st;

	if (sp == NULL)
		return NULL;
	sp->dirfd = sp->lockfd = sp->cur_fd = -1;
	sp->pipefd[0] = sp->pipefd[1] = -1;
	sp->max_bytes = max_bytes;
	sp->dir = strdup(dir);
	if (sp->dir == NULL)
		goto fail;
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0 || fstat(sp->dirfd, &st) != 0) {
		log_error(SPOOL_PREFIX, "spool_dir %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (faccessat(sp->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
		log_error(SPOOL_PREFIX, "spool_dir %s is not writable: %s", dir, strerror(errno));
		goto fail;
	}
	sp->lockfd = openat(sp->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd < 0) {
		log_error(SPOOL_PREFIX, "spool_dir %s: cannot create its LOCK file: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) != 0) {
		log_error(SPOOL_PREFIX, "spool_dir %s is in use by another pgbatchd (its LOCK file is locked)", dir);
		goto fail;
	}
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	sp->mu_init = true;
	if (!scan(sp, salvage) || !keep_id(sp))
		goto fail;
	sp->scanned = true;
	log_info(SPOOL_PREFIX, "%s (id %" PRIu64 "): %d segments, %zu units to check against the ledger",
		 dir, sp->id, sp->nsegs, sp->nrecs);
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

