/*
 * dockerfile-heredoc.c: which words of a RUN, COPY or ADD line start a
 * heredoc, decided as BuildKit decides it.
 *
 * BuildKit runs its shell lexer over the whole line (quotes and escapes
 * kept, no variable set, unset variables left as written) and tests each
 * resulting word against ^(\d*)<<(-?)([^<]*)$. A lexer error (an
 * unterminated quote, a bad ${...}) means no heredoc at all. The delimiter
 * is then lexed twice more, without and with its quotes: it must be one
 * word, and when the quote counts differ part of it was quoted, so the
 * body is not expanded. Only what decides that is reproduced here: the
 * lexer below has no environment and never expands anything.
 *
 * The lexer nests only through ${...}; nesting is capped so that hostile
 * input cannot exhaust the stack (a deeper line simply has no heredoc).
 */
#include "compat.h"
#include "dockerfile-int.h"
#include "alloc.h"
#include "buf.h"

#define LEX_MAX_DEPTH 64
#define LEX_EOF	      UINT32_MAX

struct words {
	char **v;
	size_t nr, alloc;
};

struct lexer {
	const char *s;
	size_t n, pos;
	bool raw_quotes, raw_escapes;
	int depth;
	/* BuildKit keeps one word buffer for the whole line, which nested
	 * ${...} processing resets: kept so that words come out the same. */
	struct kiln_buf word;
};

static void words_push(struct words *w, const char *s, size_t n)
{
	if (w->nr == w->alloc) {
		w->alloc = w->alloc ? 2 * w->alloc : 8;
		w->v = xreallocarray(w->v, w->alloc, sizeof(*w->v));
	}
	w->v[w->nr++] = xstrndup(s, n);
}

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->nr; i++)
		free(w->v[i]);
	free(w->v);
	w->v = NULL;
	w->nr = w->alloc = 0;
}

static uint32_t peek(struct lexer *lx)
{
	size_t w;

	if (lx->pos >= lx->n)
		return LEX_EOF;
	return df_rune_decode(lx->s + lx->pos, lx->n - lx->pos, &w);
}

static uint32_t next(struct lexer *lx)
{
	size_t w;
	uint32_t r;

	if (lx->pos >= lx->n)
		return LEX_EOF;
	r = df_rune_decode(lx->s + lx->pos, lx->n - lx->pos, &w);
	lx->pos += w;
	return r;
}

/* The word-splitting half of BuildKit's wordsStruct. */
struct splitter {
	struct lexer *lx;
	struct words *out; /* NULL when the caller drops the words */
	bool in_word;
};

static void split_flush(struct splitter *sp)
{
	if (sp->lx->word.len && sp->out)
		words_push(sp->out, sp->lx->word.buf, sp->lx->word.len);
	kiln_buf_reset(&sp->lx->word);
}

static void split_raw_rune(struct splitter *sp, uint32_t r)
{
	df_rune_append(&sp->lx->word, r);
	sp->in_word = true;
}

static void split_rune(struct splitter *sp, uint32_t r)
{
	if (df_rune_is_space(r) && sp->in_word) {
		if (sp->lx->word.len) {
			split_flush(sp);
			sp->in_word = false;
		}
	} else if (!df_rune_is_space(r)) {
		split_raw_rune(sp, r);
	}
}

static void split_string(struct splitter *sp, const struct kiln_buf *s)
{
	size_t i = 0, w;

	while (i < s->len) {
		split_rune(sp, df_rune_decode(s->buf + i, s->len - i, &w));
		i += w;
	}
}

static int lex_until(struct lexer *lx, uint32_t stop, bool raw_escapes, struct kiln_buf *result,
		     struct words *out);

static int lex_single_quote(struct lexer *lx, struct kiln_buf *res)
{
	uint32_t r = next(lx);

	if (lx->raw_quotes)
		df_rune_append(res, r);
	for (;;) {
		r = next(lx);
		if (r == LEX_EOF)
			return -1;
		if (r == '\'') {
			if (lx->raw_quotes)
				df_rune_append(res, r);
			return 0;
		}
		df_rune_append(res, r);
	}
}

static int lex_dollar(struct lexer *lx, struct kiln_buf *res);

static int lex_double_quote(struct lexer *lx, struct kiln_buf *res)
{
	uint32_t r = next(lx);

	if (lx->raw_quotes)
		df_rune_append(res, r);
	for (;;) {
		r = peek(lx);
		if (r == LEX_EOF)
			return -1;
		if (r == '"') {
			next(lx);
			if (lx->raw_quotes)
				df_rune_append(res, r);
			return 0;
		}
		if (r == '$') {
			if (lex_dollar(lx, res) < 0)
				return -1;
			continue;
		}
		r = next(lx);
		if (r == '\\') {
			uint32_t p = peek(lx);

			if (lx->raw_escapes)
				df_rune_append(res, r);
			if (p == LEX_EOF)
				continue;
			if (p == '"' || p == '$' || p == '\\')
				r = next(lx);
		}
		df_rune_append(res, r);
	}
}

static bool special_param(uint32_t r)
{
	return r && r < 0x80 && strchr("@*#?-$!0", (int)r);
}

/* A variable name as BuildKit's processName reads it. */
static void lex_name(struct lexer *lx, struct kiln_buf *name)
{
	uint32_t r = peek(lx);

	if (r != LEX_EOF && df_rune_is_digit(r)) {
		while ((r = peek(lx)) != LEX_EOF && df_rune_is_digit(r))
			df_rune_append(name, next(lx));
		return;
	}
	if (r != LEX_EOF && special_param(r)) {
		df_rune_append(name, next(lx));
		return;
	}
	while ((r = peek(lx)) != LEX_EOF &&
	       (df_rune_is_letter(r) || df_rune_is_digit(r) || r == '_'))
		df_rune_append(name, next(lx));
}

/* ${name<op>word}: with no variable set, BuildKit gives back the text. */
static int lex_braced(struct lexer *lx, struct kiln_buf *res, struct kiln_buf *name)
{
	struct kiln_buf word = KILN_BUF_INIT, repl = KILN_BUF_INIT;
	uint32_t r = next(lx), op = r;
	int ret = -1;

	kiln_buf_addf(res, "${%s", name->buf);
	if (r == '}') {
		kiln_buf_addch(res, '}');
		return 0;
	}
	if (r == ':') {
		df_rune_append(res, r);
		op = next(lx);
		if (op == '#' || op == '%')
			goto out;
	} else if (r == '/') {
		kiln_buf_addch(res, '/');
		if (peek(lx) == '/')
			next(lx);
		if (lex_until(lx, '/', true, &word, NULL) < 0 ||
		    lex_until(lx, '}', true, &repl, NULL) < 0)
			goto out;
		kiln_buf_addf(res, "%s/%s}", word.buf, repl.buf);
		ret = 0;
		goto out;
	} else if (r == LEX_EOF || !strchr("+-?#%", (int)r)) {
		goto out;
	}
	df_rune_append(res, op == LEX_EOF ? DF_RUNE_ERROR : op);
	if (lex_until(lx, '}', op == '#' || op == '%', &word, NULL) < 0)
		goto out;
	kiln_buf_addbuf(res, &word);
	kiln_buf_addch(res, '}');
	ret = 0;
out:
	kiln_buf_release(&word);
	kiln_buf_release(&repl);
	return ret;
}

static int lex_dollar(struct lexer *lx, struct kiln_buf *res)
{
	struct kiln_buf name = KILN_BUF_INIT;
	uint32_t r;
	int ret;

	next(lx);
	if (peek(lx) != '{') {
		lex_name(lx, &name);
		kiln_buf_addch(res, '$');
		kiln_buf_addbuf(res, &name);
		kiln_buf_release(&name);
		return 0;
	}
	next(lx);
	r = peek(lx);
	if (r == LEX_EOF || r == '{' || r == '}' || r == ':')
		return -1;
	lex_name(lx, &name);
	ret = lex_braced(lx, res, &name);
	kiln_buf_release(&name);
	return ret;
}

/* One quoted string or ${...} inside lex_until(). */
static int lex_special(struct lexer *lx, struct splitter *sp, struct kiln_buf *result, uint32_t r)
{
	struct kiln_buf tmp = KILN_BUF_INIT;
	int ret;

	if (r == '$')
		ret = lex_dollar(lx, &tmp);
	else if (r == '\'')
		ret = lex_single_quote(lx, &tmp);
	else
		ret = lex_double_quote(lx, &tmp);
	if (!ret) {
		kiln_buf_addbuf(result, &tmp);
		if (r == '$') {
			split_string(sp, &tmp);
		} else {
			kiln_buf_addbuf(&lx->word, &tmp);
			sp->in_word = true;
		}
	}
	kiln_buf_release(&tmp);
	return ret;
}

/* BuildKit's processStopOn: up to stop (LEX_EOF: the end). */
static int lex_until(struct lexer *lx, uint32_t stop, bool raw_escapes, struct kiln_buf *result,
		     struct words *out)
{
	struct splitter sp = { .lx = lx, .out = out };
	bool saved = lx->raw_escapes;
	int ret = -1;
	uint32_t r;

	if (++lx->depth > LEX_MAX_DEPTH)
		goto out;
	lx->raw_escapes = raw_escapes;
	kiln_buf_reset(&lx->word);
	while ((r = peek(lx)) != LEX_EOF) {
		if (stop != LEX_EOF && r == stop) {
			next(lx);
			split_flush(&sp);
			ret = 0;
			goto out;
		}
		if (r == '$' || r == '\'' || r == '"') {
			if (lex_special(lx, &sp, result, r) < 0)
				goto out;
			continue;
		}
		r = next(lx);
		if (r == '\\') {
			if (lx->raw_escapes) {
				split_raw_rune(&sp, r);
				df_rune_append(result, r);
			}
			r = next(lx);
			if (r == LEX_EOF)
				break;
			split_raw_rune(&sp, r);
		} else {
			split_rune(&sp, r);
		}
		df_rune_append(result, r);
	}
	if (stop == LEX_EOF) {
		split_flush(&sp);
		ret = 0;
	}
out:
	lx->raw_escapes = saved;
	lx->depth--;
	return ret;
}

/* Split s into words as BuildKit's ProcessWords does with no variables. */
static int lex_words(struct words *out, const char *s, size_t n, bool raw_quotes, bool raw_escapes)
{
	struct lexer lx = { .s = s, .n = n, .raw_quotes = raw_quotes, .word = KILN_BUF_INIT };
	struct kiln_buf result = KILN_BUF_INIT;
	int ret = lex_until(&lx, LEX_EOF, raw_escapes, &result, out);

	kiln_buf_release(&result);
	kiln_buf_release(&lx.word);
	if (ret < 0)
		words_free(out);
	return ret;
}

static size_t count_quotes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/*
 * BuildKit's heredocFromMatch for the delimiter text rest: 1 with *h
 * filled when it is a heredoc, 0 when not, -1 with *msg on a lexer error.
 */
static int heredoc_from_rest(struct dockerfile_heredoc *h, const char *rest, char **msg)
{
	struct words plain = { 0 }, raw = { 0 };
	int ret = -1;

	if (!*rest)
		return 0;
	if (lex_words(&plain, rest, strlen(rest), false, false) < 0 ||
	    lex_words(&raw, rest, strlen(rest), true, false) < 0) {
		*msg = xasprintf("cannot read the heredoc delimiter '%s'", rest);
		goto out;
	}
	ret = 0;
	if (plain.nr != 1)
		goto out;
	if (raw.nr != 1) {
		*msg = xasprintf("the heredoc delimiter '%s' reads inconsistently", rest);
		ret = -1;
		goto out;
	}
	h->name = xstrdup(plain.v[0]);
	h->expand = count_quotes(plain.v[0]) == count_quotes(raw.v[0]);
	ret = 1;
out:
	words_free(&plain);
	words_free(&raw);
	return ret;
}

/* Does word match ^(\d*)<<(-?)([^<]*)$? Fills fd, chomp and the rest. */
static bool heredoc_word(const char *word, uint64_t *fd, bool *chomp, const char **rest)
{
	const char *p = word;
	uint64_t v = 0;
	bool overflow = false;

	for (; *p >= '0' && *p <= '9'; p++) {
		/* strconv.ParseUint's error is ignored: it gives the maximum */
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			overflow = true;
		else
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p[0] != '<' || p[1] != '<')
		return false;
	p += 2;
	*chomp = *p == '-';
	if (*chomp)
		p++;
	if (strchr(p, '<'))
		return false;
	*fd = overflow ? UINT64_MAX : v;
	*rest = p;
	return true;
}

int df_heredocs_from_line(struct df_heredoc_list *out, const char *line, size_t n, char **msg)
{
	struct words w = { 0 };
	int ret = 0;

	out->v = NULL;
	out->nr = 0;
	*msg = NULL;
	if (lex_words(&w, line, n, true, true) < 0)
		return 0; /* BuildKit ignores the error: no heredocs */
	for (size_t i = 0; i < w.nr; i++) {
		struct dockerfile_heredoc h = { 0 };
		const char *rest;
		int found;

		if (!heredoc_word(w.v[i], &h.fd, &h.chomp, &rest))
			continue;
		found = heredoc_from_rest(&h, rest, msg);
		if (found < 0) {
			ret = -1;
			break;
		}
		if (!found)
			continue;
		out->v = xreallocarray(out->v, out->nr + 1, sizeof(*out->v));
		out->v[out->nr++] = h;
	}
	words_free(&w);
	if (ret < 0) {
		for (size_t i = 0; i < out->nr; i++)
			df_heredoc_release(&out->v[i]);
		free(out->v);
		out->v = NULL;
		out->nr = 0;
	}
	return ret;
}

void df_heredoc_release(struct dockerfile_heredoc *h)
{
	free(h->name);
	free(h->content);
	h->name = h->content = NULL;
}
