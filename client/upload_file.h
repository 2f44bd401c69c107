// Uploading one local file as a blob with a progress display on stderr;
// shared by `upload model` and `upload dataset`. Not thread-safe (writes to
// the command's streams).
#ifndef CONDENSE_CLIENT_UPLOAD_FILE_H_
#define CONDENSE_CLIENT_UPLOAD_FILE_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/cli_context.h"
#include "client/rpc/connection.h"
#include "condense/v1/common.pb.h"

namespace condense::client {

// Resumes an earlier interrupted upload of the same file (the transfer
// library derives the upload id from the digest).
absl::StatusOr<v1::Digest> UploadWithProgress(const CommandEnv& env,
                                              const Connection& connection,
                                              const std::string& path);

// `upload dataset`, registered under the `upload` command.
void AddUploadDatasetCommand(CLI::App* upload, const CommandEnv* env,
                             CommandAction* action);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_UPLOAD_FILE_H_
