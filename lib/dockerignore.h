/*
 * dockerignore.h: which context paths a .dockerignore excludes, exactly as
 * BuildKit decides (moby/patternmatcher, its ignorefile reader, and the
 * context walker of tonistiigi/fsutil).
 *
 * Reading: one pattern a line; a line starting with '#' is a comment; lines
 * are trimmed, blank ones dropped; '!' marks an exception; each pattern is
 * cleaned like Go's filepath.Clean and loses a leading '/' ("./a" and "/a"
 * are "a"). A pattern is matched against the whole slash-separated path
 * relative to the context: '*' and '?' never match '/', "**" matches any
 * number of elements, [classes] and '\' escapes follow Go's regexp (moby
 * turns each pattern into one), and the last matching pattern wins.
 * A path is also excluded when one of its parent directories is.
 *
 * Walking: BuildKit's walker reuses each directory's per-pattern results
 * for its entries and never opens an excluded directory unless an
 * exception could re-include something below it; kiln_dockerignore_
 * match_entry() and kiln_dockerignore_dir_has_exceptions() are those two
 * steps, and kiln_dockerignore_match() applies them along one path.
 *
 * Patterns are compiled once (literal prefix/suffix filters, then a small
 * NFA), so matching a 100,000-file context is cheap. A matcher is
 * read-only after parsing and can be shared between threads.
 *
 * Typical use:
 *	struct kiln_dockerignore *di = NULL;
 *	if (kiln_dockerignore_load(&di, context_dir, dockerfile, err) < 0) ...
 *	if (kiln_dockerignore_match(di, "node_modules/x/y.js")) skip it;
 *	kiln_dockerignore_free(di);
 */
#ifndef KILN_DOCKERIGNORE_H
#define KILN_DOCKERIGNORE_H

#include "compat.h"

struct kiln_error;
struct kiln_dockerignore;

/* The biggest .dockerignore kiln reads: it comes from the user's context. */
#define KILN_DOCKERIGNORE_MAX_SIZE (4 * 1024 * 1024)

/*
 * Parse .dockerignore text. `name` (e.g. the file's path) prefixes error
 * messages, which name the line: an exception that is only "!", a
 * malformed pattern such as "[a-" or "\q".
 */
int kiln_dockerignore_parse(struct kiln_dockerignore **out, const char *text, size_t len,
			    const char *name, struct kiln_error *err);

/* A matcher from patterns already split into lines (no comment handling,
 * as for COPY --exclude); `!` exceptions still apply. */
int kiln_dockerignore_new(struct kiln_dockerignore **out, const char *const *patterns, size_t n,
			  struct kiln_error *err);

void kiln_dockerignore_free(struct kiln_dockerignore *di);

/* Number of patterns (the size of the walker's per-directory state). */
size_t kiln_dockerignore_nr_patterns(const struct kiln_dockerignore *di);

/*
 * Is path (relative to the context, slash-separated, clean, no leading
 * "/") excluded? As BuildKit's walk decides it: parents first, a skipped
 * directory excludes everything below it. "" and "." are never excluded.
 */
bool kiln_dockerignore_match(const struct kiln_dockerignore *di, const char *path);

/*
 * One step of a walk: is the entry `path` excluded, given the state of its
 * parent directory (NULL for an entry at the top of the context)? state
 * receives this entry's per-pattern results (nr_patterns bytes), which a
 * walker keeps for a directory and passes for its entries.
 */
bool kiln_dockerignore_match_entry(const struct kiln_dockerignore *di, const char *path,
				   const unsigned char *parent, unsigned char *state);

/*
 * Must a walker still open the excluded directory `dir`, because an
 * exception could re-include something below it? False means the whole
 * subtree is excluded and need not be read at all.
 */
bool kiln_dockerignore_dir_has_exceptions(const struct kiln_dockerignore *di, const char *dir);

/*
 * The ignore file that applies to a build: "<dockerfile>.dockerignore"
 * beside the Dockerfile when it exists, else "<context_dir>/.dockerignore",
 * else none (*path NULL). *path is allocated.
 */
int kiln_dockerignore_pick(char **path, const char *context_dir, const char *dockerfile,
			   struct kiln_error *err);

/* kiln_dockerignore_pick(), read (capped) and parse; no file gives a
 * matcher that excludes nothing. */
int kiln_dockerignore_load(struct kiln_dockerignore **out, const char *context_dir,
			   const char *dockerfile, struct kiln_error *err);

#endif
