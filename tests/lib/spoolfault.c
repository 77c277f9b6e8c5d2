/* LD_PRELOAD fault injection for the spool's tests: fdatasync, pwrite and the creation of a spool segment (*.seg) fail while a counter file in $SPOOLFAULT_DIR says so (its number: how many more times; 1000 and more: always). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int take(const char *name)
{
	const char *dir = getenv("SPOOLFAULT_DIR");
	char path[512], buf[32] = { 0 };
	int fd, n;

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return 0;
	if (read(fd, buf, sizeof(buf) - 1) <= 0 || (n = atoi(buf)) <= 0) {
		close(fd);
		return 0;
	}
	if (n < 1000) {
		snprintf(buf, sizeof(buf), "%d\n", n - 1);
		if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0)
			n = 0;
	}
	close(fd);
	return 1;
}

static int is_segment(int fd)
{
	char p[64], t[512];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, t, sizeof(t) - 1);
	if (n <= 4)
		return 0;
	t[n] = '\0';
	return strcmp(t + n - 4, ".seg") == 0;
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (is_segment(fd) && take("eio")) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t at)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (n > 0 && is_segment(fd) && take("enospc")) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, b, n, at);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t at)
{
	return pwrite(fd, b, n, at);
}

int openat(int dfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;
	size_t l = strlen(path);
	va_list ap;

	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	if ((flags & O_CREAT) && l > 4 && strcmp(path + l - 4, ".seg") == 0 && take("nocreate")) {
		errno = EROFS;
		return -1;
	}
	return real(dfd, path, flags, mode);
}
