# tests/fuzz/local.mk: the libFuzzer targets (clang, ASan + UBSan), their
# seed corpus and known reproducers. Not part of "make check": "make fuzz"
# builds them with clang into a temporary directory and fuzzes each for
# FUZZ_SECONDS (tests/fuzz/run.sh). No clang or libFuzzer (run.sh's exit
# 77) is a failure: contrib/deps installs them, and a fuzz run that did
# not fuzz must not pass.
FUZZ_SECONDS = 30

EXTRA_DIST += \
	tests/fuzz/README \
	tests/fuzz/local.mk \
	tests/fuzz/run.sh \
	tests/fuzz/autoconfig.h \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz_smtp_cmd.c \
	tests/fuzz/fuzz_data.c \
	tests/fuzz/fuzz_config.c \
	tests/fuzz/fuzz_plog_read.c \
	tests/fuzz/fuzz_smtp_reply.c \
	tests/fuzz/fuzz_tlsa.c \
	tests/fuzz/fuzz_tlsrpt_txt.c \
	tests/fuzz/tlsrpt_txt.dict \
	tests/fuzz/fuzz_log_report.c \
	tests/fuzz/fuzz_sts_txt.c \
	tests/fuzz/fuzz_sts_policy.c \
	tests/fuzz/fuzz_sts_cache.c \
	tests/fuzz/fuzz_hdrscan.c \
	tests/fuzz/fuzz_keyproc.c \
	tests/fuzz/smtp_cmd.dict \
	tests/fuzz/config.dict \
	tests/fuzz/plog_read.dict \
	tests/fuzz/corpus \
	tests/fuzz/crashes

fuzz:
	@rc=0; $(SHELL) $(top_srcdir)/tests/fuzz/run.sh $(FUZZ_SECONDS) || rc=$$?; \
	if test $$rc -eq 77; then echo "make fuzz: FAILED: nothing fuzzed (see above; contrib/deps installs clang and libclang-rt-14-dev)"; rc=1; fi; \
	exit $$rc
.PHONY: fuzz
