/* cdz.h: the C API of condense's .cdz decoder (libcdz).
 *
 * Opens a .cdz container (from a path, or from bytes the caller holds in
 * memory, e.g. a model linked into a program or kept in flash), lists its
 * tensors and decodes any one of them into a buffer the caller provides.
 * docs/c_api.md shows how to embed it; docs/format.md is the file format.
 *
 * Ownership: a cdz_reader is created by cdz_open_file or cdz_open_memory and
 * freed by cdz_close. Strings and shapes in a cdz_tensor_info belong to the
 * reader and stay valid until cdz_close. Decoded values go only to the
 * caller's buffer: the library never returns memory for the caller to free.
 *
 * Memory: opening reads the file's index (one small allocation per tensor).
 * A decode allocates scratch (the tensor's stored bytes, plus float32
 * values when decoding a compressed tensor to a type other than F32), at
 * most cdz_options.max_scratch_bytes when that is set; cdz_scratch_bytes
 * tells the amount in advance. Reusing one cdz_scratch across decodes keeps
 * the allocation instead of repeating it.
 *
 * Thread-safety: after open (and cdz_set_decode_threads, if called), one
 * reader may be used from several threads at once (each with its own
 * cdz_scratch). cdz_last_error is per thread. The library starts threads
 * only when cdz_set_decode_threads asks for more than one.
 *
 * Every function that can fail returns a cdz_status; on failure,
 * cdz_last_error() says what was wrong, naming the tensor, and what to do. */
#ifndef CONDENSE_CODEC_INCLUDE_CDZ_H_
#define CONDENSE_CODEC_INCLUDE_CDZ_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CDZ_API __attribute__((visibility("default")))
#else
#define CDZ_API
#endif

/* The version of this API; cdz_api_version() returns the library's. 2 added
 * cdz_set_decode_threads. */
#define CDZ_API_VERSION 2

typedef enum cdz_status {
  CDZ_OK = 0,
  CDZ_INVALID_ARGUMENT = 1,   /* A bad argument (null pointer, wrong size),
                               * or a file that is not a .cdz at all. */
  CDZ_NOT_FOUND = 2,          /* No such file or tensor name. */
  CDZ_OUT_OF_RANGE = 3,       /* Tensor index past the end. */
  CDZ_DATA_LOSS = 4,          /* The file is damaged or not a .cdz. */
  CDZ_RESOURCE_EXHAUSTED = 5, /* Over max_scratch_bytes or a size limit. */
  CDZ_UNIMPLEMENTED = 6,      /* A newer major format version: upgrade. */
  CDZ_IO_ERROR = 7,           /* The operating system refused a read. */
  CDZ_INTERNAL = 8
} cdz_status;

/* Element types, numbered as in the file format. */
typedef enum cdz_dtype {
  CDZ_F32 = 1,
  CDZ_F16 = 2,
  CDZ_BF16 = 3,
  CDZ_F64 = 4,
  CDZ_I64 = 5,
  CDZ_I32 = 6,
  CDZ_I16 = 7,
  CDZ_I8 = 8,
  CDZ_U8 = 9,
  CDZ_BOOL = 10,
  /* Makes the enum int-sized, so any int a caller passes is a value the
     library may check (and refuse) without undefined behaviour. */
  CDZ_DTYPE_MAX_ENUM = 0x7FFFFFFF
} cdz_dtype;

/* How a tensor is stored, numbered as in the file format. */
typedef enum cdz_encoding {
  CDZ_RAW = 0,
  CDZ_SPARSE_QUANTIZED = 1, /* Huffman-coded positions and indices. */
  CDZ_CONTEXT_CODED = 2,    /* Adaptive range coding. */
  CDZ_FIXED_WIDTH = 3,      /* Bit mask and fixed-width indices. */
  CDZ_ENCODING_MAX_ENUM = 0x7FFFFFFF
} cdz_encoding;

#define CDZ_MAX_RANK 8

typedef struct cdz_options {
  /* Tensors claiming more elements are refused (0: 2^32). */
  uint64_t max_tensor_elements;
  /* A decode needing more scratch is refused with
   * CDZ_RESOURCE_EXHAUSTED (0: no limit). */
  uint64_t max_scratch_bytes;
} cdz_options;

typedef struct cdz_tensor_info {
  const char* name;   /* NUL-terminated; owned by the reader. */
  size_t name_length; /* Bytes, without the NUL. */
  cdz_dtype dtype;    /* Of the tensor before compression. */
  cdz_encoding encoding;
  uint32_t rank;
  const uint64_t* shape; /* rank dims, row-major; owned by the reader. */
  uint64_t numel;        /* Product of the dims (1 for rank 0). */
  uint64_t stored_bytes; /* Its section in the file. */
} cdz_tensor_info;

typedef struct cdz_reader cdz_reader;
/* Buffers reused across decodes; one per thread. */
typedef struct cdz_scratch cdz_scratch;

CDZ_API int cdz_api_version(void);

/* The message of the last failure on this thread ("" if none); valid until
 * the next call into the library on this thread. */
CDZ_API const char* cdz_last_error(void);

/* Size in bytes of one element of dtype (0 for an unknown value). */
CDZ_API size_t cdz_dtype_size(cdz_dtype dtype);
/* "F32", "BF16", ... ("UNKNOWN" for an unknown value). */
CDZ_API const char* cdz_dtype_name(cdz_dtype dtype);

/* Opens and verifies the framing of a file; options may be NULL. */
CDZ_API cdz_status cdz_open_file(const char* path, const cdz_options* options,
                                 cdz_reader** out);
/* The same over `size` bytes at `data`, which the caller keeps alive and
 * unchanged until cdz_close (they are not copied). */
CDZ_API cdz_status cdz_open_memory(const void* data, size_t size,
                                   const cdz_options* options,
                                   cdz_reader** out);
/* Frees the reader; NULL is allowed. */
CDZ_API void cdz_close(cdz_reader* reader);

/* Threads one decode may use where a tensor has independent parts (the
 * segments of a context-coded tensor of 8M elements or more). 1, the
 * default, starts no thread: an embedded caller gets none it did not ask
 * for. Values below 1 mean 1. Call it before decoding, not while another
 * thread decodes with this reader. */
CDZ_API cdz_status cdz_set_decode_threads(cdz_reader* reader, int threads);

/* The format version the file was written with. */
CDZ_API void cdz_format_version(const cdz_reader* reader, uint16_t* major,
                                uint16_t* minor);
/* The manifest (JSON text: producer, spec, metrics). Copies at most
 * capacity - 1 bytes and a NUL into buffer (which may be NULL when capacity
 * is 0) and sets *length to the manifest's full length: call once with
 * capacity 0 to size the buffer. CDZ_OUT_OF_RANGE when it did not fit. */
CDZ_API cdz_status cdz_manifest_json(const cdz_reader* reader, char* buffer,
                                     size_t capacity, size_t* length);

CDZ_API size_t cdz_tensor_count(const cdz_reader* reader);
CDZ_API cdz_status cdz_tensor_info_at(const cdz_reader* reader, size_t index,
                                      cdz_tensor_info* out);
/* The index of the tensor named `name` (NUL-terminated). */
CDZ_API cdz_status cdz_find_tensor(const cdz_reader* reader, const char* name,
                                   size_t* index);

/* Bytes of scratch that decoding tensor `index` as `as` needs. */
CDZ_API cdz_status cdz_scratch_bytes(const cdz_reader* reader, size_t index,
                                     cdz_dtype as, uint64_t* bytes);

CDZ_API cdz_scratch* cdz_scratch_new(void);
CDZ_API void cdz_scratch_free(cdz_scratch* scratch);

/* Decodes tensor `index` into `out` as dtype `as`: a floating tensor as
 * CDZ_F32, CDZ_F16, CDZ_BF16 or CDZ_F64 (rounded to nearest even where
 * narrower; a raw tensor asked for in its own dtype comes back bit for
 * bit), an integer or bool tensor only as its own dtype. out_bytes must be
 * exactly numel * cdz_dtype_size(as); `out` should be aligned to the
 * element size. `scratch` may be NULL (a temporary one is used). The stored
 * bytes are checksummed first: a damaged tensor is CDZ_DATA_LOSS and leaves
 * `out` unspecified. */
CDZ_API cdz_status cdz_decode(const cdz_reader* reader, size_t index,
                              cdz_dtype as, void* out, size_t out_bytes,
                              cdz_scratch* scratch);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CONDENSE_CODEC_INCLUDE_CDZ_H_ */
