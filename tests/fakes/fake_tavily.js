#!/usr/bin/env node
'use strict';
// Fake Tavily search API for Haink tests. The app is pointed at it with
// TAVILY_API_URL=http://127.0.0.1:PORT (requests go to POST /search).
// See README.md in this folder.

const { startFake, sleep, isInt } = require('./lib/common');

function detail(error) {
  return { detail: { error } };
}

function slugify(q) {
  const s = q.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 60)
    .replace(/-+$/, '');
  return s || 'result';
}

let counters = { searches: 0, results_returned: 0 };

const DEFAULT_CONFIG = {
  latency_ms: 0,
  key_prefix: '', // e.g. "tvly-" to reject keys without it
  results: null, // array of result objects to return instead of the generated ones
  answer: null, // string returned as "answer" when the request sets include_answer
};

function applyConfig(cfg, patch) {
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case 'latency_ms':
        if (typeof v !== 'number' || !(v >= 0)) return 'latency_ms must be a number >= 0';
        break;
      case 'key_prefix':
        if (typeof v !== 'string') return 'key_prefix must be a string';
        break;
      case 'results':
        if (v !== null && (!Array.isArray(v) || !v.every((r) => r && typeof r === 'object'))) {
          return 'results must be an array of objects or null';
        }
        break;
      case 'answer':
        if (v !== null && typeof v !== 'string') return 'answer must be a string or null';
        break;
      default:
        return `unknown config option ${k}`;
    }
  }
  Object.assign(cfg, patch);
  return null;
}

function generate(q, n) {
  const slug = slugify(q);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      title: i === 0 ? `Result about ${q}` : `Result about ${q} (${i + 1})`,
      url: i === 0 ? `https://example.com/${slug}` : `https://example.com/${slug}/${i + 1}`,
      content: `This page explains ${q}. Fake Tavily result ${i + 1} with deterministic content about ${q}.`,
      score: Math.max(0.05, Math.round((0.9 - 0.05 * i) * 100) / 100),
      raw_content: null,
    });
  }
  return out;
}

startFake({
  name: 'fake_tavily',
  defaultConfig: DEFAULT_CONFIG,
  applyConfig,
  faultBody: (status) => {
    if (status === 429) return detail('Rate limit exceeded (fake).');
    if (status === 432 || status === 433) return detail('Plan usage limit exceeded (fake).');
    if (status >= 500) return detail('Internal server error (fake).');
    return detail(`Injected fault ${status} (fake).`);
  },
  reset: () => {
    counters = { searches: 0, results_returned: 0 };
  },
  stats: () => Object.assign({}, counters),
  async handle(ctx) {
    if (ctx.path !== '/search') return ctx.send(404, { detail: 'Not Found' });
    if (ctx.method !== 'POST') return ctx.send(405, { detail: 'Method Not Allowed' });
    let b = ctx.parsed.kind === 'json' && !ctx.parsed.error ? ctx.parsed.value : undefined;
    if (b === undefined) {
      try { b = JSON.parse(ctx.body); } catch (e) { b = undefined; }
    }
    if (!b || typeof b !== 'object' || Array.isArray(b)) {
      return ctx.send(400, detail('Invalid JSON body.'));
    }
    const cfg = ctx.config;
    const auth = ctx.headers.authorization;
    const am = typeof auth === 'string' ? /^Bearer\s+(\S+)/i.exec(auth) : null;
    const key = am ? am[1] : typeof b.api_key === 'string' ? b.api_key.trim() : '';
    if (!key || (cfg.key_prefix && !key.startsWith(cfg.key_prefix))) {
      return ctx.send(401, detail('Unauthorized: missing or invalid API key.'));
    }
    if (typeof b.query !== 'string' || b.query.trim() === '') {
      return ctx.send(400, detail('Query is missing.'));
    }
    let n = 5;
    if (b.max_results !== undefined && b.max_results !== null) {
      if (!isInt(b.max_results) || b.max_results < 0) {
        return ctx.send(400, detail('max_results must be a non-negative integer.'));
      }
      n = Math.min(b.max_results, 20);
    }
    if (cfg.latency_ms > 0) await sleep(cfg.latency_ms);
    const q = b.query;
    const results = cfg.results ? cfg.results.slice(0, n) : generate(q, n);
    counters.searches++;
    counters.results_returned += results.length;
    return ctx.send(200, {
      query: q,
      follow_up_questions: null,
      answer: b.include_answer ? (cfg.answer !== null ? cfg.answer : `A short answer about ${q}.`) : null,
      images: [],
      results,
      response_time: 0.01,
    });
  },
});
