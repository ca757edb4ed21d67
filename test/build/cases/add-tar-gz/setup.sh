mkdir -p pkg/bin && echo tool > pkg/bin/tool && chmod 0755 pkg/bin/tool
echo readme > pkg/README && chmod 0640 pkg/README && ln -s bin/tool pkg/latest
tar --owner=0 --group=0 -czf pkg.tar.gz pkg && rm -rf pkg
