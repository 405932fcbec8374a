// Ends every test run with one plain line, `jest: N passed, N failed`, that CI reads as the count.
export default class ClosingLineReporter {
  onRunComplete(_contexts, results) {
    process.stdout.write(`\njest: ${results.numPassedTests} passed, ${results.numFailedTests} failed\n`);
  }
}
