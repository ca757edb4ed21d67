/*
 * error.h: the one error type.
 *
 * Every fallible function returns int (0 or a negative KILN_E* code) and
 * takes a caller-owned `struct kiln_error *err` as its last argument. The
 * message is a single line for the user: what failed, on which path, line
 * or reference (in quotes), and what to do when that is known. Module
 * boundaries (an instruction, a stage, a destination) add context once with
 * kiln_err_prefix(); inner frames do not.
 *
 * Typical use:
 *	struct kiln_error err = KILN_ERROR_INIT;
 *	if (fd < 0)
 *		return kiln_err(err, KILN_EIO, errno, "open '%s'", path);
 *	...
 *	kiln_err_prefix(&err, "COPY %s", src);
 *	fprintf(stderr, "error: %s\n", kiln_error_msg(&err));
 *	kiln_error_release(&err);
 */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include "compat.h"

enum kiln_code {
	KILN_OK = 0,
	KILN_EINVAL = -1,  /* bad user input: flags, Dockerfile, references */
	KILN_ENOENT = -2,  /* something named does not exist */
	KILN_EAUTH = -3,   /* credentials missing or refused */
	KILN_ENET = -4,	   /* network failure; retryable */
	KILN_EDIGEST = -5, /* content does not match its digest */
	KILN_EIO = -6,	   /* local I/O or system call failure */
};

struct kiln_error {
	int code;      /* a KILN_E* code, 0 when no error is set */
	int sys_errno; /* errno at the failure, 0 when none */
	char *msg;     /* the full one-line message, owned */
};

#define KILN_ERROR_INIT    \
	{                  \
		0, 0, NULL \
	}

/*
 * Set *err (replacing an earlier message) and return code. When sys_errno is
 * non-zero its strerror() text is appended as ": <text>". err may be NULL.
 */
int kiln_err(struct kiln_error *err, int code, int sys_errno, const char *fmt, ...)
	KILN_PRINTF(4, 5);

/* Prepend "<prefix>: " to the message already in err. Returns err->code. */
int kiln_err_prefix(struct kiln_error *err, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Append "; <hint>" telling the user what to do. Returns err->code. */
int kiln_err_hint(struct kiln_error *err, const char *fmt, ...) KILN_PRINTF(2, 3);

/* The message, or "unknown error" if none was set. Never NULL. */
const char *kiln_error_msg(const struct kiln_error *err);

/* A short stable name for a code ("invalid input", "not found", ...). */
const char *kiln_code_name(int code);

/* Forget the message; err can be reused. */
void kiln_error_release(struct kiln_error *err);

#endif
