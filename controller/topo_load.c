#include "controller/topo_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/strutil.h"
#include "common/ydoc.h"

struct loader {
	struct topo *t;
	struct diag_list *d;
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = {"wan", "controller", "type", "defaults", "sites"};
static const char *const controller_keys[] = {"endpoint", "enroll-endpoint"};
static const char *const settings_keys[] = {"ike", "esp",  "ike-lifetime", "esp-lifetime",
					    "dpd", "auth", "mtu",          "hold-down"};
static const char *const site_keys[] = {"name", "role", "underlay",     "subnets",      "hubs",
					"ike",  "esp",  "ike-lifetime", "esp-lifetime", "dpd",
					"auth", "mtu",  "hold-down"};
static const char *const link_keys[] = {"name", "address"};
static const char *const dpd_keys[] = {"interval", "timeout", "mode"};
static const char *const type_names[] = {"full-mesh", "hub-and-spoke", "hybrid"};
static const char *const role_names[] = {"hub", "spoke", "peer", "external"};
static const char *const dpd_mode_names[] = {"on-idle", "on-demand", "off"};
static const char *const auth_names[] = {"certificate", "psk"};

static void join_names(char *buf, size_t cap, const char *const *names, size_t n)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < cap; i++) {
		int w = snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* Unknown keys are the most common typo: name the nearest known key, or list them all. */
static void check_keys(struct loader *ld, const struct ynode *map, const char *const *known,
		       size_t n, const char *where)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i];
		bool ok = false;
		for (size_t j = 0; j < n && !ok; j++)
			ok = strcmp(k->str, known[j]) == 0;
		if (ok)
			continue;
		const char *near = str_nearest(k->str, known, n);
		if (near) {
			diag_error(ld->d, k->pos, "unknown key '%s' in %s (did you mean '%s'?)",
				   k->str, where, near);
		} else {
			char list[256];
			join_names(list, sizeof(list), known, n);
			diag_error(ld->d, k->pos, "unknown key '%s' in %s; expected one of: %s",
				   k->str, where, list);
		}
	}
}

static const struct ynode *require(struct loader *ld, const struct ynode *map, const char *key,
				   const char *where, const char *example)
{
	const struct ynode *v = ynode_get(map, key);
	if (!v)
		diag_error(ld->d, map->pos, "%s is missing required key '%s' (e.g. %s)", where, key,
			   example);
	return v;
}

static bool expect_kind(struct loader *ld, const struct ynode *n, enum ynode_kind kind,
			const char *what)
{
	if (n->kind == kind && !(kind == YNODE_SCALAR && ynode_is_null(n)))
		return true;
	static const char *const kind_names[] = {"a single value", "a mapping (key: value lines)",
						 "a list (lines starting with '- ')"};
	diag_error(ld->d, n->pos, "%s must be %s, not %s", what, kind_names[kind],
		   ynode_kind_name(n));
	return false;
}

static const char *as_string(struct loader *ld, const struct ynode *n, const char *what)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return NULL;
	const char *s = arena_strndup(&ld->t->arena, n->str, n->len);
	if (!s)
		diag_error(ld->d, n->pos, "out of memory");
	return s;
}

/* Names become certificate identities, namespace and interface names: keep them tame. */
static bool valid_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 31 || s[0] < 'a' || s[0] > 'z' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static const char *as_name(struct loader *ld, const struct ynode *n, const char *what)
{
	const char *s = as_string(ld, n, what);
	if (s && !valid_name(s)) {
		diag_error(ld->d, n->pos,
			   "%s '%s' must be 1-31 lowercase letters, digits or '-', starting with a "
			   "letter and not ending with '-'",
			   what, s);
		return NULL;
	}
	return s;
}

static int as_enum(struct loader *ld, const struct ynode *n, const char *const *names, size_t count,
		   const char *what)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return -1;
	for (size_t i = 0; i < count; i++)
		if (strcmp(n->str, names[i]) == 0)
			return (int)i;
	char list[128];
	join_names(list, sizeof(list), names, count);
	const char *near = str_nearest(n->str, names, count);
	if (near)
		diag_error(ld->d, n->pos, "unknown %s '%s' (did you mean '%s'?)", what, n->str,
			   near);
	else
		diag_error(ld->d, n->pos, "unknown %s '%s'; expected one of: %s", what, n->str,
			   list);
	return -1;
}

static bool as_duration(struct loader *ld, const struct ynode *n, const char *what, uint64_t min,
			uint64_t max, uint64_t *out)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	uint64_t ms;
	int rc = duration_parse(n->str, &ms);
	bool bare = rc == -EINVAL && n->str[0] >= '0' && n->str[0] <= '9' &&
		    strspn(n->str, "0123456789") == n->len;
	if (bare) {
		diag_error(ld->d, n->pos, "%s '%s' has no unit; write e.g. %ss or %sms", what,
			   n->str, n->str, n->str);
		return false;
	}
	if (rc != 0) {
		diag_error(ld->d, n->pos,
			   "%s '%s' is not a duration; write a number and a unit (ms, s, m, h, d), "
			   "e.g. 200ms, 30s, 24h or 1h30m",
			   what, n->str);
		return false;
	}
	if (ms < min || ms > max) {
		char lo[DURATION_STRLEN], hi[DURATION_STRLEN];
		diag_error(ld->d, n->pos, "%s %s is out of range; allowed: %s to %s", what, n->str,
			   duration_format(min, lo), duration_format(max, hi));
		return false;
	}
	*out = ms;
	return true;
}

static bool as_uint(struct loader *ld, const struct ynode *n, const char *what, uint32_t min,
		    uint32_t max, uint32_t *out)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	size_t digits = strspn(n->str, "0123456789");
	if (digits == 0 || digits != n->len || digits > 9) {
		diag_error(ld->d, n->pos, "%s must be a whole number, not '%s'", what, n->str);
		return false;
	}
	unsigned long v = strtoul(n->str, NULL, 10);
	if (v < min || v > max) {
		diag_error(ld->d, n->pos, "%s %lu is out of range; allowed: %u to %u", what, v, min,
			   max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool as_proposal(struct loader *ld, const struct ynode *n, enum proposal_kind kind,
			struct proposal *out)
{
	const char *what = kind == PROPOSAL_IKE ? "ike proposal" : "esp proposal";
	/* A plain `null` is YAML's null, but here the operator means the NULL cipher: refuse it
	 * as a cipher, with the reason, rather than as a missing value. */
	bool null_cipher = n->kind == YNODE_SCALAR && strcmp(n->str, "null") == 0;
	if (!null_cipher && !expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	struct proposal_errors errs;
	if (proposal_parse(n->str, kind, out, &errs) == 0)
		return true;
	for (size_t i = 0; i < errs.n; i++) {
		struct src_pos p = n->pos;
		/* Point at the offending token; exact for plain and simply quoted scalars. */
		if (errs.e[i].offset < 4096)
			p.col += (uint32_t)errs.e[i].offset;
		diag_error(ld->d, p, "%s: %s", what, errs.e[i].msg);
	}
	return false;
}

static void set_given(struct topo_settings *s, enum topo_setting which, const struct ynode *n)
{
	s->set |= 1u << which;
	s->pos[which] = n->pos;
}

static void load_dpd(struct loader *ld, const struct ynode *dpd, struct topo_settings *s)
{
	if (!expect_kind(ld, dpd, YNODE_MAP, "dpd"))
		return;
	check_keys(ld, dpd, dpd_keys, ARRAY_LEN(dpd_keys), "dpd");
	const struct ynode *v;
	/* Sub-second liveness is the point; 10ms is the floor below which probes become load. */
	if ((v = ynode_get(dpd, "interval")) &&
	    as_duration(ld, v, "dpd interval", 10, 3600000, &s->dpd_interval_ms))
		set_given(s, TOPO_SET_DPD_INTERVAL, v);
	if ((v = ynode_get(dpd, "timeout")) &&
	    as_duration(ld, v, "dpd timeout", 10, 3600000, &s->dpd_timeout_ms))
		set_given(s, TOPO_SET_DPD_TIMEOUT, v);
	if ((v = ynode_get(dpd, "mode"))) {
		int m = as_enum(ld, v, dpd_mode_names, ARRAY_LEN(dpd_mode_names), "dpd mode");
		if (m >= 0) {
			s->dpd_mode = (uint8_t)m;
			set_given(s, TOPO_SET_DPD_MODE, v);
		}
	}
}

/* Read the overridable settings present in map into s (marking each in s->set). */
static void load_settings(struct loader *ld, const struct ynode *map, struct topo_settings *s)
{
	const struct ynode *v;
	if ((v = ynode_get(map, "ike")) && as_proposal(ld, v, PROPOSAL_IKE, &s->ike))
		set_given(s, TOPO_SET_IKE, v);
	if ((v = ynode_get(map, "esp")) && as_proposal(ld, v, PROPOSAL_ESP, &s->esp))
		set_given(s, TOPO_SET_ESP, v);
	if ((v = ynode_get(map, "ike-lifetime")) &&
	    as_duration(ld, v, "ike-lifetime", 60000, 30ull * 86400000, &s->ike_lifetime_ms))
		set_given(s, TOPO_SET_IKE_LIFETIME, v);
	if ((v = ynode_get(map, "esp-lifetime")) &&
	    as_duration(ld, v, "esp-lifetime", 10000, 30ull * 86400000, &s->esp_lifetime_ms))
		set_given(s, TOPO_SET_ESP_LIFETIME, v);
	if ((v = ynode_get(map, "dpd")))
		load_dpd(ld, v, s);
	if ((v = ynode_get(map, "auth"))) {
		int a = as_enum(ld, v, auth_names, ARRAY_LEN(auth_names), "auth method");
		if (a >= 0) {
			s->auth = (uint8_t)a;
			set_given(s, TOPO_SET_AUTH, v);
		}
	}
	if ((v = ynode_get(map, "mtu")) && as_uint(ld, v, "mtu", 576, 9216, &s->mtu))
		set_given(s, TOPO_SET_MTU, v);
	if ((v = ynode_get(map, "hold-down")) &&
	    as_duration(ld, v, "hold-down", 0, 3600000, &s->hold_down_ms))
		set_given(s, TOPO_SET_HOLD_DOWN, v);
}

/* "tcp://HOST:PORT", HOST a name, an IPv4 address or a bracketed IPv6 address. */
static bool valid_endpoint(const char *s)
{
	if (strncmp(s, "tcp://", 6) != 0)
		return false;
	const char *host = s + 6;
	const char *colon = strrchr(host, ':');
	if (!colon || colon == host)
		return false;
	if (host[0] == '[' && colon[-1] != ']')
		return false;
	size_t digits = strspn(colon + 1, "0123456789");
	if (digits == 0 || digits > 5 || colon[1 + digits] != '\0')
		return false;
	long port = strtol(colon + 1, NULL, 10);
	return port >= 1 && port <= 65535;
}

static const char *as_endpoint(struct loader *ld, const struct ynode *n, const char *what)
{
	const char *s = as_string(ld, n, what);
	if (s && !valid_endpoint(s)) {
		diag_error(ld->d, n->pos,
			   "%s '%s' must look like tcp://HOST:PORT (e.g. tcp://192.0.2.10:7800, "
			   "tcp://[2001:db8::10]:7800)",
			   what, s);
		return NULL;
	}
	return s;
}

static void load_controller(struct loader *ld, const struct ynode *c)
{
	ld->t->controller_pos = c->pos;
	if (!expect_kind(ld, c, YNODE_MAP, "controller"))
		return;
	check_keys(ld, c, controller_keys, ARRAY_LEN(controller_keys), "controller");
	const struct ynode *v =
		require(ld, c, "endpoint", "controller", "endpoint: tcp://192.0.2.10:7800");
	if (v)
		ld->t->controller_endpoint = as_endpoint(ld, v, "controller endpoint");
	if ((v = ynode_get(c, "enroll-endpoint")))
		ld->t->enroll_endpoint = as_endpoint(ld, v, "controller enroll-endpoint");
}

static void load_link(struct loader *ld, const struct ynode *n, const struct topo_site *s,
		      struct topo_link *l)
{
	l->pos = n->pos;
	if (!expect_kind(ld, n, YNODE_MAP, "an underlay link"))
		return;
	check_keys(ld, n, link_keys, ARRAY_LEN(link_keys), "underlay link");
	const struct ynode *v = require(ld, n, "name", "underlay link", "name: inet");
	if (v)
		l->name = as_name(ld, v, "link name");
	v = require(ld, n, "address", "underlay link", "address: 192.0.2.1, or dynamic");
	if (!v || !expect_kind(ld, v, YNODE_SCALAR, "link address"))
		return;
	l->addr_pos = v->pos;
	if (strcmp(v->str, "dynamic") == 0) {
		l->dynamic = true;
		/* Our edges open every tunnel to an external gateway (docs/topology.md), so they
		 * must know where to find it. */
		if (s->role == TOPO_ROLE_EXTERNAL)
			diag_error(ld->d, v->pos,
				   "external site '%s' needs a static underlay address: our edges "
				   "open its tunnels and must know where to reach it; write its "
				   "public address (e.g. 203.0.113.50)",
				   s->name ? s->name : "?");
		return;
	}
	if (strchr(v->str, '/')) {
		diag_error(ld->d, v->pos,
			   "underlay address '%s' must be a single address without a prefix length",
			   v->str);
	} else if (ip_addr_parse(v->str, &l->addr) != 0) {
		diag_error(ld->d, v->pos,
			   "underlay address '%s' is not an IPv4 or IPv6 address; write one, or "
			   "'dynamic' for a site behind NAT or DHCP",
			   v->str);
	} else if (!ip_addr_is_unicast(&l->addr)) {
		diag_error(ld->d, v->pos,
			   "underlay address %s cannot identify a site (unspecified, loopback, "
			   "multicast or broadcast)",
			   v->str);
	} else {
		return;
	}
	/* Keep the model consistent: an unusable address is treated as absent. */
	l->dynamic = true;
}

static void load_subnet(struct loader *ld, const struct ynode *n, struct topo_subnet *s)
{
	s->pos = n->pos;
	if (!expect_kind(ld, n, YNODE_SCALAR, "a subnet"))
		return;
	bool host_bits;
	if (prefix_parse(n->str, &s->prefix, &host_bits) != 0) {
		if (!strchr(n->str, '/') && ip_addr_parse(n->str, &s->prefix.addr) == 0)
			diag_error(ld->d, n->pos,
				   "subnet '%s' has no prefix length; write e.g. %s/%u", n->str,
				   n->str, s->prefix.addr.family == IP_V4 ? 24u : 64u);
		else
			diag_error(ld->d, n->pos,
				   "subnet '%s' is not an IPv4 or IPv6 prefix (e.g. 10.1.0.0/24, "
				   "2001:db8:1::/64)",
				   n->str);
		memset(&s->prefix, 0, sizeof(s->prefix));
		return;
	}
	if (host_bits) {
		char fixed[PREFIX_STRLEN];
		diag_error(ld->d, n->pos, "subnet '%s' has host bits set; did you mean %s?", n->str,
			   prefix_format(&s->prefix, fixed));
	}
}

static void *alloc_array(struct loader *ld, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	return arena_alloc(&ld->t->arena, n * size);
}

static void load_site_lists(struct loader *ld, const struct ynode *n, struct topo_site *s)
{
	const struct ynode *v =
		require(ld, n, "underlay", "site", "underlay: [{name: inet, address: 192.0.2.1}]");
	if (v && expect_kind(ld, v, YNODE_SEQ, "underlay")) {
		if (v->n == 0)
			diag_error(ld->d, v->pos, "site needs at least one underlay link");
		s->links = alloc_array(ld, v->n, sizeof(*s->links));
		s->n_links = s->links ? v->n : 0;
		for (size_t i = 0; i < s->n_links; i++)
			load_link(ld, v->items[i], s, &s->links[i]);
	}
	if ((v = ynode_get(n, "subnets")) && expect_kind(ld, v, YNODE_SEQ, "subnets")) {
		s->subnets = alloc_array(ld, v->n, sizeof(*s->subnets));
		s->n_subnets = s->subnets ? v->n : 0;
		for (size_t i = 0; i < s->n_subnets; i++)
			load_subnet(ld, v->items[i], &s->subnets[i]);
	}
	if ((v = ynode_get(n, "hubs")) && expect_kind(ld, v, YNODE_SEQ, "hubs")) {
		s->hubs_pos = v->pos;
		s->hubs = alloc_array(ld, v->n, sizeof(*s->hubs));
		s->n_hubs = s->hubs ? v->n : 0;
		for (size_t i = 0; i < s->n_hubs; i++) {
			s->hubs[i].pos = v->items[i]->pos;
			s->hubs[i].site = UINT32_MAX;
			s->hubs[i].name = as_string(ld, v->items[i], "hub name");
		}
	}
}

static void load_site(struct loader *ld, const struct ynode *n, struct topo_site *s)
{
	s->pos = n->pos;
	s->role = TOPO_ROLE_PEER;
	if (!expect_kind(ld, n, YNODE_MAP, "a site"))
		return;
	check_keys(ld, n, site_keys, ARRAY_LEN(site_keys), "site");
	const struct ynode *v = require(ld, n, "name", "site", "name: branch1");
	if (v) {
		s->pos = v->pos;
		s->name = as_name(ld, v, "site name");
	}
	v = require(ld, n, "role", "site", "role: spoke");
	if (v) {
		s->role_pos = v->pos;
		int r = as_enum(ld, v, role_names, ARRAY_LEN(role_names), "role");
		if (r >= 0)
			s->role = (enum topo_role)r;
	}
	load_site_lists(ld, n, s);
	load_settings(ld, n, &s->overrides);
	if (s->role == TOPO_ROLE_EXTERNAL && (s->overrides.set & 1u << TOPO_SET_HOLD_DOWN))
		diag_error(ld->d, s->overrides.pos[TOPO_SET_HOLD_DOWN],
			   "hold-down is the failback timer of our own edges; external site '%s' "
			   "is not run by us, so remove it (its gateway fails over as its own "
			   "software decides)",
			   s->name ? s->name : "?");
}

static void load_sites(struct loader *ld, const struct ynode *v)
{
	ld->t->sites_pos = v->pos;
	if (!expect_kind(ld, v, YNODE_SEQ, "sites"))
		return;
	if (v->n == 0) {
		diag_error(ld->d, v->pos, "sites is empty; describe at least two sites");
		return;
	}
	ld->t->sites = alloc_array(ld, v->n, sizeof(*ld->t->sites));
	if (!ld->t->sites) {
		diag_error(ld->d, v->pos, "out of memory");
		return;
	}
	ld->t->n_sites = v->n;
	for (size_t i = 0; i < v->n; i++)
		load_site(ld, v->items[i], &ld->t->sites[i]);
}

static void load_root(struct loader *ld, const struct ynode *root)
{
	struct topo *t = ld->t;
	check_keys(ld, root, top_keys, ARRAY_LEN(top_keys), "the topology");
	const struct ynode *v = require(ld, root, "wan", "the topology", "wan: acme");
	if (v) {
		t->wan_pos = v->pos;
		t->wan = as_name(ld, v, "WAN name");
	}
	v = require(ld, root, "controller", "the topology",
		    "controller: {endpoint: tcp://192.0.2.10:7800}");
	if (v)
		load_controller(ld, v);
	v = require(ld, root, "type", "the topology", "type: hub-and-spoke");
	if (v) {
		t->type_pos = v->pos;
		int ty = as_enum(ld, v, type_names, ARRAY_LEN(type_names), "topology type");
		if (ty >= 0)
			t->type = (enum topo_type)ty;
	}
	if ((v = ynode_get(root, "defaults")) && expect_kind(ld, v, YNODE_MAP, "defaults")) {
		check_keys(ld, v, settings_keys, ARRAY_LEN(settings_keys), "defaults");
		load_settings(ld, v, &t->defaults);
	}
	v = require(ld, root, "sites", "the topology", "sites: [...]");
	if (v)
		load_sites(ld, v);
	for (size_t i = 0; i < t->n_sites; i++) {
		struct topo_site *s = &t->sites[i];
		s->effective = t->defaults;
		s->effective.set = 0;
		topo_settings_apply(&s->effective, &s->overrides, s->overrides.set);
	}
}

static int load_doc(struct ydoc *doc, struct topo **out, struct diag_list *diags)
{
	struct topo *t = calloc(1, sizeof(*t));
	if (!t) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	topo_settings_builtin(&t->defaults);
	struct loader ld = {.t = t, .d = diags};
	struct src_pos top = {1, 1};
	if (!doc->root || ynode_is_null(doc->root))
		diag_error(
			diags, top,
			"the file is empty; a topology needs wan:, controller:, type: and sites:");
	else if (doc->root->kind != YNODE_MAP)
		diag_error(diags, doc->root->pos,
			   "the topology must be a mapping with wan:, controller:, type: and "
			   "sites:, not %s",
			   ynode_kind_name(doc->root));
	else
		load_root(&ld, doc->root);
	ydoc_free(doc);
	*out = t;
	return 0;
}

int topo_load_buf(const uint8_t *buf, size_t len, struct topo **out, struct diag_list *diags)
{
	struct ydoc *doc;
	*out = NULL;
	int rc = ydoc_parse(buf, len, NULL, &doc, diags);
	if (rc != 0)
		return rc;
	return load_doc(doc, out, diags);
}

int topo_load_file(const char *path, struct topo **out, struct diag_list *diags)
{
	struct ydoc *doc;
	*out = NULL;
	int rc = ydoc_load_file(path, NULL, &doc, diags);
	if (rc != 0)
		return rc;
	return load_doc(doc, out, diags);
}
