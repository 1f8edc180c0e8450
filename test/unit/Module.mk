# test/unit: table-driven unit tests, one binary per test-*.c, linked with the page-store library
# and with criu-lazy's objects (minus main) so parsers can be tested too.

UNIT_SRCS	:= $(wildcard test/unit/test-*.c)
UNIT_BINS	:= $(patsubst test/unit/%.c,$(BUILD)/test/unit/%,$(UNIT_SRCS))
UNIT_LIB_SRCS	:= $(wildcard test/unit/lib/*.c)
UNIT_LIB_OBJS	:= $(patsubst %.c,$(BUILD)/%.o,$(UNIT_LIB_SRCS))
CRL_LIB_OBJS	= $(filter-out $(BUILD)/criu-lazy/main.o,$(CRL_OBJS))
# an archive, so a test links only the objects it uses (the rest may call into main.c)
CRL_LIB		:= $(BUILD)/libcrl-nomain.a

$(UNIT_LIB_OBJS): | $(PROTO_H)
$(BUILD)/test/unit/test-%.o: | $(PROTO_H)

$(CRL_LIB): $(CRL_LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/test/unit/%: $(BUILD)/test/unit/%.o $(UNIT_LIB_OBJS) $(CRL_LIB) $(PAGESRV_LIB)
	$(E) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

all: $(UNIT_BINS)

unit-test: $(UNIT_BINS)
	$(Q)test/unit/run.sh $(UNIT_BINS)

.PHONY: unit-test
