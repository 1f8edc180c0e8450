# criu-lazy: the binary

CRL_SRCS	:= $(wildcard criu-lazy/*.c criu-lazy/*/*.c)
CRL_OBJS	:= $(patsubst %.c,$(BUILD)/%.o,$(CRL_SRCS))
CRL_BIN		:= $(BUILD)/bin/criu-lazy
INCLUDES	+= -Icriu-lazy/include

$(CRL_OBJS): | $(PROTO_H)

$(CRL_BIN): $(CRL_OBJS) $(PAGESRV_LIB)
	$(E) "  LINK    $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CRL_OBJS) $(PAGESRV_LIB) $(PKG_LIBS) $(LDLIBS)

all: $(CRL_BIN)
