# End-to-end: `convdyn spectrum --all --method dense` against numpy.linalg.eigvals of the same dense
# matrices, built independently in Python from the checkpoint (tests/fixtures/check_spectra_vs_numpy.py).
set(CONVDYN_PYTHON /usr/bin/python3 CACHE FILEPATH "Debian's Python with python3-torch, numpy and h5py")
set(_fx ${CMAKE_CURRENT_SOURCE_DIR}/fixtures)
foreach(ckpt cordsnet_d4_param_module cordsnet_d4_legacy_module cordsnet_d4_param_train cordsnet_d4_legacy_train
             cordsnet_d4_proto4 cordsnet_d2_plain cordsnet_d2_float64)
  foreach(which LR LM)
    set(_h5 ${CMAKE_CURRENT_BINARY_DIR}/e2e_${ckpt}_${which}.h5)
    add_test(NAME e2e.dense_vs_numpy.${ckpt}.${which}
             COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum ${_fx}/${ckpt}.pth --all --method dense --k 0 --which ${which} --quiet --force --out ${_h5} >/dev/null && ${CONVDYN_PYTHON} ${_fx}/check_spectra_vs_numpy.py ${_h5} ${_fx}/${ckpt}.pth --tol 1e-10")
    set_tests_properties(e2e.dense_vs_numpy.${ckpt}.${which} PROPERTIES LABELS "e2e;slow")
  endforeach()
endforeach()

# The iterative solver against the same numpy reference: k = 10 rightmost and largest, tol 1e-12.
foreach(ckpt cordsnet_d4_param_module cordsnet_d4_legacy_train cordsnet_d2_plain)
  foreach(which LR LM)
    set(_h5 ${CMAKE_CURRENT_BINARY_DIR}/e2e_ks_${ckpt}_${which}.h5)
    add_test(NAME e2e.krylov_schur_vs_numpy.${ckpt}.${which}
             COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum ${_fx}/${ckpt}.pth --all --method krylov-schur --k 10 --tol 1e-12 --which ${which} --quiet --force --out ${_h5} >/dev/null && ${CONVDYN_PYTHON} ${_fx}/check_spectra_vs_numpy.py ${_h5} ${_fx}/${ckpt}.pth --tol 1e-9")
    set_tests_properties(e2e.krylov_schur_vs_numpy.${ckpt}.${which} PROPERTIES LABELS "e2e;slow")
  endforeach()
endforeach()

# The second opinions through the CLI, against the same numpy reference.
foreach(method spectra arpack)
  set(_h5 ${CMAKE_CURRENT_BINARY_DIR}/e2e_${method}.h5)
  add_test(NAME e2e.${method}_vs_numpy.cordsnet_d4_param_module.LR
           COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum ${_fx}/cordsnet_d4_param_module.pth --all --method ${method} --k 10 --tol 1e-12 --which LR --quiet --force --out ${_h5} >/dev/null && ${CONVDYN_PYTHON} ${_fx}/check_spectra_vs_numpy.py ${_h5} ${_fx}/cordsnet_d4_param_module.pth --tol 1e-9")
  set_tests_properties(e2e.${method}_vs_numpy.cordsnet_d4_param_module.LR PROPERTIES LABELS "e2e;slow")
endforeach()

# convdyn-bench on a small shape: every row kind is printed (a solver row with all pairs converged, the
# floor and conv cost rows, the summary against the second opinion) and it exits 0.
add_test(NAME cli.bench.smoke
         COMMAND bash -c "out=$($<TARGET_FILE:convdyn-bench> --shapes 8x6x6 --ks 2 --methods krylov-schur,arpack --markdown 2>/dev/null) && echo \"$out\" && echo \"$out\" | grep -Eq '^\\| 8x6x6 .*\\| krylov-schur\\*? +\\| float64 .*\\| +2/2 \\| +0 \\|' && echo \"$out\" | grep -q '| floor ' && echo \"$out\" | grep -q '| conv only (libtorch) ' && echo \"$out\" | grep -q '^# 8x6x6 k=2: krylov-schur .*certified arpack row'")
set_tests_properties(cli.bench.smoke PROPERTIES LABELS cli)

# A results write interrupted by SIGTERM (scancel, a time limit) or SIGINT (Ctrl-C): the old file intact, no
# temporary left; after SIGKILL (nothing can run) the next write removes the dead process's temporary.
set(_kill_dir ${CMAKE_CURRENT_BINARY_DIR}/cli_kill)
foreach(_sig TERM INT KILL)
  add_test(NAME cli.results.killed_by_${_sig}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/apps/killed_write.sh $<TARGET_FILE:convdyn> ${_sig}
                   ${_kill_dir}/${_sig} ${CMAKE_CURRENT_SOURCE_DIR}/../apps/demo/cordsnet_fmnist_d4.pth
                   ${CMAKE_CURRENT_SOURCE_DIR}/../apps/demo/fmnist-t10k-16-images-idx3-ubyte.gz)
  set_tests_properties(cli.results.killed_by_${_sig} PROPERTIES LABELS "apps;slow" TIMEOUT 300)
endforeach()

# convdyn sweep without Slurm (--local workers, a serial run, kills and resumes, user errors) and on a real
# one-node Slurm cluster started from Debian's packages for the suite (scripts/slurm-local.sh; private
# configuration, key and ports under the build folder, stopped after the tests that need it).
set(_sweep_env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1)
add_test(NAME cli.sweep.local
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/apps/sweep_local.sh $<TARGET_FILE:convdyn> ${_fx}
                 ${CMAKE_CURRENT_BINARY_DIR}/sweep_local ${CONVDYN_PYTHON})
set_tests_properties(cli.sweep.local PROPERTIES LABELS "apps;sweep;slow" TIMEOUT 600 ENVIRONMENT "${_sweep_env}")

set(_slurm_state ${CMAKE_CURRENT_BINARY_DIR}/slurm)
add_test(NAME slurm.start COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/../scripts/slurm-local.sh start ${_slurm_state})
add_test(NAME slurm.stop COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/../scripts/slurm-local.sh stop ${_slurm_state})
set_tests_properties(slurm.start PROPERTIES FIXTURES_SETUP slurm SKIP_RETURN_CODE 77 LABELS "slurm;sweep" TIMEOUT 120)
set_tests_properties(slurm.stop PROPERTIES FIXTURES_CLEANUP slurm LABELS "slurm;sweep" TIMEOUT 60)
add_test(NAME cli.sweep.slurm
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/apps/sweep_slurm.sh $<TARGET_FILE:convdyn> ${_fx}
                 ${CMAKE_CURRENT_BINARY_DIR}/sweep_slurm ${CONVDYN_PYTHON})
set_tests_properties(cli.sweep.slurm PROPERTIES LABELS "apps;sweep;slurm;slow" TIMEOUT 900 FIXTURES_REQUIRED slurm
                     RESOURCE_LOCK slurm SKIP_RETURN_CODE 77
                     ENVIRONMENT "SLURM_CONF=${_slurm_state}/slurm.conf;${_sweep_env}")
