#include "edge/bootstrap.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "common/ydoc.h"

static const struct ydoc_limits bootstrap_limits = {
	.max_bytes = BOOTSTRAP_MAX_BYTES,
	.max_depth = 2,
	.max_nodes = 16,
	.max_scalar = 512,
};

/* Copy a scalar value into out[0..size) when it fits and is a plain string. */
static bool take_scalar(const struct ynode *v, const char *key, char *out, size_t size,
			struct diag_list *diags)
{
	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		diag_error(diags, v->pos, "%s: expected a string, found %s", key,
			   ynode_kind_name(v));
		return false;
	}
	if (v->len >= size || strlen(v->str) != v->len) {
		diag_error(diags, v->pos, "%s: value too long or not text", key);
		return false;
	}
	memcpy(out, v->str, v->len + 1);
	return true;
}

/* One key of the mapping. Returns false after reporting the problem. */
static bool take_pair(const struct ynode *k, const struct ynode *v, struct bootstrap *b,
		      struct diag_list *diags)
{
	struct token_line tl;
	uint8_t key[ZCURVE_KEY_LEN];
	const char *name = k->str;
	if (strcmp(name, "controller") == 0) {
		if (!take_scalar(v, name, b->controller, sizeof(b->controller), diags))
			return false;
		if (identity_endpoint_valid(b->controller))
			return true;
	} else if (strcmp(name, "enroll-endpoint") == 0) {
		if (!take_scalar(v, name, b->enroll_endpoint, sizeof(b->enroll_endpoint), diags))
			return false;
		if (identity_endpoint_valid(b->enroll_endpoint))
			return true;
	} else if (strcmp(name, "token") == 0) {
		if (!take_scalar(v, name, b->token, sizeof(b->token), diags))
			return false;
		int rc = token_line_parse(b->token, strlen(b->token), &tl);
		token_line_clear(&tl);
		if (rc == 0)
			return true;
		diag_error(diags, v->pos, "token: not a token line (sdwan1.<site>.<secret>.<key>)");
		return false;
	} else if (strcmp(name, "controller-key") == 0) {
		if (!take_scalar(v, name, b->controller_key, sizeof(b->controller_key), diags))
			return false;
		if (zcurve_hex_decode(b->controller_key, strlen(b->controller_key), key) == 0)
			return true;
		diag_error(diags, v->pos, "controller-key: expected 64 lowercase hex digits");
		return false;
	} else {
		diag_error(diags, k->pos,
			   "unknown key '%.40s' (expected controller, token, controller-key, "
			   "enroll-endpoint)",
			   name);
		return false;
	}
	diag_error(diags, v->pos, "%s: not an endpoint (e.g. tcp://192.0.2.1:7800)", name);
	return false;
}

/* Read the mapping of doc into *out. Returns 0 or -EINVAL (reported in diags). */
static int from_doc(const struct ydoc *doc, struct bootstrap *out, struct diag_list *diags)
{
	struct src_pos top = {1, 1};
	bool ok = doc->root && doc->root->kind == YNODE_MAP;
	if (!ok)
		diag_error(diags, top, "expected a mapping with controller and token");
	for (size_t i = 0; ok && i < doc->root->n; i++)
		ok &= take_pair(doc->root->items[2 * i], doc->root->items[2 * i + 1], out, diags);
	if (ok && (!out->controller[0] || !out->token[0])) {
		diag_error(diags, top, "controller and token are required");
		ok = false;
	}
	if (!ok) {
		bootstrap_clear(out);
		return -EINVAL;
	}
	return 0;
}

int bootstrap_parse(const uint8_t *buf, size_t len, struct bootstrap *out, struct diag_list *diags)
{
	struct ydoc *doc = NULL;
	memset(out, 0, sizeof(*out));
	int rc = ydoc_parse(buf, len, &bootstrap_limits, &doc, diags);
	if (rc == 0)
		rc = from_doc(doc, out, diags);
	ydoc_free(doc);
	return rc;
}

int bootstrap_load(const char *path, struct bootstrap *out, struct diag_list *diags)
{
	struct ydoc *doc = NULL;
	memset(out, 0, sizeof(*out));
	/* ydoc's loader refuses non-regular and oversized files before reading them. */
	int rc = ydoc_load_file(path, &bootstrap_limits, &doc, diags);
	if (rc == 0)
		rc = from_doc(doc, out, diags);
	ydoc_free(doc);
	return rc;
}

void bootstrap_clear(struct bootstrap *b)
{
	if (b)
		OPENSSL_cleanse(b, sizeof(*b));
}
