// The table of specs, model formats and data that a job may or may not run
// on, shared by the server's test (CreateJob must refuse) and the engine's
// (RunCompression must refuse), so the two can never disagree on a rule.
// For tests only; no LibTorch.
#ifndef CONDENSE_WORKER_ENGINE_TESTING_SPEC_FIT_CASES_H_
#define CONDENSE_WORKER_ENGINE_TESTING_SPEC_FIT_CASES_H_

#include <string>
#include <vector>

namespace condense::engine::testing {

struct SpecFitCase {
  std::string name;
  std::string preset;
  std::vector<std::string> overrides;
  bool safetensors = false;  // Else TorchScript.
  bool has_data = false;
  // A substring of the refusal; empty when the job is accepted.
  std::string refusal;
};

inline std::vector<SpecFitCase> SpecFitCases() {
  return {
      {"DeepCompressionWithoutData",
       "deep-compression",
       {},
       false,
       false,
       "no data was given"},
      {"DsdWithoutData", "dsd", {}, false, false, "no data was given"},
      {"QuantizeTrainingWithoutData",
       "quantize",
       {"stages[0].quantize.epochs=2"},
       false,
       false,
       "no data was given"},
      {"StateDictWithData",
       "quantize",
       {},
       true,
       true,
       "cannot be run on data"},
      {"StateDictRetrained", "prune", {}, true, false, "safetensors"},
      {"StateDictDsd", "dsd+deep-compression", {}, true, false, "safetensors"},
      {"QuantizeDataFree", "quantize", {}, false, false, ""},
      {"StateDictQuantize", "quantize", {}, true, false, ""},
      {"PruneWithoutRetraining",
       "prune",
       {"stages[0].prune.epochs_per_step=0"},
       false,
       false,
       ""},
      {"DeepCompressionWithData", "deep-compression", {}, false, true, ""},
      {"SearchWithoutData", "auto", {}, false, false, "no data was given"},
      {"SearchOnAStateDict", "auto", {}, true, false, "safetensors"},
  };
}

}  // namespace condense::engine::testing

#endif  // CONDENSE_WORKER_ENGINE_TESTING_SPEC_FIT_CASES_H_
