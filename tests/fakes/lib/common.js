'use strict';
// Shared plumbing for the Haink test fakes: argument parsing, request recording,
// fault injection, control routes (/_fake/...), graceful shutdown.
// Built-in modules only; works on node >= 18.

const http = require('http');

const MAX_BODY_BYTES = 64 * 1024 * 1024;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function usage(name, msg) {
  if (msg) process.stderr.write(`${name}: ${msg}\n`);
  process.stderr.write(
    `usage: node ${name}.js [--port N] [--max-records N] [--config JSON] [--verbose]\n`);
  process.exit(2);
}

function parseArgs(name, argv) {
  const opts = { port: 0, maxRecords: 100000, config: null, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    const next = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(name, `${key} needs a value`);
      return argv[++i];
    };
    if (key === '--port') {
      const v = next();
      if (!/^\d+$/.test(v) || Number(v) > 65535) usage(name, `bad --port ${v}`);
      opts.port = Number(v);
    } else if (key === '--max-records') {
      const v = next();
      if (!/^\d+$/.test(v) || Number(v) < 1) usage(name, `bad --max-records ${v}`);
      opts.maxRecords = Number(v);
    } else if (key === '--config') {
      try {
        opts.config = JSON.parse(next());
      } catch (e) {
        usage(name, `--config is not valid JSON: ${e.message}`);
      }
    } else if (key === '--verbose' || key === '-v') {
      opts.verbose = true;
    } else if (key === '--help' || key === '-h') {
      usage(name);
    } else {
      usage(name, `unknown argument ${a}`);
    }
  }
  return opts;
}

function contentTypeOf(headers) {
  const ct = headers['content-type'];
  return typeof ct === 'string' ? ct.toLowerCase() : '';
}

function formToObject(str) {
  const out = {};
  for (const [k, v] of new URLSearchParams(str)) out[k] = v;
  return out;
}

// Parse a request body according to its content type.
// Returns { kind: 'json'|'form'|'empty'|'other', value, error }.
// error is set (and value null) when the body claims/looks like JSON but is malformed.
function parseBody(headers, body) {
  const ct = contentTypeOf(headers);
  if (ct.includes('application/x-www-form-urlencoded')) {
    return { kind: 'form', value: formToObject(body), error: null };
  }
  const trimmed = body.trim();
  if (ct.includes('json') || (!ct && (trimmed[0] === '{' || trimmed[0] === '['))) {
    if (trimmed === '') return { kind: 'empty', value: null, error: null };
    try {
      return { kind: 'json', value: JSON.parse(body), error: null };
    } catch (e) {
      return { kind: 'json', value: null, error: e.message };
    }
  }
  if (trimmed === '') return { kind: 'empty', value: null, error: null };
  return { kind: 'other', value: null, error: null };
}

function jsonOfRecord(rec) {
  if (rec.json === undefined) {
    const p = parseBody(rec.headers, rec.body);
    rec.json = (p.kind === 'json' || p.kind === 'form') && !p.error ? p.value : null;
  }
  return rec.json;
}

function splitUrl(url) {
  const q = url.indexOf('?');
  if (q < 0) return { path: url, query: {} };
  return { path: url.slice(0, q), query: formToObject(url.slice(q + 1)) };
}

// Path pattern: undefined / '' / '*' = any; trailing '*' = prefix; else exact.
function pathMatches(pattern, path) {
  if (pattern === undefined || pattern === null || pattern === '' || pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}

function isInt(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

// spec: {
//   name,                       // 'fake_slack'
//   defaultConfig: {},          // persistent settings, changed by POST /_fake/config
//   applyConfig(cfg, patch)     // validate + merge; return error string or null
//   handle(ctx)                 // async; must answer via ctx.send/ctx.sendRaw
//   faultBody(status)           // default error body (object or string) for an injected fault
//   faultHeaders(status)        // default extra headers (e.g. Retry-After for Slack 429)
//   reset()                     // clear fake-specific state (messages, scripts, one-shot config)
//   stats()                     // extra fields merged into GET /_fake/stats
//   control: { 'GET /_fake/messages': (ctx) => ... }  // extra control routes
//   badJson(ctx, err)           // reply for malformed body, in the real API's style
// }
function startFake(spec) {
  const opts = parseArgs(spec.name, process.argv.slice(2));
  const maxRecords = opts.maxRecords;
  const trimAt = maxRecords + Math.max(1, Math.floor(maxRecords / 10));

  let records = [];
  let seq = 0;
  let faults = [];
  let faultSeq = 0;
  let stats = { count: 0, by_path: Object.create(null), faults_injected: 0 };
  const defaults = JSON.parse(JSON.stringify(spec.defaultConfig || {}));
  const config = JSON.parse(JSON.stringify(defaults));
  const waiters = new Set();

  if (opts.config) {
    const err = spec.applyConfig ? spec.applyConfig(config, opts.config) : null;
    if (err) usage(spec.name, `--config: ${err}`);
  }

  function log(msg) {
    if (opts.verbose) process.stderr.write(`${spec.name}: ${msg}\n`);
  }

  function send(res, status, obj, headers) {
    if (res.writableEnded || res.destroyed) return;
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    const h = Object.assign(
      {
        'Content-Type': typeof obj === 'string' && !/^\s*[{[]/.test(obj)
          ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
      },
      headers || {});
    res.writeHead(status, h);
    res.end(body);
  }

  function recordRequest(method, path, query, headers, body) {
    const rec = {
      seq: ++seq,
      ts_ms: Date.now(),
      method,
      path,
      query,
      headers,
      body,
      json: undefined, // computed lazily when read back
    };
    records.push(rec);
    if (records.length >= trimAt) records = records.slice(records.length - maxRecords);
    stats.count++;
    stats.by_path[path] = (stats.by_path[path] || 0) + 1;
    if (waiters.size) for (const w of waiters) w();
    return rec;
  }

  function publicRecord(rec) {
    return {
      seq: rec.seq,
      ts_ms: rec.ts_ms,
      method: rec.method,
      path: rec.path,
      query: rec.query,
      headers: rec.headers,
      body: rec.body,
      json: jsonOfRecord(rec),
    };
  }

  function filterRecords(query) {
    const since = query.since !== undefined ? Number(query.since) : 0;
    const method = query.method ? query.method.toUpperCase() : null;
    let out = [];
    for (const r of records) {
      if (r.seq <= since) continue;
      if (query.path && !pathMatches(query.path, r.path)) continue;
      if (method && r.method !== method) continue;
      out.push(r);
    }
    if (query.limit !== undefined && Number(query.limit) >= 0) {
      out = out.slice(Math.max(0, out.length - Number(query.limit)));
    }
    return out;
  }

  function takeFault(method, path) {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i];
      if (f.count === 0) continue;
      if (!pathMatches(f.path, path)) continue;
      if (f.method && f.method !== method) continue;
      if (f.count > 0) f.count--;
      f.hits++;
      if (f.count === 0) faults.splice(i, 1);
      return f;
    }
    return null;
  }

  function validateFault(f) {
    if (!f || typeof f !== 'object' || Array.isArray(f)) return 'fault must be an object';
    if (f.path !== undefined && typeof f.path !== 'string') return 'path must be a string';
    if (f.method !== undefined && typeof f.method !== 'string') return 'method must be a string';
    const status = f.status === undefined ? 0 : f.status;
    if (!isInt(status) || (status !== 0 && (status < 100 || status > 599))) {
      return 'status must be 0 or an HTTP status 100..599';
    }
    const count = f.count === undefined ? 1 : f.count;
    if (!isInt(count) || count === 0 || count < -1) return 'count must be a positive integer or -1';
    const delay = f.delay_ms === undefined ? 0 : f.delay_ms;
    if (typeof delay !== 'number' || !(delay >= 0)) return 'delay_ms must be >= 0';
    if (f.retry_after !== undefined && f.retry_after !== null &&
        typeof f.retry_after !== 'number' && typeof f.retry_after !== 'string') {
      return 'retry_after must be a number, a string or null';
    }
    if (f.headers !== undefined && (typeof f.headers !== 'object' || f.headers === null)) {
      return 'headers must be an object';
    }
    if (status === 0 && !f.drop && delay === 0) return 'fault does nothing (status 0, no delay, no drop)';
    return null;
  }

  function publicFault(f) {
    const o = { id: f.id, path: f.path === undefined ? '*' : f.path, status: f.status,
      count: f.count, delay_ms: f.delay_ms, hits: f.hits };
    if (f.method) o.method = f.method;
    if (f.retry_after !== undefined) o.retry_after = f.retry_after;
    if (f.body !== undefined) o.body = f.body;
    if (f.headers) o.headers = f.headers;
    if (f.drop) o.drop = true;
    return o;
  }

  async function applyFault(ctx, f) {
    stats.faults_injected++;
    if (f.delay_ms > 0) await sleep(f.delay_ms);
    if (f.drop) {
      ctx.req.socket.destroy();
      return true;
    }
    if (f.status === 0) return false; // delay only, then answer normally
    const headers = Object.assign({}, spec.faultHeaders ? spec.faultHeaders(f.status) : {});
    if (f.retry_after !== undefined) {
      delete headers['Retry-After'];
      if (f.retry_after !== null) headers['Retry-After'] = String(f.retry_after);
    }
    if (f.headers) Object.assign(headers, f.headers);
    let body = f.body;
    if (body === undefined) body = spec.faultBody ? spec.faultBody(f.status) : { error: 'injected fault' };
    send(ctx.res, f.status, body, headers);
    return true;
  }

  function waitFor(query, res) {
    const want = query.count !== undefined ? Math.max(1, Number(query.count) || 1) : 1;
    const timeout = Math.min(Number(query.timeout_ms) || 5000, 120000);
    let done = false;
    let timer = null;
    const check = (final) => {
      if (done) return;
      const got = filterRecords(Object.assign({}, query, { limit: undefined }));
      if (got.length >= want || final) {
        done = true;
        waiters.delete(onRecord);
        if (timer) clearTimeout(timer);
        send(res, 200, { ok: got.length >= want, count: got.length, requests: got.map(publicRecord) });
      }
    };
    // Defer the check so the request being recorded has finished its handling too.
    const onRecord = () => setImmediate(() => check(false));
    waiters.add(onRecord);
    timer = setTimeout(() => check(true), timeout);
    res.on('close', () => {
      if (!done) { done = true; waiters.delete(onRecord); clearTimeout(timer); }
    });
    check(false);
  }

  function readJsonControl(ctx) {
    if (ctx.body.trim() === '') return { value: {}, error: null };
    try {
      return { value: JSON.parse(ctx.body), error: null };
    } catch (e) {
      return { value: null, error: `invalid JSON: ${e.message}` };
    }
  }

  async function control(ctx) {
    const key = `${ctx.method} ${ctx.path}`;
    const res = ctx.res;
    switch (key) {
      case 'GET /_fake/health':
        return send(res, 200, { ok: true, name: spec.name });
      case 'GET /_fake/requests':
        return send(res, 200, filterRecords(ctx.query).map(publicRecord));
      case 'GET /_fake/wait':
        return waitFor(ctx.query, res);
      case 'GET /_fake/stats': {
        const out = { count: stats.count, by_path: stats.by_path, faults_injected: stats.faults_injected };
        if (spec.stats) Object.assign(out, spec.stats());
        return send(res, 200, out);
      }
      case 'POST /_fake/reset': {
        const j = readJsonControl(ctx);
        const full = ctx.query.config === '1' || ctx.query.config === 'true' ||
          (j.value && j.value.config === true);
        records = [];
        faults = [];
        stats = { count: 0, by_path: Object.create(null), faults_injected: 0 };
        if (full) {
          for (const k of Object.keys(config)) delete config[k];
          Object.assign(config, JSON.parse(JSON.stringify(defaults)));
        }
        if (spec.reset) spec.reset(config, full);
        return send(res, 200, { ok: true, config_reset: !!full });
      }
      case 'GET /_fake/faults':
        return send(res, 200, faults.map(publicFault));
      case 'DELETE /_fake/faults':
        faults = [];
        return send(res, 200, { ok: true });
      case 'POST /_fake/faults': {
        const j = readJsonControl(ctx);
        if (j.error) return send(res, 400, { ok: false, error: j.error });
        let list = j.value;
        if (list && !Array.isArray(list) && Array.isArray(list.faults)) list = list.faults;
        if (!Array.isArray(list)) list = [list];
        for (const f of list) {
          const err = validateFault(f);
          if (err) return send(res, 400, { ok: false, error: err });
        }
        const added = [];
        for (const f of list) {
          const fault = {
            id: ++faultSeq,
            path: f.path,
            method: f.method ? f.method.toUpperCase() : undefined,
            status: f.status || 0,
            count: f.count === undefined ? 1 : f.count,
            delay_ms: f.delay_ms || 0,
            retry_after: f.retry_after,
            body: f.body,
            headers: f.headers,
            drop: !!f.drop,
            hits: 0,
          };
          faults.push(fault);
          added.push(publicFault(fault));
        }
        return send(res, 200, { ok: true, faults: added });
      }
      case 'GET /_fake/config':
        return send(res, 200, config);
      case 'POST /_fake/config': {
        const j = readJsonControl(ctx);
        if (j.error) return send(res, 400, { ok: false, error: j.error });
        if (!j.value || typeof j.value !== 'object' || Array.isArray(j.value)) {
          return send(res, 400, { ok: false, error: 'config must be a JSON object' });
        }
        const err = spec.applyConfig ? spec.applyConfig(config, j.value) : 'no config options';
        if (err) return send(res, 400, { ok: false, error: err });
        return send(res, 200, Object.assign({ ok: true }, { config }));
      }
      default: {
        const fn = spec.control && spec.control[key];
        if (fn) return fn(ctx);
        return send(res, 404, { ok: false, error: `unknown control route ${key}` });
      }
    }
  }

  async function onRequest(req, res) {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      if (tooBig) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) { tooBig = true; return; }
      chunks.push(c);
    });
    req.on('error', () => {});
    await new Promise((resolve) => req.on('end', resolve).on('close', resolve));
    const { path, query } = splitUrl(req.url || '/');
    if (tooBig) return send(res, 413, { error: 'request body too large' });
    const body = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
    const ctx = {
      req, res, method: req.method, path, query, headers: req.headers, body, config,
      send: (status, obj, headers) => send(res, status, obj, headers),
      parsed: null,
    };
    if (path === '/_fake' || path.startsWith('/_fake/')) return control(ctx);

    ctx.rec = recordRequest(req.method, path, query, req.headers, body);
    const f = faults.length ? takeFault(req.method, path) : null;
    if (f) {
      log(`fault #${f.id} on ${req.method} ${path}`);
      if (await applyFault(ctx, f)) return undefined;
    }
    ctx.parsed = parseBody(req.headers, body);
    return spec.handle(ctx);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((e) => {
      process.stderr.write(`${spec.name}: internal error: ${e && e.stack ? e.stack : e}\n`);
      try {
        send(res, 500, { error: `fake internal error: ${e && e.message ? e.message : e}` });
      } catch (_) { /* ignore */ }
    });
  });
  server.keepAliveTimeout = 30000;
  server.headersTimeout = 35000;
  server.requestTimeout = 0;
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  server.on('error', (e) => {
    process.stderr.write(`${spec.name}: ${e.message}\n`);
    process.exit(1);
  });

  process.stdout.on('error', () => {});
  process.on('uncaughtException', (e) => {
    process.stderr.write(`${spec.name}: uncaught: ${e && e.stack ? e.stack : e}\n`);
  });

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => process.exit(0));
    if (server.closeAllConnections) server.closeAllConnections();
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  server.listen(opts.port, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });

  return { server, config, send, log };
}

module.exports = { startFake, parseBody, sleep, isInt };
