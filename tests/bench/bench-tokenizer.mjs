#!/usr/bin/env node
// bench-tokenizer.mjs — transformers.js side of bench-tokenizer.sh
//
//   node tests/bench/bench-tokenizer.mjs TOKENIZER TEXT OUT
//
// Loads TOKENIZER (gpt2, llama2, llama3, qwen3: the files of tests/tokenizer/node_modules),
// encodes every line of TEXT exactly as `attnscope-cli tokenize` does (add_special_tokens
// true, lines split on "\n") and writes one JSON array per line to OUT. Prints the load and
// encode times in seconds as JSON on stdout.
import fs from "node:fs";
import { loadReference } from "../tokenizer/generate.mjs";

const [name, textPath, outPath] = process.argv.slice(2);
if (!name || !textPath || !outPath) {
  console.error("usage: bench-tokenizer.mjs TOKENIZER TEXT OUT");
  process.exit(2);
}

let t0 = performance.now();
const tok = loadReference(name);
const loadS = (performance.now() - t0) / 1000;

const text = fs.readFileSync(textPath, "utf8");
const lines = text.split("\n");
if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();

t0 = performance.now();
const out = new Array(lines.length);
for (let i = 0; i < lines.length; i++) out[i] = JSON.stringify(tok.encode(lines[i]));
const encodeS = (performance.now() - t0) / 1000;

fs.writeFileSync(outPath, out.join("\n") + "\n");
console.log(JSON.stringify({ tokenizer: name, load_s: loadS, encode_s: encodeS, lines: lines.length }));
