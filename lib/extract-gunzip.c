/*
 * extract-gunzip.c: gzip layers decompressed with ISA-L's inflate.
 *
 * Unpacking a base image is mostly decompressing it: on one core zlib's
 * inflate takes longer than writing the files out, and the decoding
 * thread sets the pace. ISA-L's inflate does the same work in about a
 * third of the time. Its gzip mode checks each member's header, CRC-32
 * and length as zlib's does.
 *
 * A gzip file may hold several members one after another (what `cat a.gz
 * b.gz` makes): they decompress to the concatenation, as gzip -d and
 * libarchive read them. Bytes after the last member that do not start
 * another one are ignored, as libarchive does; they still count in the
 * layer's digest, which covers the whole blob.
 */
#include "compat.h"
#include "extract-int.h"
#include "alloc.h"
#include "error.h"

#include <isa-l/igzip_lib.h>

struct gunzip {
	struct inflate_state st;
	gunzip_input_fn *input;
	void *arg;
	bool input_end; /* input() returned 0 */
	bool done;	/* the last member ended */
};

struct gunzip *gunzip_new(gunzip_input_fn *input, void *arg)
{
	struct gunzip *g = xcalloc(1, sizeof(*g));

	isal_inflate_init(&g->st);
	g->st.crc_flag = ISAL_GZIP;
	g->input = input;
	g->arg = arg;
	return g;
}

void gunzip_free(struct gunzip *g)
{
	free(g);
}

static const char *isal_error(int ret)
{
	switch (ret) {
	case ISAL_INVALID_WRAPPER:
		return "not a gzip header";
	case ISAL_UNSUPPORTED_METHOD:
		return "gzip header names an unknown compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "gzip CRC-32 or length does not match the data";
	case ISAL_INVALID_BLOCK:
	case ISAL_INVALID_SYMBOL:
	case ISAL_INVALID_LOOKBACK:
		return "corrupt deflate data";
	default:
		return "gzip decompression failed";
	}
}

/* More input once inflate has used all it had. */
static int refill(struct gunzip *g, struct kiln_error *err)
{
	const void *buf;
	ssize_t n;

	if (g->st.avail_in || g->input_end)
		return 0;
	n = g->input(g->arg, &buf, err);
	if (n < 0)
		return -1;
	if (n == 0)
		g->input_end = true;
	g->st.next_in = (uint8_t *)buf;
	g->st.avail_in = (uint32_t)n;
	return 0;
}

/* A member ended: another follows if the next byte can start one. */
static int next_member(struct gunzip *g, struct kiln_error *err)
{
	if (refill(g, err) < 0)
		return -1;
	if (!g->st.avail_in || g->st.next_in[0] != 0x1f) {
		g->done = true;
		return 0;
	}
	isal_inflate_reset(&g->st);
	g->st.crc_flag = ISAL_GZIP;
	return 0;
}

ssize_t gunzip_read(struct gunzip *g, void *out, size_t len, struct kiln_error *err)
{
	g->st.next_out = out;
	g->st.avail_out = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	while (g->st.avail_out && !g->done) {
		uint32_t room = g->st.avail_out;
		int ret;

		if (g->st.block_state == ISAL_BLOCK_FINISH) {
			if (next_member(g, err) < 0)
				return -1;
			continue;
		}
		if (refill(g, err) < 0)
			return -1;
		ret = isal_inflate(&g->st);
		if (ret < 0)
			return kiln_err(err, KILN_EINVAL, 0, "layer: %s", isal_error(ret));
		/* all input in, the member unfinished, nothing more came out */
		if (g->st.block_state != ISAL_BLOCK_FINISH && g->input_end && !g->st.avail_in &&
		    g->st.avail_out == room)
			return kiln_err(err, KILN_EINVAL, 0, "layer: the gzip stream is truncated");
	}
	return (ssize_t)(len - g->st.avail_out);
}
