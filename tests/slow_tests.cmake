# Included by ctest after the GoogleTest cases are discovered (tests/CMakeLists.txt): the cases that take
# tens of seconds on a 2-core machine get the label `slow` next to their folder's, so that `make test-fast`
# (ctest -LE slow) runs in a few minutes. A name that no longer exists makes ctest fail: keep this in step.
set(_convdyn_slow
  linalg KrylovSchur.LargeConvLayerResiduals
  linalg KrylovSchur.ClusteredRightEdgeDoesNotSkipInteriorEigenvalues
  linalg KrylovSchur.SinglePassAndCgs2AgreeWithDense
  linalg KrylovSchur.TwelveRandomClusteredConvsMissNothing
  apps CliZoo.EveryBrokenBundleFileGivesOneLineError
  apps CliZoo.BrokenBundlePrefixGivesOneLineError
  apps Cli.BadInputsGiveOneLineErrors)
list(LENGTH _convdyn_slow _n)
math(EXPR _last "${_n} - 1")
foreach(_i RANGE 0 ${_last} 2)
  math(EXPR _j "${_i} + 1")
  list(GET _convdyn_slow ${_i} _folder)
  list(GET _convdyn_slow ${_j} _test)
  set_tests_properties(${_test} PROPERTIES LABELS "${_folder};slow")
endforeach()
