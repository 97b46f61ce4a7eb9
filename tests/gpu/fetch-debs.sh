#!/bin/sh
# tests/gpu/fetch-debs.sh [DIR] - on a Debian/Ubuntu machine with a package
# mirror, download (not install) the .deb files of the libraries ./configure
# requires, for a GPU machine that has CUDA but not these and cannot reach a
# mirror: carry DIR (default .debs, ignore it in .git/info/exclude) with the
# tree, and tests/gpu/run.sh unpacks them under /tmp and uses them from there.
set -eu
dir=${1:-.debs}
mkdir -p "$dir"
cd "$dir"
apt-get download libinih-dev libinih1 libopenblas-dev libopenblas-pthread-dev libopenblas0 \
	libopenblas0-pthread libgfortran5 pkgconf pkgconf-bin libpkgconf3
ls -l
