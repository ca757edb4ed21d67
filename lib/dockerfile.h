/*
 * dockerfile.h: the Dockerfile parser. Bytes in, plain data out, no I/O.
 *
 * The grammar is BuildKit's (frontend/dockerfile/parser), odd corners
 * included, because kaniko uses that parser and users expect its
 * behaviour: parser directives (syntax, escape, check) before the first
 * instruction, comment or empty line; line continuations with the escape
 * character (comment and blank lines inside them dropped, one at the end
 * of the file allowed); case-insensitive keywords; flags before the
 * arguments, split by BuildKit's flag splitter; exec (JSON) form with a
 * fallback to shell form; heredocs on RUN, COPY and ADD; ONBUILD with its
 * trigger instruction.
 *
 * dockerfile_parse() fails only where BuildKit's parser fails (a JSON
 * array holding a non-string, an unterminated heredoc, a bad or repeated
 * directive, ENV/LABEL syntax errors, a line over 64 KiB, a file with no
 * instruction) and on bytes that are not UTF-8 text (NUL, invalid UTF-8).
 * What the build would refuse later (unknown instruction or flag, missing
 * arguments, SHELL not in JSON form, ...) is dockerfile_check()'s job.
 * Every message is one line: "FILE:LINE: what is wrong 'the text'; what
 * to do".
 *
 * The parser never recurses on its input (ONBUILD ONBUILD ... is a loop),
 * bounds every read, and has a fuzz target (test/fuzz/fuzz-dockerfile.c).
 *
 * Typical use:
 *	struct dockerfile df;
 *	if (dockerfile_parse(&df, data, len, "Dockerfile", err) < 0)
 *		return -1;
 *	if (dockerfile_check(&df, "Dockerfile", err) < 0)
 *		goto out;
 *	for (size_t i = 0; i < df.nr_instrs; i++)
 *		use(&df.instrs[i]);
 *	dockerfile_release(&df);
 */
#ifndef KILN_DOCKERFILE_H
#define KILN_DOCKERFILE_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

/* BuildKit reads lines with bufio.Scanner: one longer than this fails. */
#define DOCKERFILE_MAX_LINE 65535

enum dockerfile_kw {
	DOCKERFILE_UNKNOWN = 0, /* a word that is no instruction */
	DOCKERFILE_ADD,
	DOCKERFILE_ARG,
	DOCKERFILE_CMD,
	DOCKERFILE_COPY,
	DOCKERFILE_ENTRYPOINT,
	DOCKERFILE_ENV,
	DOCKERFILE_EXPOSE,
	DOCKERFILE_FROM,
	DOCKERFILE_HEALTHCHECK,
	DOCKERFILE_LABEL,
	DOCKERFILE_MAINTAINER,
	DOCKERFILE_ONBUILD,
	DOCKERFILE_RUN,
	DOCKERFILE_SHELL,
	DOCKERFILE_STOPSIGNAL,
	DOCKERFILE_USER,
	DOCKERFILE_VOLUME,
	DOCKERFILE_WORKDIR,
};

/* One argument. s is NUL-terminated; len differs from strlen(s) only
 * when a JSON string held \u0000. */
struct dockerfile_arg {
	char *s;
	size_t len;
};

struct dockerfile_heredoc {
	char *name;	    /* the delimiter, quotes removed */
	char *content;	    /* every body line with its newline, terminator excluded */
	size_t content_len; /* (leading tabs are kept even for <<-) */
	uint64_t fd;	    /* the digits before <<, 0 when there are none */
	bool expand;	    /* false when any part of the delimiter was quoted */
	bool chomp;	    /* <<-: strip leading tabs from the body when used */
};

/*
 * One instruction. args are the parser's raw arguments, before variable
 * expansion, split as the instruction family wants:
 *   RUN CMD ENTRYPOINT SHELL: a JSON array's strings, or one string (shell form);
 *   ADD COPY VOLUME: a JSON array's strings, or the words split on blanks;
 *   FROM EXPOSE: the words split on blanks;
 *   ARG: words split outside quotes, quotes kept;
 *   ENV LABEL: triples key, value (as written), separator ("=" or "" for
 *     the legacy `ENV k v` form, whose value is the rest of the line);
 *   MAINTAINER STOPSIGNAL USER WORKDIR: one string;
 *   HEALTHCHECK: none, or its type word as written then RUN's arguments;
 *   ONBUILD: none (the trigger is in onbuild);
 *   an unknown keyword: one empty string, as BuildKit's parseIgnore.
 * Flags are BuildKit's flag splitter's words (quotes and backslashes
 * processed, the text otherwise as written).
 */
struct dockerfile_instr {
	enum dockerfile_kw kw;
	char *keyword;	/* lower case as written, e.g. "run" or "frmo" */
	char *original; /* the logical line: continuations joined, comments dropped
			   (NULL for an ONBUILD trigger: see its ONBUILD's) */
	int line;	/* first physical line, 1-based */
	int end_line;	/* last continuation line or heredoc terminator */
	char **flags;
	size_t nr_flags;
	struct dockerfile_arg *args;
	size_t nr_args;
	bool json_form; /* the arguments came from a JSON array */
	struct dockerfile_heredoc *heredocs;
	size_t nr_heredocs;
	struct dockerfile_instr *onbuild; /* ONBUILD's trigger (same lines), or NULL */
};

/* Something BuildKit accepts but warns about (empty continuation lines). */
struct dockerfile_warning {
	int line;
	char *msg;
};

struct dockerfile {
	struct dockerfile_instr *instrs;
	size_t nr_instrs;
	char escape;  /* '\\' or '`' (the escape directive) */
	char *syntax; /* the syntax directive's value, or NULL */
	char *check;  /* the check directive's value, or NULL */
	struct dockerfile_warning *warnings;
	size_t nr_warnings;
};

/*
 * Parse len bytes of a Dockerfile. file names it in messages. On success
 * *out holds at least one instruction and must be released; on failure
 * *out is empty and err says "FILE:LINE: ..." (KILN_EINVAL).
 */
int dockerfile_parse(struct dockerfile *out, const char *data, size_t len, const char *file,
		     struct kiln_error *err);
void dockerfile_release(struct dockerfile *df);

/*
 * The checks BuildKit's instruction parser makes before a build: unknown
 * instructions (with the nearest keyword suggested), unknown, repeated or
 * malformed flags per instruction, argument counts, FROM's stage name,
 * SHELL in JSON form, HEALTHCHECK options, ONBUILD triggers, and an
 * instruction other than ARG before the first FROM. Stops at the first
 * problem: "FILE:LINE: ..." (KILN_EINVAL).
 */
int dockerfile_check(const struct dockerfile *df, const char *file, struct kiln_error *err);

/* One line per instruction: (keyword ["flag" ...] "arg" ...), as
 * BuildKit's node dump prints it. */
void dockerfile_dump(struct kiln_buf *out, const struct dockerfile *df);
/* A JSON array on one line, one object per instruction (keyword, line,
 * end_line, flags, args, json_form, heredocs, and onbuild for ONBUILD). */
void dockerfile_dump_json(struct kiln_buf *out, const struct dockerfile *df);

/* Append s quoted as Go's strconv.Quote does. */
void dockerfile_quote(struct kiln_buf *out, const char *s, size_t len);

/* The value of the flag --name=VALUE on in (the first one), or NULL. */
const char *dockerfile_instr_flag(const struct dockerfile_instr *in, const char *name);

/* "RUN" for DOCKERFILE_RUN, NULL for DOCKERFILE_UNKNOWN. */
const char *dockerfile_kw_name(enum dockerfile_kw kw);
/* The keyword of a lower-case word, DOCKERFILE_UNKNOWN if none. */
enum dockerfile_kw dockerfile_kw_lookup(const char *lower);

#endif
