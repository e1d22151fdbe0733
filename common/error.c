#include "common/error.h"

#include <string.h>

const char *sdw_strerror(int err)
{
	if (err < 0)
		err = -err;
	/* strerrordesc_np returns a constant string: safe from any thread, unlike strerror. */
	const char *s = strerrordesc_np(err);
	return s ? s : "unknown error";
}
