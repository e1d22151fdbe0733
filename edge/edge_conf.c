/*
 * The edge's local configuration file (see edge_conf.h and docs/edge-config.md).
 *
 * The schema walk mirrors controller/topo_load.c: every value is checked where it stands and
 * reported at its own line and column, and loading goes on after an error so one run shows
 * them all. The result is built in one arena owned by a box around the EdgeConfig, so the
 * caller frees it with one call whatever the shape.
 */
#include "edge/edge_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/arena.h"
#include "common/ctl_msg.h"
#include "common/duration.h"
#include "common/error.h"
#include "common/proposal.h"
#include "common/rd.h"
#include "common/strutil.h"
#include "common/ydoc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum {
	PSK_MIN = 16,         /* octets: below 128 bits a PSK is guessable offline */
	PSK_MAX = 128,        /* octets: the IKE engine's limit (IKE_PSK_MAX) */
	PSK_FILE_MAX = 4096,  /* bytes: a hex key with comments to spare */
	TUNNEL_NAME_MAX = 63, /* characters: the IKE engine's limit (IKE_PEER_NAME_MAX - 1) */
	IDENTITY_MAX = 255,   /* characters: an ID_FQDN (IKE_ID_MAX - 1) */
};

/* The config and everything it points to live in the box's arena. */
struct edge_conf_box {
	Sdwan__EdgeConfig cfg; /* first, so edge_conf_free finds the box from the config */
	struct arena arena;
};

struct loader {
	struct edge_conf_box *box;
	struct edge_local_settings *local;
	struct diag_list *d;
	const char *base_dir; /* relative paths start here; NULL: open no file at all */
	const char *file;     /* the config file, for messages; NULL when loading a buffer */
	bool file_shared;     /* the config file is readable by group or others */
};

static const char *const top_keys[] = {
	"generation", "site",        "role",         "wan_name",           "local_subnets",
	"links",      "tunnels",     "wan_prefixes", "failback_hold_down", "health_interval",
	"local",      "wan_summary",
};
static const char *const tunnel_keys[] = {
	"name",
	"peer_site",
	"peer_identity",
	"peer_addresses",
	"initiator",
	"kind",
	"hub_priority",
	"ike_proposal",
	"esp_proposal",
	"ike_lifetime",
	"esp_lifetime",
	"esp_rekey_bytes",
	"esp_rekey_packets",
	"dpd_interval",
	"dpd_timeout",
	"dpd_mode",
	"auth",
	"psk",
	"psk_file",
	"psk-file",
	"mtu",
	"mss_v4",
	"mss_v6",
	"local_prefixes",
	"remote_prefixes",
	"local_transit",
	"remote_transit",
	"local_link",
};
static const char *const endpoint_keys[] = {"addr", "port", "link"};
static const char *const link_keys[] = {"name", "static_address", "dynamic"};
static const char *const wan_prefix_keys[] = {"site", "prefixes"};
static const char *const local_keys[] = {
	"tun_name", "listen_addr", "ike_port", "natt_port",   "workers",
	"key_path", "cert_path",   "ca_path",  "keylog_path", "test_esp_first_seq"};

/* Enum spellings, indexed by the proto enum value; "" marks UNSPECIFIED, which is not
 * writable. */
static const char *const role_names[] = {"", "hub", "spoke", "peer"};
static const char *const kind_names[] = {"",        "peer-peer", "spoke-hub", "hub-spoke",
					 "hub-hub", "peer-hub",  "hub-peer"};
static const char *const dpd_mode_names[] = {"", "on-idle", "on-demand", "off"};
static const char *const auth_names[] = {"", "certificate", "psk"};

static void join_names(char *buf, size_t cap, const char *const *names, size_t n)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < cap; i++) {
		if (!names[i][0])
			continue;
		int w = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static bool key_known(const char *key, const char *const *known, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (strcmp(key, known[j]) == 0)
			return true;
	return false;
}

/* A duration key written with the .proto's `_ms` suffix: the stem is the key to use. */
static bool hint_ms_suffix(struct loader *ld, const struct ynode *k, const char *const *known,
			   size_t n)
{
	size_t len = k->len;
	if (len < 4 || strcmp(k->str + len - 3, "_ms") != 0)
		return false;
	char stem[64];
	if (len - 3 >= sizeof(stem))
		return false;
	memcpy(stem, k->str, len - 3);
	stem[len - 3] = '\0';
	if (!key_known(stem, known, n))
		return false;
	diag_error(ld->d, k->pos,
		   "unknown key '%s'; durations carry their unit here: write '%s: 30s' (or ms, m, "
		   "h, d)",
		   k->str, stem);
	return true;
}

/* Unknown keys are the most common typo: name the nearest known key, or list them all. */
static void check_keys(struct loader *ld, const struct ynode *map, const char *const *known,
		       size_t n, const char *where)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i];
		if (key_known(k->str, known, n) || hint_ms_suffix(ld, k, known, n))
			continue;
		if (strcmp(k->str, "ca_certificate_der") == 0) {
			diag_error(ld->d, k->pos,
				   "the CA certificate is a file here: write it under local: as "
				   "'ca_path: ca.pem'");
			continue;
		}
		const char *near = str_nearest(k->str, known, n);
		if (near) {
			diag_error(ld->d, k->pos, "unknown key '%s' in %s (did you mean '%s'?)",
				   k->str, where, near);
		} else {
			char list[512];
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
	static const char *const kinds[] = {"a single value", "a mapping (key: value lines)",
					    "a list (lines starting with '- ')"};
	diag_error(ld->d, n->pos, "%s must be %s, not %s", what, kinds[kind], ynode_kind_name(n));
	return false;
}

static void *alloc(struct loader *ld, const struct ynode *at, size_t size)
{
	void *p = arena_alloc(&ld->box->arena, size ? size : 1);
	if (!p)
		diag_error(ld->d, at->pos, "out of memory");
	return p;
}

/* An array of n object pointers (every object pointer has the size of void * on the platforms
 * we build for; one helper keeps the arrays below from repeating that). */
static void *alloc_ptrs(struct loader *ld, const struct ynode *at, size_t n)
{
	return alloc(ld, at, n * sizeof(void *));
}

/* A copy of a scalar in the config's arena, or NULL (reported). */
static char *as_text(struct loader *ld, const struct ynode *n, const char *what)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return NULL;
	char *s = arena_strndup(&ld->box->arena, n->str, n->len);
	if (!s)
		diag_error(ld->d, n->pos, "out of memory");
	return s;
}

/* Site and link names: the same rule as the topology file, so they match the controller's. */
static bool valid_site_name(const char *s)
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

static char *as_site_name(struct loader *ld, const struct ynode *n, const char *what)
{
	char *s = as_text(ld, n, what);
	if (s && !valid_site_name(s)) {
		diag_error(ld->d, n->pos,
			   "%s '%s' must be 1-31 lowercase letters, digits or '-', starting with a "
			   "letter and not ending with '-'",
			   what, s);
		return NULL;
	}
	return s;
}

/* Tunnel names and IKE identities go into logs and IDs: printable, no spaces, bounded. */
static char *as_token(struct loader *ld, const struct ynode *n, const char *what, size_t max)
{
	char *s = as_text(ld, n, what);
	if (!s)
		return NULL;
	size_t len = strlen(s);
	bool ok = len > 0 && len <= max && len == n->len;
	for (size_t i = 0; ok && i < len; i++)
		ok = s[i] > ' ' && s[i] < 0x7f;
	if (!ok) {
		diag_error(ld->d, n->pos,
			   "%s must be 1-%zu printable characters without spaces (e.g. hq:branch1)",
			   what, max);
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
		if (names[i][0] && strcmp(n->str, names[i]) == 0)
			return (int)i;
	char list[128];
	join_names(list, sizeof(list), names, count);
	const char *near = str_nearest(n->str, names, count);
	if (near && near[0])
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
	if (rc == -EINVAL && n->len > 0 && strspn(n->str, "0123456789") == n->len) {
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

static bool as_uint(struct loader *ld, const struct ynode *n, const char *what, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	size_t digits = strspn(n->str, "0123456789");
	if (digits == 0 || digits != n->len || digits > 19) {
		diag_error(ld->d, n->pos, "%s must be a whole number, not '%s'", what, n->str);
		return false;
	}
	unsigned long long v = strtoull(n->str, NULL, 10);
	if (v < min || v > max) {
		diag_error(ld->d, n->pos, "%s %llu is out of range; allowed: %llu to %llu", what, v,
			   (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = v;
	return true;
}

static bool as_u32(struct loader *ld, const struct ynode *n, const char *what, uint32_t min,
		   uint32_t max, uint32_t *out)
{
	uint64_t v;
	if (!as_uint(ld, n, what, min, max, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool as_bool(struct loader *ld, const struct ynode *n, const char *what,
		    protobuf_c_boolean *out)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	if (!n->quoted && strcmp(n->str, "true") == 0) {
		*out = true;
		return true;
	}
	if (!n->quoted && strcmp(n->str, "false") == 0) {
		*out = false;
		return true;
	}
	diag_error(ld->d, n->pos, "%s must be true or false, not '%s'", what, n->str);
	return false;
}

/* The proposal in its canonical strongSwan spelling, or NULL (every problem reported at the
 * offending token). */
static char *as_proposal(struct loader *ld, const struct ynode *n, enum proposal_kind kind)
{
	const char *what = kind == PROPOSAL_IKE ? "ike_proposal" : "esp_proposal";
	/* A plain `null` is YAML's null, but here it means the NULL cipher: refuse it as a
	 * cipher, with the reason, rather than as a missing value. */
	bool null_cipher = n->kind == YNODE_SCALAR && strcmp(n->str, "null") == 0;
	if (!null_cipher && !expect_kind(ld, n, YNODE_SCALAR, what))
		return NULL;
	struct proposal p;
	struct proposal_errors errs;
	if (proposal_parse(n->str, kind, &p, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++) {
			struct src_pos at = n->pos;
			/* Point at the offending token; exact for plain scalars. */
			if (!n->quoted && errs.e[i].offset < 4096)
				at.col += (uint32_t)errs.e[i].offset;
			diag_error(ld->d, at, "%s: %s", what, errs.e[i].msg);
		}
		return NULL;
	}
	char canon[PROPOSAL_STRLEN];
	proposal_format(&p, kind, canon);
	char *s = arena_strndup(&ld->box->arena, canon, strlen(canon));
	if (!s)
		diag_error(ld->d, n->pos, "out of memory");
	return s;
}

static bool as_addr(struct loader *ld, const struct ynode *n, const char *what, struct ip_addr *a)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	if (strchr(n->str, '/')) {
		diag_error(ld->d, n->pos,
			   "%s '%s' must be a single address without a prefix length", what,
			   n->str);
		return false;
	}
	if (ip_addr_parse(n->str, a) != 0) {
		diag_error(ld->d, n->pos,
			   "%s '%s' is not an IPv4 or IPv6 address (e.g. 192.0.2.1, 2001:db8::1)",
			   what, n->str);
		return false;
	}
	return true;
}

/* A unicast address into a wire address (4 or 16 bytes in the arena). */
static bool as_wire_addr(struct loader *ld, const struct ynode *n, const char *what,
			 ProtobufCBinaryData *out)
{
	struct ip_addr a;
	if (!as_addr(ld, n, what, &a))
		return false;
	if (!ip_addr_is_unicast(&a)) {
		diag_error(ld->d, n->pos,
			   "%s %s cannot identify a host (unspecified, loopback, multicast or "
			   "broadcast)",
			   what, n->str);
		return false;
	}
	size_t len = a.family == IP_V6 ? 16 : 4;
	uint8_t *b = alloc(ld, n, len);
	if (!b)
		return false;
	memcpy(b, a.bytes, len);
	out->data = b;
	out->len = len;
	return true;
}

static Sdwan__Prefix *as_prefix(struct loader *ld, const struct ynode *n, const char *what)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return NULL;
	struct prefix p;
	bool host_bits;
	if (prefix_parse(n->str, &p, &host_bits) != 0) {
		if (!strchr(n->str, '/') && ip_addr_parse(n->str, &p.addr) == 0)
			diag_error(ld->d, n->pos, "%s '%s' has no prefix length; write e.g. %s/%u",
				   what, n->str, n->str, p.addr.family == IP_V4 ? 24u : 64u);
		else
			diag_error(ld->d, n->pos,
				   "%s '%s' is not an IPv4 or IPv6 prefix (e.g. 10.1.0.0/24, "
				   "2001:db8:1::/64)",
				   what, n->str);
		return NULL;
	}
	if (host_bits) {
		char fixed[PREFIX_STRLEN];
		diag_error(ld->d, n->pos, "%s '%s' has host bits set; did you mean %s?", what,
			   n->str, prefix_format(&p, fixed));
		return NULL;
	}
	/* The wire prefix borrows its address bytes: keep them in the arena too. */
	struct prefix *kept = alloc(ld, n, sizeof(*kept));
	Sdwan__Prefix *out = alloc(ld, n, sizeof(*out));
	if (!kept || !out)
		return NULL;
	*kept = p;
	sdwan__prefix__init(out);
	ctl_msg_prefix_set(out, kept);
	return out;
}

/* A list of prefixes into the array and its count; entries that fail are reported and left out. */
static void load_prefix_list(struct loader *ld, const struct ynode *v, const char *what,
			     Sdwan__Prefix ***arr, size_t *n)
{
	if (!expect_kind(ld, v, YNODE_SEQ, what))
		return;
	*arr = alloc_ptrs(ld, v, v->n);
	if (!*arr)
		return;
	for (size_t i = 0; i < v->n; i++) {
		Sdwan__Prefix *p = as_prefix(ld, v->items[i], "prefix");
		if (p)
			(*arr)[(*n)++] = p;
	}
}

/* A path as written, resolved against the config file's directory when relative. */
static bool as_path(struct loader *ld, const struct ynode *n, const char *what, char *out,
		    size_t cap)
{
	if (!expect_kind(ld, n, YNODE_SCALAR, what))
		return false;
	int w;
	if (n->str[0] == '/' || !ld->base_dir)
		w = snprintf(out, cap, "%s", n->str);
	else
		w = snprintf(out, cap, "%s/%s", ld->base_dir, n->str);
	if (w < 0 || (size_t)w >= cap || strlen(n->str) != n->len) {
		diag_error(ld->d, n->pos, "%s is too long or not a path; at most %zu bytes", what,
			   cap - 1);
		out[0] = '\0';
		return false;
	}
	return true;
}

/*
 * Read a whole regular file of at most max bytes. Returns 0 with *out (caller wipes and
 * frees) or -errno with *why naming the failure.
 */
static int file_read(const char *path, size_t max, uint8_t **out, size_t *len, struct stat *st,
		     const char **why)
{
	*out = NULL;
	*len = 0;
	memset(st, 0, sizeof(*st));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		*why = sdw_strerror(err);
		return -err;
	}
	int rc = 0;
	uint8_t *buf = NULL;
	size_t got = 0;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		rc = -EINVAL;
		goto out;
	}
	if ((uintmax_t)st->st_size > max) {
		*why = "file too large (is this the right file?)";
		rc = -EFBIG;
		goto out;
	}
	size_t size = (size_t)st->st_size;
	buf = malloc(size + 1);
	if (!buf) {
		*why = "out of memory";
		rc = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*why = r < 0 ? sdw_strerror(errno) : "file shrank while reading";
			rc = -EIO;
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	if (buf) {
		OPENSSL_cleanse(buf, got);
		free(buf);
	}
	close(fd);
	return rc;
}

static int hex_digit(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A PSK as written: "0x" and an even number of hex digits, PSK_MIN..PSK_MAX octets, into
 * out[0..*n). Returns NULL, or what is wrong (never quoting the key). The caller wipes out.
 */
static const char *psk_decode(const uint8_t *text, size_t len, uint8_t out[static PSK_MAX],
			      size_t *n)
{
	struct rd r = rd_init(text, len);
	uint8_t c0, c1;
	*n = 0;
	if (!rd_u8(&r, &c0) || !rd_u8(&r, &c1) || c0 != '0' || (c1 != 'x' && c1 != 'X'))
		return "must be hex starting with 0x (make one with: echo 0x$(openssl rand -hex 32))";
	while (!rd_done(&r)) {
		uint8_t hi, lo;
		if (!rd_u8(&r, &hi) || !rd_u8(&r, &lo))
			return "has an odd number of hex digits";
		int h = hex_digit(hi), l = hex_digit(lo);
		if (h < 0 || l < 0)
			return "has a character that is not a hex digit";
		if (*n == PSK_MAX)
			return "is longer than 128 octets";
		out[(*n)++] = (uint8_t)(h << 4 | l);
	}
	if (*n < PSK_MIN)
		return "is shorter than 16 octets (128 bits); write at least 32 hex digits";
	return NULL;
}

/* The key text of a psk_file, checked like ssh checks a private key file. */
static void load_psk_file(struct loader *ld, const struct ynode *v, uint8_t key[static PSK_MAX],
			  size_t *n)
{
	char path[4096];
	if (!as_path(ld, v, "psk_file", path, sizeof(path)))
		return;
	if (!ld->base_dir) {
		diag_error(ld->d, v->pos,
			   "psk_file cannot be read when the configuration is not a file; write "
			   "psk: 0x... instead");
		return;
	}
	uint8_t *text;
	size_t len;
	struct stat st;
	const char *why;
	if (file_read(path, PSK_FILE_MAX, &text, &len, &st, &why) != 0) {
		diag_error(ld->d, v->pos, "psk_file %s: %s", path, why);
		return;
	}
	if (st.st_mode & 077) {
		diag_error(ld->d, v->pos,
			   "psk_file %s is accessible by group or others (mode %04o); the key must "
			   "be private: chmod 600 %s",
			   path, (unsigned)(st.st_mode & 07777), path);
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		diag_error(ld->d, v->pos,
			   "psk_file %s is owned by uid %u, neither this user nor root; chown it",
			   path, (unsigned)st.st_uid);
	} else {
		size_t used = len;
		while (used > 0 && strchr(" \t\r\n", text[used - 1]))
			used--;
		const char *bad = psk_decode(text, used, key, n);
		if (bad) {
			diag_error(ld->d, v->pos, "the key in psk_file %s %s", path, bad);
			*n = 0;
		}
	}
	OPENSSL_cleanse(text, len);
	free(text);
}

/* auth, psk and psk_file together: which method, and the key when it is PSK. */
static void load_auth(struct loader *ld, const struct ynode *n, Sdwan__Tunnel *t)
{
	const struct ynode *auth = ynode_get(n, "auth");
	const struct ynode *psk = ynode_get(n, "psk");
	const struct ynode *file = ynode_get(n, "psk_file");
	const struct ynode *alias = ynode_get(n, "psk-file");
	if (file && alias)
		diag_add_note(ld->d, alias->pos, file->pos, "psk_file given here",
			      "psk-file and psk_file are the same key; give one");
	file = file ? file : alias;
	if (psk && file)
		diag_add_note(ld->d, file->pos, psk->pos, "psk given here",
			      "give the key once: psk or psk_file, not both");
	int a = (psk || file) ? SDWAN__AUTH_METHOD__AUTH_METHOD_PSK
			      : SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE;
	if (auth && (a = as_enum(ld, auth, auth_names, ARRAY_LEN(auth_names), "auth method")) < 0)
		return;
	t->auth = (Sdwan__AuthMethod)a;
	if (a == SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE) {
		if (psk || file)
			diag_error(
				ld->d, (psk ? psk : file)->pos,
				"a PSK is given but auth is certificate; remove the key or write "
				"auth: psk");
		if (psk && psk->kind == YNODE_SCALAR)
			OPENSSL_cleanse((char *)psk->str, psk->len);
		return;
	}
	if (!psk && !file) {
		diag_error(ld->d, auth->pos,
			   "auth: psk needs the key: add psk: 0x... (hex) or psk_file: PATH");
		return;
	}
	uint8_t *key = alloc(ld, n, PSK_MAX);
	if (!key)
		return;
	size_t len = 0;
	if (psk && expect_kind(ld, psk, YNODE_SCALAR, "psk")) {
		const char *bad = psk_decode((const uint8_t *)psk->str, psk->len, key, &len);
		/* The key text also sits in the YAML tree: wipe it there at once. */
		OPENSSL_cleanse((char *)psk->str, psk->len);
		if (bad) {
			diag_error(ld->d, psk->pos, "psk %s", bad);
			len = 0;
		} else if (ld->file_shared) {
			diag_warn(ld->d, psk->pos,
				  "%s holds a PSK and is readable by group or others; chmod 600 "
				  "it, or move the key to a psk_file",
				  ld->file);
		}
	} else if (!psk) {
		load_psk_file(ld, file, key, &len);
	}
	if (len == 0) {
		OPENSSL_cleanse(key, PSK_MAX);
		return;
	}
	t->psk.data = key;
	t->psk.len = len;
}

/* An endpoint: a bare address, or {addr, port, link}. */
static Sdwan__Endpoint *load_endpoint(struct loader *ld, const struct ynode *n)
{
	Sdwan__Endpoint *ep = alloc(ld, n, sizeof(*ep));
	if (!ep)
		return NULL;
	sdwan__endpoint__init(ep);
	if (n->kind == YNODE_SCALAR)
		return as_wire_addr(ld, n, "peer address", &ep->addr) ? ep : NULL;
	if (!expect_kind(ld, n, YNODE_MAP, "a peer address (192.0.2.1 or {addr: ..., port: ...})"))
		return NULL;
	check_keys(ld, n, endpoint_keys, ARRAY_LEN(endpoint_keys), "peer address");
	bool ok = true;
	const struct ynode *v = require(ld, n, "addr", "peer address", "addr: 192.0.2.1");
	ok = v && as_wire_addr(ld, v, "peer address", &ep->addr);
	if ((v = ynode_get(n, "port")))
		ok = as_u32(ld, v, "port", 1, 65535, &ep->port) && ok;
	if ((v = ynode_get(n, "link")))
		ok = (ep->link = as_site_name(ld, v, "link name")) != NULL && ok;
	return ok ? ep : NULL;
}

/* Who the peer is and how to reach it. */
static void load_tunnel_peer(struct loader *ld, const struct ynode *n, Sdwan__Tunnel *t)
{
	const struct ynode *v = require(ld, n, "peer_site", "tunnel", "peer_site: hq");
	if (v && (t->peer_site = as_site_name(ld, v, "peer_site")))
		t->peer_identity = t->peer_site;
	if ((v = ynode_get(n, "peer_identity")) &&
	    (t->peer_identity = as_token(ld, v, "peer_identity", IDENTITY_MAX)) == NULL)
		t->peer_identity = (char *)protobuf_c_empty_string;
	if ((v = ynode_get(n, "peer_addresses")) &&
	    expect_kind(ld, v, YNODE_SEQ, "peer_addresses")) {
		t->peer_addresses = alloc_ptrs(ld, v, v->n);
		for (size_t i = 0; t->peer_addresses && i < v->n; i++) {
			Sdwan__Endpoint *ep = load_endpoint(ld, v->items[i]);
			if (ep)
				t->peer_addresses[t->n_peer_addresses++] = ep;
		}
	}
	if ((v = ynode_get(n, "initiator")) && as_bool(ld, v, "initiator", &t->initiator) &&
	    t->initiator && !ynode_get(n, "peer_addresses"))
		diag_error(ld->d, v->pos,
			   "an initiator needs peer_addresses to reach the peer (e.g. "
			   "peer_addresses: [192.0.2.1]); or write initiator: false");
	if ((v = ynode_get(n, "kind"))) {
		int k = as_enum(ld, v, kind_names, ARRAY_LEN(kind_names), "tunnel kind");
		if (k > 0)
			t->kind = (Sdwan__TunnelKind)k;
	}
	if ((v = ynode_get(n, "hub_priority")))
		(void)as_u32(ld, v, "hub_priority", 0, 1000, &t->hub_priority);
	if ((v = ynode_get(n, "local_link")) &&
	    (t->local_link = as_site_name(ld, v, "local_link")) == NULL)
		t->local_link = (char *)protobuf_c_empty_string;
}

/* Proposals, lifetimes and liveness. */
static void load_tunnel_crypto(struct loader *ld, const struct ynode *n, Sdwan__Tunnel *t)
{
	const struct ynode *v = require(ld, n, "ike_proposal", "tunnel",
					"ike_proposal: aes256gcm16-prfsha384-x25519");
	char *s;
	if (v && (s = as_proposal(ld, v, PROPOSAL_IKE)))
		t->ike_proposal = s;
	v = require(ld, n, "esp_proposal", "tunnel", "esp_proposal: aes256gcm16");
	if (v && (s = as_proposal(ld, v, PROPOSAL_ESP)))
		t->esp_proposal = s;
	if ((v = ynode_get(n, "ike_lifetime")))
		(void)as_duration(ld, v, "ike_lifetime", 10000, 30ull * 86400000,
				  &t->ike_lifetime_ms);
	if ((v = ynode_get(n, "esp_lifetime")))
		(void)as_duration(ld, v, "esp_lifetime", 10000, 30ull * 86400000,
				  &t->esp_lifetime_ms);
	/* Below 64 KiB / 64 packets an SA would rekey faster than IKE can answer. */
	if ((v = ynode_get(n, "esp_rekey_bytes")))
		(void)as_uint(ld, v, "esp_rekey_bytes", 65536, UINT64_MAX, &t->esp_rekey_bytes);
	if ((v = ynode_get(n, "esp_rekey_packets")))
		(void)as_uint(ld, v, "esp_rekey_packets", 64, UINT64_MAX, &t->esp_rekey_packets);
	uint64_t ms;
	const struct ynode *interval = ynode_get(n, "dpd_interval");
	const struct ynode *timeout = ynode_get(n, "dpd_timeout");
	/* Sub-second liveness is the point; below 10ms probes become load. */
	if (interval && as_duration(ld, interval, "dpd_interval", 10, 3600000, &ms))
		t->dpd_interval_ms = (uint32_t)ms;
	if (timeout && as_duration(ld, timeout, "dpd_timeout", 10, 3600000, &ms))
		t->dpd_timeout_ms = (uint32_t)ms;
	if (interval && timeout && t->dpd_interval_ms && t->dpd_timeout_ms &&
	    t->dpd_timeout_ms < t->dpd_interval_ms)
		diag_add_note(ld->d, timeout->pos, interval->pos, "dpd_interval given here",
			      "dpd_timeout %s is shorter than dpd_interval %s: the peer would be "
			      "declared dead before it is probed; make it a few intervals long",
			      timeout->str, interval->str);
	if ((v = ynode_get(n, "dpd_mode"))) {
		int m = as_enum(ld, v, dpd_mode_names, ARRAY_LEN(dpd_mode_names), "dpd_mode");
		if (m > 0)
			t->dpd_mode = (Sdwan__DpdMode)m;
	}
	load_auth(ld, n, t);
}

/* What the tunnel carries and how big its packets may be. */
static void load_tunnel_traffic(struct loader *ld, const struct ynode *n, Sdwan__Tunnel *t)
{
	const struct ynode *v;
	if ((v = ynode_get(n, "mtu")))
		(void)as_u32(ld, v, "mtu", 576, 9000, &t->mtu);
	if ((v = ynode_get(n, "mss_v4")))
		(void)as_u32(ld, v, "mss_v4", 0, 65495, &t->mss_v4);
	if ((v = ynode_get(n, "mss_v6")))
		(void)as_u32(ld, v, "mss_v6", 0, 65475, &t->mss_v6);
	if ((v = ynode_get(n, "local_prefixes")))
		load_prefix_list(ld, v, "local_prefixes", &t->local_prefixes, &t->n_local_prefixes);
	if ((v = ynode_get(n, "remote_prefixes")))
		load_prefix_list(ld, v, "remote_prefixes", &t->remote_prefixes,
				 &t->n_remote_prefixes);
	if ((v = ynode_get(n, "local_transit")))
		(void)as_bool(ld, v, "local_transit", &t->local_transit);
	if ((v = ynode_get(n, "remote_transit")))
		(void)as_bool(ld, v, "remote_transit", &t->remote_transit);
}

static Sdwan__Tunnel *load_tunnel(struct loader *ld, const struct ynode *n)
{
	if (!expect_kind(ld, n, YNODE_MAP, "a tunnel"))
		return NULL;
	Sdwan__Tunnel *t = alloc(ld, n, sizeof(*t));
	if (!t)
		return NULL;
	sdwan__tunnel__init(t);
	check_keys(ld, n, tunnel_keys, ARRAY_LEN(tunnel_keys), "tunnel");
	const struct ynode *v = require(ld, n, "name", "tunnel", "name: hq:branch1");
	if (v && (t->name = as_token(ld, v, "tunnel name", TUNNEL_NAME_MAX)) == NULL)
		t->name = (char *)protobuf_c_empty_string;
	load_tunnel_peer(ld, n, t);
	load_tunnel_crypto(ld, n, t);
	load_tunnel_traffic(ld, n, t);
	return t;
}

static void load_tunnels(struct loader *ld, const struct ynode *v, const struct ynode **cert_at)
{
	Sdwan__EdgeConfig *cfg = &ld->box->cfg;
	if (!expect_kind(ld, v, YNODE_SEQ, "tunnels"))
		return;
	cfg->tunnels = alloc_ptrs(ld, v, v->n);
	const struct ynode **at = alloc_ptrs(ld, v, v->n);
	if (!cfg->tunnels || !at)
		return;
	for (size_t i = 0; i < v->n; i++) {
		Sdwan__Tunnel *t = load_tunnel(ld, v->items[i]);
		if (!t)
			continue;
		const struct ynode *name = ynode_get(v->items[i], "name");
		for (size_t j = 0; name && t->name[0] && j < cfg->n_tunnels; j++) {
			if (strcmp(cfg->tunnels[j]->name, t->name) != 0)
				continue;
			diag_add_note(ld->d, name->pos, at[j]->pos, "first defined here",
				      "tunnel name '%s' is used twice; each tunnel needs its own "
				      "name",
				      t->name);
			break;
		}
		if (t->auth == SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE && !*cert_at)
			*cert_at = v->items[i];
		at[cfg->n_tunnels] = name ? name : v->items[i];
		cfg->tunnels[cfg->n_tunnels++] = t;
	}
}

static void load_links(struct loader *ld, const struct ynode *v)
{
	Sdwan__EdgeConfig *cfg = &ld->box->cfg;
	if (!expect_kind(ld, v, YNODE_SEQ, "links"))
		return;
	cfg->links = alloc_ptrs(ld, v, v->n);
	for (size_t i = 0; cfg->links && i < v->n; i++) {
		const struct ynode *n = v->items[i];
		if (!expect_kind(ld, n, YNODE_MAP, "an underlay link"))
			continue;
		check_keys(ld, n, link_keys, ARRAY_LEN(link_keys), "underlay link");
		Sdwan__UnderlayLink *l = alloc(ld, n, sizeof(*l));
		if (!l)
			return;
		sdwan__underlay_link__init(l);
		const struct ynode *name = require(ld, n, "name", "underlay link", "name: inet");
		if (name && (l->name = as_site_name(ld, name, "link name")) == NULL)
			l->name = (char *)protobuf_c_empty_string;
		const struct ynode *addr = ynode_get(n, "static_address");
		const struct ynode *dyn = ynode_get(n, "dynamic");
		if (addr && dyn) {
			diag_error(ld->d, dyn->pos,
				   "a link has a static_address or is dynamic, not both");
		} else if (addr) {
			if (as_wire_addr(ld, addr, "static_address", &l->static_address))
				l->addressing_case =
					SDWAN__UNDERLAY_LINK__ADDRESSING_STATIC_ADDRESS;
		} else if (dyn && as_bool(ld, dyn, "dynamic", &l->dynamic)) {
			l->addressing_case = SDWAN__UNDERLAY_LINK__ADDRESSING_DYNAMIC;
		}
		cfg->links[cfg->n_links++] = l;
	}
}

static void load_wan_prefixes(struct loader *ld, const struct ynode *v)
{
	Sdwan__EdgeConfig *cfg = &ld->box->cfg;
	if (!expect_kind(ld, v, YNODE_SEQ, "wan_prefixes"))
		return;
	cfg->wan_prefixes = alloc_ptrs(ld, v, v->n);
	for (size_t i = 0; cfg->wan_prefixes && i < v->n; i++) {
		const struct ynode *n = v->items[i];
		if (!expect_kind(ld, n, YNODE_MAP,
				 "a wan_prefixes entry ({site: ..., prefixes: [...]})"))
			continue;
		check_keys(ld, n, wan_prefix_keys, ARRAY_LEN(wan_prefix_keys),
			   "wan_prefixes entry");
		Sdwan__SitePrefixes *sp = alloc(ld, n, sizeof(*sp));
		if (!sp)
			return;
		sdwan__site_prefixes__init(sp);
		const struct ynode *s = require(ld, n, "site", "wan_prefixes entry", "site: hq");
		if (s && (sp->site = as_site_name(ld, s, "site")) == NULL)
			sp->site = (char *)protobuf_c_empty_string;
		const struct ynode *p =
			require(ld, n, "prefixes", "wan_prefixes entry", "prefixes: [10.0.0.0/24]");
		if (p)
			load_prefix_list(ld, p, "prefixes", &sp->prefixes, &sp->n_prefixes);
		cfg->wan_prefixes[cfg->n_wan_prefixes++] = sp;
	}
}

/* Interface names: what the kernel accepts (IFNAMSIZ - 1, no '/', no whitespace). */
static bool valid_ifname(const char *s, size_t len)
{
	if (len == 0 || len > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '/' || s[i] == ':')
			return false;
	return true;
}

static void load_local(struct loader *ld, const struct ynode *m)
{
	struct edge_local_settings *l = ld->local;
	if (!expect_kind(ld, m, YNODE_MAP, "local"))
		return;
	check_keys(ld, m, local_keys, ARRAY_LEN(local_keys), "local");
	const struct ynode *v;
	uint32_t u;
	if ((v = ynode_get(m, "tun_name")) && expect_kind(ld, v, YNODE_SCALAR, "tun_name")) {
		if (valid_ifname(v->str, v->len))
			memcpy(l->tun_name, v->str, v->len + 1);
		else
			diag_error(ld->d, v->pos,
				   "tun_name '%s' must be an interface name: 1-15 characters, no "
				   "spaces, '/' or ':'",
				   v->str);
	}
	if ((v = ynode_get(m, "listen_addr")) && expect_kind(ld, v, YNODE_SCALAR, "listen_addr") &&
	    strcmp(v->str, "any") != 0)
		(void)as_addr(ld, v, "listen_addr", &l->listen_addr);
	if ((v = ynode_get(m, "ike_port")) && as_u32(ld, v, "ike_port", 1, 65535, &u))
		l->ike_port = (uint16_t)u;
	const struct ynode *natt = ynode_get(m, "natt_port");
	if (natt && as_u32(ld, natt, "natt_port", 1, 65535, &u))
		l->natt_port = (uint16_t)u;
	if (l->ike_port == l->natt_port)
		diag_error(ld->d, natt ? natt->pos : m->pos,
			   "ike_port and natt_port are both %u; IKE and ESP-in-UDP need two ports "
			   "(500 and 4500 by default)",
			   (unsigned)l->ike_port);
	if ((v = ynode_get(m, "workers")) && as_u32(ld, v, "workers", 0, 256, &u))
		l->workers = u;
	if ((v = ynode_get(m, "key_path")))
		(void)as_path(ld, v, "key_path", l->key_path, sizeof(l->key_path));
	if ((v = ynode_get(m, "cert_path")))
		(void)as_path(ld, v, "cert_path", l->cert_path, sizeof(l->cert_path));
	if ((v = ynode_get(m, "ca_path")))
		(void)as_path(ld, v, "ca_path", l->ca_path, sizeof(l->ca_path));
	if ((v = ynode_get(m, "keylog_path")))
		(void)as_path(ld, v, "keylog_path", l->keylog_path, sizeof(l->keylog_path));
	if ((v = ynode_get(m, "test_esp_first_seq")))
		(void)as_uint(ld, v, "test_esp_first_seq", 0, UINT64_MAX - 1,
			      &l->test_esp_first_seq);
}

static void load_root_scalars(struct loader *ld, const struct ynode *root)
{
	Sdwan__EdgeConfig *cfg = &ld->box->cfg;
	const struct ynode *v;
	cfg->generation = 1;
	if ((v = ynode_get(root, "generation")))
		(void)as_uint(ld, v, "generation", 1, UINT64_MAX, &cfg->generation);
	v = require(ld, root, "site", "the edge configuration", "site: branch1");
	if (v && (cfg->site = as_site_name(ld, v, "site")) == NULL)
		cfg->site = (char *)protobuf_c_empty_string;
	cfg->role = SDWAN__SITE_ROLE__SITE_ROLE_PEER;
	if ((v = ynode_get(root, "role"))) {
		int r = as_enum(ld, v, role_names, ARRAY_LEN(role_names), "role");
		if (r > 0)
			cfg->role = (Sdwan__SiteRole)r;
	}
	if ((v = ynode_get(root, "wan_name")) &&
	    (cfg->wan_name = as_site_name(ld, v, "wan_name")) == NULL)
		cfg->wan_name = (char *)protobuf_c_empty_string;
	uint64_t ms;
	if ((v = ynode_get(root, "failback_hold_down")))
		(void)as_duration(ld, v, "failback_hold_down", 0, 3600000,
				  &cfg->failback_hold_down_ms);
	if ((v = ynode_get(root, "health_interval")) &&
	    as_duration(ld, v, "health_interval", 100, 3600000, &ms))
		cfg->health_interval_ms = (uint32_t)ms;
}

static void load_root(struct loader *ld, const struct ynode *root)
{
	Sdwan__EdgeConfig *cfg = &ld->box->cfg;
	check_keys(ld, root, top_keys, ARRAY_LEN(top_keys), "the edge configuration");
	load_root_scalars(ld, root);
	const struct ynode *v;
	if ((v = ynode_get(root, "local_subnets")))
		load_prefix_list(ld, v, "local_subnets", &cfg->local_subnets,
				 &cfg->n_local_subnets);
	if ((v = ynode_get(root, "links")))
		load_links(ld, v);
	const struct ynode *cert_tunnel = NULL;
	if ((v = ynode_get(root, "tunnels")))
		load_tunnels(ld, v, &cert_tunnel);
	if ((v = ynode_get(root, "wan_prefixes")))
		load_wan_prefixes(ld, v);
	if ((v = ynode_get(root, "wan_summary")))
		load_prefix_list(ld, v, "wan_summary", &cfg->wan_summary, &cfg->n_wan_summary);
	const struct ynode *local = ynode_get(root, "local");
	if (local)
		load_local(ld, local);
	const struct edge_local_settings *l = ld->local;
	if (cert_tunnel && (!l->key_path[0] || !l->cert_path[0] || !l->ca_path[0]))
		diag_error(
			ld->d, cert_tunnel->pos,
			"this tunnel authenticates with certificates (auth: certificate, the "
			"default without a psk), so local: needs key_path, cert_path and ca_path");
}

static int load_doc(struct loader *ld, const uint8_t *buf, size_t len,
		    struct Sdwan__EdgeConfig **cfg)
{
	struct ydoc *doc;
	int rc = ydoc_parse(buf, len, NULL, &doc, ld->d);
	if (rc != 0)
		return rc;
	struct edge_conf_box *box = calloc(1, sizeof(*box));
	if (!box) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	sdwan__edge_config__init(&box->cfg);
	ld->box = box;
	size_t errors_before = ld->d->errors;
	struct src_pos top = {1, 1};
	if (!doc->root || ynode_is_null(doc->root))
		diag_error(ld->d, top,
			   "the file is empty; an edge configuration needs at least site: and "
			   "tunnels:");
	else if (doc->root->kind != YNODE_MAP)
		diag_error(
			ld->d, doc->root->pos,
			"the edge configuration must be a mapping with site:, tunnels: ..., not %s",
			ynode_kind_name(doc->root));
	else
		load_root(ld, doc->root);
	ydoc_free(doc);
	if (ld->d->errors != errors_before) {
		edge_conf_free(&box->cfg);
		return -EINVAL;
	}
	*cfg = &box->cfg;
	return 0;
}

void edge_local_settings_default(struct edge_local_settings *local)
{
	memset(local, 0, sizeof(*local));
	memcpy(local->tun_name, "sdwan0", sizeof("sdwan0"));
	local->ike_port = 500;
	local->natt_port = 4500;
}

int edge_conf_load_buf(const uint8_t *buf, size_t len, const char *base_dir,
		       struct Sdwan__EdgeConfig **cfg, struct edge_local_settings *local,
		       struct diag_list *diags)
{
	*cfg = NULL;
	edge_local_settings_default(local);
	struct loader ld = {.local = local, .d = diags, .base_dir = base_dir};
	int rc = load_doc(&ld, buf, len, cfg);
	if (rc != 0)
		edge_local_settings_default(local);
	return rc;
}

int edge_conf_load_file(const char *path, struct Sdwan__EdgeConfig **cfg,
			struct edge_local_settings *local, struct diag_list *diags)
{
	struct src_pos whole = {0, 0};
	*cfg = NULL;
	edge_local_settings_default(local);
	uint8_t *buf;
	size_t len;
	struct stat st;
	const char *why;
	int rc = file_read(path, ydoc_default_limits.max_bytes, &buf, &len, &st, &why);
	if (rc != 0) {
		diag_error(diags, whole, "cannot read the edge configuration: %s", why);
		return rc;
	}
	/* The directory part of path: relative paths in the file start there. */
	char *copy = strdup(path);
	char *slash = copy ? strrchr(copy, '/') : NULL;
	if (slash)
		*(slash == copy ? slash + 1 : slash) = '\0';
	if (!copy) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		return -ENOMEM;
	}
	struct loader ld = {
		.local = local,
		.d = diags,
		.base_dir = slash ? copy : ".",
		.file = path,
		.file_shared = (st.st_mode & 077) != 0,
	};
	rc = load_doc(&ld, buf, len, cfg);
	if (rc != 0)
		edge_local_settings_default(local);
	/* The file may hold PSKs in hex. */
	OPENSSL_cleanse(buf, len);
	free(buf);
	free(copy);
	return rc;
}

void edge_conf_free(struct Sdwan__EdgeConfig *cfg)
{
	if (!cfg)
		return;
	struct edge_conf_box *box = (struct edge_conf_box *)cfg;
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		Sdwan__Tunnel *t = cfg->tunnels[i];
		if (t && t->psk.data)
			OPENSSL_cleanse(t->psk.data, t->psk.len);
	}
	arena_free(&box->arena);
	free(box);
}
