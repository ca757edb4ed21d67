FROM a
CMD ["a", "b c"]
CMD []
ENTRYPOINT ["sh", "-c"
RUN [ "$X" = 1 ]
CMD ['single']
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
VOLUME ["/data", "/logs"]
COPY ["a b", "/c d/"]
CMD ["\u00e9\t\"", "\ud83d\ude00"]
