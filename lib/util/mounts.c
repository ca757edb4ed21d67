#include "compat.h"
#include "mounts.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "path.h"
#include "strvec.h"

/* mountinfo is small; a cap still bounds a hostile /proc (it never is). */
#define MOUNTINFO_MAX (16 * 1024 * 1024)

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* mountinfo escapes space, tab, newline and backslash as \ooo octal. */
static void unescape(struct kiln_buf *out, const char *s, size_t len)
{
	kiln_buf_reset(out);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
		    is_octal(s[i + 3])) {
			kiln_buf_addch(out, (s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
						    (s[i + 3] - '0'));
			i += 3;
		} else {
			kiln_buf_addch(out, s[i]);
		}
	}
}

/* The fifth space-separated field of a mountinfo line is the mount point. */
static bool mount_point_of(struct kiln_buf *out, const char *line, size_t len)
{
	size_t field = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || line[i] == ' ') {
			if (field == 4) {
				unescape(out, line + start, i - start);
				return true;
			}
			field++;
			start = i + 1;
		}
	}
	return false;
}

void kiln_mounts_parse(struct kiln_strvec *out, const char *mountinfo, const char *root)
{
	struct kiln_buf mp = KILN_BUF_INIT, clean_root = KILN_BUF_INIT, rel = KILN_BUF_INIT;
	const char *line = mountinfo;

	kiln_path_clean(&clean_root, root);
	while (*line) {
		const char *nl = strchrnul(line, '\n');

		if (mount_point_of(&mp, line, (size_t)(nl - line)) &&
		    kiln_path_is_beneath(clean_root.buf, mp.buf) &&
		    strcmp(mp.buf, clean_root.buf)) {
			size_t skip = strcmp(clean_root.buf, "/") ? clean_root.len : 0;

			kiln_path_clean(&rel, mp.buf + skip);
			if (!kiln_strvec_contains(out, rel.buf))
				kiln_strvec_push(out, rel.buf);
		}
		line = *nl ? nl + 1 : nl;
	}
	kiln_buf_release(&mp);
	kiln_buf_release(&clean_root);
	kiln_buf_release(&rel);
}

int kiln_mounts_under(struct kiln_strvec *out, const char *root, struct kiln_error *err)
{
	struct kiln_buf text = KILN_BUF_INIT;
	int ret = kiln_file_read(&text, "/proc/self/mountinfo", MOUNTINFO_MAX, err);

	if (ret == 0)
		kiln_mounts_parse(out, text.buf, root);
	else
		kiln_err_hint(err, "kiln needs /proc mounted to know which paths to leave out");
	kiln_buf_release(&text);
	return ret;
}
