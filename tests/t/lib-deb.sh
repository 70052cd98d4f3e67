# lib-deb.sh: the Debian package built from a copy of this source tree
# (sourced after lib.sh by t0310, which builds and checks it, and t0320,
# which installs it into a fresh root). The package t0310 built is kept in
# the build tree (tests/t/deb-cache/) under the hash of the source copy it
# came from; t0320, which make runs after t0310, installs that one when its
# own copy of the source has the same hash, and builds its own otherwise
# (run alone, or the tree changed in between). One package build per run,
# not two: each takes minutes of a two-core machine.

# deb_source DIR: copy the tracked (and new, unignored) files to DIR/src,
# no build directory riding along; sets deb to the path the .deb will have
deb_source() {
	mkdir -p "$1/src"
	if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$srcdir" ls-files -co --exclude-standard | grep -v -E '^(_build|_deps)' |
		    (cd "$srcdir" && tar -cf - -T -) | tar -xf - -C "$1/src" ||
		    framework_failure_ "cannot copy the source tree"
	else
		(cd "$srcdir" && tar -cf - --exclude='./_build*' --exclude=./_deps --exclude=./.git .) |
		    tar -xf - -C "$1/src" || framework_failure_ "cannot copy the source tree"
	fi
	# the source's identity: every copied file's name and contents
	deb_hash=$(cd "$1/src" && find . -type f -print0 | LC_ALL=C sort -z |
	    xargs -0 sha256sum | sha256sum | cut -c1-64)
	deb=$1/dsmtp_$(sed -n '1s/^dsmtp (\([^)]*\)).*/\1/p' "$1/src/debian/changelog")_$(dpkg --print-architecture).deb
	# make check's own variables (TESTS=... on its command line travels in
	# MAKEFLAGS) must not reach the package's make: it would run this test again
	unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES TESTS
}

deb_cache=$top_builddir/tests/t/deb-cache

# deb_keep: keep the package just built ($deb) for t0320, under deb_hash
deb_keep() {
	rm -rf "$deb_cache" && mkdir -p "$deb_cache" &&
	cp "$deb" "$deb_cache/dsmtp.deb" && echo "$deb_hash" >"$deb_cache/hash"
}

# deb_cached: true, with the kept package copied to $deb, when t0310 built
# it from a source with this copy's hash
deb_cached() {
	test -s "$deb_cache/dsmtp.deb" && test "$(cat "$deb_cache/hash" 2>/dev/null)" = "$deb_hash" &&
	    cp "$deb_cache/dsmtp.deb" "$deb"
}
