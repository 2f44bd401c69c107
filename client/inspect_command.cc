// `condense inspect FILE.cdz` and `condense decompress FILE.cdz -o OUT`:
// local, no server, through the codec library.
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/cdz_table.h"
#include "client/commands.h"
#include "codec/alternatives.h"
#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/file_io.h"
#include "codec/onnx_export.h"

namespace condense::client {
namespace {

int RunInspect(const CommandEnv& env, const std::string& path) {
  auto reader = codec::CdzReader::OpenPath(path);
  if (!reader.ok()) return Fail(env, reader.status());
  auto sizes = (*reader)->Sizes();
  if (!sizes.ok()) return Fail(env, sizes.status());
  if (auto s = codec::AddAlternatives(**reader, &*sizes); !s.ok()) {
    return Fail(env, s);
  }
  const std::string version =
      absl::StrCat((*reader)->major_version(), ".", (*reader)->minor_version());
  if (env.json()) {
    nlohmann::json j = CdzJson(*sizes, (*reader)->tensors());
    j["file"] = path;
    j["format_version"] = version;
    j["manifest"] = (*reader)->manifest();
    *env.io.out << j.dump(2, ' ', false,
                          nlohmann::json::error_handler_t::replace)
                << "\n";
    return 0;
  }
  *env.io.out << path << ": .cdz format " << version << ", "
              << (*reader)->tensors().size() << " tensors\n";
  for (const auto& [k, v] : (*reader)->manifest()) {
    *env.io.out << "  " << k << ": " << codec::ManifestValueForDisplay(k, v)
                << "\n";
  }
  *env.io.out << RenderCdzTable(*sizes, (*reader)->tensors());
  return 0;
}

int RunDecompress(const CommandEnv& env, const std::string& path,
                  const std::string& output) {
  auto reader = codec::CdzReader::OpenPath(path);
  if (!reader.ok()) return Fail(env, reader.status());
  absl::Status s = codec::DecompressModel(**reader, output);
  if (!s.ok()) return Fail(env, s);
  if (env.json()) {
    *env.io.out << nlohmann::json{{"file", output},
                                  {"tensors", (*reader)->tensors().size()}}
                       .dump(2)
                << "\n";
  } else {
    *env.io.out << output << "\n";
  }
  return 0;
}

}  // namespace

void AddInspectCommand(CLI::App* app, const CommandEnv* env,
                       CommandAction* action) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app->add_subcommand(
      "inspect", "Per-tensor size table of a .cdz file (local, no server)");
  cmd->add_option("file", *path, "the .cdz file")->required();
  cmd->callback([env, action, path] {
    *action = [env, path] { return RunInspect(*env, *path); };
  });
}

void AddDecompressCommand(CLI::App* app, const CommandEnv* env,
                          CommandAction* action) {
  auto paths = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* cmd = app->add_subcommand(
      "decompress",
      "Decode a .cdz file to a dense safetensors file, to the ONNX model "
      "it came from, or to the sharded checkpoint's directory it came from "
      "(local, no server)");
  cmd->add_option("file", paths->first, "the .cdz file")->required();
  cmd->add_option("-o", paths->second,
                  "the safetensors file, or .onnx file (for a .cdz made from "
                  "ONNX), or directory (for a sharded checkpoint) to write")
      ->required();
  cmd->callback([env, action, paths] {
    *action = [env, paths] {
      return RunDecompress(*env, paths->first, paths->second);
    };
  });
}

}  // namespace condense::client
