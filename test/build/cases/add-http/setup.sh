mkdir -p "$CASE_WORK/www" && printf "remote\n" > "$CASE_WORK/www/remote.txt"
touch -d @1600000000 "$CASE_WORK/www/remote.txt"
port=$(python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
python3 -m http.server --bind 127.0.0.1 --directory "$CASE_WORK/www" "$port" </dev/null >"$CASE_WORK/http.log" 2>&1 &
echo $! >> "$CASE_WORK/pids"
for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/remote.txt" >/dev/null && break; sleep 0.1; done
echo "--build-arg=URL=http://127.0.0.1:$port/remote.txt" >> "$CASE_WORK/args"
