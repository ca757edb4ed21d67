/*
 * expand.c: BuildKit's shell lexer, rune for rune.
 *
 * The structure follows BuildKit's (frontend/dockerfile/shell/lex.go) on
 * purpose: where an error is reported, how far the scanner has read when a
 * nested ${...} fails, and which modifiers are accepted are all observable,
 * and kiln must report the same things for the same words. Patterns in
 * # % / are shell wildcards turned into a tiny regular-expression program
 * (literal runes, '?', '*') run by a Pike VM with Go's leftmost-first
 * priorities, because BuildKit runs them through Go's regexp.
 */
#include "compat.h"
#include "expand.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "gorune.h"

/* ------------------------------------------------------------ word lists */

void kiln_words_add(struct kiln_words *w, const char *s, size_t len)
{
	if (w->nr + 1 >= w->alloc) {
		w->alloc = w->alloc ? st_mult(w->alloc, 2) : 8;
		w->v = xreallocarray(w->v, w->alloc, sizeof(*w->v));
	}
	w->v[w->nr++] = xstrndup(s, len);
	w->v[w->nr] = NULL;
}

void kiln_words_add_unique(struct kiln_words *w, const char *s, size_t len)
{
	for (size_t i = 0; i < w->nr; i++) {
		if (strlen(w->v[i]) == len && !memcmp(w->v[i], s, len))
			return;
	}
	kiln_words_add(w, s, len);
}

void kiln_words_release(struct kiln_words *w)
{
	for (size_t i = 0; i < w->nr; i++)
		free(w->v[i]);
	free(w->v);
	w->v = NULL;
	w->nr = w->alloc = 0;
}

bool kiln_expand_env_lookup(void *ctx, const char *name, size_t name_len, const char **value,
			    size_t *value_len)
{
	const char **env = ctx;
	bool found = false;

	for (size_t i = 0; env && env[i]; i++) {
		const char *e = env[i];

		if (memchr(name, '\0', name_len) || strncmp(e, name, name_len))
			continue;
		if (e[name_len] != '=' && e[name_len] != '\0')
			continue;
		/* keep looking: the last entry for a name wins */
		found = true;
		*value = e[name_len] == '=' ? e + name_len + 1 : "";
		*value_len = strlen(*value);
	}
	return found;
}

/* ---------------------------------------------------------------- lexer */

struct lexer {
	const char *s;
	size_t len, pos; /* pos: byte offset of the next rune */
	int32_t escape;
	bool raw_escapes; /* keep escape characters (inside # % / patterns) */
	unsigned depth;
	size_t max_len;
	size_t budget; /* work left: bytes produced + pattern VM steps */
	struct kiln_expander *x;
	struct kiln_buf detail; /* the error, without the "failed to process" part */
};

/* Word splitting state, as BuildKit's wordsStruct. */
struct splitter {
	struct kiln_words *out;
	struct kiln_buf cur;
	bool in_word;
};

static int32_t lx_peek(const struct lexer *lx)
{
	size_t w;

	if (lx->pos >= lx->len)
		return GORUNE_EOF;
	return gorune_decode(lx->s + lx->pos, lx->len - lx->pos, &w);
}

static int32_t lx_next(struct lexer *lx)
{
	size_t w;
	int32_t r;

	if (lx->pos >= lx->len)
		return GORUNE_EOF;
	r = gorune_decode(lx->s + lx->pos, lx->len - lx->pos, &w);
	lx->pos += w;
	return r;
}

static int lx_fail(struct lexer *lx, const char *fmt, ...) KILN_PRINTF(2, 3);
static int lx_fail(struct lexer *lx, const char *fmt, ...)
{
	va_list ap;

	kiln_buf_reset(&lx->detail);
	va_start(ap, fmt);
	kiln_buf_vaddf(&lx->detail, fmt, ap);
	va_end(ap);
	return -1;
}

/* Charge n units of work; fail once the budget is spent. */
static int lx_spend(struct lexer *lx, size_t n)
{
	if (n > lx->budget)
		return lx_fail(lx, "expansion needs too much work (limit %zu bytes per result)",
			       lx->max_len);
	lx->budget -= n;
	return 0;
}

/* Append to a result, within the length cap and the work budget. */
static int lx_add(struct lexer *lx, struct kiln_buf *b, const char *data, size_t n)
{
	if (b->len + n > lx->max_len)
		return lx_fail(lx, "expansion is longer than the limit of %zu bytes", lx->max_len);
	if (lx_spend(lx, n) < 0)
		return -1;
	kiln_buf_add(b, data, n);
	return 0;
}

static int lx_add_rune(struct lexer *lx, struct kiln_buf *b, int32_t r)
{
	char enc[4];

	return lx_add(lx, b, enc, gorune_encode(enc, r));
}

/* string(rune) in Go: EOF (-1) becomes U+FFFD. */
static void add_rune_str(struct kiln_buf *b, int32_t r)
{
	char enc[4];

	kiln_buf_add(b, enc, gorune_encode(enc, r));
}

static void split_add_raw_char(struct splitter *sp, int32_t r)
{
	add_rune_str(&sp->cur, r);
	sp->in_word = true;
}

static void split_push(struct splitter *sp)
{
	kiln_words_add(sp->out, sp->cur.buf, sp->cur.len);
	kiln_buf_reset(&sp->cur);
	sp->in_word = false;
}

/* Unquoted text: whitespace ends a word, runs of it are one separator. */
static void split_add_char(struct splitter *sp, int32_t r)
{
	if (gorune_is_space(r)) {
		if (sp->in_word && sp->cur.len)
			split_push(sp);
		return;
	}
	split_add_raw_char(sp, r);
}

/* A variable's value splits like unquoted text (Go's range over a string:
 * an invalid byte is one U+FFFD). */
static void split_add_string(struct splitter *sp, const char *s, size_t n)
{
	size_t w;

	for (size_t i = 0; i < n; i += w)
		split_add_char(sp, gorune_decode(s + i, n - i, &w));
}

static void split_add_raw_string(struct splitter *sp, const char *s, size_t n)
{
	kiln_buf_add(&sp->cur, s, n);
	sp->in_word = true;
}

static void split_finish(struct splitter *sp)
{
	if (sp->cur.len)
		split_push(sp);
}

/* ------------------------------------------------------------- variables */

static bool lx_lookup(struct lexer *lx, const struct kiln_buf *name, const char **value,
		      size_t *value_len)
{
	struct kiln_expander *x = lx->x;
	bool set = false;

	*value = "";
	*value_len = 0;
	if (x->lookup)
		set = x->lookup(x->ctx, name->buf, name->len, value, value_len);
	if (set && x->matched)
		kiln_words_add_unique(x->matched, name->buf, name->len);
	if (!set && x->unmatched)
		kiln_words_add_unique(x->unmatched, name->buf, name->len);
	return set;
}

/* POSIX special parameters; BuildKit looks them up like names. */
static bool is_special_param(int32_t r)
{
	return r > 0 && r < 0x80 && strchr("@*#?-$!0", (int)r);
}

/* A name: letters, digits and '_'; or a run of digits; or one special
 * parameter character. */
static void lex_name(struct lexer *lx, struct kiln_buf *name)
{
	int32_t ch;

	while ((ch = lx_peek(lx)) != GORUNE_EOF) {
		if (!name->len && gorune_is_digit(ch)) {
			while (gorune_is_digit(lx_peek(lx)))
				add_rune_str(name, lx_next(lx));
			return;
		}
		if (!name->len && is_special_param(ch)) {
			add_rune_str(name, lx_next(lx));
			return;
		}
		if (!gorune_is_letter(ch) && !gorune_is_digit(ch) && ch != '_')
			return;
		add_rune_str(name, lx_next(lx));
	}
}

/* ------------------------------------------------------ pattern programs */

enum pat_op { PAT_CHAR, PAT_ANY, PAT_SPLIT, PAT_JMP, PAT_MATCH };

struct pat_inst {
	enum pat_op op;
	int32_t r;     /* PAT_CHAR */
	uint32_t x, y; /* PAT_SPLIT prefers x; PAT_JMP goes to x */
};

struct pat_prog {
	struct pat_inst *code;
	size_t nr, alloc;
	bool anchored; /* match only at the start */
};

static uint32_t pat_emit(struct pat_prog *p, enum pat_op op, int32_t r, size_t x, size_t y)
{
	if (p->nr == p->alloc) {
		p->alloc = p->alloc ? st_mult(p->alloc, 2) : 16;
		p->code = xreallocarray(p->code, p->alloc, sizeof(*p->code));
	}
	p->code[p->nr] = (struct pat_inst){ op, r, (uint32_t)x, (uint32_t)y };
	return (uint32_t)p->nr++;
}

/* '*' is Go's ".*" (greedy) or ".*?" (lazy): neither crosses a newline. */
static void pat_emit_star(struct pat_prog *p, bool greedy)
{
	size_t split = p->nr;

	if (greedy)
		pat_emit(p, PAT_SPLIT, 0, split + 1, split + 3);
	else
		pat_emit(p, PAT_SPLIT, 0, split + 3, split + 1);
	pat_emit(p, PAT_ANY, 0, 0, 0);
	pat_emit(p, PAT_JMP, 0, split, 0);
}

/*
 * Compile a shell pattern as BuildKit's convertShellPatternToRegex does:
 * '*' and '?' are wildcards, '\' escapes '*', '?' or '\', a '\' before '}'
 * or '/' is dropped, any other escape is an error, and everything else
 * (regular-expression metacharacters included) is literal. There are no
 * bracket expressions. Like Go's text/scanner, a leading BOM is skipped.
 */
static int pat_compile(struct pat_prog *p, struct lexer *lx, const char *s, size_t n, bool greedy,
		       bool anchored)
{
	size_t i = 0, w;
	bool last_star = false;

	p->anchored = anchored;
	if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		i = 3;
	for (; i < n; i += w) {
		int32_t r = gorune_decode(s + i, n - i, &w);

		if (r == '*') {
			/* "**" is ".*.*", which matches exactly as ".*" does */
			if (!last_star)
				pat_emit_star(p, greedy);
			last_star = true;
			continue;
		}
		last_star = false;
		if (r == '?') {
			pat_emit(p, PAT_ANY, 0, 0, 0);
			continue;
		}
		if (r == '\\') {
			if (i + w < n && (s[i + w] == '}' || s[i + w] == '/'))
				continue;
			i += w;
			r = i < n ? gorune_decode(s + i, n - i, &w) : GORUNE_EOF;
			if (r == GORUNE_EOF)
				w = 0;
			if (r != '*' && r != '?' && r != '\\') {
				struct kiln_buf c = KILN_BUF_INIT;

				add_rune_str(&c, r);
				lx_fail(lx,
					"invalid pattern (%.*s) in substitution: invalid escape "
					"'\\%s'",
					(int)n, s, c.buf);
				kiln_buf_release(&c);
				return -1;
			}
		}
		pat_emit(p, PAT_CHAR, r, 0, 0);
	}
	pat_emit(p, PAT_MATCH, 0, 0, 0);
	return 0;
}

static void pat_release(struct pat_prog *p)
{
	free(p->code);
	p->code = NULL;
	p->nr = p->alloc = 0;
}

struct pat_thread {
	uint32_t pc;
	size_t start;
};

struct pat_vm {
	const struct pat_prog *p;
	struct pat_thread *clist, *nlist;
	size_t cn, nn;
	uint32_t *mark, *stack;
	uint32_t gen;
};

/* Add pc and everything reachable from it without input, in priority order
 * (depth first, preferred branch first), as Go's Pike VM does. */
static void vm_add(struct pat_vm *vm, struct pat_thread *list, size_t *n, uint32_t pc, size_t start)
{
	size_t sp = 0;

	vm->stack[sp++] = pc;
	while (sp) {
		const struct pat_inst *in;

		pc = vm->stack[--sp];
		if (vm->mark[pc] == vm->gen)
			continue;
		vm->mark[pc] = vm->gen;
		in = &vm->p->code[pc];
		if (in->op == PAT_JMP) {
			vm->stack[sp++] = in->x;
		} else if (in->op == PAT_SPLIT) {
			vm->stack[sp++] = in->y;
			vm->stack[sp++] = in->x;
		} else {
			list[(*n)++] = (struct pat_thread){ pc, start };
		}
	}
}

/* Step every thread over rune r; returns true when a thread matched (the
 * lower-priority threads after it are dropped). */
static bool vm_step(struct pat_vm *vm, int32_t r, size_t pos, size_t *ms, size_t *me)
{
	vm->gen++;
	vm->nn = 0;
	for (size_t i = 0; i < vm->cn; i++) {
		const struct pat_thread *t = &vm->clist[i];
		const struct pat_inst *in = &vm->p->code[t->pc];

		if (in->op == PAT_MATCH) {
			*ms = t->start;
			*me = pos;
			return true;
		}
		if ((in->op == PAT_CHAR && r == in->r) ||
		    (in->op == PAT_ANY && r != GORUNE_EOF && r != '\n'))
			vm_add(vm, vm->nlist, &vm->nn, t->pc + 1, t->start);
	}
	return false;
}

static void vm_init(struct pat_vm *vm, const struct pat_prog *p)
{
	vm->p = p;
	vm->clist = xcalloc(p->nr, sizeof(*vm->clist));
	vm->nlist = xcalloc(p->nr, sizeof(*vm->nlist));
	vm->mark = xcalloc(p->nr, sizeof(*vm->mark));
	/* every edge pushes at most once per closure: two per instruction */
	vm->stack = xcalloc(st_add(st_mult(p->nr, 2), 1), sizeof(*vm->stack));
	vm->gen = 0;
}

static void vm_release(struct pat_vm *vm)
{
	free(vm->clist);
	free(vm->nlist);
	free(vm->mark);
	free(vm->stack);
}

/*
 * The leftmost-first match of the program in s[from..n): Go's
 * FindStringIndex from position `from`. Returns 1 with [*ms, *me), 0 for no
 * match, -1 when the work budget ran out. (gen only grows, so marks from
 * earlier searches never collide; the budget keeps it far from wrapping.)
 */
static int pat_find(struct pat_vm *vm, struct lexer *lx, const char *s, size_t n, size_t from,
		    size_t *ms, size_t *me)
{
	bool matched = false;

	vm->cn = 0;
	vm->gen++;
	for (size_t pos = from;;) {
		size_t w = 0;
		int32_t r = GORUNE_EOF;
		struct pat_thread *tmp;

		if (!matched && (!vm->p->anchored || pos == from))
			vm_add(vm, vm->clist, &vm->cn, 0, pos);
		if (!vm->cn)
			break;
		if (lx_spend(lx, vm->cn) < 0)
			return -1;
		if (pos < n)
			r = gorune_decode(s + pos, n - pos, &w);
		if (vm_step(vm, r, pos, ms, me))
			matched = true;
		if (pos >= n)
			break;
		pos += w;
		tmp = vm->clist, vm->clist = vm->nlist, vm->nlist = tmp;
		vm->cn = vm->nn;
	}
	return matched;
}

/* --------------------------------------------------- # % / substitutions */

/* []rune(s) in Go. */
static int32_t *runes_of(const char *s, size_t n, size_t *nr)
{
	int32_t *r = xcalloc(n + 1, sizeof(*r));
	size_t w;

	*nr = 0;
	for (size_t i = 0; i < n; i += w)
		r[(*nr)++] = gorune_decode(s + i, n - i, &w);
	return r;
}

static void add_runes(struct kiln_buf *b, const int32_t *r, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		add_rune_str(b, r[i]);
}

/* Remove the shortest (or longest) prefix matching pattern from value. */
static int trim_prefix(struct kiln_buf *out, struct lexer *lx, const char *pat, size_t pat_len,
		       const char *value, size_t value_len, bool greedy)
{
	struct pat_prog p = { 0 };
	struct pat_vm vm;
	size_t ms = 0, me = 0;
	int found, ret = -1;

	if (pat_compile(&p, lx, pat, pat_len, greedy, true) < 0)
		goto out;
	vm_init(&vm, &p);
	found = pat_find(&vm, lx, value, value_len, 0, &ms, &me);
	vm_release(&vm);
	if (found < 0)
		goto out;
	if (!found)
		me = 0;
	ret = lx_add(lx, out, value + me, value_len - me);
out:
	pat_release(&p);
	return ret;
}

/* BuildKit reverses the pattern (keeping each "\x" pair in order) and the
 * value to turn a suffix into a prefix; like Go's []rune conversion this
 * turns invalid UTF-8 in the value into U+FFFD. */
static int trim_suffix(struct kiln_buf *out, struct lexer *lx, const char *pat, size_t pat_len,
		       const char *value, size_t value_len, bool greedy)
{
	struct kiln_buf rpat = KILN_BUF_INIT, rval = KILN_BUF_INIT, trimmed = KILN_BUF_INIT;
	size_t np, nv, nt;
	int32_t *pr = runes_of(pat, pat_len, &np), *vr = runes_of(value, value_len, &nv);
	int32_t *rev = xcalloc(np + 1, sizeof(*rev)), *tr = NULL;
	int ret = -1;

	for (size_t i = 0; i < np;) {
		if (pr[i] == '\\' && i + 1 < np) {
			rev[np - i - 2] = pr[i];
			rev[np - i - 1] = pr[i + 1];
			i += 2;
		} else {
			rev[np - i - 1] = pr[i];
			i++;
		}
	}
	add_runes(&rpat, rev, np);
	for (size_t i = 0; i < nv; i++)
		add_rune_str(&rval, vr[nv - i - 1]);
	if (trim_prefix(&trimmed, lx, rpat.buf, rpat.len, rval.buf, rval.len, greedy) < 0)
		goto out;
	tr = runes_of(trimmed.buf, trimmed.len, &nt);
	for (size_t i = 0; i < nt / 2; i++) {
		int32_t t = tr[i];

		tr[i] = tr[nt - i - 1];
		tr[nt - i - 1] = t;
	}
	kiln_buf_reset(&trimmed);
	add_runes(&trimmed, tr, nt);
	ret = lx_add(lx, out, trimmed.buf, trimmed.len);
out:
	free(pr);
	free(vr);
	free(rev);
	free(tr);
	kiln_buf_release(&rpat);
	kiln_buf_release(&rval);
	kiln_buf_release(&trimmed);
	return ret;
}

/* Go's regexp template name: letters, digits, '_', optionally in braces.
 * Returns the bytes consumed after '$', 0 when malformed. */
static size_t template_name(const char *t, size_t n, const char **name, size_t *name_len)
{
	size_t i = 0, w;
	bool brace = n && t[0] == '{';

	if (brace)
		i = 1;
	*name = t + i;
	while (i < n) {
		int32_t r = gorune_decode(t + i, n - i, &w);

		if (!gorune_is_letter(r) && !gorune_is_digit(r) && r != '_')
			break;
		i += w;
	}
	*name_len = i - (size_t)brace;
	if (!*name_len)
		return 0;
	if (brace) {
		if (i >= n || t[i] != '}')
			return 0;
		i++;
	}
	return i;
}

/*
 * The replacement as Go's Regexp.ReplaceAllString expands it: "$$" is '$',
 * "$0" / "${0}" the whole match, any other name an empty (absent) group,
 * and a '$' starting no name is kept. BuildKit's patterns have no groups.
 */
static int add_template(struct kiln_buf *out, struct lexer *lx, const char *t, size_t n,
			const char *match, size_t match_len)
{
	while (n) {
		const char *dollar = memchr(t, '$', n), *name;
		size_t before, used, name_len;

		if (!dollar)
			return lx_add(lx, out, t, n);
		before = (size_t)(dollar - t);
		if (lx_add(lx, out, t, before) < 0)
			return -1;
		t += before + 1, n -= before + 1;
		if (n && t[0] == '$') {
			if (lx_add(lx, out, "$", 1) < 0)
				return -1;
			t++, n--;
			continue;
		}
		used = template_name(t, n, &name, &name_len);
		if (!used) {
			if (lx_add(lx, out, "$", 1) < 0)
				return -1;
			continue;
		}
		if (name_len == 1 && name[0] == '0' && lx_add(lx, out, match, match_len) < 0)
			return -1;
		t += used, n -= used;
	}
	return 0;
}

/* Go's Regexp.ReplaceAllString, including its rule that an empty match
 * right after the previous match is not replaced. */
static int replace_all(struct kiln_buf *out, struct lexer *lx, struct pat_vm *vm, const char *v,
		       size_t n, const char *rep, size_t rep_len)
{
	size_t last_end = 0, search = 0, ms, me, w;

	while (search <= n) {
		int found = pat_find(vm, lx, v, n, search, &ms, &me);

		if (found < 0)
			return -1;
		if (!found)
			break;
		if (lx_add(lx, out, v + last_end, ms - last_end) < 0)
			return -1;
		if ((me > last_end || ms == 0) &&
		    add_template(out, lx, rep, rep_len, v + ms, me - ms) < 0)
			return -1;
		last_end = me;
		w = 0;
		if (search < n)
			gorune_decode(v + search, n - search, &w);
		if (search + w > me)
			search += w;
		else if (search + 1 > me)
			search++;
		else
			search = me;
	}
	return lx_add(lx, out, v + last_end, n - last_end);
}

static int replace_first(struct kiln_buf *out, struct lexer *lx, struct pat_vm *vm, const char *v,
			 size_t n, const char *rep, size_t rep_len)
{
	size_t ms, me;
	int found = pat_find(vm, lx, v, n, 0, &ms, &me);

	if (found < 0)
		return -1;
	if (!found)
		return lx_add(lx, out, v, n);
	if (lx_add(lx, out, v, ms) < 0 || lx_add(lx, out, rep, rep_len) < 0)
		return -1;
	return lx_add(lx, out, v + me, n - me);
}

/* ---------------------------------------------------------- the grammar */

static int lex_stop_on(struct lexer *lx, int32_t stop, bool raw, struct kiln_buf *result,
		       struct splitter *sp);
static int lex_dollar(struct lexer *lx, struct kiln_buf *out);

/* 'text': everything literal up to the next quote; no escapes at all. */
static int lex_single_quote(struct lexer *lx, struct kiln_buf *out)
{
	lx_next(lx);
	for (;;) {
		int32_t ch = lx_next(lx);

		if (ch == GORUNE_EOF)
			return lx_fail(lx, "unexpected end of statement while looking for "
					   "matching single-quote");
		if (ch == '\'')
			return 0;
		if (lx_add_rune(lx, out, ch) < 0)
			return -1;
	}
}

/* "text": $ expands; the escape character escapes only '"', '$' and itself
 * and is kept before anything else. */
static int lex_double_quote(struct lexer *lx, struct kiln_buf *out)
{
	lx_next(lx);
	for (;;) {
		int32_t ch = lx_peek(lx);

		if (ch == GORUNE_EOF)
			return lx_fail(lx, "unexpected end of statement while looking for "
					   "matching double-quote");
		if (ch == '"') {
			lx_next(lx);
			return 0;
		}
		if (ch == '$') {
			if (lex_dollar(lx, out) < 0)
				return -1;
			continue;
		}
		ch = lx_next(lx);
		if (ch == lx->escape) {
			int32_t p = lx_peek(lx);

			if (lx->raw_escapes && lx_add_rune(lx, out, ch) < 0)
				return -1;
			if (p == GORUNE_EOF)
				continue;
			if (p == '"' || p == '$' || p == lx->escape)
				ch = lx_next(lx);
		}
		if (lx_add_rune(lx, out, ch) < 0)
			return -1;
	}
}

/* The operand of a modifier, up to the closing '}'. A failure at the end of
 * the word becomes BuildKit's "missing '}'", whatever failed inside. */
static int lex_operand(struct lexer *lx, int32_t stop, bool raw, struct kiln_buf *word,
		       const char *missing)
{
	if (lex_stop_on(lx, stop, raw, word, NULL) == 0)
		return 0;
	if (lx_peek(lx) == GORUNE_EOF)
		lx_fail(lx, "%s", missing);
	return -1;
}

static int unsupported(struct lexer *lx, const struct kiln_buf *chs)
{
	return lx_fail(lx, "unsupported modifier (%s) in substitution", chs->buf);
}

/* ${name-w} ${name+w} ${name?w} ${name#w} ${name%w}, with ':' (null_is_unset)
 * making an empty value count as unset for - + ?. */
static int lex_modifier(struct lexer *lx, struct kiln_buf *out, const struct kiln_buf *name,
			int32_t op, const struct kiln_buf *chs, bool null_is_unset)
{
	struct kiln_buf word = KILN_BUF_INIT;
	bool raw = op == '#' || op == '%', set, use_word;
	const char *value;
	size_t value_len;
	int ret = -1;

	if (null_is_unset && raw)
		return unsupported(lx, chs);
	if (lex_operand(lx, '}', raw, &word, "syntax error: missing '}'") < 0)
		goto out;
	set = lx_lookup(lx, name, &value, &value_len);
	use_word = !set || (null_is_unset && !value_len);
	switch (op) {
	case '-':
		ret = use_word ? lx_add(lx, out, word.buf, word.len)
			       : lx_add(lx, out, value, value_len);
		break;
	case '+':
		ret = use_word ? 0 : lx_add(lx, out, word.buf, word.len);
		break;
	case '?':
		if (use_word) {
			lx_fail(lx, "%s: %s", name->buf,
				word.len ? word.buf
					 : (set ? "is not allowed to be empty"
						: "is not allowed to be unset"));
			goto out;
		}
		ret = lx_add(lx, out, value, value_len);
		break;
	case '#':
	case '%': {
		/* "##" and "%%" take the longest match */
		bool greedy = word.len && word.buf[0] == op;
		size_t skip = greedy ? 1 : 0;

		if (op == '#')
			ret = trim_prefix(out, lx, word.buf + skip, word.len - skip, value,
					  value_len, greedy);
		else
			ret = trim_suffix(out, lx, word.buf + skip, word.len - skip, value,
					  value_len, greedy);
		break;
	}
	default:
		ret = unsupported(lx, chs);
	}
out:
	kiln_buf_release(&word);
	return ret;
}

/* ${name/pattern/replacement} and ${name//pattern/replacement}. */
static int lex_substitute(struct lexer *lx, struct kiln_buf *out, const struct kiln_buf *name)
{
	struct kiln_buf pat = KILN_BUF_INIT, rep = KILN_BUF_INIT;
	struct pat_prog p = { 0 };
	struct pat_vm vm;
	bool all = lx_peek(lx) == '/';
	const char *value;
	size_t value_len;
	int ret = -1;

	if (all)
		lx_next(lx);
	if (lex_operand(lx, '/', true, &pat, "syntax error: missing '/' in ${}") < 0 ||
	    lex_operand(lx, '}', true, &rep, "syntax error: missing '}'") < 0)
		goto out;
	lx_lookup(lx, name, &value, &value_len);
	if (pat_compile(&p, lx, pat.buf, pat.len, true, false) < 0)
		goto out;
	vm_init(&vm, &p);
	if (all)
		ret = replace_all(out, lx, &vm, value, value_len, rep.buf, rep.len);
	else
		ret = replace_first(out, lx, &vm, value, value_len, rep.buf, rep.len);
	vm_release(&vm);
out:
	pat_release(&p);
	kiln_buf_release(&pat);
	kiln_buf_release(&rep);
	return ret;
}

/* After "${": the name, then '}' or a modifier. */
static int lex_braced(struct lexer *lx, struct kiln_buf *out)
{
	struct kiln_buf name = KILN_BUF_INIT, chs = KILN_BUF_INIT;
	int32_t ch = lx_peek(lx);
	bool null_is_unset = false;
	const char *value;
	size_t value_len;
	int ret = -1;

	if (ch == GORUNE_EOF)
		return lx_fail(lx, "syntax error: missing '}'");
	if (ch == '{' || ch == '}' || ch == ':')
		return lx_fail(lx, "syntax error: bad substitution");
	lex_name(lx, &name);
	ch = lx_next(lx);
	add_rune_str(&chs, ch);
	switch (ch) {
	case '}':
		if (lx_lookup(lx, &name, &value, &value_len))
			ret = lx_add(lx, out, value, value_len);
		else
			ret = 0;
		break;
	case ':':
		null_is_unset = true;
		ch = lx_next(lx);
		add_rune_str(&chs, ch);
		/* fall through */
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		ret = lex_modifier(lx, out, &name, ch, &chs, null_is_unset);
		break;
	case '/':
		ret = lex_substitute(lx, out, &name);
		break;
	default:
		ret = unsupported(lx, &chs);
	}
	kiln_buf_release(&name);
	kiln_buf_release(&chs);
	return ret;
}

/* '$' then a name, "{...}", or nothing (the '$' is kept). */
static int lex_dollar(struct lexer *lx, struct kiln_buf *out)
{
	struct kiln_buf name = KILN_BUF_INIT;
	const char *value;
	size_t value_len;
	int ret = 0;

	/* BuildKit recurses without limit; kiln refuses rather than let a
	 * hostile word exhaust the stack */
	if (lx->depth >= KILN_EXPAND_MAX_DEPTH)
		return lx_fail(lx, "variable references nested more than %d deep",
			       KILN_EXPAND_MAX_DEPTH);
	lx->depth++;
	lx_next(lx);
	if (lx_peek(lx) == '{') {
		lx_next(lx);
		ret = lex_braced(lx, out);
	} else {
		lex_name(lx, &name);
		if (!name.len)
			ret = lx_add(lx, out, "$", 1);
		else if (lx_lookup(lx, &name, &value, &value_len))
			ret = lx_add(lx, out, value, value_len);
	}
	lx->depth--;
	kiln_buf_release(&name);
	return ret;
}

static int lex_special(struct lexer *lx, int32_t ch, struct kiln_buf *out)
{
	if (ch == '$')
		return lex_dollar(lx, out);
	if (ch == '\'')
		return lex_single_quote(lx, out);
	return lex_double_quote(lx, out);
}

/*
 * Read up to stop (GORUNE_EOF: the end of the word), appending the expanded
 * text to result and, at the top level, words to sp. raw keeps escape
 * characters (patterns need them) until the matching return.
 */
static int lex_stop_on(struct lexer *lx, int32_t stop, bool raw, struct kiln_buf *result,
		       struct splitter *sp)
{
	struct kiln_buf tmp = KILN_BUF_INIT;
	bool saved = lx->raw_escapes;
	int ret = -1;
	int32_t ch;

	lx->raw_escapes = raw;
	while ((ch = lx_peek(lx)) != GORUNE_EOF) {
		if (stop != GORUNE_EOF && ch == stop) {
			lx_next(lx);
			ret = 0;
			goto out;
		}
		if (ch == '$' || ch == '\'' || ch == '"') {
			kiln_buf_reset(&tmp);
			if (lex_special(lx, ch, &tmp) < 0 ||
			    lx_add(lx, result, tmp.buf, tmp.len) < 0)
				goto out;
			if (sp && ch == '$')
				split_add_string(sp, tmp.buf, tmp.len);
			else if (sp)
				split_add_raw_string(sp, tmp.buf, tmp.len);
			continue;
		}
		ch = lx_next(lx);
		if (ch == lx->escape) {
			if (lx->raw_escapes) {
				if (lx_add_rune(lx, result, ch) < 0)
					goto out;
				if (sp)
					split_add_raw_char(sp, ch);
			}
			ch = lx_next(lx);
			if (ch == GORUNE_EOF)
				break;
			if (sp)
				split_add_raw_char(sp, ch);
		} else if (sp) {
			split_add_char(sp, ch);
		}
		if (lx_add_rune(lx, result, ch) < 0)
			goto out;
	}
	if (stop != GORUNE_EOF) {
		struct kiln_buf c = KILN_BUF_INIT;

		add_rune_str(&c, stop);
		lx_fail(lx, "unexpected end of statement while looking for matching %s", c.buf);
		kiln_buf_release(&c);
		goto out;
	}
	ret = 0;
out:
	lx->raw_escapes = saved;
	kiln_buf_release(&tmp);
	return ret;
}

/* ------------------------------------------------------------- messages */

/*
 * Go's %q, enough for error messages: quotes, backslashes, control
 * characters, invalid UTF-8 and the common invisible runes are escaped.
 * (Go escapes every non-printable rune; kiln leaves unassigned and private
 * code points as they are.)
 */
static void add_go_quoted(struct kiln_buf *b, const char *s, size_t n)
{
	static const char esc[] = "\a\b\f\n\r\t\v";
	static const char letter[] = "abfnrtv";
	size_t w;

	kiln_buf_addch(b, '"');
	for (size_t i = 0; i < n; i += w) {
		int32_t r = gorune_decode(s + i, n - i, &w);
		const char *e = r > 0 && r < 0x20 ? strchr(esc, (int)r) : NULL;

		if (r == GORUNE_ERROR && w == 1)
			kiln_buf_addf(b, "\\x%02x", (unsigned char)s[i]);
		else if (r == '"' || r == '\\')
			kiln_buf_addf(b, "\\%c", (char)r);
		else if (e)
			kiln_buf_addf(b, "\\%c", letter[e - esc]);
		else if (r < 0x20 || r == 0x7f)
			kiln_buf_addf(b, "\\x%02x", (unsigned)r);
		else if ((r >= 0x80 && r <= 0xa0) || r == 0xad ||
			 (r != ' ' && gorune_is_space(r)) || (r >= 0x200b && r <= 0x200f) ||
			 (r >= 0x202a && r <= 0x202e) || (r >= 0x2060 && r <= 0x2064) ||
			 r == 0xfeff)
			kiln_buf_addf(b, "\\u%04x", (unsigned)r);
		else
			kiln_buf_add(b, s + i, w);
	}
	kiln_buf_addch(b, '"');
}

/* Messages are one line: control characters in the detail (a user's
 * ${VAR:?message} may hold a newline) are shown escaped. */
static void add_one_line(struct kiln_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			kiln_buf_addf(b, c == '\n' ? "\\n" : (c == '\t' ? "\\t" : "\\x%02x"), c);
		else
			kiln_buf_addch(b, (char)c);
	}
}

/* ---------------------------------------------------------- entry points */

static int expand(struct kiln_buf *result, struct kiln_words *words, struct kiln_expander *x,
		  const char *word, size_t len, struct kiln_error *err)
{
	struct lexer lx = {
		.s = word,
		.len = len,
		.escape = x->escape == '`' ? '`' : '\\',
		.max_len = x->max_len ? x->max_len : KILN_EXPAND_MAX_LEN,
		.x = x,
		.detail = KILN_BUF_INIT,
	};
	struct splitter sp = { words, KILN_BUF_INIT, false };
	int ret = 0;

	lx.budget = st_mult(lx.max_len, KILN_EXPAND_WORK_RATIO);
	/* Go's text/scanner skips a byte-order mark at the start */
	if (len >= 3 && !memcmp(word, "\xEF\xBB\xBF", 3))
		lx.pos = 3;
	if (lex_stop_on(&lx, GORUNE_EOF, false, result, words ? &sp : NULL) < 0) {
		struct kiln_buf msg = KILN_BUF_INIT;

		kiln_buf_addstr(&msg, "failed to process ");
		add_go_quoted(&msg, word, len);
		kiln_buf_addstr(&msg, ": ");
		add_one_line(&msg, lx.detail.buf, lx.detail.len);
		ret = kiln_err(err, KILN_EINVAL, 0, "%s", msg.buf);
		kiln_buf_release(&msg);
	} else if (words) {
		split_finish(&sp);
	}
	kiln_buf_release(&sp.cur);
	kiln_buf_release(&lx.detail);
	return ret;
}

int kiln_expand_word(struct kiln_buf *out, struct kiln_expander *x, const char *word, size_t len,
		     struct kiln_error *err)
{
	struct kiln_buf result = KILN_BUF_INIT;
	int ret = expand(&result, NULL, x, word, len, err);

	if (!ret)
		kiln_buf_addbuf(out, &result);
	kiln_buf_release(&result);
	return ret;
}

int kiln_expand_words(struct kiln_words *out, struct kiln_expander *x, const char *word, size_t len,
		      struct kiln_error *err)
{
	struct kiln_buf result = KILN_BUF_INIT;
	struct kiln_words words = KILN_WORDS_INIT;
	int ret = expand(&result, &words, x, word, len, err);

	for (size_t i = 0; !ret && i < words.nr; i++)
		kiln_words_add(out, words.v[i], strlen(words.v[i]));
	kiln_words_release(&words);
	kiln_buf_release(&result);
	return ret;
}
