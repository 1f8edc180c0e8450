# test/runc: runc driving criu-lazy through `swrk`. make test runs the refusal check while
# containers' namespaces are not dumped (test/runc/run.sh says what each mode checks).

runc-test: all
	$(Q)RUNC_TEST_INSTALL=0 test/runc/run.sh --refusal

test: runc-test

.PHONY: runc-test
