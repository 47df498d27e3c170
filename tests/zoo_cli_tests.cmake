# End-to-end: the ConvRNN zoo (TF1 checkpoints, tests/fixtures/convrnn/<bundle>/model.ckpt, 5x5 cell layers)
# through the convdyn binary. Spectra are checked by tests/fixtures/check_zoo_vs_reference.py against
# tests/fixtures/convrnn/expected.pth (reference Jacobians' eigenvalues) and numpy's eigenvalues of each linear
# part's conv built from the bundle's weights. Bad inputs on this path: tests/apps/test_cli_zoo.cpp.
if(NOT CONVDYN_PYTHON)
  set(CONVDYN_PYTHON /usr/bin/python3 CACHE FILEPATH "Debian's Python with python3-torch, numpy and h5py")
endif()
set(_fx ${CMAKE_CURRENT_SOURCE_DIR}/fixtures)
set(_zoo ${_fx}/convrnn)
set(_check ${_fx}/check_zoo_vs_reference.py)
set(_zoo_bundles gru_shallow intersectionrnn_shallow lstm_shallow rgc_intermediate rgc_shallow simplernn_shallow
                 timedecay_shallow ugrnn_intermediate)

# Every operator (cell Jacobians and linear parts), dense, against the references.
foreach(b ${_zoo_bundles})
  set(_h5 ${CMAKE_CURRENT_BINARY_DIR}/e2e_zoo_${b}_dense.h5)
  add_test(NAME e2e.zoo.dense_vs_reference.${b}
           COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum ${_zoo}/${b}/model.ckpt --size 5,5 --all --method dense --k 0 --quiet --force --out ${_h5} >/dev/null && ${CONVDYN_PYTHON} ${_check} dense ${_h5} ${_zoo}/${b}/model.ckpt --tol-jac 1e-7 --tol-part 1e-10")
  set_tests_properties(e2e.zoo.dense_vs_reference.${b} PROPERTIES LABELS "e2e;zoo;slow")
endforeach()

# krylov-schur (4 largest in magnitude) against dense, same operators; own files so tests can run in parallel.
foreach(b gru_shallow lstm_shallow rgc_intermediate ugrnn_intermediate)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/e2e_zoo_${b}_ksd.h5)
  set(_k ${CMAKE_CURRENT_BINARY_DIR}/e2e_zoo_${b}_ks.h5)
  add_test(NAME e2e.zoo.krylov_schur_vs_dense.${b}
           COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum ${_zoo}/${b}/model.ckpt --size 5,5 --all --method dense --k 0 --quiet --force --out ${_d} >/dev/null && $<TARGET_FILE:convdyn> spectrum ${_zoo}/${b}/model.ckpt --size 5,5 --all --method krylov-schur --k 4 --which LM --quiet --force --out ${_k} >/dev/null && ${CONVDYN_PYTHON} ${_check} krylov ${_k} ${_d} --tol 1e-9")
  set_tests_properties(e2e.zoo.krylov_schur_vs_dense.${b} PROPERTIES LABELS "e2e;zoo;slow")
endforeach()

# inspect: the cell type and the operators of each bundle.
set(_inspect_gru_shallow "conv3 +gru .*conv5 +gru .*conv3/gates/r/h .*conv3/gates/u/h .*conv3/candidates/h ")
set(_inspect_lstm_shallow "conv3 +lstm +\\[c; h\\] .*conv3/i/h .*conv3/j/h .*conv3/f/h .*conv3/o/h")
set(_inspect_simplernn_shallow "conv3 +simplernn .*conv3/s ")
set(_inspect_timedecay_shallow "conv3 +timedecay .*conv5 +timedecay")
set(_inspect_ugrnn_intermediate "conv4 +ugrnn .*conv10 +ugrnn .*conv4/g/h .*conv4/c/h")
set(_inspect_intersectionrnn_shallow "conv3 +intersectionrnn .*conv3/gh/h .*conv3/h/h .*conv3/gy/h .*conv3/y/h")
set(_inspect_rgc_shallow "conv3 +rgc_shallow +\\[c; h\\] .*conv3/cell/tau .*conv3/out/tau .*conv3/cell/gate .*conv3/out/gate")
set(_inspect_rgc_intermediate "conv4 +rgc_intermediate +\\[c; h\\] .*conv4/cell/tau .*conv4/out/tau .*conv4/cell/out_to_cell .*conv4/out/gate .*conv6/cell/out_to_cell +- .*not square")
foreach(b ${_zoo_bundles})
  add_test(NAME e2e.zoo.inspect.${b} COMMAND $<TARGET_FILE:convdyn> inspect ${_zoo}/${b}/model.ckpt --size 5,5)
  # PASS_REGULAR_EXPRESSION ignores the exit code: also fail on any error line.
  set_tests_properties(e2e.zoo.inspect.${b} PROPERTIES LABELS "e2e;zoo;slow"
                       PASS_REGULAR_EXPRESSION "tf-bundle.*ConvRNN model zoo, ${b}.*${_inspect_${b}}"
                       FAIL_REGULAR_EXPRESSION "convdyn: error")
endforeach()
# the bundle recognised by content given as its .index path as well
add_test(NAME e2e.zoo.inspect.index_path COMMAND $<TARGET_FILE:convdyn> inspect ${_zoo}/gru_shallow/model.ckpt.index --size 5,5)
set_tests_properties(e2e.zoo.inspect.index_path PROPERTIES LABELS "e2e;zoo;slow"
                     PASS_REGULAR_EXPRESSION "conv3 +gru.*conv3/gates/r/h" FAIL_REGULAR_EXPRESSION "convdyn: error")

# stability: exit 0 and a STABLE model on every committed bundle (all drawn with a fixed point, rho < 1).
foreach(b ${_zoo_bundles})
  add_test(NAME e2e.zoo.stability.${b}
           COMMAND bash -c "out=$($<TARGET_FILE:convdyn> stability ${_zoo}/${b}/model.ckpt --size 5,5 2>&1); rc=$?; echo \"$out\"; test $rc -eq 0 && echo \"$out\" | grep -Eq '^model: STABLE' && ! echo \"$out\" | grep -q UNSTABLE")
  set_tests_properties(e2e.zoo.stability.${b} PROPERTIES LABELS "e2e;zoo;slow")
endforeach()

# stability: unstable bundles written at test time (tests/fixtures/make_zoo_unstable_fixture.py) -> exit 1.
set(_unst ${CMAKE_CURRENT_BINARY_DIR}/zoo_unstable)
add_test(NAME e2e.zoo.make_unstable_fixtures
         COMMAND ${CONVDYN_PYTHON} ${_fx}/make_zoo_unstable_fixture.py ${_unst})
set_tests_properties(e2e.zoo.make_unstable_fixtures PROPERTIES LABELS "e2e;zoo;slow" FIXTURES_SETUP zoo_unstable)
set(_unstable_timedecay_unstable "conv4 +UNSTABLE +timedecay: J = m I with m = 1.2")
set(_unstable_simplernn_unstable "conv4 +UNSTABLE +rho\\(J\\) = 1.500000")
foreach(b timedecay_unstable simplernn_unstable)
  add_test(NAME e2e.zoo.stability_unstable.${b}
           COMMAND bash -c "out=$($<TARGET_FILE:convdyn> stability ${_unst}/${b}/model.ckpt --size 5,5 2>&1); rc=$?; echo \"$out\"; test $rc -eq 1 && echo \"$out\" | grep -Eq '^model: UNSTABLE' && echo \"$out\" | grep -Eq '${_unstable_${b}}' && echo \"$out\" | grep -Eq '^conv3 +STABLE'")
  set_tests_properties(e2e.zoo.stability_unstable.${b} PROPERTIES LABELS "e2e;zoo;slow" FIXTURES_REQUIRED zoo_unstable)
endforeach()
