#include "controller/intent.h"

#include <errno.h>
#include <string.h>

#include "controller/topo_check.h"
#include "controller/topo_load.h"

static int finish(int load_rc, struct intent *out, struct diag_list *diags)
{
	int rc = load_rc;
	if (rc == 0) {
		topo_check(out->topo, diags);
		rc = plan_build(out->topo, &out->plan, diags);
	}
	diag_sort(diags);
	if (rc == 0 && diags->errors > 0) {
		plan_free(out->plan);
		out->plan = NULL;
		rc = -EINVAL;
	}
	return rc;
}

int intent_compile_file(const char *path, struct intent *out, struct diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	return finish(topo_load_file(path, &out->topo, diags), out, diags);
}

int intent_compile_buf(const uint8_t *buf, size_t len, struct intent *out, struct diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	return finish(topo_load_buf(buf, len, &out->topo, diags), out, diags);
}

void intent_free(struct intent *in)
{
	if (!in)
		return;
	plan_free(in->plan);
	topo_free(in->topo);
	in->plan = NULL;
	in->topo = NULL;
}
