/* tests/fuzz/autoconfig.h: a stand-in for configure's autoconfig.h, so the
 * fuzz targets compile the parsers with clang straight from the source tree
 * without configuring it. Only what the compiled sources use is defined.
 * run.sh puts -I tests/fuzz first; nothing else includes this file. */
#ifndef DSMTP_FUZZ_AUTOCONFIG_H
#define DSMTP_FUZZ_AUTOCONFIG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem, strdup, getaddrinfo under -std=c11 */
#endif

#define PACKAGE			"dsmtp"
#define PACKAGE_NAME		"dsmtp"
#define PACKAGE_TARNAME		"dsmtp"
#define PACKAGE_VERSION		"fuzz"
#define PACKAGE_STRING		"dsmtp fuzz"
#define PACKAGE_BUGREPORT	""
#define PACKAGE_URL		""

#endif
