/*
 * Admin protocol framing and the blocking client (see admin.h).
 */
#include "controller/admin.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/rd.h"

static int declared_len(const struct admin_reader *r, size_t *len)
{
	struct rd rd = rd_init(r->buf, r->len);
	uint32_t n = 0;
	if (!rd_u32(&rd, &n))
		return 0;
	if (n > ADMIN_FRAME_MAX)
		return -EMSGSIZE;
	*len = n;
	return 1;
}

/* Drop the bytes of the frame handed out last. */
static void reader_compact(struct admin_reader *r)
{
	if (!r->consumed)
		return;
	memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
	r->len -= r->consumed;
	r->consumed = 0;
}

int admin_reader_feed(struct admin_reader *r, const uint8_t *data, size_t n)
{
	reader_compact(r);
	size_t flen = 0;
	int rc = declared_len(r, &flen);
	if (rc < 0)
		return rc;
	if (n > ADMIN_FRAME_MAX + ADMIN_HEADER_LEN || r->len > SIZE_MAX - n)
		return -EMSGSIZE;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = cap;
	}
	/* n may be 0 before anything was buffered (buf NULL): no pointer arithmetic on NULL. */
	if (n) {
		memcpy(r->buf + r->len, data, n);
		r->len += n;
	}
	rc = declared_len(r, &flen);
	return rc < 0 ? rc : 0;
}

int admin_reader_next(struct admin_reader *r, const uint8_t **payload, size_t *len)
{
	reader_compact(r);
	size_t flen = 0;
	int rc = declared_len(r, &flen);
	if (rc <= 0)
		return rc;
	if (r->len - ADMIN_HEADER_LEN < flen)
		return 0;
	*payload = r->buf + ADMIN_HEADER_LEN;
	*len = flen;
	r->consumed = ADMIN_HEADER_LEN + flen;
	return 1;
}

void admin_reader_free(struct admin_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void admin_header_put(uint8_t hdr[static ADMIN_HEADER_LEN], size_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

static int frame(size_t plen, const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (plen > ADMIN_FRAME_MAX)
		return -EMSGSIZE;
	uint8_t *b = malloc(ADMIN_HEADER_LEN + plen);
	if (!b)
		return -ENOMEM;
	admin_header_put(b, plen);
	protobuf_c_message_pack(m, b + ADMIN_HEADER_LEN);
	*out = b;
	*len = ADMIN_HEADER_LEN + plen;
	return 0;
}

int admin_response_frame(const Sdwan__Admin__AdminResponse *msg, uint8_t **out, size_t *len)
{
	return frame(sdwan__admin__admin_response__get_packed_size(msg), &msg->base, out, len);
}

int admin_request_frame(const Sdwan__Admin__AdminRequest *msg, uint8_t **out, size_t *len)
{
	return frame(sdwan__admin__admin_request__get_packed_size(msg), &msg->base, out, len);
}

int admin_client_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int admin_client_call(int fd, const Sdwan__Admin__AdminRequest *req, int timeout_ms,
		      Sdwan__Admin__AdminResponse **out)
{
	*out = NULL;
	uint8_t *f = NULL;
	size_t flen = 0;
	int rc = admin_request_frame(req, &f, &flen);
	if (rc == 0)
		rc = write_all(fd, f, flen);
	free(f);
	struct admin_reader r = {0};
	const uint8_t *payload = NULL;
	size_t plen = 0;
	uint8_t chunk[65536];
	while (rc == 0) {
		rc = admin_reader_next(&r, &payload, &plen);
		if (rc == 1)
			break;
		if (rc < 0)
			break;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
		if (pr == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (pr < 0) {
			rc = errno == EINTR ? 0 : -errno;
			continue;
		}
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0)
			rc = -ECONNRESET;
		else if (n < 0)
			rc = errno == EINTR ? 0 : -errno;
		else
			rc = admin_reader_feed(&r, chunk, (size_t)n);
	}
	if (rc == 1) {
		*out = sdwan__admin__admin_response__unpack(NULL, plen, payload);
		rc = *out ? 0 : -EBADMSG;
	}
	admin_reader_free(&r);
	return rc;
}
