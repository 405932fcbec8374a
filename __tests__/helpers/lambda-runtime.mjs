// Loads and calls a function's handler the way the Lambda Node.js runtime interface client does
// (aws-lambda-nodejs-runtime-interface-client, src/function/module-loader.ts and handler-resolver.ts):
// split "module.handler", try <task root>/<module> with no extension, .js, .mjs and .cjs in that
// order, import the first that exists, then look the handler up on the module or its default export.
// Usage: node lambda-runtime.mjs <task root> <handler string> <event JSON>; prints the result as JSON.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [taskRoot, handlerString, eventJson] = process.argv.slice(2);
const match = /^([^.]*)\.(.*)$/.exec(path.basename(handlerString));
if (match === null) throw new Error(`Malformed handler name ${handlerString}`);
const moduleRoot = path.dirname(handlerString);
const [, moduleName, handlerName] = match;
// Lambda runs the function with the task root as its working directory.
process.chdir(taskRoot);

let module;
for (const extension of ['', '.js', '.mjs', '.cjs']) {
  const file = path.resolve(taskRoot, moduleRoot, moduleName) + extension;
  if (existsSync(file)) {
    module = await import(pathToFileURL(file).href);
    break;
  }
}
if (module === undefined) throw new Error(`Runtime.ImportModuleError: Cannot find module '${moduleName}'`);
const findIn = (object) => handlerName.split('.').reduce((nested, key) => (nested && typeof nested === 'object' ? nested[key] : undefined), object);
const handler = findIn(module) ?? findIn(module.default);
if (typeof handler !== 'function') throw new Error(`Runtime.HandlerNotFound: ${handlerString} is undefined or not exported`);
const result = await handler(JSON.parse(eventJson), { functionName: moduleName, awsRequestId: 'test' });
process.stdout.write(JSON.stringify(result));
