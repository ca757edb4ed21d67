/*
 * copy-match.c: wildcard sources, as BuildKit resolves them.
 *
 * A pattern is Go's filepath.Match syntax: '*' any run of characters but
 * '/', '?' one character but '/', '[...]' a class ('^' negates, 'a-z'
 * ranges), '\' escapes the next character. BuildKit splits the source at
 * its first element holding a wildcard, opens the part before it (symlinks
 * followed inside the source root) and walks below without following
 * symlinks, keeping every path whose remaining elements match; a matching
 * directory is kept whole and not descended into. Elements are matched one
 * by one here, which is the same thing since no wildcard matches '/'.
 */
#include "compat.h"
#include "copy-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "strvec.h"

#include <dirent.h>
#include <fcntl.h>

bool copy_has_wildcard(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\') {
			if (!*++s)
				break;
		} else if (*s == '*' || *s == '?' || *s == '[') {
			return true;
		}
	}
	return false;
}

/* One UTF-8 character (a rune, as Go matches), lenient on bad bytes. */
static uint32_t rune_next(const char **sp)
{
	const unsigned char *s = (const unsigned char *)*sp;
	uint32_t c = s[0];
	int n = c < 0x80	     ? 0
		: (c & 0xe0) == 0xc0 ? 1
		: (c & 0xf0) == 0xe0 ? 2
		: (c & 0xf8) == 0xf0 ? 3
				     : 0;

	if (n)
		c &= 0x3f >> n;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*sp += 1;
			return s[0];
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*sp += n + 1;
	return c;
}

/* A class member: a character or an escaped one; '-' and ']' may not
 * start one (Go's getEsc). */
static int class_char(const char **pp, uint32_t *out)
{
	const char *p = *pp;

	if (!*p || *p == '-' || *p == ']')
		return -1;
	if (*p == '\\' && !*++p)
		return -1;
	*out = rune_next(&p);
	if (!*p)
		return -1; /* unterminated class */
	*pp = p;
	return 0;
}

/* Match the class at *pp (just after '[') against c; 1, 0 or -1 (bad). */
static int class_match(const char **pp, uint32_t c)
{
	const char *p = *pp;
	bool neg = false, hit = false;
	int n = 0;

	if (*p == '^') {
		neg = true;
		p++;
	}
	for (;;) {
		uint32_t lo, hi;

		if (*p == ']' && n > 0) {
			p++;
			break;
		}
		if (class_char(&p, &lo) < 0)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if (class_char(&p, &hi) < 0)
				return -1;
		}
		if (lo <= c && c <= hi)
			hit = true;
		n++;
	}
	*pp = p;
	return hit != neg;
}

/* Is the whole pattern well formed? Go reports ErrBadPattern for a bad
 * class or a trailing '\' even when the name would not match anyway. */
static bool pattern_valid(const char *p)
{
	while (*p) {
		if (*p == '\\') {
			if (!p[1])
				return false;
			p += 2;
		} else if (*p == '[') {
			p++;
			if (class_match(&p, 0) < 0)
				return false;
		} else {
			p++;
		}
	}
	return true;
}

static bool match_here(const char *p, const char *s)
{
	while (*p) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return !strchr(s, '/');
			for (;;) {
				if (match_here(p, s))
					return true;
				if (!*s || *s == '/')
					return false;
				rune_next(&s);
			}
		}
		if (!*s)
			return false;
		if (*p == '?') {
			if (*s == '/')
				return false;
			p++;
			rune_next(&s);
		} else if (*p == '[') {
			uint32_t c;

			if (*s == '/')
				return false;
			p++;
			c = rune_next(&s);
			if (class_match(&p, c) != 1)
				return false;
		} else {
			if (*p == '\\')
				p++;
			if (*p != *s)
				return false;
			p++;
			s++;
		}
	}
	return !*s;
}

int copy_match(bool *out, const char *pattern, const char *name, struct kiln_error *err)
{
	if (!pattern_valid(pattern))
		return kiln_err(err, KILN_EINVAL, 0, "bad wildcard pattern '%s'", pattern);
	*out = match_here(pattern, name);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory fd (which is consumed). */
int copy_list_names(struct kiln_strvec *out, int fd, struct kiln_error *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		close(fd);
		return kiln_err(err, KILN_EIO, errno, "read directory");
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			kiln_strvec_push(out, de->d_name);
		errno = 0;
	}
	if (errno) {
		int e = errno;

		closedir(d);
		return kiln_err(err, KILN_EIO, e, "read directory");
	}
	closedir(d);
	if (out->nr)
		qsort(out->v, out->nr, sizeof(*out->v), cmp_str);
	return 0;
}

/* Match elems[i..n) below the directory dfd (closed here). */
static int glob_dir(struct kiln_strvec *out, int dfd, const char *prefix, char **elems, size_t i,
		    size_t n, struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	int lfd = dup(dfd), ret;

	if (lfd < 0)
		ret = kiln_err(err, KILN_EIO, errno, "dup");
	else
		ret = copy_list_names(&names, lfd, err);
	for (size_t k = 0; ret == 0 && k < names.nr; k++) {
		bool hit = false;
		struct stat st;
		int sub;

		if ((ret = copy_match(&hit, elems[i], names.v[k], err)) < 0 || !hit)
			continue;
		kiln_buf_reset(&path);
		if (*prefix)
			kiln_buf_addf(&path, "%s/", prefix);
		kiln_buf_addstr(&path, names.v[k]);
		if (i + 1 == n) {
			kiln_strvec_push(out, path.buf);
			continue;
		}
		/* filepath.Walk does not follow symlinks below the start */
		sub = openat(dfd, names.v[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st) < 0 || !S_ISDIR(st.st_mode)) {
			close(sub);
			continue;
		}
		ret = glob_dir(out, sub, path.buf, elems, i + 1, n, err);
	}
	close(dfd);
	kiln_strvec_clear(&names);
	kiln_buf_release(&path);
	return ret;
}

int copy_glob(struct kiln_strvec *out, int src_fd, const char *src, struct kiln_error *err)
{
	struct kiln_strvec elems = KILN_STRVEC_INIT;
	struct kiln_buf prefix = KILN_BUF_INIT;
	char *copy = xstrdup(src), *save = NULL, *e;
	size_t first = 0;
	int fd, ret = 0;

	for (e = strtok_r(copy, "/", &save); e; e = strtok_r(NULL, "/", &save))
		kiln_strvec_push(&elems, e);
	while (first < elems.nr && !copy_has_wildcard(elems.v[first])) {
		if (prefix.len)
			kiln_buf_addch(&prefix, '/');
		kiln_buf_addstr(&prefix, elems.v[first]);
		first++;
	}
	if (first == elems.nr) {
		kiln_strvec_push(out, src);
		goto out;
	}
	for (size_t i = first; i < elems.nr; i++) {
		bool unused;

		if ((ret = copy_match(&unused, elems.v[i], "", err)) < 0)
			goto out;
	}
	fd = copy_src_open(src_fd, prefix.buf, O_RDONLY | O_DIRECTORY, err);
	if (fd < 0) {
		/* a missing or non-directory prefix matches nothing */
		ret = fd == KILN_ENOENT || fd == KILN_EINVAL ? 0 : fd;
		if (!ret)
			kiln_error_release(err);
		goto out;
	}
	ret = glob_dir(out, fd, prefix.buf, elems.v, first, elems.nr, err);
out:
	free(copy);
	kiln_strvec_clear(&elems);
	kiln_buf_release(&prefix);
	return ret;
}
