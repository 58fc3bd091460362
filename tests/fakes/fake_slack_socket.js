#!/usr/bin/env node
'use strict';
// Fake Slack Socket Mode for Haink tests: apps.connections.open plus the
// WebSocket it hands out. The API is pointed at it with
// SLACK_API_URL=http://127.0.0.1:PORT/api and SLACK_APP_TOKEN=xapp-….
// Tests queue envelopes (POST /_fake/envelopes); the fake delivers each to an
// open connection, records the acks, and redelivers what is not acked in time
// or was on a connection that closed. See README.md in this folder.
//
// The WebSocket server is the npm package `ws`, installed from Debian
// (node-ws) by tests/tools/deps.sh: Debian's own node finds it by itself,
// another node build (NodeSource) needs the path below.

const crypto = require('crypto');
const { startFake, isInt } = require('./lib/common');

let WebSocketServer;
try {
  ({ WebSocketServer } = require('ws'));
} catch (e) {
  ({ WebSocketServer } = require('/usr/share/nodejs/ws'));
}

const DEFAULT_CONFIG = {
  ack_timeout_ms: 3000, // an envelope not acked this long after delivery is delivered again
  max_deliveries: 10, // then it is given up (recorded as failed)
  send_hello: true,
  token_prefix: 'xapp-',
};

function applyConfig(cfg, patch) {
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case 'ack_timeout_ms':
      case 'max_deliveries':
        if (!isInt(v) || v < 1) return `${k} must be an integer >= 1`;
        break;
      case 'send_hello':
        if (typeof v !== 'boolean') return 'send_hello must be a boolean';
        break;
      case 'token_prefix':
        if (typeof v !== 'string') return 'token_prefix must be a string';
        break;
      default:
        return `unknown config option ${k}`;
    }
  }
  Object.assign(cfg, patch);
  return null;
}

let tickets = new Map(); // ticket -> issued ms (single use)
let conns = new Map(); // id -> { id, ws, opened_ms, delivered, closing }
let connSeq = 0;
let envelopes = []; // in arrival order
let byId = new Map();
let queue = []; // envelopes waiting for a connection
let rr = 0;
let counters = { connections_opened: 0, acks: 0, unknown_acks: 0, redeliveries: 0, messages: [] };
let fake = null;

function openConns() {
  return [...conns.values()].filter((c) => !c.closing && c.hello);
}

function deliver(env) {
  const open = openConns();
  if (!open.length) {
    if (!queue.includes(env)) queue.push(env);
    return;
  }
  const c = open[rr++ % open.length];
  env.deliveries.push({ conn: c.id, ts_ms: Date.now() });
  if (env.deliveries.length > 1) counters.redeliveries++;
  const msg = {
    envelope_id: env.envelope_id,
    type: env.type,
    payload: env.payload,
    accepts_response_payload: env.type !== 'events_api',
    retry_attempt: env.deliveries.length - 1,
    retry_reason: env.deliveries.length > 1 ? env.retry_reason : '',
  };
  c.delivered.add(env.envelope_id);
  c.ws.send(JSON.stringify(msg));
  clearTimeout(env.timer);
  env.timer = setTimeout(() => redeliver(env, 'timeout'), fake.config.ack_timeout_ms);
  if (c.dropAfter > 0 && --c.dropAfter === 0) {
    // armed by POST /_fake/drop: cut right after this delivery, before any ack
    c.closing = true;
    setImmediate(() => c.ws.terminate());
  }
}

function redeliver(env, reason) {
  if (env.acked || env.failed) return;
  if (env.deliveries.length >= fake.config.max_deliveries) {
    env.failed = true;
    return;
  }
  env.retry_reason = reason;
  deliver(env);
}

function flushQueue() {
  const q = queue;
  queue = [];
  for (const env of q) deliver(env);
}

function onClose(c) {
  if (!conns.has(c.id)) return;
  conns.delete(c.id);
  clearTimeout(c.closeTimer);
  // what this connection took and did not ack goes to another one
  for (const id of c.delivered) {
    const env = byId.get(id);
    if (env && !env.acked && env.deliveries.length &&
        env.deliveries[env.deliveries.length - 1].conn === c.id) {
      clearTimeout(env.timer);
      setImmediate(() => redeliver(env, 'connection_closed'));
    }
  }
}

function onMessage(c, data) {
  let m;
  try {
    m = JSON.parse(data.toString('utf8'));
  } catch (e) {
    counters.messages.push({ conn: c.id, bad: true });
    return;
  }
  const env = m && typeof m.envelope_id === 'string' ? byId.get(m.envelope_id) : null;
  if (!env) {
    counters.unknown_acks++;
    return;
  }
  env.acks.push({ conn: c.id, ts_ms: Date.now(), payload: m.payload === undefined ? null : m.payload });
  counters.acks++;
  if (!env.acked) {
    env.acked = true;
    clearTimeout(env.timer);
  }
}

function publicEnvelope(e) {
  return {
    envelope_id: e.envelope_id, type: e.type, payload: e.payload, acked: e.acked,
    failed: !!e.failed, deliveries: e.deliveries, acks: e.acks,
  };
}

function pickConns(which) {
  if (which === undefined || which === 'all') return [...conns.values()];
  if (which === 'first') return [...conns.values()].slice(0, 1);
  return [...conns.values()].filter((c) => c.id === which);
}

function readJson(ctx) {
  if (ctx.body.trim() === '') return {};
  try {
    return JSON.parse(ctx.body);
  } catch (e) {
    return null;
  }
}

function resetState() {
  for (const env of envelopes) clearTimeout(env.timer);
  envelopes = [];
  byId = new Map();
  queue = [];
  counters = { connections_opened: 0, acks: 0, unknown_acks: 0, redeliveries: 0, messages: [] };
}

fake = startFake({
  name: 'fake_slack_socket',
  defaultConfig: DEFAULT_CONFIG,
  applyConfig,
  faultBody: (status) => ({ ok: false, error: status === 429 ? 'ratelimited' : 'fatal_error' }),
  faultHeaders: (status) => (status === 429 ? { 'Retry-After': '1' } : {}),
  reset: () => resetState(),
  stats: () => ({
    open_connections: openConns().length, connections_opened: counters.connections_opened,
    acks: counters.acks, unknown_acks: counters.unknown_acks, redeliveries: counters.redeliveries,
    envelopes: envelopes.length, acked: envelopes.filter((e) => e.acked).length,
  }),
  control: {
    // Queue envelopes: {type, payload, envelope_id?} or {envelopes: [...]}
    'POST /_fake/envelopes': (ctx) => {
      const b = readJson(ctx);
      if (!b || typeof b !== 'object') return ctx.send(400, { ok: false, error: 'invalid JSON' });
      const list = Array.isArray(b.envelopes) ? b.envelopes : [b];
      const ids = [];
      for (const e of list) {
        if (!e || typeof e.type !== 'string' || typeof e.payload !== 'object') {
          return ctx.send(400, { ok: false, error: 'envelope needs type and payload' });
        }
      }
      for (const e of list) {
        const env = {
          envelope_id: typeof e.envelope_id === 'string' ? e.envelope_id : crypto.randomUUID(),
          type: e.type, payload: e.payload, deliveries: [], acks: [], acked: false,
          retry_reason: '', timer: null,
        };
        envelopes.push(env);
        byId.set(env.envelope_id, env);
        ids.push(env.envelope_id);
        deliver(env);
      }
      return ctx.send(200, { ok: true, envelope_ids: ids });
    },
    'GET /_fake/envelopes': (ctx) => ctx.send(200, envelopes.map(publicEnvelope)),
    'GET /_fake/connections': (ctx) => ctx.send(200, [...conns.values()].map((c) => ({
      id: c.id, opened_ms: c.opened_ms, hello: c.hello, closing: c.closing,
      delivered: c.delivered.size,
    }))),
    // Ask connections to go: {reason: refresh_requested|warning|link_disabled,
    // connection: id|"first"|"all", close_after_ms: 2000}. The fake closes them
    // after close_after_ms, as Slack does.
    'POST /_fake/disconnect': (ctx) => {
      const b = readJson(ctx) || {};
      const reason = b.reason || 'refresh_requested';
      const after = isInt(b.close_after_ms) ? b.close_after_ms : 2000;
      const picked = pickConns(b.connection);
      for (const c of picked) {
        c.ws.send(JSON.stringify({ type: 'disconnect', reason,
          debug_info: { host: 'fake_slack_socket' } }));
        c.closeTimer = setTimeout(() => {
          c.closing = true;
          c.ws.close(1000, 'disconnect');
        }, after);
      }
      return ctx.send(200, { ok: true, connections: picked.map((c) => c.id) });
    },
    // Cut connections without a close frame: {connection: id|"first"|"all"}, now
    // or, with after_deliveries: N, right after the Nth envelope sent to each
    'POST /_fake/drop': (ctx) => {
      const b = readJson(ctx) || {};
      const picked = pickConns(b.connection);
      for (const c of picked) {
        if (isInt(b.after_deliveries) && b.after_deliveries > 0) {
          c.dropAfter = b.after_deliveries;
          continue;
        }
        c.closing = true;
        c.ws.terminate();
      }
      return ctx.send(200, { ok: true, connections: picked.map((c) => c.id) });
    },
  },
  async handle(ctx) {
    if (ctx.path !== '/api/apps.connections.open') {
      return ctx.send(404, { ok: false, error: 'unknown_method' });
    }
    if (ctx.method !== 'POST') return ctx.send(405, { ok: false, error: 'method_not_allowed' });
    const auth = ctx.headers.authorization;
    const m = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
    if (!m) return ctx.send(200, { ok: false, error: 'not_authed' });
    if (!m[1].startsWith(ctx.config.token_prefix)) {
      return ctx.send(200, { ok: false, error: 'not_allowed_token_type' });
    }
    const ticket = crypto.randomUUID();
    tickets.set(ticket, Date.now());
    const port = ctx.req.socket.localPort;
    return ctx.send(200, {
      ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${ticket}&app_id=A0FAKE`,
    });
  },
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });

fake.server.on('upgrade', (req, socket, head) => {
  const u = new URL(req.url, 'http://x');
  const ticket = u.searchParams.get('ticket');
  if (u.pathname !== '/link/' || !ticket || !tickets.has(ticket)) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  tickets.delete(ticket);
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = { id: `c${++connSeq}`, ws, opened_ms: Date.now(), delivered: new Set(),
      closing: false, hello: false, closeTimer: null, dropAfter: 0 };
    conns.set(c.id, c);
    counters.connections_opened++;
    ws.on('message', (data) => onMessage(c, data));
    ws.on('close', () => onClose(c));
    ws.on('error', () => onClose(c));
    if (fake.config.send_hello) {
      ws.send(JSON.stringify({
        type: 'hello', num_connections: openConns().length + 1,
        debug_info: { host: 'fake_slack_socket', approximate_connection_time: 18060 },
        connection_info: { app_id: 'A0FAKE' },
      }));
      c.hello = true;
      flushQueue();
    }
  });
});
