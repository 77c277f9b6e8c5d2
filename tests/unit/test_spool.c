/* Unit tests for sink/spool: records written by the I/O thread and read back, CRC-32C, void records, a torn tail cut, damage refused or set aside, the directory's lock. */
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
	assert_true(spool_start(sp, base, on_done, &a));
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

static void append_raw(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void test_void_and_torn(void **state)
{
	static const char *const p[] = { "a", "b", "c" };
	uint8_t rec[REC_HDR + 16];
	const struct spool_rec *recs;
	uint64_t seqs[3];
	struct spool *sp;
	struct stat st;
	char *seg;

	(void)state;
	append(3, p, seqs);
	seg = only_segment();
	/* a void record naming the second, then half of a record (a crash) */
	put64(rec + REC_HDR, seqs[1]);
	put64(rec + REC_HDR + 8, seqs[1]);
	spool_rec_header(rec, REC_VOID | 16, 0, 1, rec + REC_HDR, 16);
	append_raw(seg, rec, sizeof(rec));
	assert_int_equal(stat(seg, &st), 0);
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
		assert_int_equal(after.st_size, st.st_size);   /* the torn bytes cut */
	}
	/* the next seq follows the highest seen */
	{
		static const char *const q[] = { "d" };
		uint64_t s2[1];

		append(1, q, s2);
		assert_int_equal(s2[0], seqs[2] + 1);
	}
}

static void test_damage(void **state)
{
	static const char *const p[] = { "one", "two", "three" };
	uint64_t seqs[3];
	char aside[420];
	struct spool *sp;
	const struct spool_rec *recs;
	char *seg;
	int fd;

	(void)state;
	append(3, p, seqs);
	seg = only_segment();
	/* a byte of the first record's payload flipped: valid records follow */
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_void_and_torn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
