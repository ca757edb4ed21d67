echo secret > ../outside.txt
