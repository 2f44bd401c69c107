// Laplacian samples, the shape of trained weights, for the engine's tests
// (header-only: the tests without LibTorch use it too).
#ifndef CONDENSE_WORKER_ENGINE_TESTING_LAPLACIAN_H_
#define CONDENSE_WORKER_ENGINE_TESTING_LAPLACIAN_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace condense::engine::testing {

// n samples of a zero-mean Laplacian with the given scale, from `seed`.
inline std::vector<float> Laplacian(size_t n, uint64_t seed,
                                    double scale = 0.05) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<float> v(n);
  for (float& x : v) {
    const double a = u(rng);
    x = static_cast<float>(-scale *
                           std::copysign(std::log1p(-2 * std::abs(a)), a));
  }
  return v;
}

}  // namespace condense::engine::testing

#endif  // CONDENSE_WORKER_ENGINE_TESTING_LAPLACIAN_H_
