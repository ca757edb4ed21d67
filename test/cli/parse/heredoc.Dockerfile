FROM a
RUN <<EOF
set -e
echo "$HOME"
EOF
RUN <<-'SCRIPT' bash
	echo $NOT_EXPANDED
	SCRIPT
COPY <<a.txt <<"b.txt" /dst/
A
a.txt
B
b.txt
RUN 3<<FD cat /dev/fd/3
via fd three
FD
RUN python3 <<PY > /out
print("hi")
PY
RUN echo "<<NOT" && cat<<NOT_EITHER
