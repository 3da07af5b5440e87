// Runs the built CLI over the labelled case set (test/cases/cases.json) and scores the rules:
// recall over problem cases, false alarms on healthy ones, per-code precision/recall, fix
// accuracy (top fix among the accepted ones), layer accuracy (the finding on the case's `problemLayer`,
// where the label names one) and, with --verify-fixes, how much the top fix helped.
//
//   node scripts/eval.mjs [--json] [--verify-fixes] [--only ID,ID] [--formats pytorch,keras2,…] [--steps N] [--backend NAME] [--cli PATH] [--write-measured]
//
// --write-measured stores each case's measured numbers in cases.json (`measured`), the evidence behind its label.
// PyTorch cases keep the plain-PyTorch numbers of scripts/torch/measure_cases.py in `measured` (their labels'
// evidence, independent of the engine); the CLI's numbers go to `measuredEngine`.
//
// Needs `node scripts/build.mjs` first (npm run eval does it). Cases run one at a time: the
// machine has 2 cores and every run trains a model.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const casesDir = path.join(root, 'test/cases');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
// Another build of the same CLI contract (e.g. an engineer's work-in-progress bundle).
const cli = path.resolve(value('--cli') ?? path.join(root, 'dist/cli.js'));

/** The model file of a case folder, whatever its format. */
export function caseFile(entry) {
  const file = { keras2: 'keras2.json', keras3: 'keras3.json', tfjs: 'tfjs/model.json', pytorch: 'model.py', keras: 'model.keras', 'keras-h5': 'model.h5' }[entry.format];
  return path.join(casesDir, entry.id, file);
}

/** Runs the CLI on one case; exit codes 0 and 1 both carry a report. */
export async function analyseCase(entry, defaults, options = {}) {
  const cliArgs = [
    cli,
    'analyze',
    caseFile(entry),
    '--format',
    'json',
    '--steps',
    String(options.steps ?? entry.steps ?? defaults.steps),
    '--seed',
    String(entry.seed ?? defaults.seed),
    '--batch-size',
    String(defaults.batchSize),
  ];
  if (options.backend) cliArgs.push('--backend', options.backend);
  if (options.verifyFixes) cliArgs.push('--verify-fixes');
  try {
    const { stdout } = await run(process.execPath, cliArgs, { maxBuffer: 64 * 1024 * 1024 });
    return JSON.parse(stdout);
  } catch (error) {
    if (error.code === 1 && error.stdout) return JSON.parse(error.stdout);
    throw new Error(`${entry.id}: the CLI failed (exit ${error.code}): ${String(error.stderr ?? error.message).trim().split('\n')[0]}`);
  }
}

const isProblem = (finding) => finding.severity === 'warning' || finding.severity === 'error';
const SEVERITY_RANK = { error: 0, warning: 1, info: 2 };

/** How one case's report scores against its label. */
export function scoreCase(entry, report) {
  const problems = report.findings.filter(isProblem);
  const codes = [...new Set(problems.map((f) => f.code))];
  if (entry.healthy) return { id: entry.id, healthy: true, falseAlarm: problems.length > 0, codes };
  const matching = problems.filter((f) => entry.accepted.includes(f.code)).sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  const chosen = matching.find((f) => f.code === entry.primary) ?? matching[0];
  const topFix = chosen?.fixes[0]?.code;
  return {
    id: entry.id,
    healthy: false,
    primary: entry.primary,
    detected: matching.length > 0,
    primaryFound: codes.includes(entry.primary),
    codes,
    topFix,
    fixCorrect: topFix !== undefined && entry.acceptedFixes.includes(topFix),
    layer: chosen?.layer,
    // problemLayer: the qualified name (or names) of the layer where the problem starts, by measurement.
    ...(entry.problemLayer && chosen ? { layerCorrect: [entry.problemLayer].flat().includes(chosen.layer) } : {}),
    verification: chosen && report.verifications?.find((v) => v.findingCode === chosen.code),
  };
}

/** The numbers behind a label: loss start/end against ln C, first/last gradient RMS ratio, worst dead fraction, findings. */
function measuredNote(report) {
  const losses = report.history.loss;
  const fmt = (x) => (typeof x === 'number' ? Number(x.toPrecision(3)) : 'NaN');
  const summary = report.layerSummary ?? [];
  const firstLast = summary.length > 1 ? summary[0].ratioToLast : undefined;
  const dead = Math.max(0, ...summary.map((l) => l.deadFraction ?? 0));
  const findings = report.findings.map((f) => `${f.severity} ${f.code}${f.layer ? ` (${f.layer})` : ''}`).join(', ') || 'none';
  return `${report.run.optimizer} lr ${report.run.learningRate}, ${report.run.steps} steps on ${report.run.data}: loss ${fmt(losses[0])} → ${fmt(losses[losses.length - 1])}; first/last gradient RMS ${fmt(firstLast)}; max dead fraction ${fmt(dead)}; findings: ${findings}`;
}

/** Recall, false alarms, per-code precision/recall and fix accuracy over scored cases. */
export function summarise(scored, entries) {
  const problems = scored.filter((s) => !s.healthy);
  const healthy = scored.filter((s) => s.healthy);
  const detected = problems.filter((s) => s.detected);
  const perCode = {};
  const allCodes = new Set([...entries.filter((e) => !e.healthy).map((e) => e.primary), ...scored.flatMap((s) => s.codes)]);
  for (const code of [...allCodes].sort()) {
    const labelled = entries.filter((e) => !e.healthy && e.primary === code).map((e) => e.id);
    const reportedOn = scored.filter((s) => s.codes.includes(code));
    const correct = reportedOn.filter((s) => !s.healthy && entries.find((e) => e.id === s.id).accepted.includes(code));
    const found = scored.filter((s) => labelled.includes(s.id) && s.primaryFound);
    perCode[code] = {
      labelled: labelled.length,
      reported: reportedOn.length,
      precision: reportedOn.length ? correct.length / reportedOn.length : null,
      recall: labelled.length ? found.length / labelled.length : null,
    };
  }
  const verified = problems.filter((s) => s.verification && !s.verification.error);
  const located = detected.filter((s) => s.layerCorrect !== undefined);
  return {
    problemCases: problems.length,
    healthyCases: healthy.length,
    recall: problems.length ? detected.length / problems.length : null,
    falseAlarms: healthy.filter((s) => s.falseAlarm).length,
    failedRuns: scored.filter((s) => s.error).length,
    fixAccuracy: detected.length ? detected.filter((s) => s.fixCorrect).length / detected.length : null,
    // Over detected cases whose label names the layer where the problem starts.
    layerAccuracy: located.length ? located.filter((s) => s.layerCorrect).length / located.length : null,
    layerCases: located.length,
    verifiedFixes: verified.length,
    // NaN arrives as null: a run that ends non-finite improved when the fix ends finite.
    verifiedImproved: verified.filter((s) => typeof s.verification.after.finalLoss === 'number' && !(s.verification.after.finalLoss >= s.verification.before.finalLoss)).length,
    perCode,
  };
}

/** Losses arrive through JSON, where NaN became null. */
function loss(x) {
  return typeof x === 'number' ? x.toFixed(2) : 'NaN';
}

function pct(x) {
  return x === null ? '–' : `${(100 * x).toFixed(0)} %`;
}

/** One summary line per framework (Keras/TF.js files, PyTorch files), so the two can be compared. */
function frameworkLines(scored, entries) {
  const framework = (e) => (e.format === 'pytorch' ? 'PyTorch' : 'Keras/TF.js');
  const groups = [...new Set(entries.map(framework))];
  if (groups.length < 2) return [];
  return groups.map((name) => {
    const group = entries.filter((e) => framework(e) === name);
    const s = summarise(scored.filter((x) => group.some((e) => e.id === x.id)), group);
    return `${name}: recall ${pct(s.recall)} (${s.problemCases} problem cases), false alarms ${s.falseAlarms} of ${s.healthyCases} healthy, fix accuracy ${pct(s.fixAccuracy)}, layer accuracy ${pct(s.layerAccuracy)} (${s.layerCases}), failed runs ${s.failedRuns}`;
  });
}

function printTable(scored, summary, entries) {
  const lines = ['case | label | reported (warning/error) | top fix | layer | verdict', '---|---|---|---|---|---'];
  for (const s of scored) {
    const verdict = s.error ? 'RUN FAILED' : s.healthy ? (s.falseAlarm ? 'FALSE ALARM' : 'ok') : !s.detected ? 'MISSED' : !s.fixCorrect ? 'wrong fix' : s.layerCorrect === false ? 'wrong layer' : 'ok';
    const layer = s.healthy ? '' : `${s.layer ?? '–'}${s.layerCorrect === undefined ? '' : s.layerCorrect ? ' ✓' : ' ✗'}`;
    const fix = s.healthy ? '' : `${s.topFix ?? '–'}${s.verification ? ` (loss ${loss(s.verification.before.finalLoss)} → ${loss(s.verification.after.finalLoss)})` : ''}`;
    lines.push(`${s.id} | ${s.healthy ? 'healthy' : s.primary} | ${s.codes.join(', ') || '–'} | ${fix} | ${layer} | ${verdict}`);
  }
  lines.push('');
  lines.push(`recall ${pct(summary.recall)} (${summary.problemCases} problem cases), false alarms ${summary.falseAlarms} of ${summary.healthyCases} healthy, fix accuracy ${pct(summary.fixAccuracy)}, layer accuracy ${pct(summary.layerAccuracy)} (${summary.layerCases} cases with a problem layer), failed runs ${summary.failedRuns}`);
  lines.push(...frameworkLines(scored, entries));
  if (summary.verifiedFixes) lines.push(`verified fixes: ${summary.verifiedImproved} of ${summary.verifiedFixes} lowered the final loss`);
  lines.push('', 'code | labelled | reported | precision | recall', '---|---|---|---|---');
  for (const [code, c] of Object.entries(summary.perCode)) lines.push(`${code} | ${c.labelled} | ${c.reported} | ${pct(c.precision)} | ${pct(c.recall)}`);
  console.log(lines.join('\n'));
}

async function main() {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run node scripts/build.mjs first');
  const manifest = JSON.parse(readFileSync(path.join(casesDir, 'cases.json'), 'utf8'));
  const only = value('--only')?.split(',');
  const formats = value('--formats')?.split(',');
  const entries = manifest.cases.filter((e) => (!only || only.includes(e.id)) && (!formats || formats.includes(e.format)));
  const options = { verifyFixes: flag('--verify-fixes'), steps: value('--steps') && Number(value('--steps')), backend: value('--backend') };
  const scored = [];
  for (const entry of entries) {
    const started = Date.now();
    let score;
    try {
      const report = await analyseCase(entry, manifest.defaults, options);
      score = scoreCase(entry, report);
      score.finalLoss = report.history.loss[report.history.loss.length - 1];
      score.measured = measuredNote(report);
    } catch (error) {
      // A run that fails scores as a miss (or, on a healthy model, as no alarm) and is listed, not fatal.
      score = { id: entry.id, healthy: entry.healthy, primary: entry.primary, detected: false, falseAlarm: false, codes: [], error: error.message };
    }
    score.seconds = (Date.now() - started) / 1000;
    scored.push(score);
    if (!flag('--json')) process.stderr.write(`${entry.id}: ${score.error ?? (score.codes.join(', ') || 'no problems')} (${score.seconds.toFixed(1)} s)\n`);
  }
  const summary = summarise(scored, entries);
  if (flag('--write-measured')) {
    for (const entry of manifest.cases) {
      const score = scored.find((s) => s.id === entry.id);
      if (score?.measured) entry[entry.format === 'pytorch' ? 'measuredEngine' : 'measured'] = score.measured;
    }
    writeFileSync(path.join(casesDir, 'cases.json'), JSON.stringify(manifest, null, 2) + '\n');
  }
  if (flag('--json')) console.log(JSON.stringify({ summary, cases: scored }, null, 2));
  else printTable(scored, summary, entries);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error.message);
    process.exitCode = 2;
  });
}
