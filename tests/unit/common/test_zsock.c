/*
 * zsock: ZeroMQ sockets on a libuv loop. A ROUTER server (CURVE, no ZAP) and DEALER clients over
 * tcp://127.0.0.1 (ephemeral port) or ipc:// in a temporary directory: messages both ways, a burst
 * of 10,000 messages each way, the wakeup a send can swallow, the send queue and its limit,
 * the size and frame limits, and closing (from a callback, with a send after it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/zcurve.h"
#include "common/zsock.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold; the check is off for this file only for that reason.
 */

#define BURST 10000u

/* What one socket received. */
struct rx {
	size_t count;
	size_t frames;   /* frames in the last message */
	char last[2048]; /* last payload frame (the last frame), NUL-terminated */
	size_t last_len;
	uint8_t id[256]; /* a ROUTER's routing id of the last message */
	size_t id_len;
	uint32_t next_seq; /* burst: the sequence number expected next */
	bool out_of_order;
	bool echo;        /* ROUTER: send each message back to its sender */
	bool close_in_cb; /* close the socket from the callback */
	int echo_err;     /* first error of an echo send */
	struct zsock *zs;
};

static uv_loop_t loop;
static void *ctx;
static char tmp[64];
static struct zcurve_keypair server_kp, client_kp;
static unsigned closed;

static void on_closed(struct zsock *zs)
{
	(void)zs;
	closed++;
}

static void setup(void)
{
	(void)snprintf(tmp, sizeof(tmp), "/tmp/sdwan-zsock-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	cr_assert_eq(uv_loop_init(&loop), 0);
	ctx = zmq_ctx_new();
	cr_assert_not_null(ctx);
	cr_assert_eq(zcurve_keypair_generate(&server_kp), 0);
	cr_assert_eq(zcurve_keypair_generate(&client_kp), 0);
	closed = 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	/* Every test closes what it opened: a handle left open fails uv_loop_close. */
	int rc = uv_loop_close(&loop);
	cr_expect_eq(rc, 0, "a uv handle was left open");
	/* After a failed assertion sockets are still open and zmq_ctx_term would block. */
	if (rc == 0)
		cr_expect_eq(zmq_ctx_term(ctx), 0);
	zcurve_keypair_clear(&server_kp);
	zcurve_keypair_clear(&client_kp);
	/* The test process is single-threaded. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	(void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(zsock, .init = setup, .fini = teardown, .timeout = 10);

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until done(arg) or ms milliseconds pass; return done(arg). */
static bool run_until(bool (*done)(const void *), const void *arg, uint64_t ms)
{
	uv_timer_t t;
	cr_assert_eq(uv_timer_init(&loop, &t), 0);
	cr_assert_eq(uv_timer_start(&t, tick, 5, 5), 0);
	uv_update_time(&loop);
	uint64_t deadline = uv_now(&loop) + ms;
	while (!done(arg) && uv_now(&loop) < deadline)
		(void)uv_run(&loop, UV_RUN_ONCE);
	bool ok = done(arg);
	uv_close((uv_handle_t *)&t, NULL);
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

static size_t want_count;
static bool got_want(const void *arg)
{
	return ((const struct rx *)arg)->count >= want_count;
}

static bool never(const void *arg)
{
	(void)arg;
	return false;
}

static bool all_closed(const void *arg)
{
	return closed >= *(const unsigned *)arg;
}

/* Close n zsocks and run the loop until their close callbacks ran. */
static void close_all(struct zsock **zs, unsigned n)
{
	unsigned want = closed + n;
	for (unsigned i = 0; i < n; i++)
		zsock_close(zs[i], on_closed);
	cr_assert(run_until(all_closed, &want, 1000));
}

static void on_recv(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct rx *rx = arg;
	zmq_msg_t *last = &frames[n - 1];
	rx->count++;
	rx->frames = n;
	rx->last_len = zmq_msg_size(last);
	if (rx->last_len < sizeof(rx->last)) {
		memcpy(rx->last, zmq_msg_data(last), rx->last_len);
		rx->last[rx->last_len] = '\0';
	}
	if (rx->last_len == sizeof(uint32_t)) {
		uint32_t seq;
		memcpy(&seq, zmq_msg_data(last), sizeof(seq));
		if (seq != rx->next_seq)
			rx->out_of_order = true;
		rx->next_seq = seq + 1;
	}
	if (n > 1 && zmq_msg_size(&frames[0]) <= sizeof(rx->id)) {
		rx->id_len = zmq_msg_size(&frames[0]);
		memcpy(rx->id, zmq_msg_data(&frames[0]), rx->id_len);
	}
	if (rx->echo) {
		/* Send the frames back as they came: moved out of the borrowed array. */
		zmq_msg_t out[ZSOCK_FRAMES_MAX];
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(zmq_msg_init(&out[i]), 0);
			cr_assert_eq(zmq_msg_move(&out[i], &frames[i]), 0);
		}
		int rc = zsock_send(zs, out, n);
		if (rc != 0 && rx->echo_err == 0)
			rx->echo_err = rc;
	}
	if (rx->close_in_cb)
		zsock_close(zs, on_closed);
}

static void *new_socket(int type)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0;
	cr_assert_not_null(s);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)), 0);
	return s;
}

static void open_zsock(struct zsock *zs, void *s, const struct zsock_options *o, struct rx *rx)
{
	cr_assert_eq(zsock_init(zs, &loop, &s, o, rx ? on_recv : NULL, rx), 0);
	cr_assert_null(s, "zsock_init takes the socket");
	if (rx)
		rx->zs = zs;
}

static void curve_server(void *s)
{
	int one = 1;
	cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one)), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, server_kp.secret_key, ZCURVE_KEY_LEN),
		     0);
}

/* A CURVE ROUTER server on an ephemeral loopback port; its endpoint into ep. */
static void open_server(struct zsock *zs, const struct zsock_options *o, struct rx *rx,
			char ep[static 256])
{
	void *s = new_socket(ZMQ_ROUTER);
	curve_server(s);
	open_zsock(zs, s, o, rx);
	cr_assert_eq(zsock_bind(zs, "tcp://127.0.0.1:*"), 0);
	cr_assert_eq(zsock_last_endpoint(zs, ep, 256), 0);
	cr_assert(strncmp(ep, "tcp://127.0.0.1:", 16) == 0, "%s", ep);
}

static void open_client(struct zsock *zs, const struct zsock_options *o, struct rx *rx,
			const char *ep)
{
	void *s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zcurve_client_setup(s, &client_kp, server_kp.public_key), 0);
	open_zsock(zs, s, o, rx);
	cr_assert_eq(zsock_connect(zs, ep), 0);
}

static int send_str(struct zsock *zs, const char *a, const char *b)
{
	struct zsock_buf bufs[2] = {{a, strlen(a)}, {b, b ? strlen(b) : 0}};
	return zsock_sendv(zs, bufs, b ? 2 : 1);
}

/* ---- messages both ways ---- */

Test(zsock, curve_roundtrip_both_ways)
{
	const struct zsock_options o = {.max_msg_size = 4096};
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	open_server(&srv, &o, &srx, ep);
	open_client(&cli, &o, &crx, ep);

	cr_assert_eq(send_str(&cli, "hello", "world"), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &crx, 2000), "the echo never came back");
	cr_assert_eq(srx.count, 1);
	cr_assert_eq(srx.frames, 3, "routing id + two frames");
	cr_assert_str_eq(srx.last, "world");
	cr_assert_eq(srx.echo_err, 0);
	cr_assert_eq(crx.frames, 2);
	cr_assert_str_eq(crx.last, "world");
	cr_assert_eq(zsock_stats(&srv)->rx_msgs, 1);
	cr_assert_eq(zsock_stats(&srv)->tx_msgs, 1);
	cr_assert_eq(zsock_stats(&cli)->tx_msgs, 1);
	cr_assert_eq(zsock_stats(&cli)->rx_msgs, 1);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* A taken buffer travels as it is, and is the message's also when the send is refused
 * (ASan's leak check sees the rest). */
Test(zsock, taken_buffer_sent_and_freed)
{
	const struct zsock_options o = {.max_msg_size = 4096};
	struct zsock srv, cli;
	struct rx srx = {0};
	char ep[256];
	open_server(&srv, &o, &srx, ep);
	open_client(&cli, &o, NULL, ep);

	char *owned = malloc(6);
	cr_assert_not_null(owned);
	memcpy(owned, "taken", 6);
	struct zsock_buf first = {"head", 4};
	cr_assert_eq(zsock_sendv_take(&cli, &first, 1, owned, 6), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000), "the taken buffer never arrived");
	cr_assert_eq(srx.frames, 3, "routing id + copied frame + taken frame");
	cr_assert_eq(srx.last_len, 6);
	cr_assert_str_eq(srx.last, "taken");

	/* Refused (too many frames): the taken buffer is freed all the same. */
	struct zsock_buf many[ZSOCK_FRAMES_MAX];
	for (size_t i = 0; i < ZSOCK_FRAMES_MAX; i++)
		many[i] = (struct zsock_buf){"x", 1};
	cr_assert_eq(zsock_sendv_take(&cli, many, ZSOCK_FRAMES_MAX, malloc(8), 8), -EINVAL);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* ---- 10,000 messages each way ---- */

static bool burst_done(const void *arg)
{
	const struct rx *rx = arg;
	return rx->count >= BURST || rx->out_of_order || rx->echo_err != 0;
}

Test(zsock, burst_10000_each_way_no_lost_wakeup)
{
	/* Small batches and high-water marks, so that both sides yield and both send queues fill
	 * and drain on ZMQ_POLLOUT many times over. */
	const struct zsock_options o = {.max_msg_size = 64, .sndq_max = BURST, .batch = 16};
	struct zsock srv, cli;
	struct rx srx = {.echo = true}, crx = {0};
	char ep[256];
	int hwm = 100, one = 1;
	void *s = new_socket(ZMQ_ROUTER);
	curve_server(s);
	/* Refuse (EAGAIN) rather than drop when the client's pipe is full. */
	cr_assert_eq(zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
	open_zsock(&srv, s, &o, &srx);
	cr_assert_eq(zsock_bind(&srv, "tcp://127.0.0.1:*"), 0);
	cr_assert_eq(zsock_last_endpoint(&srv, ep, sizeof(ep)), 0);
	s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zcurve_client_setup(s, &client_kp, server_kp.public_key), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)), 0);
	open_zsock(&cli, s, &o, &crx);
	cr_assert_eq(zsock_connect(&cli, ep), 0);

	for (uint32_t i = 0; i < BURST; i++) {
		struct zsock_buf b = {&i, sizeof(i)};
		cr_assert_eq(zsock_sendv(&cli, &b, 1), 0, "message %u", i);
	}
	cr_assert_gt(zsock_stats(&cli)->tx_queue_len, 0, "the burst should overflow the HWM");
	cr_assert(run_until(burst_done, &crx, 4000), "client got %zu of %u back, server got %zu",
		  crx.count, BURST, srx.count);
	cr_assert_not(srx.out_of_order);
	cr_assert_not(crx.out_of_order);
	cr_assert_eq(srx.echo_err, 0);
	cr_assert_eq(srx.count, BURST);
	cr_assert_eq(crx.count, BURST);

	const struct zsock_stats *ss = zsock_stats(&srv), *cs = zsock_stats(&cli);
	cr_assert_eq(cs->tx_msgs, BURST);
	cr_assert_eq(cs->tx_full + cs->tx_dropped + ss->tx_full + ss->tx_dropped, 0);
	cr_assert_gt(cs->tx_queued, 0);
	cr_assert_gt(ss->tx_queued, 0, "the server's replies should have waited for POLLOUT");
	cr_assert_gt(ss->yields, 0, "a pass must stop at the batch limit");
	cr_assert_eq(ss->tx_queue_len + cs->tx_queue_len, 0);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* ---- the classic lost wakeup ---- */

static bool fd_readable(struct zsock *zs, int timeout_ms)
{
	int fd;
	size_t len = sizeof(fd);
	cr_assert_eq(zmq_getsockopt(zsock_socket(zs), ZMQ_FD, &fd, &len), 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

/*
 * A message arrives; before the loop polls again, the application sends on the same socket.
 * ZeroMQ processes the socket's commands inside that send and clears ZMQ_FD: the message is
 * waiting and no wakeup will ever come. zsock must look at ZMQ_EVENTS after the send.
 */
Test(zsock, send_does_not_swallow_a_wakeup)
{
	const struct zsock_options o = {.max_msg_size = 4096};
	struct zsock srv;
	struct rx srx = {0};
	char ep[256];
	open_server(&srv, &o, &srx, ep);
	void *cli = new_socket(ZMQ_DEALER);
	cr_assert_eq(zcurve_client_setup(cli, &client_kp, server_kp.public_key), 0);
	cr_assert_eq(zmq_connect(cli, ep), 0);

	cr_assert_eq(zmq_send(cli, "one", 3, 0), 3);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000));

	/* The second message reaches the server's mailbox; the loop does not run meanwhile. */
	cr_assert_eq(zmq_send(cli, "two", 3, 0), 3);
	cr_assert(fd_readable(&srv, 2000), "ZMQ_FD should signal the new message");
	/* Past libzmq's command-processing throttle (about 1 ms), so the send processes them. */
	(void)usleep(20 * 1000);
	struct zsock_buf reply[2] = {{srx.id, srx.id_len}, {"x", 1}};
	cr_assert_eq(zsock_sendv(&srv, reply, 2), 0);
	cr_assert_not(fd_readable(&srv, 0), "precondition: the send has cleared ZMQ_FD");

	want_count = 2;
	cr_assert(run_until(got_want, &srx, 1000), "message lost: no wakeup after a send");
	cr_assert_str_eq(srx.last, "two");

	char buf[8];
	cr_assert_eq(zmq_recv(cli, buf, sizeof(buf), 0), 1, "the reply reached the client");
	cr_assert_eq(zmq_close(cli), 0);
	struct zsock *all[] = {&srv};
	close_all(all, 1);
}

/* ---- the send queue ---- */

Test(zsock, queue_limit_then_flush_in_order)
{
	const struct zsock_options o = {.max_msg_size = 256, .sndq_max = 8};
	struct zsock srv, cli;
	struct rx srx = {0};
	char ep[300];
	int one = 1, ivl = 10;
	(void)snprintf(ep, sizeof(ep), "ipc://%s/q.sock", tmp);

	/* Nothing listens yet, and ZMQ_IMMEDIATE keeps the DEALER from queueing into a pipe to
	 * nowhere: every send would block. */
	void *s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)), 0);
	open_zsock(&cli, s, &o, NULL);
	cr_assert_eq(zsock_connect(&cli, ep), 0);
	for (uint32_t i = 0; i < 8; i++) {
		struct zsock_buf b[2] = {{"seq", 3}, {&i, sizeof(i)}};
		cr_assert_eq(zsock_sendv(&cli, b, 2), 0, "message %u", i);
	}
	cr_assert_eq(zsock_stats(&cli)->tx_queue_len, 8);
	cr_assert_eq(send_str(&cli, "one", "too many"), -EAGAIN);
	cr_assert_eq(zsock_stats(&cli)->tx_full, 1);
	cr_assert_eq(zsock_stats(&cli)->tx_queue_len, 8);
	cr_assert_eq(zsock_stats(&cli)->tx_msgs, 0);

	/* The server comes up; the client's queue flushes when ZMQ_POLLOUT is signalled. */
	open_zsock(&srv, new_socket(ZMQ_ROUTER), &o, &srx);
	cr_assert_eq(zsock_bind(&srv, ep), 0);
	want_count = 8;
	cr_assert(run_until(got_want, &srx, 3000), "server got %zu of 8", srx.count);
	cr_assert_not(srx.out_of_order);
	cr_assert_eq(srx.frames, 3);
	cr_assert_eq(zsock_stats(&cli)->tx_msgs, 8);
	cr_assert_eq(zsock_stats(&cli)->tx_queue_len, 0);
	/* Room again. */
	cr_assert_eq(send_str(&cli, "again", NULL), 0);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* ---- size and frame limits ---- */

struct mon {
	size_t disconnects;
};

static void on_monitor(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct mon *m = arg;
	uint16_t ev;
	(void)zs;
	if (n == 2 && zmq_msg_size(&frames[0]) == 6) {
		memcpy(&ev, zmq_msg_data(&frames[0]), sizeof(ev));
		if (ev == ZMQ_EVENT_DISCONNECTED)
			m->disconnects++;
	}
}

static bool disconnected(const void *arg)
{
	return ((const struct mon *)arg)->disconnects > 0;
}

Test(zsock, oversize_frame_drops_the_connection)
{
	const struct zsock_options o = {.max_msg_size = 1024};
	const struct zsock_options mo = {.max_msg_size = 1024};
	struct zsock srv, cli, mon;
	struct rx srx = {0};
	struct mon m = {0};
	char ep[256];
	static char big[64 * 1024];
	open_server(&srv, &o, &srx, ep);
	cr_assert_eq(zmq_socket_monitor(zsock_socket(&srv), "inproc://mon", ZMQ_EVENT_DISCONNECTED),
		     0);
	void *ms = new_socket(ZMQ_PAIR);
	cr_assert_eq(zmq_connect(ms, "inproc://mon"), 0);
	cr_assert_eq(zsock_init(&mon, &loop, &ms, &mo, on_monitor, &m), 0);
	open_client(&cli, &o, NULL, ep);

	/* Exactly max_msg_size of payload passes, CURVE's framing overhead notwithstanding. */
	memset(big, 'a', sizeof(big));
	struct zsock_buf b = {big, 1024};
	cr_assert_eq(zsock_sendv(&cli, &b, 1), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000));
	cr_assert_eq(srx.last_len, 1024);

	/* Far over ZMQ_MAXMSGSIZE: ZeroMQ drops the connection, the frame is never delivered. */
	b.len = sizeof(big);
	cr_assert_eq(zsock_sendv(&cli, &b, 1), 0);
	cr_assert(run_until(disconnected, &m, 2000), "the server kept the connection");
	cr_assert(run_until(never, NULL, 100) == false);
	cr_assert_eq(srx.count, 1, "the oversize frame was delivered");

	struct zsock *all[] = {&srv, &cli, &mon};
	close_all(all, 3);
}

Test(zsock, frame_over_max_msg_size_dropped_connection_kept)
{
	const struct zsock_options o = {.max_msg_size = 1024};
	struct zsock srv, cli;
	struct rx srx = {0};
	char ep[300];
	static char buf[1024 + ZSOCK_WIRE_OVERHEAD];
	(void)snprintf(ep, sizeof(ep), "ipc://%s/size.sock", tmp);
	open_zsock(&srv, new_socket(ZMQ_ROUTER), &o, &srx);
	cr_assert_eq(zsock_bind(&srv, ep), 0);
	open_zsock(&cli, new_socket(ZMQ_DEALER), &o, NULL);
	cr_assert_eq(zsock_connect(&cli, ep), 0);

	/* Within ZMQ_MAXMSGSIZE (which leaves room for CURVE) but over max_msg_size: zsock drops
	 * the message itself, and the connection stays up. */
	memset(buf, 'b', sizeof(buf));
	struct zsock_buf b = {buf, 1025};
	cr_assert_eq(zsock_sendv(&cli, &b, 1), 0);
	cr_assert_eq(send_str(&cli, "small", NULL), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000));
	cr_assert_str_eq(srx.last, "small");
	cr_assert_eq(zsock_stats(&srv)->rx_dropped, 1);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zsock, too_many_frames_dropped)
{
	const struct zsock_options o = {.max_msg_size = 64, .max_frames = 4};
	struct zsock srv, cli;
	struct rx srx = {0};
	char ep[300];
	(void)snprintf(ep, sizeof(ep), "ipc://%s/frames.sock", tmp);
	open_zsock(&srv, new_socket(ZMQ_ROUTER), &o, &srx);
	cr_assert_eq(zsock_bind(&srv, ep), 0);
	open_zsock(&cli, new_socket(ZMQ_DEALER), &o, NULL);
	cr_assert_eq(zsock_connect(&cli, ep), 0);

	/* 4 frames + the routing id: one too many. Then 3 + 1: delivered. */
	struct zsock_buf five[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
	cr_assert_eq(zsock_sendv(&cli, five, 4), 0);
	cr_assert_eq(zsock_sendv(&cli, five, 3), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000));
	cr_assert_eq(srx.frames, 4);
	cr_assert_str_eq(srx.last, "c");
	cr_assert_eq(zsock_stats(&srv)->rx_dropped, 1);
	cr_assert_eq(zsock_send(&cli, NULL, 0), -EINVAL);

	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

/* ---- closing ---- */

Test(zsock, close_from_callback_stops_delivery)
{
	const struct zsock_options o = {.max_msg_size = 64};
	struct zsock srv, cli;
	struct rx srx = {.close_in_cb = true};
	char ep[300];
	(void)snprintf(ep, sizeof(ep), "ipc://%s/close.sock", tmp);
	open_zsock(&srv, new_socket(ZMQ_ROUTER), &o, &srx);
	cr_assert_eq(zsock_bind(&srv, ep), 0);
	open_zsock(&cli, new_socket(ZMQ_DEALER), &o, NULL);
	cr_assert_eq(zsock_connect(&cli, ep), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(send_str(&cli, "m", NULL), 0);

	unsigned want = 1;
	cr_assert(run_until(all_closed, &want, 2000), "the close callback never ran");
	(void)run_until(never, NULL, 50);
	cr_assert_eq(srx.count, 1, "a message was delivered after zsock_close");
	cr_assert_eq(closed, 1);
	cr_assert_null(zsock_socket(&srv));

	/* After close: refused, and the frames are still consumed (ASan would see a leak). */
	zmq_msg_t f[2];
	cr_assert_eq(zmq_msg_init_size(&f[0], 1000), 0);
	cr_assert_eq(zmq_msg_init_size(&f[1], 1000), 0);
	cr_assert_eq(zsock_send(&srv, f, 2), -ESHUTDOWN);

	struct zsock *all[] = {&cli};
	close_all(all, 1);
}

Test(zsock, close_drops_and_counts_the_queue)
{
	const struct zsock_options o = {.max_msg_size = 64};
	struct zsock cli;
	char ep[300];
	int one = 1;
	(void)snprintf(ep, sizeof(ep), "ipc://%s/nobody.sock", tmp);
	void *s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)), 0);
	open_zsock(&cli, s, &o, NULL);
	cr_assert_eq(zsock_connect(&cli, ep), 0);
	cr_assert_eq(send_str(&cli, "a", "b"), 0);
	cr_assert_eq(send_str(&cli, "c", NULL), 0);
	cr_assert_eq(zsock_stats(&cli)->tx_queue_len, 2);
	zsock_close(&cli, on_closed);
	cr_assert_eq(zsock_stats(&cli)->tx_dropped, 2);
	cr_assert_eq(zsock_stats(&cli)->tx_queue_len, 0);
	unsigned want = 1;
	cr_assert(run_until(all_closed, &want, 1000));
}

Test(zsock, init_refuses_bad_options_and_closes_the_socket)
{
	struct zsock zs;
	const struct zsock_options zero = {0};
	const struct zsock_options frames = {.max_msg_size = 1, .max_frames = ZSOCK_FRAMES_MAX + 1};
	void *s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zsock_init(&zs, &loop, &s, &zero, NULL, NULL), -EINVAL);
	cr_assert_null(s, "ownership is taken even on error");
	s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zsock_init(&zs, &loop, &s, &frames, NULL, NULL), -EINVAL);
	cr_assert_null(s);
	s = new_socket(ZMQ_DEALER);
	cr_assert_eq(zsock_init(&zs, &loop, &s, NULL, NULL, NULL), -EINVAL);
	cr_assert_null(s);
	/* teardown's zmq_ctx_term would hang on a socket left open. */
}

/* A limit below the handshake's size would make every CURVE connection fail. */
Test(zsock, small_limit_still_connects_over_curve)
{
	const struct zsock_options o = {.max_msg_size = 16};
	struct zsock srv, cli;
	struct rx srx = {0};
	char ep[256];
	int64_t max = 0;
	size_t len = sizeof(max);
	open_server(&srv, &o, &srx, ep);
	cr_assert_eq(zmq_getsockopt(zsock_socket(&srv), ZMQ_MAXMSGSIZE, &max, &len), 0);
	cr_assert_eq(max, ZSOCK_WIRE_MIN);
	open_client(&cli, &o, NULL, ep);
	cr_assert_eq(send_str(&cli, "0123456789abcdef", NULL), 0);
	want_count = 1;
	cr_assert(run_until(got_want, &srx, 2000), "no CURVE handshake under a small limit");
	struct zsock *all[] = {&srv, &cli};
	close_all(all, 2);
}

Test(zsock, maxmsgsize_is_set_with_room_for_curve)
{
	const struct zsock_options o = {.max_msg_size = 100000};
	struct zsock zs;
	int64_t max = 0;
	size_t len = sizeof(max);
	open_zsock(&zs, new_socket(ZMQ_DEALER), &o, NULL);
	cr_assert_eq(zmq_getsockopt(zsock_socket(&zs), ZMQ_MAXMSGSIZE, &max, &len), 0);
	cr_assert_eq(max, 100000 + ZSOCK_WIRE_OVERHEAD);
	char ep[8] = "x";
	cr_assert_eq(zsock_last_endpoint(&zs, ep, sizeof(ep)), 0);
	cr_assert_str_eq(ep, "", "nothing bound yet");
	struct zsock *all[] = {&zs};
	close_all(all, 1);
}

/* NOLINTEND(readability-function-size) */
