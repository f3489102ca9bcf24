// The official AsyncAPI parser (@asyncapi/parser) on a document: prints its diagnostics as
// JSON ({"version", "errors": [...], "warnings": [...]}) and exits 1 when there are errors.
//   node tools/node/validate-asyncapi.mjs FILE
import { Parser } from '@asyncapi/parser';
import fs from 'node:fs';

const [file] = process.argv.slice(2);
const parser = new Parser();
const { document, diagnostics } = await parser.parse(fs.readFileSync(file, 'utf8'));
const shown = (d) => ({ code: d.code, message: d.message, path: d.path.join('.') });
const errors = diagnostics.filter((d) => d.severity === 0).map(shown);
const warnings = diagnostics.filter((d) => d.severity === 1).map(shown);
console.log(JSON.stringify({ version: document?.version() ?? null, errors, warnings }));
process.exit(errors.length ? 1 : 0);
