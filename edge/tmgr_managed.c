/* The managed mode's engine callbacks over the tunnel manager; see tmgr_managed.h. */
#include "edge/tmgr_managed.h"

#include <errno.h>
#include <stdio.h>

#include "common/log.h"

static int op_start(void *ctx, uv_loop_t *loop, EVP_PKEY *key, X509 *cert, X509 *ca,
		    managed_event_fn *event, void *event_arg)
{
	struct tmgr_managed *m = ctx;

	m->opts.key = key;
	m->opts.cert = cert;
	m->opts.ca = ca;
	m->opts.event = event;
	m->opts.event_arg = event_arg;
	return tmgr_new(loop, &m->opts, &m->tm);
}

static int op_apply(void *ctx, const Sdwan__EdgeConfig *cfg, struct agent_apply_error *err)
{
	struct tmgr_managed *m = ctx;
	struct tmgr_apply_error e;
	int rc = tmgr_apply(m->tm, cfg, &e);

	if (rc) {
		err->code = e.code;
		snprintf(err->reason, sizeof(err->reason), "%s", e.reason);
		snprintf(err->tunnel, sizeof(err->tunnel), "%s", e.tunnel);
	}
	return rc;
}

static int op_health(void *ctx, Sdwan__HealthReport **out)
{
	struct tmgr_managed *m = ctx;

	return tmgr_health(m->tm, out);
}

static void op_health_free(void *ctx, Sdwan__HealthReport *hr)
{
	(void)ctx;
	tmgr_health_free(hr);
}

static int op_rekey(void *ctx, const char *tunnel)
{
	struct tmgr_managed *m = ctx;

	return tmgr_command_rekey(m->tm, tunnel);
}

static int op_reachability(void *ctx, const Sdwan__Reachability *r)
{
	struct tmgr_managed *m = ctx;

	return tmgr_reachability(m->tm, r);
}

static void op_identity_changed(void *ctx, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	struct tmgr_managed *m = ctx;

	m->opts.key = key;
	m->opts.cert = cert;
	m->opts.ca = ca;
	if (m->tm && tmgr_set_identity(m->tm, key, cert, ca) != 0)
		LOG_WARN(MAIN, "identity change without key, certificate and CA ignored", NULL);
}

static void on_stopped(void *arg)
{
	struct tmgr_managed *m = arg;

	if (m->done)
		m->done(m->done_arg);
}

static void op_stop(void *ctx, void (*done)(void *done_arg), void *done_arg)
{
	struct tmgr_managed *m = ctx;

	m->done = done;
	m->done_arg = done_arg;
	struct tmgr *tm = m->tm;
	m->tm = NULL;
	tmgr_close(tm, on_stopped, m);
}

void tmgr_managed_engine(struct tmgr_managed *m, struct managed_engine *engine)
{
	*engine = (struct managed_engine){
		.ctx = m,
		.start = op_start,
		.apply = op_apply,
		.health = op_health,
		.health_free = op_health_free,
		.rekey = op_rekey,
		.reachability = op_reachability,
		.identity_changed = op_identity_changed,
		.stop = op_stop,
	};
}
