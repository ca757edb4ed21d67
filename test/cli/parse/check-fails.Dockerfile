FROM a
SHELL bash -c
COPY onlyone
