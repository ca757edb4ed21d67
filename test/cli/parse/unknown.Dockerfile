FROM a
FROMM b
frobnicate --x y
wOrKdIr /app
