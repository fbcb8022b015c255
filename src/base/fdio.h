/* fdio.h - writing to a file descriptor without losing bytes to a signal
 * or a short write. */
#ifndef EVSTORE_FDIO_H
#define EVSTORE_FDIO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes of buf to fd, again after EINTR and after a partial
 * write. False when write(2) fails or writes nothing (errno then says why,
 * unless nothing was written without an error). Borrows buf. */
bool fdio_write_all(int fd, const void *buf, size_t len);

#endif
