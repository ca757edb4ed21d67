FROM a
ONBUILD RUN echo x
ONBUILD COPY --from=build . /app
ONBUILD ONBUILD RUN nested
onbuild
