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

zdtm: all
	$(Q)test/zdtm/zdtm.py run -a $(ZDTM_ARGS)

.PHONY: zdtm
