# criu-lazy: one non-recursive Makefile; each folder adds its part through Module.mk.
# Objects go to build/; quiet unless V=1.

CC		?= gcc
BUILD		:= build
PKGS		:= libprotobuf-c libzstd
WERROR		?= $(if $(CI),-Werror,)
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -MMD -MP
CFLAGS		+= -Wno-missing-field-initializers
PKG_CFLAGS	= $(shell pkg-config --cflags $(PKGS))
PKG_LIBS	= $(shell pkg-config --libs $(PKGS))
LDLIBS		+= -lpthread

ifeq ($(V),1)
Q :=
E := @true
else
Q := @
E := @echo
endif

all:

include images/Module.mk
include pagesrv/Module.mk
include criu-lazy/Module.mk
include test/unit/Module.mk
include test/zdtm/Module.mk
include test/runc/Module.mk
include bench/Module.mk

$(BUILD)/%.o: %.c
	$(E) "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) $(INCLUDES) -c $< -o $@

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

check-format:
	$(Q)clang-format --dry-run --Werror $(FORMAT_FILES)

format:
	$(Q)clang-format -i $(FORMAT_FILES)

test: all unit-test zdtm

demo: all
	$(Q)scripts/demo.sh

clean:
	$(Q)rm -rf $(BUILD)

.PHONY: all test demo clean check-format format
# objects of test and bench binaries are intermediate files to make: keep them, so a second make
# does not rebuild them
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
