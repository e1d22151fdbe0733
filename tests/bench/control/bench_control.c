/*
 * bench-control: N simulated edges (one process, one DEALER per edge) enroll with a real
 * sdwan-controller and acknowledge their configuration; then one site's configuration changes
 * and the time until that edge has it and acknowledged it is measured.
 *
 *   bench-control [N] [--controller PATH] [--window W] [--workers P]
 *
 * N edges = 2 hubs + (N - 2) spokes of a hub-and-spoke WAN (every spoke dual-homed), simulated
 * by P processes (default: one per 5,000 edges), each with its slice of the edges. The
 * controller runs as a child process on 127.0.0.1 with a fresh state directory; its tokens are
 * created through the controller's own token module before it starts (one transaction), the
 * edges' CURVE keys, ECDSA keys and CSRs before the clock starts (edge-side work, reported
 * separately). Figures printed: enrollment + convergence wall time, controller peak RSS
 * (VmHWM) and CPU time, and the one-site change latency (apply sent -> config received ->
 * ack sent), the median of several changes made one second apart while every edge keeps
 * reporting health.
 *
 * Targets (issue 3): 10,000 edges in < 60 s, peak RSS < 512 MiB, one-site change < 100 ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/ctl_msg.h"
#include "common/log.h"
#include "common/x509id.h"
#include "common/zcurve.h"
#include "controller/admin.h"
#include "controller/store.h"
#include "controller/token.h"

/* Seconds between health reports: the controller's default, which it tells real edges. */
enum {
	HEALTH_INTERVAL_S = 2
};

#define CTL_EP    "tcp://127.0.0.1:27800"
#define ENROLL_EP "tcp://127.0.0.1:27801"

enum edge_state {
	E_IDLE,
	E_ENROLLING,
	E_WAITING, /* connected, waiting for its config */
	E_DONE,
};

struct edge {
	enum edge_state state;
	void *sock;
	struct zcurve_keypair kp;
	uint8_t *csr;
	size_t csr_len;
	char token[TOKEN_LINE_MAX];
	char site[32];
	uint64_t applied;
	double next_health; /* when this edge sends its next health report */
};

struct text {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + 4096;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			exit(1);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The WAN: hubs h0, h1; spokes s<i>; spoke `changed` gets hold-down `hold`. */
static struct text topology(unsigned n, unsigned changed, unsigned hold)
{
	struct text t = {malloc(4096), 0, 4096};
	put(&t, "wan: bench\ncontroller: {endpoint: \"%s\"}\ntype: hub-and-spoke\nsites:\n",
	    CTL_EP);
	for (unsigned i = 0; i < n; i++) {
		bool hub = i < 2;
		put(&t, "  - name: %s%u\n    role: %s\n", hub ? "h" : "s", hub ? i : i - 2,
		    hub ? "hub" : "spoke");
		put(&t, "    underlay: [{name: inet, address: 100.%u.%u.%u}]\n", 64 + (i >> 16),
		    (i >> 8) & 255, i & 255);
		put(&t, "    subnets: [10.%u.%u.0/24]\n", i >> 8, i & 255);
		if (!hub)
			put(&t, "    hubs: [h%u, h%u]\n", i & 1, !(i & 1));
		if (i == changed)
			put(&t, "    hold-down: %us\n", hold);
	}
	return t;
}

static void write_text(const char *path, const struct text *t)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(t->s, 1, t->len, f) != t->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static pid_t start_controller(const char *bin, const char *dir, const char *topo)
{
	char state[512], log[512];
	(void)snprintf(state, sizeof(state), "%s/st", dir);
	(void)snprintf(log, sizeof(log), "%s/controller.log", dir);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "a", stderr);
		(void)f;
		execl(bin, bin, "--topology", topo, "--state", state, "--listen", CTL_EP,
		      "--enroll-rate", "1000000", "--enroll-burst", "1000000", "--log-level",
		      "notice", (char *)NULL);
		_exit(127);
	}
	char sock[600];
	(void)snprintf(sock, sizeof(sock), "%s/admin.sock", state);
	for (int i = 0; i < 600; i++) {
		struct stat sb;
		if (stat(sock, &sb) == 0)
			return pid;
		usleep(50000);
	}
	fprintf(stderr, "bench-control: controller did not start (see %s)\n", log);
	exit(1);
}

static void stop_controller(pid_t pid, long *hwm_kib, double *cpu_s)
{
	char path[64], line[256];
	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	kill(pid, SIGTERM);
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) == pid)
		*cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int send_env(void *s, Sdwan__Envelope *env)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ctl_msg_encode_alloc(env, &buf, &len);
	if (rc == 0 && zmq_send(s, buf, len, ZMQ_DONTWAIT) < 0)
		rc = -errno;
	ctl_msg_buf_free(buf, len);
	return rc;
}

/* A bump allocator for decoding: a simulated edge only reads a config's generation, and a
 * spoke's config carries the whole WAN's prefix table (two submessages per site). Decoding it
 * through malloc made the simulator, which shares the two cores with the controller, the larger
 * consumer of CPU; a real edge decodes one config, not thousands. Blocks are kept across
 * messages and reused. */
struct bump {
	uint8_t *block;
	size_t size, used;
	size_t peak; /* bytes the largest message needed */
};

static void *bump_alloc(void *data, size_t size)
{
	struct bump *b = data;
	size = (size + 15) & ~(size_t)15;
	if (b->used + size > b->size) {
		/* Too small for this message: remember how much it needed; decode again. */
		b->peak = b->used + size;
		return NULL;
	}
	void *p = b->block + b->used;
	b->used += size;
	return p;
}

static void bump_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

static Sdwan__Envelope *decode(struct bump *b, const uint8_t *buf, size_t len)
{
	ProtobufCAllocator a = {.alloc = bump_alloc, .free = bump_free, .allocator_data = b};
	for (int attempt = 0; attempt < 8; attempt++) {
		b->used = 0;
		b->peak = 0;
		Sdwan__Envelope *env = sdwan__envelope__unpack(&a, len, buf);
		if (env || !b->peak)
			return env;
		size_t want = b->size ? b->size : 1 << 20;
		while (want < b->peak * 2)
			want *= 2;
		free(b->block);
		b->block = malloc(want);
		b->size = b->block ? want : 0;
		if (!b->block)
			exit(1);
	}
	return NULL;
}

/* One simulator process: its ZeroMQ context, the controller's key, and an epoll set of its
 * sockets' ZMQ_FDs, so that a pass touches the sockets that have something, not all of them. */
struct sim {
	void *ctx;
	const uint8_t *server;
	int epfd;
	struct bump bump;
	unsigned enrolled;  /* edges that got their certificate */
	unsigned converged; /* edges that acked their first config */
};

static void *dealer(struct sim *sim, struct edge *e, const char *ep)
{
	void *s = zmq_socket(sim->ctx, ZMQ_DEALER);
	int zero = 0, fd = -1;
	size_t fd_len = sizeof(fd);
	if (!s || zcurve_client_setup(s, &e->kp, sim->server) != 0)
		exit(1);
	(void)zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(s, ep) != 0 || zmq_getsockopt(s, ZMQ_FD, &fd, &fd_len) != 0)
		exit(1);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
	if (epoll_ctl(sim->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		exit(1);
	return s;
}

static void sim_close(struct sim *sim, struct edge *e)
{
	int fd = -1;
	size_t fd_len = sizeof(fd);
	if (zmq_getsockopt(e->sock, ZMQ_FD, &fd, &fd_len) == 0)
		(void)epoll_ctl(sim->epfd, EPOLL_CTL_DEL, fd, NULL);
	zmq_close(e->sock);
	e->sock = NULL;
}

static bool readable(void *sock)
{
	int events = 0;
	size_t len = sizeof(events);
	return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

static void send_health(struct edge *e)
{
	Sdwan__HealthReport h = SDWAN__HEALTH_REPORT__INIT;
	h.software_version = (char *)"bench";
	h.features = CTL_FEATURES_EDGE;
	h.generation_applied = e->applied;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.body_case = SDWAN__ENVELOPE__BODY_HEALTH;
	env.health = &h;
	(void)send_env(e->sock, &env);
}

static void send_enroll(struct edge *e)
{
	Sdwan__EnrollRequest rq = SDWAN__ENROLL_REQUEST__INIT;
	rq.token = e->token;
	rq.csr_der.data = e->csr;
	rq.csr_der.len = e->csr_len;
	rq.curve_public_key.data = e->kp.public_key;
	rq.curve_public_key.len = 32;
	rq.software_version = (char *)"bench";
	rq.features = CTL_FEATURES_EDGE;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 1);
	env.body_case = SDWAN__ENVELOPE__BODY_ENROLL_REQUEST;
	env.enroll_request = &rq;
	(void)send_env(e->sock, &env);
}

/* Handle one received message of e. */
static void on_message(struct sim *sim, struct edge *e)
{
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, e->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return;
	}
	Sdwan__Envelope *env = decode(&sim->bump, zmq_msg_data(&m), zmq_msg_size(&m));
	zmq_msg_close(&m);
	if (!env || env->version != CTL_PROTO_VERSION) {
		fprintf(stderr, "bench-control: %s got a message that does not decode\n", e->site);
		exit(1);
	}
	if (e->state == E_ENROLLING && env->body_case == SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE) {
		if (env->enroll_response->status != SDWAN__CERT_STATUS__CERT_STATUS_OK) {
			fprintf(stderr, "bench-control: enrollment of %s refused: %s\n", e->site,
				env->enroll_response->error_reason);
			exit(1);
		}
		sim_close(sim, e);
		e->sock = dealer(sim, e, CTL_EP);
		e->state = E_WAITING;
		sim->enrolled++;
		send_health(e);
		e->next_health = now_s() + HEALTH_INTERVAL_S;
	} else if (env->body_case == SDWAN__ENVELOPE__BODY_CONFIG) {
		Sdwan__ConfigAck ack = SDWAN__CONFIG_ACK__INIT;
		ack.generation = env->config->generation;
		Sdwan__Envelope out;
		ctl_msg_envelope_init(&out, 0);
		out.body_case = SDWAN__ENVELOPE__BODY_CONFIG_ACK;
		out.config_ack = &ack;
		(void)send_env(e->sock, &out);
		if (!e->applied) /* generations start at 1 */
			sim->converged++;
		e->applied = env->config->generation;
		e->state = E_DONE;
	}
}

/* Read everything e has (ZMQ_FD only signals a change: drain until ZMQ_EVENTS says no more). */
static void drain(struct sim *sim, struct edge *e)
{
	while (e->sock && readable(e->sock))
		on_message(sim, e);
}

/* Health every 2 s from every edge on the control channel, as real edges send it from the
 * moment they connect (the controller counts an edge silent for three intervals as gone, also
 * one still waiting for its first config). Each edge keeps its own phase, as real ones do: all
 * of a process's edges reporting in the same instant would be a burst no WAN produces. A send
 * can consume the ZMQ_FD signal of a message that arrived meanwhile, so the socket is drained
 * after it. */
static void health_tick(struct sim *sim, struct edge *edges, unsigned n)
{
	double now = now_s();
	for (unsigned i = 0; i < n; i++) {
		struct edge *e = &edges[i];
		if ((e->state != E_WAITING && e->state != E_DONE) || e->next_health > now)
			continue;
		send_health(e);
		e->next_health = now + HEALTH_INTERVAL_S;
		drain(sim, e);
	}
}

/* Make every edge's keys and CSR (edge-side work, not timed as convergence). */
static void make_keys(struct edge *edges, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct edge *e = &edges[i];
		EVP_PKEY *key = NULL;
		X509_REQ *req = NULL;
		if (zcurve_keypair_generate(&e->kp) != 0 ||
		    x509id_key_generate(X509ID_KEY_P256, &key) != 0 ||
		    x509id_csr_create(key, i < 2 ? "h" : "s", &req) != 0 ||
		    x509id_csr_encode(req, X509ID_DER, &e->csr, &e->csr_len) != 0)
			exit(1);
		X509_REQ_free(req);
		EVP_PKEY_free(key);
		(void)snprintf(e->site, sizeof(e->site), "%s%u", i < 2 ? "h" : "s",
			       i < 2 ? i : i - 2);
	}
}

/* Tokens through the controller's own token module, in one transaction. */
static void make_tokens(const char *dir, struct edge *edges, unsigned n, uint8_t server[32])
{
	char path[600];
	(void)snprintf(path, sizeof(path), "%s/st/controller.key", dir);
	struct zcurve_keypair ck;
	if (zcurve_secret_load(path, &ck) != 0)
		exit(1);
	memcpy(server, ck.public_key, 32);
	zcurve_keypair_clear(&ck);
	(void)snprintf(path, sizeof(path), "%s/st", dir);
	struct store *st = NULL;
	if (store_new(path, NULL, &st) != 0 || store_tx_begin(st) != 0)
		exit(1);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000;
	for (unsigned i = 0; i < n; i++)
		if (token_create(st, edges[i].site, 3600000, now, server, edges[i].token) != 0)
			exit(1);
	if (store_tx_commit(st) != 0)
		exit(1);
	store_free(st);
}

static unsigned converge(struct sim *sim, struct edge *edges, unsigned n, unsigned window,
			 double deadline)
{
	unsigned next = 0;
	struct epoll_event evs[256];
	while (sim->converged < n && now_s() < deadline) {
		health_tick(sim, edges, n);
		while (next < n && next - sim->enrolled < window) {
			struct edge *e = &edges[next++];
			e->sock = dealer(sim, e, ENROLL_EP);
			e->state = E_ENROLLING;
			send_enroll(e);
			drain(sim, e);
		}
		int k = epoll_wait(sim->epfd, evs, 256, 100);
		for (int j = 0; j < k; j++)
			drain(sim, evs[j].data.ptr);
	}
	return sim->converged;
}

/* edges[0..n_local) are this process's edges (they keep sending health); n is the WAN's size. */
static double one_change(struct sim *sim, struct edge *edges, unsigned n_local, struct edge *e,
			 const char *dir, unsigned n, unsigned hold)
{
	struct text t = topology(n, 2, hold);
	char sock[600];
	(void)snprintf(sock, sizeof(sock), "%s/st/admin.sock", dir);
	int fd = admin_client_connect(sock);
	if (fd < 0)
		exit(1);
	Sdwan__Admin__ApplyRequest ar = SDWAN__ADMIN__APPLY_REQUEST__INIT;
	ar.topology.data = (uint8_t *)t.s;
	ar.topology.len = t.len;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_APPLY;
	rq.apply = &ar;
	Sdwan__Admin__AdminResponse *r = NULL;
	e->state = E_WAITING;
	double t0 = now_s();
	if (admin_client_call(fd, &rq, 60000, &r) != 0 || !r->ok) {
		fprintf(stderr, "bench-control: apply failed: %s\n", r ? r->error : "no answer");
		exit(1);
	}
	uint32_t updated = r->apply->sites_updated;
	sdwan__admin__admin_response__free_unpacked(r, NULL);
	close(fd);
	free(t.s);
	while (e->state != E_DONE && now_s() - t0 < 10) {
		health_tick(sim, edges, n_local);
		zmq_pollitem_t it = {.socket = e->sock, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 10) > 0)
			drain(sim, e);
	}
	double dt = now_s() - t0;
	if (updated != 1)
		fprintf(stderr, "bench-control: the change updated %" PRIu32 " sites, not 1\n",
			updated);
	return e->state == E_DONE ? dt : -1;
}

/* sdwanctl backup at this scale: how long the admin request takes (the controller's loop is
 * busy for that long) and how big the copy is. Returns seconds, or -1. */
static double timed_backup(const char *dir, uint64_t *bytes)
{
	char sock[600], out[600];
	(void)snprintf(sock, sizeof(sock), "%s/st/admin.sock", dir);
	(void)snprintf(out, sizeof(out), "%s/backup", dir);
	int fd = admin_client_connect(sock);
	if (fd < 0)
		return -1;
	Sdwan__Admin__BackupRequest br = SDWAN__ADMIN__BACKUP_REQUEST__INIT;
	br.dir = out;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_BACKUP;
	rq.backup = &br;
	Sdwan__Admin__AdminResponse *r = NULL;
	double t0 = now_s();
	int rc = admin_client_call(fd, &rq, 60000, &r);
	double dt = now_s() - t0;
	close(fd);
	bool ok = rc == 0 && r->ok && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_BACKUP;
	if (ok)
		*bytes = r->backup->db_bytes;
	else
		fprintf(stderr, "bench-control: backup failed: %s\n", r ? r->error : "no answer");
	if (r)
		sdwan__admin__admin_response__free_unpacked(r, NULL);
	return ok ? dt : -1;
}

/* At most this many edges per simulator process by default: two descriptors per DEALER, under
 * the machine's hard limit of 20,000 with room for the enrollment sockets. */
enum {
	EDGES_PER_WORKER = 5000,
	MAX_WORKERS = 16,
	CHANGE_SPACING_MS = 1000, /* between the measured changes */
};

struct worker {
	pid_t pid;
	int cmd;    /* parent -> worker: 'c' + hold (run one change), 'q' (quit) */
	int report; /* worker -> parent: edges converged, then one double per change */
};

static void read_all(int fd, void *buf, size_t len)
{
	if (read(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "bench-control: a simulator process died\n");
		exit(1);
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(1);
}

/* The worker's life: converge its slice, report, then keep its edges alive (health) and run
 * changes on command until told to quit. */
static void worker_main(struct edge *all, unsigned lo, unsigned hi, unsigned window,
			const uint8_t server[static 32], const char *dir, unsigned n, int cmd,
			int report)
{
	struct edge *edges = all + lo;
	unsigned count = hi - lo;
	struct sim sim = {.ctx = zmq_ctx_new(), .server = server, .epfd = epoll_create1(0)};
	if (!sim.ctx || sim.epfd < 0)
		_exit(1);
	zmq_ctx_set(sim.ctx, ZMQ_MAX_SOCKETS, (int)count * 2 + 64);
	zmq_ctx_set(sim.ctx, ZMQ_IO_THREADS, 1);
	unsigned done = converge(&sim, edges, count, window, now_s() + 300);
	write_all(report, &done, sizeof(done));
	for (;;) {
		health_tick(&sim, edges, count);
		struct pollfd p = {.fd = cmd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		char c;
		unsigned hold;
		if (read(cmd, &c, 1) != 1 || c != 'c')
			break;
		if (read(cmd, &hold, sizeof(hold)) != (ssize_t)sizeof(hold))
			break;
		double d = lo <= 2 && 2 < hi ? one_change(&sim, edges, count, &all[2], dir, n, hold)
					     : -1;
		write_all(report, &d, sizeof(d));
	}
	for (unsigned i = 0; i < count; i++)
		if (edges[i].sock)
			sim_close(&sim, &edges[i]);
	zmq_ctx_term(sim.ctx);
	free(sim.bump.block);
	_exit(0);
}

static void worker_start(struct worker *w, struct edge *all, unsigned lo, unsigned hi,
			 unsigned window, const uint8_t server[static 32], const char *dir,
			 unsigned n)
{
	int to_worker[2], to_parent[2];
	if (pipe(to_worker) != 0 || pipe(to_parent) != 0)
		exit(1);
	w->pid = fork();
	if (w->pid < 0)
		exit(1);
	if (w->pid == 0) {
		close(to_worker[1]);
		close(to_parent[0]);
		worker_main(all, lo, hi, window, server, dir, n, to_worker[0], to_parent[1]);
	}
	close(to_worker[0]);
	close(to_parent[1]);
	w->cmd = to_worker[1];
	w->report = to_parent[0];
}

static unsigned worker_converged(struct worker *w)
{
	unsigned done;
	read_all(w->report, &done, sizeof(done));
	return done;
}

static double worker_change(struct worker *w, unsigned hold)
{
	char c = 'c';
	double d;
	if (write(w->cmd, &c, 1) != 1 ||
	    write(w->cmd, &hold, sizeof(hold)) != (ssize_t)sizeof(hold))
		exit(1);
	read_all(w->report, &d, sizeof(d));
	return d;
}

static void worker_stop(struct worker *w)
{
	char c = 'q';
	(void)!write(w->cmd, &c, 1);
	close(w->cmd);
	close(w->report);
	int st;
	(void)waitpid(w->pid, &st, 0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned n = 1000, window = 256, workers = 0;
	const char *bin = "build/bin/sdwan-controller";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--controller") == 0 && i + 1 < argc)
			bin = argv[++i];
		else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
			window = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			n = (unsigned)strtoul(argv[i], NULL, 10);
	}
	if (workers == 0)
		workers = (n + EDGES_PER_WORKER - 1) / EDGES_PER_WORKER;
	if (n < 3 || n > 60000 || workers > MAX_WORKERS || workers > n / 3) {
		fprintf(stderr,
			"usage: bench-control [N >= 3] [--controller PATH] [--window W] "
			"[--workers 1..%d]\n",
			MAX_WORKERS);
		return 2;
	}
	log_configure(LOG_LEVEL_ERR, LOG_FORMAT_TEXT, NULL);
	/* The simulator receives thousands of configs of a few hundred KiB: with glibc's default
	 * (dynamic) thresholds each buffer is mapped and unmapped again, and every unmap costs a
	 * TLB shootdown across the cores it shares with the controller. Fixed thresholds keep the
	 * buffers in the heap. The controller runs with its own, default, settings. */
	(void)mallopt(M_MMAP_THRESHOLD, 8 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	char dir[] = "/tmp/bench-control.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char topo[600];
	(void)snprintf(topo, sizeof(topo), "%s/wan.yaml", dir);
	struct text t = topology(n, 2, 10);
	write_text(topo, &t);
	free(t.s);

	struct edge *edges = calloc(n, sizeof(*edges));
	double t0 = now_s();
	make_keys(edges, n);
	double t_keys = now_s() - t0;
	/* First start creates the controller key and CA; tokens are then added beside it. */
	pid_t pid = start_controller(bin, dir, topo);
	long hwm = 0;
	double cpu = 0;
	stop_controller(pid, &hwm, &cpu);
	uint8_t server[32];
	make_tokens(dir, edges, n, server);

	double t_start0 = now_s();
	pid = start_controller(bin, dir, topo);
	double t_start = now_s() - t_start0;
	/* Simulator workers: one process per slice of edges, each with its own ZeroMQ context, so
	 * that no process needs more descriptors than the limit (two per DEALER) and the simulated
	 * edges use both cores. Worker 0 holds spoke s0 (edges[2]), the one the change is for. */
	struct worker wk[MAX_WORKERS];
	for (unsigned w = 0; w < workers; w++)
		worker_start(&wk[w], edges, n * w / workers, n * (w + 1) / workers,
			     (window + workers - 1) / workers, server, dir, n);
	t0 = now_s();
	unsigned done = 0;
	for (unsigned w = 0; w < workers; w++)
		done += worker_converged(&wk[w]);
	double t_conv = now_s() - t0;
	double lat[7];
	unsigned nl = 0;
	for (unsigned k = 0; k < 7 && done == n; k++) {
		/* As an operator's changes come: one after the other, not within the tens of ms of
		 * background work a load leaves (the verify pass, the hubs' reachability). */
		usleep(CHANGE_SPACING_MS * 1000);
		double d = worker_change(&wk[0], 20 + k);
		if (d >= 0)
			lat[nl++] = d;
	}
	uint64_t backup_bytes = 0;
	double t_backup = done == n ? timed_backup(dir, &backup_bytes) : -1;
	for (unsigned w = 0; w < workers; w++)
		worker_stop(&wk[w]);
	qsort(lat, nl, sizeof(lat[0]), cmp_double);
	stop_controller(pid, &hwm, &cpu);
	printf("bench-control: %u edges (2 hubs, %u spokes), enrollment window %u, %u simulator "
	       "process%s\n",
	       n, n - 2, window, workers, workers > 1 ? "es" : "");
	printf("  edge keys + CSRs (edge side, not in the total)  %8.2f s\n", t_keys);
	printf("  controller start (load + plan + digests)        %8.2f s\n", t_start);
	printf("  enrolled and converged                          %8.2f s  (%u/%u acked)%s\n",
	       t_conv, done, n, t_conv < 60 && done == n ? "" : "  TARGET MISSED");
	printf("  controller peak RSS                             %8.1f MiB%s\n", hwm / 1024.0,
	       hwm < 512 * 1024 ? "" : "  TARGET MISSED");
	printf("  controller CPU time                             %8.2f s\n", cpu);
	if (nl)
		printf("  one-site change pushed and acked (median of %u) %8.1f ms (min %.1f, max "
		       "%.1f)%s\n",
		       nl, lat[nl / 2] * 1e3, lat[0] * 1e3, lat[nl - 1] * 1e3,
		       lat[nl / 2] < 0.1 ? "" : "  TARGET MISSED");
	if (t_backup >= 0) {
		char label[64];
		(void)snprintf(label, sizeof(label), "sdwanctl backup (a %.1f MiB copy)",
			       (double)backup_bytes / (1024.0 * 1024.0));
		printf("  %-48s%8.1f ms\n", label, t_backup * 1e3);
	}
	for (unsigned i = 0; i < n; i++) {
		zcurve_keypair_clear(&edges[i].kp);
		free(edges[i].csr);
		OPENSSL_cleanse(edges[i].token, sizeof(edges[i].token));
	}
	free(edges);
	char cmd[600];
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) // NOLINT(cert-env33-c): benchmark cleanup
		fprintf(stderr, "bench-control: %s left behind\n", dir);
	return done == n ? 0 : 1;
}
