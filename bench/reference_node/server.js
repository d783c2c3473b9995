'use strict';
// A peer-style reference for the bench (B8): GET /v1/products as a plain Express + mysql2 + ioredis
// server does it, over the catalog's own tables: the same keyset SQL (expanded predicates, the same
// indexes forced), a Redis GET/SETEX response cache keyed by the query and a Redis INCR rate-limit
// counter per request. Search (q) uses InnoDB FULLTEXT in boolean mode on (name, description), as
// such a peer does; the harness adds that index. Counters on GET /_stats. Configuration: REFERENCE_*.

const express = require('express');
const mysql = require('mysql2/promise');
const Redis = require('ioredis');

const env = process.env;
const PORT = Number(env.REFERENCE_PORT || 3000);
const CACHE_ENABLED = (env.REFERENCE_CACHE || 'on') !== 'off';
const CACHE_TTL_S = Number(env.REFERENCE_CACHE_TTL_S || 60);
const RATE_LIMIT = Number(env.REFERENCE_RATE_LIMIT || 100); // requests per client per second
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
const SORTS = ['created_at', 'price', 'name'];
const PRICE = /^[0-9]{1,8}(\.[0-9]{1,2})?$/;
const COLUMNS = 'p.id, p.name, p.description, p.category, p.price, p.stock, p.created_at, p.updated_at';
// (category filter?, sort) -> the index ordered by (sort, id) after the equality prefix.
const SORT_INDEX = {
  'false:created_at': 'ix_products_created',
  'false:price': 'ix_products_price',
  'false:name': 'ix_products_name',
  'true:created_at': 'ix_products_cat_created',
  'true:price': 'ix_products_cat_price',
  'true:name': 'ix_products_cat_name',
};

const pool = mysql.createPool({
  host: env.REFERENCE_DB_HOST || '127.0.0.1',
  port: Number(env.REFERENCE_DB_PORT || 3306),
  user: env.REFERENCE_DB_USER,
  password: env.REFERENCE_DB_PASSWORD,
  database: env.REFERENCE_DB_NAME || 'catalog',
  connectionLimit: Number(env.REFERENCE_DB_POOL || 10),
  dateStrings: true, // DATETIME(6) as text: a JS Date would drop the microseconds
  charset: 'utf8mb4',
});
const redis = new Redis(env.REFERENCE_REDIS_URL || 'redis://127.0.0.1:6379/0');

const stats = {
  pid: process.pid,
  cache: CACHE_ENABLED ? 'on' : 'off',
  requests: 0,
  cache_hits: 0,
  cache_misses: 0,
  db_queries: 0,
  rate_limited: 0,
  bad_requests: 0,
  errors: 0,
};

class BadRequest extends Error {}

function parseQuery(raw) {
  const one = (name) => (typeof raw[name] === 'string' ? raw[name].trim() : '');
  let limit = DEFAULT_LIMIT;
  if (one('limit')) {
    limit = Number(one('limit'));
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new BadRequest('limit must be 1..100');
  }
  const sort = (one('sort') || 'created_at').toLowerCase();
  if (!SORTS.includes(sort)) throw new BadRequest('sort must be created_at, price or name');
  const order = (one('order') || 'desc').toLowerCase();
  if (order !== 'asc' && order !== 'desc') throw new BadRequest('order must be asc or desc');
  const price = (name) => {
    const value = one(name);
    if (!value) return null;
    if (!PRICE.test(value)) throw new BadRequest(`${name} must be a decimal number`);
    return Number(value).toFixed(2);
  };
  const q = one('q');
  if (q.length > 100) throw new BadRequest('q must be at most 100 characters');
  return {
    limit,
    sort,
    order,
    category: one('category') || null,
    minPrice: price('min_price'),
    maxPrice: price('max_price'),
    terms: searchTerms(q),
    after: one('cursor') ? decodeCursor(one('cursor')) : null,
  };
}

function searchTerms(q) {
  const words = [...new Set((q.toLowerCase().match(/[a-z0-9]+/g) || []).filter((w) => w.length >= 3))];
  return words.filter((w) => !words.some((o) => o !== w && o.startsWith(w))).sort();
}

function decodeCursor(text) {
  try {
    const [value, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (typeof value !== 'string' || !Number.isInteger(id)) throw new Error('shape');
    return { value, id };
  } catch {
    throw new BadRequest('cursor is not valid');
  }
}

function encodeCursor(row, sort) {
  return Buffer.from(JSON.stringify([String(row[sort]), Number(row.id)])).toString('base64url');
}

function listStatement(query) {
  const where = [];
  const params = [];
  if (query.terms.length) {
    where.push('MATCH (p.name, p.description) AGAINST (? IN BOOLEAN MODE)');
    params.push(query.terms.map((t) => `+${t}*`).join(' '));
  }
  if (query.category !== null) {
    where.push('p.category = ?');
    params.push(query.category);
  }
  if (query.minPrice !== null) {
    where.push('p.price >= ?');
    params.push(query.minPrice);
  }
  if (query.maxPrice !== null) {
    where.push('p.price <= ?');
    params.push(query.maxPrice);
  }
  const column = `p.${query.sort}`;
  if (query.after) {
    // Expanded keyset form: an index range, where the row constructor would be a full scan.
    const op = query.order === 'desc' ? '<' : '>';
    where.push(`(${column} ${op} ? OR (${column} = ? AND p.id ${op} ?))`);
    params.push(query.after.value, query.after.value, query.after.id);
  }
  // MATCH needs the FULLTEXT index, which FORCE INDEX of a sort index would forbid.
  const from = query.terms.length
    ? 'products p'
    : `products p FORCE INDEX (${SORT_INDEX[`${query.category !== null}:${query.sort}`]})`;
  const direction = query.order === 'desc' ? 'DESC' : 'ASC';
  const sql =
    `SELECT ${COLUMNS} FROM ${from} WHERE ${where.length ? where.join(' AND ') : '1 = 1'}` +
    ` ORDER BY ${column} ${direction}, p.id ${direction} LIMIT ${query.limit + 1}`;
  return { sql, params };
}

// 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) -> RFC 3339 as protobuf's JSON prints a Timestamp.
function timestamp(text) {
  const [date, time] = text.split(' ');
  const [seconds, fraction = ''] = time.split('.');
  const digits = fraction.replace(/0+$/, '');
  const width = digits.length === 0 ? 0 : digits.length <= 3 ? 3 : digits.length <= 6 ? 6 : 9;
  return `${date}T${seconds}${width ? '.' + digits.padEnd(width, '0') : ''}Z`;
}

function present(row) {
  return {
    id: String(row.id),
    name: row.name,
    description: row.description,
    category: row.category,
    price: row.price,
    stock: row.stock,
    created_at: timestamp(row.created_at),
    updated_at: timestamp(row.updated_at),
  };
}

async function listProducts(query) {
  const { sql, params } = listStatement(query);
  stats.db_queries += 1;
  const [rows] = await pool.query(sql, params);
  const hasMore = rows.length > query.limit;
  const page = rows.slice(0, query.limit);
  return {
    products: page.map(present),
    next_cursor: hasMore ? encodeCursor(page[page.length - 1], query.sort) : '',
    has_more: hasMore,
  };
}

function cacheKey(raw) {
  const names = ['limit', 'cursor', 'category', 'min_price', 'max_price', 'q', 'sort', 'order'];
  return 'reference:products:' + names.map((n) => `${n}=${typeof raw[n] === 'string' ? raw[n] : ''}`).join('&');
}

const app = express();

app.use(async (req, res, next) => {
  stats.requests += 1;
  if (req.path.startsWith('/_stats') || req.path === '/health') return next();
  try {
    const key = `reference:ratelimit:${req.ip}:${Math.floor(Date.now() / 1000)}`;
    const count = await redis.incr(key);
    if (count === 1) await redis.expire(key, 2);
    if (count > RATE_LIMIT) {
      stats.rate_limited += 1;
      return res.status(429).json({ error: 'rate limit exceeded' });
    }
  } catch (error) {
    console.error('rate limiter:', error.message); // fails open, as most peers do
  }
  return next();
});

app.get('/v1/products', async (req, res) => {
  let query;
  try {
    query = parseQuery(req.query);
  } catch (error) {
    if (!(error instanceof BadRequest)) throw error;
    stats.bad_requests += 1;
    return res.status(400).json({ error: error.message });
  }
  try {
    const key = cacheKey(req.query);
    if (CACHE_ENABLED) {
      const cached = await redis.get(key);
      if (cached !== null) {
        stats.cache_hits += 1;
        return res.type('application/json').send(cached);
      }
      stats.cache_misses += 1;
    }
    const body = JSON.stringify(await listProducts(query));
    if (CACHE_ENABLED) await redis.setex(key, CACHE_TTL_S, body);
    return res.type('application/json').send(body);
  } catch (error) {
    stats.errors += 1;
    console.error('GET /v1/products:', error.message);
    return res.status(500).json({ error: 'internal error' });
  }
});

app.get('/_stats', (req, res) => res.json(stats));
app.get('/health', (req, res) => res.json({ status: 'ok' }));

const server = app.listen(PORT, '127.0.0.1', () => {
  console.log(`reference listening on 127.0.0.1:${PORT} (cache ${stats.cache}, pid ${process.pid})`);
});

function stop() {
  server.close(() => Promise.allSettled([pool.end(), redis.quit()]).then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
