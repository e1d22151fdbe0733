/*
 * Crash-safe file replacement: what survives `kill -9` or a power cut is either the old file or
 * the new one, never a mix, and never a secret readable by others in between. Used for keys,
 * certificates and the edge's state. Pure system calls; any thread.
 */
#ifndef SDWAN_COMMON_FILEIO_H
#define SDWAN_COMMON_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with data[0..len): a temporary file beside it (created 0600 with O_EXCL, then
 * set to `mode`), fsync, rename over path, fsync the directory. Returns 0 or -errno; *step (may
 * be NULL) then names what failed ("create", "write", "rename", "sync directory of") for the
 * caller's log line. The temporary file never outlives a failure.
 */
int file_replace(const char *path, const void *data, size_t len, mode_t mode, const char **step)
	__attribute__((warn_unused_result));

/* fsync the directory holding path, so that a rename in it survives a crash. */
int file_fsync_parent(const char *path) __attribute__((warn_unused_result));

/* Write all of p[0..len) to fd, retrying short writes and EINTR. */
int file_write_all(int fd, const void *p, size_t len) __attribute__((warn_unused_result));

#endif
