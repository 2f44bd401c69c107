// cdz: the codec's command-line tool. Packs an already pruned and quantized
// safetensors state dict into a .cdz file (losslessly), inspects a .cdz file,
// verifies it, and decompresses it back to safetensors. It needs no LibTorch.
//
// Exit codes: 0 success, 1 the operation failed, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "codec/alternatives.h"
#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/cdz_writer.h"
#include "codec/onnx_export.h"
#include "codec/safetensors.h"

namespace condense::codec {
namespace {

struct PackOptions {
  std::string input;
  std::string output;
  int gap_bits_fc = 5;    // Deep Compression: 5 bits for fc layers...
  int gap_bits_conv = 8;  // ...and 8 for conv layers.
  int max_centroids = 256;
  std::vector<std::string> manifest;
};

// The distinct nonzero values of `v` if there are at most `limit` of them.
std::optional<std::vector<float>> SmallCodebook(const std::vector<float>& v,
                                                int limit) {
  std::unordered_set<float> seen;
  for (float x : v) {
    if (x == 0.0f || !std::isfinite(x)) {
      if (std::isfinite(x)) continue;
      return std::nullopt;
    }
    if (seen.insert(x).second && static_cast<int>(seen.size()) > limit) {
      return std::nullopt;
    }
  }
  std::vector<float> codebook(seen.begin(), seen.end());
  std::sort(codebook.begin(), codebook.end());
  if (codebook.empty()) codebook.push_back(1.0f);  // An all-zero tensor.
  return codebook;
}

absl::Status Pack(const PackOptions& o) {
  auto in = SafetensorsReader::OpenPath(o.input);
  if (!in.ok()) return in.status();
  Manifest manifest = (*in)->metadata();
  manifest["producer"] = "cdz pack";
  for (const auto& kv : o.manifest) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--manifest wants KEY=VALUE, got '", kv, "'"));
    }
    manifest[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto file = NewAtomicFile(o.output);
  if (!file.ok()) return file.status();
  auto writer = CdzWriter::Create(*std::move(file), manifest);
  if (!writer.ok()) return writer.status();
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  for (const auto& e : (*in)->entries()) {
    std::optional<std::vector<float>> codebook;
    if (IsFloatingDType(e.dtype) && e.shape.size() >= 2) {
      if (auto s = (*in)->ReadFloat32(e, &values); !s.ok()) return s;
      codebook = SmallCodebook(values, o.max_centroids);
    }
    absl::Status s;
    if (codebook) {
      const int gap_bits =
          e.shape.size() == 2 ? o.gap_bits_fc : o.gap_bits_conv;
      s = (*writer)->AddQuantized(e.name, e.dtype, e.shape, values, *codebook,
                                  {.gap_bits = gap_bits});
    } else {
      if (auto rs = (*in)->ReadBytes(e, &bytes); !rs.ok()) return rs;
      s = (*writer)->AddRaw(e.name, e.dtype, e.shape, bytes);
    }
    if (!s.ok()) return s;
  }
  if (auto s = (*writer)->Finish(); !s.ok()) return s;
  std::cout << FormatSizeTable((*writer)->sizes());
  return absl::OkStatus();
}

absl::Status Inspect(const std::string& path, const std::string& output) {
  auto reader = CdzReader::OpenPath(path);
  if (!reader.ok()) return reader.status();
  auto sizes = (*reader)->Sizes();
  if (!sizes.ok()) return sizes.status();
  if (auto s = AddAlternatives(**reader, &*sizes); !s.ok()) return s;
  if (output == "json") {
    nlohmann::json j = ToJson(*sizes);
    j["format_version"] = absl::StrCat((*reader)->major_version(), ".",
                                       (*reader)->minor_version());
    j["manifest"] = (*reader)->manifest();
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return absl::OkStatus();
  }
  std::cout << path << ": .cdz format " << (*reader)->major_version() << "."
            << (*reader)->minor_version() << ", " << (*reader)->tensors().size()
            << " tensors\n";
  for (const auto& [k, v] : (*reader)->manifest()) {
    std::cout << "  " << k << ": " << ManifestValueForDisplay(k, v) << "\n";
  }
  std::cout << FormatSizeTable(*sizes);
  return absl::OkStatus();
}

// Threads for the parts of a tensor that decode independently (0: every
// core).
ReaderOptions DecodeThreads(int threads) {
  ReaderOptions o;
  o.decode_threads =
      threads > 0
          ? threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

absl::Status Verify(const std::string& path, int threads) {
  auto reader = CdzReader::OpenPath(path, DecodeThreads(threads));
  if (!reader.ok()) return reader.status();
  DecodedTensor t;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    if (auto s = (*reader)->Decode(i, &t); !s.ok()) return s;
  }
  std::cout << path << ": OK, " << (*reader)->tensors().size()
            << " tensors decoded and checksums verified\n";
  return absl::OkStatus();
}

absl::Status Decompress(const std::string& path, const std::string& output,
                        int threads) {
  auto reader = CdzReader::OpenPath(path, DecodeThreads(threads));
  if (!reader.ok()) return reader.status();
  if (auto s = DecompressModel(**reader, output); !s.ok()) return s;
  std::cout << "wrote " << output << " (" << (*reader)->tensors().size()
            << " tensors)\n";
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{"cdz: pack, inspect, verify and decompress .cdz files"};
  app.require_subcommand(1);

  PackOptions pack;
  auto* pack_cmd = app.add_subcommand(
      "pack",
      "Pack a pruned and quantized safetensors state dict into .cdz "
      "(lossless: floating tensors of rank >= 2 with at most --max-centroids "
      "distinct nonzero values are compressed, the rest stored raw)");
  pack_cmd->add_option("input", pack.input, "safetensors file")->required();
  pack_cmd->add_option("-o,--output", pack.output, ".cdz file to write")
      ->required();
  pack_cmd
      ->add_option("--gap-bits-fc", pack.gap_bits_fc,
                   "gap bits for 2-D (fc) weights")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  pack_cmd
      ->add_option("--gap-bits-conv", pack.gap_bits_conv,
                   "gap bits for weights of rank > 2 (conv)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  pack_cmd
      ->add_option("--max-centroids", pack.max_centroids,
                   "largest codebook to use")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  pack_cmd->add_option("--manifest", pack.manifest,
                       "KEY=VALUE metadata to store (repeatable)");

  std::string path, output, format = "table";
  auto* inspect_cmd = app.add_subcommand("inspect", "Per-tensor size table");
  inspect_cmd->add_option("file", path, ".cdz file")->required();
  inspect_cmd->add_option("--output", format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  auto* verify_cmd = app.add_subcommand(
      "verify", "Decode every tensor and check every checksum");
  verify_cmd->add_option("file", path, ".cdz file")->required();
  int threads = 0;
  const std::string threads_help =
      "threads for one tensor's independent parts (the segments of large "
      "context-coded tensors); 0: every core";
  verify_cmd->add_option("--threads", threads, threads_help)
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  auto* decompress_cmd =
      app.add_subcommand("decompress",
                         "Decode to a safetensors file, to the ONNX model it "
                         "came from (an output ending in .onnx), or to the "
                         "sharded checkpoint's directory it came from");
  decompress_cmd->add_option("file", path, ".cdz file")->required();
  decompress_cmd
      ->add_option("-o,--output", output,
                   "safetensors file, .onnx file (for a .cdz made from "
                   "ONNX), or a directory for a sharded checkpoint")
      ->required();
  decompress_cmd->add_option("--threads", threads, threads_help)
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  absl::Status s;
  if (*pack_cmd) s = Pack(pack);
  if (*inspect_cmd) s = Inspect(path, format);
  if (*verify_cmd) s = Verify(path, threads);
  if (*decompress_cmd) s = Decompress(path, output, threads);
  if (!s.ok()) {
    std::cerr << "cdz: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace condense::codec

int main(int argc, char** argv) {
  try {
    return condense::codec::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cdz: " << e.what() << "\n";
    return 1;
  }
}
