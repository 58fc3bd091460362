#!/usr/bin/env node
'use strict';
// Fake Slack Web API for Haink tests. The app is pointed at it with
// SLACK_API_URL=http://127.0.0.1:PORT/api. See README.md in this folder.

const { startFake, sleep, isInt } = require('./lib/common');

const TEAM_ID = 'T0FAKE';
const BOT_ID = 'B0FAKE';
const BOT_USER = 'U0BOT';
const APP_ID = 'A0FAKE';
const MAX_MESSAGES = 200000;
const MAX_HISTORY = 50;

// ts values are unique and strictly increasing for the life of the process
// (not reset by /_fake/reset, so a stale ts from an earlier test never aliases).
let tsCounter = 0;
function nextTs() {
  tsCounter += 100;
  const secs = 1700000000 + Math.floor(tsCounter / 1000000);
  return `${secs}.${String(tsCounter % 1000000).padStart(6, '0')}`;
}

// key "channel\0ts" -> message record; Map keeps insertion (= ts) order.
let messages = new Map();
function msgKey(channel, ts) {
  return `${channel}\u0000${ts}`;
}

function publicMessage(m) {
  const o = {
    channel: m.channel,
    ts: m.ts,
    thread_ts: m.thread_ts,
    text: m.text,
    blocks: m.blocks,
    update_count: m.update_count,
    history: m.history,
  };
  if (m.attachments !== undefined) o.attachments = m.attachments;
  if (m.metadata !== undefined) o.metadata = m.metadata;
  if (m.stream !== undefined) o.stream = m.stream; // {state, chunks, recipient_user_id, ...}
  return o;
}

function slackMessage(m) {
  const o = { type: 'message', user: BOT_USER, bot_id: BOT_ID, app_id: APP_ID, team: TEAM_ID, text: m.text, ts: m.ts };
  if (m.blocks !== null) o.blocks = m.blocks;
  if (m.attachments !== undefined) o.attachments = m.attachments;
  if (m.thread_ts !== null) o.thread_ts = m.thread_ts;
  return o;
}

function withMetadata(m, include) {
  const o = slackMessage(m);
  if (include && m.metadata) o.metadata = m.metadata;
  return o;
}

// --- block validation (a useful subset of Slack's real limits) -------------------

function textObjErrors(t, ptr, maxLen, plainOnly) {
  const errs = [];
  if (!t || typeof t !== 'object') return [`must be a text object [json-pointer:${ptr}]`];
  if (t.type !== 'plain_text' && (plainOnly || t.type !== 'mrkdwn')) {
    errs.push(`must be ${plainOnly ? 'plain_text' : 'plain_text or mrkdwn'} [json-pointer:${ptr}/type]`);
  }
  if (typeof t.text !== 'string' || t.text.length === 0) {
    errs.push(`must be more than 0 characters [json-pointer:${ptr}/text]`);
  } else if (t.text.length > maxLen) {
    errs.push(`must be less than ${maxLen + 1} characters [json-pointer:${ptr}/text]`);
  }
  return errs;
}

// Slack's feedback_buttons element: action_id, and two buttons with text and value.
function feedbackButtonsErrors(e, ep) {
  const errs = [];
  for (const side of ['positive_button', 'negative_button']) {
    const b = e[side];
    if (!b || typeof b !== 'object') {
      errs.push(`missing required field: ${side} [json-pointer:${ep}/${side}]`);
      continue;
    }
    errs.push(...textObjErrors(b.text, `${ep}/${side}/text`, 75, true));
    if (typeof b.value !== 'string' || !b.value || b.value.length > 2000) {
      errs.push(`value must be a string of 1..2000 characters [json-pointer:${ep}/${side}/value]`);
    }
  }
  return errs;
}

function blockErrors(blocks, cfg) {
  if (!Array.isArray(blocks)) return ['must be an array [json-pointer:/blocks]'];
  const errs = [];
  if (blocks.length > 50) errs.push('no more than 50 items allowed [json-pointer:/blocks]');
  blocks.forEach((b, i) => {
    const p = `/blocks/${i}`;
    if (!b || typeof b !== 'object' || typeof b.type !== 'string') {
      errs.push(`missing required field: type [json-pointer:${p}]`);
      return;
    }
    if (b.block_id !== undefined && (typeof b.block_id !== 'string' || b.block_id.length > 255)) {
      errs.push(`invalid block_id [json-pointer:${p}/block_id]`);
    }
    switch (b.type) {
      case 'section':
        if (b.text === undefined && b.fields === undefined) {
          errs.push(`must provide text or fields [json-pointer:${p}]`);
        }
        if (b.text !== undefined) errs.push(...textObjErrors(b.text, `${p}/text`, 3000, false));
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length > 10) {
            errs.push(`fields must be an array of at most 10 items [json-pointer:${p}/fields]`);
          } else {
            b.fields.forEach((f, j) => errs.push(...textObjErrors(f, `${p}/fields/${j}`, 2000, false)));
          }
        }
        break;
      case 'header':
        errs.push(...textObjErrors(b.text, `${p}/text`, 150, true));
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 10) {
          errs.push(`elements must have 1..10 items [json-pointer:${p}/elements]`);
        }
        break;
      case 'context_actions':
        if (cfg && cfg.native_feedback === false) {
          errs.push(`unsupported type: context_actions [json-pointer:${p}]`);
          break;
        }
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 5) {
          errs.push(`elements must have 1..5 items [json-pointer:${p}/elements]`);
          break;
        }
        b.elements.forEach((e, j) => {
          const ep = `${p}/elements/${j}`;
          if (!e || (e.type !== 'feedback_buttons' && e.type !== 'icon_button')) {
            errs.push(`unsupported element [json-pointer:${ep}]`);
          } else if (e.type === 'feedback_buttons') {
            errs.push(...feedbackButtonsErrors(e, ep));
          }
        });
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 25) {
          errs.push(`elements must have 1..25 items [json-pointer:${p}/elements]`);
          break;
        }
        b.elements.forEach((e, j) => {
          const ep = `${p}/elements/${j}`;
          if (!e || typeof e !== 'object' || typeof e.type !== 'string') {
            errs.push(`missing required field: type [json-pointer:${ep}]`);
            return;
          }
          if (e.type === 'button') {
            errs.push(...textObjErrors(e.text, `${ep}/text`, 75, true));
            if (e.action_id !== undefined && (typeof e.action_id !== 'string' || e.action_id.length > 255)) {
              errs.push(`invalid action_id [json-pointer:${ep}/action_id]`);
            }
            if (e.value !== undefined && (typeof e.value !== 'string' || e.value.length > 2000)) {
              errs.push(`value must be a string of at most 2000 characters [json-pointer:${ep}/value]`);
            }
          }
        });
        break;
      default:
        break; // divider, image, rich_text, ... accepted as is
    }
  });
  return errs;
}

// Returns { blocks } or { error: <slack reply object> }.
function readBlocks(raw, cfg) {
  if (raw === undefined || raw === null || raw === '') return { blocks: undefined };
  let blocks = raw;
  if (typeof raw === 'string') {
    try {
      blocks = JSON.parse(raw);
    } catch (e) {
      return { error: { ok: false, error: 'invalid_blocks_format' } };
    }
  }
  if (!Array.isArray(blocks)) return { error: { ok: false, error: 'invalid_blocks_format' } };
  if (cfg.validate_blocks) {
    const errs = blockErrors(blocks, cfg);
    if (errs.length) {
      return {
        error: {
          ok: false,
          error: 'invalid_blocks',
          errors: errs,
          response_metadata: { messages: errs.map((e) => `[ERROR] ${e}`) },
        },
      };
    }
  }
  return { blocks };
}

function readAttachments(raw) {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'string') {
    try {
      return JSON.parse(raw);
    } catch (e) {
      return raw;
    }
  }
  return raw;
}

function str(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

// --- methods ------------------------------------------------------------------------

function storeMessage(m) {
  messages.set(msgKey(m.channel, m.ts), m);
  if (messages.size > MAX_MESSAGES) {
    const oldest = messages.keys().next().value;
    messages.delete(oldest);
  }
}

// One page of a conversations.* listing: `limit` items (default 100, at most
// 1000) from the offset the cursor names; next_cursor names the next page
// while there is one (an opaque base64 string, as Slack's are).
function page(all, p, shape) {
  const limit = Math.max(1, Math.min(Number(p.limit) || 100, 1000));
  let from = 0;
  if (p.cursor) {
    const c = /^offset:(\d+)$/.exec(Buffer.from(String(p.cursor), 'base64').toString());
    if (!c) return { ok: false, error: 'invalid_cursor' };
    from = Number(c[1]);
  }
  const more = all.length > from + limit;
  return { ok: true, has_more: more, messages: all.slice(from, from + limit).map(shape),
    response_metadata: { next_cursor: more ? Buffer.from('offset:' + (from + limit)).toString('base64') : '' } };
}

function assistantCall(p, check) {
  if (!str(p.channel_id) || !str(p.thread_ts)) return { ok: false, error: 'invalid_arguments' };
  const bad = check();
  return bad ? { ok: false, error: bad } : { ok: true };
}

const methods = {
  // Assistant threads (the AI app split view): each needs channel_id and
  // thread_ts; the call is recorded and, like Slack, answered {ok: true}.
  'assistant.threads.setStatus': (p) => assistantCall(p, () =>
    (typeof p.status === 'string' ? null : 'invalid_arguments')),
  'assistant.threads.setTitle': (p) => assistantCall(p, () =>
    (typeof p.title === 'string' && p.title.length > 0 ? null : 'invalid_arguments')),
  'assistant.threads.setSuggestedPrompts': (p) => assistantCall(p, () => {
    let prompts = p.prompts;
    if (typeof prompts === 'string') {
      try { prompts = JSON.parse(prompts); } catch (e) { return 'invalid_arguments'; }
    }
    if (!Array.isArray(prompts) || prompts.length < 1 || prompts.length > 4) return 'invalid_arguments';
    const ok = prompts.every((x) => x && typeof x.title === 'string' && x.title.length > 0 &&
      typeof x.message === 'string' && x.message.length > 0);
    return ok ? null : 'invalid_arguments';
  }),

  'auth.test': () => ({
    ok: true,
    url: 'https://fake.slack.com/',
    team: 'Fake',
    user: 'haink',
    team_id: TEAM_ID,
    user_id: BOT_USER,
    bot_id: BOT_ID,
    is_enterprise_install: false,
  }),

  'chat.postMessage': (p, cfg) => {
    const channel = str(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (cfg.not_in_channel.includes(channel)) return { ok: false, error: 'not_in_channel' };
    const b = readBlocks(p.blocks, cfg);
    if (b.error) return b.error;
    const attachments = readAttachments(p.attachments);
    const text = str(p.text);
    if (!text && (!b.blocks || b.blocks.length === 0) && attachments === undefined) {
      return { ok: false, error: 'no_text' };
    }
    if (text.length > 40000) return { ok: false, error: 'msg_too_long' };
    const ts = nextTs();
    const threadTs = p.thread_ts !== undefined && p.thread_ts !== null && p.thread_ts !== ''
      ? str(p.thread_ts) : null;
    let metadata = p.metadata;
    if (typeof metadata === 'string') {
      try { metadata = JSON.parse(metadata); } catch (e) { return { ok: false, error: 'invalid_metadata_format' }; }
    }
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' ||
        typeof metadata.event_type !== 'string' || typeof metadata.event_payload !== 'object')) {
      return { ok: false, error: 'invalid_metadata_format' };
    }
    const m = {
      channel,
      ts,
      thread_ts: threadTs,
      text,
      blocks: b.blocks || null,
      attachments,
      metadata,
      update_count: 0,
      history: [text],
    };
    storeMessage(m);
    return { ok: true, channel, ts, message: slackMessage(m) };
  },

  // The thread of ts (its parent first), oldest first; metadata only with include_all_metadata.
  'conversations.replies': (p) => {
    const channel = str(p.channel);
    const ts = str(p.ts);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (!ts) return { ok: false, error: 'thread_not_found' };
    const withMeta = p.include_all_metadata === true || p.include_all_metadata === 'true' ||
      p.include_all_metadata === '1' || p.include_all_metadata === 1;
    const out = [];
    for (const m of messages.values()) {
      if (m.channel === channel && (m.ts === ts || m.thread_ts === ts)) out.push(m);
    }
    out.sort((a, b) => Number(a.ts) - Number(b.ts));
    return page(out, p, (m) => withMetadata(m, withMeta));
  },

  // The channel's latest top-level messages, newest first.
  'conversations.history': (p) => {
    const channel = str(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const withMeta = p.include_all_metadata === true || p.include_all_metadata === 'true' ||
      p.include_all_metadata === '1' || p.include_all_metadata === 1;
    const out = [];
    for (const m of messages.values()) {
      if (m.channel === channel && (m.thread_ts === null || m.thread_ts === m.ts)) out.push(m);
    }
    out.sort((a, b) => Number(b.ts) - Number(a.ts));
    return page(out, p, (m) => withMetadata(m, withMeta));
  },

  // Streams (chat.startStream / appendStream / stopStream): a message whose
  // markdown grows chunk by chunk while its stream is open; it cannot be
  // edited until stopped. Outside a DM (channel ids not starting with D) the
  // recipient user and team are required, as Slack documents.
  'chat.startStream': (p, cfg) => {
    if (!cfg.native_streaming) return { ok: false, error: 'unknown_method' };
    const channel = str(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (cfg.not_in_channel.includes(channel)) return { ok: false, error: 'not_in_channel' };
    if (!channel.startsWith('D') && (!str(p.recipient_user_id) || !str(p.recipient_team_id))) {
      return { ok: false, error: 'missing_recipient_user_id' };
    }
    const text = str(p.markdown_text);
    if (text.length > 12000) return { ok: false, error: 'msg_too_long' };
    const ts = nextTs();
    const threadTs = str(p.thread_ts) || null;
    const m = {
      channel, ts, thread_ts: threadTs, text, blocks: null, attachments: undefined,
      metadata: undefined, update_count: 0, history: [text],
      stream: { state: 'streaming', chunks: text ? [text] : [],
        recipient_user_id: str(p.recipient_user_id), recipient_team_id: str(p.recipient_team_id) },
    };
    storeMessage(m);
    return { ok: true, channel, ts };
  },

  'chat.appendStream': (p) => {
    const m = messages.get(msgKey(str(p.channel), str(p.ts)));
    if (!m) return { ok: false, error: 'message_not_found' };
    if (!m.stream || m.stream.state !== 'streaming') return { ok: false, error: 'message_not_in_streaming_state' };
    const text = str(p.markdown_text);
    if (!text) return { ok: false, error: 'no_text' };
    if (text.length > 12000) return { ok: false, error: 'msg_too_long' };
    m.stream.chunks.push(text);
    m.text += text;
    return { ok: true, channel: m.channel, ts: m.ts };
  },

  'chat.stopStream': (p, cfg) => {
    const m = messages.get(msgKey(str(p.channel), str(p.ts)));
    if (!m) return { ok: false, error: 'message_not_found' };
    if (!m.stream || m.stream.state !== 'streaming') return { ok: false, error: 'message_not_in_streaming_state' };
    const b = readBlocks(p.blocks, cfg);
    if (b.error) return b.error;
    const text = str(p.markdown_text);
    if (text) { m.stream.chunks.push(text); m.text += text; }
    if (b.blocks && b.blocks.length) m.blocks = b.blocks;
    m.stream.state = 'stopped';
    return { ok: true, channel: m.channel, ts: m.ts, message: slackMessage(m) };
  },

  'chat.update': (p, cfg) => {
    const channel = str(p.channel);
    const ts = str(p.ts);
    const m = channel && ts ? messages.get(msgKey(channel, ts)) : undefined;
    if (!m) return { ok: false, error: 'message_not_found' };
    if (m.stream && m.stream.state === 'streaming') return { ok: false, error: 'cant_update_message' };
    const b = readBlocks(p.blocks, cfg);
    if (b.error) return b.error;
    const attachments = readAttachments(p.attachments);
    const hasText = p.text !== undefined && p.text !== null;
    if (!hasText && b.blocks === undefined && attachments === undefined) {
      return { ok: false, error: 'no_text' };
    }
    const text = hasText ? str(p.text) : m.text;
    if (text.length > 40000) return { ok: false, error: 'msg_too_long' };
    m.text = text;
    // Slack: blocks omitted + text given -> blocks removed; [] removes them too.
    if (b.blocks !== undefined) m.blocks = b.blocks.length ? b.blocks : null;
    else if (hasText) m.blocks = null;
    if (attachments !== undefined) m.attachments = attachments;
    m.update_count++;
    m.history.push(text);
    if (m.history.length > MAX_HISTORY) m.history.shift();
    const out = { ok: true, channel, ts, text: m.text, message: slackMessage(m) };
    delete out.message.ts;
    return out;
  },

  'chat.postEphemeral': (p, cfg) => {
    const channel = str(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (!str(p.user)) return { ok: false, error: 'user_not_in_channel' };
    const b = readBlocks(p.blocks, cfg);
    if (b.error) return b.error;
    if (!str(p.text) && (!b.blocks || b.blocks.length === 0) && p.attachments === undefined) {
      return { ok: false, error: 'no_text' };
    }
    return { ok: true, message_ts: nextTs() };
  },

  'chat.delete': (p) => {
    const channel = str(p.channel);
    const ts = str(p.ts);
    const key = msgKey(channel, ts);
    if (!channel || !ts || !messages.has(key)) return { ok: false, error: 'message_not_found' };
    messages.delete(key);
    return { ok: true, channel, ts };
  },
};

// --- server ---------------------------------------------------------------------------

const DEFAULT_CONFIG = {
  latency_ms: 0,
  ok_false_error: 'ratelimited',
  ok_false_count: 0,
  ok_false_method: null,
  validate_blocks: true,
  native_feedback: true, // false: context_actions blocks are refused (invalid_blocks)
  native_streaming: true, // false: chat.startStream answers unknown_method (an older workspace)
  not_in_channel: [], // channels where chat.postMessage answers not_in_channel
};

// Posts to slash-command response URLs (POST /response/<id>), in arrival order.
let responses = [];

function applyConfig(cfg, patch) {
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case 'latency_ms':
        if (typeof v !== 'number' || !(v >= 0)) return 'latency_ms must be a number >= 0';
        break;
      case 'ok_false_error':
        if (typeof v !== 'string' || !v) return 'ok_false_error must be a non-empty string';
        break;
      case 'ok_false_count':
        if (!isInt(v) || v < -1) return 'ok_false_count must be an integer >= -1 (-1 = forever)';
        break;
      case 'ok_false_method':
        if (v !== null && typeof v !== 'string') return 'ok_false_method must be a method name or null';
        break;
      case 'validate_blocks':
      case 'native_feedback':
      case 'native_streaming':
        if (typeof v !== 'boolean') return `${k} must be a boolean`;
        break;
      case 'not_in_channel':
        if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) {
          return 'not_in_channel must be a list of channel ids';
        }
        break;
      default:
        return `unknown config option ${k}`;
    }
  }
  Object.assign(cfg, patch);
  return null;
}

startFake({
  name: 'fake_slack',
  defaultConfig: DEFAULT_CONFIG,
  applyConfig,
  faultBody: (status) => ({ ok: false, error: status === 429 ? 'ratelimited' : 'internal_error' }),
  faultHeaders: (status) => (status === 429 ? { 'Retry-After': '1' } : {}),
  reset: (cfg) => {
    messages = new Map();
    responses = [];
    cfg.ok_false_count = 0; // one-shot state always cleared
  },
  control: {
    'GET /_fake/messages': (ctx) => {
      const q = ctx.query;
      const out = [];
      for (const m of messages.values()) {
        if (q.channel && m.channel !== q.channel) continue;
        if (q.thread_ts && m.thread_ts !== q.thread_ts && m.ts !== q.thread_ts) continue;
        out.push(publicMessage(m));
      }
      ctx.send(200, out);
    },
    'GET /_fake/responses': (ctx) => ctx.send(200, responses),
  },
  async handle(ctx) {
    const cfg = ctx.config;
    // a slash command's response_url: no token (the URL is the credential), JSON body
    if (/^\/response\/[A-Za-z0-9_-]+$/.test(ctx.path) && ctx.method === 'POST') {
      if (ctx.parsed.error || ctx.parsed.kind !== 'json' || ctx.parsed.value === null ||
          typeof ctx.parsed.value !== 'object') {
        return ctx.send(400, { ok: false, error: 'invalid_json' });
      }
      responses.push({ path: ctx.path, body: ctx.parsed.value });
      return ctx.send(200, { ok: true });
    }
    const m = /^\/api\/([A-Za-z0-9_.]+)$/.exec(ctx.path);
    if (!m) return ctx.send(404, { ok: false, error: 'unknown_method' });
    const method = m[1];

    if (ctx.parsed.error) return ctx.send(400, { ok: false, error: 'invalid_json' });
    let params = ctx.parsed.value;
    if (ctx.parsed.kind === 'json' && (params === null || typeof params !== 'object' || Array.isArray(params))) {
      return ctx.send(400, { ok: false, error: 'invalid_json' });
    }
    // Slack reads JSON bodies only for write methods: the read methods here
    // (conversations.history / conversations.replies) see no arguments in one.
    if (ctx.parsed.kind === 'json' && method.startsWith('conversations.')) params = {};
    params = Object.assign({}, ctx.query, params || {});

    const auth = ctx.headers.authorization;
    const am = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
    if (!am) return ctx.send(200, { ok: false, error: 'not_authed' });
    if (!am[1].startsWith('xoxb-')) return ctx.send(200, { ok: false, error: 'invalid_auth' });

    if (cfg.latency_ms > 0) await sleep(cfg.latency_ms);

    const fn = methods[method];
    if (!fn) return ctx.send(404, { ok: false, error: 'unknown_method' });

    if (cfg.ok_false_count !== 0 && (!cfg.ok_false_method || cfg.ok_false_method === method)) {
      if (cfg.ok_false_count > 0) cfg.ok_false_count--;
      return ctx.send(200, { ok: false, error: cfg.ok_false_error });
    }
    return ctx.send(200, fn(params, cfg));
  },
});
