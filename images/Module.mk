# images/*.proto -> build/images/*.pb-c.[ch] (generated code is never committed)

PROTOS		:= $(wildcard images/*.proto)
PROTO_C		:= $(patsubst images/%.proto,$(BUILD)/images/%.pb-c.c,$(PROTOS))
PROTO_H		:= $(PROTO_C:.c=.h)
PROTO_OBJS	:= $(PROTO_C:.c=.o)
INCLUDES	+= -I$(BUILD)/images

$(BUILD)/images/%.pb-c.c $(BUILD)/images/%.pb-c.h: images/%.proto
	$(E) "  PROTO   $<"
	$(Q)mkdir -p $(BUILD)/images
	$(Q)protoc-c --proto_path=images --c_out=$(BUILD)/images $<

$(BUILD)/images/%.pb-c.o: $(BUILD)/images/%.pb-c.c
	$(E) "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Wno-unused-parameter $(PKG_CFLAGS) $(INCLUDES) -c $< -o $@


# a .proto may import another: every header exists before any generated file is compiled
$(PROTO_OBJS): | $(PROTO_H)
