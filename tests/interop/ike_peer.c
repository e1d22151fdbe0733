/*
 * ike-peer: the IKE engine (edge/ike) alone on real UDP sockets, for interoperability scenarios
 * against strongSwan (tests/integration/ike_strongswan.sh). It brings up one IKE SA with its
 * first Child SA, as initiator or responder, prints one JSON line describing it and exits:
 * 0 when established with a Child SA, 1 on failure or timeout. No data plane is involved.
 *
 *   ike-peer pki DIR WAN SITE... [--key-type ecdsa-p256|ecdsa-p384|ed25519|rsa]
 *       a WAN CA (controller/ca.h) and one key and certificate per site, as PEM in DIR:
 *       ca.pem, SITE.key, SITE.pem
 *   ike-peer run --local ADDR --remote ADDR --id SITE --remote-id SITE --dir DIR
 *       [--initiate] [--fragment-size N] [--force-encap] [--local-ts PFX] [--remote-ts PFX]
 *       [--ike PROPOSAL] [--esp PROPOSAL] [--timeout SECONDS]
 *
 * Sockets: UDP port 500 and 4500 on --local. On 4500 the non-ESP marker is added to what the
 * engine sends (ike_send_needs_marker()) and removed from what arrives; keepalives and ESP that
 * arrive there are ignored. Test tool: exits on the first unexpected error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/log.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "common/x509id.h"
#include "controller/ca.h"
#include "edge/ike/ike_sa.h"

enum {
	BUF_MAX = 65536,
	MARKER_LEN = 4,
};

struct peer {
	int fd500, fd4500;
	struct ike_engine *eng;
	bool up, failed, child;
	char reason[1024];
};

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

static void sin_of(const struct ike_endpoint *ep, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(ep->port);
	memcpy(&sin->sin_addr, ep->addr.bytes, 4);
}

static int send_cb(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		   const uint8_t *msg, size_t len)
{
	struct peer *p = ctx;
	static uint8_t buf[BUF_MAX + MARKER_LEN];
	struct sockaddr_in to;
	size_t off = 0;

	if (len > BUF_MAX)
		return -EMSGSIZE;
	if (ike_send_needs_marker(local, remote, msg, len)) {
		memset(buf, 0, MARKER_LEN);
		off = MARKER_LEN;
	}
	memcpy(buf + off, msg, len);
	sin_of(remote, &to);
	int fd = local->port == IKE_NATT_PORT ? p->fd4500 : p->fd500;
	if (sendto(fd, buf, off + len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

static void child_cb(void *ctx, const struct ike_child_keys *k)
{
	struct peer *p = ctx;

	(void)k;
	p->child = true;
}

static void event_cb(void *ctx, const struct ike_event *ev)
{
	struct peer *p = ctx;

	if (ev->type == IKE_EVENT_ESTABLISHED)
		p->up = true;
	if (ev->type == IKE_EVENT_FAILED || ev->type == IKE_EVENT_CHILD_FAILED) {
		p->failed = true;
		snprintf(p->reason, sizeof(p->reason), "%s", ev->reason);
	}
}

static int udp_bind(const struct ip_addr *a, uint16_t port)
{
	struct ike_endpoint ep = {.addr = *a, .port = port};
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin_of(&ep, &sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("bind");
		exit(2);
	}
	return fd;
}

/* One datagram from fd (port `port` of local) into the engine. */
static void receive(struct peer *p, int fd, const struct ip_addr *local, uint16_t port)
{
	static uint8_t buf[BUF_MAX];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	struct ike_endpoint src = {.port = ntohs(from.sin_port)};
	struct ike_endpoint dst = {.addr = *local, .port = port};
	size_t off = 0;

	if (n <= 0)
		return;
	src.addr.family = IP_V4;
	memcpy(src.addr.bytes, &from.sin_addr, 4);
	if (port == IKE_NATT_PORT) {
		static const uint8_t marker[MARKER_LEN];
		if (n < MARKER_LEN || memcmp(buf, marker, MARKER_LEN) != 0)
			return; /* a keepalive or ESP: not IKE */
		off = MARKER_LEN;
	}
	ike_input(p->eng, buf + off, (size_t)n - off, &src, &dst);
}

static EVP_PKEY *load_key(const char *dir, const char *site)
{
	char path[512];
	EVP_PKEY *k = NULL;

	snprintf(path, sizeof(path), "%s/%s.key", dir, site);
	if (x509id_key_load(path, &k) != 0) {
		fprintf(stderr, "cannot load %s\n", path);
		exit(2);
	}
	return k;
}

static X509 *load_cert(const char *dir, const char *name)
{
	char path[512];
	X509 *c = NULL;

	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (x509id_cert_load(path, &c) != 0) {
		fprintf(stderr, "cannot load %s\n", path);
		exit(2);
	}
	return c;
}

static int cmd_pki(int argc, char **argv)
{
	const char *dir = argv[2], *wan = argv[3], *kt = "ecdsa-p256";
	struct ca *ca = NULL;
	char path[512], reason[CA_REASON_LEN];

	for (int i = 4; i < argc - 1; i++)
		if (strcmp(argv[i], "--key-type") == 0)
			kt = argv[i + 1];
	struct ca_params cp = {.wan = wan};
	if (ca_create(&cp, &ca) != 0)
		return 2;
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if (x509id_cert_save(ca_cert(ca), path) != 0)
		return 2;
	for (int i = 4; i < argc; i++) {
		EVP_PKEY *key = NULL;
		X509_REQ *csr = NULL;
		X509 *cert = NULL;
		enum x509id_key_type t;
		if (strcmp(argv[i], "--key-type") == 0) {
			i++;
			continue;
		}
		if (strcmp(kt, "rsa") == 0)
			key = EVP_RSA_gen(2048);
		else if (x509id_key_type_parse(kt, &t) != 0 || x509id_key_generate(t, &key) != 0)
			return 2;
		struct ca_issue issue = {.site = argv[i]};
		if (!key || x509id_csr_create(key, argv[i], &csr) != 0 ||
		    ca_sign_csr(ca, csr, &issue, &cert, reason, sizeof(reason)) != 0) {
			fprintf(stderr, "issue %s: %s\n", argv[i], reason);
			return 2;
		}
		snprintf(path, sizeof(path), "%s/%s.key", dir, argv[i]);
		if (x509id_key_save(key, path) != 0)
			return 2;
		snprintf(path, sizeof(path), "%s/%s.pem", dir, argv[i]);
		if (x509id_cert_save(cert, path) != 0)
			return 2;
		EVP_PKEY_free(key);
		X509_REQ_free(csr);
		X509_free(cert);
	}
	ca_free(ca);
	return 0;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i < argc - 1; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static bool flag(int argc, char **argv, const char *name)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

static void parse_or_die(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "bad %s\n", what);
		exit(2);
	}
}

static void config(int argc, char **argv, struct ike_peer_config *c)
{
	const char *dir = arg(argc, argv, "--dir", ".");
	struct proposal_errors errs;
	bool host;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "interop");
	snprintf(c->local_id, sizeof(c->local_id), "%s", arg(argc, argv, "--id", "site-a"));
	snprintf(c->remote_id, sizeof(c->remote_id), "%s",
		 arg(argc, argv, "--remote-id", "site-b"));
	parse_or_die(proposal_parse(arg(argc, argv, "--ike", "aes256gcm16-prfsha256-x25519"),
				    PROPOSAL_IKE, &c->ike, &errs) == 0,
		     "--ike");
	parse_or_die(proposal_parse(arg(argc, argv, "--esp", "aes256gcm16"), PROPOSAL_ESP, &c->esp,
				    &errs) == 0,
		     "--esp");
	parse_or_die(prefix_parse(arg(argc, argv, "--local-ts", "10.1.0.0/24"), &c->local_ts[0],
				  &host) == 0,
		     "--local-ts");
	parse_or_die(prefix_parse(arg(argc, argv, "--remote-ts", "10.2.0.0/24"), &c->remote_ts[0],
				  &host) == 0,
		     "--remote-ts");
	c->n_local_ts = c->n_remote_ts = 1;
	parse_or_die(ip_addr_parse(arg(argc, argv, "--local", ""), &c->local.addr) == 0, "--local");
	parse_or_die(ip_addr_parse(arg(argc, argv, "--remote", ""), &c->remote.addr) == 0,
		     "--remote");
	c->local.port = c->remote.port = IKE_SA_PORT;
	c->initiate = flag(argc, argv, "--initiate");
	c->force_encap = flag(argc, argv, "--force-encap");
	c->ike_lifetime_s = 3600;
	c->child_lifetime_s = 1200;
	c->auth = IKE_PEER_AUTH_CERT;
	c->key = load_key(dir, c->local_id);
	c->cert = load_cert(dir, c->local_id);
	c->ca = load_cert(dir, "ca");
}

static int cmd_run(int argc, char **argv)
{
	struct peer p = {0};
	struct ike_peer_config c;
	struct ike_engine_config ec = {
		.fragment_size = (uint32_t)atoi(arg(argc, argv, "--fragment-size", "0"))};
	struct ike_env env = {.now_ms = now_ms,
			      .random = rnd,
			      .send = send_cb,
			      .child_up = child_cb,
			      .event = event_cb,
			      .ctx = &p};
	uint64_t deadline =
		now_ms(NULL) + 1000 * (uint64_t)atoi(arg(argc, argv, "--timeout", "15"));

	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, stderr);
	config(argc, argv, &c);
	p.fd500 = udp_bind(&c.local.addr, IKE_SA_PORT);
	p.fd4500 = udp_bind(&c.local.addr, IKE_NATT_PORT);
	if (ike_engine_new(&env, &ec, &p.eng) != 0 || ike_engine_add_peer(p.eng, &c) != 0)
		return 2;
	EVP_PKEY_free(c.key);
	X509_free(c.cert);
	X509_free(c.ca);
	if (c.initiate && ike_sa_initiate(p.eng, "interop", NULL) != 0)
		return 2;
	while (!(p.up && p.child) && !p.failed && now_ms(NULL) < deadline) {
		struct pollfd fds[2] = {{.fd = p.fd500, .events = POLLIN},
					{.fd = p.fd4500, .events = POLLIN}};
		uint64_t next = ike_next_timer_ms(p.eng), now = now_ms(NULL);
		int wait = next <= now ? 0 : next - now > 100 ? 100 : (int)(next - now);
		if (poll(fds, 2, wait) > 0) {
			if (fds[0].revents & POLLIN)
				receive(&p, p.fd500, &c.local.addr, IKE_SA_PORT);
			if (fds[1].revents & POLLIN)
				receive(&p, p.fd4500, &c.local.addr, IKE_NATT_PORT);
		}
		ike_tick(p.eng);
	}
	/* Linger a little so the peer's retransmissions of our last answer are served. */
	for (uint64_t end = now_ms(NULL) + 500; now_ms(NULL) < end;) {
		struct pollfd fds[2] = {{.fd = p.fd500, .events = POLLIN},
					{.fd = p.fd4500, .events = POLLIN}};
		if (poll(fds, 2, 50) > 0) {
			if (fds[0].revents & POLLIN)
				receive(&p, p.fd500, &c.local.addr, IKE_SA_PORT);
			if (fds[1].revents & POLLIN)
				receive(&p, p.fd4500, &c.local.addr, IKE_NATT_PORT);
		}
	}
	struct ike_sa_info info = {0};
	int have = ike_engine_sa_at(p.eng, 0, &info);
	const struct ike_stats *st = ike_engine_stats(p.eng);
	bool ok = p.up && p.child && !p.failed;
	printf("{\"established\":%s,\"child\":%s,\"cert_auth\":%s,\"peer_site\":\"%s\","
	       "\"natt\":%s,\"nat_remote\":%s,\"nat_local\":%s,\"keepalives\":%s,"
	       "\"local_port\":%u,\"remote_port\":%u,"
	       "\"frag_tx_messages\":%llu,\"frag_tx\":%llu,\"frag_rx\":%llu,\"reassembled\":%llu,"
	       "\"reason\":\"%s\"}\n",
	       p.up ? "true" : "false", p.child ? "true" : "false",
	       have == 0 && info.cert_auth ? "true" : "false", have == 0 ? info.peer_site : "",
	       have == 0 && info.natt ? "true" : "false",
	       have == 0 && info.nat_remote ? "true" : "false",
	       have == 0 && info.nat_local ? "true" : "false",
	       have == 0 && info.keepalives ? "true" : "false", (unsigned)info.local.port,
	       (unsigned)info.remote.port, (unsigned long long)st->frag.tx_messages,
	       (unsigned long long)st->frag.tx_fragments, (unsigned long long)st->frag.rx_fragments,
	       (unsigned long long)st->frag.reassembled, p.failed ? "see log" : "");
	if (p.failed)
		fprintf(stderr, "failure: %s\n", p.reason);
	ike_engine_free(p.eng);
	close(p.fd500);
	close(p.fd4500);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "pki") == 0)
		return cmd_pki(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	fprintf(stderr, "usage: ike-peer pki DIR WAN SITE... | ike-peer run --local ADDR ...\n");
	return 2;
}
