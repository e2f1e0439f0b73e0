#!/usr/bin/env bash
# fuzz/make_seeds.sh — regenerate the committed seed corpus fuzz/corpus/engine/: one small
# sample (< 4 KiB) of each container and compression format the engine expands, each
# holding a file "hello" (no malware test content: the fuzzer explores parsers, not rules).
# Needs the tools scripts/bootstrap installs. Output is stable apart from tool versions.
# Files named regress-* (inputs that once crashed a target) are left alone.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corpus/engine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TZ=UTC SOURCE_DATE_EPOCH=1700000000
cd "$work"
printf 'hello\n' >hello
printf 'hello, world, a second member\n' >world.txt
mkdir -p dir/sub
cp hello dir/sub/hello
touch -d @1700000000 hello world.txt dir dir/sub dir/sub/hello

# Keep the regress-* inputs: they reproduce bugs the fuzzer found and are not generated.
mkdir -p "$out"
find "$out" -maxdepth 1 -type f ! -name 'regress-*' -delete
cp hello "$out/hello.txt"

zip -q -X "$out/hello.zip" hello world.txt
zip -q -X -0 "$out/hello-stored.zip" hello
zip -q -X -r "$out/tree.zip" dir
zip -q -X -P secret "$out/encrypted.zip" hello
7z a -bd -bso0 -bsp0 "$out/hello.7z" hello world.txt
tar --mtime=@1700000000 --owner=0 --group=0 --format=ustar -b 1 -cf "$out/hello.tar" hello world.txt
tar --mtime=@1700000000 --owner=0 --group=0 --format=pax -cf plain.tar hello
gzip -9n <plain.tar >"$out/hello.tar.gz"
bzip2 -9 <plain.tar >"$out/hello.tar.bz2"
xz -9 <plain.tar >"$out/hello.tar.xz"
zstd -q -19 <plain.tar >"$out/hello.tar.zst"
lz4 -q -9 <plain.tar >"$out/hello.tar.lz4"
lzip -9 <plain.tar >"$out/hello.tar.lz"
lzma -9 <plain.tar >"$out/hello.tar.lzma"
gzip -9n <hello >"$out/hello.gz"
bzip2 -9 <hello >"$out/hello.bz2"
xz -9 <hello >"$out/hello.xz"
zstd -q -19 <hello >"$out/hello.zst"
printf 'hello\n' | cpio -o -H newc --quiet >"$out/hello-newc.cpio"
printf 'hello\n' | cpio -o -H odc --quiet >"$out/hello-odc.cpio"
ar rcD "$out/hello.a" hello world.txt
gcab -c -z "$out/hello.cab" hello
bsdtar --format xar -cf "$out/hello.xar" hello
mkdir iso && cp hello iso/
genisoimage -quiet -R -J -o hello.iso iso
xz -9 <hello.iso >"$out/hello.iso.xz"
cp "$out/hello.zip" inner.zip
tar --mtime=@1700000000 --owner=0 --group=0 -czf "$out/nested-zip-in.tar.gz" inner.zip
7z a -bd -bso0 -bsp0 nested.7z inner.zip
zip -q -X "$out/nested-7z-in.zip" nested.7z

ls -l "$out"
