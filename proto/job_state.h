// Whether a job has ended: the one predicate behind Job.done, used by the
// server, the CLI and the web view alike. Thread-safe.
#ifndef CONDENSE_PROTO_JOB_STATE_H_
#define CONDENSE_PROTO_JOB_STATE_H_

#include "condense/v1/jobs.pb.h"

namespace condense {

// SUCCEEDED, FAILED or CANCELLED: nothing more will happen to the job.
bool JobEnded(v1::Job::State state);

}  // namespace condense

#endif  // CONDENSE_PROTO_JOB_STATE_H_
