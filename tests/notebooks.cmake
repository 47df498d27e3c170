# Notebooks (notebooks/*.ipynb) executed headless against a fresh results file, and the Python loader's tests.
# `ctest -L notebooks`. Needs Debian's python3-h5py, python3-matplotlib, python3-ipykernel and jupyter-nbconvert
# (scripts/install-deps.sh installs them); without them the notebook tests are registered but disabled.
if(NOT DEFINED CONVDYN_PYTHON)
  set(CONVDYN_PYTHON /usr/bin/python3 CACHE FILEPATH "Debian's Python with python3-torch, numpy and h5py")
endif()

set(_nb_src ${CMAKE_CURRENT_SOURCE_DIR}/../notebooks)
get_filename_component(_nb_src ${_nb_src} ABSOLUTE)
set(_nb_bin ${CMAKE_CURRENT_BINARY_DIR}/notebooks)
set(_nb_results ${_nb_bin}/results.h5)
set(_nb_novec ${_nb_bin}/results_novectors.h5)
set(_nb_stab ${_nb_bin}/results_stability.h5)
set(_nb_unstable ${_nb_bin}/results_unstable.h5)
# A model `convdyn stability` finds STABLE (exit code 0), and one with UNSTABLE and UNDECIDED areas whose fixed
# points are not reached (oscillating; exit code 1).
set(_nb_ckpt ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/cordsnet_d4_lm_lr.pth)
set(_nb_ckpt_unstable ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/cordsnet_d4_param_module.pth)
set(_nb_images ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/inputs/u8_nchw.npy)
file(MAKE_DIRECTORY ${_nb_bin})

# A private kernel spec pinned to CONVDYN_PYTHON, so a `python3` kernel registered by the user or another
# interpreter (pyenv, conda) cannot take over: JUPYTER_PATH is searched before every other kernel folder.
file(WRITE ${_nb_bin}/jupyter/kernels/convdyn-python3/kernel.json
"{\n  \"argv\": [\"${CONVDYN_PYTHON}\", \"-m\", \"ipykernel_launcher\", \"-f\", \"{connection_file}\"],\n  \"display_name\": \"convdyn tests (${CONVDYN_PYTHON})\",\n  \"language\": \"python\"\n}\n")

execute_process(COMMAND ${CONVDYN_PYTHON} -c "import numpy, h5py, matplotlib, nbformat, nbconvert, ipykernel"
                RESULT_VARIABLE _nb_py_rc OUTPUT_QUIET ERROR_VARIABLE _nb_py_err)
if(_nb_py_rc EQUAL 0)
  set(_nb_disabled FALSE)
else()
  set(_nb_disabled TRUE)
  string(STRIP "${_nb_py_err}" _nb_py_err)
  message(STATUS "notebook tests disabled: ${CONVDYN_PYTHON} lacks numpy/h5py/matplotlib/nbconvert/ipykernel "
                 "(scripts/install-deps.sh installs them): ${_nb_py_err}")
endif()

# The notebooks and test_convdyn_results.py import the package convdyn (convdyn.results, convdyn.plot) from the
# build's python folder (python/CMakeLists.txt copies python/convdyn/*.py there next to the extension).
set(_nb_pythonpath ${CMAKE_BINARY_DIR}/python)
set(_nb_env
  PYTHONPATH=${_nb_pythonpath}
  JUPYTER_PATH=${_nb_bin}/jupyter
  JUPYTER_RUNTIME_DIR=${_nb_bin}/jupyter/runtime
  JUPYTER_PLATFORM_DIRS=1
  PYDEVD_DISABLE_FILE_VALIDATION=1
  PYTHONDONTWRITEBYTECODE=1)

# Fixture: a fresh results file (krylov-schur, LR, k=10, with eigenvectors) plus /stability (zero + 2 images) ...
add_test(NAME notebooks.results
         COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum '${_nb_ckpt}' --all --method krylov-schur --which LR --k 10 --vectors --quiet --force --out '${_nb_results}' >/dev/null && $<TARGET_FILE:convdyn> stability '${_nb_ckpt}' --inputs '${_nb_images}' --limit 2 --quiet --out '${_nb_results}' --append >/dev/null")
set_tests_properties(notebooks.results PROPERTIES FIXTURES_SETUP notebook_results LABELS "notebooks;slow" TIMEOUT 300)

# ... and three variants: spectra only (no eigenvectors, no /stability); a copy of the fixture with a synthetic
# /stability (UNSTABLE and UNDECIDED areas, an unreached fixed point); an unstable model whose fixed points are
# not reached (`convdyn stability` must exit with 1 = UNSTABLE there, not 0 and not 2 = error).
add_test(NAME notebooks.results_variants
         COMMAND bash -c "$<TARGET_FILE:convdyn> spectrum '${_nb_ckpt}' --all --which LR --k 6 --quiet --force --out '${_nb_novec}' >/dev/null && env 'PYTHONPATH=${_nb_pythonpath}' ${CONVDYN_PYTHON} '${_nb_src}/test_convdyn_results.py' --make-stability-copy '${_nb_results}' '${_nb_stab}' && $<TARGET_FILE:convdyn> spectrum '${_nb_ckpt_unstable}' --all --which LR --k 10 --quiet --force --out '${_nb_unstable}' >/dev/null && { $<TARGET_FILE:convdyn> stability '${_nb_ckpt_unstable}' --inputs '${_nb_images}' --limit 2 --quiet --out '${_nb_unstable}' --append >/dev/null; rc=$?; test $rc -eq 1 || { echo \"FAIL: convdyn stability exited with $rc, expected 1 (UNSTABLE)\" >&2; exit 1; }; }")
set_tests_properties(notebooks.results_variants PROPERTIES FIXTURES_SETUP notebook_results_variants
                     FIXTURES_REQUIRED notebook_results LABELS "notebooks;slow" TIMEOUT 300)

# The loader: good file (spectra + /stability), synthetic /stability, schema versions 1 and 5, corrupt, truncated,
# missing; committed notebooks have no outputs.
add_test(NAME notebooks.convdyn_results
         COMMAND ${CONVDYN_PYTHON} ${_nb_src}/test_convdyn_results.py ${_nb_results})
set_tests_properties(notebooks.convdyn_results PROPERTIES FIXTURES_REQUIRED notebook_results LABELS "notebooks;slow"
                     TIMEOUT 300 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;PYTHONPATH=${_nb_pythonpath}"
                     DISABLED ${_nb_disabled})

# convdyn_notebook_test(<name> <notebook> <results file> <fixture> [FIGURES <glob>...] [ABSENT <glob>...]
#                       [OUTPUT_CONTAINS <text>])
# Executes the notebook with nbconvert (a cell error fails the test), checks the PNGs it wrote with
# notebooks/check_figures.py (each FIGURES glob must match a PNG > 5 KB, no ABSENT glob may match), and
# optionally that the executed notebook's outputs contain a text.
function(convdyn_notebook_test name notebook results fixture)
  cmake_parse_arguments(PARSE_ARGV 4 _a "" "OUTPUT_CONTAINS" "FIGURES;ABSENT")
  set(_out ${_nb_bin}/${name})
  set(_checks "")
  foreach(_g IN LISTS _a_FIGURES)
    string(APPEND _checks " '${_g}'")
  endforeach()
  foreach(_g IN LISTS _a_ABSENT)
    string(APPEND _checks " --absent '${_g}'")
  endforeach()
  set(_grep "")
  if(_a_OUTPUT_CONTAINS)
    set(_grep " && (grep -qF -- '${_a_OUTPUT_CONTAINS}' '${_out}/${notebook}.ipynb' || (echo 'FAIL: executed notebook lacks: ${_a_OUTPUT_CONTAINS}' >&2 && false))")
  endif()
  add_test(NAME notebooks.${name}
           COMMAND bash -c "rm -rf '${_out}' && mkdir -p '${_out}/figures' && ${CONVDYN_PYTHON} -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=convdyn-python3 --ExecutePreprocessor.timeout=240 --output-dir '${_out}' '${_nb_src}/${notebook}.ipynb' && ${CONVDYN_PYTHON} '${_nb_src}/check_figures.py' '${_out}/figures'${_checks}${_grep}"
           WORKING_DIRECTORY ${_nb_src})
  set_tests_properties(notebooks.${name} PROPERTIES
                       FIXTURES_REQUIRED ${fixture} LABELS "notebooks;slow" TIMEOUT 300 DISABLED ${_nb_disabled}
                       ENVIRONMENT "${_nb_env};CONVDYN_RESULTS=${results};CONVDYN_FIGURES=${_out}/figures")
endfunction()

convdyn_notebook_test(spectra spectra ${_nb_results} notebook_results
  FIGURES spectra_eigenvalues.png spectra_discrete_map.png spectra_residuals.png)
convdyn_notebook_test(eigenvectors eigenvectors ${_nb_results} notebook_results
  FIGURES eigenvector_area_conv.0_0_maps.png eigenvector_area_conv.0_0_channel_energy.png)
set(_nb_stability_figures stability_margins.png stability_verdicts.png stability_certificates.png
    stability_fixed_points.png stability_fixed_point_residuals.png)
convdyn_notebook_test(stability stability ${_nb_results} notebook_results
  FIGURES ${_nb_stability_figures} OUTPUT_CONTAINS "model verdict: STABLE")

# Degraded inputs: no eigenvectors (a message, no figure, no error); no /stability (spectra margins only);
# a synthetic /stability with an unreached fixed point; an unstable model with no fixed point reached.
convdyn_notebook_test(eigenvectors_without_vectors eigenvectors ${_nb_novec} notebook_results_variants
  ABSENT "*.png" OUTPUT_CONTAINS "--vectors")
convdyn_notebook_test(stability_without_group stability ${_nb_novec} notebook_results_variants
  FIGURES stability_margins.png ABSENT stability_verdicts.png stability_certificates.png "stability_fixed_point*.png"
  OUTPUT_CONTAINS "No /stability group")
convdyn_notebook_test(stability_synthetic stability ${_nb_stab} notebook_results_variants
  FIGURES ${_nb_stability_figures} OUTPUT_CONTAINS "diverging")
convdyn_notebook_test(stability_unstable stability ${_nb_unstable} notebook_results_variants
  FIGURES ${_nb_stability_figures} OUTPUT_CONTAINS "model verdict: UNSTABLE")

# The Python API walkthrough on the demo checkpoint (its own results file, written by the notebook).
convdyn_notebook_test(python_api python_api ${_nb_results} notebook_results
  FIGURES python_api_eigenvalues.png python_api_margins.png OUTPUT_CONTAINS "model verdict:")

# Spectra across training: a sweep (spectrum --all and stability, apps/demo/snapshots/sweep.json) over the demo's
# training snapshots with two local workers, merged; the notebook plots it.
set(_nb_training ${_nb_bin}/training_sweep)
add_test(NAME notebooks.training_sweep
         COMMAND bash -c "rm -rf '${_nb_training}' && $<TARGET_FILE:convdyn> sweep plan --plan-file '${CMAKE_CURRENT_SOURCE_DIR}/../apps/demo/snapshots/sweep.json' --out '${_nb_training}' -q && $<TARGET_FILE:convdyn> sweep submit '${_nb_training}' --tasks 4 --local 2 2>/dev/null")
set_tests_properties(notebooks.training_sweep PROPERTIES FIXTURES_SETUP notebook_training LABELS "notebooks;sweep;slow"
                     TIMEOUT 300)
convdyn_notebook_test(training training ${_nb_training}/merged.h5 notebook_training
  FIGURES training_rightmost.png training_margins.png OUTPUT_CONTAINS "epoch 3.00: model verdict")

# Pseudospectra of one demo area (convdyn pseudospectrum, a coarse grid) drawn by the notebook.
set(_nb_pseudo ${_nb_bin}/results_pseudospectrum.h5)
add_test(NAME notebooks.pseudospectrum_results
         COMMAND $<TARGET_FILE:convdyn> pseudospectrum ${CMAKE_CURRENT_SOURCE_DIR}/../apps/demo/cordsnet_fmnist_d4.pth
                 --layer area_conv.1 --grid 32 --quiet --force --out ${_nb_pseudo})
set_tests_properties(notebooks.pseudospectrum_results PROPERTIES FIXTURES_SETUP notebook_pseudospectrum
                     LABELS "notebooks;slow" TIMEOUT 300)
convdyn_notebook_test(pseudospectra pseudospectra ${_nb_pseudo} notebook_pseudospectrum
  FIGURES pseudospectrum_area_conv.1.png OUTPUT_CONTAINS "distance to instability:")
convdyn_notebook_test(pseudospectra_without_group pseudospectra ${_nb_novec} notebook_results_variants
  ABSENT "*.png" OUTPUT_CONTAINS "No pseudospectrum in")
