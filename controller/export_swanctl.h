/*
 * A strongSwan configuration (swanctl.conf) for an external site: the gateway end of every
 * tunnel the plan gives it, written from the same plan our edges get, so both ends agree by
 * construction (docs/export.md):
 *
 *   connections { <our site> { addresses, IKE proposal, encap, DPD, IKE rekey, ids = site
 *                              names, auth; children { <our site> { local_ts = the gateway's
 *                              subnets, remote_ts = what our site sends (hub transit
 *                              included), ESP proposal, rekey, priority by hub preference }}}}
 *   secrets     { one ike-<our site> entry per PSK tunnel }
 *
 * The gateway is the responder (our edges open and re-open its tunnels: docs/topology.md), so
 * children neither start nor trap. UDP encapsulation is forced (encap = yes) because our data
 * plane carries ESP in UDP only.
 *
 * Beside it, a strongswan.conf fragment (export_swanctl_write_retransmit) sets charon's
 * retransmission schedule so a dead peer is declared after the plan's DPD timeout: strongSwan
 * has no per-connection DPD timeout.
 *
 * A pure renderer: it reads the plan and the credentials it is given and writes text; where the
 * credentials come from (the controller's store, files) is the caller's business. Control path
 * only; no global state.
 */
#ifndef SDWAN_CONTROLLER_EXPORT_SWANCTL_H
#define SDWAN_CONTROLLER_EXPORT_SWANCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "controller/plan.h"

/* Bytes of a tunnel's pre-shared key (the controller's per-tunnel PSK). */
#define EXPORT_PSK_LEN 32

/*
 * The PSK of tunnel (plan name "a:b") into psk: the bytes the controller gives our edge for it.
 * Returns 0 or -errno (then the export fails with that error).
 */
typedef int export_psk_fn(void *arg, const char *tunnel, uint8_t psk[static EXPORT_PSK_LEN]);

/* What the configuration refers to or embeds. Strings are borrowed. */
struct export_swanctl_creds {
	export_psk_fn *psk; /* needed when a tunnel has auth: psk */
	void *psk_arg;
	/* auth: certificate: file names inside swanctl's x509ca/, x509/ and private/ folders. */
	const char *ca_cert_file;   /* our CA, which issued our edges' certificates */
	const char *site_cert_file; /* the gateway's certificate, issued by our CA for its name */
	const char *site_key_file;  /* the gateway's private key */
};

/* What a configuration needs: which kinds of credentials (for the caller to fetch). */
struct export_swanctl_needs {
	size_t psk_tunnels;  /* tunnels with auth: psk */
	size_t cert_tunnels; /* tunnels with auth: certificate */
};

/*
 * Which credentials the configuration of site needs. Returns 0, or -EINVAL when site is not
 * an external site of p (reason in err, err_len bytes, may be NULL).
 */
int export_swanctl_needs(const struct plan *p, uint32_t site, struct export_swanctl_needs *out,
			 char *err, size_t err_len) __attribute__((warn_unused_result));

/*
 * Write the swanctl.conf of external site `site` of plan p to out. The text holds the PSKs
 * (when any): the caller writes it to a 0600 file. Returns 0; -EINVAL when site is not
 * external, has no tunnels, or a credential the tunnels need is missing (reason in err);
 * a PSK callback's error; -EIO when writing failed.
 */
int export_swanctl_write(const struct plan *p, uint32_t site,
			 const struct export_swanctl_creds *creds, FILE *out, char *err,
			 size_t err_len) __attribute__((warn_unused_result));

/*
 * Write the strongswan.conf fragment of external site `site` of plan p to out: charon's
 * retransmission schedule (charon.retransmit_timeout/_base/_tries) such that an unanswered DPD
 * probe declares the peer dead after the shortest DPD timeout among the site's tunnels, one
 * retransmission per DPD interval. Only a comment when DPD is off on every tunnel. The
 * settings are charon-wide. Returns 0; -EINVAL when site is not external (reason in err);
 * -EIO when writing failed.
 */
int export_swanctl_write_retransmit(const struct plan *p, uint32_t site, FILE *out, char *err,
				    size_t err_len) __attribute__((warn_unused_result));

/* strongSwan's spelling of a proposal (IKE: encr-prf-group; ESP: encr[-group]-esn|noesn) into
 * buf (PROPOSAL_STRLEN bytes); returns buf. */
char *export_swanctl_proposal(const struct proposal *pr, enum proposal_kind kind, char *buf);

#endif
