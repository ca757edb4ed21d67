/*
 * dockerfile-dump.c: the parsed Dockerfile as text, for `executor debug
 * parse`, tests and bug reports.
 *
 * The text form is BuildKit's node dump, one line per instruction:
 *	(copy ["--from=build"] "/out" "/usr/bin/")
 *	(onbuild (run "make"))
 * The JSON form is one array on one line, with the heredoc bodies the
 * text form leaves out. ONBUILD chains are printed with loops, never
 * recursion, as they are as long as the input makes them.
 */
#include "compat.h"
#include "dockerfile.h"
#include "dockerfile-int.h"
#include "buf.h"
#include <inttypes.h>

static void dump_head(struct kiln_buf *out, const struct dockerfile_instr *in)
{
	kiln_buf_addstr(out, in->keyword);
	if (in->nr_flags) {
		kiln_buf_addstr(out, " [");
		for (size_t i = 0; i < in->nr_flags; i++) {
			if (i)
				kiln_buf_addch(out, ' ');
			dockerfile_quote(out, in->flags[i], strlen(in->flags[i]));
		}
		kiln_buf_addch(out, ']');
	}
	for (size_t i = 0; i < in->nr_args; i++) {
		/* BuildKit trims the dump, so an empty keyword has no space */
		if (i || in->keyword[0] || in->nr_flags)
			kiln_buf_addch(out, ' ');
		dockerfile_quote(out, in->args[i].s, in->args[i].len);
	}
}

void dockerfile_dump(struct kiln_buf *out, const struct dockerfile *df)
{
	for (size_t i = 0; i < df->nr_instrs; i++) {
		size_t depth = 0;

		for (const struct dockerfile_instr *in = &df->instrs[i]; in; in = in->onbuild) {
			kiln_buf_addstr(out, depth ? " (" : "(");
			dump_head(out, in);
			depth++;
		}
		while (depth--)
			kiln_buf_addch(out, ')');
		kiln_buf_addch(out, '\n');
	}
}

static void json_str(struct kiln_buf *out, const char *s)
{
	df_json_quote(out, s, strlen(s));
}

static void json_heredocs(struct kiln_buf *out, const struct dockerfile_instr *in)
{
	kiln_buf_addstr(out, "\"heredocs\":[");
	for (size_t i = 0; i < in->nr_heredocs; i++) {
		const struct dockerfile_heredoc *h = &in->heredocs[i];

		kiln_buf_addstr(out, i ? ",{\"name\":" : "{\"name\":");
		json_str(out, h->name);
		kiln_buf_addstr(out, ",\"content\":");
		df_json_quote(out, h->content, h->content_len);
		kiln_buf_addf(out, ",\"expand\":%s,\"chomp\":%s,\"fd\":%" PRIu64 "}",
			      h->expand ? "true" : "false", h->chomp ? "true" : "false", h->fd);
	}
	kiln_buf_addch(out, ']');
}

/* Everything of one object but the closing brace (and "onbuild"). */
static void json_head(struct kiln_buf *out, const struct dockerfile_instr *in)
{
	kiln_buf_addstr(out, "{\"keyword\":");
	json_str(out, in->keyword);
	kiln_buf_addf(out, ",\"line\":%d,\"end_line\":%d,\"flags\":[", in->line, in->end_line);
	for (size_t i = 0; i < in->nr_flags; i++) {
		if (i)
			kiln_buf_addch(out, ',');
		json_str(out, in->flags[i]);
	}
	kiln_buf_addstr(out, "],\"args\":[");
	for (size_t i = 0; i < in->nr_args; i++) {
		if (i)
			kiln_buf_addch(out, ',');
		df_json_quote(out, in->args[i].s, in->args[i].len);
	}
	kiln_buf_addf(out, "],\"json_form\":%s,", in->json_form ? "true" : "false");
	json_heredocs(out, in);
}

void dockerfile_dump_json(struct kiln_buf *out, const struct dockerfile *df)
{
	kiln_buf_addch(out, '[');
	for (size_t i = 0; i < df->nr_instrs; i++) {
		size_t depth = 0;
		const struct dockerfile_instr *in;

		if (i)
			kiln_buf_addch(out, ',');
		for (in = &df->instrs[i]; in; in = in->onbuild) {
			json_head(out, in);
			depth++;
			if (in->kw != DOCKERFILE_ONBUILD)
				break;
			kiln_buf_addstr(out, in->onbuild ? ",\"onbuild\":" : ",\"onbuild\":null");
		}
		while (depth--)
			kiln_buf_addch(out, '}');
	}
	kiln_buf_addstr(out, "]\n");
}

const char *dockerfile_instr_flag(const struct dockerfile_instr *in, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < in->nr_flags; i++) {
		const char *f = in->flags[i];

		if (!strncmp(f, "--", 2) && !strncmp(f + 2, name, len) && f[2 + len] == '=')
			return f + 3 + len;
	}
	return NULL;
}
