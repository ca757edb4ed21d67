/*
 * dockerfile-json.c: the exec form's JSON, read as BuildKit's parseJSON
 * reads it with Go's json.Unmarshal into []any, and JSON strings written
 * for `debug parse --format=json`.
 *
 * Unmarshal first checks the whole text (a single value, only blanks
 * after it, nesting at most 10000 deep), then decodes. So "[1]" is an
 * array holding a non-string (an error for the Dockerfile), while
 * "[1" or `["a"] x` is not JSON at all (shell form), and a number too
 * large for a float64 anywhere makes Unmarshal fail (shell form again).
 * The checker is a loop with an explicit stack, never recursion, because
 * this text comes straight from the (fuzzed) Dockerfile.
 */
#include "compat.h"
#include "dockerfile-int.h"
#include "alloc.h"
#include "buf.h"
#include <math.h>

#define JSON_MAX_DEPTH 10000 /* Go's encoding/json maxNestingDepth */

struct json_scan {
	const char *s;
	size_t n, pos;
	char *stack; /* '[' or '{' per open container: small, or malloc'd */
	char small[64];
	size_t depth;
	bool overflow;	   /* a number Unmarshal cannot store in a float64 */
	bool non_string;   /* a top-level element that is not a string */
	size_t nr_strings; /* top-level strings seen */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct json_scan *j)
{
	while (j->pos < j->n && is_ws(j->s[j->pos]))
		j->pos++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string token at j->pos (the opening quote). */
static bool scan_string(struct json_scan *j)
{
	j->pos++;
	while (j->pos < j->n) {
		unsigned char c = (unsigned char)j->s[j->pos];

		if (c == '"') {
			j->pos++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			char e;

			if (++j->pos >= j->n)
				return false;
			e = j->s[j->pos];
			if (e == 'u') {
				if (j->n - j->pos < 5)
					return false;
				for (int i = 1; i <= 4; i++) {
					if (!is_hex(j->s[j->pos + i]))
						return false;
				}
				j->pos += 4;
			} else if (!strchr("\"\\/bfnrt", e) || !e) {
				return false;
			}
		}
		j->pos++;
	}
	return false;
}

static size_t digits(struct json_scan *j)
{
	size_t start = j->pos;

	while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
		j->pos++;
	return j->pos - start;
}

/* Would strconv.ParseFloat(text, 64) fail with ErrRange? */
static bool number_overflows(const char *s, size_t n)
{
	struct kiln_buf b = KILN_BUF_INIT;
	double v;

	kiln_buf_add(&b, s, n);
	v = strtod(b.buf, NULL);
	kiln_buf_release(&b);
	return isinf(v);
}

static bool scan_number(struct json_scan *j)
{
	size_t start = j->pos;

	if (j->s[j->pos] == '-')
		j->pos++;
	if (j->pos < j->n && j->s[j->pos] == '0')
		j->pos++;
	else if (!digits(j))
		return false;
	if (j->pos < j->n && j->s[j->pos] == '.') {
		j->pos++;
		if (!digits(j))
			return false;
	}
	if (j->pos < j->n && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (!digits(j))
			return false;
	}
	if (number_overflows(j->s + start, j->pos - start))
		j->overflow = true;
	return true;
}

static bool scan_literal(struct json_scan *j, const char *word)
{
	size_t len = strlen(word);

	if (j->n - j->pos < len || memcmp(j->s + j->pos, word, len))
		return false;
	j->pos += len;
	return true;
}

static bool push(struct json_scan *j, char c)
{
	if (j->depth >= JSON_MAX_DEPTH)
		return false;
	if (j->depth == sizeof(j->small)) {
		/* deep nesting is rare: only then take the full-size stack */
		j->stack = xmalloc(JSON_MAX_DEPTH);
		memcpy(j->stack, j->small, sizeof(j->small));
	}
	j->stack[j->depth++] = c;
	j->pos++;
	return true;
}

/* One value starting at j->pos; containers are only opened here. */
static bool scan_value_start(struct json_scan *j, bool *opened)
{
	char c;

	*opened = false;
	if (j->pos >= j->n)
		return false;
	c = j->s[j->pos];
	if (j->depth == 1 && c != '"')
		j->non_string = true;
	else if (j->depth == 1)
		j->nr_strings++;
	switch (c) {
	case '[':
	case '{':
		*opened = true;
		return push(j, c);
	case '"':
		return scan_string(j);
	case 't':
		return scan_literal(j, "true");
	case 'f':
		return scan_literal(j, "false");
	case 'n':
		return scan_literal(j, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return scan_number(j);
		return false;
	}
}

/* After '{' or ',' in an object: "key" : */
static bool scan_key(struct json_scan *j)
{
	skip_ws(j);
	if (j->pos >= j->n || j->s[j->pos] != '"' || !scan_string(j))
		return false;
	skip_ws(j);
	if (j->pos >= j->n || j->s[j->pos] != ':')
		return false;
	j->pos++;
	return true;
}

/* Right after a container opened: its end, or its first member. */
static bool scan_open(struct json_scan *j, bool *closed)
{
	char want = j->stack[j->depth - 1] == '[' ? ']' : '}';

	skip_ws(j);
	*closed = j->pos < j->n && j->s[j->pos] == want;
	if (*closed) {
		j->pos++;
		j->depth--;
		return true;
	}
	return want == ']' || scan_key(j);
}

/* After a value inside a container: ',' and the next member, or the end. */
static bool scan_after(struct json_scan *j, bool *closed)
{
	char want = j->stack[j->depth - 1] == '[' ? ']' : '}';

	skip_ws(j);
	if (j->pos >= j->n)
		return false;
	*closed = j->s[j->pos] == want;
	if (*closed) {
		j->pos++;
		j->depth--;
		return true;
	}
	if (j->s[j->pos] != ',')
		return false;
	j->pos++;
	return want == ']' || scan_key(j);
}

static bool scan_document(struct json_scan *j)
{
	bool opened, closed;

	skip_ws(j);
	for (;;) {
		skip_ws(j);
		if (!scan_value_start(j, &opened))
			return false;
		if (opened) {
			if (!scan_open(j, &closed))
				return false;
			if (!closed)
				continue;
		}
		/* a value ended: close every container that ends here */
		for (;;) {
			if (!j->depth) {
				skip_ws(j);
				return j->pos == j->n;
			}
			if (!scan_after(j, &closed))
				return false;
			if (!closed)
				break;
		}
	}
}

static uint32_t hex4(const char *s)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* A \uXXXX escape at s[i] (the backslash); surrogate pairs combined as
 * Go's unquote does, a lone half becoming U+FFFD. Returns bytes used. */
static size_t decode_u_escape(struct kiln_buf *b, const char *s, size_t end, size_t i)
{
	uint32_t r = hex4(s + i + 2);

	if (r >= 0xD800 && r < 0xDC00 && end - i >= 12 && s[i + 6] == '\\' && s[i + 7] == 'u') {
		uint32_t lo = hex4(s + i + 8);

		if (lo >= 0xDC00 && lo < 0xE000) {
			df_rune_append(b, 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00));
			return 12;
		}
	}
	df_rune_append(b, r >= 0xD800 && r < 0xE000 ? DF_RUNE_ERROR : r);
	return 6;
}

/* Decode the checked string token s[start..end) (quotes included). */
static void decode_string(struct dockerfile_arg *arg, const char *s, size_t start, size_t end)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	struct kiln_buf b = KILN_BUF_INIT;
	size_t i = start + 1, w;

	end--;
	while (i < end) {
		if (s[i] == '\\' && s[i + 1] == 'u') {
			i += decode_u_escape(&b, s, end, i);
		} else if (s[i] == '\\') {
			kiln_buf_addch(&b, to[strchr(from, s[i + 1]) - from]);
			i += 2;
		} else {
			uint32_t r = df_rune_decode(s + i, end - i, &w);

			df_rune_append(&b, r);
			i += w;
		}
	}
	arg->s = kiln_buf_detach(&b, &arg->len);
}

/* Second pass over a valid array of strings: decode each element. */
static void collect_strings(struct dockerfile_arg *args, const char *s, size_t n)
{
	struct json_scan j = { .s = s, .n = n };
	size_t k = 0;

	skip_ws(&j);
	j.pos++; /* '[' */
	for (;;) {
		size_t start;

		skip_ws(&j);
		if (j.s[j.pos] != '"')
			return; /* ']' */
		start = j.pos;
		scan_string(&j);
		decode_string(&args[k++], s, start, j.pos);
		skip_ws(&j);
		if (j.s[j.pos] == ',')
			j.pos++;
	}
}

enum df_json_result df_json_strings(struct dockerfile_arg **args, size_t *nr, const char *s,
				    size_t n)
{
	struct json_scan j = { .s = s, .n = n };
	enum df_json_result ret = DF_JSON_NOT_ARRAY;
	bool ok;

	*args = NULL;
	*nr = 0;
	j.stack = j.small;
	ok = scan_document(&j);
	if (j.stack != j.small)
		free(j.stack);
	if (!ok || j.overflow || n == 0 || s[0] != '[')
		return ret;
	if (j.non_string)
		return DF_JSON_NOT_STRINGS;
	*args = xcalloc(j.nr_strings ? j.nr_strings : 1, sizeof(**args));
	*nr = j.nr_strings;
	collect_strings(*args, s, n);
	return DF_JSON_STRINGS;
}

void df_json_quote(struct kiln_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, w;

	kiln_buf_addch(out, '"');
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t r;

		if (c == '"' || c == '\\') {
			kiln_buf_addch(out, '\\');
			kiln_buf_addch(out, c);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			kiln_buf_addch(out, '\\');
			kiln_buf_addch(out, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20) {
			kiln_buf_addf(out, "\\u00%c%c", hex[c >> 4], hex[c & 0xF]);
		} else if (c < 0x80) {
			kiln_buf_addch(out, c);
		} else {
			r = df_rune_decode(s + i, n - i, &w);
			if (r == DF_RUNE_ERROR && w == 1)
				kiln_buf_addstr(out, "\\ufffd");
			else
				kiln_buf_add(out, s + i, w);
			i += w;
			continue;
		}
		i++;
	}
	kiln_buf_addch(out, '"');
}
