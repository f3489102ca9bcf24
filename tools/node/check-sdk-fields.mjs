// The official TypeScript SDK against a running sandbox: every call goes through the installed
// @anthropic-ai/sdk, and every answer is checked against the interfaces its .d.ts files declare:
// a property without `?` must be present (required-but-nullable ones as null), at every depth,
// union variants chosen by their `type` literal.
//
//   node tools/node/check-sdk-fields.mjs http://127.0.0.1:PORT [2026-10-21|2023-06-01]
//
// Prints {"version", "checked": N, "missing": ["Message: $.usage.speed", ...]} and exits 1 when
// anything is missing, 2 on an error. The sandbox must run on a manual clock: the script moves
// it with POST /_sandbox/clock/advance so a batch ends without waiting.
import Anthropic, { toFile } from '@anthropic-ai/sdk';
import fs from 'node:fs';
import path from 'node:path';

const [baseURL, version = '2026-10-21'] = process.argv.slice(2);
const SDK = new URL('./node_modules/@anthropic-ai/sdk/resources/', import.meta.url).pathname;

// --- the declarations ---------------------------------------------------------------------
const interfaces = new Map(); // "file:Name" and "Name" -> {props: Map(name -> {optional, type})}
const aliases = new Map(); // same keys -> type text

function declarations(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) declarations(full);
    else if (entry.name.endsWith('.d.ts')) parse(full, path.relative(SDK, full).replace(/\.d\.ts$/, ''));
  }
}

function remember(map, file, name, value) {
  map.set(`${file}:${name}`, value);
  if (!map.has(name)) map.set(name, value);
}

function parse(full, file) {
  const lines = fs.readFileSync(full, 'utf8').split('\n');
  let current = null;
  let depth = 0;
  for (const line of lines) {
    const text = line.replace(/\/\*\*.*?\*\//g, '').trim();
    if (text.startsWith('*') || text.startsWith('/**') || text.startsWith('//')) continue;
    if (current === null) {
      const opening = text.match(/^export (?:declare )?interface (\w+)(?: extends [^{]+)? \{$/);
      if (opening) {
        current = { name: opening[1], props: new Map() };
        depth = 1;
        continue;
      }
      const alias = text.match(/^export type (\w+) = (.+);$/);
      if (alias) remember(aliases, file, alias[1], alias[2]);
      continue;
    }
    if (depth === 1) {
      const prop = text.match(/^'?([\w-]+)'?(\?)?: (.+?);?$/);
      if (prop && !text.endsWith('{')) current.props.set(prop[1], { optional: !!prop[2], type: prop[3] });
      else if (prop) current.props.set(prop[1], { optional: !!prop[2], type: '{inline}' });
    }
    depth += (text.match(/\{/g) || []).length - (text.match(/\}/g) || []).length;
    if (depth <= 0) {
      remember(interfaces, file, current.name, current);
      current = null;
    }
  }
}

// --- the walk -----------------------------------------------------------------------------
function lookup(map, name, file) {
  const bare = name.replace(/^\w+API\./, '').replace(/^\w+\./, '');
  return map.get(`${file}:${bare}`) ?? map.get(bare);
}

function splitUnion(text) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ('<({['.includes(c)) depth++;
    else if ('>)}]'.includes(c)) depth--;
    else if (c === '|' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p && p !== 'null');
}

function literalType(iface) {
  const prop = iface?.props.get('type');
  const match = prop?.type.match(/^'([^']+)'$/);
  return match ? match[1] : undefined;
}

function missing(value, type, file, where, depth = 0) {
  if (value === null || value === undefined || depth > 30) return [];
  const options = splitUnion(type);
  if (options.length > 1) {
    const variants = options.map((o) => resolve(o, file)).filter(Boolean);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const chosen = variants.filter((v) => v.iface && literalType(v.iface) === value.type);
      if (chosen.length === 1) return walk(value, chosen[0].iface, file, where, depth);
    }
    return [];
  }
  const single = options[0] ?? '';
  const array = single.match(/^Array<(.+)>$/);
  if (array) {
    return Array.isArray(value) ? value.flatMap((v, i) => missing(v, array[1], file, `${where}[${i}]`, depth + 1)) : [];
  }
  const target = resolve(single, file);
  if (!target) return [];
  if (target.alias) return missing(value, target.alias, file, where, depth + 1);
  return walk(value, target.iface, file, where, depth);
}

function resolve(name, file) {
  if (!/^[\w.]+$/.test(name)) return null;
  const iface = lookup(interfaces, name, file);
  if (iface) return { iface };
  const alias = lookup(aliases, name, file);
  return alias ? { alias } : null;
}

function walk(value, iface, file, where, depth) {
  if (typeof value !== 'object' || Array.isArray(value)) return [];
  const found = [];
  for (const [name, prop] of iface.props) {
    if (!(name in value)) {
      if (!prop.optional) found.push(`${where}.${name}`);
      continue;
    }
    found.push(...missing(value[name], prop.type, file, `${where}.${name}`, depth + 1));
  }
  return found;
}

// --- the calls ----------------------------------------------------------------------------
const results = { version, checked: 0, missing: [] };

function check(value, name, file) {
  results.checked++;
  const iface = lookup(interfaces, name, file);
  const alias = iface ? null : lookup(aliases, name, file);
  if (!iface && !alias) throw new Error(`the SDK declares no ${name} in ${file}`);
  const found = iface ? walk(value, iface, file, '$', 0) : missing(value, alias, file, '$');
  results.missing.push(...found.map((m) => `${name}: ${m}`));
}

async function main() {
  declarations(SDK);
  // The walk must be able to fail: a message without its nullable fields is caught.
  const bare = { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 1, output_tokens: 1 } };
  const caught = walk(bare, lookup(interfaces, 'Message', 'messages/messages'), 'messages/messages', '$', 0);
  for (const key of ['$.container', '$.stop_details', '$.usage.speed', '$.content[0].citations']) {
    if (!caught.includes(key)) throw new Error(`self-check: ${key} not reported (got ${caught})`);
  }
  const options = { baseURL, maxRetries: 0 };
  const client =
    version === '2023-06-01'
      ? new Anthropic({ ...options, apiKey: null, defaultHeaders: { 'anthropic-version': version, 'X-Api-Key': 'sk-ts' } })
      : new Anthropic({ ...options, apiKey: 'sk-ts' });
  const M = 'messages/messages';
  const params = (text, extra = {}) => ({
    model: 'claude-haiku-4-5',
    max_tokens: 64,
    messages: [{ role: 'user', content: text }],
    ...extra,
  });
  check(await client.messages.create(params('What is the capital of France?')), 'Message', M);
  const tool = {
    name: 'get_weather',
    description: 'Weather for a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  };
  const forced = await client.messages.create(
    params('Weather in Paris?', { tools: [tool], tool_choice: { type: 'tool', name: 'get_weather' } }),
  );
  if (forced.content[0]?.type !== 'tool_use') throw new Error('expected a tool_use block');
  check(forced, 'Message', M);
  check(await client.messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] }), 'MessageTokensCount', M);
  const stream = await client.messages.create(params('What is the capital of France?', { stream: true }));
  for await (const event of stream) check(event, 'RawMessageStreamEvent', M);

  const B = 'messages/batches';
  const batch = await client.messages.batches.create({ requests: [{ custom_id: 'a', params: params('hi') }] });
  check(batch, 'MessageBatch', B);
  await fetch(`${baseURL}/_sandbox/clock/advance`, { method: 'POST', body: JSON.stringify({ seconds: 3600 }) });
  check(await client.messages.batches.retrieve(batch.id), 'MessageBatch', B);
  for await (const item of client.messages.batches.list()) check(item, 'MessageBatch', B);
  for await (const line of await client.messages.batches.results(batch.id)) check(line, 'MessageBatchIndividualResponse', B);
  check(await client.messages.batches.delete(batch.id), 'DeletedMessageBatch', B);

  check(await client.models.retrieve('claude-sonnet-4-5'), 'ModelInfo', 'models');
  for await (const model of client.models.list()) check(model, 'ModelInfo', 'models');

  const file = await client.beta.files.upload({ file: await toFile(Buffer.from('hello'), 'a.txt', { type: 'text/plain' }) });
  check(file, 'FileMetadata', 'beta/files');
  check(await client.beta.files.retrieveMetadata(file.id), 'FileMetadata', 'beta/files');
  check(await client.beta.files.delete(file.id), 'DeletedFile', 'beta/files');

  const skillMd = Buffer.from('---\nname: greeter\ndescription: says hello\n---\nSay hello.');
  const skill = await client.skills.create({
    display_name: 'Greeter',
    files: [await toFile(skillMd, 'greeter/SKILL.md', { type: 'text/markdown' })],
  });
  check(skill, 'Skill', 'skills/skills');
  check(await client.skills.retrieve(skill.id), 'Skill', 'skills/skills');
  check(await client.skills.delete(skill.id), 'DeletedSkill', 'skills/skills');
}

try {
  await main();
  console.log(JSON.stringify(results));
  process.exit(results.missing.length ? 1 : 0);
} catch (error) {
  console.log(JSON.stringify({ ...results, error: String(error?.stack ?? error) }));
  process.exit(2);
}
