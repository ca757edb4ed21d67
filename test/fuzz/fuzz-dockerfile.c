/*
 * fuzz-dockerfile: libFuzzer target for the Dockerfile parser. Each input
 * is parsed as a Dockerfile; a parsed one also goes through the checks,
 * both printers and the stage graph (no expander), so every path that
 * reads parser output is covered. Any crash, leak or sanitizer report is
 * a bug: the parser reads hostile input.
 *
 * Seeds: test/fuzz/corpus/dockerfile/ (small Dockerfiles covering the
 * grammar).
 */
#include "compat.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "stages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	struct stages_options o = { .file = "Dockerfile", .target = "build" };
	struct dockerfile df;
	struct stages st;

	if (dockerfile_parse(&df, (const char *)data, size, "Dockerfile", &err) < 0) {
		/* every failure has a message in the FILE:LINE: form */
		if (strncmp(kiln_error_msg(&err), "Dockerfile:", 11))
			abort();
		kiln_error_release(&err);
		return 0;
	}
	if (!df.nr_instrs)
		abort();
	dockerfile_check(&df, "Dockerfile", &err);
	kiln_error_release(&err);
	dockerfile_dump(&out, &df);
	dockerfile_dump_json(&out, &df);
	if (stages_build(&st, &df, &o, &err) == 0)
		stages_release(&st);
	kiln_error_release(&err);
	o.target = NULL; /* the last stage: walks the graph and the order */
	if (stages_build(&st, &df, &o, &err) == 0)
		stages_release(&st);
	kiln_error_release(&err);
	kiln_buf_release(&out);
	dockerfile_release(&df);
	return 0;
}
