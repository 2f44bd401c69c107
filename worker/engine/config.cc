#include "worker/engine/config.h"

namespace condense::engine {
namespace {

void Apply(const LayerOverride& o, LayerConfig* c) {
  if (o.compress) c->compress = *o.compress;
  if (o.prune) c->prune = *o.prune;
  if (o.bits) c->bits = *o.bits;
  if (o.gap_bits) c->gap_bits = *o.gap_bits;
  if (o.sensitivity) c->sensitivity = *o.sensitivity;
  if (o.sparsity) c->sparsity = *o.sparsity;
  if (o.rate_lambda) c->rate_lambda = *o.rate_lambda;
  if (o.fast_decode) c->fast_decode = *o.fast_decode;
}

}  // namespace

bool GlobMatch(const std::string& pattern, const std::string& name) {
  // Iterative matcher with one backtrack point: linear-ish, no recursion.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

LayerConfig ResolveLayer(const EngineConfig& config, const std::string& name,
                         int rank, TensorRole role) {
  LayerConfig c;
  const bool conv = TakesConvSettings(role, rank);
  // Deep Compression's defaults: 8-bit codebooks and gaps for conv, 5 for fc.
  c.bits = conv ? 8 : 5;
  c.gap_bits = conv ? 8 : 5;
  // The fc/conv settings apply by layer kind to whatever gets compressed;
  // their `compress` only to the weights they describe.
  const LayerOverride& defaults = conv ? config.conv : config.fc;
  c.prune = true;
  Apply(defaults, &c);
  c.compress = CompressedByDefault(role) && defaults.compress.value_or(true);
  for (const LayerOverride& rule : config.rules) {
    if (GlobMatch(rule.pattern, name)) {
      Apply(rule, &c);
      break;
    }
  }
  c.compress = c.compress && role != TensorRole::kBuffer;
  c.prune = c.prune && c.compress;
  return c;
}

}  // namespace condense::engine
