ln -s target.txt tree/link
ln -s /etc/passwd tree/abs
