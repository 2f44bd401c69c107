#include "proto/job_state.h"

namespace condense {

bool JobEnded(v1::Job::State state) {
  return state == v1::Job::SUCCEEDED || state == v1::Job::FAILED ||
         state == v1::Job::CANCELLED;
}

}  // namespace condense
