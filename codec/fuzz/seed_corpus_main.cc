// Writes the fuzzer's seed corpus: small valid .cdz files covering every
// tensor kind and stream mode. Usage: cdz_seed_corpus DIR
#include <fstream>
#include <iostream>

#include "codec/cdz_test_util.h"

int main(int argc, char** argv) {
  using namespace condense::codec;
  if (argc != 2) {
    std::cerr << "usage: cdz_seed_corpus DIR\n";
    return 2;
  }
  int written = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    auto model = testing::SampleModel(seed);
    // Keep seeds small: drop the large fc layer from some of them.
    if (seed % 2 == 0) model.erase(model.begin() + 1);
    const std::string bytes = testing::WriteModel(
        model, {{"producer", "seed"}, {"seed", std::to_string(seed)}});
    if (bytes.empty()) return 1;
    std::ofstream(
        std::string(argv[1]) + "/seed" + std::to_string(seed) + ".cdz",
        std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++written;
  }
  {
    // A tensor large enough for a segmented context-coded body (two
    // segments), its weights in the first rows of each so that decoding
    // stops early and the fuzzer stays fast.
    testing::ModelTensor big{"big.weight", DType::kF32, {2048, 4096}, true};
    big.values.assign(2048 * 4096, 0.0f);
    big.codebook = {-0.5f, -0.25f, 0.25f, 0.5f};
    for (size_t row : {0u, 1u, 1024u, 1025u}) {
      for (size_t c = 0; c < 4096; c += 7) {
        big.values[row * 4096 + c] = big.codebook[(row + c) % 4];
      }
    }
    big.encoding = cdz::Encoding::kContextCoded;
    const std::string bytes = testing::WriteModel({big}, {});
    if (bytes.empty()) return 1;
    std::ofstream(std::string(argv[1]) + "/segmented.cdz", std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++written;
  }
  const std::string empty = testing::WriteModel({}, {});
  std::ofstream(std::string(argv[1]) + "/empty.cdz", std::ios::binary)
      .write(empty.data(), static_cast<std::streamsize>(empty.size()));
  std::cout << "wrote " << written + 1 << " seeds to " << argv[1] << "\n";
  return 0;
}
