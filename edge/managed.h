/*
 * Managed mode of sdwan-edge: the daemon run when the controller drives the edge
 * (`sdwan-edge --controller EP --token T --state DIR` first, `sdwan-edge --state DIR` after).
 *
 * One libuv loop holds the agent (edge/agent.h) and the tunnel engine behind struct
 * managed_engine, which main.c fills with the tunnel manager (edge/tmgr.h). The engine starts
 * once the edge's identity is known (enrolled, or loaded from DIR) and is then handed every
 * config the agent accepts; the agent never waits for the engine to reach the controller, and
 * the engine never waits for the controller: the stored config runs before the controller
 * answers. SIGTERM and SIGINT stop the agent, then the engine (which removes its TUN device and
 * routes), then the loop.
 *
 * With no engine (NULL), the edge still enrolls and keeps its control session, and refuses every
 * config with CONFIG_ERROR_UNSUPPORTED: it never claims to run tunnels it cannot run.
 *
 * Threads: managed_run owns the calling thread until the daemon stops. Signal handlers are libuv
 * signal watchers, so nothing runs in signal context.
 */
#ifndef SDWAN_EDGE_MANAGED_H
#define SDWAN_EDGE_MANAGED_H

#include <uv.h>

#include "edge/agent.h"

/* Events from the engine to the controller (tunnel up/down, failover, rekey, auth failure). */
typedef void managed_event_fn(void *arg, Sdwan__EventType type, const char *tunnel,
			      const char *detail);

/*
 * The tunnel engine. Every callback gets ctx and runs on the loop; pointers are borrowed for the
 * call. Members other than start and stop may be NULL (the agent then answers as agent_ops says).
 */
struct managed_engine {
	void *ctx;
	/* Start on loop with the edge's IKE key, certificate and CA (borrowed: valid until
	 * identity_changed or stop); report events through event(event_arg, ...). Returns 0 or
	 * -errno (the daemon then exits). */
	int (*start)(void *ctx, uv_loop_t *loop, EVP_PKEY *key, X509 *cert, X509 *ca,
		     managed_event_fn *event, void *event_arg);
	/* As struct agent_ops. */
	int (*apply)(void *ctx, const Sdwan__EdgeConfig *cfg, struct agent_apply_error *err);
	int (*health)(void *ctx, Sdwan__HealthReport **out);
	void (*health_free)(void *ctx, Sdwan__HealthReport *hr);
	int (*rekey)(void *ctx, const char *tunnel);
	int (*reachability)(void *ctx, const Sdwan__Reachability *r);
	void (*identity_changed)(void *ctx, EVP_PKEY *key, X509 *cert, X509 *ca);
	/* Tear down (TUN device, routes, IKE Deletes); call done(done_arg) from the loop when
	 * finished. Called only after a successful start. */
	void (*stop)(void *ctx, void (*done)(void *done_arg), void *done_arg);
};

/* What the operator gave; borrowed for the duration of managed_run. */
struct managed_args {
	const char *state_dir;       /* required */
	const char *controller;      /* first start: control endpoint */
	const char *token;           /* first start: token line (secret) */
	const char *controller_key;  /* optional pin, must equal the token's */
	const char *enroll_endpoint; /* optional; default port + 1 */
};

/*
 * Run managed mode until SIGTERM/SIGINT or a fatal error. engine may be NULL (see above).
 * Returns the process exit status: 0 after a signal, 1 when the agent gave up (enrollment
 * refused, unusable state) or could not start, 2 for bad arguments (e.g. a controller key that
 * differs from the token's).
 */
int managed_run(const struct managed_args *args, const struct managed_engine *engine);

#endif
