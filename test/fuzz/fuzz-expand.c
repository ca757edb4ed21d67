/*
 * fuzz-expand: BuildKit-style word expansion on arbitrary bytes.
 *
 * Input: one flags byte (bit 0: backtick escape), then NUL-separated
 * parts: every part but the last is a "NAME=VALUE" environment entry, the
 * last is the word. Both entry points run on it; besides the sanitizers'
 * checks, they must agree on success (they share one lexer) and respect
 * the length cap.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "expand.h"

#define MAX_ENV 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split data into env entries (copied, NUL-terminated) and the word. */
static size_t split_input(const char *s, size_t n, char **env, const char **word, size_t *len)
{
	size_t nr = 0;
	const char *nul;

	while (nr < MAX_ENV && (nul = memchr(s, '\0', n))) {
		env[nr++] = xstrndup(s, (size_t)(nul - s));
		n -= (size_t)(nul - s) + 1;
		s = nul + 1;
	}
	env[nr] = NULL;
	*word = s;
	*len = n;
	return nr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_expander x = KILN_EXPANDER_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_words words = KILN_WORDS_INIT, matched = KILN_WORDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	char *env[MAX_ENV + 1];
	const char *word;
	size_t len, nr;
	int r1, r2;

	if (!size)
		return 0;
	nr = split_input((const char *)data + 1, size - 1, env, &word, &len);
	x.escape = (data[0] & 1) ? '`' : '\\';
	x.lookup = kiln_expand_env_lookup;
	x.ctx = env;
	x.max_len = 64 * 1024;
	x.matched = &matched;
	r1 = kiln_expand_word(&out, &x, word, len, &err);
	kiln_error_release(&err);
	r2 = kiln_expand_words(&words, &x, word, len, &err);
	if ((r1 == 0) != (r2 == 0) || out.len > x.max_len || (r1 && out.len))
		abort();
	kiln_error_release(&err);
	kiln_buf_release(&out);
	kiln_words_release(&words);
	kiln_words_release(&matched);
	for (size_t i = 0; i < nr; i++)
		free(env[i]);
	return 0;
}
