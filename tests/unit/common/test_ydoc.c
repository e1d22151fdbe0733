/* The YAML tree: positions, scalar styles, limits, and refusal of hostile constructs. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/ydoc.h"

static struct ydoc *parse(const char *text, struct diag_list *d)
{
	struct ydoc *doc = NULL;
	int rc = ydoc_parse((const uint8_t *)text, strlen(text), NULL, &doc, d);
	if (rc != 0)
		cr_assert_null(doc);
	return doc;
}

static bool has(const struct diag_list *d, uint32_t line, uint32_t col, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].pos.line == line && d->items[i].pos.col == col &&
		    strstr(d->items[i].msg, needle))
			return true;
	return false;
}

Test(ydoc, positions_and_styles)
{
	struct diag_list d = {0};
	struct ydoc *doc = parse("a: 1\nb:\n  - x\n  - \"y z\"\nc: {k: v}\n", &d);
	cr_assert_not_null(doc);
	const struct ynode *b = ynode_get(doc->root, "b");
	cr_assert_not_null(b);
	cr_expect_eq(b->kind, YNODE_SEQ);
	cr_expect_eq(b->n, 2);
	cr_expect_eq(b->items[1]->pos.line, 4);
	cr_expect_eq(b->items[1]->pos.col, 6, "quoted scalars point at their text");
	cr_expect(b->items[1]->quoted);
	cr_expect_str_eq(b->items[1]->str, "y z");
	const struct ynode *c = ynode_get(doc->root, "c");
	cr_expect_eq(c->kind, YNODE_MAP);
	cr_expect_str_eq(ynode_get(c, "k")->str, "v");
	cr_expect_eq(ynode_get(doc->root, "a")->pos.col, 4);
	cr_expect_null(ynode_get(doc->root, "zz"));
	ydoc_free(doc);
	diag_list_free(&d);
}

Test(ydoc, nulls)
{
	struct diag_list d = {0};
	struct ydoc *doc = parse("a:\nb: ~\nc: null\nd: \"null\"\n", &d);
	cr_assert_not_null(doc);
	cr_expect(ynode_is_null(ynode_get(doc->root, "a")));
	cr_expect(ynode_is_null(ynode_get(doc->root, "b")));
	cr_expect(ynode_is_null(ynode_get(doc->root, "c")));
	cr_expect(!ynode_is_null(ynode_get(doc->root, "d")), "a quoted null is a string");
	ydoc_free(doc);
	diag_list_free(&d);
}

Test(ydoc, hostile_constructs_are_refused)
{
	struct {
		const char *text;
		uint32_t line, col;
		const char *needle;
	} cases[] = {
		{"a: &x [1]\nb: *x\n", 2, 4, "aliases"},
		{"a: 1\na: 2\n", 2, 1, "duplicate key 'a'"},
		{"? [k]\n: v\n", 1, 3, "mapping keys must be plain strings"},
		{"a: 1\n--- \nb: 2\n", 2, 1, "second YAML document"},
		{"a: [1, 2\n", 2, 1, "malformed YAML"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_list d = {0};
		cr_expect_null(parse(cases[i].text, &d));
		cr_expect(has(&d, cases[i].line, cases[i].col, cases[i].needle),
			  "case %zu: expected %s at %u:%u", i, cases[i].needle, cases[i].line,
			  cases[i].col);
		diag_list_free(&d);
	}
}

Test(ydoc, limits)
{
	struct ydoc_limits tight = {
		.max_bytes = 64, .max_depth = 3, .max_nodes = 5, .max_scalar = 4};
	struct {
		const char *text;
		const char *needle;
	} cases[] = {
		{"a: [[[[1]]]]\n", "nesting deeper than 3"},
		{"[1, 2, 3, 4, 5, 6]\n", "more than 5 nodes"},
		{"a: hello\n", "limited to 4 bytes"},
		{"a: 1 # a comment that makes this document longer than sixty-four bytes\n",
		 "limited to"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_list d = {0};
		struct ydoc *doc = NULL;
		cr_expect_neq(ydoc_parse((const uint8_t *)cases[i].text, strlen(cases[i].text),
					 &tight, &doc, &d),
			      0, "case %zu", i);
		cr_expect_null(doc);
		bool found = false;
		for (size_t j = 0; j < d.n; j++)
			found |= strstr(d.items[j].msg, cases[i].needle) != NULL;
		cr_expect(found, "case %zu: expected \"%s\"", i, cases[i].needle);
		diag_list_free(&d);
	}
}
