FROM a
RUN echo ÿ
