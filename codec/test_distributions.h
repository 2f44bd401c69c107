// Symbol and weight generators shared by the codec's tests, fuzz seeds and
// benchmarks: realistic distributions of cluster indices and sparse masks.
#ifndef CONDENSE_CODEC_TEST_DISTRIBUTIONS_H_
#define CONDENSE_CODEC_TEST_DISTRIBUTIONS_H_

#include <cstdint>
#include <random>
#include <vector>

namespace condense::codec::testing {

// n i.i.d. symbols over `alphabet` letters with p_i proportional to ratio^i.
std::vector<uint16_t> GeometricSymbols(size_t n, uint32_t alphabet,
                                       double ratio, uint64_t seed);

// n i.i.d. uniform symbols.
std::vector<uint16_t> UniformSymbols(size_t n, uint32_t alphabet,
                                     uint64_t seed);

// A weight tensor of n elements: Laplacian (or Gaussian) values, pruned to
// `density` by magnitude, with the survivors snapped to `centroids` centroids
// spread linearly over their range (what trained quantization produces).
// Returns the dense values; *codebook receives the centroids in use.
std::vector<float> QuantizedSparseWeights(size_t n, double density,
                                          int centroids, bool laplacian,
                                          uint64_t seed,
                                          std::vector<float>* codebook);

// Cluster indices of such a tensor's nonzeros (what the index stream holds).
std::vector<uint16_t> QuantizedIndices(size_t n, int centroids, bool laplacian,
                                       uint64_t seed);

// Shannon entropy in bits per symbol of the empirical distribution.
double EmpiricalEntropyBits(const std::vector<uint16_t>& symbols,
                            uint32_t alphabet);

}  // namespace condense::codec::testing

#endif  // CONDENSE_CODEC_TEST_DISTRIBUTIONS_H_
