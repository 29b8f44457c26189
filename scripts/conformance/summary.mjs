// A short summary of one requirement set's run:
//   node summary.mjs <revision> <results dir> <baseline.yml> <the suite's requirements/<revision>.yaml> [held ...]
//
// Reads the per-scenario checks.json files the suite writes with --output-dir and sorts the scenarios
// the way the suite's --expected-failures check does (a FAILURE or WARNING check fails a scenario; a
// baseline entry is a whole scenario or one `scenario:check-id`). Scenarios the requirement set
// does not score are reported apart, except the `held` ones, which scripts/conformance.sh runs on
// their own against the baseline because we hold the servers to them. It also flags passes that
// prove little: a check satisfied by the server's answer to a tool that does not exist.
//
// Exit status 2 when any check, scored or not, saw a 401: a probe that reached the server without the
// token (a way of sending requests that inject-auth.mjs does not cover) would otherwise fail or pass
// for the wrong reason. Otherwise 0; the suite's own exit status is the verdict on the baseline.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [revision, resultsDir, baselineFile, requirementsFile, ...held] = process.argv.slice(2);

// Both files are flat YAML lists; their entries are the `- name` lines (the baseline's under `server:`).
const listed = (text) => [...text.matchAll(/^\s*-\s*([\w.-]+(?::[\w.-]+)?)/gm)].map((match) => match[1]);
const baseline = listed(readFileSync(baselineFile, "utf8"));
const wholeScenario = new Set(baseline.filter((entry) => !entry.includes(":")));
const perCheck = new Set(baseline.filter((entry) => entry.includes(":")));
const requirements = readFileSync(requirementsFile, "utf8");
const serverBlock = requirements.match(/^server:\n((?:[ \t]+.*\n|\s*\n|#.*\n)*)/m)?.[1] ?? "";
const scored = new Set([...listed(serverBlock), ...held]);

let total = 0; // scored scenarios run
const groups = { passed: [], expected: [], unexpected: [], stale: [] };
const partly = []; // expected failures of single checks: the scenario's other checks pass
const unauthenticated = []; // checks that saw a 401
const saw401 = (check) =>
  /"(status|statusCode|responseStatus|httpStatus)":401\b/.test(JSON.stringify(check)) ||
  /\b401\b/.test(check.errorMessage ?? "");
const notScored = [];
const weak = [];
const reasons = []; // why each unexpected failure failed, in the suite's own words
const fails = (check) => check.status === "FAILURE" || check.status === "WARNING";
// Directories are named server-<scenario>-<ISO timestamp>.
for (const dir of readdirSync(resultsDir).sort()) {
  const scenario = dir.replace(/^server-/, "").replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, "");
  const checks = JSON.parse(readFileSync(join(resultsDir, dir, "checks.json"), "utf8"));
  const failing = checks.filter(fails);
  unauthenticated.push(...checks.filter(saw401).map((check) => `${scenario}:${check.id}`));
  if (!scored.has(scenario)) {
    notScored.push(`${scenario}${failing.length ? "(fails)" : ""}`);
    continue;
  }
  total += 1;
  if (wholeScenario.has(scenario)) {
    groups[failing.length ? "expected" : "stale"].push(scenario);
    continue;
  }
  const unexpected = failing.filter((check) => !perCheck.has(`${scenario}:${check.id}`));
  const stale = [...perCheck].filter(
    (entry) =>
      entry.startsWith(`${scenario}:`) &&
      checks.some((check) => `${scenario}:${check.id}` === entry && check.status === "SUCCESS"),
  );
  if (unexpected.length) groups.unexpected.push(scenario);
  else if (failing.length) {
    groups.expected.push(scenario);
    partly.push(`${scenario} (${failing.length} of ${checks.length} checks)`);
  }
  else groups.passed.push(scenario);
  if (stale.length) groups.stale.push(...stale);
  for (const check of unexpected) {
    reasons.push(`    ${scenario}: ${check.status} ${check.id}: ${check.errorMessage ?? ""}`);
  }
  const text = (check) => check.details?.result?.content?.[0]?.text ?? "";
  if (!failing.length && checks.some((check) => check.status === "SUCCESS" && /^unknown tool/i.test(text(check)))) {
    weak.push(scenario);
  }
}

const line = (label, list) => console.log(`  ${`${label} (${list.length}):`.padEnd(33)}${list.join(" ") || "-"}`);
console.log(`\nConformance summary, ${revision}: ${total} scored scenarios`);
line("passed", groups.passed);
console.log(
  `  ${`expected failures (${groups.expected.length}):`.padEnd(33)}as listed in ${baselineFile.split("/").pop()}` +
    (partly.length ? `; only some checks of ${partly.join(", ")}` : ""),
);
line("UNEXPECTED failures", groups.unexpected);
reasons.forEach((reason) => console.log(reason));
line("STALE baseline entries", groups.stale);
line("not scored (run, reported)", notScored);
if (weak.length) {
  console.log(`  note: ${weak.join(", ")} passed on the server's "unknown tool" answer (the test tool does not exist)`);
}
if (unauthenticated.length) {
  console.log(`  TOKEN NOT SENT: these checks saw a 401: ${unauthenticated.join(" ")}`);
  process.exit(2);
}
