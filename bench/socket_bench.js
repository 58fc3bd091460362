#!/usr/bin/env node
'use strict';
// Socket Mode load source for bench/parts/15_socket.sh: serves
// apps.connections.open and the WebSocket like Slack, waits for --conns
// connections, then sends --events app_mention envelopes (unique event ids),
// keeping at most --window unacked per connection, and measures acks.
// Prints "LISTENING <port>" first and, at the end,
// RESULT events=N acked=N duration_us=N p50_us=N p99_us=N max_us=N redelivered=0
// Uses the npm package ws (Debian's node-ws, tests/tools/deps.sh).

const http = require('http');
let WebSocketServer;
try {
  ({ WebSocketServer } = require('ws'));
} catch (e) {
  ({ WebSocketServer } = require('/usr/share/nodejs/ws'));
}

const args = { conns: 2, events: 50000, window: 64, run: String(Date.now()) };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args)) {
    process.stderr.write(`socket_bench: unknown argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  args[k] = k === 'run' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

const open = [];
let next = 0;
let acked = 0;
let t0 = 0;
const sentAt = new Map();
const lat = [];

function envelope(i) {
  const id = `EvSockBench-${args.run}-${i}`;
  const ts = `1700000000.${String(i).padStart(6, '0')}`;
  return {
    id,
    msg: JSON.stringify({
      envelope_id: `env-${i}`, type: 'events_api', accepts_response_payload: false,
      retry_attempt: 0, retry_reason: '',
      payload: {
        token: 'x', team_id: 'T1', api_app_id: 'A1', type: 'event_callback', event_id: id,
        event_time: 1700000000,
        event: { type: 'app_mention', user: 'U1', text: '<@UBOT> benchmark question', ts,
          channel: 'C1', event_ts: ts },
      },
    }),
  };
}

function pump(c) {
  while (c.inflight < args.window && next < args.events) {
    const i = next++;
    c.inflight++;
    sentAt.set(`env-${i}`, process.hrtime.bigint());
    c.ws.send(envelope(i).msg);
  }
}

function finish() {
  const dur = Number(process.hrtime.bigint() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] || 0);
  process.stdout.write(`RESULT events=${args.events} acked=${acked} duration_us=${Math.round(dur)} ` +
    `p50_us=${q(0.5)} p99_us=${q(0.99)} max_us=${Math.round(lat[lat.length - 1] || 0)}\n`);
  process.exit(0);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url !== '/api/apps.connections.open') {
      res.writeHead(404);
      res.end();
      return;
    }
    const body = JSON.stringify({ ok: true,
      url: `ws://127.0.0.1:${server.address().port}/link/?ticket=bench` });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = { ws, inflight: 0 };
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      const t = sentAt.get(m.envelope_id);
      if (t === undefined) return;
      sentAt.delete(m.envelope_id);
      lat.push(Number(process.hrtime.bigint() - t) / 1000);
      c.inflight--;
      if (++acked === args.events) finish();
      pump(c);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: open.length + 1 }));
    open.push(c);
    if (open.length === args.conns) {
      t0 = process.hrtime.bigint();
      for (const x of open) pump(x);
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${server.address().port}\n`));
setTimeout(() => {
  process.stderr.write(`socket_bench: timed out with ${acked}/${args.events} acked\n`);
  finish();
}, 300000).unref();
