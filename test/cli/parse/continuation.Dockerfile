FROM a
RUN apt-get update && \
    # install curl \
    apt-get install -y \

      curl && \
    rm -rf /var/lib/apt/lists/*
RUN echo done \