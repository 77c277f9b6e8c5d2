/* libFuzzer target: the configuration loader (ini sections, keys, values,
 * bounds, [backend] url) on any file content. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[256];
	struct config *cfg;

	if (fd < 0 && (fd = memfd_create("pgbatchd-fuzz.ini", 0)) < 0)
		return 0;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg = config_load(path, err, sizeof(err));
	if (cfg)
		config_free(cfg);
	return 0;
}
