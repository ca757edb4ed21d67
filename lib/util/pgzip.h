/*
 * pgzip.h: gzip on every core, as one ordinary gzip member (pigz's scheme).
 *
 * The input is cut into blocks of PGZIP_BLOCK_SIZE bytes, by size alone.
 * Worker threads deflate the blocks independently, each primed with the
 * last 32 KiB of the block before it as its dictionary (so matches reach
 * back across block boundaries, as in a serial stream), each ending with a
 * sync flush (the last with the final block). The caller's thread joins the
 * pieces in order behind one fixed gzip header (no name, mtime 0, OS
 * "unknown") and a trailer whose CRC-32 is combined from the blocks' CRCs.
 * Any gzip reader reads the result as a single member.
 *
 * A block that cannot be compressed (random bytes, data compressed
 * already: a quick look at its byte histogram and its repeats decides) is
 * written as stored blocks at once, whatever the level: deflate would
 * search it for matches as long as text, only to store it in the end.
 *
 * The bytes depend on the input and the level only, never on the number of
 * threads or on how the caller splits its writes: layer digests must match
 * across pods with different CPU limits (cache hits, --reproducible).
 * Memory is bounded: at most 2 * threads + 2 blocks are in flight, and a
 * write blocks while they are.
 *
 * Typical use:
 *	struct pgzip_options o = { .level = 6 };          // threads 0: all CPUs
 *	struct kiln_writer *gz;
 *	pgzip_writer_new(&gz, file_writer, &o, err);
 *	kiln_writer_write(gz, tar, len, err);  ...
 *	kiln_writer_close(gz, err);                       // closes file_writer too
 *	kiln_writer_free(gz);
 */
#ifndef KILN_PGZIP_H
#define KILN_PGZIP_H

#include "compat.h"

struct kiln_error;
struct kiln_writer;

/* Uncompressed bytes per block: large enough that the per-block sync
 * marker and lost matches cost well under 0.1%, small enough to keep
 * every core busy on small layers. Changing it changes every digest. */
#define PGZIP_BLOCK_SIZE (128 * 1024)
/* deflate's window: the most a match can reach back. */
#define PGZIP_DICT_SIZE (32 * 1024)
/* The default level: Go's gzip.DefaultCompression, which kaniko's
 * --compression-level=-1 selects. */
#define PGZIP_DEFAULT_LEVEL 6

struct pgzip_options {
	int level;	  /* 1..9; 0 or -1: PGZIP_DEFAULT_LEVEL (kaniko's -1) */
	unsigned threads; /* compressing threads; 0: kiln_cpus_available() */
};

/* A writer gzipping everything written to it into next. A level outside
 * -1..9 is KILN_EINVAL (the --compression-level check). */
int pgzip_writer_new(struct kiln_writer **out, struct kiln_writer *next,
		     const struct pgzip_options *opts, struct kiln_error *err);

#endif
