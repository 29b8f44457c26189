// A short summary of one conformance run: `node summary.mjs <results dir> <baseline.yml>`.
//
// Reads the per-scenario checks.json files the suite writes with --output-dir and sorts the
// scenarios the way the suite's --expected-failures check does (a FAILURE or WARNING check fails a
// scenario). It also flags passes that prove little: a check satisfied by the server's answer to a
// tool that does not exist. The suite's own exit status remains the verdict.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [resultsDir, baselineFile] = process.argv.slice(2);

// The baseline is a flat YAML list under `server:`; its entries are the only `- name` lines.
const baseline = new Set(
  [...readFileSync(baselineFile, "utf8").matchAll(/^\s*-\s*([a-z0-9-]+)/gm)].map((match) => match[1]),
);

const groups = { passed: [], expected: [], unexpected: [], stale: [] };
const weak = [];
const reasons = []; // why each unexpected failure failed, in the suite's own words
// Directories are named server-<scenario>-<ISO timestamp>.
for (const dir of readdirSync(resultsDir).sort()) {
  const scenario = dir.replace(/^server-/, "").replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, "");
  const checks = JSON.parse(readFileSync(join(resultsDir, dir, "checks.json"), "utf8"));
  const failed = checks.some((check) => check.status === "FAILURE" || check.status === "WARNING");
  const listed = baseline.has(scenario);
  groups[failed ? (listed ? "expected" : "unexpected") : listed ? "stale" : "passed"].push(scenario);
  if (failed && !listed) {
    for (const check of checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING")) {
      reasons.push(`    ${scenario}: ${check.status} ${check.id}: ${check.errorMessage ?? ""}`);
    }
  }
  const text = (check) => check.details?.result?.content?.[0]?.text ?? "";
  if (!failed && checks.some((check) => check.status === "SUCCESS" && /^Unknown tool/.test(text(check)))) {
    weak.push(scenario);
  }
}

const total = Object.values(groups).reduce((sum, list) => sum + list.length, 0);
const line = (label, list) => console.log(`  ${`${label} (${list.length}):`.padEnd(29)}${list.join(" ") || "-"}`);
console.log(`\nConformance summary: ${total} scenarios`);
line("passed", groups.passed);
console.log(`  ${`expected failures (${groups.expected.length}):`.padEnd(29)}as listed in baseline.yml`);
line("UNEXPECTED failures", groups.unexpected);
reasons.forEach((reason) => console.log(reason));
line("STALE baseline entries", groups.stale);
if (weak.length) {
  console.log(`  note: ${weak.join(", ")} passed on the server's "Unknown tool" error (the test tool does not exist)`);
}
