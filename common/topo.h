/*
 * The topology model: the WAN as the operator described it in one YAML file, typed, with the
 * source position of every value so that any later stage can report an error at its origin.
 *
 * Built by controller/topo_load (YAML -> model, schema checks) and checked by
 * controller/topo_check (semantics); consumed by the planner. A struct topo owns all of its
 * strings and arrays in one arena; topo_free() releases everything. Read-only once loaded;
 * control path only.
 */
#ifndef SDWAN_COMMON_TOPO_H
#define SDWAN_COMMON_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/prefix.h"
#include "common/proposal.h"

enum topo_type {
	TOPO_FULL_MESH,
	TOPO_HUB_AND_SPOKE,
	TOPO_HYBRID,
};

enum topo_role {
	TOPO_ROLE_HUB,
	TOPO_ROLE_SPOKE,
	TOPO_ROLE_PEER,
	TOPO_ROLE_EXTERNAL, /* an IPsec gateway we do not run (docs/topology.md, External sites) */
	TOPO_ROLE_COUNT,
};

enum topo_dpd_mode {
	TOPO_DPD_ON_IDLE,   /* probe when nothing authenticated arrived for `interval` */
	TOPO_DPD_ON_DEMAND, /* probe only when we sent traffic and heard nothing back */
	TOPO_DPD_OFF,
};

enum topo_auth {
	TOPO_AUTH_CERTIFICATE,
	TOPO_AUTH_PSK,
};

/* The settings a site may override; each has a bit in topo_settings.set. */
enum topo_setting {
	TOPO_SET_IKE,
	TOPO_SET_ESP,
	TOPO_SET_IKE_LIFETIME,
	TOPO_SET_ESP_LIFETIME,
	TOPO_SET_DPD_INTERVAL,
	TOPO_SET_DPD_TIMEOUT,
	TOPO_SET_DPD_MODE,
	TOPO_SET_AUTH,
	TOPO_SET_MTU,
	TOPO_SET_HOLD_DOWN,
	TOPO_SET_COUNT,
};

struct topo_settings {
	struct proposal ike;
	struct proposal esp;
	uint64_t ike_lifetime_ms;
	uint64_t esp_lifetime_ms;
	uint64_t dpd_interval_ms;
	uint64_t dpd_timeout_ms;
	uint8_t dpd_mode;      /* enum topo_dpd_mode */
	uint8_t auth;          /* enum topo_auth */
	uint32_t mtu;          /* underlay MTU in bytes */
	uint64_t hold_down_ms; /* how long a recovered preferred hub must stay up before failback */
	uint32_t set;          /* bit (1u << enum topo_setting) for each value given in the file */
	struct src_pos pos[TOPO_SET_COUNT]; /* where each given value was written */
};

struct topo_link {
	const char *name;
	bool dynamic; /* address assigned by DHCP/NAT: the site can initiate but not be reached */
	struct ip_addr addr;
	struct src_pos pos;      /* the link entry */
	struct src_pos addr_pos; /* its address value */
};

struct topo_subnet {
	struct prefix prefix;
	struct src_pos pos;
};

struct topo_hub_ref {
	const char *name;
	struct src_pos pos;
	uint32_t site; /* index in topo.sites, resolved by topo_check; UINT32_MAX until then */
};

struct topo_site {
	const char *name;
	struct src_pos pos; /* the name value */
	enum topo_role role;
	struct src_pos role_pos;
	struct topo_link *links;
	size_t n_links;
	struct topo_subnet *subnets;
	size_t n_subnets;
	struct topo_hub_ref *hubs; /* spokes and externals: ordered, first = preferred */
	size_t n_hubs;
	struct src_pos hubs_pos;
	struct topo_settings overrides; /* only the fields flagged in overrides.set */
	struct topo_settings effective; /* defaults with this site's overrides applied */
};

struct topo {
	struct arena arena;
	const char *wan;
	struct src_pos wan_pos;
	const char *controller_endpoint;
	const char *enroll_endpoint; /* NULL: the controller's default next to endpoint */
	struct src_pos controller_pos;
	enum topo_type type;
	struct src_pos type_pos;
	struct topo_settings defaults;
	struct topo_site *sites;
	size_t n_sites;
	struct src_pos sites_pos;
};

/* Copy onto base the settings of over selected by mask (bits 1u << enum topo_setting), with
 * their source positions; base->set gains those bits. */
void topo_settings_apply(struct topo_settings *base, const struct topo_settings *over,
			 uint32_t mask);

/* The built-in defaults used where the file's `defaults:` says nothing. */
void topo_settings_builtin(struct topo_settings *s);

/* Free a topology and everything it owns. NULL-safe. */
void topo_free(struct topo *t);

/* Names as written in the file ("full-mesh", "hub", "on-idle", "certificate"). */
const char *topo_type_name(enum topo_type t);
const char *topo_role_name(enum topo_role r);
const char *topo_dpd_mode_name(enum topo_dpd_mode m);
const char *topo_auth_name(enum topo_auth a);

/* The YAML key of a setting ("ike-lifetime"); dpd fields read "dpd.interval". */
const char *topo_setting_key(enum topo_setting s);

/* Whether a site is an external gateway: in the plan, but no edge of ours runs it. */
bool topo_site_is_external(const struct topo_site *s);

/* Whether a site has no static underlay address: it can initiate tunnels but never accept them. */
bool topo_site_is_dynamic(const struct topo_site *s);

/* Bit mask of underlay families a site can use: 1 << IP_V4 | 1 << IP_V6; a dynamic link adds
 * both, as its family is unknown until it comes up. */
unsigned topo_site_families(const struct topo_site *s);

/* Index of the site with this name, or -1. Linear; the planner builds its own index. */
long topo_find_site(const struct topo *t, const char *name);

#endif
