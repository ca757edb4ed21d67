/*
 * bench-parse: how long parsing a 10,000-line Dockerfile takes, next to a
 * naive baseline measured in the same run on the same text: splitting it
 * into lines with a simple loop (one copy per line). The ratio is what to
 * compare between machines and commits; the times alone say little.
 *
 * The generated Dockerfile mixes every instruction, flags, exec and shell
 * forms, continuations (with comment and blank lines inside), heredocs
 * and ONBUILD. --quick uses a tenth of the size (CI); --lines N and
 * --runs N set the size and the number of runs whose median is reported.
 * No threshold is applied: the ratio is for people (and for comparing
 * commits), as for every kiln benchmark.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One block of instructions; returns the physical lines it added. */
static size_t add_block(struct kiln_buf *b, size_t i)
{
	kiln_buf_addf(
		b,
		"# stage %zu\n"
		"ARG VERSION_%zu=1.%zu\n"
		"FROM --platform=$BUILDPLATFORM golang:${VERSION_%zu} AS build%zu\n"
		"ENV GOPATH=/go PATH=\"/go/bin:$PATH\" CGO_ENABLED=0\n"
		"ENV LEGACY_%zu value with spaces\n"
		"LABEL org.example.n=\"%zu\" other=yes\n"
		"WORKDIR /src/%zu\n"
		"COPY --chown=1000:1000 --chmod=0644 go.mod go.sum ./\n"
		"RUN --mount=type=cache,target=/root/.cache/go-build \\\n"
		"    # download first \\\n"
		"    go mod download && \\\n"
		"\n"
		"    go build -o /out/app%zu ./cmd/app\n"
		"RUN [\"/bin/sh\", \"-c\", \"echo exec form %zu\"]\n"
		"RUN <<EOF\n"
		"set -e\n"
		"echo heredoc %zu\n"
		"EOF\n"
		"COPY <<-\"CONF\" /etc/app.conf\n"
		"\tkey=value\n"
		"\tCONF\n"
		"ADD --checksum=sha256:%064zu https://example.com/f%zu.tgz /tmp/\n"
		"EXPOSE 80/tcp 443\n"
		"VOLUME [\"/data\", \"/logs\"]\n"
		"USER 1000:1000\n"
		"HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1\n"
		"ONBUILD RUN echo onbuild %zu\n"
		"SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
		"STOPSIGNAL SIGTERM\n"
		"ENTRYPOINT [\"/out/app\"]\n"
		"CMD --help\n"
		"\n",
		i, i, i, i, i, i, i, i, i, i, i, i, i, i);
	return 33;
}

static void generate(struct kiln_buf *b, size_t lines)
{
	size_t n = 0, i = 0;

	while (n < lines)
		n += add_block(b, i++);
}

/* The baseline: split into lines, copying each, as a naive reader would. */
static size_t baseline(const char *s, size_t len)
{
	size_t lines = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (s + pos)) : len - pos;
		char *copy = xstrndup(s + pos, n);

		lines += copy[0] != '#';
		free(copy);
		pos += n + 1;
	}
	return lines;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	struct kiln_buf text = KILN_BUF_INIT;
	size_t lines = 10000, runs = 11, sink = 0;
	double *tp, *tb, parse_ms, base_ms, ratio;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			lines = 1000;
			runs = 5;
		} else if (!strcmp(argv[i], "--lines") && i + 1 < argc) {
			lines = strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = strtoul(argv[++i], NULL, 10);
			if (!runs)
				runs = 1;
		} else {
			fprintf(stderr, "usage: bench-parse [--quick] [--lines N] [--runs N]\n");
			return 2;
		}
	}
	generate(&text, lines);
	tp = xcalloc(runs, sizeof(*tp));
	tb = xcalloc(runs, sizeof(*tb));
	for (size_t r = 0; r < runs; r++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct dockerfile df;
		double t0 = now_ms();

		if (dockerfile_parse(&df, text.buf, text.len, "bench", &err) < 0) {
			fprintf(stderr, "bench-parse: %s\n", kiln_error_msg(&err));
			return 1;
		}
		tp[r] = now_ms() - t0;
		sink += df.nr_instrs;
		dockerfile_release(&df);
		t0 = now_ms();
		sink += baseline(text.buf, text.len);
		tb[r] = now_ms() - t0;
	}
	parse_ms = median(tp, runs);
	base_ms = median(tb, runs);
	ratio = base_ms > 0 ? parse_ms / base_ms : 0;
	printf("parse: %zu lines, %zu bytes: %.3f ms (median of %zu); baseline line split: %.3f "
	       "ms; "
	       "ratio %.1f (%zu)\n",
	       lines, text.len, parse_ms, runs, base_ms, ratio, sink % 10);
	free(tp);
	free(tb);
	kiln_buf_release(&text);
	return 0;
}
