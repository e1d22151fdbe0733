#include "common/topo.h"

#include <stdlib.h>
#include <string.h>

void topo_settings_builtin(struct topo_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->ike.encr = PROPOSAL_ENCR_AES256GCM16;
	s->ike.prf = PROPOSAL_PRF_SHA384;
	s->ike.group = PROPOSAL_GROUP_X25519;
	s->esp.encr = PROPOSAL_ENCR_AES256GCM16;
	s->esp.group = PROPOSAL_GROUP_X25519;
	s->esp.esn = true;
	s->ike_lifetime_ms = 24ull * 3600 * 1000;
	s->esp_lifetime_ms = 1ull * 3600 * 1000;
	s->dpd_interval_ms = 1000;
	s->dpd_timeout_ms = 3000;
	s->dpd_mode = TOPO_DPD_ON_IDLE;
	s->auth = TOPO_AUTH_CERTIFICATE;
	s->mtu = 1500;
	s->hold_down_ms = 10000;
}

void topo_settings_apply(struct topo_settings *base, const struct topo_settings *over,
			 uint32_t mask)
{
	if (mask & 1u << TOPO_SET_IKE)
		base->ike = over->ike;
	if (mask & 1u << TOPO_SET_ESP)
		base->esp = over->esp;
	if (mask & 1u << TOPO_SET_IKE_LIFETIME)
		base->ike_lifetime_ms = over->ike_lifetime_ms;
	if (mask & 1u << TOPO_SET_ESP_LIFETIME)
		base->esp_lifetime_ms = over->esp_lifetime_ms;
	if (mask & 1u << TOPO_SET_DPD_INTERVAL)
		base->dpd_interval_ms = over->dpd_interval_ms;
	if (mask & 1u << TOPO_SET_DPD_TIMEOUT)
		base->dpd_timeout_ms = over->dpd_timeout_ms;
	if (mask & 1u << TOPO_SET_DPD_MODE)
		base->dpd_mode = over->dpd_mode;
	if (mask & 1u << TOPO_SET_AUTH)
		base->auth = over->auth;
	if (mask & 1u << TOPO_SET_MTU)
		base->mtu = over->mtu;
	if (mask & 1u << TOPO_SET_HOLD_DOWN)
		base->hold_down_ms = over->hold_down_ms;
	for (int i = 0; i < TOPO_SET_COUNT; i++)
		if (mask & 1u << i)
			base->pos[i] = over->pos[i];
	base->set |= mask;
}

void topo_free(struct topo *t)
{
	if (!t)
		return;
	arena_free(&t->arena);
	free(t);
}

const char *topo_type_name(enum topo_type t)
{
	static const char *const names[] = {"full-mesh", "hub-and-spoke", "hybrid"};
	return (unsigned)t < 3 ? names[t] : "?";
}

const char *topo_role_name(enum topo_role r)
{
	static const char *const names[TOPO_ROLE_COUNT] = {"hub", "spoke", "peer", "external"};
	return (unsigned)r < TOPO_ROLE_COUNT ? names[r] : "?";
}

const char *topo_dpd_mode_name(enum topo_dpd_mode m)
{
	static const char *const names[] = {"on-idle", "on-demand", "off"};
	return (unsigned)m < 3 ? names[m] : "?";
}

const char *topo_auth_name(enum topo_auth a)
{
	static const char *const names[] = {"certificate", "psk"};
	return (unsigned)a < 2 ? names[a] : "?";
}

const char *topo_setting_key(enum topo_setting s)
{
	static const char *const keys[TOPO_SET_COUNT] = {
		"ike",         "esp",      "ike-lifetime", "esp-lifetime", "dpd.interval",
		"dpd.timeout", "dpd.mode", "auth",         "mtu",          "hold-down",
	};
	return (unsigned)s < TOPO_SET_COUNT ? keys[s] : "?";
}

bool topo_site_is_external(const struct topo_site *s)
{
	return s->role == TOPO_ROLE_EXTERNAL;
}

bool topo_site_is_dynamic(const struct topo_site *s)
{
	for (size_t i = 0; i < s->n_links; i++)
		if (!s->links[i].dynamic)
			return false;
	return true;
}

unsigned topo_site_families(const struct topo_site *s)
{
	unsigned m = 0;
	for (size_t i = 0; i < s->n_links; i++)
		m |= s->links[i].dynamic ? (1u << IP_V4 | 1u << IP_V6)
					 : 1u << s->links[i].addr.family;
	return m;
}

long topo_find_site(const struct topo *t, const char *name)
{
	for (size_t i = 0; i < t->n_sites; i++)
		if (strcmp(t->sites[i].name, name) == 0)
			return (long)i;
	return -1;
}
