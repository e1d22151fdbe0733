/*
 * The edge's local configuration file (`sdwan-edge --config FILE`): exactly what the controller
 * would push (proto/control.proto EdgeConfig) written as YAML, plus a `local:` mapping of the
 * settings the controller never pushes (TUN name, ports, key files). docs/edge-config.md lists
 * every key.
 *
 *   FILE --read--> bytes --ydoc--> YAML tree with positions --schema--> EdgeConfig + local
 *                                                              \--> FILE:LINE:COL: error: ...
 *
 * Every problem in the file is reported at once, each at its line and column and saying what
 * to write instead. Proposals are checked with common/proposal.h, prefixes and addresses with
 * common/prefix.h, durations with common/duration.h. Keys are the .proto field names; duration
 * fields drop their `_ms` suffix because the value carries its unit (`ike_lifetime: 24h`).
 *
 * Secrets: a tunnel's PSK is written as hex (`psk: 0x...`) or read from `psk_file: PATH` (hex
 * too; refused when the file is readable by group or others, like ssh refuses a private key).
 * Every buffer that held the key text is wiped; the decoded key lives in the returned config
 * until edge_conf_free() wipes it.
 *
 * Ownership: the returned EdgeConfig is one allocation tree owned by the caller and released
 * only with edge_conf_free() (never with the protobuf-c free functions). Control path only; the
 * functions keep no state and may run on any one thread at a time per config.
 */
#ifndef SDWAN_EDGE_EDGE_CONF_H
#define SDWAN_EDGE_EDGE_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/prefix.h"
#include "proto/control.pb-c.h"

/* Settings of the local machine that the controller does not push. */
struct edge_local_settings {
	char tun_name[16];          /* TUN device name, default "sdwan0" */
	struct ip_addr listen_addr; /* underlay address to bind IKE/ESP to; family 0 = any */
	uint16_t ike_port;          /* default 500 */
	uint16_t natt_port;         /* default 4500 (ESP-in-UDP and floated IKE) */
	unsigned workers;           /* data-plane workers, 0 = one per core */
	char key_path[256], cert_path[256], ca_path[256]; /* PEM files for certificate auth */
	char keylog_path[256];                            /* empty = off */
	/* Testing only: outbound ESP SAs start at this sequence number (0 = normal), so that
	 * sequence-space rekeying and exhaustion can be exercised without 2^32 packets. */
	uint64_t test_esp_first_seq;
};

/* Fill *local with the defaults above (every other field zero/empty). */
void edge_local_settings_default(struct edge_local_settings *local);

/*
 * Load the configuration file at path. Relative paths inside it (psk_file, local key/cert/ca/
 * keylog paths) are taken relative to the file's directory.
 *
 * Returns 0 with *cfg (owned by the caller: edge_conf_free) and *local filled; diags may then
 * hold warnings. Otherwise *cfg is NULL and the return is -EINVAL (the file is wrong: every
 * reason is in diags, positions in the file), -ENOENT/-EACCES/... (it could not be read: also
 * described in diags at line 0) or -ENOMEM. diags is owned by the caller; print it with
 * diag_print(diags, path, stderr).
 */
int edge_conf_load_file(const char *path, struct Sdwan__EdgeConfig **cfg,
			struct edge_local_settings *local, struct diag_list *diags)
	__attribute__((warn_unused_result));

/*
 * As edge_conf_load_file, from buf[0..len) (borrowed, not modified). Relative paths are taken
 * relative to base_dir; with base_dir NULL no file is opened at all (psk_file is then refused),
 * which is what the fuzzer and unit tests of the pure schema use.
 */
int edge_conf_load_buf(const uint8_t *buf, size_t len, const char *base_dir,
		       struct Sdwan__EdgeConfig **cfg, struct edge_local_settings *local,
		       struct diag_list *diags) __attribute__((warn_unused_result));

/* Wipe every PSK in cfg and free it. Only for configs from edge_conf_load_*; NULL-safe. */
void edge_conf_free(struct Sdwan__EdgeConfig *cfg);

#endif
