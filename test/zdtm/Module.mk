# test/zdtm: the C test programs and the harness

ZDTM_LIB_SRCS	:= $(wildcard test/zdtm/lib/*.c)
ZDTM_LIB_OBJS	:= $(patsubst %.c,$(BUILD)/%.o,$(ZDTM_LIB_SRCS))
ZDTM_TEST_SRCS	:= $(wildcard test/zdtm/static/*.c test/zdtm/transition/*.c)
ZDTM_TESTS	:= $(patsubst %.c,$(BUILD)/%,$(ZDTM_TEST_SRCS))
ZDTM_CFLAGS	:= -O1 -g -Itest/zdtm/lib -pthread

$(BUILD)/test/zdtm/%.o: test/zdtm/%.c
	$(E) "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(ZDTM_CFLAGS) -c $< -o $@

$(ZDTM_TESTS): $(BUILD)/test/zdtm/%: $(BUILD)/test/zdtm/%.o $(ZDTM_LIB_OBJS)
	$(E) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) $(ZDTM_CFLAGS) -o $@ $^ -lpthread

all: $(ZDTM_TESTS)

# Until every test passes checkpoint/restore, the full run is --nocr; tests are switched on in
# the C/R modes by naming them in the list files (absent or empty: that pass says so and skips).
ZDTM_ARGS	?= --nocr

zdtm: all
	$(Q)test/zdtm/zdtm.py selfcheck
	$(Q)test/zdtm/zdtm.py run -a $(ZDTM_ARGS)
	$(Q)test/zdtm/zdtm.py run --list test/zdtm/plain.list
	$(Q)test/zdtm/zdtm.py run --list test/zdtm/lazy.list --lazy-pages
	$(Q)test/zdtm/zdtm.py run --list test/zdtm/remote-lazy.list --remote-lazy-pages
	$(Q)test/migration/netns-postcopy.sh
	$(Q)test/migration/netns-precopy-postcopy.sh
	$(Q)test/migration/remote-errors.sh
	$(Q)test/migration/lazy-daemon-killed.sh
	$(Q)test/migration/remote-link-cut.sh
	$(Q)test/zdtm/zdtm.py run --list test/zdtm/predump.list --pre 2
	$(Q)test/zdtm/zdtm.py run --list test/zdtm/iters.list --iters 3

.PHONY: zdtm
