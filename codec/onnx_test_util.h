// Builders shared by the ONNX tests and the ONNX fuzzer's seed corpus: small
// models with every way an ONNX file holds a weight.
#ifndef CONDENSE_CODEC_ONNX_TEST_UTIL_H_
#define CONDENSE_CODEC_ONNX_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace condense::codec::testing {

// Little-endian bytes of `v`.
std::string FloatBytes(const std::vector<float>& v);

// Makes `t` a float tensor named `name` holding `v` in raw_data.
void SetRawFloats(onnx::TensorProto* t, const std::string& name,
                  const std::vector<int64_t>& dims,
                  const std::vector<float>& v);

// Appends a node of type `op` to `g`, named after its op and position.
onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op,
                         const std::vector<std::string>& in,
                         const std::vector<std::string>& out);

// A model with every way a weight can be held: raw and typed initializers,
// a weight reaching MatMul through Transpose, an initializer shared by two
// nodes, a Constant node, an LSTM, a Gather table, a bias, a string tensor,
// and an If whose branch has its own initializer under a name the outer
// graph uses too.
onnx::ModelProto ZooModel();

}  // namespace condense::codec::testing

#endif  // CONDENSE_CODEC_ONNX_TEST_UTIL_H_
