/*
 * `executor debug parse [--format=json] [--check] FILE`: the Dockerfile
 * as kiln's parser sees it, one line per instruction (BuildKit's node
 * dump) or one JSON array. A parse error is one "FILE:LINE: message" line
 * on stderr, nothing on stdout, exit 1; a usage error exits 2. Tests and
 * other tools depend on this output: keep it exact.
 */
#include "compat.h"
#include "commands.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "fileio.h"

/* A Dockerfile is text someone wrote; anything bigger is a mistake, and
 * the cap keeps a wrong path (a disk image, /dev/zero) from eating memory. */
#define DEBUG_PARSE_MAX_BYTES (4u << 20)

struct parse_opts {
	bool json, check;
	const char *file;
};

static int usage(struct kiln_error *err, const char *what)
{
	kiln_err(err, KILN_EINVAL, 0, "%s", what);
	kiln_err_hint(err, "usage: executor debug parse [--format=json] [--check] FILE");
	return 2;
}

static int parse_argv(struct parse_opts *o, int argc, char **argv, struct kiln_error *err)
{
	bool operands = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!operands && !strcmp(a, "--")) {
			operands = true;
		} else if (!operands && (!strcmp(a, "--format=json") || !strcmp(a, "--json"))) {
			o->json = true;
		} else if (!operands && !strcmp(a, "--format=text")) {
			o->json = false;
		} else if (!operands && !strcmp(a, "--format") && i + 1 < argc &&
			   (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "text"))) {
			o->json = !strcmp(argv[++i], "json");
		} else if (!operands && !strcmp(a, "--check")) {
			o->check = true;
		} else if (!operands && a[0] == '-' && a[1]) {
			struct kiln_buf m = KILN_BUF_INIT;
			int ret;

			kiln_buf_addf(&m, "debug parse: unknown option '%s'", a);
			ret = usage(err, m.buf);
			kiln_buf_release(&m);
			return ret;
		} else if (o->file) {
			return usage(err, "debug parse takes one FILE");
		} else {
			o->file = a;
		}
	}
	if (!o->file)
		return usage(err, "debug parse needs a FILE (or - for stdin)");
	return 0;
}

static int read_input(struct kiln_buf *b, const char *file, struct kiln_error *err)
{
	if (!strcmp(file, "-"))
		return kiln_buf_read_fd(b, 0, DEBUG_PARSE_MAX_BYTES, "the Dockerfile on stdin",
					err);
	return kiln_file_read(b, file, DEBUG_PARSE_MAX_BYTES, err);
}

int debug_parse(int argc, char **argv, struct kiln_error *err)
{
	struct parse_opts o = { 0 };
	struct kiln_buf in = KILN_BUF_INIT, out = KILN_BUF_INIT;
	struct kiln_error perr = KILN_ERROR_INIT;
	struct dockerfile df;
	int code = parse_argv(&o, argc, argv, err);

	if (code)
		return code;
	code = 1;
	if (read_input(&in, o.file, err) < 0)
		goto out;
	/* The parse error is the whole message: printed as is, without the
	 * "error: " main() would add. */
	if (dockerfile_parse(&df, in.buf, in.len, o.file, &perr) < 0) {
		fprintf(stderr, "%s\n", kiln_error_msg(&perr));
		goto out;
	}
	if (o.check && dockerfile_check(&df, o.file, &perr) < 0) {
		fprintf(stderr, "%s\n", kiln_error_msg(&perr));
		dockerfile_release(&df);
		goto out;
	}
	if (o.json)
		dockerfile_dump_json(&out, &df);
	else
		dockerfile_dump(&out, &df);
	dockerfile_release(&df);
	if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout)) {
		kiln_err(err, KILN_EIO, errno, "write the parse result");
		goto out;
	}
	code = 0;
out:
	kiln_error_release(&perr);
	kiln_buf_release(&in);
	kiln_buf_release(&out);
	return code;
}
