#!/bin/sh
# Prints the greeting from the image's environment, then one word per line
# from ~/words.txt (@BUILT@ at build time).
echo "$GREETING (built with @BUILT@) as $(id -un)"
while read -r w; do
	echo " - $w"
done < "$HOME/words.txt"
