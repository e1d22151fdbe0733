/*
 * The admin socket: sdwanctl's online commands (proto/admin.proto, framing in admin.h). Only
 * root and the controller's own user may connect (SO_PEERCRED); the socket file is 0600 too.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/fileio.h"
#include "controller/admin.h"
#include "controller/ctlr_internal.h"

#define ADMIN_TOKEN_TTL_DEFAULT_MS (24ull * 3600 * 1000)
#define ADMIN_EVENTS_DEFAULT       100u
#define ADMIN_EVENTS_MAX           10000u

struct ctlr_admin_conn {
	uv_pipe_t pipe;
	struct ctlr *c;
	struct admin_reader rd;
	struct ctlr_admin_conn *next;
	struct ctlr_admin_conn **prevp;
	bool closing;
};

struct admin_write {
	uv_write_t req;
	uint8_t *buf;
	size_t len;
};

/* Everything a response points to lives in one arena, freed once the frame is packed. */
struct resp {
	Sdwan__Admin__AdminResponse r;
	struct arena a;
	Sdwan__HealthReport *health; /* unpacked; freed separately */
	struct store_event *events;
	size_t n_events;
	char token[TOKEN_LINE_MAX];
};

static void conn_closed(uv_handle_t *h)
{
	struct ctlr_admin_conn *k = h->data;
	admin_reader_free(&k->rd);
	free(k);
}

static void conn_close(struct ctlr_admin_conn *k)
{
	if (k->closing)
		return;
	k->closing = true;
	*k->prevp = k->next;
	if (k->next)
		k->next->prevp = k->prevp;
	uv_close((uv_handle_t *)&k->pipe, conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct admin_write *w = (struct admin_write *)req;
	(void)status;
	/* A token may be inside. */
	OPENSSL_cleanse(w->buf, w->len);
	free(w->buf);
	free(w);
}

static void fail(struct resp *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct resp *rs, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rs->r.ok = false;
	rs->r.error = arena_strndup(&rs->a, buf, strlen(buf));
	if (!rs->r.error)
		rs->r.error = (char *)"out of memory";
}

static char *dup_str(struct resp *rs, const char *s)
{
	char *d = arena_strndup(&rs->a, s ? s : "", s ? strlen(s) : 0);
	return d ? d : (char *)"";
}

void ctlr__site_status(const struct ctlr *c, const struct ctlr_site *s, Sdwan__Admin__SiteStatus *o)
{
	sdwan__admin__site_status__init(o);
	o->site = (char *)s->name;
	o->enrolled = s->enrolled && !s->revoked;
	o->revoked = s->revoked;
	o->connected = s->connected;
	o->last_seen_ms = s->last_seen_ms > 0 ? (uint64_t)s->last_seen_ms : 0;
	o->generation = s->generation;
	o->generation_applied = s->applied;
	o->tunnels_total = s->tunnels_total;
	o->tunnels_up = s->tunnels_up;
	o->active_hub = (char *)s->active_hub;
	o->in_topology = s->topo >= 0;
	o->role = (char *)(s->topo >= 0 && c->in.topo
				   ? topo_role_name(c->in.topo->sites[s->topo].role)
				   : "");
	o->nack_reason = (char *)(s->nack_gen == s->generation ? s->nack_reason : "");
	/* Before the first health report, the plan says how many tunnels there will be. */
	if (!s->tunnels_total && s->topo >= 0 && c->in.plan)
		o->tunnels_total = (uint32_t)c->in.plan->edges[s->topo].count;
}

static void do_status(struct ctlr *c, struct resp *rs)
{
	Sdwan__Admin__Status *st = arena_alloc(&rs->a, sizeof(*st));
	Sdwan__Admin__SiteStatus **v =
		arena_alloc(&rs->a, (c->n_sites + 1) * sizeof(Sdwan__Admin__SiteStatus *));
	Sdwan__Admin__SiteStatus *items = arena_alloc(&rs->a, (c->n_sites + 1) * sizeof(*items));
	Sdwan__Admin__Status__CountersEntry *ce =
		arena_alloc(&rs->a, (CTLR_C_COUNT + 8) * sizeof(*ce));
	Sdwan__Admin__Status__CountersEntry **cv = arena_alloc(
		&rs->a, (CTLR_C_COUNT + 8) * sizeof(Sdwan__Admin__Status__CountersEntry *));
	if (!st || !v || !items || !ce || !cv) {
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__status__init(st);
	st->wan = (char *)(c->in.topo ? c->in.topo->wan : "");
	st->generation = c->plan_generation;
	/* Sites in topology order first, then enrolled sites no longer in it. */
	size_t n = 0;
	const struct topo *t = c->in.topo;
	for (size_t i = 0; t && i < t->n_sites; i++) {
		const struct ctlr_site *s = ctlr__site_find(c, t->sites[i].name);
		if (!s)
			continue;
		ctlr__site_status(c, s, &items[n]);
		v[n] = &items[n];
		n++;
	}
	for (size_t i = 0; i < c->n_sites; i++) {
		const struct ctlr_site *s = c->sites[i];
		if (s->topo >= 0 || !s->enrolled)
			continue;
		ctlr__site_status(c, s, &items[n]);
		v[n] = &items[n];
		n++;
	}
	st->sites = v;
	st->n_sites = n;
	size_t k = 0;
	for (int i = 0; i < CTLR_C_COUNT; i++) {
		sdwan__admin__status__counters_entry__init(&ce[k]);
		ce[k].key = (char *)ctlr__counter_name((enum ctlr_counter)i);
		ce[k].value = c->counters[i];
		cv[k] = &ce[k];
		k++;
	}
	struct zap_stats zs;
	if (zap_stats_get(&c->zap, "edges", &zs) == 0) {
		sdwan__admin__status__counters_entry__init(&ce[k]);
		ce[k].key = (char *)"zap_edges_denied";
		ce[k].value = zs.denied;
		cv[k] = &ce[k];
		k++;
	}
	const struct zsock_stats *zst = zsock_stats(&c->ctl);
	sdwan__admin__status__counters_entry__init(&ce[k]);
	ce[k].key = (char *)"control_rx_dropped";
	ce[k].value = zst->rx_dropped;
	cv[k] = &ce[k];
	k++;
	zst = zsock_stats(&c->enroll);
	sdwan__admin__status__counters_entry__init(&ce[k]);
	ce[k].key = (char *)"enroll_rx_dropped";
	ce[k].value = zst->rx_dropped;
	cv[k] = &ce[k];
	k++;
	st->counters = cv;
	st->n_counters = k;
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_STATUS;
	rs->r.status = st;
}

static Sdwan__Admin__Event **events_out(struct resp *rs, const struct store_event *ev, size_t n,
					const char *site_filter, size_t *count)
{
	Sdwan__Admin__Event **v = arena_alloc(&rs->a, (n + 1) * sizeof(Sdwan__Admin__Event *));
	Sdwan__Admin__Event *items = arena_alloc(&rs->a, (n + 1) * sizeof(*items));
	*count = 0;
	if (!v || !items)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (site_filter && site_filter[0] && strcmp(ev[i].site, site_filter) != 0)
			continue;
		Sdwan__Admin__Event *e = &items[*count];
		sdwan__admin__event__init(e);
		e->id = ev[i].id;
		e->at_ms = (uint64_t)ev[i].at_ms;
		e->site = (char *)ev[i].site;
		e->tunnel = (char *)ev[i].tunnel;
		e->kind = (char *)ev[i].kind;
		e->detail = (char *)(ev[i].detail ? ev[i].detail : "");
		v[(*count)++] = e;
	}
	return v;
}

/* s's unanswered commands (never the re-enrollment token), in rs's arena; NULL when none. */
static Sdwan__Admin__PendingCommand **pending_out(const struct ctlr *c, const struct ctlr_site *s,
						  struct resp *rs, size_t *n)
{
	*n = 0;
	size_t count = cmdq_count_site(&c->commands, s->name);
	Sdwan__Admin__PendingCommand **v =
		count ? arena_alloc(&rs->a, count * sizeof(Sdwan__Admin__PendingCommand *)) : NULL;
	Sdwan__Admin__PendingCommand *items =
		count ? arena_alloc(&rs->a, count * sizeof(*items)) : NULL;
	if (!v || !items)
		return NULL;
	for (const struct cmdq_entry *e = cmdq_next_for_site(&c->commands, s->name, NULL);
	     e && *n < count; e = cmdq_next_for_site(&c->commands, s->name, e)) {
		Sdwan__Admin__PendingCommand *p = &items[*n];
		sdwan__admin__pending_command__init(p);
		p->command = (char *)ctlr__command_name(e->type);
		p->tunnel = dup_str(rs, e->tunnel);
		p->id = e->msg_id;
		p->given_at_ms = (uint64_t)e->given_at_ms;
		p->sends = e->sends;
		v[(*n)++] = p;
	}
	return v;
}

static void do_edge_show(struct ctlr *c, const Sdwan__Admin__EdgeShowRequest *rq, struct resp *rs)
{
	const struct ctlr_site *s = ctlr__site_find(c, rq->site);
	if (!s) {
		fail(rs, "no site '%s' in the topology or the enrolled edges", rq->site);
		return;
	}
	Sdwan__Admin__EdgeDetail *d = arena_alloc(&rs->a, sizeof(*d));
	Sdwan__Admin__SiteStatus *ss = arena_alloc(&rs->a, sizeof(*ss));
	if (!d || !ss) {
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__edge_detail__init(d);
	ctlr__site_status(c, s, ss);
	d->status = ss;
	if (s->health) {
		rs->health = sdwan__health_report__unpack(NULL, s->health_len, s->health);
		d->health = rs->health;
		d->health_received_ms = (uint64_t)s->health_at;
	}
	if (store_event_list_site(c->st, s->name, 20, &rs->events, &rs->n_events) == 0)
		d->events = events_out(rs, rs->events, rs->n_events, NULL, &d->n_events);
	d->pending_commands = pending_out(c, s, rs, &d->n_pending_commands);
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_EDGE;
	rs->r.edge = d;
}

static void do_events(struct ctlr *c, const Sdwan__Admin__EventsRequest *rq, struct resp *rs)
{
	size_t max = rq->max ? rq->max : ADMIN_EVENTS_DEFAULT;
	if (max > ADMIN_EVENTS_MAX)
		max = ADMIN_EVENTS_MAX;
	int rc;
	const char *filter = NULL;
	/* Without a position: the newest events (a first look, or the start of --follow). */
	if (rq->site[0] && rq->after_id == 0) {
		rc = store_event_list_site(c->st, rq->site, max, &rs->events, &rs->n_events);
	} else if (rq->after_id == 0) {
		rc = store_event_list_latest(c->st, max, &rs->events, &rs->n_events);
	} else {
		rc = store_event_list_since(c->st, rq->after_id, max, &rs->events, &rs->n_events);
		filter = rq->site;
	}
	if (rc != 0) {
		fail(rs, "event history not readable: %s", sdw_strerror(rc));
		return;
	}
	Sdwan__Admin__EventList *l = arena_alloc(&rs->a, sizeof(*l));
	if (!l) {
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__event_list__init(l);
	l->events = events_out(rs, rs->events, rs->n_events, filter, &l->n_events);
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_EVENTS;
	rs->r.events = l;
}

static void do_token(struct ctlr *c, const Sdwan__Admin__TokenCreateRequest *rq, struct resp *rs)
{
	uint64_t ttl = rq->ttl_ms ? rq->ttl_ms : ADMIN_TOKEN_TTL_DEFAULT_MS;
	int64_t expires = 0;
	int rc = ctlr__token_create(c, rq->site, ttl, rs->token, &expires);
	if (rc == -ENOENT) {
		fail(rs, "site '%s' is not in the topology", rq->site);
		return;
	}
	if (rc != 0) {
		fail(rs, "token not created: %s",
		     rc == -EINVAL ? "ttl out of range (1 ms to 30 days)" : sdw_strerror(rc));
		return;
	}
	Sdwan__Admin__TokenCreated *t = arena_alloc(&rs->a, sizeof(*t));
	char cmd[1024];
	/* The state folder is the edge unit's StateDirectory (deploy/systemd/sdwan-edge.service):
	 * `systemctl enable --now sdwan-edge` then runs what this command enrolled. */
	(void)snprintf(cmd, sizeof(cmd), "sdwan-edge --controller %s%s%s --token %s --state %s",
		       c->public_ep, c->public_enroll_ep[0] ? " --enroll-endpoint " : "",
		       c->public_enroll_ep, rs->token, "/var/lib/sdwan-edge");
	if (!t) {
		OPENSSL_cleanse(cmd, sizeof(cmd));
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__token_created__init(t);
	t->site = dup_str(rs, rq->site);
	t->token = rs->token;
	t->expires_at_ms = (uint64_t)expires;
	t->command = dup_str(rs, cmd);
	OPENSSL_cleanse(cmd, sizeof(cmd));
	LOG_NOTICE(CTL, "enrollment token created", "site=%s expires_at_ms=%" PRId64, rq->site,
		   expires);
	ctlr__event(c, rq->site, NULL, "token-created", NULL);
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_TOKEN;
	rs->r.token = t;
}

static void do_apply(struct ctlr *c, const Sdwan__Admin__ApplyRequest *rq, struct resp *rs)
{
	uint32_t updated = 0;
	char *diff = NULL, *diags = NULL;
	int rc = ctlr__topology_load(c, rq->topology.data, rq->topology.len, c->topology_path,
				     rq->dry_run, &updated, &diff, &diags);
	Sdwan__Admin__ApplyResult *ar = arena_alloc(&rs->a, sizeof(*ar));
	char **dv = arena_alloc(&rs->a, sizeof(*dv));
	if (!ar || !dv) {
		fail(rs, "out of memory");
		goto out;
	}
	sdwan__admin__apply_result__init(ar);
	ar->diff_text = dup_str(rs, diff);
	if (diags && diags[0]) {
		dv[0] = dup_str(rs, diags);
		ar->diagnostics = dv;
		ar->n_diagnostics = 1;
	}
	ar->sites_updated = updated;
	ar->changed = updated > 0;
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_APPLY;
	rs->r.apply = ar;
	if (rc != 0) {
		fail(rs, "topology %s; the controller keeps its current plan",
		     rc == -EINVAL ? "invalid" : sdw_strerror(rc));
		goto out;
	}
	if (!rq->dry_run) {
		/* The file is what the controller runs: replace it, so the watch and a restart
		 * see the same plan. */
		const char *step = NULL;
		rc = file_replace(c->topology_path, rq->topology.data, rq->topology.len, 0644,
				  &step);
		if (rc != 0)
			fail(rs, "plan loaded but %s not written (%s: %s)", c->topology_path,
			     step ? step : "write", sdw_strerror(rc));
	}
out:
	free(diff);
	free(diags);
}

/* dir for a backup: made 0700, or an existing empty one (nothing is ever overwritten). */
static int backup_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	/* readdir is safe on a stream of one's own: only this thread has d. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	for (const struct dirent *e = readdir(d); e && rc == 0; e = readdir(d)) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rc = -ENOTEMPTY;
	}
	(void)closedir(d);
	return rc;
}

static void do_backup(struct ctlr *c, const Sdwan__Admin__BackupRequest *rq, struct resp *rs)
{
	static const char *const names[] = {STORE_DB_NAME, "controller.key", "topology.yaml"};
	char path[4096];
	const char *step = NULL;
	if (rq->dir[0] != '/' || strlen(rq->dir) > sizeof(path) - 32) {
		fail(rs, "backup directory must be an absolute path (sdwanctl makes it one)");
		return;
	}
	int rc = backup_dir(rq->dir);
	if (rc != 0) {
		fail(rs, "%s: %s; give a new or empty directory", rq->dir,
		     rc == -ENOTEMPTY ? "not empty" : sdw_strerror(rc));
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/%s", rq->dir, names[0]);
	rc = store_backup(c->st, path);
	struct stat st;
	uint64_t db_bytes = rc == 0 && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (rc == 0) {
		step = names[1];
		(void)snprintf(path, sizeof(path), "%s/%s", rq->dir, names[1]);
		rc = zcurve_secret_save(path, &c->kp);
	}
	if (rc == 0) {
		step = names[2];
		(void)snprintf(path, sizeof(path), "%s/%s", rq->dir, names[2]);
		rc = file_replace(path, c->topo_buf, c->topo_len, 0600, NULL);
	}
	if (rc != 0) {
		fail(rs, "backup into %s failed at %s: %s", rq->dir, step ? step : names[0],
		     sdw_strerror(rc));
		return;
	}
	Sdwan__Admin__BackupDone *bd = arena_alloc(&rs->a, sizeof(*bd));
	if (!bd) {
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__backup_done__init(bd);
	bd->dir = dup_str(rs, rq->dir);
	bd->files = (char **)names;
	bd->n_files = sizeof(names) / sizeof(names[0]);
	bd->db_bytes = db_bytes;
	LOG_NOTICE(CTL, "backup written", "dir=%s db_bytes=%" PRIu64, rq->dir, db_bytes);
	ctlr__event(c, NULL, NULL, "backup", rq->dir);
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_BACKUP;
	rs->r.backup = bd;
}

static void do_command(struct ctlr *c, const Sdwan__Admin__CommandRequest *rq, struct resp *rs)
{
	struct ctlr_site *s = ctlr__site_find(c, rq->site);
	Sdwan__Admin__CommandSent *cs = arena_alloc(&rs->a, sizeof(*cs));
	if (!cs) {
		fail(rs, "out of memory");
		return;
	}
	sdwan__admin__command_sent__init(cs);
	int rc;
	switch (rq->kind) {
	case SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_REVOKE:
		rc = ctlr__revoke(c, rq->site);
		cs->detail =
			(char *)"revoked; its session is closed, its peers drop their tunnels to it";
		break;
	case SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_REKEY:
		rc = s ? ctlr__command(c, s, SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW,
				       rq->tunnel, NULL)
		       : -ENOENT;
		cs->detail = (char *)"rekey requested";
		break;
	case SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_ROTATE_KEYS:
		rc = s ? ctlr__command(c, s, SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS, NULL,
				       NULL)
		       : -ENOENT;
		cs->detail = (char *)"key rotation requested";
		break;
	case SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_RE_ENROLL: {
		int64_t exp = 0;
		rc = s && s->connected ? ctlr__token_create(c, rq->site,
							    rq->ttl_ms ? rq->ttl_ms
								       : ADMIN_TOKEN_TTL_DEFAULT_MS,
							    rs->token, &exp)
				       : (s ? -ENOTCONN : -ENOENT);
		if (rc == 0)
			rc = ctlr__command(c, s, SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL, NULL,
					   rs->token);
		OPENSSL_cleanse(rs->token, sizeof(rs->token));
		cs->detail = (char *)"re-enrollment requested with a new one-time token";
		break;
	}
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == -ENOENT) {
		fail(rs, "site '%s' is not enrolled", rq->site);
		return;
	}
	if (rc == -ENOTCONN) {
		fail(rs, "edge of site '%s' is not connected; try again when it is", rq->site);
		return;
	}
	if (rc == -ENOSPC && cmdq_count_site(&c->commands, rq->site) < CMDQ_SITE_MAX) {
		fail(rs, "the controller holds %d unanswered commands; try again later",
		     CMDQ_TOTAL_MAX);
		return;
	}
	if (rc == -ENOSPC) {
		fail(rs,
		     "site '%s' has %d commands its edge has not answered yet; wait for them "
		     "(sdwanctl events --site %s) or for them to expire (%u s)",
		     rq->site, CMDQ_SITE_MAX, rq->site, c->opts.command_timeout_ms / 1000);
		return;
	}
	if (rc != 0) {
		fail(rs, "%s", sdw_strerror(rc));
		return;
	}
	cs->delivered = true;
	LOG_NOTICE(CTL, "operator command", "site=%s kind=%d tunnel=%s", rq->site, (int)rq->kind,
		   rq->tunnel);
	rs->r.body_case = SDWAN__ADMIN__ADMIN_RESPONSE__BODY_COMMAND;
	rs->r.command = cs;
}

static void handle(struct ctlr_admin_conn *k, const uint8_t *p, size_t len)
{
	struct ctlr *c = k->c;
	struct resp rs;
	memset(&rs, 0, sizeof(rs));
	sdwan__admin__admin_response__init(&rs.r);
	rs.r.ok = true;
	Sdwan__Admin__AdminRequest *rq = sdwan__admin__admin_request__unpack(NULL, len, p);
	if (!rq) {
		fail(&rs, "request does not decode (sdwanctl and controller versions differ?)");
	} else {
		switch (rq->body_case) {
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_STATUS:
			do_status(c, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_EDGE_SHOW:
			do_edge_show(c, rq->edge_show, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_EVENTS:
			do_events(c, rq->events, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_TOKEN_CREATE:
			do_token(c, rq->token_create, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_APPLY:
			do_apply(c, rq->apply, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_REVOKE: {
			Sdwan__Admin__CommandRequest cr = SDWAN__ADMIN__COMMAND_REQUEST__INIT;
			cr.kind = SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_REVOKE;
			cr.site = rq->revoke->site;
			do_command(c, &cr, &rs);
			break;
		}
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_COMMAND:
			do_command(c, rq->command, &rs);
			break;
		case SDWAN__ADMIN__ADMIN_REQUEST__BODY_BACKUP:
			do_backup(c, rq->backup, &rs);
			break;
		default:
			fail(&rs, "unknown request");
			break;
		}
	}
	/* A write the reply reports (token, revocation, apply) must be on disk first. */
	if (c->tx_open) {
		c->tx_open = false;
		int rc = store_tx_commit(c->st);
		if (rc != 0) {
			c->counters[CTLR_C_STORE_ERRORS]++;
			fail(&rs, "not saved: %s", sdw_strerror(rc));
		}
	}
	struct admin_write *w = calloc(1, sizeof(*w));
	int rc = w ? admin_response_frame(&rs.r, &w->buf, &w->len) : -ENOMEM;
	OPENSSL_cleanse(rs.token, sizeof(rs.token));
	if (rc == 0) {
		uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
		rc = uv_write(&w->req, (uv_stream_t *)&k->pipe, &b, 1, on_written);
	}
	if (rc != 0) {
		if (w) {
			free(w->buf);
			free(w);
		}
		conn_close(k);
	}
	sdwan__health_report__free_unpacked(rs.health, NULL);
	store_event_list_free(rs.events, rs.n_events);
	arena_free(&rs.a);
	sdwan__admin__admin_request__free_unpacked(rq, NULL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctlr_admin_conn *k = st->data;
	int rc = 0;
	if (n < 0) {
		rc = (int)n;
	} else if (n > 0) {
		rc = admin_reader_feed(&k->rd, (const uint8_t *)buf->base, (size_t)n);
		const uint8_t *p = NULL;
		size_t len = 0;
		while (rc == 0 && !k->closing) {
			int got = admin_reader_next(&k->rd, &p, &len);
			if (got <= 0) {
				rc = got;
				break;
			}
			handle(k, p, len);
		}
	}
	free(buf->base);
	if (rc != 0 && !k->closing)
		conn_close(k);
}

/* Root, or the user the controller runs as. */
static bool peer_allowed(uv_pipe_t *p)
{
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (uv_fileno((uv_handle_t *)p, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	return cr.uid == 0 || cr.uid == getuid();
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct ctlr *c = srv->data;
	if (status < 0)
		return;
	struct ctlr_admin_conn *k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->c = c;
	uv_pipe_init(c->loop, &k->pipe, 0);
	k->pipe.data = k;
	k->next = c->admin_conns;
	if (k->next)
		k->next->prevp = &k->next;
	k->prevp = &c->admin_conns;
	c->admin_conns = k;
	if (uv_accept(srv, (uv_stream_t *)&k->pipe) != 0 || !peer_allowed(&k->pipe)) {
		LOG_WARN(CTL, "admin connection refused: not root or the controller's user", "%s",
			 "");
		conn_close(k);
		return;
	}
	if (uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read) != 0)
		conn_close(k);
}

static void on_admin_closed(uv_handle_t *h)
{
	(void)h;
}

int ctlr__admin_start(struct ctlr *c)
{
	uv_pipe_init(c->loop, &c->admin, 0);
	c->admin.data = c;
	/* A stale socket of a previous run would make bind fail. */
	struct stat sb;
	if (lstat(c->admin_path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		(void)unlink(c->admin_path);
	mode_t old = umask(0077);
	int rc = uv_pipe_bind(&c->admin, c->admin_path);
	umask(old);
	if (rc == 0)
		rc = chmod(c->admin_path, 0600) == 0 ? 0 : uv_translate_sys_error(errno);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->admin, 64, on_connection);
	if (rc != 0) {
		LOG_ERR(CTL, "admin socket not opened", "path=%s err=%s", c->admin_path,
			uv_strerror(rc));
		uv_close((uv_handle_t *)&c->admin, on_admin_closed);
		c->admin.data = NULL;
		return rc;
	}
	return 0;
}

static void on_admin_srv_closed(uv_handle_t *h)
{
	struct ctlr *c = h->data;
	c->handles_open--;
	ctlr__maybe_finish(c);
}

void ctlr__admin_stop(struct ctlr *c)
{
	while (c->admin_conns)
		conn_close(c->admin_conns);
	if (c->admin.data) {
		c->handles_open++;
		uv_close((uv_handle_t *)&c->admin, on_admin_srv_closed);
		(void)unlink(c->admin_path);
	}
}
