# tests/bench/local.mk: the benchmark against Postfix (DESIGN.md section 12,
# issue #9): the load generator, the two ceiling programs, the TLS sink of
# the relay scenarios, and `make bench`,
# which runs tests/bench/run.sh (root, the postfix package and the Exim
# contrib/deps unpacks for the anchor columns; about 12-15 minutes on a quiet
# machine). Not part of `make check`.
noinst_PROGRAMS += tests/bench/loadgen tests/bench/tlsceiling tests/bench/fsyncrate \
	tests/bench/tlssink
tests_bench_loadgen_SOURCES = tests/bench/loadgen.c
tests_bench_loadgen_LDADD = $(GNUTLS_LIBS) $(EV_LIBS)
tests_bench_tlsceiling_SOURCES = tests/bench/tlsceiling.c tests/bench/benchsrv.c \
	tests/bench/benchsrv.h
tests_bench_tlsceiling_LDADD = $(GNUTLS_LIBS)
tests_bench_tlssink_SOURCES = tests/bench/tlssink.c tests/bench/benchsrv.c \
	tests/bench/benchsrv.h
tests_bench_tlssink_LDADD = $(GNUTLS_LIBS) $(EV_LIBS)
tests_bench_fsyncrate_SOURCES = tests/bench/fsyncrate.c
EXTRA_DIST += tests/bench/run.sh tests/bench/RESULTS.md
CLEANFILES += tests/bench/last-run.txt tests/bench/last-run.log

.PHONY: bench
bench: tests/bench/loadgen$(EXEEXT) tests/bench/tlsceiling$(EXEEXT) \
		tests/bench/fsyncrate$(EXEEXT) tests/bench/tlssink$(EXEEXT) \
		dsmtpd$(EXEEXT) dsmtpc$(EXEEXT)
	$(SHELL) $(srcdir)/tests/bench/run.sh '$(abs_top_builddir)' '$(abs_top_srcdir)'
