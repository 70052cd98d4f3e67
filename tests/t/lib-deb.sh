# lib-deb.sh: the Debian package built from a copy of this source tree
# (sourced after lib.sh by t0310, which builds and checks it, and t0320,
# which installs it into a fresh root).

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
	deb=$1/dsmtp_$(sed -n '1s/^dsmtp (\([^)]*\)).*/\1/p' "$1/src/debian/changelog")_$(dpkg --print-architecture).deb
	# make check's own variables (TESTS=... on its command line travels in
	# MAKEFLAGS) must not reach the package's make: it would run this test again
	unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES TESTS
}
