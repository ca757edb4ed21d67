#include "compat.h"
#include "commands.h"
#include "buf.h"
#include "build.h"
#include "error.h"

int cmd_version(struct kiln_options *o, struct kiln_error *err)
{
	struct kiln_buf out = KILN_BUF_INIT;

	if (o->nr_args) {
		kiln_err(err, KILN_EINVAL, 0, "'version' takes no arguments, got '%s'", o->args[0]);
		return -1;
	}
	build_versions(&out);
	fputs(out.buf, stdout);
	kiln_buf_release(&out);
	return fflush(stdout) == 0 ? 0 : 1;
}
