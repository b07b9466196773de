# Generates hostile and challenge-profile streams with every fault, then runs
# engines_compare on them (see CMakeLists.txt). -DGEN -DCOMPARE -DWORK.
file(MAKE_DIRECTORY ${WORK})
set(faults --malformed-prob 0.05 --missing-uid-prob 0.02 --missing-ts-prob 0.02 --dup-key-prob 0.02
    --bad-type-prob 0.03 --uid-number-prob 0.05 --escaped-key-prob 0.05 --escaped-uid-prob 0.05
    --ts-string-prob 0.05 --ts-float-prob 0.05 --flip-prob 0.02 --crlf-prob 0.1 --blank-prob 0.01)
foreach(profile hostile challenge)
  foreach(unit s ms)
    set(out ${WORK}/${profile}-${unit}.jsonl)
    execute_process(COMMAND ${GEN} --count 20000 --seed 11 --profile ${profile} --ts-unit ${unit} ${faults}
                    --output ${out} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "uniqd-gen failed (${rc}) for ${profile} ${unit}")
    endif()
    execute_process(COMMAND ${COMPARE} --ts-unit ${unit} ${out} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "engines differ on ${out}")
    endif()
    file(REMOVE ${out})
  endforeach()
endforeach()
