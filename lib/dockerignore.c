/*
 * dockerignore.c: moby/patternmatcher, rule for rule.
 *
 * moby turns each pattern into a Go regular expression (a star becomes
 * "[^/]*", '?' "[^/]", a double star "(.*" "/)?" or ".*", and '[' ']' '^'
 * and backslash escapes pass through) unless the pattern is a plain path,
 * a prefix followed by a final double star, or a double star followed by a
 * suffix, which it compares as strings. kiln builds the same
 * expression text and runs it with a small engine for the part of Go's
 * syntax such text can hold, so odd patterns ("[*]", "a^b", "[[:digit:]]",
 * "\d") mean what they mean to BuildKit. Not supported (an error, where Go
 * accepts them): the Unicode classes \p \P and quoting \Q...\E.
 */
#include "compat.h"
#include <sys/stat.h>
#include "dockerignore.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "gorune.h"

/* ------------------------------------------------------------ Go strings */

/* strings.TrimSpace: Unicode white space at both ends. */
static void trim_space(const char **s, size_t *n)
{
	size_t i = 0, end = 0, w;

	while (i < *n && gorune_is_space(gorune_decode(*s + i, *n - i, &w)))
		i += w;
	for (size_t j = i; j < *n; j += w) {
		if (!gorune_is_space(gorune_decode(*s + j, *n - j, &w)))
			end = j + w;
	}
	*s += i;
	*n = end > i ? end - i : 0;
}

/* filepath.Clean, for '/' paths: lexical, never touches the disk. */
static void go_clean(struct kiln_buf *out, const char *p, size_t n)
{
	bool rooted = n && p[0] == '/';
	size_t r = rooted ? 1 : 0, dotdot = r;

	kiln_buf_reset(out);
	if (!n) {
		kiln_buf_addch(out, '.');
		return;
	}
	if (rooted)
		kiln_buf_addch(out, '/');
	while (r < n) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (out->len > dotdot) {
				size_t w = out->len - 1;

				while (w > dotdot && out->buf[w] != '/')
					w--;
				kiln_buf_setlen(out, w);
			} else if (!rooted) {
				if (out->len)
					kiln_buf_addch(out, '/');
				kiln_buf_addstr(out, "..");
				dotdot = out->len;
			}
		} else {
			if ((rooted && out->len != 1) || (!rooted && out->len))
				kiln_buf_addch(out, '/');
			for (; r < n && p[r] != '/'; r++)
				kiln_buf_addch(out, p[r]);
		}
	}
	if (!out->len)
		kiln_buf_addch(out, '.');
}

/* ------------------------------------------- filepath.Match syntax check */

/* One class element of filepath.Match ("getEsc"); false when malformed. */
static bool match_class_char(const char **c, const char *end)
{
	size_t w;
	int32_t r;

	if (*c >= end || **c == '-' || **c == ']')
		return false;
	if (**c == '\\' && ++*c >= end)
		return false;
	r = gorune_decode(*c, (size_t)(end - *c), &w);
	if (r == GORUNE_ERROR && w == 1)
		return false;
	*c += w;
	return *c < end;
}

/* A chunk (the text between stars) is well formed for filepath.Match. */
static bool match_chunk_ok(const char *c, const char *end)
{
	while (c < end) {
		if (*c == '[') {
			int nrange = 0;

			if (++c < end && *c == '^')
				c++;
			for (;; nrange++) {
				if (c < end && *c == ']' && nrange) {
					c++;
					break;
				}
				if (!match_class_char(&c, end))
					return false;
				if (*c == '-' && (++c, !match_class_char(&c, end)))
					return false;
			}
		} else if (*c == '\\') {
			if (++c >= end)
				return false;
			c++;
		} else {
			c++;
		}
	}
	return true;
}

/* filepath.Match(pattern, ".") returns no error: every chunk is valid. */
static bool match_syntax_ok(const char *p, size_t n)
{
	const char *s = p, *end = p + n;

	while (s < end) {
		const char *c;
		bool in_range = false;

		while (s < end && *s == '*')
			s++;
		for (c = s; c < end; c++) {
			if (*c == '\\' && c + 1 < end)
				c++;
			else if (*c == '[')
				in_range = true;
			else if (*c == ']')
				in_range = false;
			else if (*c == '*' && !in_range)
				break;
		}
		if (!match_chunk_ok(s, c))
			return false;
		s = c;
	}
	return true;
}

/* --------------------------------------------- a Go regexp subset: parse */

enum re_kind { RE_CLASS, RE_ANY, RE_ASSERT, RE_GROUP };
enum re_assert { AS_BEGIN, AS_END, AS_WORD, AS_NOT_WORD };

struct re_range {
	int32_t lo, hi;
};

struct re_node {
	enum re_kind kind;
	char quant; /* 0, '*', '+' or '?' */
	bool lazy;  /* "*?": irrelevant to whether a match exists */
	bool negate;
	struct re_range *ranges;
	size_t nr_ranges, alloc;
	enum re_assert assert;
	struct re_node *child; /* RE_GROUP */
	struct re_node *next;
};

struct re_parser {
	const char *s;
	size_t n, pos;
	const char *why; /* set on failure */
};

static void node_free(struct re_node *n)
{
	while (n) {
		struct re_node *next = n->next;

		node_free(n->child);
		free(n->ranges);
		free(n);
		n = next;
	}
}

static void node_add_range(struct re_node *n, int32_t lo, int32_t hi)
{
	if (n->nr_ranges == n->alloc) {
		n->alloc = n->alloc ? st_mult(n->alloc, 2) : 4;
		n->ranges = xreallocarray(n->ranges, n->alloc, sizeof(*n->ranges));
	}
	n->ranges[n->nr_ranges++] = (struct re_range){ lo, hi };
}

/* Add a sorted set of ranges, or its complement over all runes. */
static void node_add_group(struct re_node *n, const struct re_range *g, size_t ng, bool negated)
{
	int32_t next = 0;

	for (size_t i = 0; i < ng; i++) {
		if (!negated)
			node_add_range(n, g[i].lo, g[i].hi);
		else if (g[i].lo > next)
			node_add_range(n, next, g[i].lo - 1);
		next = g[i].hi + 1;
	}
	if (negated && next <= 0x10FFFF)
		node_add_range(n, next, 0x10FFFF);
}

static const struct re_range g_digit[] = { { '0', '9' } };
static const struct re_range g_space[] = { { '\t', '\n' }, { '\f', '\r' }, { ' ', ' ' } };
static const struct re_range g_word[] = { { '0', '9' }, { 'A', 'Z' }, { '_', '_' }, { 'a', 'z' } };

/* \d \D \s \S \w \W (ASCII, as in Go). Returns false for other escapes. */
static bool perl_class(struct re_node *n, char c)
{
	switch (c) {
	case 'd':
	case 'D':
		node_add_group(n, g_digit, KILN_ARRAY_SIZE(g_digit), c == 'D');
		return true;
	case 's':
	case 'S':
		node_add_group(n, g_space, KILN_ARRAY_SIZE(g_space), c == 'S');
		return true;
	case 'w':
	case 'W':
		node_add_group(n, g_word, KILN_ARRAY_SIZE(g_word), c == 'W');
		return true;
	}
	return false;
}

/* [:name:] and [:^name:] inside a class: POSIX classes, ASCII only. */
static bool posix_class(struct re_node *n, const char *name, size_t len)
{
	static const struct {
		const char *name;
		struct re_range r[4];
		size_t nr;
	} groups[] = {
		{ "alnum", { { '0', '9' }, { 'A', 'Z' }, { 'a', 'z' } }, 3 },
		{ "alpha", { { 'A', 'Z' }, { 'a', 'z' } }, 2 },
		{ "ascii", { { 0, 0x7f } }, 1 },
		{ "blank", { { '\t', '\t' }, { ' ', ' ' } }, 2 },
		{ "cntrl", { { 0, 0x1f }, { 0x7f, 0x7f } }, 2 },
		{ "digit", { { '0', '9' } }, 1 },
		{ "graph", { { '!', '~' } }, 1 },
		{ "lower", { { 'a', 'z' } }, 1 },
		{ "print", { { ' ', '~' } }, 1 },
		{ "punct", { { '!', '/' }, { ':', '@' }, { '[', '`' }, { '{', '~' } }, 4 },
		{ "space", { { '\t', '\r' }, { ' ', ' ' } }, 2 },
		{ "upper", { { 'A', 'Z' } }, 1 },
		{ "word", { { '0', '9' }, { 'A', 'Z' }, { '_', '_' }, { 'a', 'z' } }, 4 },
		{ "xdigit", { { '0', '9' }, { 'A', 'F' }, { 'a', 'f' } }, 3 },
	};
	bool negated = len && name[0] == '^';

	if (negated)
		name++, len--;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(groups); i++) {
		if (strlen(groups[i].name) == len && !memcmp(groups[i].name, name, len)) {
			node_add_group(n, groups[i].r, groups[i].nr, negated);
			return true;
		}
	}
	return false;
}

static int re_fail(struct re_parser *p, const char *why)
{
	p->why = why;
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \x41 or \x{263a} (p->pos is after the 'x'). */
static int parse_hex(struct re_parser *p, int32_t *r)
{
	int32_t v = 0;
	size_t digits = 0;

	if (p->pos < p->n && p->s[p->pos] == '{') {
		for (p->pos++; p->pos < p->n && p->s[p->pos] != '}'; p->pos++, digits++) {
			int h = hexval(p->s[p->pos]);

			if (h < 0 || (v = v * 16 + h) > 0x10FFFF)
				return re_fail(p, "invalid escape");
		}
		if (p->pos >= p->n || !digits)
			return re_fail(p, "invalid escape");
		p->pos++;
		*r = v;
		return 0;
	}
	if (p->pos + 2 > p->n || hexval(p->s[p->pos]) < 0 || hexval(p->s[p->pos + 1]) < 0)
		return re_fail(p, "invalid escape");
	*r = hexval(p->s[p->pos]) * 16 + hexval(p->s[p->pos + 1]);
	p->pos += 2;
	return 0;
}

/* Go's parseEscape: one rune from "\c" (p->pos is at the backslash). */
static int parse_escape(struct re_parser *p, int32_t *r)
{
	static const char c_esc[] = "afnrtv", c_val[] = "\a\f\n\r\t\v";
	const char *ce;
	size_t w;
	char c;

	if (++p->pos >= p->n)
		return re_fail(p, "trailing backslash");
	c = p->s[p->pos];
	if (c >= '1' && c <= '7' &&
	    (p->pos + 1 >= p->n || p->s[p->pos + 1] < '0' || p->s[p->pos + 1] > '7'))
		return re_fail(p, "invalid escape (backreferences are not supported)");
	if (c >= '0' && c <= '7') {
		*r = c - '0';
		for (int i = 1; i < 3 && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' &&
				p->s[p->pos + 1] <= '7';
		     i++)
			*r = *r * 8 + (p->s[++p->pos] - '0');
		p->pos++;
		return 0;
	}
	if (c == 'x') {
		p->pos++;
		return parse_hex(p, r);
	}
	if (c && (ce = strchr(c_esc, c))) {
		*r = c_val[ce - c_esc];
		p->pos++;
		return 0;
	}
	*r = gorune_decode(p->s + p->pos, p->n - p->pos, &w);
	if (*r >= 0x80 || (*r >= '0' && *r <= '9') || (*r >= 'a' && *r <= 'z') ||
	    (*r >= 'A' && *r <= 'Z'))
		return re_fail(p, "invalid escape");
	p->pos += w;
	return 0;
}

/* A class member: an escape or a rune. */
static int parse_class_char(struct re_parser *p, int32_t *r)
{
	size_t w;

	if (p->pos >= p->n)
		return re_fail(p, "missing closing ]");
	if (p->s[p->pos] == '\\')
		return parse_escape(p, r);
	*r = gorune_decode(p->s + p->pos, p->n - p->pos, &w);
	p->pos += w;
	return 0;
}

/* One element inside [...]: [:name:], \d-style class, rune or range. */
static int parse_class_item(struct re_parser *p, struct re_node *n)
{
	const char *s = p->s + p->pos;
	size_t left = p->n - p->pos;
	int32_t lo, hi;

	if (left > 2 && s[0] == '[' && s[1] == ':') {
		const char *close = memmem(s + 2, left - 2, ":]", 2);

		if (close) {
			if (!posix_class(n, s + 2, (size_t)(close - s - 2)))
				return re_fail(p, "invalid character class range");
			p->pos += (size_t)(close - s) + 2;
			return 0;
		}
	}
	if (left >= 2 && s[0] == '\\' && (s[1] == 'p' || s[1] == 'P'))
		return re_fail(p, "Unicode classes (\\p) are not supported");
	if (left >= 2 && s[0] == '\\' && perl_class(n, s[1])) {
		p->pos += 2;
		return 0;
	}
	if (parse_class_char(p, &lo) < 0)
		return -1;
	hi = lo;
	if (p->pos + 1 < p->n && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
		p->pos++;
		if (parse_class_char(p, &hi) < 0)
			return -1;
		if (hi < lo)
			return re_fail(p, "invalid character class range");
	}
	node_add_range(n, lo, hi);
	return 0;
}

/* [...] with Go's rules: ']' first is literal, '-' allowed anywhere. */
static int parse_class(struct re_parser *p, struct re_node *n)
{
	bool first = true;

	n->kind = RE_CLASS;
	p->pos++;
	if (p->pos < p->n && p->s[p->pos] == '^') {
		n->negate = true;
		p->pos++;
	}
	while (p->pos >= p->n || p->s[p->pos] != ']' || first) {
		first = false;
		if (parse_class_item(p, n) < 0)
			return -1;
	}
	p->pos++;
	return 0;
}

static int parse_seq(struct re_parser *p, struct re_node **head, int depth);

/* "\..." outside a class. */
static int parse_backslash(struct re_parser *p, struct re_node *n)
{
	int32_t r;
	char c = p->pos + 1 < p->n ? p->s[p->pos + 1] : 0;

	n->kind = RE_ASSERT;
	switch (c) {
	case 'A':
		n->assert = AS_BEGIN;
		break;
	case 'z':
		n->assert = AS_END;
		break;
	case 'b':
		n->assert = AS_WORD;
		break;
	case 'B':
		n->assert = AS_NOT_WORD;
		break;
	case 'C':
	case 'Q':
	case 'p':
	case 'P':
		return re_fail(p, "\\C, \\Q and \\p escapes are not supported");
	default:
		n->kind = RE_CLASS;
		if (perl_class(n, c)) {
			p->pos += 2;
			return 0;
		}
		if (parse_escape(p, &r) < 0)
			return -1;
		node_add_range(n, r, r);
		return 0;
	}
	p->pos += 2;
	return 0;
}

static int parse_atom(struct re_parser *p, struct re_node *n, int depth)
{
	size_t w;
	int32_t r;

	switch (p->s[p->pos]) {
	case '(':
		/* moby writes "(.*" "/)?" itself; a user's '(' arrives escaped */
		if (depth > 8)
			return re_fail(p, "groups nested too deeply");
		n->kind = RE_GROUP;
		p->pos++;
		if (parse_seq(p, &n->child, depth + 1) < 0)
			return -1;
		if (p->pos >= p->n || p->s[p->pos] != ')')
			return re_fail(p, "missing closing )");
		p->pos++;
		return 0;
	case '[':
		return parse_class(p, n);
	case '.':
		n->kind = RE_ANY;
		break;
	case '^':
		n->kind = RE_ASSERT;
		n->assert = AS_BEGIN;
		break;
	case '$':
		n->kind = RE_ASSERT;
		n->assert = AS_END;
		break;
	case '\\':
		return parse_backslash(p, n);
	case '|':
		return re_fail(p, "alternation is not supported");
	default:
		n->kind = RE_CLASS;
		r = gorune_decode(p->s + p->pos, p->n - p->pos, &w);
		node_add_range(n, r, r);
		p->pos += w;
		return 0;
	}
	p->pos++;
	return 0;
}

/* A quantifier on the last node: Go refuses "**" or "*+", allows "*?". */
static int parse_quant(struct re_parser *p, struct re_node *last)
{
	char c = p->s[p->pos++];

	if (!last)
		return re_fail(p, "missing argument to repetition operator");
	if (!last->quant)
		last->quant = c;
	else if (c == '?' && !last->lazy)
		last->lazy = true;
	else
		return re_fail(p, "invalid nested repetition operator");
	return 0;
}

static int parse_seq(struct re_parser *p, struct re_node **head, int depth)
{
	struct re_node **tail = head, *last = NULL;

	while (p->pos < p->n && !(depth && p->s[p->pos] == ')')) {
		char c = p->s[p->pos];

		if (c == ')')
			return re_fail(p, "unexpected )");
		if (c == '*' || c == '+' || c == '?') {
			if (parse_quant(p, last) < 0)
				return -1;
			continue;
		}
		last = xcalloc(1, sizeof(*last));
		*tail = last;
		tail = &last->next;
		if (parse_atom(p, last, depth) < 0)
			return -1;
	}
	return 0;
}

/* ----------------------------------------------- the regexp subset: run */

enum re_op { OP_CLASS, OP_ANY, OP_ASSERT, OP_SPLIT, OP_JMP, OP_MATCH };

struct re_inst {
	enum re_op op;
	bool negate;
	enum re_assert assert;
	uint32_t x, y;	/* OP_SPLIT, OP_JMP */
	uint32_t first; /* OP_CLASS: ranges[first .. first + count) */
	uint32_t count;
};

struct re_prog {
	struct re_inst *code;
	size_t nr, alloc;
	struct re_range *ranges;
	size_t nr_ranges, ranges_alloc;
	bool anchored; /* starts with ^: only try position 0 */
	/* literal bytes every match starts with, ends with, and contains:
	 * most paths are rejected by these without running the NFA */
	char *prefix, *suffix, *inner;
	size_t prefix_len, suffix_len, inner_len;
	/* when the last rune must be one of a set of ASCII bytes ("*.[oa]") */
	bool last_set_used;
	uint64_t last_set[2];
};

static uint32_t emit(struct re_prog *p, enum re_op op)
{
	if (p->nr == p->alloc) {
		p->alloc = p->alloc ? st_mult(p->alloc, 2) : 16;
		p->code = xreallocarray(p->code, p->alloc, sizeof(*p->code));
	}
	memset(&p->code[p->nr], 0, sizeof(p->code[p->nr]));
	p->code[p->nr].op = op;
	return (uint32_t)p->nr++;
}

static void emit_atom(struct re_prog *p, const struct re_node *n);

static void emit_seq(struct re_prog *p, const struct re_node *n)
{
	for (; n; n = n->next) {
		uint32_t split, jmp, start = (uint32_t)p->nr;

		switch (n->quant) {
		case '*':
			split = emit(p, OP_SPLIT);
			emit_atom(p, n);
			jmp = emit(p, OP_JMP);
			p->code[jmp].x = split;
			p->code[split].x = split + 1;
			p->code[split].y = (uint32_t)p->nr;
			break;
		case '?':
			split = emit(p, OP_SPLIT);
			emit_atom(p, n);
			p->code[split].x = split + 1;
			p->code[split].y = (uint32_t)p->nr;
			break;
		case '+':
			emit_atom(p, n);
			split = emit(p, OP_SPLIT);
			p->code[split].x = start;
			p->code[split].y = split + 1;
			break;
		default:
			emit_atom(p, n);
		}
	}
}

static void emit_atom(struct re_prog *p, const struct re_node *n)
{
	struct re_inst *in;
	uint32_t pc;

	if (n->kind == RE_GROUP) {
		emit_seq(p, n->child);
		return;
	}
	pc = emit(p, n->kind == RE_CLASS ? OP_CLASS : n->kind == RE_ANY ? OP_ANY : OP_ASSERT);
	in = &p->code[pc];
	in->assert = n->assert;
	in->negate = n->negate;
	if (n->kind != RE_CLASS)
		return;
	in->first = (uint32_t)p->nr_ranges;
	in->count = (uint32_t)n->nr_ranges;
	for (size_t i = 0; i < n->nr_ranges; i++) {
		if (p->nr_ranges == p->ranges_alloc) {
			p->ranges_alloc = p->ranges_alloc ? st_mult(p->ranges_alloc, 2) : 16;
			p->ranges = xreallocarray(p->ranges, p->ranges_alloc, sizeof(*p->ranges));
		}
		p->ranges[p->nr_ranges++] = n->ranges[i];
	}
}

/* A plain literal rune, usable for the byte filters (U+FFFD also matches
 * invalid UTF-8, so it is no literal there). */
static bool node_literal(const struct re_node *n, int32_t *r)
{
	if (n->kind != RE_CLASS || n->quant || n->negate || n->nr_ranges != 1 ||
	    n->ranges[0].lo != n->ranges[0].hi || n->ranges[0].lo == GORUNE_ERROR)
		return false;
	*r = n->ranges[0].lo;
	return true;
}

static bool node_is(const struct re_node *n, enum re_assert a)
{
	return n && n->kind == RE_ASSERT && !n->quant && n->assert == a;
}

/* The longest run of literal runes in the top-level sequence: any match
 * contains it. */
static void find_inner_literal(struct re_prog *p, const struct re_node *head)
{
	struct kiln_buf run = KILN_BUF_INIT, best = KILN_BUF_INIT;
	char enc[4];
	int32_t r;

	for (const struct re_node *n = head;; n = n->next) {
		if (n && node_literal(n, &r)) {
			kiln_buf_add(&run, enc, gorune_encode(enc, r));
			continue;
		}
		if (run.len > best.len)
			kiln_buf_setstr(&best, run.buf);
		kiln_buf_reset(&run);
		if (!n)
			break;
	}
	kiln_buf_release(&run);
	p->inner = kiln_buf_detach(&best, &p->inner_len);
}

/* A plain ASCII class right before the final $: the last byte's set. */
static void find_last_set(struct re_prog *p, const struct re_node *n)
{
	if (!n || n->kind != RE_CLASS || n->quant || n->negate)
		return;
	for (size_t i = 0; i < n->nr_ranges; i++) {
		if (n->ranges[i].hi >= 0x80)
			return;
	}
	for (size_t i = 0; i < n->nr_ranges; i++) {
		for (int32_t c = n->ranges[i].lo; c <= n->ranges[i].hi; c++)
			p->last_set[c / 64] |= 1ull << (c % 64);
	}
	p->last_set_used = true;
}

/* The literal text right after a leading ^ and right before a final $. */
static void find_literals(struct re_prog *p, const struct re_node *head)
{
	struct kiln_buf pre = KILN_BUF_INIT, suf = KILN_BUF_INIT;
	const struct re_node *n, *last = NULL;
	char enc[4];
	int32_t r;

	p->anchored = node_is(head, AS_BEGIN);
	for (n = head ? head->next : NULL; p->anchored && n && node_literal(n, &r); n = n->next)
		kiln_buf_add(&pre, enc, gorune_encode(enc, r));
	for (n = head; n; n = n->next)
		last = n;
	if (node_is(last, AS_END)) {
		const struct re_node *before = NULL;

		/* the literal run ending just before $: restart at each break */
		for (n = head; n != last; n = n->next) {
			before = n;
			if (!node_literal(n, &r))
				kiln_buf_reset(&suf);
			else
				kiln_buf_add(&suf, enc, gorune_encode(enc, r));
		}
		find_last_set(p, before);
	}
	p->prefix = kiln_buf_detach(&pre, &p->prefix_len);
	p->suffix = kiln_buf_detach(&suf, &p->suffix_len);
	find_inner_literal(p, head);
}

static void prog_free(struct re_prog *p)
{
	if (!p)
		return;
	free(p->code);
	free(p->ranges);
	free(p->prefix);
	free(p->suffix);
	free(p->inner);
	free(p);
}

static int prog_compile(struct re_prog **out, const char *re, size_t n, const char **why)
{
	struct re_parser ps = { re, n, 0, NULL };
	struct re_node *head = NULL;
	struct re_prog *p;
	int ret = -1;

	if (parse_seq(&ps, &head, 0) < 0) {
		*why = ps.why;
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	emit_seq(p, head);
	emit(p, OP_MATCH);
	find_literals(p, head);
	*out = p;
	ret = 0;
out:
	node_free(head);
	return ret;
}

static bool is_word(int32_t r)
{
	return (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
	       r == '_';
}

/* The runes on either side of a position, for assertions. */
struct re_ctx {
	int32_t prev, next; /* GORUNE_EOF at the ends */
};

static bool assert_holds(enum re_assert a, const struct re_ctx *c)
{
	switch (a) {
	case AS_BEGIN:
		return c->prev == GORUNE_EOF;
	case AS_END:
		return c->next == GORUNE_EOF;
	case AS_WORD:
		return is_word(c->prev) != is_word(c->next);
	case AS_NOT_WORD:
		return is_word(c->prev) == is_word(c->next);
	}
	return false;
}

static bool class_has(const struct re_prog *p, const struct re_inst *in, int32_t r)
{
	bool in_set = false;

	for (uint32_t i = 0; i < in->count && !in_set; i++)
		in_set = r >= p->ranges[in->first + i].lo && r <= p->ranges[in->first + i].hi;
	return in_set != in->negate;
}

struct re_vm {
	const struct re_prog *p;
	uint32_t *clist, *nlist, *mark, *stack;
	size_t cn, nn;
	uint32_t gen;
};

/* Follow empty transitions from pc; consuming states go to list. Returns
 * true when MATCH is reached. */
static bool vm_closure(struct re_vm *vm, uint32_t *list, size_t *n, uint32_t pc,
		       const struct re_ctx *ctx)
{
	size_t sp = 0;

	vm->stack[sp++] = pc;
	while (sp) {
		const struct re_inst *in;

		pc = vm->stack[--sp];
		if (vm->mark[pc] == vm->gen)
			continue;
		vm->mark[pc] = vm->gen;
		in = &vm->p->code[pc];
		switch (in->op) {
		case OP_MATCH:
			return true;
		case OP_JMP:
			vm->stack[sp++] = in->x;
			break;
		case OP_SPLIT:
			vm->stack[sp++] = in->y;
			vm->stack[sp++] = in->x;
			break;
		case OP_ASSERT:
			if (assert_holds(in->assert, ctx))
				vm->stack[sp++] = pc + 1;
			break;
		default:
			list[(*n)++] = pc;
		}
	}
	return false;
}

/* Go's MatchString: is there a match anywhere in s? */
static bool vm_run(struct re_vm *vm, const char *s, size_t n)
{
	size_t pos = 0, w = 0;
	int32_t cur = n ? gorune_decode(s, n, &w) : GORUNE_EOF;
	struct re_ctx ctx = { GORUNE_EOF, cur };

	vm->cn = 0;
	vm->gen++;
	for (;;) {
		size_t nw = 0;
		int32_t next;
		uint32_t *tmp;

		if ((!pos || !vm->p->anchored) && vm_closure(vm, vm->clist, &vm->cn, 0, &ctx))
			return true;
		if (pos >= n || (!vm->cn && vm->p->anchored))
			return false;
		next = pos + w < n ? gorune_decode(s + pos + w, n - pos - w, &nw) : GORUNE_EOF;
		ctx.prev = cur;
		ctx.next = next;
		vm->gen++;
		vm->nn = 0;
		for (size_t i = 0; i < vm->cn; i++) {
			const struct re_inst *in = &vm->p->code[vm->clist[i]];
			bool ok = in->op == OP_ANY ? cur != '\n' : class_has(vm->p, in, cur);

			if (ok && vm_closure(vm, vm->nlist, &vm->nn, vm->clist[i] + 1, &ctx))
				return true;
		}
		tmp = vm->clist, vm->clist = vm->nlist, vm->nlist = tmp;
		vm->cn = vm->nn;
		pos += w, w = nw, cur = next;
	}
}

#define VM_STACK_STATES 128

static bool prog_match(const struct re_prog *p, const char *s, size_t n)
{
	/* clist, nlist, mark: one per state; stack: two per state, plus one */
	uint32_t small[4][VM_STACK_STATES * 2 + 1];
	uint32_t *heap = NULL;
	struct re_vm vm = { .p = p };
	bool m;

	if (n < p->prefix_len || memcmp(s, p->prefix, p->prefix_len) || n < p->suffix_len ||
	    memcmp(s + n - p->suffix_len, p->suffix, p->suffix_len))
		return false;
	if (p->inner_len > p->prefix_len && p->inner_len > p->suffix_len &&
	    !memmem(s, n, p->inner, p->inner_len))
		return false;
	if (p->last_set_used) {
		unsigned char c = n ? (unsigned char)s[n - 1] : 0x80;

		if (c >= 0x80 || !(p->last_set[c / 64] & (1ull << (c % 64))))
			return false;
	}
	if (p->nr <= VM_STACK_STATES) {
		vm.clist = small[0], vm.nlist = small[1], vm.mark = small[2], vm.stack = small[3];
		memset(vm.mark, 0, p->nr * sizeof(*vm.mark));
	} else {
		heap = xcalloc(st_add(st_mult(p->nr, 5), 1), sizeof(*heap));
		vm.clist = heap, vm.nlist = heap + p->nr, vm.mark = heap + 2 * p->nr;
		vm.stack = heap + 3 * p->nr;
	}
	m = vm_run(&vm, s, n);
	free(heap);
	return m;
}

/* -------------------------------------------------------------- patterns */

enum pat_type { PAT_EXACT, PAT_PREFIX, PAT_SUFFIX, PAT_REGEXP };

struct pattern {
	char *text; /* cleaned, without the '!' */
	size_t len;
	bool exclusion;
	enum pat_type type;
	struct re_prog *re;
};

struct kiln_dockerignore {
	struct pattern *p;
	size_t nr, alloc;
	bool exclusions;
	/* fsutil: every exception is a plain path (once a trailing "/" "**"
	 * or "/" "*" is cut), so an excluded directory holding none of them
	 * can be skipped */
	bool only_prefix_exceptions;
};

/* "**" at pattern position i (moby's compile). */
static void translate_double_star(struct kiln_buf *re, enum pat_type *type, const char *s, size_t n,
				  size_t *pos, size_t i)
{
	(*pos)++;
	if (*pos < n && s[*pos] == '/')
		(*pos)++;
	if (*pos >= n) {
		/* a final double star: after a plain prefix it is a prefix test */
		if (*type == PAT_EXACT) {
			*type = PAT_PREFIX;
		} else {
			kiln_buf_addstr(re, ".*");
			*type = PAT_REGEXP;
		}
	} else {
		kiln_buf_addstr(re, "(.*/)?");
		*type = PAT_REGEXP;
	}
	if (i == 0)
		*type = PAT_SUFFIX;
}

/* moby's Pattern.compile: the expression text and the kind of match. */
static enum pat_type translate(struct kiln_buf *re, const char *s, size_t n)
{
	enum pat_type type = PAT_EXACT;
	size_t pos = 0, w;

	kiln_buf_setstr(re, "^");
	/* Go's text/scanner skips a leading byte-order mark */
	if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		pos = 3;
	for (size_t i = 0; pos < n; i++) {
		int32_t ch = gorune_decode(s + pos, n - pos, &w);
		char enc[4];

		pos += w;
		if (ch == '*' && pos < n && s[pos] == '*') {
			translate_double_star(re, &type, s, n, &pos, i);
		} else if (ch == '*') {
			kiln_buf_addstr(re, "[^/]*");
			type = PAT_REGEXP;
		} else if (ch == '?') {
			kiln_buf_addstr(re, "[^/]");
			type = PAT_REGEXP;
		} else if (ch > 0 && ch < 0x80 && strchr(".+()|{}$", (int)ch)) {
			kiln_buf_addch(re, '\\');
			kiln_buf_addch(re, (char)ch);
		} else if (ch == '\\') {
			kiln_buf_addch(re, '\\');
			if (pos < n) {
				ch = gorune_decode(s + pos, n - pos, &w);
				pos += w;
				kiln_buf_add(re, enc, gorune_encode(enc, ch));
				type = PAT_REGEXP;
			}
		} else {
			if (ch == '[' || ch == ']')
				type = PAT_REGEXP;
			kiln_buf_add(re, enc, gorune_encode(enc, ch));
		}
	}
	return type;
}

static bool pattern_match(const struct pattern *p, const char *path, size_t n)
{
	const char *suffix = p->text + 2;
	size_t slen = p->len >= 2 ? p->len - 2 : 0;

	switch (p->type) {
	case PAT_EXACT:
		return n == p->len && !memcmp(path, p->text, n);
	case PAT_PREFIX:
		return n >= slen && !memcmp(path, p->text, slen);
	case PAT_SUFFIX:
		/* double star + suffix: a string test; "**" "/foo" also matches "foo" */
		if (n >= slen && !memcmp(path + n - slen, suffix, slen))
			return true;
		return slen && suffix[0] == '/' && n == slen - 1 && !memcmp(path, suffix + 1, n);
	case PAT_REGEXP:
		return prog_match(p->re, path, n);
	}
	return false;
}

/* patternWithoutTrailingGlob in fsutil. */
static size_t without_trailing_glob(const struct pattern *p)
{
	size_t n = p->len;

	if (n >= 3 && !memcmp(p->text + n - 3, "/**", 3))
		n -= 3;
	if (n >= 2 && !memcmp(p->text + n - 2, "/*", 2))
		n -= 2;
	return n;
}

static bool has_glob_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] && strchr("*[]?^\\", s[i]))
			return true;
	}
	return false;
}

/* patternmatcher.New for one pattern; where names it in errors. */
static int add_pattern(struct kiln_dockerignore *di, const char *s, size_t n, const char *where,
		       struct kiln_error *err)
{
	struct kiln_buf clean = KILN_BUF_INIT, re = KILN_BUF_INIT;
	struct pattern pat = { 0 };
	const char *why = "syntax error in pattern";
	int ret = -1;

	trim_space(&s, &n);
	if (!n)
		return 0;
	go_clean(&clean, s, n);
	if (clean.buf[0] == '!') {
		if (clean.len == 1) {
			kiln_err(err, KILN_EINVAL, 0, "%s: illegal exclusion pattern: \"!\"",
				 where);
			goto out;
		}
		pat.exclusion = true;
	}
	pat.len = clean.len - pat.exclusion;
	pat.text = xstrndup(clean.buf + pat.exclusion, pat.len);
	pat.type = translate(&re, pat.text, pat.len);
	if (pat.type == PAT_REGEXP)
		kiln_buf_addch(&re, '$');
	if (!match_syntax_ok(pat.text, pat.len) ||
	    (pat.type == PAT_REGEXP && prog_compile(&pat.re, re.buf, re.len, &why) < 0)) {
		kiln_err(err, KILN_EINVAL, 0, "%s: '%s': %s", where, pat.text, why);
		goto out;
	}
	if (pat.exclusion) {
		di->exclusions = true;
		if (has_glob_chars(pat.text, without_trailing_glob(&pat)))
			di->only_prefix_exceptions = false;
	}
	if (di->nr == di->alloc) {
		di->alloc = di->alloc ? st_mult(di->alloc, 2) : 16;
		di->p = xreallocarray(di->p, di->alloc, sizeof(*di->p));
	}
	di->p[di->nr++] = pat;
	pat.text = NULL;
	ret = 0;
out:
	free(pat.text);
	kiln_buf_release(&clean);
	kiln_buf_release(&re);
	return ret;
}

static struct kiln_dockerignore *di_alloc(void)
{
	struct kiln_dockerignore *di = xcalloc(1, sizeof(*di));

	di->only_prefix_exceptions = true;
	return di;
}

void kiln_dockerignore_free(struct kiln_dockerignore *di)
{
	if (!di)
		return;
	for (size_t i = 0; i < di->nr; i++) {
		free(di->p[i].text);
		prog_free(di->p[i].re);
	}
	free(di->p);
	free(di);
}

int kiln_dockerignore_new(struct kiln_dockerignore **out, const char *const *patterns, size_t n,
			  struct kiln_error *err)
{
	struct kiln_dockerignore *di = di_alloc();

	for (size_t i = 0; i < n; i++) {
		char where[32];

		snprintf(where, sizeof(where), "pattern %zu", i + 1);
		if (add_pattern(di, patterns[i], strlen(patterns[i]), where, err) < 0) {
			kiln_dockerignore_free(di);
			return err ? err->code : KILN_EINVAL;
		}
	}
	*out = di;
	return 0;
}

/*
 * ignorefile.ReadAll for one line: comments (a '#' in column one), trimming,
 * blank lines, and a cleaned path without a leading '/' (an exception's
 * '!' kept in front). Appends nothing for a line to skip.
 */
static void read_line(struct kiln_buf *pat, const char *s, size_t n)
{
	bool invert;

	kiln_buf_reset(pat);
	if (n && s[0] == '#')
		return;
	trim_space(&s, &n);
	if (!n)
		return;
	invert = s[0] == '!';
	if (invert) {
		s++, n--;
		trim_space(&s, &n);
	}
	if (n) {
		go_clean(pat, s, n);
		if (pat->len > 1 && pat->buf[0] == '/') {
			memmove(pat->buf, pat->buf + 1, pat->len);
			kiln_buf_setlen(pat, pat->len - 1);
		}
	}
	if (invert) {
		kiln_buf_grow(pat, 1);
		memmove(pat->buf + 1, pat->buf, pat->len + 1);
		pat->buf[0] = '!';
		kiln_buf_setlen(pat, pat->len + 1);
	}
}

/* bufio.Scanner's default limit: a longer line fails the read */
#define MAX_LINE (64 * 1024)

int kiln_dockerignore_parse(struct kiln_dockerignore **out, const char *text, size_t len,
			    const char *name, struct kiln_error *err)
{
	struct kiln_dockerignore *di = di_alloc();
	struct kiln_buf pat = KILN_BUF_INIT;
	size_t line_no = 0;
	int ret = -1;

	for (size_t pos = 0; pos < len; line_no++) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		char where[64];

		pos += n + (nl ? 1 : 0);
		if (n && s[n - 1] == '\r')
			n--;
		if (n >= MAX_LINE) {
			kiln_err(err, KILN_EINVAL, 0, "%s:%zu: line longer than %d bytes", name,
				 line_no + 1, MAX_LINE);
			goto out;
		}
		if (!line_no && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
			s += 3, n -= 3;
		read_line(&pat, s, n);
		snprintf(where, sizeof(where), "%.40s:%zu", name, line_no + 1);
		if (pat.len && add_pattern(di, pat.buf, pat.len, where, err) < 0)
			goto out;
	}
	*out = steal_ptr(&di);
	ret = 0;
out:
	kiln_buf_release(&pat);
	kiln_dockerignore_free(di);
	return ret;
}

size_t kiln_dockerignore_nr_patterns(const struct kiln_dockerignore *di)
{
	return di ? di->nr : 0;
}

/* Does pattern p match a parent directory of path (filepath.Dir, split)? */
static bool parent_matches(const struct pattern *p, const char *path, size_t n)
{
	const char *slash = memrchr(path, '/', n);

	for (size_t i = 0; slash && i < (size_t)(slash - path); i++) {
		if (path[i] == '/' && pattern_match(p, path, i))
			return true;
	}
	return slash && pattern_match(p, path, (size_t)(slash - path));
}

/* MatchesUsingParentResults: the last pattern that matches decides; a
 * pattern that matched the parent directory matches its entries. */
bool kiln_dockerignore_match_entry(const struct kiln_dockerignore *di, const char *path,
				   const unsigned char *parent, unsigned char *state)
{
	size_t n = strlen(path);
	bool matched = false;

	for (size_t i = 0; di && i < di->nr; i++) {
		const struct pattern *p = &di->p[i];
		bool m = parent && parent[i];

		state[i] = 0;
		if (!m) {
			/* a pattern that cannot change the outcome is not tried */
			if (p->exclusion != matched)
				continue;
			m = pattern_match(p, path, n);
			if (!m && !parent)
				m = parent_matches(p, path, n);
		}
		state[i] = m;
		if (m)
			matched = !p->exclusion;
	}
	return matched;
}

bool kiln_dockerignore_dir_has_exceptions(const struct kiln_dockerignore *di, const char *dir)
{
	size_t dlen = strlen(dir);

	if (!di || !di->exclusions)
		return false;
	if (!di->only_prefix_exceptions)
		return true;
	for (size_t i = 0; i < di->nr; i++) {
		const struct pattern *p = &di->p[i];
		size_t plen = without_trailing_glob(p);

		/* (pattern + "/") starts with (dir + "/") */
		if (p->exclusion && plen >= dlen && !memcmp(p->text, dir, dlen) &&
		    (plen == dlen || p->text[dlen] == '/'))
			return true;
	}
	return false;
}

bool kiln_dockerignore_match(const struct kiln_dockerignore *di, const char *path)
{
	unsigned char small[2][256], *heap = NULL, *parent = NULL, *cur;
	struct kiln_buf prefix = KILN_BUF_INIT;
	size_t nr = kiln_dockerignore_nr_patterns(di), n = strlen(path);
	bool excluded = false;

	if (!nr || !n || !strcmp(path, "."))
		return false;
	cur = nr <= sizeof(small[0]) ? small[0] : (heap = xcalloc(2, nr));
	for (size_t end = 0; end <= n; end++) {
		if (end < n && path[end] != '/')
			continue;
		kiln_buf_reset(&prefix);
		kiln_buf_add(&prefix, path, end);
		excluded = kiln_dockerignore_match_entry(di, prefix.buf, parent, cur);
		/* the walker never opens this directory: all below is out */
		if (end < n && excluded && !kiln_dockerignore_dir_has_exceptions(di, prefix.buf))
			break;
		parent = cur;
		cur = heap ? (cur == heap ? heap + nr : heap)
			   : (cur == small[0] ? small[1] : small[0]);
	}
	kiln_buf_release(&prefix);
	free(heap);
	return excluded;
}

/* ------------------------------------------------------ finding the file */

static int regular_file(const char *path, bool *exists, struct kiln_error *err)
{
	struct stat st;

	*exists = false;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return kiln_err(err, KILN_EIO, errno, "stat '%s'", path);
	}
	*exists = S_ISREG(st.st_mode);
	return 0;
}

int kiln_dockerignore_pick(char **path, const char *context_dir, const char *dockerfile,
			   struct kiln_error *err)
{
	char *candidate = NULL;
	bool exists = false;

	*path = NULL;
	if (dockerfile) {
		candidate = xasprintf("%s.dockerignore", dockerfile);
		if (regular_file(candidate, &exists, err) < 0)
			goto fail;
		if (exists) {
			*path = candidate;
			return 0;
		}
		free(candidate);
	}
	candidate = xasprintf("%s/.dockerignore", context_dir);
	if (regular_file(candidate, &exists, err) < 0)
		goto fail;
	if (exists) {
		*path = candidate;
		return 0;
	}
	free(candidate);
	return 0;
fail:
	free(candidate);
	return err ? err->code : KILN_EIO;
}

int kiln_dockerignore_load(struct kiln_dockerignore **out, const char *context_dir,
			   const char *dockerfile, struct kiln_error *err)
{
	struct kiln_buf text = KILN_BUF_INIT;
	char *path = NULL;
	int ret;

	ret = kiln_dockerignore_pick(&path, context_dir, dockerfile, err);
	if (ret < 0)
		return ret;
	if (!path)
		return kiln_dockerignore_new(out, NULL, 0, err);
	/* the cap: a context is untrusted, and no real ignore file is big */
	ret = kiln_file_read(&text, path, KILN_DOCKERIGNORE_MAX_SIZE, err);
	if (!ret)
		ret = kiln_dockerignore_parse(out, text.buf, text.len, path, err);
	kiln_buf_release(&text);
	free(path);
	return ret;
}
