/* The standalone edge; see local_mode.h. */
#include "edge/local_mode.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/diag.h"
#include "common/error.h"
#include "common/log.h"
#include "common/x509id.h"
#include "edge/edge_conf.h"
#include "edge/keylog.h"
#include "edge/tmgr.h"

struct local_run {
	uv_loop_t loop;
	const struct local_mode_args *o;
	struct tmgr *tm;
	struct keylog *keylog;
	/* Certificate identity from local key_path, cert_path, ca_path (NULL: PSK only). */
	EVP_PKEY *key;
	X509 *cert, *ca;
	uv_signal_t sig_int, sig_term, sig_hup;
	int status;
};

/* Load the file; on failure print its diagnostics and return -errno. */
static int load(const char *path, struct Sdwan__EdgeConfig **cfg, struct edge_local_settings *ls)
{
	struct diag_list diags = {0};
	int rc = edge_conf_load_file(path, cfg, ls, &diags);

	diag_sort(&diags);
	diag_print(&diags, path, stderr);
	diag_list_free(&diags);
	return rc;
}

static void options_from_local(const struct edge_local_settings *ls, struct tmgr_options *to)
{
	memset(to, 0, sizeof(*to));
	snprintf(to->tun_name, sizeof(to->tun_name), "%s", ls->tun_name);
	to->listen_addr = ls->listen_addr;
	to->ike_port = ls->ike_port;
	to->natt_port = ls->natt_port;
	to->workers = ls->workers;
	to->test_esp_first_seq = ls->test_esp_first_seq;
	if (ls->test_esp_first_seq)
		LOG_WARN(MAIN, "testing option: outbound ESP sequence numbers start high",
			 "test_esp_first_seq=%" PRIu64, ls->test_esp_first_seq);
}

static int apply(struct tmgr *tm, const struct Sdwan__EdgeConfig *cfg, const char *path)
{
	struct tmgr_apply_error err;
	int rc = tmgr_apply(tm, cfg, &err);

	if (rc)
		fprintf(stderr, "sdwan-edge: %s: configuration refused%s%s: %s\n", path,
			err.tunnel[0] ? ": tunnel " : "", err.tunnel, err.reason);
	return rc;
}

static void on_stopped(void *arg)
{
	struct local_run *r = arg;

	uv_close((uv_handle_t *)&r->sig_int, NULL);
	uv_close((uv_handle_t *)&r->sig_term, NULL);
	uv_close((uv_handle_t *)&r->sig_hup, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct local_run *r = s->data;

	if (!r->tm)
		return;
	if (signum == SIGHUP) {
		struct Sdwan__EdgeConfig *cfg = NULL;
		struct edge_local_settings ls;
		/* Local settings (TUN, ports) need a restart; the EdgeConfig is diffed. */
		if (load(r->o->config_path, &cfg, &ls) == 0) {
			if (apply(r->tm, cfg, r->o->config_path) == 0)
				LOG_NOTICE(CFG, "configuration reloaded", "file=%s",
					   r->o->config_path);
		}
		edge_conf_free(cfg);
		return;
	}
	LOG_NOTICE(MAIN, "stopping", "signal=%d", signum);
	tmgr_close(r->tm, on_stopped, r);
	r->tm = NULL;
}

/* Load the certificate identity the local settings name; all three or none. 0 or 1 (said why). */
static int identity_load(struct local_run *r, const struct edge_local_settings *ls, const char *cfg)
{
	int n = !!ls->key_path[0] + !!ls->cert_path[0] + !!ls->ca_path[0];
	int rc = 0;
	const char *what = "";

	if (n == 0)
		return 0;
	if (n != 3) {
		fprintf(stderr,
			"sdwan-edge: %s: local key_path, cert_path and ca_path go together "
			"(certificate authentication needs all three)\n",
			cfg);
		return 1;
	}
	if ((rc = x509id_key_load(ls->key_path, &r->key)) != 0)
		what = ls->key_path;
	else if ((rc = x509id_cert_load(ls->cert_path, &r->cert)) != 0)
		what = ls->cert_path;
	else if ((rc = x509id_cert_load(ls->ca_path, &r->ca)) != 0)
		what = ls->ca_path;
	if (rc) {
		fprintf(stderr, "sdwan-edge: cannot load %s: %s\n", what, sdw_strerror(rc));
		return 1;
	}
	return 0;
}

/* Start the tunnel manager on r's loop with the file's configuration; 0 or the exit status. */
static int start(struct local_run *r, const struct local_mode_args *o)
{
	struct Sdwan__EdgeConfig *cfg = NULL;
	struct edge_local_settings ls;
	struct tmgr_options to;
	int rc;

	if (load(o->config_path, &cfg, &ls) != 0)
		return 1;
	if (identity_load(r, &ls, o->config_path) != 0) {
		edge_conf_free(cfg);
		return 1;
	}
	const char *keylog = o->keylog_path      ? o->keylog_path
			     : ls.keylog_path[0] ? ls.keylog_path
						 : NULL;
	if (keylog && (rc = keylog_open(keylog, &r->keylog)) != 0) {
		fprintf(stderr, "sdwan-edge: cannot open the key log %s: %s\n", keylog,
			sdw_strerror(rc));
		edge_conf_free(cfg);
		return 1;
	}
	options_from_local(&ls, &to);
	to.key = r->key;
	to.cert = r->cert;
	to.ca = r->ca;
	to.keylog = r->keylog;
	rc = tmgr_new(&r->loop, &to, &r->tm);
	if (rc) {
		fprintf(stderr, "sdwan-edge: cannot start: %s\n", sdw_strerror(rc));
		edge_conf_free(cfg);
		return 1;
	}
	rc = apply(r->tm, cfg, o->config_path);
	edge_conf_free(cfg);
	if (rc) {
		/* Nothing may stay behind: the manager removes its TUN device as it closes. */
		tmgr_close(r->tm, NULL, NULL);
		r->tm = NULL;
		return 1;
	}
	return 0;
}

int local_mode_run(const struct local_mode_args *o)
{
	struct local_run *r = calloc(1, sizeof(*r));
	int status;

	if (!r)
		return 1;
	r->o = o;
	uv_loop_init(&r->loop);
	status = start(r, o);
	if (status == 0) {
		uv_signal_t *sigs[] = {&r->sig_int, &r->sig_term, &r->sig_hup};
		int nums[] = {SIGINT, SIGTERM, SIGHUP};
		for (int i = 0; i < 3; i++) {
			uv_signal_init(&r->loop, sigs[i]);
			sigs[i]->data = r;
			uv_signal_start(sigs[i], on_signal, nums[i]);
		}
	}
	uv_run(&r->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&r->loop) != 0)
		LOG_WARN(MAIN, "loop closed with handles open", NULL);
	if (status == 0)
		status = r->status;
	keylog_close(r->keylog);
	EVP_PKEY_free(r->key);
	X509_free(r->cert);
	X509_free(r->ca);
	free(r);
	return status;
}
