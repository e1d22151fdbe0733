/*
 * Edge configurations: the plan's slice for one site turned into the EdgeConfig message the
 * controller pushes (proto/control.proto), and the digest that decides whether a site's
 * configuration changed.
 *
 * Two levels, so that a WAN of 10,000 sites stays linear:
 *
 *   struct edgecfg_wan   built once per plan: per-site prefix, link and address arrays and the
 *                        WAN prefix table (EdgeConfig.wan_prefixes) that every config shares,
 *                        with the SHA-256 of that table's encoding.
 *   struct edgecfg       one site's EdgeConfig; its arrays borrow from the edgecfg_wan, its
 *                        tunnels and PSKs are its own.
 *
 * WAN table. Hubs (and every edge of a small WAN) get the whole table. A spoke that announced
 * CTL_FEATURE_WAN_SUMMARY, in a WAN whose table exceeds CTL_MSG_SUMMARY_MIN_PREFIXES and
 * aggregates to at most half its size, gets its own site and its tunnels' peer sites listed, and
 * the rest as wan_summary: the WAN's aggregate, split around the listed prefixes, which are left
 * out. With structured addressing that is a
 * handful of prefixes instead of one entry per site (10,000 sites: ~1 KB configs, not 200 KB).
 *
 * Digest: SHA-256 over the config encoded without generation and without the shared WAN table,
 * then the table's digest when the config carries it (a summarised table is hashed as part of
 * the config). Two configs have the same digest exactly when
 * their encodings minus the generation are equal (protobuf-c encodes deterministically), so a
 * generation is bumped only when something the edge would see changed; the table is hashed once
 * per plan rather than once per site.
 *
 * PSKs (auth: psk): each tunnel's key comes from the caller's edgecfg_psk_fn (the controller
 * reads it from the store, making and recording a random one the first time), so both ends of a
 * tunnel get the same key, every tunnel a different one, and restarts change nothing. A config
 * holds only the keys of its own tunnels: a key reaches exactly that tunnel's two ends. Keys are
 * wiped by edgecfg_free; none is logged.
 *
 * Ownership: an edgecfg_wan borrows the plan (and through it the topology), which must outlive
 * it; an edgecfg borrows its edgecfg_wan. Control path only; no global state.
 */
#ifndef SDWAN_CONTROLLER_EDGECFG_H
#define SDWAN_CONTROLLER_EDGECFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/plan.h"
#include "proto/control.pb-c.h"

#define EDGECFG_PSK_LEN    32
#define EDGECFG_DIGEST_LEN 32

/* Health report interval pushed when the caller does not say. */
#define EDGECFG_HEALTH_INTERVAL_DEFAULT_MS 2000u

/*
 * The PSK of tunnel (plan name "a:b") into psk: the same bytes for every call with the same name.
 * Returns 0 or -errno. Called only for tunnels whose profile says auth: psk.
 */
typedef int edgecfg_psk_fn(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN]);

struct edgecfg_wan;
struct store;

/*
 * The PSK source the controller uses: the tunnel's key from the store (arg: struct store *),
 * made from the CSPRNG and recorded the first time (joining the caller's open transaction, if
 * any). Returns 0, or a store error / -EIO (no randomness); psk is wiped on failure.
 */
int edgecfg_psk_store(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN])
	__attribute__((warn_unused_result));

/* One site's configuration. cfg is a complete EdgeConfig (generation 0); fields are private
 * otherwise. */
struct edgecfg {
	Sdwan__EdgeConfig cfg;
	Sdwan__Tunnel *tunnel_store;
	Sdwan__Tunnel **tunnel_ptrs;
	uint8_t *psks; /* slots * EDGECFG_PSK_LEN, wiped on free */
	size_t slots;
	const uint8_t *wan_encoded; /* borrowed from the edgecfg_wan: cfg's WAN table, encoded */
	size_t wan_encoded_len;
	/* A summarised table instead (wan_encoded NULL): the listed sites' entries (borrowed
	 * from the edgecfg_wan) and the summary's prefixes, owned */
	Sdwan__SitePrefixes **listed;
	struct prefix *summary;
	Sdwan__Prefix *summary_msgs; /* followed by the pointer array cfg.wan_summary */
	uint8_t digest[EDGECFG_DIGEST_LEN];
};

/*
 * Build the shared part for plan p: ca_der (len bytes, copied; may be empty) is the trust anchor
 * every config carries; health_interval_ms (0: the default) what the edges are told. On success
 * *out is owned by the caller (edgecfg_wan_free). Returns 0, -ENOMEM, -EINVAL.
 */
int edgecfg_wan_new(const struct plan *p, const uint8_t *ca_der, size_t ca_len,
		    uint32_t health_interval_ms, struct edgecfg_wan **out)
	__attribute__((warn_unused_result));

/* Free the shared part. Every edgecfg built from it must be freed first. NULL-safe. */
void edgecfg_wan_free(struct edgecfg_wan *w);

/* The plan w was built from, borrowed. */
const struct plan *edgecfg_wan_plan(const struct edgecfg_wan *w);

/*
 * Leave every tunnel to site (index into the plan's topology) out of the configs built from w
 * from now on, or (cut false) put them back. A revoked edge is cut off: its peers' next
 * configurations no longer have a tunnel to it, so they delete their SAs with it and refuse it
 * as an IKE peer. Returns 0, or -EINVAL for a site out of range.
 */
int edgecfg_wan_cut_off(struct edgecfg_wan *w, uint32_t site, bool cut);

/*
 * What site's edge understands (CTL_FEATURE_* bits, as it announced them): configs built from w
 * from now on use only those features; a spoke gets a summarised table only with
 * CTL_FEATURE_WAN_SUMMARY. Every site starts with none. Returns 0, or -EINVAL for a site out
 * of range.
 */
int edgecfg_wan_features(struct edgecfg_wan *w, uint32_t site, uint64_t features);

/*
 * Build site's configuration (site: index into the plan's topology) and its digest. psk is
 * called for every PSK tunnel of the site. On success *out is owned by the caller
 * (edgecfg_free). Returns 0, -EINVAL (site out of range), -ENOMEM, or psk's error.
 */
int edgecfg_build(const struct edgecfg_wan *w, uint32_t site, edgecfg_psk_fn *psk, void *psk_arg,
		  struct edgecfg **out) __attribute__((warn_unused_result));

/* Wipe the PSKs and free. NULL-safe. */
void edgecfg_free(struct edgecfg *ec);

/*
 * Encode ec as a complete Envelope{config} of the given generation and msg_id into a new buffer
 * (*out, *len; owned by the caller, release with ctl_msg_buf_free, which wipes the PSKs).
 * Returns 0, -ENOMEM, -EMSGSIZE (over CTL_MSG_MAX_SIZE).
 */
int edgecfg_encode(struct edgecfg *ec, uint64_t generation, uint64_t msg_id, uint8_t **out,
		   size_t *len) __attribute__((warn_unused_result));

#endif
