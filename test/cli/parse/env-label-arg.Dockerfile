FROM a
ENV A=1 B="2 3" C=x\ y
ENV LEGACY value with  inner   spaces
ENV Q "quoted value"
LABEL org.opencontainers.image.title="kiln" "a b"=c
ARG a="1 2" b c=
