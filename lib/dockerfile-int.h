/*
 * dockerfile-int.h: what the files of the Dockerfile parser share; not a
 * public interface (use dockerfile.h).
 *
 * BuildKit's parser is written in Go, and its odd corners come from Go's
 * library: unicode.IsSpace on runes or on single bytes, invalid UTF-8
 * decoded as U+FFFD, strings.ToLower, strconv.Quote, encoding/json. These
 * helpers reproduce exactly that behaviour, so the parser matches BuildKit
 * byte for byte.
 */
#ifndef KILN_DOCKERFILE_INT_H
#define KILN_DOCKERFILE_INT_H

#include "compat.h"
#include "dockerfile.h"

struct kiln_buf;

#define DF_RUNE_ERROR 0xFFFD

/* ---- dockerfile-unicode.c: Go's rune handling */

/* Decode one rune at s[0..n) (n > 0) as Go's utf8.DecodeRune: an invalid
 * or truncated sequence gives U+FFFD with width 1. */
uint32_t df_rune_decode(const char *s, size_t n, size_t *width);
/* Append r UTF-8 encoded (Go's WriteRune: invalid runes as U+FFFD). */
void df_rune_append(struct kiln_buf *b, uint32_t r);
/* unicode.IsSpace, unicode.IsLetter, unicode.IsDigit, strconv.IsPrint. */
bool df_rune_is_space(uint32_t r);
bool df_rune_is_letter(uint32_t r);
bool df_rune_is_digit(uint32_t r);
bool df_rune_is_print(uint32_t r);
/* unicode.IsSpace(rune(b)) on a single byte, as BuildKit's byte loops do:
 * bytes 0x85 and 0xA0 count as space even inside a UTF-8 sequence. */
bool df_byte_is_space(unsigned char b);
/* Append s lowered as Go's strings.ToLower (simple case mapping). */
void df_to_lower(struct kiln_buf *out, const char *s, size_t n);
/* Go's strings.TrimSpace: the [*start, *end) range without the Unicode
 * white space at either end (stops at an invalid byte). */
void df_trim_space(const char *s, size_t n, size_t *start, size_t *end);
/* Drop the leading Unicode white space of [*s, *s + *n). */
void df_trim_left_space(const char **s, size_t *n);
/* Length of the first rune if it is white space (unicode.IsSpace), else 0. */
size_t df_space_len(const char *s, size_t n);
/* Is s valid UTF-8 as Go's utf8.Valid? On failure *bad is the offset. */
bool df_utf8_valid(const char *s, size_t n, size_t *bad);

/* ---- dockerfile-json.c: encoding/json as parseJSON uses it */

enum df_json_result {
	DF_JSON_NOT_ARRAY = 0,	/* not valid JSON / not an array: shell form */
	DF_JSON_STRINGS = 1,	/* an array of strings: *args filled */
	DF_JSON_NOT_STRINGS = 2 /* a valid array holding a non-string: error */
};

enum df_json_result df_json_strings(struct dockerfile_arg **args, size_t *nr, const char *s,
				    size_t n);
/* Append s as a JSON string (quotes included); invalid UTF-8 as \ufffd. */
void df_json_quote(struct kiln_buf *out, const char *s, size_t n);

/* ---- dockerfile-args.c: splitting one logical line */

/* newNodeFromLine: keyword, flags and arguments of line (ONBUILD's
 * trigger chain built with a loop). On a parse error *msg is set. */
int df_parse_instr(struct dockerfile_instr *in, const char *line, size_t n, char esc, char **msg);
/* Free what one instruction owns, not its ONBUILD trigger. */
void df_instr_release(struct dockerfile_instr *in);
/* Append s for a message: at most 80 bytes, cut on a rune boundary. */
void df_add_excerpt(struct kiln_buf *b, const char *s, size_t n);

/* ---- dockerfile-heredoc.c: finding heredocs on an instruction's line */

struct df_heredoc_list {
	struct dockerfile_heredoc *v;
	size_t nr;
};

/*
 * The heredocs a RUN/COPY/ADD line names, in order, as BuildKit's
 * heredocsFromLine finds them: the line is split into words by its shell
 * lexer (quotes and escapes kept, no variables set), and each word of the
 * form [digits]<<[-]WORD is a heredoc. Returns 0, or -1 with *msg set
 * (malloc'd) when a heredoc word cannot be processed.
 */
int df_heredocs_from_line(struct df_heredoc_list *out, const char *line, size_t n, char **msg);

/* Free the contents of one heredoc. */
void df_heredoc_release(struct dockerfile_heredoc *h);

#endif
