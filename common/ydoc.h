/*
 * YAML documents as a tree of nodes that remember where they came from.
 *
 * libyaml does the parsing; this module turns its events into a tree of scalars, mappings and
 * sequences with the 1-based line and column of every node, so later stages can point at the
 * exact spot of an error. Input is treated as hostile: the file size, nesting depth, node count
 * and scalar length are capped before memory is spent, aliases are refused (no alias bombs),
 * duplicate mapping keys and non-scalar keys are errors, and only one document is allowed.
 *
 * A struct ydoc owns every node and string in one arena; ydoc_free() releases them all.
 * Control path only.
 */
#ifndef SDWAN_COMMON_YDOC_H
#define SDWAN_COMMON_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/diag.h"

enum ynode_kind {
	YNODE_SCALAR,
	YNODE_MAP,
	YNODE_SEQ,
};

struct ynode {
	enum ynode_kind kind;
	struct src_pos pos;
	/* Scalars: NUL-terminated text and whether it was quoted (a quoted "123" is a string). */
	const char *str;
	size_t len;
	bool quoted;
	/* Mappings: n pairs, items[2i] the key scalar, items[2i+1] the value.
	 * Sequences: n items. */
	struct ynode **items;
	size_t n;
};

struct ydoc_limits {
	size_t max_bytes;
	unsigned max_depth;
	size_t max_nodes;
	size_t max_scalar;
};

/* Limits sized for topology files: 16 MiB, depth 32, 2 M nodes, 64 KiB scalars. */
extern const struct ydoc_limits ydoc_default_limits;

struct ydoc {
	struct arena arena;
	struct ynode *root; /* NULL for an empty document */
	size_t nodes;
};

/*
 * Parse buf[0..len). On success returns 0 and *out (owned by the caller, free with ydoc_free).
 * On malformed or over-limit input returns -EINVAL (or -ENOMEM) with the reasons in diags.
 */
int ydoc_parse(const uint8_t *buf, size_t len, const struct ydoc_limits *limits, struct ydoc **out,
	       struct diag_list *diags) __attribute__((warn_unused_result));

/* Read and parse a file, refusing non-regular files and files over the size limit before
 * reading them. Same contract as ydoc_parse; I/O errors are reported in diags too. */
int ydoc_load_file(const char *path, const struct ydoc_limits *limits, struct ydoc **out,
		   struct diag_list *diags) __attribute__((warn_unused_result));

/* Free a document and every node in it. NULL-safe. */
void ydoc_free(struct ydoc *doc);

/* The value under key in a mapping node, or NULL. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* Whether a node is the YAML null (a plain ~, null, Null, NULL or empty scalar). */
bool ynode_is_null(const struct ynode *n);

/* A short name of the node's kind for messages: "a string", "a mapping", "a list". */
const char *ynode_kind_name(const struct ynode *n);

#endif
