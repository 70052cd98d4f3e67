# common/local.mk: libcommon.a (config, diagnostics, addresses)
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/diag.h common/diag.c \
	common/addr.h common/addr.c \
	common/config.h common/config.c \
	common/cli.h common/cli.c
