#include "compat.h"
#include "error.h"
#include "alloc.h"
#include "buf.h"

int kiln_err(struct kiln_error *err, int code, int sys_errno, const char *fmt, ...)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	kiln_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (sys_errno)
		kiln_buf_addf(&msg, ": %s", strerror(sys_errno));
	free(err->msg);
	err->msg = kiln_buf_detach(&msg, NULL);
	err->code = code;
	err->sys_errno = sys_errno;
	return code;
}

int kiln_err_prefix(struct kiln_error *err, const char *fmt, ...)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	va_list ap;

	if (!err)
		return KILN_EIO;
	va_start(ap, fmt);
	kiln_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	kiln_buf_addf(&msg, ": %s", kiln_error_msg(err));
	free(err->msg);
	err->msg = kiln_buf_detach(&msg, NULL);
	if (!err->code)
		err->code = KILN_EIO;
	return err->code;
}

int kiln_err_hint(struct kiln_error *err, const char *fmt, ...)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	va_list ap;

	if (!err)
		return KILN_EIO;
	kiln_buf_addf(&msg, "%s; ", kiln_error_msg(err));
	va_start(ap, fmt);
	kiln_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	free(err->msg);
	err->msg = kiln_buf_detach(&msg, NULL);
	if (!err->code)
		err->code = KILN_EIO;
	return err->code;
}

const char *kiln_error_msg(const struct kiln_error *err)
{
	if (!err || !err->msg)
		return "unknown error";
	return err->msg;
}

const char *kiln_code_name(int code)
{
	switch (code) {
	case KILN_OK:
		return "success";
	case KILN_EINVAL:
		return "invalid input";
	case KILN_ENOENT:
		return "not found";
	case KILN_EAUTH:
		return "authentication failed";
	case KILN_ENET:
		return "network error";
	case KILN_EDIGEST:
		return "digest mismatch";
	case KILN_EIO:
		return "I/O error";
	}
	return "unknown error";
}

void kiln_error_release(struct kiln_error *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
	err->sys_errno = 0;
}
