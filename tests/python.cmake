# The Python package's pytest suite (tests/python), one ctest per file, on Debian's /usr/bin/python3 with
# PYTHONPATH=build/python. `ctest -L python`; the files that run the CLI on models are also `slow`.
set(_py_tests ${CMAKE_CURRENT_SOURCE_DIR}/python)
file(GLOB _py_files CONFIGURE_DEPENDS ${_py_tests}/test_*.py)
set(_py_slow test_models test_interrupt test_pseudospectrum test_run_zoo test_network_spectrum)
foreach(_f IN LISTS _py_files)
  get_filename_component(_name ${_f} NAME_WE)
  string(REPLACE "test_" "" _short ${_name})
  add_test(NAME python.${_short}
           COMMAND ${CONVDYN_PYTHON} -m pytest -q -p no:cacheprovider ${_f}
           WORKING_DIRECTORY ${_py_tests})
  set(_labels python)
  if(_name IN_LIST _py_slow)
    set(_labels "python;slow")
  endif()
  set_tests_properties(python.${_short} PROPERTIES LABELS "${_labels}" TIMEOUT 900
    ENVIRONMENT "PYTHONPATH=${CMAKE_BINARY_DIR}/python;CONVDYN_CLI=$<TARGET_FILE:convdyn>;PYTHONDONTWRITEBYTECODE=1")
endforeach()
