// How `condense inspect` shows a .cdz file: one row per tensor (name, shape,
// encoding, params, bytes, density, bits per nonzero, ratio) and totals, or
// the same as JSON. The numbers come from the codec's size report; this only
// lays them out. Pure; thread-safe.
#ifndef CONDENSE_CLIENT_CDZ_TABLE_H_
#define CONDENSE_CLIENT_CDZ_TABLE_H_

#include <string>
#include <vector>

#include "codec/cdz_section.h"
#include "codec/size_report.h"
#include "nlohmann/json.hpp"

namespace condense::client {

// "300x784", "10", "scalar".
std::string FormatShape(const std::vector<uint64_t>& shape);

// `tensors` are the reader's, matched to the sizes by name for the shapes.
std::string RenderCdzTable(const codec::ModelSize& sizes,
                           const std::vector<codec::cdz::TensorInfo>& tensors);

// codec::ToJson(sizes) with each tensor's shape added.
nlohmann::json CdzJson(const codec::ModelSize& sizes,
                       const std::vector<codec::cdz::TensorInfo>& tensors);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_CDZ_TABLE_H_
