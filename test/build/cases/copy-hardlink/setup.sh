mkdir -p tree
echo linked > tree/a
ln tree/a tree/b
echo linked > tree/c
