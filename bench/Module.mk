# bench: benchmarks (make bench); built by make, run only on request

BENCH_SRCS	:= $(wildcard bench/*.c)
BENCH_BINS	:= $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(PAGESRV_LIB)
	$(E) "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/%.o: | $(PROTO_H)

all: $(BENCH_BINS)

bench: all
	$(Q)bench/run.sh

.PHONY: bench
