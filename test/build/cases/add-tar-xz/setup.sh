mkdir -p data/empty && chmod 0700 data/empty && echo a > data/a && chmod 0644 data/a
tar --owner=0 --group=0 -cJf data.tar.xz data && rm -rf data
