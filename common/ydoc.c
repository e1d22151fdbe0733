#include "common/ydoc.h"

#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

const struct ydoc_limits ydoc_default_limits = {
	.max_bytes = 16u << 20,
	.max_depth = 32,
	.max_nodes = 2u << 20,
	.max_scalar = 64u << 10,
};

/* A collection being built: its node and the children gathered so far. */
struct frame {
	struct ynode *node;
	struct ynode **kids;
	size_t n;
	size_t cap;
};

struct builder {
	struct ydoc *doc;
	const struct ydoc_limits *limits;
	struct diag_list *diags;
	struct frame *stack;
	unsigned depth;
	unsigned documents;
	const uint8_t *buf;
	size_t len;
};

static struct src_pos mark_pos(yaml_mark_t m)
{
	struct src_pos p = {(uint32_t)m.line + 1, (uint32_t)m.column + 1};
	return p;
}

static struct ynode *node_new(struct builder *b, enum ynode_kind kind, yaml_mark_t mark)
{
	if (b->doc->nodes >= b->limits->max_nodes) {
		diag_error(
			b->diags, mark_pos(mark),
			"document has more than %zu nodes; a topology file never needs that many",
			b->limits->max_nodes);
		return NULL;
	}
	struct ynode *n = arena_alloc(&b->doc->arena, sizeof(*n));
	if (!n) {
		diag_error(b->diags, mark_pos(mark), "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->pos = mark_pos(mark);
	b->doc->nodes++;
	return n;
}

static int frame_push_kid(struct builder *b, struct frame *f, struct ynode *kid)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 8;
		struct ynode **k = realloc(f->kids, ncap * sizeof(struct ynode *));
		if (!k) {
			diag_error(b->diags, kid->pos, "out of memory");
			return -ENOMEM;
		}
		f->kids = k;
		f->cap = ncap;
	}
	f->kids[f->n++] = kid;
	return 0;
}

/* Attach a finished node to the open collection, or make it the root. */
static int attach(struct builder *b, struct ynode *n)
{
	if (b->depth == 0) {
		b->doc->root = n;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (f->node->kind == YNODE_MAP && f->n % 2 == 0 && n->kind != YNODE_SCALAR) {
		diag_error(b->diags, n->pos,
			   "mapping keys must be plain strings, not %s; write 'key: value'",
			   ynode_kind_name(n));
		return -EINVAL;
	}
	return frame_push_kid(b, f, n);
}

static int key_cmp(const void *a, const void *b)
{
	const struct ynode *ka = *(const struct ynode *const *)a;
	const struct ynode *kb = *(const struct ynode *const *)b;
	int c = strcmp(ka->str, kb->str);
	if (c)
		return c;
	if (ka->pos.line != kb->pos.line)
		return ka->pos.line < kb->pos.line ? -1 : 1;
	return ka->pos.col < kb->pos.col ? -1 : (ka->pos.col > kb->pos.col);
}

/* YAML forbids duplicate keys, and silently taking the last would hide an operator's mistake.
 * Sorting a copy keeps this O(n log n) on hostile maps. */
static int check_duplicate_keys(struct builder *b, const struct ynode *map)
{
	if (map->n < 2)
		return 0;
	if (map->n <= 16) {
		/* Every map of a topology file: pairwise, without a copy to sort. */
		int rc = 0;
		for (size_t i = 1; i < map->n; i++)
			for (size_t k = i; k-- > 0;)
				if (strcmp(map->items[2 * i]->str, map->items[2 * k]->str) == 0) {
					diag_add_note(b->diags, map->items[2 * i]->pos,
						      map->items[2 * k]->pos, "first defined here",
						      "duplicate key '%s'", map->items[2 * i]->str);
					rc = -EINVAL;
					break;
				}
		return rc;
	}
	struct ynode **keys = malloc(map->n * sizeof(struct ynode *));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < map->n; i++)
		keys[i] = map->items[2 * i];
	qsort(keys, map->n, sizeof(struct ynode *), key_cmp);
	int rc = 0;
	for (size_t i = 1; i < map->n; i++) {
		if (strcmp(keys[i]->str, keys[i - 1]->str) == 0) {
			diag_add_note(b->diags, keys[i]->pos, keys[i - 1]->pos,
				      "first defined here", "duplicate key '%s'", keys[i]->str);
			rc = -EINVAL;
		}
	}
	free(keys);
	return rc;
}

static int open_collection(struct builder *b, enum ynode_kind kind, yaml_mark_t mark)
{
	if (b->depth >= b->limits->max_depth) {
		diag_error(b->diags, mark_pos(mark),
			   "nesting deeper than %u levels; a topology file never needs that",
			   b->limits->max_depth);
		return -EINVAL;
	}
	struct ynode *n = node_new(b, kind, mark);
	if (!n)
		return -EINVAL;
	/* The frame keeps its kids buffer from earlier collections at this depth. */
	struct frame *f = &b->stack[b->depth++];
	f->node = n;
	f->n = 0;
	return 0;
}

static int close_collection(struct builder *b)
{
	if (b->depth == 0 || !b->stack[b->depth - 1].node)
		return -EINVAL; /* libyaml balances its events; never trust that blindly */
	struct frame *f = &b->stack[--b->depth];
	struct ynode *n = f->node;
	int rc = 0;
	if (f->n) {
		n->items = arena_alloc(&b->doc->arena, f->n * sizeof(struct ynode *));
		if (!n->items) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(n->items, f->kids, f->n * sizeof(struct ynode *));
	}
	n->n = n->kind == YNODE_MAP ? f->n / 2 : f->n;
	if (n->kind == YNODE_MAP)
		rc = check_duplicate_keys(b, n);
	if (rc == 0)
		rc = attach(b, n);
out:
	f->node = NULL;
	f->n = 0;
	return rc;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	size_t len = ev->data.scalar.length;
	if (len > b->limits->max_scalar) {
		diag_error(b->diags, mark_pos(ev->start_mark),
			   "value is %zu bytes long; values are limited to %zu bytes", len,
			   b->limits->max_scalar);
		return -EINVAL;
	}
	struct ynode *n = node_new(b, YNODE_SCALAR, ev->start_mark);
	if (!n)
		return -EINVAL;
	n->str = arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value, len);
	if (!n->str)
		return -ENOMEM;
	n->len = len;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	/* Quoted scalars point at their opening quote; report the text itself. */
	if (n->quoted && ev->data.scalar.style != YAML_LITERAL_SCALAR_STYLE &&
	    ev->data.scalar.style != YAML_FOLDED_SCALAR_STYLE)
		n->pos.col++;
	return attach(b, n);
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
	yaml_mark_t m = p->problem_mark;
	const char *hint = "";
	if (m.index < b->len && b->buf[m.index] == '\t')
		hint = " (YAML indentation must use spaces, not tabs)";
	if (p->context)
		diag_error(b->diags, mark_pos(m), "malformed YAML: %s %s%s", p->problem, p->context,
			   hint);
	else
		diag_error(b->diags, mark_pos(m), "malformed YAML: %s%s",
			   p->problem ? p->problem : "unreadable input", hint);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1) {
			diag_error(
				b->diags, mark_pos(ev->start_mark),
				"a second YAML document ('---'); put the whole WAN in one document");
			return -EINVAL;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		diag_error(b->diags, mark_pos(ev->start_mark),
			   "YAML aliases (*%s) are not supported; put shared settings under "
			   "'defaults:' instead",
			   (const char *)ev->data.alias.anchor);
		return -EINVAL;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_MAPPING_START_EVENT:
		return open_collection(b, YNODE_MAP, ev->start_mark);
	case YAML_SEQUENCE_START_EVENT:
		return open_collection(b, YNODE_SEQ, ev->start_mark);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		return close_collection(b);
	default:
		return 0;
	}
}

int ydoc_parse(const uint8_t *buf, size_t len, const struct ydoc_limits *limits, struct ydoc **out,
	       struct diag_list *diags)
{
	*out = NULL;
	if (!limits)
		limits = &ydoc_default_limits;
	if (len > limits->max_bytes) {
		struct src_pos whole = {0, 0};
		diag_error(diags, whole,
			   "input is %zu bytes; topology files are limited to %zu MiB", len,
			   limits->max_bytes >> 20);
		return -EINVAL;
	}
	struct builder b = {.limits = limits, .diags = diags, .buf = buf, .len = len};
	b.doc = calloc(1, sizeof(*b.doc));
	b.stack = calloc(limits->max_depth + 1, sizeof(*b.stack));
	yaml_parser_t parser;
	bool parser_ok = yaml_parser_initialize(&parser) == 1;
	int rc = -ENOMEM;
	if (!b.doc || !b.stack || !parser_ok)
		goto out;
	yaml_parser_set_input_string(&parser, buf, len);
	rc = 0;
	for (bool done = false; !done && rc == 0;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&b, &parser);
			rc = -EINVAL;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
	}
out:
	if (parser_ok)
		yaml_parser_delete(&parser);
	if (b.stack) {
		for (size_t i = 0; i <= limits->max_depth; i++)
			free(b.stack[i].kids);
		free(b.stack);
	}
	if (rc != 0) {
		ydoc_free(b.doc);
		return rc;
	}
	*out = b.doc;
	return 0;
}

int ydoc_load_file(const char *path, const struct ydoc_limits *limits, struct ydoc **out,
		   struct diag_list *diags)
{
	struct src_pos whole = {0, 0};
	*out = NULL;
	if (!limits)
		limits = &ydoc_default_limits;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		diag_error(diags, whole, "cannot open: %s", sdw_strerror(err));
		return -err;
	}
	uint8_t *buf = NULL;
	int rc;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		diag_error(diags, whole, "not a regular file; give the path of a YAML file");
		rc = -EINVAL;
		goto out;
	}
	if ((uintmax_t)st.st_size > limits->max_bytes) {
		diag_error(diags, whole,
			   "file is %jd bytes; topology files are limited to %zu MiB (is this the "
			   "right file?)",
			   (intmax_t)st.st_size, limits->max_bytes >> 20);
		rc = -EFBIG;
		goto out;
	}
	size_t size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			diag_error(diags, whole, "read failed: %s",
				   n < 0 ? sdw_strerror(errno) : "file shrank while reading");
			rc = -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	rc = ydoc_parse(buf, size, limits, out, diags);
out:
	free(buf);
	close(fd);
	return rc;
}

void ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return;
	arena_free(&doc->arena);
	free(doc);
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->str, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

bool ynode_is_null(const struct ynode *n)
{
	if (!n || n->kind != YNODE_SCALAR || n->quoted)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *ynode_kind_name(const struct ynode *n)
{
	if (ynode_is_null(n))
		return "nothing";
	switch (n->kind) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	default:
		return "a single value";
	}
}
