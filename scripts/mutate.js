// npm run mutate [-- <file> ...]: mutation testing of the data path with Stryker (stryker.config.mjs),
// then the scores of every mutated file recorded in bench/mutation-scores.json and bench/MUTATION.md.
// With files, only those are mutated and only their rows change (how a module is re-scored after it
// changed); without, every module of the data path is.
//   node scripts/mutate.js --record-only [report.json]   records an existing Stryker JSON report.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPORT = path.join(root, 'reports/mutation/mutation.json');
const SCORES = path.join(root, 'bench/mutation-scores.json');
const TABLE = path.join(root, 'bench/MUTATION.md');
const EQUIVALENT = path.join(root, 'bench/mutation-equivalent.json');

const args = process.argv.slice(2);
if (args[0] === '--record-only') {
  record(args[1] ?? REPORT);
} else {
  const stryker = path.join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js');
  const mutate = args.length === 0 ? [] : ['--mutate', args.join(',')];
  const run = spawnSync(process.execPath, [stryker, 'run', ...mutate], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
  record(REPORT);
}

/** Which commit was tested, and whether the tree had changes on top of it. */
function commit() {
  const git = (...gitArgs) => execFileSync('git', gitArgs, { cwd: root, encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'src', '__tests__', 'stryker.config.mjs') !== '';
  const subset = process.env.MUTATE_TESTS === undefined ? '' : ` (tests: ${process.env.MUTATE_TESTS.split(',').join(', ')} only)`;
  return `${git('rev-parse', '--short=10', 'HEAD')}${dirty ? ' + uncommitted changes' : ''}${subset}`;
}

/** The source text a mutant replaced (Stryker's locations: lines 1-based, columns 1-based). */
function originalText(source, { start, end }) {
  const lines = source.split('\n');
  const offset = (position) => lines.slice(0, position.line - 1).reduce((sum, line) => sum + line.length + 1, 0) + position.column - 1;
  return source.slice(offset(start), offset(end));
}

/**
 * Mutants that cannot change behaviour, each with the reason; matched on file, mutator, original text and replacement,
 * and on the line when the entry gives one (the same text elsewhere in the file may be a mutant that does change behaviour).
 */
function equivalents() {
  return existsSync(EQUIVALENT) ? JSON.parse(readFileSync(EQUIVALENT, 'utf8')).mutants : [];
}

function record(reportFile) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const known = equivalents();
  const scores = existsSync(SCORES) ? JSON.parse(readFileSync(SCORES, 'utf8')) : { modules: {} };
  const date = new Date().toISOString().slice(0, 10);
  const tested = commit();
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const counts = { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, errors: 0 };
    const unexplained = [];
    const matched = [];
    for (const mutant of mutants) {
      counts.mutants += 1;
      const status = mutant.status;
      if (status === 'Killed') counts.killed += 1;
      else if (status === 'Timeout') counts.timeout += 1;
      else if (status === 'CompileError' || status === 'RuntimeError' || status === 'Ignored') counts.errors += 1;
      else {
        const original = originalText(source, mutant.location);
        const reason = known.find((entry) => entry.file === file && (entry.line === undefined || entry.line === mutant.location.start.line) && entry.mutator === mutant.mutatorName && entry.original === original && entry.replacement === mutant.replacement);
        if (reason !== undefined) {
          counts.equivalent += 1;
          matched.push(reason);
          continue;
        }
        if (status === 'Survived') counts.survived += 1;
        else counts.noCoverage += 1;
        unexplained.push({ line: mutant.location.start.line, mutator: mutant.mutatorName, original, replacement: mutant.replacement, status });
      }
    }
    scores.modules[file] = { date, commit: tested, ...counts, unexplained };
  }
  scores.modules = Object.fromEntries(Object.entries(scores.modules).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(SCORES, `${JSON.stringify(scores, null, 2)}\n`);
  writeFileSync(TABLE, render(scores, known));
  console.log(`Recorded the scores of ${Object.keys(report.files).length} file(s) in ${path.relative(root, TABLE)}.`);
}

function percent(part, whole) {
  return whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)}%`;
}

function render(scores, known) {
  const rows = Object.entries(scores.modules);
  const total = rows.reduce(
    (sum, [, m]) => Object.fromEntries(Object.keys(sum).map((key) => [key, sum[key] + m[key]])),
    { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, errors: 0 },
  );
  const line = (name, m, when) => {
    const detected = m.killed + m.timeout;
    const valid = detected + m.survived + m.noCoverage + m.equivalent;
    return `| ${name} | ${when} | ${m.mutants} | ${m.killed} | ${m.timeout} | ${m.survived} | ${m.noCoverage} | ${m.equivalent} | ${percent(detected, valid)} | **${percent(detected, valid - m.equivalent)}** |`;
  };
  const unexplained = rows.flatMap(([file, m]) => m.unexplained.map((u) => `| ${file}:${u.line} | ${u.status} | ${u.mutator} | \`${oneLine(u.original)}\` → \`${oneLine(u.replacement)}\` |`));
  const usedReasons = known.filter((entry) => rows.some(([file]) => file === entry.file));
  return [
    '# Mutation testing of the data path',
    '',
    'Written by `npm run mutate` (scripts/mutate.js; Stryker with the jest runner, config in stryker.config.mjs). Each row',
    'says when and on which commit its module was last mutated: `npm run mutate -- src/plan/map-items.ts` re-scores one',
    'module and rewrites only its row. Timeouts count as detected (a mutant that makes the code loop forever is caught).',
    '"Equivalent" mutants cannot change behaviour; each is listed below with the reason (bench/mutation-equivalent.json).',
    'The last column is the score that matters: detected over the mutants that can change behaviour (goal: at least 95%).',
    'A row scored with MUTATE_TESTS (a subset of the data-path tests, named in its commit column) is a lower bound.',
    '',
    '| Module | Date, commit | Mutants | Killed | Timed out | Survived | No coverage | Equivalent | Score | Score of behaviour-changing mutants |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(([file, m]) => line(file, m, `${m.date}, ${m.commit}`)),
    line('**all**', total, ''),
    '',
    '## Survivors with no reason recorded (kill them with a test, or explain them)',
    '',
    ...(unexplained.length === 0 ? ['None.'] : ['| Where | Status | Mutator | Change |', '|---|---|---|---|', ...unexplained]),
    '',
    '## Mutants that cannot change behaviour',
    '',
    '| Where | Mutator | Change | Why it cannot change behaviour |',
    '|---|---|---|---|',
    ...usedReasons.map((entry) => `| ${entry.file}${entry.line === undefined ? '' : `:${entry.line}`} | ${entry.mutator} | \`${oneLine(entry.original)}\` → \`${oneLine(entry.replacement)}\` | ${entry.reason} |`),
    '',
  ].join('\n');
}

function oneLine(text) {
  const flat = text.replace(/\s+/g, ' ').replaceAll('|', '\\|');
  return flat.length > 90 ? `${flat.slice(0, 87)}...` : flat;
}
