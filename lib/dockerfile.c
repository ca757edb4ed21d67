/*
 * dockerfile.c: physical lines -> logical lines -> instructions, as
 * BuildKit's parser.Parse does it.
 *
 * A line is read with its newline (Go's bufio.Scanner with a 64 KiB
 * limit); the first line loses a UTF-8 byte-order mark. Leading blanks
 * of the first line of an instruction are dropped, a comment line becomes
 * empty, and the escape character at the end of a line (after optional
 * blanks, and not itself escaped) continues the instruction on the next
 * line, where comment lines and blank lines are skipped. The logical line
 * is then split into keyword, flags and arguments by the keyword's
 * argument parser, and heredoc bodies are read after it.
 */
#include "compat.h"
#include "dockerfile.h"
#include "dockerfile-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

struct reader {
	const char *data;
	size_t len, pos;
	int line;     /* physical lines read so far */
	int too_long; /* the line over DOCKERFILE_MAX_LINE, 0 if none */
};

struct parser {
	struct reader rd;
	struct dockerfile *df;
	const char *file;
	struct kiln_error *err;
	bool directives_done;
	bool seen_escape, seen_syntax, seen_check;
	struct kiln_buf line; /* the logical line being built */
	size_t alloc_instrs, alloc_warnings;
};

static const struct keyword {
	const char *name;
	enum dockerfile_kw kw;
} keywords[] = {
	{ "add", DOCKERFILE_ADD },
	{ "arg", DOCKERFILE_ARG },
	{ "cmd", DOCKERFILE_CMD },
	{ "copy", DOCKERFILE_COPY },
	{ "entrypoint", DOCKERFILE_ENTRYPOINT },
	{ "env", DOCKERFILE_ENV },
	{ "expose", DOCKERFILE_EXPOSE },
	{ "from", DOCKERFILE_FROM },
	{ "healthcheck", DOCKERFILE_HEALTHCHECK },
	{ "label", DOCKERFILE_LABEL },
	{ "maintainer", DOCKERFILE_MAINTAINER },
	{ "onbuild", DOCKERFILE_ONBUILD },
	{ "run", DOCKERFILE_RUN },
	{ "shell", DOCKERFILE_SHELL },
	{ "stopsignal", DOCKERFILE_STOPSIGNAL },
	{ "user", DOCKERFILE_USER },
	{ "volume", DOCKERFILE_VOLUME },
	{ "workdir", DOCKERFILE_WORKDIR },
};

enum dockerfile_kw dockerfile_kw_lookup(const char *lower)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(keywords); i++) {
		if (!strcmp(keywords[i].name, lower))
			return keywords[i].kw;
	}
	return DOCKERFILE_UNKNOWN;
}

const char *dockerfile_kw_name(enum dockerfile_kw kw)
{
	static const char *const upper[] = {
		[DOCKERFILE_ADD] = "ADD",
		[DOCKERFILE_ARG] = "ARG",
		[DOCKERFILE_CMD] = "CMD",
		[DOCKERFILE_COPY] = "COPY",
		[DOCKERFILE_ENTRYPOINT] = "ENTRYPOINT",
		[DOCKERFILE_ENV] = "ENV",
		[DOCKERFILE_EXPOSE] = "EXPOSE",
		[DOCKERFILE_FROM] = "FROM",
		[DOCKERFILE_HEALTHCHECK] = "HEALTHCHECK",
		[DOCKERFILE_LABEL] = "LABEL",
		[DOCKERFILE_MAINTAINER] = "MAINTAINER",
		[DOCKERFILE_ONBUILD] = "ONBUILD",
		[DOCKERFILE_RUN] = "RUN",
		[DOCKERFILE_SHELL] = "SHELL",
		[DOCKERFILE_STOPSIGNAL] = "STOPSIGNAL",
		[DOCKERFILE_USER] = "USER",
		[DOCKERFILE_VOLUME] = "VOLUME",
		[DOCKERFILE_WORKDIR] = "WORKDIR",
	};

	if ((size_t)kw >= KILN_ARRAY_SIZE(upper))
		return NULL;
	return upper[kw];
}

/* ------------------------------------------------------------ errors */

static int parse_fail(struct parser *p, int line, const char *msg)
{
	return kiln_err(p->err, KILN_EINVAL, 0, "%s:%d: %s", p->file, line, msg);
}

/* ------------------------------------------------------------ lines */

static bool reader_next(struct reader *r, const char **s, size_t *n)
{
	const char *nl;
	size_t avail, content;

	if (r->too_long || r->pos >= r->len)
		return false;
	avail = r->len - r->pos;
	nl = memchr(r->data + r->pos, '\n', avail);
	content = nl ? (size_t)(nl - (r->data + r->pos)) : avail;
	if (content > DOCKERFILE_MAX_LINE) {
		/* bufio.Scanner stops here; BuildKit then fails the parse */
		r->too_long = r->line + 1;
		return false;
	}
	*s = r->data + r->pos;
	*n = nl ? content + 1 : content;
	r->pos += *n;
	r->line++;
	return true;
}

static void trim_newline(const char *s, size_t *n)
{
	while (*n && (s[*n - 1] == '\n' || s[*n - 1] == '\r'))
		(*n)--;
}

static bool is_comment(const char *s, size_t n)
{
	trim_newline(s, &n);
	df_trim_left_space(&s, &n);
	return n && s[0] == '#';
}

static bool is_blank(const char *s, size_t n)
{
	trim_newline(s, &n);
	df_trim_left_space(&s, &n);
	return n == 0;
}

/* ------------------------------------------------------------ directives */

/* Go's regexp \s: [\t\n\f\r ] (no \v). */
static bool re_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool ascii_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_alnum(char c)
{
	return ascii_alpha(c) || (c >= '0' && c <= '9');
}

struct directive {
	char name[16]; /* lower case; longer names are no directive */
	const char *value;
	size_t value_len;
};

/* ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ */
static bool directive_match(struct directive *d, const char *s, size_t n)
{
	size_t i = 1, name_start, a, b;

	if (!n || s[0] != '#')
		return false;
	while (i < n && re_space(s[i]))
		i++;
	if (i >= n || !ascii_alpha(s[i]))
		return false;
	for (name_start = i; i < n && ascii_alnum(s[i]); i++)
		;
	d->name[0] = '\0'; /* a name too long is no directive name */
	if (i - name_start < sizeof(d->name)) {
		for (size_t k = 0; k < i - name_start; k++)
			d->name[k] = (char)(s[name_start + k] | 0x20);
		d->name[i - name_start] = '\0';
	}
	while (i < n && re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=' || i + 1 >= n)
		return false;
	for (a = i + 1; a < n && re_space(s[a]); a++)
		;
	for (b = n; b > a && re_space(s[b - 1]); b--)
		;
	if (a == b) /* only blanks: the lazy group takes the last one */
		a = n - 1, b = n;
	d->value = s + a;
	d->value_len = b - a;
	return true;
}

static bool *directive_seen(struct parser *p, const char *name)
{
	if (!strcmp(name, "escape"))
		return &p->seen_escape;
	if (!strcmp(name, "syntax"))
		return &p->seen_syntax;
	if (!strcmp(name, "check"))
		return &p->seen_check;
	return NULL;
}

static int directive_apply(struct parser *p, const struct directive *d)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	const char *v = d->value;
	int ret = 0;

	if (!strcmp(d->name, "syntax")) {
		p->df->syntax = xstrndup(v, d->value_len);
	} else if (!strcmp(d->name, "check")) {
		p->df->check = xstrndup(v, d->value_len);
	} else if (d->value_len == 1 && (v[0] == '\\' || v[0] == '`')) {
		p->df->escape = v[0];
	} else {
		kiln_buf_addstr(&msg, "invalid escape directive value '");
		df_add_excerpt(&msg, v, d->value_len);
		kiln_buf_addstr(&msg, "'; the escape character must be \\ or `");
		ret = parse_fail(p, p->rd.line, msg.buf);
	}
	kiln_buf_release(&msg);
	return ret;
}

/* BuildKit's DirectiveParser: directives only until the first line that
 * is not one (an instruction, another comment, an empty line). */
static int directive_line(struct parser *p, const char *s, size_t n)
{
	struct directive d;
	bool *seen;

	if (p->directives_done)
		return 0;
	if (!directive_match(&d, s, n) || !(seen = directive_seen(p, d.name))) {
		p->directives_done = true;
		return 0;
	}
	if (*seen) {
		struct kiln_buf msg = KILN_BUF_INIT;
		int ret;

		kiln_buf_addf(&msg,
			      "only one '%s' parser directive can be used; remove the repeated one",
			      d.name);
		ret = parse_fail(p, p->rd.line, msg.buf);
		kiln_buf_release(&msg);
		return ret;
	}
	*seen = true;
	return directive_apply(p, &d);
}

/* processLine: trim the newline (and leading blanks on a first line),
 * look for a directive, and empty a comment line. */
static int process_line(struct parser *p, const char **s, size_t *n, bool strip_left)
{
	trim_newline(*s, n);
	if (strip_left)
		df_trim_left_space(s, n);
	if (directive_line(p, *s, *n) < 0)
		return -1;
	if (is_comment(*s, *n))
		*n = 0;
	return 0;
}

/* Remove a trailing escape character (and the blanks after it) unless it
 * is itself escaped. Returns true when the line does not continue. */
static bool trim_continuation(const struct parser *p, const char *s, size_t *n)
{
	size_t e = *n;
	char esc = p->df->escape;

	while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (!e || s[e - 1] != esc)
		return true;
	if (e >= 2 && s[e - 2] == esc)
		return true;
	*n = e - 1;
	return false;
}

static void add_warning(struct parser *p, int line, const char *msg)
{
	struct dockerfile *df = p->df;

	if (df->nr_warnings == p->alloc_warnings) {
		p->alloc_warnings = p->alloc_warnings ? 2 * p->alloc_warnings : 4;
		df->warnings =
			xreallocarray(df->warnings, p->alloc_warnings, sizeof(*df->warnings));
	}
	df->warnings[df->nr_warnings].line = line;
	df->warnings[df->nr_warnings++].msg = xstrdup(msg);
}

/* Append the continuation lines of the instruction in p->line. */
static int read_continuation(struct parser *p, int start)
{
	bool eol = false, empty_seen = false;
	const char *raw, *s;
	size_t rn, n;

	while (!eol && reader_next(&p->rd, &raw, &rn)) {
		s = raw;
		n = rn;
		if (process_line(p, &s, &n, false) < 0)
			return -1;
		if (is_comment(raw, rn))
			continue;
		if (is_blank(s, n)) {
			empty_seen = true;
			continue;
		}
		eol = trim_continuation(p, s, &n);
		kiln_buf_add(&p->line, s, n);
	}
	if (empty_seen) {
		struct kiln_buf msg = KILN_BUF_INIT;

		kiln_buf_addf(&msg,
			      "empty continuation line in the instruction of line %d; "
			      "empty continuation lines will become errors in a future release",
			      start);
		add_warning(p, p->rd.line, msg.buf);
		kiln_buf_release(&msg);
	}
	return 0;
}

/* canContainHeredoc: RUN, COPY, ADD (or ONBUILD of one) in shell form. */
static bool can_contain_heredoc(const struct dockerfile_instr *in)
{
	if (in->kw == DOCKERFILE_ONBUILD && in->onbuild)
		in = in->onbuild;
	if (in->kw != DOCKERFILE_RUN && in->kw != DOCKERFILE_COPY && in->kw != DOCKERFILE_ADD)
		return false;
	return !in->json_form;
}

static bool line_has_heredoc_marker(const struct kiln_buf *line)
{
	return line->len >= 2 && memmem(line->buf, line->len, "<<", 2);
}

/* Read one heredoc's body up to its terminator line. */
static bool read_heredoc_body(struct parser *p, struct dockerfile_heredoc *h)
{
	struct kiln_buf body = KILN_BUF_INIT;
	size_t name_len = strlen(h->name);
	bool terminated = false;
	const char *raw;
	size_t rn;

	while (reader_next(&p->rd, &raw, &rn)) {
		const char *t = raw;
		size_t tn = rn;

		trim_newline(t, &tn);
		while (h->chomp && tn && t[0] == '\t')
			t++, tn--;
		if (tn == name_len && !memcmp(t, h->name, tn)) {
			terminated = true;
			break;
		}
		kiln_buf_add(&body, raw, rn);
	}
	h->content = kiln_buf_detach(&body, &h->content_len);
	return terminated;
}

static int read_heredocs(struct parser *p, struct dockerfile_instr *in, int start)
{
	struct df_heredoc_list list;
	char *msg = NULL;
	int ret = 0;

	if (df_heredocs_from_line(&list, p->line.buf, p->line.len, &msg) < 0) {
		ret = parse_fail(p, start, msg);
		free(msg);
		return ret;
	}
	in->heredocs = list.v;
	in->nr_heredocs = list.nr;
	for (size_t i = 0; i < list.nr; i++) {
		struct kiln_buf m = KILN_BUF_INIT;

		if (read_heredoc_body(p, &list.v[i]))
			continue;
		kiln_buf_addstr(&m, "unterminated heredoc '");
		df_add_excerpt(&m, list.v[i].name, strlen(list.v[i].name));
		kiln_buf_addstr(&m, "'; end it with a line holding only the delimiter");
		ret = parse_fail(p, start, m.buf);
		kiln_buf_release(&m);
		break;
	}
	return ret;
}

/* Free an instruction and its chain of ONBUILD triggers (a loop: the
 * chain is as long as the input makes it). */
static void instr_free_all(struct dockerfile_instr *in)
{
	struct dockerfile_instr *chain = in->onbuild;

	df_instr_release(in);
	while (chain) {
		struct dockerfile_instr *next = chain->onbuild;

		df_instr_release(chain);
		free(chain);
		chain = next;
	}
}

static void set_lines(struct dockerfile_instr *in, int start, int end)
{
	for (; in; in = in->onbuild) {
		in->line = start;
		in->end_line = end;
	}
}

/* The logical line in p->line is complete: make it an instruction. */
static int add_instruction(struct parser *p, int start)
{
	struct dockerfile_instr in = { 0 };
	struct dockerfile *df = p->df;
	char *msg = NULL;

	if (df_parse_instr(&in, p->line.buf, p->line.len, df->escape, &msg) < 0) {
		parse_fail(p, start, msg);
		free(msg);
		goto fail;
	}
	if (can_contain_heredoc(&in) && line_has_heredoc_marker(&p->line) &&
	    read_heredocs(p, &in, start) < 0)
		goto fail;
	set_lines(&in, start, p->rd.line);
	if (df->nr_instrs == p->alloc_instrs) {
		p->alloc_instrs = p->alloc_instrs ? 2 * p->alloc_instrs : 16;
		df->instrs = xreallocarray(df->instrs, p->alloc_instrs, sizeof(*df->instrs));
	}
	df->instrs[df->nr_instrs++] = in;
	return 0;
fail:
	instr_free_all(&in);
	return -1;
}

static void strip_bom(const char **s, size_t *n)
{
	if (*n >= 3 && !memcmp(*s, "\xEF\xBB\xBF", 3)) {
		*s += 3;
		*n -= 3;
	}
}

static int parse_lines(struct parser *p)
{
	const char *s;
	size_t n;

	while (reader_next(&p->rd, &s, &n)) {
		int start;

		if (p->rd.line == 1)
			strip_bom(&s, &n);
		if (process_line(p, &s, &n, true) < 0)
			return -1;
		start = p->rd.line;
		kiln_buf_reset(&p->line);
		if (trim_continuation(p, s, &n)) {
			if (!n)
				continue;
			kiln_buf_add(&p->line, s, n);
		} else {
			kiln_buf_add(&p->line, s, n);
			if (read_continuation(p, start) < 0)
				return -1;
		}
		if (add_instruction(p, start) < 0)
			return -1;
	}
	return 0;
}

/* Not text: a NUL byte or invalid UTF-8 (BuildKit would parse garbage). */
static int check_text(struct parser *p, const char *data, size_t len)
{
	const char *nul = memchr(data, '\0', len);
	size_t nul_at = nul ? (size_t)(nul - data) : len, bad = len, at;
	int line = 1;
	char msg[160];

	df_utf8_valid(data, len, &bad);
	at = nul_at < bad ? nul_at : bad;
	if (at == len)
		return 0;
	for (size_t i = 0; i < at && line < INT32_MAX; i++)
		line += data[i] == '\n';
	if (at == nul_at)
		snprintf(msg, sizeof(msg),
			 "the file is not text (a NUL byte); a Dockerfile must be UTF-8 text");
	else
		snprintf(msg, sizeof(msg),
			 "the file is not text (invalid UTF-8 byte 0x%02x); save the Dockerfile "
			 "as UTF-8",
			 (unsigned char)data[at]);
	return parse_fail(p, line, msg);
}

static int parse_finish(struct parser *p)
{
	if (p->rd.too_long) {
		char msg[120];

		snprintf(msg, sizeof(msg),
			 "the line is longer than %d bytes, the most BuildKit accepts; split it "
			 "with "
			 "line continuations",
			 DOCKERFILE_MAX_LINE);
		return parse_fail(p, p->rd.too_long, msg);
	}
	if (!p->df->nr_instrs)
		return parse_fail(p, p->rd.line ? p->rd.line : 1,
				  "the file has no instructions; a Dockerfile needs at least FROM");
	return 0;
}

int dockerfile_parse(struct dockerfile *out, const char *data, size_t len, const char *file,
		     struct kiln_error *err)
{
	struct parser p = {
		.rd = { .data = data, .len = len },
		.df = out,
		.file = file,
		.err = err,
		.line = KILN_BUF_INIT,
	};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->escape = '\\';
	if (check_text(&p, data, len) < 0)
		goto out;
	if (parse_lines(&p) < 0 || parse_finish(&p) < 0)
		goto out;
	ret = 0;
out:
	kiln_buf_release(&p.line);
	if (ret < 0) {
		dockerfile_release(out);
		return KILN_EINVAL;
	}
	return 0;
}

void dockerfile_release(struct dockerfile *df)
{
	for (size_t i = 0; i < df->nr_instrs; i++)
		instr_free_all(&df->instrs[i]);
	free(df->instrs);
	for (size_t i = 0; i < df->nr_warnings; i++)
		free(df->warnings[i].msg);
	free(df->warnings);
	free(df->syntax);
	free(df->check);
	memset(df, 0, sizeof(*df));
	df->escape = '\\';
}
