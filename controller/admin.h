/*
 * Framing of the admin protocol (proto/admin.proto) on a Unix stream socket:
 *
 *   +--------+--------+--------+--------+------------------------+
 *   |   length (32 bits, big-endian)    |  protobuf, length bytes |
 *   +--------+--------+--------+--------+------------------------+
 *
 * A length of 0 is a valid empty message; one over ADMIN_FRAME_MAX is refused (the connection
 * is then closed). The reader accumulates bytes as they arrive and hands out complete frames.
 *
 * Also the blocking client side used by sdwanctl: connect with peer credentials, one
 * request/response exchange.
 *
 * A struct admin_reader is owned by its caller and used by one thread. No global state.
 */
#ifndef SDWAN_CONTROLLER_ADMIN_H
#define SDWAN_CONTROLLER_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/admin.pb-c.h"

/* Largest admin frame payload: a topology file or the status of 10,000+ sites. */
#define ADMIN_FRAME_MAX  ((size_t)32 * 1024 * 1024)
#define ADMIN_HEADER_LEN 4

/* Default socket path used by sdwanctl when neither --admin nor $SDWAN_ADMIN is given. */
#define ADMIN_DEFAULT_PATH "/run/sdwan/admin.sock"
/* Socket name inside the controller's state directory. */
#define ADMIN_SOCK_NAME "admin.sock"

/* Incoming bytes not yet returned as frames. */
struct admin_reader {
	uint8_t *buf;
	size_t len; /* bytes held */
	size_t cap;
	size_t consumed; /* bytes of buf handed out by the last admin_reader_next */
};

/*
 * Append data[0..n) (copied). Returns 0, -ENOMEM, or -EMSGSIZE when the frame being received
 * declares a length over ADMIN_FRAME_MAX (the stream cannot be resynchronised: close it).
 */
int admin_reader_feed(struct admin_reader *r, const uint8_t *data, size_t n)
	__attribute__((warn_unused_result));

/*
 * The next complete frame: returns 1 with *payload (borrowed, valid until the next call on r)
 * and *len set; 0 when more bytes are needed; -EMSGSIZE as for admin_reader_feed.
 */
int admin_reader_next(struct admin_reader *r, const uint8_t **payload, size_t *len)
	__attribute__((warn_unused_result));

/* Free the buffer and zero *r. NULL-safe. */
void admin_reader_free(struct admin_reader *r);

/* Encode the frame header for a payload of len bytes (len <= ADMIN_FRAME_MAX). */
void admin_header_put(uint8_t hdr[static ADMIN_HEADER_LEN], size_t len);

/* Pack msg into a new frame (header + payload): *out owned by the caller (free()). Returns 0,
 * -ENOMEM, -EMSGSIZE. */
int admin_response_frame(const Sdwan__Admin__AdminResponse *msg, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
int admin_request_frame(const Sdwan__Admin__AdminRequest *msg, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Client: connect to the controller's admin socket at path (blocking). Returns the fd or
 * -errno.
 */
int admin_client_connect(const char *path) __attribute__((warn_unused_result));

/*
 * Client: send req on fd and wait for the response (blocking, timeout_ms per read; 0 waits
 * forever). On success *out is owned by the caller (sdwan__admin__admin_response__free_unpacked
 * with NULL allocator). Returns 0, -ETIMEDOUT, -ECONNRESET (controller closed), -EBADMSG,
 * -EMSGSIZE, -ENOMEM, or another -errno.
 */
int admin_client_call(int fd, const Sdwan__Admin__AdminRequest *req, int timeout_ms,
		      Sdwan__Admin__AdminResponse **out) __attribute__((warn_unused_result));

#endif
