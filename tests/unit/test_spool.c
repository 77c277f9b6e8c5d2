/* Unit tests for sink/spool: records written by the I/O thread and read back, CRC-32C, void records, a torn tail or torn write cut, damage refused or set aside, the directory's lock. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sink/spoolfmt.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pgbatchd_test_spool_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_crc32c(void **state)
{
	(void)state;
	/* the check value of CRC-32C (Castagnoli) */
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	/* eight bytes a step: as the bit-at-a-time definition, at every length
	 * and alignment, and in pieces */
	{
		uint8_t buf[300];

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 131 + 7);
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 16) {
				uint32_t c = 0xffffffffu;

				for (size_t i = 0; i < len; i++) {
					c ^= buf[off + i];
					for (int k = 0; k < 8; k++)
						c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
				}
				assert_int_equal(spool_crc32c(0, buf + off, len), ~c);
				assert_int_equal(spool_crc32c(spool_crc32c(0, buf + off, len / 3), buf + off + len / 3,
							      len - len / 3), ~c);
			}
	}
}

struct answers {
	int n, failed;
	void *owners[16];
};

static void on_done(void *arg, void *owner, const char *err)
{
	struct answers *a = arg;

	a->owners[a->n++] = owner;
	a->failed += err != NULL;
}

static char *path_of(const char *name)
{
	static char p[400];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* Appends records through the thread, as the sink does; returns the seqs. */
static void append(int n, const char *const *payloads, uint64_t *seqs)
{
	struct event_base *base = event_base_new();
	struct spool *sp = spool_open(dir, 1 << 20, false);
	struct answers a = { 0 };
	int tags[16];

	assert_non_null(base);
	assert_non_null(sp);
	assert_true(spool_start(sp, base, on_done, NULL, &a));
	for (int i = 0; i < n; i++)
		seqs[i] = spool_append(sp, payloads[i], strlen(payloads[i]), &tags[i]);
	while (a.n < n)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(a.failed, 0);
	for (int i = 0; i < n; i++)
		assert_ptr_equal(a.owners[i], &tags[i]);       /* answered in order */
	spool_close(sp);                /* (nothing released: the segment stays) */
	event_base_free(base);
}

static void test_round_trip(void **state)
{
	static const char *const p[] = { "first", "second", "third" };
	const struct spool_rec *recs;
	uint64_t seqs[3];
	struct spool *sp;

	(void)state;
	append(3, p, seqs);
	assert_true(seqs[0] >= 1 && seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1);
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(recs[i].seq, seqs[i]);
		assert_int_equal(recs[i].len, strlen(p[i]));
		assert_memory_equal(recs[i].data, p[i], recs[i].len);
	}
	/* a second pgbatchd on the directory is refused */
	assert_null(spool_open(dir, 1 << 20, false));
	/* released, the segment goes at close */
	for (int i = 0; i < 3; i++)
		spool_release(sp, seqs[i]);
	spool_close(sp);
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 0);
	spool_close(sp);
}

static char *only_segment(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	static char name[256];

	name[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".seg") && strlen(e->d_name) == 20)
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	assert_true(name[0] != '\0');
	return path_of(name);
}

/* The path of the segment named next after the one at path (in place). */
static void next_segment(char *path)
{
	char *num = path + strlen(path) - 20;

	snprintf(num, 21, "%016llx.seg", strtoull(num, NULL, 16) + 1);
}

/* "one" written alone, then "two" and "three" (appended while it was
 * written) together, as the sink appends: the segment's path in *seg, and
 * it opened to be changed. */
static int three_records(uint64_t *seqs, char **seg)
{
	static const char *const p[] = { "one", "two", "three" };
	int fd;

	append(3, p, seqs);
	*seg = only_segment();
	fd = open(*seg, O_RDWR);
	assert_true(fd >= 0);
	return fd;
}

/* A new file at path holding n bytes of p. */
static void new_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* Where the segment's records end (zeros follow); bytes written there. */
static off_t records_end(const char *path)
{
	uint8_t h[4];
	off_t off = SEG_HDR;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while (pread(fd, h, 4, off) == 4 && get32(h) != 0)
		off += REC_HDR + REC_LEN(get32(h));
	close(fd);
	return off;
}

static void append_raw(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, records_end(path)), (ssize_t)n);
	close(fd);
}

static void test_void_and_torn(void **state)
{
	static const char *const p[] = { "a", "b", "c" };
	uint8_t rec[REC_HDR + 16];
	const struct spool_rec *recs;
	uint64_t seqs[3];
	struct spool *sp;
	off_t torn_at;
	char *seg;

	(void)state;
	append(3, p, seqs);
	seg = only_segment();
	/* a void record naming the second, then half of a record (a crash) */
	put64(rec + REC_HDR, seqs[1]);
	put64(rec + REC_HDR + 8, seqs[1]);
	spool_rec_header(rec, REC_VOID | 16, 0, 1, rec + REC_HDR, 16);
	append_raw(seg, rec, sizeof(rec));
	torn_at = records_end(seg);
	append_raw(seg, rec, 20);
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 2);
	assert_int_equal(recs[0].seq, seqs[0]);
	assert_int_equal(recs[1].seq, seqs[2]);
	spool_close(sp);
	{
		struct stat after;

		assert_int_equal(stat(seg, &after), 0);
		assert_int_equal(after.st_size, torn_at);      /* cut at the torn record */
	}
	/* the next seq follows the highest seen */
	{
		static const char *const q[] = { "d" };
		uint64_t s2[1];

		append(1, q, s2);
		assert_int_equal(s2[0], seqs[2] + 1);
	}
}

/* A crash while a new segment's first record was written: its torn record
 * is cut, leaving a header alone. The segment made next must not take its
 * name: it once did, and the header-only one's removal took the records
 * written after it. */
static void test_torn_first_record(void **state)
{
	static const char *const p[] = { "kept" };
	uint8_t hdr[SEG_HDR], torn[REC_HDR + 4] = { 0 };
	const struct spool_rec *recs;
	struct event_base *base = event_base_new();
	struct answers a = { 0 };
	uint64_t s1[1], s2[2];
	struct spool *sp;
	char *seg, name[300];
	int fd, tags[2];

	(void)state;
	append(1, p, s1);
	seg = only_segment();
	fd = open(seg, O_RDONLY);
	assert_int_equal(pread(fd, hdr, SEG_HDR, 0), SEG_HDR);
	close(fd);
	snprintf(name, sizeof(name), "%s", seg);
	/* the next segment's name, a header, and half a record */
	next_segment(name);
	fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	put32(torn, 40);
	assert_int_equal(write(fd, hdr, SEG_HDR), SEG_HDR);
	assert_int_equal(write(fd, torn, sizeof(torn)), (ssize_t)sizeof(torn));
	close(fd);
	/* started again: two more appended, then the first one written */
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 1);
	assert_true(spool_start(sp, base, on_done, NULL, &a));
	s2[0] = spool_append(sp, "after1", 6, &tags[0]);
	s2[1] = spool_append(sp, "after2", 6, &tags[1]);
	while (a.n < 2)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(a.failed, 0);
	spool_release(sp, s1[0]);
	spool_close(sp);
	event_base_free(base);
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 2);
	assert_int_equal(recs[0].seq, s2[0]);
	assert_memory_equal(recs[1].data, "after2", 6);
	spool_close(sp);
}

static void test_damage(void **state)
{
	uint64_t seqs[3];
	char aside[420];
	struct spool *sp;
	const struct spool_rec *recs;
	char *seg;
	int fd;

	(void)state;
	fd = three_records(seqs, &seg);
	/* a byte of the first record's payload flipped: a later write follows */
	assert_int_equal(pwrite(fd, "X", 1, SEG_HDR + REC_HDR), 1);
	close(fd);
	assert_null(spool_open(dir, 1 << 20, false));
	assert_int_equal(access(seg, F_OK), 0);         /* refused, left as it was */
	sp = spool_open(dir, 1 << 20, true);            /* --spool-salvage */
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 0);
	snprintf(aside, sizeof(aside), "%s.corrupt", seg);
	assert_int_equal(access(aside, F_OK), 0);
	assert_int_not_equal(access(seg, F_OK), 0);
	spool_close(sp);
}

/* Damage in the last write, with records of that write after it: a crash
 * tore the write (its pages reached the disk in any order), so it is cut
 * there. Damage with a later write after it is refused (test_damage). */
static void test_torn_write(void **state)
{
	const struct spool_rec *recs;
	uint8_t h[4];
	uint64_t seqs[3];
	struct spool *sp;
	struct stat st;
	off_t two;
	char *seg;
	int fd;

	(void)state;
	fd = three_records(seqs, &seg);
	assert_int_equal(pread(fd, h, 4, SEG_HDR), 4);
	assert_true(get32(h) & REC_JOB);
	two = SEG_HDR + REC_HDR + (off_t)REC_LEN(get32(h));
	assert_int_equal(pread(fd, h, 4, two), 4);
	assert_true(get32(h) & REC_JOB);
	assert_int_equal(pread(fd, h, 4, two + REC_HDR + 3), 4);
	assert_false(get32(h) & REC_JOB);                /* "three": the same write */
	/* the page of "two" never reached the disk; the one of "three" did */
	assert_int_equal(pwrite(fd, "\0\0\0\0", 4, two), 4);
	close(fd);
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 1);
	assert_int_equal(recs[0].seq, seqs[0]);
	spool_close(sp);
	assert_int_equal(stat(seg, &st), 0);
	assert_int_equal(st.st_size, two);                /* cut where the torn write began */
}

/* A segment of version 1 (no write marks, as pgbatchd wrote before them)
 * is read; damage in it with any valid record after it is refused. */
static void test_version1(void **state)
{
	const struct spool_rec *recs;
	uint8_t buf[4096], v1[4];
	uint64_t seqs[3];
	struct spool *sp;
	off_t off = SEG_HDR, two = 0;
	char *seg;
	int fd;

	(void)state;
	fd = three_records(seqs, &seg);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	put32(v1, 1);
	memcpy(buf + 8, v1, 4);
	for (int i = 0; i < 3; i++) {
		uint8_t *r = buf + off;
		uint32_t len = REC_LEN(get32(r));

		spool_rec_header(r, len, get64(r + 8), (int64_t)get64(r + 16), r + REC_HDR, len);
		if (i == 1)
			two = off;
		off += REC_HDR + (off_t)len;
	}
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 3);
	assert_int_equal(recs[2].seq, seqs[2]);
	spool_close(sp);
	assert_int_equal(pwrite(fd, "\0\0\0\0", 4, two), 4);
	assert_null(spool_open(dir, 1 << 20, false));
	/* version 1 wrote no zeros ahead: a last record that reads as zeros,
	 * in a segment that is not the last, is damage (the file is cut to
	 * its records, as version 1 left it, with a second segment after) */
	assert_int_equal(pwrite(fd, buf + two, 4, two), 4);
	assert_int_equal(ftruncate(fd, off), 0);
	{
		uint8_t z[REC_HDR + 5] = { 0 };
		char name[300];

		assert_int_equal(pwrite(fd, z, sizeof(z), off), (ssize_t)sizeof(z));
		snprintf(name, sizeof(name), "%s", seg);
		next_segment(name);
		new_file(name, buf, SEG_HDR);
	}
	close(fd);
	assert_null(spool_open(dir, 1 << 20, false));
}

/* The next segment's first write (1 MiB, zeros ahead included) torn, its
 * header's page lost: the segment is removed, the one before it read. */
static void test_torn_header(void **state)
{
	static const char *const p[] = { "kept" };
	static uint8_t zeros[1 << 20];
	uint8_t hdr[SEG_HDR];
	const struct spool_rec *recs;
	uint64_t seqs[1];
	struct spool *sp;
	char name[300];
	char *seg;
	int fd;

	(void)state;
	append(1, p, seqs);
	seg = only_segment();
	snprintf(name, sizeof(name), "%s", seg);
	next_segment(name);
	new_file(name, zeros, sizeof(zeros));
	sp = spool_open(dir, 1 << 20, false);
	assert_non_null(sp);
	assert_int_equal(spool_recovered(sp, &recs), 1);
	assert_int_equal(recs[0].seq, seqs[0]);
	spool_close(sp);
	assert_int_not_equal(access(name, F_OK), 0);    /* removed */
	/* not the last segment: its zero header is damage */
	new_file(name, zeros, sizeof(zeros));
	fd = open(seg, O_RDONLY);
	assert_int_equal(pread(fd, hdr, SEG_HDR, 0), SEG_HDR);
	close(fd);
	next_segment(name);
	new_file(name, hdr, SEG_HDR);
	assert_null(spool_open(dir, 1 << 20, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_void_and_torn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_first_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_header, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
