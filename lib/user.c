/*
 * user.c: USER and --chown resolved in ROOT's /etc/passwd and /etc/group.
 *
 * Both files are read whole (capped) through the rootfs resolver, so a
 * symlinked /etc in the image cannot make kiln read the host's files, then
 * split in place into entries. The rules follow runc's GetExecUser (what
 * Docker runs) and BuildKit's --chown handling.
 */
#include "compat.h"
#include "user.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "rootfs-path.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

/* passwd and group files of real images are kilobytes; the cap only keeps
 * a hostile image from making kiln allocate without bound. */
#define USER_FILE_CAP (4u << 20)

struct pw_ent {
	const char *name, *home;
	uid_t uid;
	gid_t gid;
};

struct gr_ent {
	const char *name;
	const char *members; /* "a,b,c" */
	gid_t gid;
};

struct user_db {
	struct kiln_buf passwd, group;
	struct pw_ent *pw;
	size_t nr_pw, alloc_pw;
	struct gr_ent *gr;
	size_t nr_gr, alloc_gr;
};

/* A decimal id: digits only, below (uid_t)-1, which means "no change" to
 * chown(2) and setuid(2). Returns false for anything else (a name). */
static bool parse_id(uint32_t *out, const char *s)
{
	char *end;
	unsigned long long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Open rel ("etc/passwd") inside ROOT; the last component must not be a
 * symlink (O_NOFOLLOW) and must be a regular file, so a FIFO or a device
 * planted there cannot block or feed kiln. Returns the fd, 0 for "missing"
 * through *missing, or a negative code. */
static int open_in_root(bool *missing, int root_fd, const char *rel, struct kiln_error *err)
{
	struct rootfs_dir r;
	const char *base;
	struct stat st;
	int dfd, fd;

	*missing = false;
	rootfs_dir_init(&r, root_fd);
	dfd = rootfs_open_parent(&base, &r, rel, false, err);
	if (dfd == KILN_ENOENT) {
		kiln_error_release(err);
		*missing = true;
		return -1;
	}
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(dfd);
	if (fd < 0 && errno == ENOENT) {
		*missing = true;
		return -1;
	}
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '/%s' of the image", rel);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kiln_err(err, KILN_EINVAL, 0, "'/%s' of the image is not a regular file",
				rel);
	}
	return fd;
}

/* Read /rel of ROOT into b; a missing file leaves b empty. */
static int read_root_file(struct kiln_buf *b, int root_fd, const char *rel, struct kiln_error *err)
{
	char what[64];
	bool missing;
	int fd = open_in_root(&missing, root_fd, rel, err), ret;

	if (fd < 0)
		return missing ? 0 : fd;
	snprintf(what, sizeof(what), "'/%s' of the image", rel);
	ret = kiln_buf_read_fd(b, fd, USER_FILE_CAP, what, err);
	close(fd);
	return ret;
}

/* Split line at ':' into at most n fields; returns how many were found. */
static size_t split_fields(char **f, size_t n, char *line)
{
	size_t i = 0;

	f[i++] = line;
	for (char *p = line; *p && i < n; p++) {
		if (*p == ':') {
			*p = '\0';
			f[i++] = p + 1;
		}
	}
	return i;
}

/* Next line of buf from *pos, NUL-terminated in place; NULL at the end. */
static char *next_line(struct kiln_buf *b, size_t *pos)
{
	char *line, *nl;

	if (*pos >= b->len)
		return NULL;
	line = b->buf + *pos;
	nl = memchr(line, '\n', b->len - *pos);
	if (nl) {
		*nl = '\0';
		*pos = (size_t)(nl - b->buf) + 1;
	} else {
		*pos = b->len;
	}
	return line;
}

/* name:password:uid:gid:gecos:home:shell; malformed lines are skipped,
 * as libc does. */
static void parse_passwd(struct user_db *db)
{
	size_t pos = 0;
	char *line, *f[7];
	uint32_t uid, gid;

	while ((line = next_line(&db->passwd, &pos))) {
		if (split_fields(f, 7, line) < 4 || !*f[0] || !parse_id(&uid, f[2]) ||
		    !parse_id(&gid, f[3]))
			continue;
		if (db->nr_pw == db->alloc_pw) {
			db->alloc_pw = db->alloc_pw ? 2 * db->alloc_pw : 16;
			db->pw = xreallocarray(db->pw, db->alloc_pw, sizeof(*db->pw));
		}
		db->pw[db->nr_pw++] = (struct pw_ent){
			.name = f[0], .uid = uid, .gid = gid, .home = f[5] && *f[5] ? f[5] : "/"
		};
	}
}

/* name:password:gid:member,member */
static void parse_group(struct user_db *db)
{
	size_t pos = 0;
	char *line, *f[4] = { NULL };
	uint32_t gid;

	while ((line = next_line(&db->group, &pos))) {
		size_t n = split_fields(f, 4, line);

		if (n < 3 || !*f[0] || !parse_id(&gid, f[2]))
			continue;
		if (db->nr_gr == db->alloc_gr) {
			db->alloc_gr = db->alloc_gr ? 2 * db->alloc_gr : 16;
			db->gr = xreallocarray(db->gr, db->alloc_gr, sizeof(*db->gr));
		}
		db->gr[db->nr_gr++] =
			(struct gr_ent){ .name = f[0], .gid = gid, .members = n > 3 ? f[3] : "" };
	}
}

static void user_db_release(struct user_db *db)
{
	kiln_buf_release(&db->passwd);
	kiln_buf_release(&db->group);
	free(db->pw);
	free(db->gr);
}

static int user_db_load(struct user_db *db, int root_fd, struct kiln_error *err)
{
	int ret = read_root_file(&db->passwd, root_fd, "etc/passwd", err);

	if (ret == 0)
		ret = read_root_file(&db->group, root_fd, "etc/group", err);
	if (ret < 0)
		return ret;
	parse_passwd(db);
	parse_group(db);
	return 0;
}

static const struct pw_ent *pw_by_name(const struct user_db *db, const char *name)
{
	for (size_t i = 0; i < db->nr_pw; i++)
		if (!strcmp(db->pw[i].name, name))
			return &db->pw[i];
	return NULL;
}

static const struct pw_ent *pw_by_uid(const struct user_db *db, uid_t uid)
{
	for (size_t i = 0; i < db->nr_pw; i++)
		if (db->pw[i].uid == uid)
			return &db->pw[i];
	return NULL;
}

static const struct gr_ent *gr_by_name(const struct user_db *db, const char *name)
{
	for (size_t i = 0; i < db->nr_gr; i++)
		if (!strcmp(db->gr[i].name, name))
			return &db->gr[i];
	return NULL;
}

/* Does the comma-separated list hold name? */
static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");

		if (len == n && !strncmp(p, name, n))
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Split "user[:group]" into owned strings; group NULL when absent or
 * empty ("user:" means the user's own group, as chown(1) has it). */
static void split_spec(char **user, char **group, const char *spec)
{
	const char *colon = strchr(spec, ':');

	*user = colon ? xstrndup(spec, (size_t)(colon - spec)) : xstrdup(spec);
	*group = colon && colon[1] ? xstrdup(colon + 1) : NULL;
}

/* The user part: a number needs no entry, a name must have one. *pw is
 * the entry when there is one. */
static int find_user(uid_t *uid, const struct pw_ent **pw, const struct user_db *db,
		     const char *user, struct kiln_error *err)
{
	uint32_t id;

	if (!*user) {
		*uid = 0;
		*pw = pw_by_uid(db, 0);
	} else if (parse_id(&id, user)) {
		*uid = id;
		*pw = pw_by_uid(db, id);
	} else {
		*pw = pw_by_name(db, user);
		if (!*pw)
			return kiln_err(err, KILN_ENOENT, 0,
					"user '%s' not found in /etc/passwd of the image", user);
		*uid = (*pw)->uid;
	}
	return 0;
}

static int find_group(gid_t *gid, const struct user_db *db, const char *group,
		      struct kiln_error *err)
{
	uint32_t id;
	const struct gr_ent *gr;

	if (parse_id(&id, group)) {
		*gid = id;
		return 0;
	}
	gr = gr_by_name(db, group);
	if (!gr)
		return kiln_err(err, KILN_ENOENT, 0,
				"group '%s' not found in /etc/group of the image", group);
	*gid = gr->gid;
	return 0;
}

/* Every group listing name, except the primary one, without repeats. */
static void add_supplementary(struct user_ids *out, const struct user_db *db, const char *name)
{
	for (size_t i = 0; i < db->nr_gr; i++) {
		const struct gr_ent *g = &db->gr[i];
		bool seen = g->gid == out->gid;

		for (size_t j = 0; j < out->nr_groups && !seen; j++)
			seen = out->groups[j] == g->gid;
		if (seen || !list_has(g->members, name))
			continue;
		out->groups = xreallocarray(out->groups, out->nr_groups + 1, sizeof(gid_t));
		out->groups[out->nr_groups++] = g->gid;
	}
}

static int resolve_in(struct user_ids *out, const struct user_db *db, const char *user,
		      const char *group, struct kiln_error *err)
{
	const struct pw_ent *pw;

	int ret = find_user(&out->uid, &pw, db, user, err);

	if (ret < 0)
		return ret;
	out->gid = pw ? pw->gid : 0;
	out->home = xstrdup(pw ? pw->home : "/");
	/* runc: an explicit group replaces the primary one and drops the
	 * supplementary groups; those come only with the implicit form */
	if (group)
		return find_group(&out->gid, db, group, err);
	if (pw)
		add_supplementary(out, db, pw->name);
	return 0;
}

int user_resolve(struct user_ids *out, int root_fd, const char *spec, struct kiln_error *err)
{
	struct user_db db = { .passwd = KILN_BUF_INIT, .group = KILN_BUF_INIT };
	char *user = NULL, *group = NULL;
	int ret;

	user_ids_release(out);
	split_spec(&user, &group, spec ? spec : "");
	ret = user_db_load(&db, root_fd, err);
	if (ret == 0)
		ret = resolve_in(out, &db, user, group, err);
	if (ret < 0)
		user_ids_release(out);
	user_db_release(&db);
	free(user);
	free(group);
	return ret;
}

/* BuildKit's --chown: a named user without a group keeps the passwd
 * entry's primary group; a numeric user without a group gets gid = uid
 * (no lookup), "user:" counts as no group. */
static int chown_in(uid_t *uid, gid_t *gid, const struct user_db *db, const char *user,
		    const char *group, struct kiln_error *err)
{
	const struct pw_ent *pw;
	uint32_t id;
	int ret = find_user(uid, &pw, db, user, err);

	if (ret < 0)
		return ret;
	if (group)
		return find_group(gid, db, group, err);
	if (*user && parse_id(&id, user))
		*gid = id;
	else
		*gid = pw ? pw->gid : 0;
	return 0;
}

int user_resolve_chown(uid_t *uid, gid_t *gid, int root_fd, const char *spec,
		       struct kiln_error *err)
{
	struct user_db db = { .passwd = KILN_BUF_INIT, .group = KILN_BUF_INIT };
	char *user = NULL, *group = NULL;
	int ret;

	split_spec(&user, &group, spec ? spec : "");
	ret = user_db_load(&db, root_fd, err);
	if (ret == 0)
		ret = chown_in(uid, gid, &db, user, group, err);
	user_db_release(&db);
	free(user);
	free(group);
	return ret;
}

void user_ids_release(struct user_ids *u)
{
	free(u->groups);
	free(u->home);
	*u = (struct user_ids)USER_IDS_INIT;
}
