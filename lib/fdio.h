/* fdio.h: whole reads and writes on a file descriptor, EINTR retried: one
 * copy of the loops the body readers and the staging files need. */
#ifndef MKV_FDIO_H
#define MKV_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes: 0, or -1 (errno set; a write of 0 counts as EIO). */
int fd_write_all(int fd, const void *data, size_t len);

/* Reads until cap bytes or the end: the count (less than cap only at the
 * end), or -1. */
ssize_t fd_read_full(int fd, void *buf, size_t cap);

#endif
