/*
 * bench-ike: full IKEv2 handshakes per second (IKE_SA_INIT + IKE_AUTH with ECDSA certificates
 * and RFC 7427 signatures + the first Child SA), between two processes over real UDP sockets.
 *
 *   bench-ike respond  --local ADDR --dir DIR [--id SITE] [--remote-id SITE]
 *   bench-ike initiate --local ADDR --remote ADDR --dir DIR [--id SITE] [--remote-id SITE]
 *                      [--seconds N] [--concurrency N] [--ike PROPOSAL] [--esp PROPOSAL]
 *
 * DIR holds ca.pem and SITE.key / SITE.pem for both identities (`ike-peer pki DIR WAN SITE...`
 * makes them). The initiator keeps --concurrency handshakes in flight, deletes each IKE SA once
 * it is up with its Child SA (so memory stays flat and the responder does the same work per
 * handshake as it would in a real WAN), and prints one line of figures. Before the timed run it
 * brings up one anchor IKE SA that it keeps: concurrent handshakes of one tunnel are not the
 * peer's only IKE SA with us, so they must not send INITIAL_CONTACT (RFC 7296 §2.4), which
 * would have the responder tear down every other SA of the tunnel (a real edge has one). The
 * responder runs until SIGTERM/SIGINT and then prints its own line, with the CPU time it used: the
 * initiator can be pointed at any responder (ours or strongSwan's charon) so both are measured with
 * one driver. tests/bench/ike/run.sh runs both and prints the ratio.
 *
 * Figures: handshakes completed per second of wall time, and CPU milliseconds per handshake for
 * the process (getrusage): the latter survives a busy machine.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "common/x509id.h"
#include "edge/ike/ike_sa.h"

enum {
	BUF_MAX = 65536,
	MARKER_LEN = 4,
	SOCK_BUF = 4 << 20,
};

struct bench {
	int fd[2]; /* port 500, port 4500 */
	struct ip_addr local;
	struct ike_engine *eng;
	uint64_t established, failed, children, in_flight;
	bool initiator;
	uint64_t anchor; /* initiator: the IKE SA kept up for the run (0: not yet) */
	/* SAs to delete once the engine has returned (callbacks must not call into it). */
	uint64_t to_delete[1024];
	size_t n_delete;
};

/* Signal flag for the responder's loop. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int rnd(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

static void to_sin(const struct ike_endpoint *ep, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(ep->port);
	memcpy(&sin->sin_addr, ep->addr.bytes, 4);
}

static int send_cb(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		   const uint8_t *msg, size_t len)
{
	struct bench *b = ctx;
	uint8_t buf[BUF_MAX + MARKER_LEN];
	struct sockaddr_in to;
	size_t off = 0;

	if (len > BUF_MAX)
		return -EMSGSIZE;
	if (ike_send_needs_marker(local, remote, msg, len)) {
		memset(buf, 0, MARKER_LEN);
		off = MARKER_LEN;
	}
	memcpy(buf + off, msg, len);
	to_sin(remote, &to);
	int fd = b->fd[local->port == IKE_NATT_PORT];
	if (sendto(fd, buf, off + len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

static void child_cb(void *ctx, const struct ike_child_keys *k)
{
	struct bench *b = ctx;

	b->children++;
	/* Child SA first, then the IKE SA reports established: delete it in event_cb. */
	(void)k;
}

static void event_cb(void *ctx, const struct ike_event *ev)
{
	struct bench *b = ctx;

	switch (ev->type) {
	case IKE_EVENT_ESTABLISHED:
		b->established++;
		if (b->initiator) {
			b->in_flight--;
			if (!b->anchor) {
				b->anchor = ev->sa;
				break;
			}
			if (b->n_delete < sizeof(b->to_delete) / sizeof(b->to_delete[0]))
				b->to_delete[b->n_delete++] = ev->sa;
		}
		break;
	case IKE_EVENT_FAILED:
		b->failed++;
		if (b->initiator && ev->old_state != IKE_STATE_ESTABLISHED)
			b->in_flight--;
		if (b->failed <= 3)
			fprintf(stderr, "bench-ike: handshake failed: %s\n", ev->reason);
		break;
	default:
		break;
	}
}

static int udp_bind(const struct ip_addr *a, uint16_t port)
{
	struct ike_endpoint ep = {.addr = *a, .port = port};
	struct sockaddr_in sin;
	int size = SOCK_BUF;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	to_sin(&ep, &sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("bench-ike: bind");
		exit(2);
	}
	/* Bursts of IKE_SA_INIT from the other side must not overflow the default buffer. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
	return fd;
}

/* Everything waiting on socket i into the engine. */
static void drain(struct bench *b, int i)
{
	static const uint8_t marker[MARKER_LEN];
	uint8_t buf[BUF_MAX];
	uint16_t port = i ? IKE_NATT_PORT : IKE_SA_PORT;

	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(b->fd[i], buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		struct ike_endpoint src = {.port = ntohs(from.sin_port)};
		struct ike_endpoint dst = {.addr = b->local, .port = port};
		size_t off = 0;
		src.addr.family = IP_V4;
		memcpy(src.addr.bytes, &from.sin_addr, 4);
		if (i == 1) {
			if (n < MARKER_LEN || memcmp(buf, marker, MARKER_LEN) != 0)
				continue; /* keepalive or ESP */
			off = MARKER_LEN;
		}
		ike_input(b->eng, buf + off, (size_t)n - off, &src, &dst);
	}
}

static void poll_once(struct bench *b, int max_wait_ms)
{
	struct pollfd fds[2] = {{.fd = b->fd[0], .events = POLLIN},
				{.fd = b->fd[1], .events = POLLIN}};
	uint64_t next = ike_next_timer_ms(b->eng), now = now_ms(NULL);
	int wait = next <= now                          ? 0
		   : next - now > (uint64_t)max_wait_ms ? max_wait_ms
							: (int)(next - now);

	if (poll(fds, 2, wait) > 0) {
		if (fds[0].revents & POLLIN)
			drain(b, 0);
		if (fds[1].revents & POLLIN)
			drain(b, 1);
	}
	ike_tick(b->eng);
	/* -ENOENT/-EALREADY only when the SA went away meanwhile: nothing left to do. */
	for (size_t i = 0; i < b->n_delete; i++)
		(void)!ike_sa_delete(b->eng, b->to_delete[i]);
	b->n_delete = 0;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static void need(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "bench-ike: bad or missing %s\n", what);
		exit(2);
	}
}

static void load_identity(const char *dir, struct ike_peer_config *c)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.key", dir, c->local_id);
	need(x509id_key_load(path, &c->key) == 0, path);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, c->local_id);
	need(x509id_cert_load(path, &c->cert) == 0, path);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	need(x509id_cert_load(path, &c->ca) == 0, path);
}

/* One tunnel from the command line; the responder accepts the initiator from any address. */
static void peer_config(int argc, char **argv, bool initiator, struct ike_peer_config *c)
{
	struct proposal_errors errs;
	bool host;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "bench");
	snprintf(c->local_id, sizeof(c->local_id), "%s",
		 opt(argc, argv, "--id", initiator ? "bench-i" : "bench-r"));
	snprintf(c->remote_id, sizeof(c->remote_id), "%s",
		 opt(argc, argv, "--remote-id", initiator ? "bench-r" : "bench-i"));
	need(proposal_parse(opt(argc, argv, "--ike", "aes128gcm16-prfsha256-x25519"), PROPOSAL_IKE,
			    &c->ike, &errs) == 0,
	     "--ike");
	need(proposal_parse(opt(argc, argv, "--esp", "aes128gcm16-noesn"), PROPOSAL_ESP, &c->esp,
			    &errs) == 0,
	     "--esp");
	need(prefix_parse(initiator ? "10.1.0.0/24" : "10.2.0.0/24", &c->local_ts[0], &host) == 0,
	     "local ts");
	need(prefix_parse(initiator ? "10.2.0.0/24" : "10.1.0.0/24", &c->remote_ts[0], &host) == 0,
	     "remote ts");
	c->n_local_ts = c->n_remote_ts = 1;
	need(ip_addr_parse(opt(argc, argv, "--local", ""), &c->local.addr) == 0, "--local");
	c->local.port = IKE_SA_PORT;
	if (initiator) {
		need(ip_addr_parse(opt(argc, argv, "--remote", ""), &c->remote.addr) == 0,
		     "--remote");
		c->remote.port = IKE_SA_PORT;
	}
	c->initiate = initiator;
	c->ike_lifetime_s = 3600;
	c->child_lifetime_s = 1200;
	c->auth = IKE_PEER_AUTH_CERT;
	load_identity(opt(argc, argv, "--dir", "."), c);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int run(int argc, char **argv, bool initiator)
{
	struct bench b = {.initiator = initiator};
	struct ike_peer_config c;
	/* Deleted SAs need not linger long on a lossless loopback; a responder without cookies
	 * and with room for every in-flight handshake measures the handshake, not the DoS
	 * defences. */
	struct ike_engine_config ec = {
		.linger_ms = 2000, .half_open_cookie_limit = 1 << 20, .half_open_max = 1 << 20};
	struct ike_env env = {.now_ms = now_ms,
			      .random = rnd,
			      .send = send_cb,
			      .child_up = child_cb,
			      .event = event_cb,
			      .ctx = &b};
	unsigned seconds = (unsigned)atoi(opt(argc, argv, "--seconds", "10"));
	uint64_t concurrency = (uint64_t)atoi(opt(argc, argv, "--concurrency", "32"));

	need(concurrency >= 1 && concurrency <= sizeof(b.to_delete) / sizeof(b.to_delete[0]),
	     "--concurrency (1..1024)");
	log_configure(LOG_LEVEL_WARN, LOG_FORMAT_TEXT, stderr);
	peer_config(argc, argv, initiator, &c);
	b.local = c.local.addr;
	b.fd[0] = udp_bind(&b.local, IKE_SA_PORT);
	b.fd[1] = udp_bind(&b.local, IKE_NATT_PORT);
	need(ike_engine_new(&env, &ec, &b.eng) == 0, "engine");
	need(ike_engine_add_peer(b.eng, &c) == 0, "peer configuration");
	EVP_PKEY_free(c.key);
	X509_free(c.cert);
	X509_free(c.ca);

	if (initiator) {
		uint64_t give_up = now_ms(NULL) + 5000;
		need(ike_sa_initiate(b.eng, "bench", NULL) == 0, "initiate");
		b.in_flight++;
		while (!b.anchor && !b.failed && now_ms(NULL) < give_up)
			poll_once(&b, 10);
		need(b.anchor != 0, "anchor IKE SA (is the responder up?)");
		b.established = b.children = 0;
	}
	double cpu0 = cpu_seconds();
	uint64_t t0 = now_ms(NULL), end = t0 + 1000ull * seconds;
	if (initiator) {
		while (now_ms(NULL) < end) {
			while (b.in_flight < concurrency) {
				need(ike_sa_initiate(b.eng, "bench", NULL) == 0, "initiate");
				b.in_flight++;
			}
			poll_once(&b, 10);
		}
	} else {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		while (!stop_requested)
			poll_once(&b, 100);
	}
	double wall = (double)(now_ms(NULL) - t0) / 1000.0, cpu = cpu_seconds() - cpu0;
	uint64_t done = b.established;
	printf("%s handshakes=%llu failed=%llu seconds=%.2f rate=%.0f/s cpu_s=%.2f "
	       "cpu_ms_per_handshake=%.3f\n",
	       initiator ? "initiator" : "responder", (unsigned long long)done,
	       (unsigned long long)b.failed, wall, (double)done / wall, cpu,
	       done ? cpu * 1000.0 / (double)done : 0.0);
	fflush(stdout);
	ike_engine_free(b.eng);
	close(b.fd[0]);
	close(b.fd[1]);
	return done ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "initiate") == 0)
		return run(argc, argv, true);
	if (argc >= 2 && strcmp(argv[1], "respond") == 0)
		return run(argc, argv, false);
	fprintf(stderr, "usage: bench-ike initiate --local A --remote B --dir DIR [--seconds N] "
			"[--concurrency N]\n"
			"       bench-ike respond --local A --dir DIR\n");
	return 2;
}
