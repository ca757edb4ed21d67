FROM alpine:3.19 AS build
RUN apk add --no-cache curl
COPY --from=build --chown=0:0 /out /usr/bin/
CMD ["curl", "--help"]
