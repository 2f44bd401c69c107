// Runs an ONNX model once with onnxruntime (CPU) and writes its first output
// as raw little-endian float32, for condense's tests and benchmarks.
// Usage: node run_onnx.js MODEL.onnx INPUT.bin INPUT.json OUTPUT.bin
// INPUT.json: {"name": "...", "dtype": "float32" | "int64", "shape": [...]}
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputBin, inputJson, outputBin] = process.argv.slice(2);
  if (!outputBin) {
    console.error('usage: node run_onnx.js MODEL INPUT.bin INPUT.json OUT.bin');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(inputJson, 'utf8'));
  const raw = fs.readFileSync(inputBin);
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
  const data = spec.dtype === 'int64' ? new BigInt64Array(buffer)
                                      : new Float32Array(buffer);
  const session = await ort.InferenceSession.create(model);
  const feeds = {[spec.name]: new ort.Tensor(spec.dtype, data, spec.shape)};
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  fs.writeFileSync(outputBin, Buffer.from(out.data.buffer, out.data.byteOffset,
                                          out.data.byteLength));
}

main().catch((e) => {
  console.error(`run_onnx.js: ${e.message || e}`);
  process.exit(1);
});
