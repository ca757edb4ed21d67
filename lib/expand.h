/*
 * expand.h: word expansion of Dockerfile arguments, as BuildKit's shell
 * lexer (frontend/dockerfile/shell) does it.
 *
 * $VAR and ${VAR} with the modifiers :- - :+ + :? ? # ## % %% / //, single
 * quotes (literal), double quotes (\" \$ and the escape character escaped,
 * $ expanded), the escape character outside quotes ('\\' or '`', from the
 * Dockerfile's escape directive), special parameters ($1, $#, $@, ...)
 * looked up like any name (so normally empty), and a '$' followed by no
 * name kept. Two entry points, as BuildKit has:
 *   - kiln_expand_word(): one string, quotes removed (ENV, LABEL, WORKDIR,
 *     USER, ARG values, --chown/--from flags, ...);
 *   - kiln_expand_words(): the same, split into words after expansion
 *     (EXPOSE, ...): unquoted whitespace (unicode.IsSpace) that was written
 *     or came from a variable separates words; quoted or escaped text does
 *     not; empty words are dropped.
 * Errors (unterminated quotes, "${}", "${VAR:?msg}", bad modifiers) read as
 * BuildKit's: `failed to process "WORD": DETAIL`.
 *
 * Hostile input is expected (the expander is fuzzed): nesting is limited to
 * KILN_EXPAND_MAX_DEPTH and every result to max_len bytes, and the total
 * work (bytes produced plus pattern-matching steps) to a budget, so no word
 * can make kiln use more than a bounded amount of memory or time.
 *
 * Typical use:
 *	const char *env[] = { "HOME=/root", "EMPTY=", NULL };
 *	struct kiln_expander x = KILN_EXPANDER_INIT;
 *	struct kiln_buf out = KILN_BUF_INIT;
 *	x.lookup = kiln_expand_env_lookup;
 *	x.ctx = env;
 *	if (kiln_expand_word(&out, &x, "${HOME}/bin", strlen(...), &err) < 0) ...
 */
#ifndef KILN_EXPAND_H
#define KILN_EXPAND_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

/* A list of strings the caller frees with kiln_words_release(). */
struct kiln_words {
	char **v; /* NUL-terminated (a word holding a NUL byte is cut there) */
	size_t nr, alloc;
};

#define KILN_WORDS_INIT    \
	{                  \
		NULL, 0, 0 \
	}

void kiln_words_add(struct kiln_words *w, const char *s, size_t len);
/* Add s unless an equal string is already there. */
void kiln_words_add_unique(struct kiln_words *w, const char *s, size_t len);
void kiln_words_release(struct kiln_words *w);

#define KILN_EXPAND_MAX_DEPTH  200	     /* nested ${...} */
#define KILN_EXPAND_MAX_LEN    (1024 * 1024) /* default cap on any result */
#define KILN_EXPAND_WORK_RATIO 64	     /* work budget = ratio * max_len */

struct kiln_expander {
	int escape; /* '\\' or '`' */
	/* Return true with value and value_len set (an empty value is still
	 * set), false when the name is unset; name is not NUL-terminated.
	 * NULL: every name is unset. */
	bool (*lookup)(void *ctx, const char *name, size_t name_len, const char **value,
		       size_t *value_len);
	void *ctx;
	size_t max_len; /* 0: KILN_EXPAND_MAX_LEN */
	/* Optional: names found set / looked up but unset, each once. The
	 * build cache keys a step on the variables it really used. */
	struct kiln_words *matched;
	struct kiln_words *unmatched;
};

#define KILN_EXPANDER_INIT                      \
	{                                       \
		'\\', NULL, NULL, 0, NULL, NULL \
	}

/* The expansion of word[0..len) as one string, quotes removed, appended
 * to out. */
int kiln_expand_word(struct kiln_buf *out, struct kiln_expander *x, const char *word, size_t len,
		     struct kiln_error *err);

/* The expansion of word[0..len) split into words, appended to out. */
int kiln_expand_words(struct kiln_words *out, struct kiln_expander *x, const char *word, size_t len,
		      struct kiln_error *err);

/*
 * A lookup over a NULL-terminated array of "NAME=VALUE" strings (ctx is the
 * `const char **`): the last entry for a name wins, and an entry without
 * '=' sets the name to the empty value, as BuildKit's env lists do.
 */
bool kiln_expand_env_lookup(void *ctx, const char *name, size_t name_len, const char **value,
			    size_t *value_len);

#endif
