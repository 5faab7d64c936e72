# mk/modules.mk - the module registry: who builds what, and who may include what.
#
# Every module declares itself in a module.mk (core/src/<mod>/module.mk by
# hand, graduated/<mod>/module.mk written by make graduate from the lab's
# declaration in lab/<mod>/Makefile):
#
#   MODULES        += <mod>
#   <mod>.dir      := the folder, relative to the top (core/src/chan)
#   <mod>.layer    := its layer (ARCHITECTURE.md section 2): 0 port and base,
#                     1 execution, 2 primitives, 3 messaging, 4 distribution
#   <mod>.srcs     := the files, relative to the folder, that join libkcoro
#   <mod>.services := its headers that other modules may include (never an
#                     *_impl.h); every other header stays private to it
#   <mod>.uses     := the service headers it includes, as <provider>/<file>,
#                     each a service of a module of its layer or below
#   <mod>.public   := its public headers in core/include (kcoro/<name>.h):
#                     installed and included by kcoro.h
#
# A module's files compile with -I core/include and -I build/<flavour>/
# include/<mod>, a folder made from the declaration (mk/view.sh): it holds
# <mod> itself (so "<mod>/<file>.h" names its own headers) and one link per
# service header in <mod>.uses, nothing else. So a file that includes a
# header its module did not declare does not compile, and `make lint`
# (mk/check-layers.sh) checks the declarations against the layers.

MODULES :=
include $(sort $(wildcard $(TOP)/core/src/*/module.mk))
CORE_MODULES := $(MODULES)
include $(sort $(wildcard $(TOP)/graduated/*/module.mk))
GRAD_MODULES := $(filter-out $(CORE_MODULES),$(MODULES))

# Paths of a module's sources (C and assembler) and their objects.
mod_src  = $(addprefix $(TOP)/$($(1).dir)/,$($(1).srcs))
mod_objs = $(patsubst $(TOP)/%,$(OUT)/obj/%,$(patsubst %.S,%.o,$(patsubst %.c,%.o,$(call mod_src,$(1)))))

# The include view: NAME=TARGET pairs for mk/view.sh. An entry of uses
# without a slash names a whole module (white-box code only: core's tests).
view_use = $(if $(findstring /,$(1)),$(1)=$(TOP)/$($(firstword $(subst /, ,$(1))).dir)/$(patsubst $(firstword $(subst /, ,$(1)))/%,%,$(1)),$(1)=$(TOP)/$($(1).dir))
view_of  = $(foreach u,$(2),$(call view_use,$(u)))

# mod_view_rules(NAME, OBJECTS, SELF-ENTRY, USES): OBJECTS compile against
# build/<flavour>/include/NAME, remade whenever the declaration changes.
define mod_view_rules
$(2): private KC_CPPFLAGS += -I$(OUT)/include/$(1)
$(2): $(OUT)/include/$(1)/.view
VIEW.$(1) := $(3) $(call view_of,$(1),$(4))
endef

$(OUT)/include/%/.view: FORCE
	$(Q)$(TOP)/mk/view.sh $(@D) $(VIEW.$*)

$(foreach m,$(MODULES),$(eval $(call mod_view_rules,$(m),$(call mod_objs,$(m)),$(m)=$(TOP)/$($(m).dir),$($(m).uses))))
