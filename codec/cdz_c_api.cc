// The C API (codec/include/cdz.h) over CdzReader. Exceptions never cross the
// C boundary: allocation failure becomes CDZ_RESOURCE_EXHAUSTED.
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "codec/cdz_reader.h"
#include "codec/dtype.h"
#include "codec/file_io.h"
#include "codec/include/cdz.h"
#include "nlohmann/json.hpp"

struct cdz_reader {
  std::unique_ptr<condense::codec::CdzReader> reader;
  uint64_t max_scratch_bytes = 0;
};

struct cdz_scratch {
  condense::codec::DecodeScratch buffers;
};

namespace {

using condense::codec::CdzReader;
using condense::codec::DType;

thread_local std::string last_error;

cdz_status Fail(cdz_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

cdz_status FromStatus(const absl::Status& s) {
  if (s.ok()) {
    last_error.clear();
    return CDZ_OK;
  }
  cdz_status code = CDZ_INTERNAL;
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      code = CDZ_INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kNotFound:
      code = CDZ_NOT_FOUND;
      break;
    case absl::StatusCode::kOutOfRange:
      code = CDZ_OUT_OF_RANGE;
      break;
    case absl::StatusCode::kDataLoss:
      code = CDZ_DATA_LOSS;
      break;
    case absl::StatusCode::kResourceExhausted:
      code = CDZ_RESOURCE_EXHAUSTED;
      break;
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kFailedPrecondition:  // A newer major version.
      code = CDZ_UNIMPLEMENTED;
      break;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      code = CDZ_IO_ERROR;
      break;
    default:
      break;
  }
  return Fail(code, std::string{s.message()});
}

// Runs f, turning a C++ exception (only std::bad_alloc is expected) into a
// status, since none may unwind into C.
template <typename F>
cdz_status Guard(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Fail(CDZ_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return Fail(CDZ_INTERNAL, e.what());
  } catch (...) {
    return Fail(CDZ_INTERNAL, "unknown exception");
  }
}

cdz_status Open(
    absl::StatusOr<std::unique_ptr<condense::codec::RandomAccessFile>> file,
    const cdz_options* options, cdz_reader** out) {
  if (!file.ok()) return FromStatus(file.status());
  condense::codec::ReaderOptions reader_options;
  if (options != nullptr && options->max_tensor_elements != 0) {
    reader_options.max_tensor_elements = options->max_tensor_elements;
  }
  auto reader = CdzReader::Open(std::move(*file), reader_options);
  if (!reader.ok()) return FromStatus(reader.status());
  auto handle = std::make_unique<cdz_reader>();
  handle->reader = std::move(*reader);
  handle->max_scratch_bytes =
      options != nullptr ? options->max_scratch_bytes : 0;
  *out = handle.release();
  last_error.clear();
  return CDZ_OK;
}

}  // namespace

extern "C" {

int cdz_api_version(void) { return CDZ_API_VERSION; }

const char* cdz_last_error(void) { return last_error.c_str(); }

size_t cdz_dtype_size(cdz_dtype dtype) {
  return condense::codec::DTypeSize(static_cast<DType>(dtype));
}

const char* cdz_dtype_name(cdz_dtype dtype) {
  // DTypeName returns views of string literals, which are NUL-terminated.
  return condense::codec::DTypeName(static_cast<DType>(dtype)).data();
}

cdz_status cdz_open_file(const char* path, const cdz_options* options,
                         cdz_reader** out) {
  if (path == nullptr || out == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT, "cdz_open_file: path and out are needed");
  }
  *out = nullptr;
  return Guard([&] {
    return Open(condense::codec::OpenRandomAccessFile(path), options, out);
  });
}

cdz_status cdz_open_memory(const void* data, size_t size,
                           const cdz_options* options, cdz_reader** out) {
  if ((data == nullptr && size != 0) || out == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_open_memory: data (for a non-zero size) and out are "
                "needed");
  }
  *out = nullptr;
  return Guard([&] {
    return Open(
        condense::codec::NewMemoryView(
            absl::string_view(static_cast<const char*>(data), size), "memory"),
        options, out);
  });
}

void cdz_close(cdz_reader* reader) { delete reader; }

void cdz_format_version(const cdz_reader* reader, uint16_t* major,
                        uint16_t* minor) {
  if (major != nullptr) *major = reader ? reader->reader->major_version() : 0;
  if (minor != nullptr) *minor = reader ? reader->reader->minor_version() : 0;
}

cdz_status cdz_manifest_json(const cdz_reader* reader, char* buffer,
                             size_t capacity, size_t* length) {
  if (reader == nullptr || length == nullptr ||
      (buffer == nullptr && capacity != 0)) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_manifest_json: reader and length are needed, and a "
                "buffer for a non-zero capacity");
  }
  return Guard([&] {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [key, value] : reader->reader->manifest()) j[key] = value;
    const std::string text = j.dump();
    *length = text.size();
    if (capacity == 0) {
      last_error.clear();
      return CDZ_OK;
    }
    const size_t n = std::min(text.size(), capacity - 1);
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
    if (n < text.size()) {
      return Fail(CDZ_OUT_OF_RANGE,
                  absl::StrCat("the manifest has ", text.size(),
                               " bytes; the buffer holds ", capacity - 1,
                               " and a NUL"));
    }
    last_error.clear();
    return CDZ_OK;
  });
}

size_t cdz_tensor_count(const cdz_reader* reader) {
  return reader ? reader->reader->tensors().size() : 0;
}

cdz_status cdz_tensor_info_at(const cdz_reader* reader, size_t index,
                              cdz_tensor_info* out) {
  if (reader == nullptr || out == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_tensor_info_at: reader and out are needed");
  }
  const auto& tensors = reader->reader->tensors();
  if (index >= tensors.size()) {
    return Fail(CDZ_OUT_OF_RANGE,
                absl::StrCat("tensor ", index, " requested; the file has ",
                             tensors.size()));
  }
  const auto& t = tensors[index];
  out->name = t.name.c_str();
  out->name_length = t.name.size();
  out->dtype = static_cast<cdz_dtype>(t.dtype);
  out->encoding = static_cast<cdz_encoding>(t.encoding);
  out->rank = static_cast<uint32_t>(t.shape.size());
  out->shape = t.shape.data();  // The reader's index never changes after open.
  out->numel = t.numel;
  out->stored_bytes = t.section_size;
  last_error.clear();
  return CDZ_OK;
}

cdz_status cdz_find_tensor(const cdz_reader* reader, const char* name,
                           size_t* index) {
  if (reader == nullptr || name == nullptr || index == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_find_tensor: reader, name and index are needed");
  }
  return Guard([&] {
    const auto found = reader->reader->Find(name);
    if (!found) {
      return Fail(CDZ_NOT_FOUND,
                  absl::StrCat("no tensor named '", name, "' in the file"));
    }
    *index = *found;
    last_error.clear();
    return CDZ_OK;
  });
}

cdz_status cdz_scratch_bytes(const cdz_reader* reader, size_t index,
                             cdz_dtype as, uint64_t* bytes) {
  if (reader == nullptr || bytes == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_scratch_bytes: reader and bytes are needed");
  }
  return Guard([&] {
    auto n = reader->reader->ScratchBytes(index, static_cast<DType>(as));
    if (!n.ok()) return FromStatus(n.status());
    *bytes = *n;
    last_error.clear();
    return CDZ_OK;
  });
}

cdz_scratch* cdz_scratch_new(void) { return new (std::nothrow) cdz_scratch(); }

void cdz_scratch_free(cdz_scratch* scratch) { delete scratch; }

cdz_status cdz_set_decode_threads(cdz_reader* reader, int threads) {
  if (reader == nullptr) {
    return Fail(CDZ_INVALID_ARGUMENT, "cdz_set_decode_threads: no reader");
  }
  reader->reader->set_decode_threads(threads);
  last_error.clear();
  return CDZ_OK;
}

cdz_status cdz_decode(const cdz_reader* reader, size_t index, cdz_dtype as,
                      void* out, size_t out_bytes, cdz_scratch* scratch) {
  if (reader == nullptr || (out == nullptr && out_bytes != 0)) {
    return Fail(CDZ_INVALID_ARGUMENT,
                "cdz_decode: reader is needed, and out for a non-zero size");
  }
  return Guard([&] {
    const DType dtype = static_cast<DType>(as);
    auto needed = reader->reader->ScratchBytes(index, dtype);
    if (!needed.ok()) return FromStatus(needed.status());
    if (reader->max_scratch_bytes != 0 && *needed > reader->max_scratch_bytes) {
      return Fail(CDZ_RESOURCE_EXHAUSTED,
                  absl::StrCat("decoding tensor '",
                               reader->reader->tensors()[index].name,
                               "' needs ", *needed,
                               " bytes of scratch; "
                               "max_scratch_bytes allows ",
                               reader->max_scratch_bytes,
                               ": raise it, or decode as F32 to need less"));
    }
    cdz_scratch local;
    cdz_scratch* s = scratch != nullptr ? scratch : &local;
    return FromStatus(reader->reader->DecodeTo(
        index, dtype, std::span<uint8_t>(static_cast<uint8_t*>(out), out_bytes),
        &s->buffers));
  });
}

}  // extern "C"
