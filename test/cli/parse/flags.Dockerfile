FROM --platform=$BUILDPLATFORM golang:1.22 AS build
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=bind,source=.,target=/src --network=none go build
COPY --chown="app user" --chmod=0755 --link --exclude=*.md --parents src/ /dst/
ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.git /src
RUN --not-a-real-flag echo
RUN -- --dashes are args
COPY --from="build stage" a b
