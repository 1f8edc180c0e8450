# pagesrv: the page-store library (frames, index, wire protocol) and its server

PAGESRV_SRCS	:= $(wildcard pagesrv/*.c)
PAGESRV_OBJS	:= $(patsubst %.c,$(BUILD)/%.o,$(PAGESRV_SRCS))
PAGESRV_LIB	:= $(BUILD)/libpagesrv.a
INCLUDES	+= -Ipagesrv/include

$(PAGESRV_OBJS): | $(PROTO_H)

$(PAGESRV_LIB): $(PAGESRV_OBJS) $(PROTO_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

all: $(PAGESRV_LIB)
