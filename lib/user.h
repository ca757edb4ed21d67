/*
 * user.h: USER and --chown names resolved in ROOT's /etc/passwd and
 * /etc/group, never the host's (a static executor has no NSS anyway).
 *
 * Docker's rules: "name", "uid", "name:group", "uid:gid" (any mix of names
 * and numbers). A name missing from ROOT's files is an error; a number
 * needs no entry. For USER, the primary group is the passwd entry's (0 for
 * an unknown uid) unless a group is given, and the supplementary groups
 * are every /etc/group entry listing the user's name; HOME comes from the
 * passwd entry ("/" when there is none).
 *
 * Typical use:
 *	struct user_ids u = USER_IDS_INIT;
 *	if (user_resolve(&u, root_fd, "app:staff", err) < 0) ...
 *	... u.uid, u.gid, u.groups, u.home ...
 *	user_ids_release(&u);
 */
#ifndef KILN_USER_H
#define KILN_USER_H

#include "compat.h"

#include <sys/types.h>

struct kiln_error;

struct user_ids {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary, without gid */
	size_t nr_groups;
	char *home; /* "/" when unknown */
};

#define USER_IDS_INIT               \
	{                           \
		0, 0, NULL, 0, NULL \
	}

/* For RUN (USER): uid, gid, supplementary groups, home. An empty spec is root. */
int user_resolve(struct user_ids *out, int root_fd, const char *spec, struct kiln_error *err);
/* For COPY/ADD --chown: uid and gid only; "user" alone gives the gid
 * BuildKit gives it. */
int user_resolve_chown(uid_t *uid, gid_t *gid, int root_fd, const char *spec,
		       struct kiln_error *err);
void user_ids_release(struct user_ids *u);

#endif
