/*
 * libFuzzer target for the edge configuration loader: YAML parsing with its limits and the whole
 * EdgeConfig schema, fed arbitrary bytes. No file is opened (base_dir NULL), so psk_file is
 * refused rather than followed. Any crash, leak, overflow or undefined behaviour is a bug; a
 * refusal must always say why.
 */
#include <stddef.h>
#include <stdint.h>

#include "edge/edge_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Sdwan__EdgeConfig *cfg;
	struct edge_local_settings local;
	struct diag_list diags = {0};
	int rc = edge_conf_load_buf(data, size, NULL, &cfg, &local, &diags);
	if (rc == 0) {
		/* A loaded config must be one the controller could have sent: it packs. */
		size_t len = sdwan__edge_config__get_packed_size(cfg);
		if (len > 2 * size + 1024 * 1024)
			__builtin_trap();
	} else if (rc == -22 && diags.errors == 0) {
		__builtin_trap(); /* refused without saying why */
	}
	edge_conf_free(cfg);
	diag_list_free(&diags);
	return 0;
}
