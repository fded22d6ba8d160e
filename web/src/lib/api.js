// The REST API as the page uses it (docs/design/api.md): JSON in and out, errors as ApiError
// {status, code, message, field}, versions for PATCH/DELETE (a stale one is the API's 409
// store.version_conflict, surfaced, never retried over), and the bearer token.
//
// Token: asked once when the API first answers 401 (askToken() → string or null), kept in the
// tab's sessionStorage under "orion.token" (gone when the tab closes, never in localStorage),
// sent as Authorization: Bearer. A token the API refuses is forgotten and asked for again.

export const TOKEN_KEY = 'orion.token';

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

// An ApiError from an answer's status and parsed body (the API's {"error": {...}} or anything).
export function errorFrom(status, body) {
  const e = body && typeof body === 'object' ? body.error : null;
  if (e && typeof e === 'object') {
    return new ApiError(status, String(e.code || 'api.error'), String(e.message || `HTTP ${status}`), e.field || null);
  }
  return new ApiError(status, 'http.' + status, `HTTP ${status}`);
}

export const KINDS = ['streams', 'models', 'pipelines'];

export class Api {
  constructor({ base = '', storage = null, fetchImpl = null, askToken = async () => null } = {}) {
    this.base = base;
    this.storage = storage;
    this.fetchImpl = fetchImpl || ((...a) => fetch(...a));
    this.askToken = askToken;
    this.asking = null; // one prompt at a time, shared by concurrent requests
  }

  get token() {
    return (this.storage && this.storage.getItem(TOKEN_KEY)) || '';
  }
  set token(t) {
    if (!this.storage) return;
    if (t) this.storage.setItem(TOKEN_KEY, t);
    else this.storage.removeItem(TOKEN_KEY);
  }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  // fetch() with the token; on 401 asks for a token (once for all concurrent callers) and
  // tries again with it. Returns the Response (any status).
  async raw(path, init = {}) {
    for (let attempt = 0; ; attempt++) {
      const res = await this.fetchImpl(this.base + path, { ...init, headers: this.headers(init.headers || {}) });
      if (res.status !== 401 || attempt >= 3) return res;
      const tried = this.token;
      if (!this.asking) {
        this.asking = (async () => {
          const t = await this.askToken(tried ? 'The API refused this token; enter the right one' : 'The API needs a token');
          this.token = t || '';
          return t;
        })().finally(() => {
          this.asking = null;
        });
      }
      const t = await this.asking;
      if (!t) return res;
    }
  }

  // JSON request: the parsed answer, or throws ApiError. Adds {etag} from the ETag header.
  async json(method, path, { body, ifMatch } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = `"${ifMatch}"`;
    const res = await this.raw(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let parsed = null;
    const text = await res.text();
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (!res.ok) throw errorFrom(res.status, parsed);
    return parsed;
  }

  list(kind) {
    return this.json('GET', `/api/v1/${kind}`).then((j) => j[kind]);
  }
  get(kind, name) {
    return this.json('GET', `/api/v1/${kind}/${encodeURIComponent(name)}`);
  }
  create(kind, body) {
    return this.json('POST', `/api/v1/${kind}`, { body });
  }
  // PATCH with the version the user's form was filled from: a concurrent edit is a 409.
  patch(kind, name, body, version) {
    return this.json('PATCH', `/api/v1/${kind}/${encodeURIComponent(name)}`, { body, ifMatch: version });
  }
  remove(kind, name, version) {
    return this.json('DELETE', `/api/v1/${kind}/${encodeURIComponent(name)}`, { ifMatch: version });
  }
  stats() {
    return this.json('GET', '/api/v1/stats');
  }
  events(params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    return this.json('GET', `/api/v1/events${s ? '?' + s : ''}`);
  }
}
