#include "compat.h"
#include "build.h"
#include "buf.h"
#include "kiln-version.h"
#include "registry.h"
#include "snapshot.h"
#include "versions.h"

#include <archive.h>

void build_versions(struct kiln_buf *out)
{
	kiln_buf_addf(out, "kiln version %s\n", KILN_VERSION);
	kiln_buf_addstr(out, "libraries:\n");
	registry_versions(out);
	kiln_util_versions(out);
	kiln_buf_addf(out, "  %s\n", archive_version_string());
	snapshot_versions(out);
}
