#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (!slash)
		dir[n++] = '.';
	else if (n == 0)
		dir[n++] = '/';
	else
		memcpy(dir, path, n);
	dir[n] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) != 0 ? -errno : 0;
	(void)close(fd);
	return rc;
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode, const char **step)
{
	const char *dummy;
	if (!step)
		step = &dummy;
	char tmp[PATH_MAX];
	*step = "create";
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* mkostemp creates the file 0600 with O_EXCL: a secret is never readable by others, even
	 * before the fchmod below. */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*step = "write";
	int rc = fchmod(fd, mode) != 0 ? -errno : file_write_all(fd, data, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0) {
		*step = "rename";
		if (rename(tmp, path) != 0)
			rc = -errno;
	}
	if (rc != 0) {
		(void)unlink(tmp);
		return rc;
	}
	*step = "sync directory of";
	return file_fsync_parent(path);
}
