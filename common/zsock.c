#include "common/zsock.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* A message waiting for ZeroMQ to accept it; frames[0..sent) are already handed over. */
struct zsock_qmsg {
	struct zsock_qmsg *next;
	size_t n;
	size_t sent;
	zmq_msg_t frames[];
};

/* Remote-triggerable log lines (dropped messages): at most this many per interval. */
#define ZSOCK_LOG_BURST       5u
#define ZSOCK_LOG_INTERVAL_MS 10000u

static void zsock__process(struct zsock *zs);
static void zsock__on_idle(uv_idle_t *h);

static int zsock__zmq_err(const char *what)
{
	int err = errno;
	LOG_ERR(CTL, "ZeroMQ call failed", "call=%s err=\"%s\"", what, zmq_strerror(err));
	return err > 0 ? -err : -EIO;
}

/* Close a frame and leave it empty, so that the caller may close it again or not at all. */
static void zsock__frame_reset(zmq_msg_t *f)
{
	(void)zmq_msg_close(f);
	(void)zmq_msg_init(f);
}

static void zsock__frames_reset(zmq_msg_t *frames, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		zsock__frame_reset(&frames[i]);
}

static int zsock__events(struct zsock *zs, int *events)
{
	size_t len = sizeof(*events);
	for (;;) {
		if (zmq_getsockopt(zs->sock, ZMQ_EVENTS, events, &len) == 0)
			return 0;
		if (errno != EINTR)
			return zsock__zmq_err("zmq_getsockopt(ZMQ_EVENTS)");
	}
}

static void zsock__idle_set(struct zsock *zs, bool on)
{
	if (on == zs->idle_active || zs->closing)
		return;
	if (on)
		(void)uv_idle_start(&zs->idle, zsock__on_idle);
	else
		(void)uv_idle_stop(&zs->idle);
	zs->idle_active = on;
}

/* Whether a pass would have work: a message to read, or queued messages and room to send. */
static bool zsock__has_work(const struct zsock *zs, int events, bool out_blocked)
{
	if (zs->recv_cb && (events & ZMQ_POLLIN))
		return true;
	return zs->q_head && !out_blocked && (events & ZMQ_POLLOUT);
}

/*
 * After a send, bind or connect from outside a pass: the call may have processed the socket's
 * commands and cleared ZMQ_FD, so look at the events now and schedule a pass if there is work.
 */
static void zsock__kick(struct zsock *zs)
{
	int events = 0;
	if (zs->in_pass || zs->closing || zsock__events(zs, &events) != 0)
		return;
	if (zsock__has_work(zs, events, false))
		zsock__idle_set(zs, true);
}

/* Hand frames[*next..n) to ZeroMQ. Returns 0 when the whole message went, or -errno (-EAGAIN:
 * try again later from *next). */
static int zsock__send_frames(struct zsock *zs, zmq_msg_t *frames, size_t n, size_t *next)
{
	while (*next < n) {
		int flags = ZMQ_DONTWAIT | (*next + 1 < n ? ZMQ_SNDMORE : 0);
		if (zmq_msg_send(&frames[*next], zs->sock, flags) < 0) {
			if (errno == EINTR)
				continue;
			return errno > 0 ? -errno : -EIO;
		}
		(*next)++;
	}
	return 0;
}

static void zsock__log_drop(struct zsock *zs, const char *msg, const char *reason)
{
	uint32_t suppressed = 0;
	if (!log_enabled(LOG_LEVEL_DEBUG) ||
	    !log_ratelimit_allow(&zs->rl, uv_now(zs->poll.loop), &suppressed))
		return;
	LOG_DEBUG(CTL, msg, "reason=\"%s\" suppressed=%u", reason, suppressed);
}

static void zsock__qmsg_free(struct zsock_qmsg *q)
{
	for (size_t i = 0; i < q->n; i++)
		(void)zmq_msg_close(&q->frames[i]);
	free(q);
}

/* Hand queued messages to ZeroMQ, one budget unit each, until the queue is empty, the budget is
 * spent, or ZeroMQ would block (-EAGAIN). */
static int zsock__flush(struct zsock *zs, uint32_t *budget)
{
	while (zs->q_head && *budget > 0) {
		struct zsock_qmsg *q = zs->q_head;
		int rc = zsock__send_frames(zs, q->frames, q->n, &q->sent);
		if (rc == -EAGAIN)
			return -EAGAIN;
		zs->q_head = q->next;
		if (!zs->q_head)
			zs->q_tail = NULL;
		zs->stats.tx_queue_len--;
		if (rc == 0) {
			zs->stats.tx_msgs++;
		} else {
			zs->stats.tx_dropped++;
			zsock__log_drop(zs, "queued message refused by ZeroMQ", sdw_strerror(rc));
		}
		zsock__qmsg_free(q);
		(*budget)--;
	}
	return 0;
}

/* Receive one frame, retrying EINTR. Returns 0, or -errno (-EAGAIN: nothing to read). */
static int zsock__recv_frame(struct zsock *zs, zmq_msg_t *f)
{
	for (;;) {
		if (zmq_msg_recv(f, zs->sock, ZMQ_DONTWAIT) >= 0)
			return 0;
		if (errno != EINTR)
			return errno > 0 ? -errno : -EIO;
	}
}

/*
 * Receive one whole message and deliver it, or drop it if it breaks the limits. Returns 1 when a
 * message was consumed, 0 when there was none (EAGAIN), or -errno.
 */
static int zsock__recv_one(struct zsock *zs)
{
	zmq_msg_t frames[ZSOCK_FRAMES_MAX];
	zmq_msg_t excess;
	const char *drop = NULL;
	size_t n = 0;
	int rc;
	bool more = false;
	(void)zmq_msg_init(&excess);
	do {
		zmq_msg_t *f = n < zs->opts.max_frames ? &frames[n] : &excess;
		(void)zmq_msg_init(f);
		rc = zsock__recv_frame(zs, f);
		if (rc != 0) {
			(void)zmq_msg_close(f);
			break;
		}
		more = zmq_msg_more(f) == 1;
		if (zmq_msg_size(f) > zs->opts.max_msg_size)
			drop = "frame larger than max_msg_size";
		if (f == &excess) {
			drop = "more frames than max_frames";
			(void)zmq_msg_close(f);
		} else {
			n++;
		}
	} while (more);

	if (rc == -EAGAIN && n == 0 && !drop)
		return 0;
	if (rc != 0) {
		/* ZeroMQ delivers a multipart message whole: a failure inside one is not EAGAIN. */
		LOG_ERR(CTL, "ZeroMQ receive failed", "frames=%zu err=\"%s\"", n, sdw_strerror(rc));
	} else if (drop) {
		zs->stats.rx_dropped++;
		zsock__log_drop(zs, "received message dropped", drop);
	} else {
		zs->stats.rx_msgs++;
		zs->recv_cb(zs, frames, n, zs->arg);
	}
	for (size_t i = 0; i < n; i++)
		(void)zmq_msg_close(&frames[i]);
	return rc != 0 ? rc : 1;
}

/*
 * One pass: until nothing is left or the budget is spent, flush the queue while ZeroMQ takes
 * messages and receive while messages are waiting, re-reading ZMQ_EVENTS after each step. With
 * work left at the end of the budget, stay scheduled on the idle handle; else wait for ZMQ_FD.
 */
static void zsock__process(struct zsock *zs)
{
	uint32_t budget = zs->opts.batch;
	bool out_blocked = false, did = false;
	zs->in_pass = true;
	zs->stats.wakeups++;
	while (!zs->closing) {
		int events = 0;
		if (zsock__events(zs, &events) != 0) {
			zsock__idle_set(zs, false);
			break;
		}
		if (!zsock__has_work(zs, events, out_blocked)) {
			zsock__idle_set(zs, false);
			break;
		}
		if (budget == 0) {
			zs->stats.yields++;
			zsock__idle_set(zs, true);
			break;
		}
		did = true;
		/* A queue that could not move while POLLOUT is set (a ROUTER always reports it)
		 * waits for the next wakeup instead of spinning here. */
		if (zs->q_head && !out_blocked && (events & ZMQ_POLLOUT))
			out_blocked = zsock__flush(zs, &budget) == -EAGAIN;
		if (budget > 0 && zs->recv_cb && (events & ZMQ_POLLIN) && !zs->closing) {
			if (zsock__recv_one(zs) < 0) {
				/* Logged; retry at the next wakeup rather than spin on it. */
				zsock__idle_set(zs, false);
				break;
			}
			budget--;
		}
	}
	if (!did)
		zs->stats.spurious_wakeups++;
	zs->in_pass = false;
}

static void zsock__on_poll(uv_poll_t *h, int status, int events)
{
	struct zsock *zs = h->data;
	(void)events;
	if (status < 0)
		LOG_ERR(CTL, "polling ZMQ_FD failed", "err=\"%s\"", uv_strerror(status));
	zsock__process(zs);
}

static void zsock__on_idle(uv_idle_t *h)
{
	zsock__process(h->data);
}

static void zsock__on_handle_closed(uv_handle_t *h)
{
	struct zsock *zs = h->data;
	if (--zs->handles_open == 0 && zs->close_cb)
		zs->close_cb(zs);
}

static int zsock__check_options(const struct zsock_options *opts)
{
	if (!opts || opts->max_msg_size == 0 ||
	    opts->max_msg_size > INT64_MAX - ZSOCK_WIRE_OVERHEAD ||
	    opts->max_frames > ZSOCK_FRAMES_MAX)
		return -EINVAL;
	return 0;
}

static int zsock__setup_socket(void *sock, const struct zsock_options *opts, int *fd)
{
	int64_t max = (int64_t)(opts->max_msg_size + ZSOCK_WIRE_OVERHEAD);
	if (max < ZSOCK_WIRE_MIN)
		max = ZSOCK_WIRE_MIN;
	size_t len = sizeof(*fd);
	if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0)
		return zsock__zmq_err("zmq_setsockopt(ZMQ_MAXMSGSIZE)");
	if (zmq_getsockopt(sock, ZMQ_FD, fd, &len) != 0)
		return zsock__zmq_err("zmq_getsockopt(ZMQ_FD)");
	return 0;
}

int zsock_init(struct zsock *zs, uv_loop_t *loop, void **sock, const struct zsock_options *opts,
	       zsock_recv_cb *recv_cb, void *arg)
{
	void *s = sock ? *sock : NULL;
	int fd = -1, rc;
	if (sock)
		*sock = NULL;
	rc = (zs && loop && s) ? zsock__check_options(opts) : -EINVAL;
	if (rc == 0)
		rc = zsock__setup_socket(s, opts, &fd);
	if (rc != 0)
		goto err;
	memset(zs, 0, sizeof(*zs));
	rc = uv_poll_init(loop, &zs->poll, fd);
	if (rc != 0) {
		LOG_ERR(CTL, "cannot poll ZMQ_FD", "err=\"%s\"", uv_strerror(rc));
		rc = rc < 0 ? rc : -EIO; /* libuv errors are negative errno on Unix */
		goto err;
	}
	/* Neither can fail now: the idle init only links the handle, and uv_poll_init has checked
	 * that no other watcher has this descriptor. */
	(void)uv_idle_init(loop, &zs->idle);
	rc = uv_poll_start(&zs->poll, UV_READABLE, zsock__on_poll);
	assert(rc == 0);
	(void)rc;
	zs->poll.data = zs;
	zs->idle.data = zs;
	zs->handles_open = 2;
	zs->sock = s;
	zs->recv_cb = recv_cb;
	zs->arg = arg;
	zs->opts = *opts;
	if (zs->opts.max_frames == 0)
		zs->opts.max_frames = ZSOCK_FRAMES_MAX;
	if (zs->opts.sndq_max == 0)
		zs->opts.sndq_max = ZSOCK_SNDQ_DEFAULT;
	if (zs->opts.batch == 0)
		zs->opts.batch = ZSOCK_BATCH_DEFAULT;
	zs->rl.interval_ms = ZSOCK_LOG_INTERVAL_MS;
	zs->rl.burst = ZSOCK_LOG_BURST;
	/* The socket may have been used before: its descriptor may already be cleared with messages
	 * waiting. One pass from the loop settles that. */
	zsock__idle_set(zs, true);
	return 0;

err:
	if (s) {
		int zero = 0;
		(void)zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
		(void)zmq_close(s);
	}
	return rc;
}

void zsock_close(struct zsock *zs, zsock_close_cb *cb)
{
	uint32_t unlimited = UINT32_MAX;
	assert(!zs->closing);
	(void)zsock__flush(zs, &unlimited);
	while (zs->q_head) {
		struct zsock_qmsg *q = zs->q_head;
		zs->q_head = q->next;
		zs->stats.tx_dropped++;
		zsock__qmsg_free(q);
	}
	zs->q_tail = NULL;
	zs->stats.tx_queue_len = 0;
	zs->closing = true;
	zs->close_cb = cb;
	/* uv_close stops the poll at once (the descriptor leaves epoll, pending events for it are
	 * discarded), so the socket that owns the descriptor can be closed right after. */
	uv_close((uv_handle_t *)&zs->poll, zsock__on_handle_closed);
	uv_close((uv_handle_t *)&zs->idle, zsock__on_handle_closed);
	(void)zmq_close(zs->sock);
	zs->sock = NULL;
}

/* Move frames[0..n) into a new queue entry at the tail, frames[0..sent) already sent. */
static int zsock__enqueue(struct zsock *zs, zmq_msg_t *frames, size_t n, size_t sent)
{
	struct zsock_qmsg *q = malloc(sizeof(*q) + n * sizeof(q->frames[0]));
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	q->n = n;
	q->sent = sent;
	for (size_t i = 0; i < n; i++) {
		(void)zmq_msg_init(&q->frames[i]);
		(void)zmq_msg_move(&q->frames[i], &frames[i]);
	}
	if (zs->q_tail)
		zs->q_tail->next = q;
	else
		zs->q_head = q;
	zs->q_tail = q;
	zs->stats.tx_queue_len++;
	zs->stats.tx_queued++;
	return 0;
}

int zsock_send(struct zsock *zs, zmq_msg_t *frames, size_t n)
{
	size_t sent = 0;
	int rc;
	if (zs->closing) {
		rc = -ESHUTDOWN;
		goto out;
	}
	if (n == 0 || n > ZSOCK_FRAMES_MAX) {
		rc = -EINVAL;
		goto out;
	}
	if (!zs->q_head) {
		rc = zsock__send_frames(zs, frames, n, &sent);
		if (rc == 0)
			zs->stats.tx_msgs++;
		if (rc != -EAGAIN)
			goto out_kick;
	}
	/* ZeroMQ would block (or older messages wait). Once a first frame is in, the rest of the
	 * message must follow it whatever the queue's length. */
	if (sent == 0 && zs->stats.tx_queue_len >= zs->opts.sndq_max) {
		zs->stats.tx_full++;
		rc = -EAGAIN;
		goto out_kick;
	}
	rc = zsock__enqueue(zs, frames, n, sent);

out_kick:
	/* The caller has the code; a peer can cause these (a ROUTER_MANDATORY peer gone). */
	if (rc != 0 && rc != -EAGAIN)
		zsock__log_drop(zs, "ZeroMQ send failed", sdw_strerror(rc));
	zsock__kick(zs);
out:
	zsock__frames_reset(frames, 0, n);
	return rc;
}

/* zmq_msg_init_data free function: the buffer may hold secrets. Runs on whichever thread drops
 * the last reference (possibly a ZeroMQ I/O thread): only thread-safe calls here. */
static void zsock__wipe_free(void *data, void *hint)
{
	OPENSSL_cleanse(data, (size_t)(uintptr_t)hint);
	free(data);
}

/* Frames for bufs[0..n) (copies) and, if last, a frame taking last over. Takes last in every
 * case; on success frames[0..n + !!last) hold the message. */
static int zsock__frames_make(zmq_msg_t *frames, const struct zsock_buf *bufs, size_t n, void *last,
			      size_t last_len)
{
	size_t total = n + (last ? 1 : 0);
	if (total == 0 || total > ZSOCK_FRAMES_MAX) {
		if (last)
			zsock__wipe_free(last, (void *)(uintptr_t)last_len);
		return -EINVAL;
	}
	for (size_t i = 0; i < total; i++) {
		bool taken = i == n;
		size_t len = taken ? last_len : bufs[i].len;
		void *hint = (void *)(uintptr_t)len;
		/* malloc(0) may return NULL: keep one byte so that every frame owns a buffer. */
		uint8_t *buf = taken ? last : malloc(len ? len : 1);
		if (buf && !taken && len)
			memcpy(buf, bufs[i].data, len);
		if (!buf || zmq_msg_init_data(&frames[i], buf, len, zsock__wipe_free, hint) != 0) {
			if (buf)
				zsock__wipe_free(buf, hint);
			if (last && !taken)
				zsock__wipe_free(last, (void *)(uintptr_t)last_len);
			zsock__frames_reset(frames, 0, i);
			return -ENOMEM;
		}
	}
	return 0;
}

int zsock_sendv(struct zsock *zs, const struct zsock_buf *bufs, size_t n)
{
	zmq_msg_t frames[ZSOCK_FRAMES_MAX];
	int rc = zsock__frames_make(frames, bufs, n, NULL, 0);
	return rc == 0 ? zsock_send(zs, frames, n) : rc;
}

int zsock_sendv_take(struct zsock *zs, const struct zsock_buf *bufs, size_t n, void *last,
		     size_t len)
{
	zmq_msg_t frames[ZSOCK_FRAMES_MAX];
	if (!last)
		return -EINVAL;
	int rc = zsock__frames_make(frames, bufs, n, last, len);
	return rc == 0 ? zsock_send(zs, frames, n + 1) : rc;
}

int zsock_bind(struct zsock *zs, const char *endpoint)
{
	if (zs->closing)
		return -ESHUTDOWN;
	if (zmq_bind(zs->sock, endpoint) != 0) {
		int err = errno;
		LOG_ERR(CTL, "cannot bind ZeroMQ socket", "endpoint=\"%s\" err=\"%s\"", endpoint,
			zmq_strerror(err));
		return err > 0 ? -err : -EIO;
	}
	zsock__kick(zs);
	return 0;
}

int zsock_connect(struct zsock *zs, const char *endpoint)
{
	if (zs->closing)
		return -ESHUTDOWN;
	if (zmq_connect(zs->sock, endpoint) != 0) {
		int err = errno;
		LOG_ERR(CTL, "cannot connect ZeroMQ socket", "endpoint=\"%s\" err=\"%s\"", endpoint,
			zmq_strerror(err));
		return err > 0 ? -err : -EIO;
	}
	zsock__kick(zs);
	return 0;
}

int zsock_last_endpoint(const struct zsock *zs, char *buf, size_t size)
{
	char tmp[256];
	size_t len = sizeof(tmp);
	if (zs->closing)
		return -ESHUTDOWN;
	if (zmq_getsockopt(zs->sock, ZMQ_LAST_ENDPOINT, tmp, &len) != 0)
		return zsock__zmq_err("zmq_getsockopt(ZMQ_LAST_ENDPOINT)");
	/* len counts the terminating NUL. */
	if (len == 0 || len > size)
		return -ENOBUFS;
	memcpy(buf, tmp, len);
	buf[len - 1] = '\0';
	return 0;
}

void *zsock_socket(const struct zsock *zs)
{
	return zs->sock;
}

const struct zsock_stats *zsock_stats(const struct zsock *zs)
{
	return &zs->stats;
}
