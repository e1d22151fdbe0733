/*
 * A ZeroMQ socket driven by a libuv loop.
 *
 * ZeroMQ signals a socket's state through ZMQ_FD, a descriptor that becomes readable when the
 * socket has *commands* to process, not when a message is waiting: it is edge-triggered. Every
 * call that touches the socket (zmq_msg_send, zmq_msg_recv, reading ZMQ_EVENTS) may process those
 * commands and clear the descriptor, after which messages can be waiting with no wakeup ever to
 * come. So this module:
 *
 *   - polls ZMQ_FD for readability (uv_poll_t) and on every wakeup reads ZMQ_EVENTS, receives
 *     with ZMQ_DONTWAIT until EAGAIN and flushes its send queue while ZMQ_POLLOUT is set,
 *     re-reading ZMQ_EVENTS after every receive and send; a wakeup with no events is normal;
 *   - re-reads ZMQ_EVENTS after every zsock_send, zsock_bind and zsock_connect, and when work is
 *     waiting schedules a pass from the loop (never calling the receive callback from inside the
 *     caller's own send);
 *   - does at most `batch` messages of work per pass; when more is waiting it yields to the loop
 *     through a uv_idle_t (so other handles are polled in between) and continues next iteration:
 *     one busy peer cannot starve the loop, and no wakeup is lost.
 *
 * Received messages are delivered whole (ZeroMQ delivers multipart messages atomically) as an
 * array of zmq_msg_t frames. A message with more than max_frames frames, or with a frame over
 * max_msg_size bytes, is dropped and counted.
 *
 * Message size: ZMQ_MAXMSGSIZE is set to max_msg_size + ZSOCK_WIRE_OVERHEAD, because ZeroMQ checks
 * it against the frame as it travels, which under CURVE carries 33 bytes of box and command
 * header; and to at least ZSOCK_WIRE_MIN, because it applies to the handshake's commands too
 * (a CURVE INITIATE is about 550 bytes): below that no connection could be made. A peer sending
 * a frame over ZMQ_MAXMSGSIZE is disconnected by ZeroMQ (the frame is never read into memory).
 * The exact max_msg_size is then enforced here on every received frame. ZeroMQ
 * copies socket options when an endpoint is bound or connected: call zsock_init before
 * zmq_bind/zmq_connect (or use zsock_bind/zsock_connect), or the limit does not apply.
 *
 * Sending never blocks. When ZeroMQ would block (high-water mark reached, no peer yet), up to
 * sndq_max messages are queued here in order and handed to ZeroMQ when the socket signals
 * ZMQ_POLLOUT; beyond that zsock_send fails with -EAGAIN and counts it. A multipart message is
 * never interleaved with another one.
 *
 * Lifetime (libuv rules): struct zsock embeds uv handles, so its memory is the caller's and must
 * stay valid from zsock_init until the close callback of zsock_close has run; free it there, never
 * before. zsock_close closes the ZeroMQ socket at once (after a last non-blocking attempt to hand
 * queued messages to ZeroMQ, which then applies the socket's ZMQ_LINGER): the context may be
 * terminated as soon as every zsock has been closed.
 *
 * Threads: a zsock belongs to its loop's thread; every function here must be called from it. No
 * global state.
 */
#ifndef SDWAN_COMMON_ZSOCK_H
#define SDWAN_COMMON_ZSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "common/log.h"

/* Most frames a received message may have (including a ROUTER's routing-id frames). */
#define ZSOCK_FRAMES_MAX 16

/* Bytes added to max_msg_size for ZMQ_MAXMSGSIZE: a CURVE MESSAGE command adds 33 bytes to each
 * frame on the wire, and ZeroMQ applies the limit there. */
#define ZSOCK_WIRE_OVERHEAD 64

/* Smallest ZMQ_MAXMSGSIZE set: room for every handshake command (CURVE HELLO, WELCOME, INITIATE,
 * READY with a 255-byte routing id and some metadata). */
#define ZSOCK_WIRE_MIN 4096

/* Defaults for the options left 0. */
#define ZSOCK_SNDQ_DEFAULT  256u
#define ZSOCK_BATCH_DEFAULT 64u

struct zsock;
struct zsock_qmsg;

/*
 * A complete message was received. frames[0..n) are borrowed for the duration of the call: zsock
 * closes them when the callback returns. To keep a frame, zmq_msg_move it into a zmq_msg_t of
 * your own (do not zmq_msg_copy a frame holding a secret: the copy shares its buffer). The
 * callback may call zsock_send and zsock_close on zs (and on other zsocks). ZeroMQ frees received
 * buffers without wiping them; a callback receiving secrets may OPENSSL_cleanse zmq_msg_data()
 * of frames it has not shared.
 */
typedef void zsock_recv_cb(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);

/* zs is closed and its memory is the caller's again: free it here if it was allocated. */
typedef void zsock_close_cb(struct zsock *zs);

struct zsock_options {
	/* Largest frame accepted, in bytes of payload; required (> 0). Use CTL_MSG_MAX_SIZE on the
	 * control channel, CTL_MSG_ENROLL_MAX_SIZE on the enrollment path. */
	size_t max_msg_size;
	/* Most frames in a received message, 1..ZSOCK_FRAMES_MAX; 0: ZSOCK_FRAMES_MAX. */
	uint32_t max_frames;
	/* Most messages queued while ZeroMQ would block; 0: ZSOCK_SNDQ_DEFAULT. */
	uint32_t sndq_max;
	/* Most messages received or flushed per pass before yielding to the loop; 0:
	 * ZSOCK_BATCH_DEFAULT. */
	uint32_t batch;
};

/* Counters since zsock_init. */
struct zsock_stats {
	uint64_t rx_msgs;          /* messages delivered to the receive callback */
	uint64_t rx_dropped;       /* messages dropped: too many frames or a frame too large */
	uint64_t tx_msgs;          /* messages handed whole to ZeroMQ */
	uint64_t tx_queued;        /* messages that had to wait in the send queue */
	uint64_t tx_full;          /* zsock_send refused with -EAGAIN: the queue was full */
	uint64_t tx_dropped;       /* queued messages ZeroMQ refused, or still queued at close */
	uint64_t wakeups;          /* passes run (descriptor wakeups and rescheduled passes) */
	uint64_t spurious_wakeups; /* passes that found nothing to do (normal with ZMQ_FD) */
	uint64_t yields;           /* passes that stopped at the batch limit with work left */
	uint32_t tx_queue_len;     /* messages in the send queue now */
};

/*
 * A ZeroMQ socket on a libuv loop. The fields are private: use the functions below. Lives in
 * caller memory (see the lifetime rule above).
 */
struct zsock {
	uv_poll_t poll;
	uv_idle_t idle;
	void *sock;
	zsock_recv_cb *recv_cb;
	void *arg;
	zsock_close_cb *close_cb;
	struct zsock_qmsg *q_head;
	struct zsock_qmsg *q_tail;
	struct zsock_options opts;
	struct zsock_stats stats;
	struct log_ratelimit rl;
	unsigned handles_open;
	bool closing;
	bool in_pass;
	bool idle_active;
};

/* One frame to copy in zsock_sendv. */
struct zsock_buf {
	const void *data;
	size_t len;
};

/*
 * Drive *sock (a ZeroMQ socket of any type, not yet bound or connected) from loop. Takes
 * ownership of the socket in every case: *sock is set to NULL, and on error the socket has been
 * closed. recv_cb (may be NULL for a socket that only sends) is called with arg for each message.
 * Sets ZMQ_MAXMSGSIZE (see above). Returns 0; -EINVAL (max_msg_size 0, max_frames too large, or a
 * NULL argument); or the error from ZeroMQ/libuv as -errno. On error nothing is registered with
 * the loop and zs may be freed at once. Loop thread.
 */
int zsock_init(struct zsock *zs, uv_loop_t *loop, void **sock, const struct zsock_options *opts,
	       zsock_recv_cb *recv_cb, void *arg) __attribute__((warn_unused_result));

/*
 * Close: stop polling, try once more to hand queued messages to ZeroMQ (the rest are dropped and
 * counted), close the ZeroMQ socket, and close the uv handles; cb (may be NULL) runs from the
 * loop once they are closed, and only then may zs be freed. No callback is delivered after this
 * returns. Safe from inside the receive callback. Calling it twice is a programming error. Loop
 * thread.
 */
void zsock_close(struct zsock *zs, zsock_close_cb *cb);

/*
 * Send frames[0..n) as one message (the last frame without ZMQ_SNDMORE). Consumes the frames in
 * every case: on return each frame is an empty message (closing it is optional). Never blocks.
 * Returns 0 when the message was handed to ZeroMQ or queued; -EAGAIN when ZeroMQ would block and
 * the queue is full (counted in tx_full); -EINVAL for n == 0 or n > ZSOCK_FRAMES_MAX; -ESHUTDOWN
 * after zsock_close; another -errno from ZeroMQ (e.g. -EHOSTUNREACH from a ROUTER with
 * ZMQ_ROUTER_MANDATORY), logged at debug, rate-limited. A queued message that ZeroMQ later refuses
 * with an error other than EAGAIN is dropped and counted in tx_dropped. Loop thread.
 */
int zsock_send(struct zsock *zs, zmq_msg_t *frames, size_t n) __attribute__((warn_unused_result));

/*
 * As zsock_send, from buffers that are copied (the caller keeps them). The copies are wiped when
 * ZeroMQ releases them, so a message carrying keys or tokens leaves no copy behind in our buffers.
 * Returns as zsock_send, or -ENOMEM.
 */
int zsock_sendv(struct zsock *zs, const struct zsock_buf *bufs, size_t n)
	__attribute__((warn_unused_result));

/*
 * As zsock_sendv, with one more frame at the end: `last` (len bytes, malloc'd), which the message
 * takes over instead of copying (a config of a few hundred KiB is not worth a second copy). last
 * is the message's from the call on, whatever it returns; it is wiped when ZeroMQ releases it.
 */
int zsock_sendv_take(struct zsock *zs, const struct zsock_buf *bufs, size_t n, void *last,
		     size_t len) __attribute__((warn_unused_result));

/* zmq_bind the socket to endpoint. Returns 0 or -errno (logged with ZeroMQ's message). Loop
 * thread. */
int zsock_bind(struct zsock *zs, const char *endpoint) __attribute__((warn_unused_result));

/* zmq_connect the socket to endpoint, then re-read its events (connecting may make queued
 * messages sendable without a wakeup). Returns 0 or -errno (logged). Loop thread. */
int zsock_connect(struct zsock *zs, const char *endpoint) __attribute__((warn_unused_result));

/* The socket's ZMQ_LAST_ENDPOINT (e.g. the port chosen for "tcp://127.0.0.1:*") into
 * buf[0..size), NUL-terminated. Returns 0, -ENOBUFS if it does not fit, or -errno. Loop thread. */
int zsock_last_endpoint(const struct zsock *zs, char *buf, size_t size)
	__attribute__((warn_unused_result));

/*
 * The ZeroMQ socket, borrowed (NULL after zsock_close), for zmq_setsockopt/zmq_getsockopt and
 * zmq_socket_monitor only: sending or receiving on it directly would bypass the send queue and the
 * wakeup bookkeeping. Never close it. Loop thread.
 */
void *zsock_socket(const struct zsock *zs);

/* The counters, borrowed; valid until the close callback. Loop thread. */
const struct zsock_stats *zsock_stats(const struct zsock *zs);

#endif
