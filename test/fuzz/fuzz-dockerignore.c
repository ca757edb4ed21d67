/*
 * fuzz-dockerignore: .dockerignore parsing and matching on arbitrary bytes.
 *
 * Input: the .dockerignore text, then a NUL, then paths one per line. Each
 * path is matched in one call and again step by step as a walker would;
 * the two must agree (a directory the walker would skip excludes all
 * below it).
 */
#include "compat.h"
#include "alloc.h"
#include "dockerignore.h"
#include "error.h"

#define MAX_PATHS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The walker's answer for path, one element at a time. */
static bool walk_match(const struct kiln_dockerignore *di, const char *path)
{
	size_t nr = kiln_dockerignore_nr_patterns(di), n = strlen(path);
	unsigned char *a = xcalloc(nr + 1, 1), *b = xcalloc(nr + 1, 1), *parent = NULL;
	char *prefix = xstrdup(path);
	bool excluded = false;

	for (size_t end = 0; end <= n; end++) {
		unsigned char *cur = parent == a ? b : a;
		bool skip;

		if (end < n && path[end] != '/')
			continue;
		prefix[end] = '\0';
		excluded = kiln_dockerignore_match_entry(di, prefix, parent, cur);
		skip = end < n && excluded && !kiln_dockerignore_dir_has_exceptions(di, prefix);
		prefix[end] = path[end];
		if (skip)
			break;
		parent = cur;
	}
	free(a);
	free(b);
	free(prefix);
	return excluded;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nul = memchr(data, '\0', size);
	size_t text_len = nul ? (size_t)(nul - text) : size;
	struct kiln_dockerignore *di = NULL;
	struct kiln_error err = KILN_ERROR_INIT;
	const char *p = nul ? nul + 1 : text + size, *end = text + size;

	if (kiln_dockerignore_parse(&di, text, text_len, "fuzz", &err) < 0) {
		kiln_error_release(&err);
		return 0;
	}
	for (int i = 0; i < MAX_PATHS && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *path = xstrndup(p, n);

		/* a path is never cleaner than the walker makes it; only check
		 * agreement on paths a walker could produce */
		if (path[0] && strcmp(path, ".") && path[0] != '/' && !strstr(path, "//") &&
		    path[strlen(path) - 1] != '/') {
			if (kiln_dockerignore_match(di, path) != walk_match(di, path))
				abort();
		} else {
			kiln_dockerignore_match(di, path);
		}
		free(path);
		p += n + 1;
	}
	kiln_dockerignore_free(di);
	return 0;
}
