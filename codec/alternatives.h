// What each quantized tensor of a .cdz file would have cost in every
// quantized encoding: `cdz inspect` and `condense inspect` show it beside the
// encoding the writer picked. The file records only the one it stores, so
// each tensor is decoded and encoded again (deterministically: the stored
// encoding's figure equals its stored size). Thread-safe as CdzReader is.
#ifndef CONDENSE_CODEC_ALTERNATIVES_H_
#define CONDENSE_CODEC_ALTERNATIVES_H_

#include "absl/status/status.h"
#include "codec/cdz_reader.h"
#include "codec/size_report.h"

namespace condense::codec {

// Fills sizes->tensors[i].alternatives for the quantized tensors; `sizes`
// must be reader.Sizes().
absl::Status AddAlternatives(const CdzReader& reader, ModelSize* sizes);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_ALTERNATIVES_H_
