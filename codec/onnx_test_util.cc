#include "codec/onnx_test_util.h"

namespace condense::codec::testing {

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

void SetRawFloats(onnx::TensorProto* t, const std::string& name,
                  const std::vector<int64_t>& dims,
                  const std::vector<float>& v) {
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(FloatBytes(v));
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op,
                         const std::vector<std::string>& in,
                         const std::vector<std::string>& out) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + std::to_string(g->node_size()));
  for (const auto& s : in) n->add_input(s);
  for (const auto& s : out) n->add_output(s);
  return n;
}

onnx::ModelProto ZooModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("zoo");
  SetRawFloats(g->add_initializer(), "fc.w", {2, 3}, {1, 2, 3, 4, 5, 6});
  SetRawFloats(g->add_initializer(), "fc.b", {3}, {0.5f, -0.5f, 0});
  onnx::TensorProto* conv = g->add_initializer();  // Typed float_data.
  conv->set_name("conv.w");
  conv->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1, 1, 2, 2}) conv->add_dims(d);
  for (float f : {1.f, -1.f, 2.f, -2.f}) conv->add_float_data(f);
  onnx::TensorProto* half = g->add_initializer();  // f16 bits in int32_data.
  half->set_name("emb");
  half->set_data_type(onnx::TensorProto::FLOAT16);
  for (int64_t d : {2, 2}) half->add_dims(d);
  for (int v : {0x3C00, 0x4000, 0xBC00, 0x0000}) half->add_int32_data(v);
  onnx::TensorProto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(-1);
  shape->add_int64_data(3);
  // Large enough to go to external data when a copy has it.
  SetRawFloats(g->add_initializer(), "lstm.W", {1, 8, 40},
               std::vector<float>(320, 1));
  SetRawFloats(g->add_initializer(), "lstm.R", {1, 8, 2},
               std::vector<float>(16, 2));
  onnx::TensorProto* text = g->add_initializer();  // Left alone.
  text->set_name("labels");
  text->set_data_type(onnx::TensorProto::STRING);
  text->add_dims(1);
  text->add_string_data("cat");

  AddNode(g, "Transpose", {"fc.w"}, {"fc.wt"});
  AddNode(g, "MatMul", {"x", "fc.wt"}, {"h"});
  AddNode(g, "Add", {"h", "fc.b"}, {"h2"});
  AddNode(g, "Add", {"h2", "fc.b"}, {"h3"});  // fc.b shared by two nodes.
  AddNode(g, "Reshape", {"h3", "shape"}, {"h4"});
  AddNode(g, "Conv", {"img", "conv.w"}, {"c"});
  AddNode(g, "Gather", {"emb", "ids"}, {"e"});
  AddNode(g, "LSTM", {"seq", "lstm.W", "lstm.R"}, {"y"});
  onnx::NodeProto* k = AddNode(g, "Constant", {}, {"k"});
  onnx::AttributeProto* a = k->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  SetRawFloats(a->mutable_t(), "", {2, 2}, {9, 8, 7, 6});
  AddNode(g, "MatMul", {"h4", "k"}, {"out"});
  onnx::NodeProto* branch = AddNode(g, "If", {"cond"}, {"z"});
  branch->set_name("if0");
  onnx::AttributeProto* then = branch->add_attribute();
  then->set_name("then_branch");
  then->set_type(onnx::AttributeProto::GRAPH);
  onnx::GraphProto* sub = then->mutable_g();
  SetRawFloats(sub->add_initializer(), "fc.w", {2, 2}, {1, 1, 1, 1});
  AddNode(sub, "Gemm", {"out", "fc.w"}, {"z"});
  return m;
}

}  // namespace condense::codec::testing
