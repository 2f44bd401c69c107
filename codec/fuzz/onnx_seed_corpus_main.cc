// Writes the ONNX fuzzer's seed corpus: the test zoo model, the same with
// one weight moved to external data (refused without a directory), and a
// model with no weights. Usage: onnx_seed_corpus DIR
#include <fstream>
#include <iostream>
#include <string>

#include "codec/onnx_test_util.h"

namespace {

bool Write(const std::string& path, const onnx::ModelProto& m) {
  std::ofstream out(path, std::ios::binary);
  return m.SerializeToOstream(&out) && out.good();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace condense::codec::testing;
  if (argc != 2) {
    std::cerr << "usage: onnx_seed_corpus DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  onnx::ModelProto zoo = ZooModel();
  bool ok = Write(dir + "/zoo.onnx", zoo);

  onnx::ModelProto external = zoo;
  onnx::TensorProto* w = external.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [key, value] :
       {std::pair{"location", "weights.bin"}, std::pair{"offset", "0"},
        std::pair{"length", "24"}}) {
    onnx::StringStringEntryProto* e = w->add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
  ok = ok && Write(dir + "/external.onnx", external);

  onnx::ModelProto empty;
  empty.set_ir_version(8);
  empty.mutable_graph()->set_name("empty");
  ok = ok && Write(dir + "/empty.onnx", empty);
  if (!ok) {
    std::cerr << "onnx_seed_corpus: cannot write to " << dir << "\n";
    return 1;
  }
  std::cout << "wrote 3 seeds to " << dir << "\n";
  return 0;
}
