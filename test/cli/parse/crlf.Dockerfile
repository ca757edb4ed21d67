FROM a
RUN a \
  b
CMD ["x"]
