/*
 * build.h: the build's public interface to the executor.
 *
 * lib/ (kiln_build) turns a Dockerfile and a context into an image: front
 * end, stages, instructions, layers, image model, outputs. It drives
 * snapshot/ and registry/.
 *
 * So far: the version report of everything the executor links.
 */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H

#include "compat.h"

struct kiln_buf;

/* Append the executor's version and one line per linked library. */
void build_versions(struct kiln_buf *out);

#endif
