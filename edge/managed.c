#include "edge/managed.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"

/* Everything one managed run holds; lives on managed_run's stack. */
struct managed {
	uv_loop_t loop;
	void *zctx;
	struct agent *agent;
	const struct managed_engine *eng;
	bool engine_started;
	bool stopping;
	int status;
	uv_signal_t sigterm, sigint;
};

static void on_engine_event(void *arg, Sdwan__EventType type, const char *tunnel,
			    const char *detail)
{
	struct managed *m = arg;
	if (m->agent)
		agent_event(m->agent, type, tunnel, detail);
}

static void stop(struct managed *m, int status);

static int op_apply(void *arg, const Sdwan__EdgeConfig *cfg, struct agent_apply_error *err)
{
	struct managed *m = arg;
	if (m->engine_started && m->eng->apply)
		return m->eng->apply(m->eng->ctx, cfg, err);
	err->code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_UNSUPPORTED;
	(void)snprintf(err->reason, sizeof(err->reason),
		       "this edge build has no tunnel engine: configuration not run");
	return -ENOTSUP;
}

static int op_health(void *arg, Sdwan__HealthReport **out)
{
	struct managed *m = arg;
	if (m->engine_started && m->eng->health)
		return m->eng->health(m->eng->ctx, out);
	return -ENOTSUP;
}

static void op_health_free(void *arg, Sdwan__HealthReport *hr)
{
	struct managed *m = arg;
	if (m->eng && m->eng->health_free)
		m->eng->health_free(m->eng->ctx, hr);
}

static int op_rekey(void *arg, const char *tunnel)
{
	struct managed *m = arg;
	if (m->engine_started && m->eng->rekey)
		return m->eng->rekey(m->eng->ctx, tunnel);
	return -ENOTSUP;
}

static int op_reachability(void *arg, const Sdwan__Reachability *r)
{
	struct managed *m = arg;
	if (m->engine_started && m->eng->reachability)
		return m->eng->reachability(m->eng->ctx, r);
	return -ENOTSUP;
}

static void op_identity(void *arg, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	struct managed *m = arg;
	if (!m->eng || m->stopping)
		return;
	if (m->engine_started) {
		if (m->eng->identity_changed)
			m->eng->identity_changed(m->eng->ctx, key, cert, ca);
		return;
	}
	/* The engine needs the IKE identity: it starts the moment the edge has one. */
	int rc = m->eng->start(m->eng->ctx, &m->loop, key, cert, ca, on_engine_event, m);
	if (rc != 0) {
		LOG_ERR(MAIN, "tunnel engine did not start", "err=%d", rc);
		stop(m, 1);
		return;
	}
	m->engine_started = true;
}

static void op_failed(void *arg, int err, const char *reason)
{
	(void)err;
	(void)reason; /* logged by the agent */
	stop(arg, 1);
}

static void on_engine_stopped(void *arg)
{
	struct managed *m = arg;
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void on_agent_closed(void *arg)
{
	struct managed *m = arg;
	if (m->engine_started)
		m->eng->stop(m->eng->ctx, on_engine_stopped, m);
	else
		on_engine_stopped(m);
}

/* Shut down in order: the agent (no more configs), the engine (TUN, routes), the watchers. */
static void stop(struct managed *m, int status)
{
	if (m->stopping)
		return;
	m->stopping = true;
	m->status = status;
	struct agent *a = m->agent;
	m->agent = NULL;
	if (a)
		agent_close(a, on_agent_closed, m);
	else
		on_agent_closed(m);
}

static void on_signal(uv_signal_t *s, int signum)
{
	LOG_NOTICE(MAIN, "signal: stopping", "signal=%d", signum);
	stop(s->data, 0);
}

static int agent_open(struct managed *m, const struct managed_args *args)
{
	const struct agent_ops ops = {
		.arg = m,
		.apply = op_apply,
		.health = op_health,
		.health_free = op_health_free,
		.rekey = op_rekey,
		.reachability = op_reachability,
		.identity_changed = op_identity,
		.failed = op_failed,
	};
	const struct agent_enroll_params ep = {
		.endpoint = args->controller,
		.enroll_endpoint = args->enroll_endpoint,
		.token = args->token,
		.controller_key = args->controller_key,
	};
	const struct agent_options opts = {.state_dir = args->state_dir};
	bool first = args->controller || args->token;
	int rc = agent_new(&m->loop, m->zctx, &opts, first ? &ep : NULL, &ops, &m->agent);
	if (rc != 0) {
		LOG_ERR(MAIN, "managed mode: bad arguments", "err=%d", rc);
		return 2;
	}
	rc = agent_start(m->agent);
	if (rc != 0) {
		LOG_ERR(MAIN, "managed mode: cannot start", "state=%s err=%d", args->state_dir, rc);
		return 1;
	}
	return 0;
}

int managed_run(const struct managed_args *args, const struct managed_engine *engine)
{
	struct managed m;
	memset(&m, 0, sizeof(m));
	m.eng = engine;
	if (uv_loop_init(&m.loop) != 0)
		return 1;
	m.zctx = zmq_ctx_new();
	if (!m.zctx) {
		(void)uv_loop_close(&m.loop);
		return 1;
	}
	(void)uv_signal_init(&m.loop, &m.sigterm);
	(void)uv_signal_init(&m.loop, &m.sigint);
	m.sigterm.data = m.sigint.data = &m;
	(void)uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	(void)uv_signal_start(&m.sigint, on_signal, SIGINT);
	int rc = agent_open(&m, args);
	if (rc != 0)
		stop(&m, rc);
	(void)uv_run(&m.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&m.loop) != 0)
		LOG_WARN(MAIN, "loop closed with handles open", NULL);
	(void)zmq_ctx_term(m.zctx);
	return m.status;
}
