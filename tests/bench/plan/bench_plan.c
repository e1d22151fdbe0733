/*
 * Benchmark: compile (parse, validate, plan) very large WANs without printing the tunnels.
 *
 *   bench-plan [--sites N] [--spokes N --hubs N]
 *
 * Scenarios: a 2,000-site full mesh (1,999,000 tunnels) and a 10,000-spoke hybrid with 4 hubs,
 * every spoke homed to all 4 (40,006 tunnels). Each scenario runs in its own child process so
 * its peak RSS is its own. The YAML is generated in memory first; the timed part is exactly
 * what `sdwanctl validate`/`plan` do. Target on a 2-core machine: under 3 s and 1 GiB each.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "controller/intent.h"

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
		if (!t->s) {
			perror("realloc");
			exit(1);
		}
	}
}

static void site(struct text *t, const char *name, const char *role, unsigned i)
{
	put(t, "  - name: %s\n    role: %s\n", name, role);
	put(t, "    underlay: [{name: inet, address: 100.%u.%u.%u}]\n", 64 + (i >> 16),
	    (i >> 8) & 255, i & 255);
	put(t, "    subnets: [10.%u.%u.0/24]\n", i >> 8, i & 255);
}

static struct text gen_mesh(unsigned n)
{
	struct text t = {malloc(4096), 0, 4096};
	put(&t, "wan: bench\ncontroller: {endpoint: \"tcp://192.0.2.1:7800\"}\ntype: full-mesh\n"
		"sites:\n");
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%u", i);
		site(&t, name, "peer", i);
	}
	return t;
}

static struct text gen_hybrid(unsigned hubs, unsigned spokes)
{
	struct text t = {malloc(4096), 0, 4096};
	put(&t, "wan: bench\ncontroller: {endpoint: \"tcp://192.0.2.1:7800\"}\ntype: hybrid\n"
		"sites:\n");
	for (unsigned h = 0; h < hubs; h++) {
		char name[16];
		snprintf(name, sizeof(name), "hub%u", h);
		site(&t, name, "hub", h);
	}
	for (unsigned s = 0; s < spokes; s++) {
		char name[16];
		snprintf(name, sizeof(name), "s%u", s);
		site(&t, name, "spoke", hubs + s);
		put(&t, "    hubs: [");
		for (unsigned h = 0; h < hubs; h++)
			put(&t, "%shub%u", h ? ", " : "", (s + h) % hubs);
		put(&t, "]\n");
	}
	return t;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Child: compile once, print the timed figures on one line. */
static int run(const char *label, struct text yaml)
{
	double t0 = now();
	struct intent in;
	struct diag_list d = {0};
	int rc = intent_compile_buf((const uint8_t *)yaml.s, yaml.len, &in, &d);
	double t1 = now();
	if (rc != 0) {
		diag_print(&d, label, stderr);
		return 1;
	}
	printf("%-34s %9zu sites %9zu tunnels %8.3f s", label, in.topo->n_sites, in.plan->n_tunnels,
	       t1 - t0);
	fflush(stdout);
	intent_free(&in);
	diag_list_free(&d);
	free(yaml.s);
	return 0;
}

static int scenario(const char *label, struct text (*gen)(unsigned, unsigned), unsigned a,
		    unsigned b)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(run(label, gen(a, b)));
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("%-34s FAILED\n", label);
		return 1;
	}
	/* ru_maxrss includes the in-memory YAML the child generated before timing. */
	printf("  peak RSS %7.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	return 0;
}

static struct text mesh_adapter(unsigned n, unsigned unused)
{
	(void)unused;
	return gen_mesh(n);
}

int main(int argc, char **argv)
{
	unsigned sites = 2000, spokes = 10000, hubs = 4;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--sites") == 0)
			sites = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--spokes") == 0)
			spokes = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--hubs") == 0)
			hubs = (unsigned)strtoul(argv[i + 1], NULL, 10);
	}
	printf("bench-plan: YAML -> validated plan, tunnels not printed (target < 3 s, < 1 GiB)\n");
	char l1[64], l2[64];
	snprintf(l1, sizeof(l1), "full-mesh %u sites", sites);
	snprintf(l2, sizeof(l2), "hybrid %u hubs x %u spokes", hubs, spokes);
	int rc = scenario(l1, mesh_adapter, sites, 0);
	rc |= scenario(l2, gen_hybrid, hubs, spokes);
	return rc;
}
