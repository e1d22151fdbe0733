#include "controller/topo_emit.h"

#include <string.h>

#include "common/duration.h"

/* Every value we emit is a name, number, address, prefix, duration, proposal or endpoint;
 * only ':' (IPv6, endpoints) needs quoting, and none contains '"' or '\'. */
static void scalar(FILE *out, const char *s)
{
	if (strchr(s, ':'))
		fprintf(out, "\"%s\"", s);
	else
		fputs(s, out);
}

static void kv(FILE *out, int indent, const char *key, const char *value)
{
	fprintf(out, "%*s%s: ", indent, "", key);
	scalar(out, value);
	fputc('\n', out);
}

static bool given(const struct topo_settings *s, enum topo_setting which, bool all)
{
	return all || (s->set & 1u << which);
}

/* Settings at `indent`; all=true writes every field (defaults), else only the given ones. */
static void settings(FILE *out, int indent, const struct topo_settings *s, bool all)
{
	char buf[PROPOSAL_STRLEN > DURATION_STRLEN ? PROPOSAL_STRLEN : DURATION_STRLEN];
	if (given(s, TOPO_SET_IKE, all))
		kv(out, indent, "ike", proposal_format(&s->ike, PROPOSAL_IKE, buf));
	if (given(s, TOPO_SET_ESP, all))
		kv(out, indent, "esp", proposal_format(&s->esp, PROPOSAL_ESP, buf));
	if (given(s, TOPO_SET_IKE_LIFETIME, all))
		kv(out, indent, "ike-lifetime", duration_format(s->ike_lifetime_ms, buf));
	if (given(s, TOPO_SET_ESP_LIFETIME, all))
		kv(out, indent, "esp-lifetime", duration_format(s->esp_lifetime_ms, buf));
	bool iv = given(s, TOPO_SET_DPD_INTERVAL, all), to = given(s, TOPO_SET_DPD_TIMEOUT, all),
	     mo = given(s, TOPO_SET_DPD_MODE, all);
	if (iv || to || mo) {
		fprintf(out, "%*sdpd:\n", indent, "");
		if (iv)
			kv(out, indent + 2, "interval", duration_format(s->dpd_interval_ms, buf));
		if (to)
			kv(out, indent + 2, "timeout", duration_format(s->dpd_timeout_ms, buf));
		if (mo)
			kv(out, indent + 2, "mode", topo_dpd_mode_name(s->dpd_mode));
	}
	if (given(s, TOPO_SET_AUTH, all))
		kv(out, indent, "auth", topo_auth_name(s->auth));
	if (given(s, TOPO_SET_MTU, all))
		fprintf(out, "%*smtu: %u\n", indent, "", s->mtu);
	if (given(s, TOPO_SET_HOLD_DOWN, all))
		kv(out, indent, "hold-down", duration_format(s->hold_down_ms, buf));
}

static void site(FILE *out, const struct topo *t, const struct topo_site *s)
{
	char buf[PREFIX_STRLEN];
	fprintf(out, "  - name: %s\n    role: %s\n", s->name, topo_role_name(s->role));
	fputs("    underlay:\n", out);
	for (size_t i = 0; i < s->n_links; i++) {
		const struct topo_link *l = &s->links[i];
		fprintf(out, "      - name: %s\n", l->name);
		kv(out, 8, "address", l->dynamic ? "dynamic" : ip_addr_format(&l->addr, buf));
	}
	if (s->n_subnets) {
		fputs("    subnets:\n", out);
		for (size_t i = 0; i < s->n_subnets; i++) {
			fputs("      - ", out);
			scalar(out, prefix_format(&s->subnets[i].prefix, buf));
			fputc('\n', out);
		}
	}
	if (s->n_hubs) {
		fputs("    hubs:\n", out);
		for (size_t i = 0; i < s->n_hubs; i++)
			fprintf(out, "      - %s\n",
				s->hubs[i].site != UINT32_MAX ? t->sites[s->hubs[i].site].name
							      : s->hubs[i].name);
	}
	settings(out, 4, &s->overrides, false);
}

void topo_emit_yaml(const struct topo *t, FILE *out)
{
	fprintf(out, "wan: %s\ncontroller:\n", t->wan);
	kv(out, 2, "endpoint", t->controller_endpoint);
	if (t->enroll_endpoint)
		kv(out, 2, "enroll-endpoint", t->enroll_endpoint);
	fprintf(out, "type: %s\ndefaults:\n", topo_type_name(t->type));
	settings(out, 2, &t->defaults, true);
	fputs("sites:\n", out);
	for (size_t i = 0; i < t->n_sites; i++)
		site(out, t, &t->sites[i]);
}
