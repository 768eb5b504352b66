# dg_install.cmake - the install-time half of `cmake --install`: writes dualgate.conf and
# dualgate.service with the paths of the prefix actually installed to (`--prefix` may differ from
# the configured CMAKE_INSTALL_PREFIX), so the installed binary serves the installed page.
#
# The binary's compiled-in defaults (DG_DEFAULT_WWW, DG_DEFAULT_CLIENT_JS) stay the build tree's,
# which is what a developer running build/dualgate wants; an installed dualgate gets the installed
# paths from this config, which the unit always passes with --config.
#
# Config directory: /etc/dualgate for the prefixes /usr and /usr/local (what operators expect),
# <prefix>/etc/dualgate for any other, so an install into a scratch prefix is self-contained.
# An existing, different dualgate.conf is kept; the new one is written beside it as
# dualgate.conf.new (an upgrade never overwrites an operator's settings).
#
# Inputs, set by CMakeLists.txt's install(CODE): DG_SOURCE_DIR, DG_GEN_DIR, DG_BINDIR, DG_DATADIR,
# DG_DOCDIR (relative to the prefix) and DG_CLIENT_JS (the build's copy of the client).

string(REGEX REPLACE "(.)/+$" "\\1" prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/usr/local")
  set(confdir "/etc/dualgate")
else()
  set(confdir "${prefix}/etc/dualgate")
endif()
set(share "${prefix}/${DG_DATADIR}/dualgate")
file(MAKE_DIRECTORY "${DG_GEN_DIR}")

# ---- dualgate.conf: the reference file with the two path keys set -----------------------------
file(READ "${DG_SOURCE_DIR}/conf/dualgate.conf" conf)
set(keys document_root)
set(values "${share}/www")
if(EXISTS "${DG_CLIENT_JS}")
  list(APPEND keys socketio_client_js)
  list(APPEND values "${share}/socket.io.js")
else()
  message(WARNING "dualgate: the build has no socket.io client (run npm install, then build): "
                  "the installed /socket.io/socket.io.js will answer 404")
endif()
foreach(key value IN ZIP_LISTS keys values)
  string(REGEX REPLACE "\n#${key} = [^\n]*" "\n${key} = \"${value}\"" conf "${conf}")
  string(FIND "${conf}" "\n${key} = \"${value}\"" at)
  if(at LESS 0)
    message(FATAL_ERROR "conf/dualgate.conf has no '#${key} = ...' line to set")
  endif()
endforeach()
set(conf "# Written by cmake --install for the prefix ${prefix}: document_root and\n# socketio_client_js point at the installed files.\n${conf}")
file(WRITE "${DG_GEN_DIR}/dualgate.conf" "${conf}")

set(conf_name dualgate.conf)
set(existing "$ENV{DESTDIR}${confdir}/dualgate.conf")
if(EXISTS "${existing}")
  file(READ "${existing}" old)
  if(NOT old STREQUAL conf)
    set(conf_name dualgate.conf.new)
    message(STATUS "dualgate: keeping ${confdir}/dualgate.conf; the new default is dualgate.conf.new")
  endif()
endif()
file(INSTALL DESTINATION "${confdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     RENAME "${conf_name}" FILES "${DG_GEN_DIR}/dualgate.conf")

# ---- dualgate.service: the unit with this prefix's paths ------------------------------------
file(READ "${DG_SOURCE_DIR}/conf/dualgate.service" unit)
string(REPLACE "/usr/local/bin/dualgate" "${prefix}/${DG_BINDIR}/dualgate" unit "${unit}")
string(REPLACE "/usr/local/share/doc/dualgate/" "${prefix}/${DG_DOCDIR}/" unit "${unit}")
string(REPLACE "/etc/dualgate/" "${confdir}/" unit "${unit}")
file(WRITE "${DG_GEN_DIR}/dualgate.service" "${unit}")
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE
     FILES "${DG_GEN_DIR}/dualgate.service")
