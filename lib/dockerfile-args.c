/*
 * dockerfile-args.c: one logical line -> keyword, flags and arguments, as
 * BuildKit's splitCommand, extractBuilderFlags and per-keyword line
 * parsers (parseMaybeJSON, parseNameVal, parseWords, ...) do it.
 *
 * Go's byte and rune handling shows through on purpose: the flag splitter
 * reads bytes as runes (a byte >= 0x80 comes out as U+0080..U+00FF, and
 * bytes 0x85/0xA0 split words), HEALTHCHECK's type word ends at such a
 * byte too, while parseWords decodes UTF-8 and splits on Unicode blanks.
 */
#include "compat.h"
#include "dockerfile.h"
#include "dockerfile-int.h"
#include "alloc.h"
#include "buf.h"

/* Append s for a message: at most 80 bytes, cut on a rune boundary. */
void df_add_excerpt(struct kiln_buf *b, const char *s, size_t n)
{
	size_t cut = n, w;

	if (n > 80) {
		cut = 0;
		while (cut < 77) {
			df_rune_decode(s + cut, n - cut, &w);
			if (cut + w > 77)
				break;
			cut += w;
		}
	}
	kiln_buf_add(b, s, cut);
	if (cut < n)
		kiln_buf_addstr(b, "...");
}

/* ------------------------------------------------------------ instructions */

struct strlist {
	char **v;
	size_t nr, alloc;
};

static void strlist_push(struct strlist *l, char *owned)
{
	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 4;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->nr++] = owned;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->nr = l->alloc = 0;
}

/* Free what one instruction owns, not its ONBUILD trigger. */
void df_instr_release(struct dockerfile_instr *in)
{
	free(in->keyword);
	free(in->original);
	for (size_t i = 0; i < in->nr_flags; i++)
		free(in->flags[i]);
	free(in->flags);
	for (size_t i = 0; i < in->nr_args; i++)
		free(in->args[i].s);
	free(in->args);
	for (size_t i = 0; i < in->nr_heredocs; i++)
		df_heredoc_release(&in->heredocs[i]);
	free(in->heredocs);
}

/* Copies n bytes, NULs included: a JSON "\u0000" puts one inside an
 * argument, and xstrndup() would stop there while len says n. */
static void instr_add_arg(struct dockerfile_instr *in, const char *s, size_t n)
{
	char *copy = xmalloc(st_add(n, 1));

	memcpy(copy, s, n);
	copy[n] = '\0';
	in->args = xreallocarray(in->args, in->nr_args + 1, sizeof(*in->args));
	in->args[in->nr_args].s = copy;
	in->args[in->nr_args++].len = n;
}

/* Go's WriteRune(rune(byte)): BuildKit's flag splitter reads bytes as
 * runes, so a byte >= 0x80 becomes the two-byte encoding of U+0080..FF. */
static void add_byte_rune(struct kiln_buf *b, unsigned char c)
{
	df_rune_append(b, c);
}

struct flag_splitter {
	struct kiln_buf word;
	bool blank_ok;
	struct strlist flags;
};

static bool word_is_dashdash(const struct kiln_buf *w)
{
	return w->len == 2 && w->buf[0] == '-' && w->buf[1] == '-';
}

static void flag_word_end(struct flag_splitter *fs)
{
	if (fs->blank_ok || fs->word.len)
		strlist_push(&fs->flags, xstrndup(fs->word.buf, fs->word.len));
	kiln_buf_reset(&fs->word);
	fs->blank_ok = false;
}

/*
 * BuildKit's extractBuilderFlags: words starting with "--" at the start
 * of s are flags (quotes removed, a backslash escaping the next byte, a
 * lone "--" ending them). Returns where the arguments start (n if none).
 */
static size_t split_flags(struct flag_splitter *fs, const char *s, size_t n)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	unsigned char ch = 0, quote = 0;

	for (size_t pos = 0; pos <= n; pos++) {
		if (pos < n)
			ch = (unsigned char)s[pos];
		if (phase == IN_SPACES) {
			if (pos == n)
				break;
			if (df_byte_is_space(ch))
				continue;
			if (ch != '-' || pos + 1 == n || s[pos + 1] != '-')
				return pos;
			phase = IN_WORD;
		}
		if (pos == n) {
			if (!word_is_dashdash(&fs->word))
				flag_word_end(fs);
			break;
		}
		if (phase == IN_WORD && df_byte_is_space(ch)) {
			phase = IN_SPACES;
			if (word_is_dashdash(&fs->word))
				return pos;
			flag_word_end(fs);
			continue;
		}
		if (phase == IN_WORD && (ch == '\'' || ch == '"')) {
			quote = ch;
			fs->blank_ok = true;
			phase = IN_QUOTE;
			continue;
		}
		if (phase == IN_QUOTE && ch == quote) {
			phase = IN_WORD;
			continue;
		}
		if (ch == '\\') {
			if (pos + 1 == n) {
				phase = IN_WORD; /* (a no-op outside quotes) */
				continue;
			}
			ch = (unsigned char)s[++pos];
		}
		add_byte_rune(&fs->word, ch);
	}
	return n;
}

/* Go's regexp [\t\v\f\r ]+ as BuildKit's reWhitespace. */
static bool ws_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* regexp.Split(s, -1) on reWhitespace, each piece added as an argument. */
static void split_whitespace(struct dockerfile_instr *in, const char *s, size_t n)
{
	size_t i = 0, beg = 0, end = 0;

	while (i < n) {
		size_t m0, m1;

		if (!ws_byte(s[i])) {
			i++;
			continue;
		}
		for (m0 = i; i < n && ws_byte(s[i]); i++)
			;
		m1 = i;
		end = m0;
		if (m1 != 0)
			instr_add_arg(in, s + beg, end - beg);
		beg = m1;
	}
	if (end != n)
		instr_add_arg(in, s + beg, n - beg);
}

/* parseWords: words split on Unicode blanks outside quotes, the quotes
 * and escape characters kept. Invalid UTF-8 becomes U+FFFD, as Go's
 * WriteRune of a decoded rune does. */
static void parse_words(struct strlist *out, const char *s, size_t n, char esc)
{
	enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
	struct kiln_buf word = KILN_BUF_INIT;
	uint32_t ch = 0, quote = 0;
	bool blank_ok = false;
	size_t pos = 0, w = 0;

	for (;; pos += w) {
		if (pos < n)
			ch = df_rune_decode(s + pos, n - pos, &w);
		if (phase == IN_SPACES) {
			if (pos >= n)
				break;
			if (df_rune_is_space(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos >= n) {
			if (blank_ok || word.len)
				strlist_push(out, xstrndup(word.buf, word.len));
			break;
		}
		if (phase == IN_WORD) {
			if (df_rune_is_space(ch)) {
				phase = IN_SPACES;
				if (blank_ok || word.len)
					strlist_push(out, xstrndup(word.buf, word.len));
				kiln_buf_reset(&word);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
			}
			if (ch == (uint32_t)esc) {
				if (pos + w == n)
					continue;
				df_rune_append(&word, ch);
				pos += w;
				ch = df_rune_decode(s + pos, n - pos, &w);
			}
			df_rune_append(&word, ch);
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote)
			phase = IN_WORD;
		if (ch == (uint32_t)esc && quote != '\'') {
			if (pos + w == n) {
				phase = IN_WORD;
				continue;
			}
			pos += w;
			df_rune_append(&word, ch);
			ch = df_rune_decode(s + pos, n - pos, &w);
		}
		df_rune_append(&word, ch);
	}
	kiln_buf_release(&word);
}

static char *msg_with_text(const char *what, const char *s, size_t n, const char *hint)
{
	struct kiln_buf b = KILN_BUF_INIT;

	kiln_buf_addf(&b, "%s '", what);
	df_add_excerpt(&b, s, n);
	kiln_buf_addf(&b, "'%s", hint);
	return kiln_buf_detach(&b, NULL);
}

/* ENV and LABEL: `KEY value...` (legacy) or `k=v ...`, as triples. */
static int args_name_val(struct dockerfile_instr *in, const char *s, size_t n, char esc, char **msg)
{
	const char *kw = in->kw == DOCKERFILE_ENV ? "ENV" : "LABEL";
	struct strlist words = { 0 };
	size_t k;
	int ret = 0;

	parse_words(&words, s, n, esc);
	if (words.nr && !strchr(words.v[0], '=')) {
		for (k = 0; k < n && !ws_byte(s[k]); k++)
			;
		if (k == n) {
			*msg = xasprintf(
				"%s must have two arguments: a name and a value, or name=value",
				kw);
			ret = -1;
			goto out;
		}
		instr_add_arg(in, s, k);
		while (k < n && ws_byte(s[k]))
			k++;
		instr_add_arg(in, s + k, n - k);
		instr_add_arg(in, "", 0);
		goto out;
	}
	for (size_t i = 0; i < words.nr; i++) {
		char *eq = strchr(words.v[i], '=');

		if (!eq) {
			*msg = msg_with_text("syntax error: no '=' in", words.v[i],
					     strlen(words.v[i]), "; each word must be name=value");
			ret = -1;
			goto out;
		}
		instr_add_arg(in, words.v[i], (size_t)(eq - words.v[i]));
		instr_add_arg(in, eq + 1, strlen(eq + 1));
		instr_add_arg(in, "=", 1);
	}
out:
	strlist_free(&words);
	return ret;
}

/* parseJSON's input: the text without leading Unicode blanks. */
static enum df_json_result try_json(struct dockerfile_instr *in, const char *s, size_t n)
{
	struct dockerfile_arg *args;
	size_t nr;
	enum df_json_result r;

	df_trim_left_space(&s, &n);
	if (!n || s[0] != '[')
		return DF_JSON_NOT_ARRAY;
	r = df_json_strings(&args, &nr, s, n);
	if (r == DF_JSON_STRINGS) {
		in->args = args;
		in->nr_args = nr;
		in->json_form = true;
	}
	return r;
}

static int json_error(const char *s, size_t n, char **msg)
{
	*msg = msg_with_text(
		"when using JSON array syntax, arrays must be comprised of strings only:", s, n,
		"; quote every element");
	return -1;
}

/* RUN, CMD, ENTRYPOINT, SHELL: parseMaybeJSON. */
static int args_maybe_json(struct dockerfile_instr *in, const char *s, size_t n, char **msg)
{
	enum df_json_result r;

	if (!n)
		return 0;
	r = try_json(in, s, n);
	if (r == DF_JSON_NOT_STRINGS)
		return json_error(s, n, msg);
	if (r == DF_JSON_NOT_ARRAY)
		instr_add_arg(in, s, n);
	return 0;
}

/* ADD, COPY, VOLUME: parseMaybeJSONToList. */
static int args_maybe_json_list(struct dockerfile_instr *in, const char *s, size_t n, char **msg)
{
	enum df_json_result r = try_json(in, s, n);

	if (r == DF_JSON_NOT_STRINGS)
		return json_error(s, n, msg);
	if (r == DF_JSON_NOT_ARRAY && n)
		split_whitespace(in, s, n);
	return 0;
}

/* HEALTHCHECK: the type word (split on bytes, as BuildKit does), then
 * the rest parsed as RUN's arguments. */
static int args_healthcheck(struct dockerfile_instr *in, const char *s, size_t n, char **msg)
{
	struct dockerfile_instr cmd = { 0 };
	size_t sep = 0, next;
	int ret;

	while (sep < n && !df_byte_is_space((unsigned char)s[sep]))
		sep++;
	for (next = sep; next < n && df_byte_is_space((unsigned char)s[next]); next++)
		;
	if (!sep)
		return 0;
	instr_add_arg(in, s, sep);
	ret = args_maybe_json(&cmd, s + next, n - next, msg);
	for (size_t i = 0; i < cmd.nr_args; i++)
		instr_add_arg(in, cmd.args[i].s, cmd.args[i].len);
	in->json_form = cmd.json_form;
	df_instr_release(&cmd);
	return ret;
}

static void args_words(struct dockerfile_instr *in, const char *s, size_t n, char esc)
{
	struct strlist words = { 0 };

	parse_words(&words, s, n, esc);
	for (size_t i = 0; i < words.nr; i++)
		instr_add_arg(in, words.v[i], strlen(words.v[i]));
	strlist_free(&words);
}

/* The keyword's argument parser; *msg is set on a parse error. */
static int parse_args(struct dockerfile_instr *in, const char *s, size_t n, char esc, char **msg)
{
	switch (in->kw) {
	case DOCKERFILE_ADD:
	case DOCKERFILE_COPY:
	case DOCKERFILE_VOLUME:
		return args_maybe_json_list(in, s, n, msg);
	case DOCKERFILE_RUN:
	case DOCKERFILE_CMD:
	case DOCKERFILE_ENTRYPOINT:
	case DOCKERFILE_SHELL:
		return args_maybe_json(in, s, n, msg);
	case DOCKERFILE_ENV:
	case DOCKERFILE_LABEL:
		return args_name_val(in, s, n, esc, msg);
	case DOCKERFILE_ARG:
		args_words(in, s, n, esc);
		return 0;
	case DOCKERFILE_FROM:
	case DOCKERFILE_EXPOSE:
		if (n)
			split_whitespace(in, s, n);
		return 0;
	case DOCKERFILE_HEALTHCHECK:
		return args_healthcheck(in, s, n, msg);
	case DOCKERFILE_UNKNOWN:
		instr_add_arg(in, "", 0); /* BuildKit's parseIgnore: one empty node */
		return 0;
	default: /* MAINTAINER, STOPSIGNAL, USER, WORKDIR */
		if (n)
			instr_add_arg(in, s, n);
		return 0;
	}
}

/*
 * splitCommand: the keyword (up to the first ASCII blank), its flags, and
 * the trimmed rest in [*rest, *rest + *rest_len).
 */
static void split_command(struct dockerfile_instr *in, const char *line, size_t len,
			  const char **rest, size_t *rest_len)
{
	struct flag_splitter fs = { .word = KILN_BUF_INIT };
	struct kiln_buf kw = KILN_BUF_INIT;
	size_t a, b, e, args_at, ra, rb;

	df_trim_space(line, len, &a, &b);
	for (e = a; e < b && !ws_byte(line[e]); e++)
		;
	df_to_lower(&kw, line + a, e - a);
	in->keyword = kiln_buf_detach(&kw, NULL);
	in->kw = dockerfile_kw_lookup(in->keyword);
	*rest = line + b;
	*rest_len = 0;
	if (e == b)
		return;
	while (e < b && ws_byte(line[e]))
		e++;
	args_at = split_flags(&fs, line + e, b - e);
	kiln_buf_release(&fs.word);
	in->flags = fs.flags.v;
	in->nr_flags = fs.flags.nr;
	df_trim_space(line + e + args_at, b - e - args_at, &ra, &rb);
	*rest = line + e + args_at + ra;
	*rest_len = rb - ra;
}

/* newNodeFromLine, with ONBUILD's trigger handled as a loop so that
 * ONBUILD ONBUILD ... cannot recurse. */
int df_parse_instr(struct dockerfile_instr *in, const char *line, size_t n, char esc, char **msg)
{
	/* Only the instruction keeps its text: copying it again for each
	 * trigger would make ONBUILD ONBUILD ... quadratic. */
	in->original = xstrndup(line, n);
	for (;;) {
		const char *rest;
		size_t rn;

		split_command(in, line, n, &rest, &rn);
		if (in->kw != DOCKERFILE_ONBUILD)
			return parse_args(in, rest, rn, esc, msg);
		if (!rn)
			return 0;
		in->onbuild = xcalloc(1, sizeof(*in->onbuild));
		in = in->onbuild;
		line = rest;
		n = rn;
	}
}
