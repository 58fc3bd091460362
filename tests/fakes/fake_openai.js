#!/usr/bin/env node
'use strict';
// Fake OpenAI-compatible API (embeddings + chat completions) for Haink tests.
// The app is pointed at it with OPENAI_BASE_URL=http://127.0.0.1:PORT/v1.
// See README.md in this folder.

const { startFake, sleep, isInt } = require('./lib/common');

// --- errors in OpenAI's style -------------------------------------------------------

function oaiError(message, type, param, code) {
  return { error: { message, type: type || 'invalid_request_error', param: param || null, code: code || null } };
}

function badRequest(ctx, message, param, code) {
  return ctx.send(400, oaiError(message, 'invalid_request_error', param, code));
}

// --- embeddings -----------------------------------------------------------------------

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fmix(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const WORD_RE = /[\p{L}\p{N}]+/gu;

// Deterministic embedding: feature-hashed lowercase word unigrams (weight 1) and
// bigrams (weight 0.5), signed, L2-normalised. Texts sharing words are similar.
function embed(text, dim) {
  const v = new Float64Array(dim);
  const words = text.toLowerCase().match(WORD_RE) || [];
  const add = (feat, w) => {
    const h = fnv1a(feat);
    v[h % dim] += (fmix(h) & 1) ? -w : w;
  };
  if (words.length === 0) add(`\u0001${text}`, 1);
  for (let i = 0; i < words.length; i++) {
    add(words[i], 1);
    if (i + 1 < words.length) add(`${words[i]} ${words[i + 1]}`, 0.5);
  }
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += v[i] * v[i];
  norm = Math.sqrt(norm) || 1;
  const out = new Array(dim);
  for (let i = 0; i < dim; i++) out[i] = Math.round((v[i] / norm) * 1e7) / 1e7;
  return out;
}

function toBase64(vec) {
  const buf = Buffer.alloc(vec.length * 4);
  for (let i = 0; i < vec.length; i++) buf.writeFloatLE(vec[i], i * 4);
  return buf.toString('base64');
}

function approxTokens(chars) {
  return Math.max(1, Math.ceil(chars / 4));
}

// --- chat helpers ---------------------------------------------------------------------

function contentText(c) {
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c.map((p) => (typeof p === 'string' ? p : p && typeof p.text === 'string' ? p.text : '')).join('');
  }
  return typeof c === 'object' ? JSON.stringify(c) : String(c);
}

function firstChars(s, n) {
  if (s.length <= n) return s;
  return Array.from(s).slice(0, n).join('');
}

const SOURCE_RE = /"source"\s*:\s*"((?:[^"\\]|\\.)*)"/;
function findSource(text) {
  const m = SOURCE_RE.exec(text);
  if (!m) return null;
  try {
    return JSON.parse(`"${m[1]}"`);
  } catch (e) {
    return m[1];
  }
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

// Returns an error message (string) or null. Mirrors the checks the real API makes
// that an agent loop is most likely to trip over.
function validateChat(b, strict) {
  if (typeof b.model !== 'string' || !b.model) return ['you must provide a model parameter', 'model'];
  const msgs = b.messages;
  if (msgs === undefined) return ["Missing required parameter: 'messages'.", 'messages'];
  if (!Array.isArray(msgs)) return ["Invalid type for 'messages': expected an array.", 'messages'];
  if (msgs.length === 0) {
    return ["Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages'];
  }
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    const p = `messages[${i}]`;
    if (!m || typeof m !== 'object' || Array.isArray(m)) return [`Invalid type for '${p}': expected an object.`, p];
    if (!ROLES.has(m.role)) return [`Invalid value for '${p}.role': '${m.role}'.`, `${p}.role`];
    const hasContent = m.content !== undefined && m.content !== null;
    if (hasContent && typeof m.content !== 'string' && !Array.isArray(m.content)) {
      return [`Invalid type for '${p}.content': expected one of a string or array of objects.`, `${p}.content`];
    }
    if ((m.role === 'user' || m.role === 'system' || m.role === 'developer' || m.role === 'tool') && !hasContent) {
      return [`Missing required parameter: '${p}.content'.`, `${p}.content`];
    }
    if (m.role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null) {
      if (!Array.isArray(m.tool_calls)) return [`Invalid type for '${p}.tool_calls': expected an array.`, `${p}.tool_calls`];
      for (let j = 0; j < m.tool_calls.length; j++) {
        const tc = m.tool_calls[j];
        const tp = `${p}.tool_calls[${j}]`;
        if (!tc || typeof tc !== 'object') return [`Invalid type for '${tp}': expected an object.`, tp];
        if (typeof tc.id !== 'string' || !tc.id) return [`Missing required parameter: '${tp}.id'.`, `${tp}.id`];
        if (tc.type !== 'function') return [`Missing required parameter: '${tp}.type'.`, `${tp}.type`];
        if (!tc.function || typeof tc.function.name !== 'string') {
          return [`Missing required parameter: '${tp}.function.name'.`, `${tp}.function`];
        }
        if (typeof tc.function.arguments !== 'string') {
          return [`Invalid type for '${tp}.function.arguments': expected a string.`, `${tp}.function.arguments`];
        }
      }
    } else if (m.role === 'assistant' && !hasContent && !m.function_call) {
      return [`Missing required parameter: '${p}.content'.`, `${p}.content`];
    }
    if (m.role === 'tool' && (typeof m.tool_call_id !== 'string' || !m.tool_call_id)) {
      return [`Missing required parameter: '${p}.tool_call_id'.`, `${p}.tool_call_id`];
    }
  }
  if (strict) {
    // tool messages must answer a preceding assistant tool_calls, and every
    // tool_call id must be answered before the next non-tool message.
    let pending = null;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i];
      if (m.role === 'tool') {
        if (!pending || !pending.has(m.tool_call_id)) {
          return [`Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.`, `messages.[${i}].role`];
        }
        pending.delete(m.tool_call_id);
        continue;
      }
      if (pending && pending.size) {
        return [`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...pending].join(', ')}`, `messages.[${i}].role`];
      }
      pending = m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length
        ? new Set(m.tool_calls.map((tc) => tc.id)) : null;
    }
    if (pending && pending.size) {
      return [`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...pending].join(', ')}`, 'messages'];
    }
  }
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) return ["Invalid type for 'tools': expected an array.", 'tools'];
    if (strict && b.tools.length === 0) {
      return ["Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tools'];
    }
    for (let i = 0; i < b.tools.length; i++) {
      const t = b.tools[i];
      if (!t || t.type !== 'function' || !t.function || typeof t.function.name !== 'string') {
        return [`Missing required parameter: 'tools[${i}].function'.`, `tools[${i}]`];
      }
      if (!TOOL_NAME_RE.test(t.function.name)) {
        return [`Invalid 'tools[${i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`, `tools[${i}].function.name`];
      }
    }
  }
  if (strict && b.tool_choice !== undefined && b.tool_choice !== null &&
      (!Array.isArray(b.tools) || b.tools.length === 0)) {
    return ["Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice'];
  }
  return null;
}

let idCounter = 0;
function newId(prefix) {
  idCounter++;
  return `${prefix}${Date.now().toString(36)}${idCounter.toString(36).padStart(6, '0')}`;
}

function makeToolCall(tc) {
  const name = tc.name !== undefined ? tc.name : tc.function && tc.function.name;
  let args = tc.arguments !== undefined ? tc.arguments : tc.function && tc.function.arguments;
  if (args === undefined) args = {};
  return {
    id: typeof tc.id === 'string' ? tc.id : newId('call_'),
    type: 'function',
    function: { name: String(name), arguments: typeof args === 'string' ? args : JSON.stringify(args) },
  };
}

function validateScriptItem(it, i) {
  const p = `responses[${i}]`;
  if (!it || typeof it !== 'object' || Array.isArray(it)) return `${p} must be an object`;
  if (it.match !== undefined && typeof it.match !== 'string') return `${p}.match must be a string`;
  if (it.content !== undefined && it.content !== null && typeof it.content !== 'string') {
    return `${p}.content must be a string or null`;
  }
  if (it.tool_calls !== undefined) {
    if (!Array.isArray(it.tool_calls) || it.tool_calls.length === 0) return `${p}.tool_calls must be a non-empty array`;
    for (let j = 0; j < it.tool_calls.length; j++) {
      const tc = it.tool_calls[j];
      const name = tc && (tc.name !== undefined ? tc.name : tc.function && tc.function.name);
      if (typeof name !== 'string' || !name) return `${p}.tool_calls[${j}].name must be a non-empty string`;
    }
  }
  if (it.content === undefined && it.tool_calls === undefined) return `${p} needs content or tool_calls`;
  if (it.delay_ms !== undefined && (typeof it.delay_ms !== 'number' || !(it.delay_ms >= 0))) {
    return `${p}.delay_ms must be >= 0`;
  }
  if (it.finish_reason !== undefined && typeof it.finish_reason !== 'string') return `${p}.finish_reason must be a string`;
  return null;
}

// --- state ------------------------------------------------------------------------

let script = [];
let counters;
function resetCounters() {
  counters = {
    embedding_requests: 0,
    embedding_inputs_total: 0,
    chat_requests: 0,
    chat_scripted: 0,
    chat_tool_call_responses: 0,
    prompt_tokens_total: 0,
    completion_tokens_total: 0,
  };
}
resetCounters();

const DEFAULT_CONFIG = {
  latency_ms: 0,
  embedding_latency_ms: 0,
  embedding_dim: 1536,
  strict: true,
  // stream: true answers: text goes out in pieces of stream_chunk_chars
  // characters, stream_chunk_ms apart (a model's token rate); stream_cut_after
  // > 0 drops the connection after that many events (a broken stream).
  stream_chunk_chars: 4,
  stream_chunk_ms: 0,
  stream_cut_after: 0,
};

function applyConfig(cfg, patch) {
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case 'latency_ms':
      case 'embedding_latency_ms':
        if (typeof v !== 'number' || !(v >= 0)) return `${k} must be a number >= 0`;
        break;
      case 'embedding_dim':
        if (!isInt(v) || v < 1 || v > 16384) return 'embedding_dim must be an integer 1..16384';
        break;
      case 'strict':
        if (typeof v !== 'boolean') return 'strict must be a boolean';
        break;
      case 'stream_chunk_chars':
        if (!isInt(v) || v < 1 || v > 100000) return 'stream_chunk_chars must be an integer 1..100000';
        break;
      case 'stream_chunk_ms':
      case 'stream_cut_after':
        if (!isInt(v) || v < 0) return `${k} must be an integer >= 0`;
        break;
      default:
        return `unknown config option ${k}`;
    }
  }
  Object.assign(cfg, patch);
  return null;
}

// --- handlers -----------------------------------------------------------------------

async function handleEmbeddings(ctx, b) {
  const cfg = ctx.config;
  if (typeof b.model !== 'string' || !b.model) return badRequest(ctx, 'you must provide a model parameter', 'model');
  let input = b.input;
  if (input === undefined || input === null) return badRequest(ctx, "Missing required parameter: 'input'.", 'input');
  let inputs;
  if (typeof input === 'string') {
    inputs = [input];
  } else if (Array.isArray(input)) {
    if (input.length === 0) return badRequest(ctx, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
    if (input.length > 2048) {
      return badRequest(ctx, `Invalid 'input': maximum input length is 2048 items, got ${input.length}.`, 'input', 'array_above_max_length');
    }
    inputs = [];
    for (const x of input) {
      if (typeof x === 'string') inputs.push(x);
      else if (typeof x === 'number' && Number.isInteger(x)) inputs.push(String(x)); // token id
      else if (Array.isArray(x) && x.every((t) => Number.isInteger(t))) inputs.push(x.join(' ')); // token ids
      else return badRequest(ctx, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
    }
  } else {
    return badRequest(ctx, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  }
  for (const s of inputs) {
    if (s.length === 0) return badRequest(ctx, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  }
  let dim = cfg.embedding_dim;
  if (b.dimensions !== undefined && b.dimensions !== null) {
    if (!isInt(b.dimensions) || b.dimensions < 1 || b.dimensions > 16384) {
      return badRequest(ctx, `Invalid 'dimensions': expected an integer between 1 and 16384, got ${JSON.stringify(b.dimensions)}.`, 'dimensions');
    }
    dim = b.dimensions;
  }
  const fmt = b.encoding_format === undefined || b.encoding_format === null ? 'float' : b.encoding_format;
  if (fmt !== 'float' && fmt !== 'base64') {
    return badRequest(ctx, `Invalid value for 'encoding_format': '${fmt}'. Expected 'float' or 'base64'.`, 'encoding_format');
  }
  if (cfg.embedding_latency_ms > 0) await sleep(cfg.embedding_latency_ms);
  let chars = 0;
  const data = inputs.map((s, i) => {
    chars += s.length;
    const vec = embed(s, dim);
    return { object: 'embedding', index: i, embedding: fmt === 'base64' ? toBase64(vec) : vec };
  });
  counters.embedding_requests++;
  counters.embedding_inputs_total += inputs.length;
  const tokens = approxTokens(chars);
  return ctx.send(200, { object: 'list', data, model: b.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function pickScripted(q) {
  for (let i = 0; i < script.length; i++) {
    const it = script[i];
    if (it.match === undefined || q.includes(it.match)) {
      script.splice(i, 1);
      return it;
    }
  }
  return null;
}

function defaultAgent(b, q, lastUser) {
  const msgs = b.messages;
  const toolResults = [];
  for (let i = lastUser + 1; i < msgs.length; i++) if (msgs[i].role === 'tool') toolResults.push(msgs[i]);
  if (toolResults.length) {
    let content = `Based on the knowledge base: ${firstChars(contentText(toolResults[0].content), 200)}`;
    let source = null;
    for (const t of toolResults) {
      source = findSource(contentText(t.content));
      if (source !== null) break;
    }
    if (source !== null) content += `\n\nSource: ${source}`;
    return { content, tool_calls: null };
  }
  const tools = Array.isArray(b.tools) ? b.tools : [];
  const names = tools.map((t) => t && t.function && t.function.name).filter(Boolean);
  const tc = b.tool_choice;
  if (names.length && tc !== 'none') {
    let name = null;
    if (tc && typeof tc === 'object' && tc.function && typeof tc.function.name === 'string') name = tc.function.name;
    else if (names.includes('search_knowledge_base')) name = 'search_knowledge_base';
    else if (tc === 'required') name = names[0];
    if (name) return { content: null, tool_calls: [makeToolCall({ name, arguments: { query: q } })] };
  }
  return { content: `Echo: ${q}`, tool_calls: null };
}

// A chat completion as OpenAI streams it: chat.completion.chunk events (the
// role, the text in pieces, each tool call's id and name and then its
// arguments in two fragments, the finish_reason), the usage chunk when asked
// (stream_options.include_usage), then [DONE].
async function streamChat(ctx, model, reply, finish, usage) {
  const cfg = ctx.config;
  const id = newId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, fr) => ({ id, object: 'chat.completion.chunk', created, model,
    system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: fr }] });
  const events = [chunk({ role: 'assistant', content: reply.tool_calls ? null : '', refusal: null }, null)];
  const text = reply.content || '';
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i += cfg.stream_chunk_chars) {
    events.push(chunk({ content: chars.slice(i, i + cfg.stream_chunk_chars).join('') }, null));
  }
  (reply.tool_calls || []).forEach((tc, index) => {
    const a = tc.function.arguments;
    const half = Math.floor(a.length / 2);
    events.push(chunk({ tool_calls: [{ index, id: tc.id, type: 'function',
      function: { name: tc.function.name, arguments: '' } }] }, null));
    events.push(chunk({ tool_calls: [{ index, function: { arguments: a.slice(0, half) } }] }, null));
    events.push(chunk({ tool_calls: [{ index, function: { arguments: a.slice(half) } }] }, null));
  });
  events.push(chunk({}, finish));
  if (usage) events.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  const res = ctx.res;
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache',
    Connection: 'keep-alive' });
  let sent = 0;
  for (const e of events) {
    if (cfg.stream_cut_after > 0 && sent >= cfg.stream_cut_after) {
      res.destroy();
      return;
    }
    res.write(`data: ${JSON.stringify(e)}\n\n`);
    sent++;
    if (cfg.stream_chunk_ms > 0) await sleep(cfg.stream_chunk_ms);
  }
  res.end('data: [DONE]\n\n');
}

async function handleChat(ctx, b) {
  const cfg = ctx.config;
  const err = validateChat(b, cfg.strict);
  if (err) return badRequest(ctx, err[0], err[1]);
  if (b.stream !== undefined && typeof b.stream !== 'boolean') {
    return badRequest(ctx, "Invalid type for 'stream': expected a boolean.", 'stream', 'invalid_type');
  }
  if (b.stream_options !== undefined && b.stream !== true) {
    return badRequest(ctx, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options', 'invalid_value');
  }
  const msgs = b.messages;
  let lastUser = -1;
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i].role === 'user') { lastUser = i; break; }
  }
  const q = lastUser >= 0 ? contentText(msgs[lastUser].content) : '';

  let reply;
  let finish = null;
  let delay = cfg.latency_ms;
  const it = script.length ? pickScripted(q) : null;
  if (it) {
    counters.chat_scripted++;
    reply = {
      content: it.content === undefined ? null : it.content,
      tool_calls: it.tool_calls ? it.tool_calls.map(makeToolCall) : null,
    };
    if (it.finish_reason) finish = it.finish_reason;
    if (it.delay_ms !== undefined) delay += it.delay_ms;
  } else {
    reply = defaultAgent(b, q, lastUser);
  }
  if (delay > 0) await sleep(delay);

  let promptChars = 0;
  for (const m of msgs) {
    promptChars += contentText(m.content).length + 16;
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) promptChars += (tc.function.name.length + tc.function.arguments.length);
    }
  }
  if (Array.isArray(b.tools)) promptChars += JSON.stringify(b.tools).length;
  let completionChars = reply.content ? reply.content.length : 0;
  if (reply.tool_calls) {
    for (const tc of reply.tool_calls) completionChars += tc.function.name.length + tc.function.arguments.length;
  }
  const pt = approxTokens(promptChars);
  const ct = approxTokens(completionChars);
  counters.chat_requests++;
  counters.prompt_tokens_total += pt;
  counters.completion_tokens_total += ct;
  if (reply.tool_calls) counters.chat_tool_call_responses++;

  const usage = { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct };
  const fin = finish || (reply.tool_calls ? 'tool_calls' : 'stop');
  if (b.stream === true) {
    counters.chat_streamed = (counters.chat_streamed || 0) + 1;
    const withUsage = !!(b.stream_options && b.stream_options.include_usage === true);
    return streamChat(ctx, b.model, reply, fin, withUsage ? usage : null);
  }
  const message = { role: 'assistant', content: reply.content, refusal: null };
  if (reply.tool_calls) message.tool_calls = reply.tool_calls;
  return ctx.send(200, {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: b.model,
    choices: [{
      index: 0,
      message,
      logprobs: null,
      finish_reason: finish || (reply.tool_calls ? 'tool_calls' : 'stop'),
    }],
    usage: { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct },
    system_fingerprint: 'fp_fake',
  });
}

startFake({
  name: 'fake_openai',
  defaultConfig: DEFAULT_CONFIG,
  applyConfig,
  faultBody: (status) => {
    if (status === 429) {
      return oaiError('Rate limit reached for requests (fake). Please try again in 1s.', 'requests', null, 'rate_limit_exceeded');
    }
    if (status >= 500) {
      return oaiError('The server had an error while processing your request. Sorry about that!', 'server_error');
    }
    if (status === 401) return oaiError('Incorrect API key provided (fake).', 'invalid_request_error', null, 'invalid_api_key');
    return oaiError(`Injected fault ${status} (fake).`, 'invalid_request_error');
  },
  reset: () => {
    script = [];
    resetCounters();
  },
  stats: () => Object.assign({ script_pending: script.length }, counters),
  control: {
    'POST /_fake/script': (ctx) => {
      let v;
      try {
        v = JSON.parse(ctx.body);
      } catch (e) {
        return ctx.send(400, { ok: false, error: `invalid JSON: ${e.message}` });
      }
      const list = Array.isArray(v) ? v : v && Array.isArray(v.responses) ? v.responses : null;
      if (!list) return ctx.send(400, { ok: false, error: 'expected {"responses": [...]}' });
      for (let i = 0; i < list.length; i++) {
        const e = validateScriptItem(list[i], i);
        if (e) return ctx.send(400, { ok: false, error: e });
      }
      script.push(...list);
      return ctx.send(200, { ok: true, queued: list.length, pending: script.length });
    },
    'GET /_fake/script': (ctx) => ctx.send(200, script),
    'DELETE /_fake/script': (ctx) => {
      script = [];
      return ctx.send(200, { ok: true });
    },
  },
  async handle(ctx) {
    const { method, path } = ctx;
    const known = path === '/v1/embeddings' || path === '/v1/chat/completions' || path === '/v1/models';
    const allowed = (path === '/v1/models' && method === 'GET') || (path !== '/v1/models' && method === 'POST');
    if (!known || !allowed) {
      return ctx.send(404, oaiError(`Invalid URL (${method} ${path})`, 'invalid_request_error'));
    }
    const auth = ctx.headers.authorization;
    const am = typeof auth === 'string' ? /^Bearer\s+(\S+)/i.exec(auth) : null;
    const azureKey = ctx.headers['api-key'];
    if (!am && !(typeof azureKey === 'string' && azureKey.trim())) {
      return ctx.send(401, oaiError(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        'invalid_request_error', null, 'invalid_api_key'));
    }
    if (path === '/v1/models') {
      return ctx.send(200, {
        object: 'list',
        data: [
          { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' },
          { id: 'text-embedding-3-small', object: 'model', created: 1705948997, owned_by: 'system' },
        ],
      });
    }
    // Parse as JSON whatever the Content-Type says (the real API is lenient there too).
    let body = ctx.parsed.kind === 'json' && !ctx.parsed.error ? ctx.parsed.value : undefined;
    if (body === undefined) {
      try { body = JSON.parse(ctx.body); } catch (e) { body = undefined; }
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return badRequest(ctx,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)");
    }
    if (path === '/v1/embeddings') return handleEmbeddings(ctx, body);
    return handleChat(ctx, body);
  },
});
