# Installs the systemd units with the paths of the prefix they are
# installed to (cmake --install --prefix P, make install PREFIX=P), not the
# one the build was configured with: ExecStart names P's strata and P's
# configuration (/etc for /usr, P/etc otherwise). Run by install(SCRIPT)
# with STRATA_SRC, STRATA_BIN and STRATA_BINDIR_REL set.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(STRATA_SYSCONFDIR /etc)
else()
  set(STRATA_SYSCONFDIR ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(STRATA_BINDIR ${CMAKE_INSTALL_PREFIX}/${STRATA_BINDIR_REL})
foreach(unit strata-control.service strata-peer@.service strata-source@.service)
  configure_file(${STRATA_SRC}/packaging/systemd/${unit}.in ${STRATA_BIN}/units/${unit} @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES ${STRATA_BIN}/units/${unit})
endforeach()
