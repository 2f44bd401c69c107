/* Decodes every tensor of a .cdz through the C API (include/cdz.h), as an
 * embedding program would, and prints one line per tensor with a checksum
 * of its float32 values:
 *
 *   cdz_c_example MODEL.cdz [EXPECTED.sums]
 *
 * With EXPECTED.sums (lines "name fnv1a64-hex", '#' for comments), exits 1
 * unless every tensor's checksum matches. The file is opened twice, once by
 * path and once from memory, and both must decode alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdz.h"

static uint64_t Fnv1a64(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i;
  for (i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static unsigned char* ReadWhole(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0) {
    data = (unsigned char*)malloc((size_t)n + 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

/* The checksum of tensor i's values decoded as float32 (integer tensors: of
 * their own bytes); 0 and a message on failure. */
static int Checksum(const cdz_reader* reader, size_t i, cdz_scratch* scratch,
                    uint64_t* sum) {
  cdz_tensor_info info;
  cdz_dtype as;
  size_t bytes;
  void* out;
  cdz_status s;
  if (cdz_tensor_info_at(reader, i, &info) != CDZ_OK) return 0;
  as = (info.dtype == CDZ_F32 || info.dtype == CDZ_F16 ||
        info.dtype == CDZ_BF16 || info.dtype == CDZ_F64)
           ? CDZ_F32
           : info.dtype;
  bytes = (size_t)info.numel * cdz_dtype_size(as);
  out = malloc(bytes > 0 ? bytes : 1);
  if (out == NULL) return 0;
  s = cdz_decode(reader, i, as, out, bytes, scratch);
  if (s == CDZ_OK) *sum = Fnv1a64((const unsigned char*)out, bytes);
  free(out);
  return s == CDZ_OK;
}

static int Expected(const char* sums_path, const char* name, uint64_t* sum) {
  char line[1024];
  int found = 0;
  FILE* f = fopen(sums_path, "r");
  if (f == NULL) return 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    char* space = strrchr(line, ' ');
    if (line[0] == '#' || space == NULL) continue;
    *space = '\0';
    if (strcmp(line, name) == 0) {
      *sum = strtoull(space + 1, NULL, 16);
      found = 1;
    }
  }
  fclose(f);
  return found;
}

static long CountSums(const char* sums_path) {
  char line[1024];
  long n = 0;
  FILE* f = fopen(sums_path, "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) n += line[0] != '#';
  fclose(f);
  return n;
}

int main(int argc, char** argv) {
  cdz_reader* by_path = NULL;
  cdz_reader* in_memory = NULL;
  cdz_scratch* scratch = NULL;
  cdz_options options;
  unsigned char* data;
  size_t size = 0, i, count;
  uint16_t major, minor;
  int failures = 0;
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s MODEL.cdz [EXPECTED.sums]\n", argv[0]);
    return 2;
  }
  if (cdz_open_file(argv[1], NULL, &by_path) != CDZ_OK) {
    fprintf(stderr, "%s\n", cdz_last_error());
    return 1;
  }
  data = ReadWhole(argv[1], &size);
  memset(&options, 0, sizeof options);
  options.max_scratch_bytes = (uint64_t)64 << 20;
  if (data == NULL ||
      cdz_open_memory(data, size, &options, &in_memory) != CDZ_OK) {
    fprintf(stderr, "from memory: %s\n", cdz_last_error());
    return 1;
  }
  scratch = cdz_scratch_new();
  cdz_format_version(by_path, &major, &minor);
  count = cdz_tensor_count(by_path);
  printf("# %s: format %u.%u, %lu tensors\n", argv[1], (unsigned)major,
         (unsigned)minor, (unsigned long)count);
  for (i = 0; i < count; ++i) {
    cdz_tensor_info info;
    uint64_t a = 0, b = 0, want = 0;
    uint32_t d;
    cdz_tensor_info_at(by_path, i, &info);
    printf("%s %s [", info.name, cdz_dtype_name(info.dtype));
    for (d = 0; d < info.rank; ++d) {
      printf(d ? ",%llu" : "%llu", (unsigned long long)info.shape[d]);
    }
    printf("] encoding %d: ", (int)info.encoding);
    if (!Checksum(by_path, i, scratch, &a) ||
        !Checksum(in_memory, i, NULL, &b)) {
      printf("FAILED: %s\n", cdz_last_error());
      ++failures;
      continue;
    }
    printf("%016llx", (unsigned long long)a);
    if (a != b) {
      printf(" FAILED: from memory %016llx", (unsigned long long)b);
      ++failures;
    } else if (argc == 3 && !Expected(argv[2], info.name, &want)) {
      printf(" FAILED: not in %s", argv[2]);
      ++failures;
    } else if (argc == 3 && want != a) {
      printf(" FAILED: expected %016llx", (unsigned long long)want);
      ++failures;
    }
    printf("\n");
  }
  if (argc == 3 && CountSums(argv[2]) != (long)count) {
    printf("FAILED: %s lists %ld tensors, the file has %lu\n", argv[2],
           CountSums(argv[2]), (unsigned long)count);
    ++failures;
  }
  cdz_scratch_free(scratch);
  cdz_close(in_memory);
  cdz_close(by_path);
  free(data);
  if (failures) fprintf(stderr, "%d tensor(s) failed\n", failures);
  return failures ? 1 : 0;
}
