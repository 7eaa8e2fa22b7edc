// Exile script runtime: the Postman-style `pm` API, legacy globals and the two entry points
// `__exile_compile(id, source)` and `__exile_execute(id, input)` (see ../CONTRACT.md).
//
// Isolation: each run gets its own scope. A script is compiled once into
//   function (scope) { with (scope) { return function () { <source> }; } }
// and every run calls it with a fresh Proxy `scope`: names the script assigns without `var`
// (`jsonData = ...`) land in that run's bindings, never on the real global object; `globalThis`,
// `window`, `self`, `global` and the top-level `this` are a per-run view of those bindings. Reading a
// name nobody defined gives `undefined` (not a ReferenceError: `with` cannot tell `typeof x` from `x`).
// lockdown.js (loaded after this file) freezes the intrinsics and every class listed in
// `__exile_harden`, so what a script does to shared objects cannot outlive its run.
//
// Decisions worth knowing:
// - `set(name, undefined)` stores null; NaN/Infinity become null; objects are stored as their JSON copy;
//   a cyclic or BigInt value throws TypeError "value for 'x' is not JSON".
// - `pm.iterationData.get` reads the data layer only (sets made by the script are not visible there).
// - `pm.response.to.be.ok` is status 200 exactly, as in Postman; `success` is any 2xx.
// - The entry points refuse calls that do not come straight from the host (a script reaching the real
//   global through `Function('return this')()` cannot compile over another script's id).
(function (G) {
  'use strict';

  var hasOwn = Object.prototype.hasOwnProperty;
  var registry = new Map();
  var harden = [];
  var expect = G.__exile_expect;
  var inspect = G.__exile_inspect;
  var AssertionError = G.AssertionError;

  var MAX_LOG_LINES = 100;
  var MAX_LOG_CHARS = 2000;

  // ---- helpers ---------------------------------------------------------------------------------

  function own(o, k) {
    return o !== null && o !== undefined && hasOwn.call(o, k);
  }

  function put(o, k, v) {
    Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    return o;
  }

  function jsonish(v) {
    if (typeof v === 'string') return v;
    if (v === undefined) return 'undefined';
    if (typeof v === 'function') return v.name ? '[Function: ' + v.name + ']' : '[Function]';
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'symbol') return String(v);
    if (v instanceof Error) return v.name + ': ' + v.message;
    if (v instanceof Url) return v.toString();
    try {
      var s = JSON.stringify(v);
      return s === undefined ? String(v) : s;
    } catch (e) {
      return inspect ? inspect(v) : String(v);
    }
  }

  function describeThrown(e) {
    if (e instanceof Error) return { name: String(e.name), message: String(e.message) };
    if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
      return { name: typeof e.name === 'string' ? e.name : 'Error', message: e.message };
    }
    var text;
    try {
      text = typeof e === 'string' ? JSON.stringify(e) : jsonish(e);
    } catch (x) {
      text = '?';
    }
    return { name: 'Error', message: 'thrown value: ' + text };
  }

  function safeDescribe(e) {
    try {
      return describeThrown(e);
    } catch (x) {
      return { name: 'Error', message: 'thrown value: (unreadable)' };
    }
  }

  function testErrorText(e) {
    if (e instanceof AssertionError) return String(e.message);
    var d = safeDescribe(e);
    return d.message.indexOf('thrown value: ') === 0 ? d.message : d.name + ': ' + d.message;
  }

  function notSupported(run, name) {
    if (!run.unsupported) run.unsupported = name;
    return new Error('not supported by Exile: ' + name);
  }

  // Stands in for a library Postman provides as a global (`_`, `cheerio`): using it in any way
  // (calling it, reading a property) is "not supported".
  function unsupportedLibrary(run, name) {
    var refuse = function () { throw notSupported(run, name); };
    return new Proxy(function () {}, {
      get: function (t, k) {
        if (typeof k !== 'string') return undefined;
        return refuse();
      },
      apply: refuse,
      construct: refuse,
    });
  }

  // lodash (lodash.js): `_` and `require('lodash')` are this one Proxy, made at load time over the subset (which
  // the lockdown freezes). A name the subset lacks reads as a function that throws "not supported by Exile:
  // _.<name>" for the run calling it (`lodashRun`, set by execute); the compile-time scan names it too.
  var LODASH = typeof G.__exile_lodash === 'function' ? G.__exile_lodash : null;
  var LODASH_RESET = typeof G.__exile_lodash_reset === 'function' ? G.__exile_lodash_reset : function () {};
  var lodashRun = null;
  var LODASH_VIEW = LODASH && new Proxy(LODASH, {
    get: function (t, k, receiver) {
      if (typeof k !== 'string' || k in t) return Reflect.get(t, k, receiver);
      return function () { throw notSupported(lodashRun || {}, '_.' + k); };
    },
  });

  function uuid4() {
    var h = '0123456789abcdef';
    var s = '';
    for (var i = 0; i < 36; i++) {
      if (i === 8 || i === 13 || i === 18 || i === 23) s += '-';
      else if (i === 14) s += '4';
      else if (i === 19) s += h[(Math.random() * 4 | 0) + 8];
      else s += h[Math.random() * 16 | 0];
    }
    return s;
  }

  function toJSONValue(name, v) {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        return isFinite(v) ? v : null;
      case 'undefined':
      case 'function':
      case 'symbol':
        return null;
    }
    if (v === null) return null;
    var s;
    try {
      s = JSON.stringify(v);
    } catch (e) {
      throw new TypeError("value for '" + name + "' is not JSON");
    }
    return s === undefined ? null : JSON.parse(s);
  }

  function varText(v) {
    if (typeof v === 'string') return v;
    if (v === null || v === undefined) return String(v);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  var DYNAMIC = {
    $guid: uuid4,
    $randomUUID: uuid4,
    $timestamp: function () { return String(Math.floor(Date.now() / 1000)); },
    $isoTimestamp: function () { return new Date().toISOString(); },
    $randomInt: function () { return String(Math.floor(Math.random() * 1001)); },
  };

  // ---- variables -------------------------------------------------------------------------------

  // Which scope a run-time value was set through (pm.environment.set...): each scope's get sees its own sets and
  // values no scope set (an extractor's); pm.variables sees them all. Postman keeps the scopes apart.
  var SET_SCOPE = {
    variables: 'local', environment: 'environment', collectionVariables: 'collection', globals: 'globals',
    iterationData: 'local',
  };
  var SEES = { environment: 'environment', collectionVariables: 'collection', globals: 'globals' };

  var LAYERS = {
    variables: ['runtime', 'step', 'data', 'run', 'scenario', 'environment'],
    environment: ['runtime', 'environment'],
    collectionVariables: ['runtime', 'scenario', 'step'],
    globals: ['runtime', 'run'],
    iterationData: ['data'],
  };

  class VariableScope {
    constructor(run, scope) {
      this._run = run;
      this._scope = scope;
    }

    get name() {
      var info = this._run.input.info || {};
      if (this._scope === 'environment') return info.environmentName;
      if (this._scope === 'collectionVariables') return info.collectionName;
      if (this._scope === 'globals') return 'globals';
      return undefined;
    }

    get(name) {
      var r = this._run.lookup(this._scope, String(name));
      return r ? r.value : undefined;
    }

    has(name) {
      return this._run.lookup(this._scope, String(name)) !== null;
    }

    set(name, value) {
      this._run.setVar(String(name), value, SET_SCOPE[this._scope]);
      return this;
    }

    unset(name) {
      this._run.unsetVar(String(name));
      return this;
    }

    clear() {
      var names = Object.keys(this._run.scopeObject(this._scope, false));
      for (var i = 0; i < names.length; i++) this._run.unsetVar(names[i]);
    }

    toObject() {
      return this._run.scopeObject(this._scope, true);
    }

    toJSON() {
      var o = this.toObject();
      return Object.keys(o).map(function (k) { return { key: k, value: o[k] }; });
    }

    replaceIn(template) {
      if (typeof template !== 'string') return template;
      var run = this._run;
      var scope = this._scope;
      return template.replace(/\{\{([^{}]+)\}\}/g, function (m, name) {
        var r = run.lookup(scope, name);
        if (r) return varText(r.value);
        if (own(DYNAMIC, name)) return DYNAMIC[name]();
        return m;
      });
    }
  }
  harden.push(VariableScope);

  // ---- key/value lists (headers, query, urlencoded, formdata) -----------------------------------

  function toItem(x, sep) {
    if (typeof x === 'string') {
      var i = x.indexOf(sep);
      if (i < 0) return { key: x.trim(), value: sep === '=' ? null : '' };
      return { key: x.slice(0, i).trim(), value: sep === '=' ? x.slice(i + 1) : x.slice(i + 1).trim() };
    }
    if (Array.isArray(x)) return { key: String(x[0]), value: x.length > 1 ? x[1] : '' };
    if (x !== null && typeof x === 'object') {
      var item = { key: String(x.key !== undefined ? x.key : x.name), value: x.value };
      if (x.disabled) item.disabled = true;
      return item;
    }
    throw new TypeError('expected { key, value }, got ' + jsonish(x));
  }

  class PropertyList {
    constructor(pairs, caseless, sep, onChange) {
      this._caseless = caseless;
      this._sep = sep;
      this._items = (pairs || []).map(function (p) { return toItem(p, sep); });
    }

    _same(a, b) {
      a = String(a);
      b = String(b);
      return this._caseless ? a.toLowerCase() === b.toLowerCase() : a === b;
    }

    _matcher(what) {
      var self = this;
      if (typeof what === 'function') return what;
      var key = what !== null && typeof what === 'object' ? what.key : what;
      return function (item) { return self._same(item.key, key); };
    }

    get members() {
      return this._items;
    }

    get(key) {
      var out;
      for (var i = 0; i < this._items.length; i++) {
        var it = this._items[i];
        if (!it.disabled && this._same(it.key, key)) out = it.value;
      }
      return out;
    }

    one(key) {
      for (var i = this._items.length - 1; i >= 0; i--) {
        if (this._same(this._items[i].key, key)) return this._items[i];
      }
      return undefined;
    }

    has(key, value) {
      var self = this;
      return this._items.some(function (it) {
        if (it.disabled || !self._same(it.key, key)) return false;
        return value === undefined || it.value === value;
      });
    }

    all() {
      return this._items.slice();
    }

    count() {
      return this._items.length;
    }

    idx(i) {
      return this._items[i];
    }

    each(fn, ctx) {
      this._items.slice().forEach(function (it) { fn.call(ctx, it); });
    }

    map(fn, ctx) {
      return this._items.map(function (it) { return fn.call(ctx, it); });
    }

    filter(fn, ctx) {
      return this._items.filter(function (it) { return fn.call(ctx, it); });
    }

    find(fn, ctx) {
      return this._items.find(function (it) { return fn.call(ctx, it); });
    }

    reduce(fn, acc) {
      return this._items.reduce(fn, acc);
    }

    indexOf(item) {
      return this._items.indexOf(item);
    }

    toObject() {
      var o = {};
      for (var i = 0; i < this._items.length; i++) {
        var it = this._items[i];
        if (it.disabled) continue;
        put(o, this._caseless ? String(it.key).toLowerCase() : String(it.key), it.value);
      }
      return o;
    }

    toJSON() {
      return this._items.map(function (it) { return { key: it.key, value: it.value }; });
    }

    add(item) {
      this._items.push(toItem(item, this._sep));
    }

    append(item) {
      this.add(item);
    }

    prepend(item) {
      this._items.unshift(toItem(item, this._sep));
    }

    upsert(item) {
      var it = toItem(item, this._sep);
      var found = this.one(it.key);
      if (found) found.value = it.value;
      else this._items.push(it);
    }

    remove(what) {
      var match = this._matcher(what);
      this._items = this._items.filter(function (it) { return !match(it); });
    }

    clear() {
      this._items = [];
    }

    populate(items) {
      var self = this;
      (items || []).forEach(function (x) { self.add(x); });
    }

    repopulate(items) {
      this.clear();
      this.populate(items);
    }

    pairs() {
      return this._items.filter(function (it) { return !it.disabled; })
        .map(function (it) {
          return [String(it.key), it.value === null || it.value === undefined ? '' : varTextPlain(it.value)];
        });
    }

    toString() {
      if (this._sep === '=') return queryString(this._items);
      return this._items.filter(function (it) { return !it.disabled; })
        .map(function (it) { return it.key + ': ' + it.value; }).join('\n');
    }
  }
  harden.push(PropertyList);

  function varTextPlain(v) {
    return typeof v === 'string' ? v : varText(v);
  }

  function queryString(items) {
    return items.filter(function (it) { return !it.disabled; }).map(function (it) {
      return it.value === null || it.value === undefined ? String(it.key) : it.key + '=' + varTextPlain(it.value);
    }).join('&');
  }

  // ---- URL ---------------------------------------------------------------------------------------

  class Url {
    constructor(raw) {
      this.update(raw);
    }

    update(raw) {
      if (raw !== null && typeof raw === 'object') raw = raw.raw !== undefined ? raw.raw : String(raw);
      var rest = String(raw === undefined || raw === null ? '' : raw).trim();
      var hash = null, qs = null;
      var h = rest.indexOf('#');
      if (h >= 0) { hash = rest.slice(h + 1); rest = rest.slice(0, h); }
      var q = rest.indexOf('?');
      if (q >= 0) { qs = rest.slice(q + 1); rest = rest.slice(0, q); }
      var pm = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
      this.protocol = pm ? pm[1] : undefined;
      if (pm) rest = rest.slice(pm[0].length);
      var slash = rest.indexOf('/');
      var hostport = slash >= 0 ? rest.slice(0, slash) : rest;
      this._path = slash >= 0 ? rest.slice(slash) : '';
      var at = hostport.lastIndexOf('@');
      this.auth = at >= 0 ? hostport.slice(0, at) : undefined;
      if (at >= 0) hostport = hostport.slice(at + 1);
      var pp = /:(\d+|\{\{[^{}]+\}\})$/.exec(hostport);
      this.port = pp ? pp[1] : undefined;
      this._host = pp ? hostport.slice(0, pp.index) : hostport;
      this.hash = hash === null ? undefined : hash;
      this.query = new PropertyList(qs ? qs.split('&').filter(Boolean) : [], false, '=');
      return this;
    }

    get host() {
      return this._host ? this._host.split('.') : [];
    }

    set host(v) {
      this._host = Array.isArray(v) ? v.join('.') : String(v);
    }

    get path() {
      return this._path ? this._path.replace(/^\//, '').split('/') : [];
    }

    set path(v) {
      var s = Array.isArray(v) ? v.join('/') : String(v);
      this._path = s ? (s[0] === '/' ? s : '/' + s) : '';
    }

    getHost() {
      return this._host;
    }

    getRemote() {
      return this._host + (this.port ? ':' + this.port : '');
    }

    getPath() {
      return this._path || '/';
    }

    getQueryString() {
      return queryString(this.query._items);
    }

    getPathWithQuery() {
      var qs = this.getQueryString();
      return this.getPath() + (qs ? '?' + qs : '');
    }

    getRaw() {
      return this.toString();
    }

    addQueryParams(params) {
      var q = this.query;
      if (typeof params === 'string') params = params.split('&').filter(Boolean);
      else if (params && !Array.isArray(params)) params = [params];
      (params || []).forEach(function (p) { q.add(p); });
    }

    removeQueryParams(names) {
      var q = this.query;
      if (!Array.isArray(names)) names = [names];
      names.forEach(function (n) { q.remove(n !== null && typeof n === 'object' ? n.key : n); });
    }

    toString() {
      var qs = this.getQueryString();
      return (this.protocol ? this.protocol + '://' : '') + (this.auth !== undefined ? this.auth + '@' : '') +
        this._host + (this.port ? ':' + this.port : '') + this._path + (qs ? '?' + qs : '') +
        (this.hash !== undefined ? '#' + this.hash : '');
    }

    toJSON() {
      return this.toString();
    }
  }
  harden.push(Url);

  // ---- request -------------------------------------------------------------------------------------

  class RequestBody {
    constructor(b) {
      this.update(b || { mode: 'none' });
    }

    update(b) {
      if (typeof b === 'string') b = { mode: 'raw', raw: b };
      if (b === null || b === undefined) b = { mode: 'none' };
      var mode = b.mode || (b.raw !== undefined ? 'raw' : b.urlencoded ? 'urlencoded' : b.formdata ? 'formdata' : 'none');
      this.mode = mode;
      this.raw = mode === 'raw' ? (b.raw === undefined || b.raw === null ? '' : String(b.raw)) : undefined;
      this.urlencoded = new PropertyList(mode === 'urlencoded' ? b.urlencoded : [], false, '=');
      this.formdata = new PropertyList(mode === 'formdata' ? b.formdata : [], false, '=');
      return this;
    }

    isEmpty() {
      if (this.mode === 'raw') return !this.raw;
      if (this.mode === 'urlencoded') return this.urlencoded.count() === 0;
      if (this.mode === 'formdata') return this.formdata.count() === 0;
      return true;
    }

    toString() {
      if (this.mode === 'raw') return this.raw === undefined ? '' : String(this.raw);
      if (this.mode === 'urlencoded') return queryString(this.urlencoded._items);
      return '';
    }

    toJSON() {
      return this.output();
    }

    output() {
      var m = String(this.mode);
      if (m === 'raw') return { mode: 'raw', raw: this.raw === undefined || this.raw === null ? '' : String(this.raw) };
      if (m === 'urlencoded') return { mode: 'urlencoded', urlencoded: this.urlencoded.pairs() };
      if (m === 'formdata') return { mode: 'formdata', formdata: this.formdata.pairs() };
      return { mode: 'none' };
    }
  }
  harden.push(RequestBody);

  class Request {
    constructor(r) {
      r = r || {};
      this._method = String(r.method || 'GET');
      this._url = new Url(r.url || '');
      this._headers = new PropertyList(r.headers || [], true, ':');
      this._body = new RequestBody(r.body);
    }

    get method() { return this._method; }
    set method(v) { this._method = String(v); }
    get url() { return this._url; }
    set url(v) { this._url = v instanceof Url ? v : new Url(v); }
    get headers() { return this._headers; }
    set headers(v) { this._headers = v instanceof PropertyList ? v : new PropertyList(v, true, ':'); }
    get body() { return this._body; }
    set body(v) { this._body = v instanceof RequestBody ? v : new RequestBody(v); }
    get auth() { return undefined; }

    addHeader(h) { this._headers.add(h); }
    upsertHeader(h) { this._headers.upsert(h); }
    removeHeader(name) { this._headers.remove(name); }
    getHeaders() { return this._headers.toObject(); }
    forEachHeader(fn) { this._headers.each(fn); }
    addQueryParams(p) { this._url.addQueryParams(p); }
    removeQueryParams(p) { this._url.removeQueryParams(p); }

    output() {
      return {
        method: String(this._method),
        url: String(this._url),
        headers: this._headers.pairs(),
        body: this._body.output(),
      };
    }

    toJSON() {
      return this.output();
    }
  }
  harden.push(Request);

  // ---- response ------------------------------------------------------------------------------------

  class JSONError extends Error {}
  Object.defineProperty(JSONError.prototype, 'name', { value: 'JSONError', writable: true, configurable: true });
  harden.push(JSONError);

  function parseCookies(headers) {
    var out = [];
    headers._items.forEach(function (h) {
      if (String(h.key).toLowerCase() !== 'set-cookie') return;
      var parts = String(h.value).split(';');
      var eq = parts[0].indexOf('=');
      if (eq < 0) return;
      var c = { name: parts[0].slice(0, eq).trim(), value: parts[0].slice(eq + 1).trim() };
      for (var i = 1; i < parts.length; i++) {
        var kv = parts[i].split('=');
        var k = kv[0].trim().toLowerCase();
        var v = kv.slice(1).join('=').trim();
        if (k === 'domain') c.domain = v;
        else if (k === 'path') c.path = v;
        else if (k === 'expires') c.expires = v;
        else if (k === 'max-age') c.maxAge = v;
        else if (k === 'secure') c.secure = true;
        else if (k === 'httponly') c.httpOnly = true;
      }
      out.push(c);
    });
    return out;
  }

  class CookieList {
    constructor(run, cookies) {
      this._run = run;
      this._items = cookies;
    }

    get(name) {
      var c = this.one(name);
      return c ? c.value : undefined;
    }

    one(name) {
      for (var i = this._items.length - 1; i >= 0; i--) if (this._items[i].name === name) return this._items[i];
      return undefined;
    }

    has(name) { return this.one(name) !== undefined; }
    all() { return this._items.slice(); }
    count() { return this._items.length; }
    each(fn) { this._items.slice().forEach(function (c) { fn(c); }); }

    toObject() {
      var o = {};
      this._items.forEach(function (c) { put(o, c.name, c.value); });
      return o;
    }

    jar() { throw notSupported(this._run, 'pm.cookies.jar'); }
  }
  harden.push(CookieList);

  class Response {
    constructor(run, r) {
      this._run = run;
      this.code = r.code;
      this.status = r.status === undefined || r.status === null ? '' : String(r.status);
      this.responseTime = r.responseTime;
      this.responseSize = r.responseSize;
      this.headers = new PropertyList(r.headers || [], true, ':');
      this._text = r.body === undefined || r.body === null ? '' : String(r.body);
    }

    text() { return this._text; }
    reason() { return this.status; }

    json() {
      return this._run.json();
    }

    size() {
      var body = this.responseSize !== undefined && this.responseSize !== null ? this.responseSize : this._text.length;
      var header = this.headers._items.reduce(function (n, h) {
        return n + String(h.key).length + String(h.value).length + 4;
      }, 0);
      return { body: body, header: header, total: body + header };
    }

    get cookies() { return this._run.cookies(); }
    get to() { return new ResponseAssertion(this, false); }
    get not() { return new ResponseAssertion(this, true); }
  }
  harden.push(Response);

  class ResponseAssertion {
    constructor(response, negate) {
      this._r = response;
      this._neg = negate;
    }

    get not() { return new ResponseAssertion(this._r, !this._neg); }

    _check(ok, msg, negMsg) {
      if (this._neg ? ok : !ok) throw new AssertionError(this._neg ? negMsg : msg);
      return this;
    }

    status(want) {
      var r = this._r;
      if (typeof want === 'number') {
        return this._check(r.code === want,
          'expected response to have status code ' + want + ' but got ' + r.code,
          'expected response to not have status code ' + want);
      }
      return this._check(r.status === String(want),
        'expected response to have status reason ' + inspect(String(want)) + ' but got ' + inspect(r.status),
        'expected response to not have status reason ' + inspect(String(want)));
    }

    header(name, value) {
      var h = this._r.headers;
      var present = h.has(name);
      if (value === undefined || !present) {
        if (value !== undefined && this._neg) return this;
        this._check(present, 'expected response to have header with key ' + inspect(String(name)),
          'expected response to not have header with key ' + inspect(String(name)));
        if (value === undefined) return this;
      }
      var actual = h.get(name);
      var same = String(actual) === String(value);
      return this._check(same,
        'expected response to have header ' + inspect(String(name)) + ' with value ' + inspect(String(value)) +
          ' but got ' + inspect(String(actual)),
        'expected response to not have header ' + inspect(String(name)) + ' with value ' + inspect(String(value)));
    }

    jsonBody(path, value) {
      var data, err = null;
      try {
        data = this._r.json();
      } catch (e) {
        err = e;
      }
      if (arguments.length === 0 || err) {
        if (err && this._neg) return this;
        return this._check(!err, 'expected response body to be a valid json but got error ' + (err && err.message),
          'expected response body not to be a valid json');
      }
      if (path !== null && typeof path === 'object') {
        var sameObj = G.__exile_deep_equal(data, path);
        return this._check(sameObj, 'expected response body json to equal ' + inspect(path) + ' but got ' + inspect(data),
          'expected response body json to not equal ' + inspect(path));
      }
      var a = expect(data);
      if (this._neg) a = a.not;
      if (arguments.length > 1) a.to.have.deep.nested.property(String(path), value);
      else a.to.have.nested.property(String(path));
      return this;
    }

    body(want) {
      var text = this._r._text;
      if (arguments.length === 0) {
        return this._check(text.length > 0, 'expected response to have content in body',
          'expected response to not have content in body');
      }
      if (want instanceof RegExp) {
        return this._check(want.test(text), 'expected response body text to match ' + String(want),
          'expected response body text to not match ' + String(want));
      }
      if (want !== null && typeof want === 'object') {
        var data;
        try { data = JSON.parse(text); } catch (e) { data = undefined; }
        return this._check(G.__exile_deep_equal(data, want),
          'expected response body json to equal ' + inspect(want) + ' but got ' + inspect(data),
          'expected response body json to not equal ' + inspect(want));
      }
      return this._check(text === String(want),
        'expected response body to equal ' + inspect(String(want)) + ' but got ' + inspect(text),
        'expected response body to not equal ' + inspect(String(want)));
    }

    jsonSchema(schema) {
      if (typeof G.__exile_schema_errors !== 'function') {
        throw notSupported(this._r._run, 'pm.response.to.have.jsonSchema');
      }
      var data;
      try { data = this._r.json(); } catch (e) {
        return this._check(false, 'expected response body to be a valid json but got error ' + e.message, '');
      }
      var errors = G.__exile_schema_errors(data, schema) || [];
      return this._check(errors.length === 0,
        'expected data to satisfy schema but found following errors: \n' + errors.join('\n'),
        'expected data to not satisfy schema');
    }

    responseTime(max) {
      var t = this._r.responseTime;
      return this._check(t <= max, 'expected response time ' + t + 'ms to be at most ' + max + 'ms',
        'expected response time ' + t + 'ms to be above ' + max + 'ms');
    }
  }
  ['to', 'be', 'have', 'and', 'a', 'an', 'that', 'is', 'been', 'with', 'which', 'has', 'of'].forEach(function (n) {
    Object.defineProperty(ResponseAssertion.prototype, n, { get: function () { return this; }, configurable: true });
  });
  function classAssert(name, test, what) {
    Object.defineProperty(ResponseAssertion.prototype, name, {
      get: function () {
        var code = this._r.code;
        return this._check(test(code), 'expected response code to be ' + what + ' but found ' + code,
          'expected response code to not be ' + what + ' but found ' + code);
      },
      configurable: true,
    });
  }
  classAssert('info', function (c) { return c >= 100 && c < 200; }, '1XX');
  classAssert('success', function (c) { return c >= 200 && c < 300; }, '2XX');
  classAssert('redirection', function (c) { return c >= 300 && c < 400; }, '3XX');
  classAssert('clientError', function (c) { return c >= 400 && c < 500; }, '4XX');
  classAssert('serverError', function (c) { return c >= 500 && c < 600; }, '5XX');
  classAssert('error', function (c) { return c >= 400 && c < 600; }, '4XX or 5XX');
  classAssert('ok', function (c) { return c === 200; }, '200');
  classAssert('accepted', function (c) { return c === 202; }, '202');
  classAssert('badRequest', function (c) { return c === 400; }, '400');
  classAssert('unauthorized', function (c) { return c === 401; }, '401');
  classAssert('unauthorised', function (c) { return c === 401; }, '401');
  classAssert('forbidden', function (c) { return c === 403; }, '403');
  classAssert('notFound', function (c) { return c === 404; }, '404');
  classAssert('rateLimited', function (c) { return c === 429; }, '429');
  Object.defineProperty(ResponseAssertion.prototype, 'json', {
    get: function () {
      var ct = String(this._r.headers.get('content-type') || '');
      var parses = true;
      try { this._r.json(); } catch (e) { parses = false; }
      return this._check(/json/i.test(ct) && parses,
        'expected response to be json but got content type ' + inspect(ct),
        'expected response to not be json');
    },
    configurable: true,
  });
  Object.defineProperty(ResponseAssertion.prototype, 'withBody', {
    get: function () { return this.body(); },
    configurable: true,
  });
  harden.push(ResponseAssertion);

  // ---- pm ------------------------------------------------------------------------------------------

  class Execution {
    constructor(run) { this._run = run; }
    setNextRequest(name) { this._run.setNext(name); }
    skipRequest() { throw notSupported(this._run, 'pm.execution.skipRequest'); }
    get location() { return [this._run.input.info && this._run.input.info.requestName]; }
  }
  harden.push(Execution);

  class Pm {
    constructor(run) { this._run = run; }
    get info() { return this._run.info(); }
    get environment() { return this._run.scope('environment'); }
    get collectionVariables() { return this._run.scope('collectionVariables'); }
    get globals() { return this._run.scope('globals'); }
    get variables() { return this._run.scope('variables'); }
    get iterationData() { return this._run.scope('iterationData'); }
    get request() { return this._run.request(); }
    set request(v) { /* read-only in Postman */ }
    get response() { return this._run.response(); }
    get cookies() { return this._run.cookies(); }
    get execution() { return this._run.once('execution', function (run) { return new Execution(run); }); }
    get test() { return this._run.testFn(); }
    get expect() { return expect; }
    get vault() { throw notSupported(this._run, 'pm.vault'); }
    get visualizer() { throw notSupported(this._run, 'pm.visualizer'); }
    sendRequest() { throw notSupported(this._run, 'pm.sendRequest'); }
    require() { throw notSupported(this._run, 'pm.require'); }
  }
  harden.push(Pm);

  class LegacyPostman {
    constructor(run) { this._run = run; }
    setNextRequest(name) { this._run.setNext(name); }
    getResponseHeader(name) { var r = this._run.response(); return r ? r.headers.get(name) : undefined; }
    getResponseCookie(name) { var c = this._run.cookies().one(name); return c; }
    setEnvironmentVariable(k, v) { this._run.setVar(String(k), v, 'environment'); }
    getEnvironmentVariable(k) { return this._run.scope('environment').get(k); }
    clearEnvironmentVariable(k) { this._run.unsetVar(String(k)); }
    clearEnvironmentVariables() { this._run.scope('environment').clear(); }
    setGlobalVariable(k, v) { this._run.setVar(String(k), v, 'globals'); }
    getGlobalVariable(k) { return this._run.scope('globals').get(k); }
    clearGlobalVariable(k) { this._run.unsetVar(String(k)); }
    clearGlobalVariables() { this._run.scope('globals').clear(); }
  }
  harden.push(LegacyPostman);

  class Console {
    constructor(run) { this._run = run; }
    _line(args) {
      var logs = this._run.logs;
      if (logs.length >= MAX_LOG_LINES) return;
      var s = Array.prototype.map.call(args, jsonish).join(' ');
      logs.push(s.length > MAX_LOG_CHARS ? s.slice(0, MAX_LOG_CHARS) : s);
    }
    log() { this._line(arguments); }
    info() { this._line(arguments); }
    warn() { this._line(arguments); }
    error() { this._line(arguments); }
    debug() { this._line(arguments); }
    trace() { this._line(arguments); }
  }
  harden.push(Console);

  // ---- one run ---------------------------------------------------------------------------------------

  var SCOPE_NAMES = {
    globalThis: true, window: true, self: true, global: true,
  };

  class Run {
    constructor(input) {
      this.input = input;
      this.vars = input.variables || {};
      this.runtimeScopes = input.runtimeScopes || {};
      this.results = [];
      this.legacy = new Map();
      this.sets = new Map();
      this.setScopes = new Map();
      this.unsets = new Set();
      this.nextReq = null;
      this.unsupported = null;
      this.logs = [];
      this.secretRead = false;
      this.secrets = new Set(input.secretNames || []);
      this.built = new Map();
      this.bindings = new Map();
      this.req = null;
      this.reqBefore = null;
      this.jsonState = 0;
      this.jsonValue = undefined;
      this.jsonErr = null;
    }

    once(key, make) {
      var v = this.built.get(key);
      if (v === undefined && !this.built.has(key)) {
        v = make(this);
        this.built.set(key, v);
      }
      return v;
    }

    // Variables ------------------------------------------------------------------------
    lookup(scope, name) {
      var layers = LAYERS[scope];
      for (var i = 0; i < layers.length; i++) {
        var layer = layers[i];
        if (layer === 'runtime') {
          var sees = SEES[scope];
          if (this.sets.has(name)) {
            if (!sees || this.setScopes.get(name) === sees) return { value: this.sets.get(name) };
            continue;
          }
          if (this.unsets.has(name)) continue;
          var tag = own(this.runtimeScopes, name) ? this.runtimeScopes[name] : undefined;
          if (sees && tag !== undefined && tag !== sees) continue;
        }
        var obj = this.vars[layer];
        if (own(obj, name)) {
          if (layer === 'environment' && this.secrets.has(name)) this.secretRead = true;
          return { value: obj[name] };
        }
      }
      return null;
    }

    scopeObject(scope, markSecrets) {
      var names = [];
      var seen = new Set();
      var self = this;
      var add = function (n) { if (!seen.has(n)) { seen.add(n); names.push(n); } };
      var layers = LAYERS[scope];
      for (var i = layers.length - 1; i >= 0; i--) {
        var obj = this.vars[layers[i]];
        if (obj && typeof obj === 'object') Object.keys(obj).forEach(add);
        if (layers[i] === 'runtime') this.sets.forEach(function (v, k) { add(k); });
      }
      var out = {};
      var before = this.secretRead;
      names.forEach(function (n) {
        var r = self.lookup(scope, n);
        if (r) put(out, n, r.value);
      });
      if (!markSecrets) this.secretRead = before;
      return out;
    }

    setVar(name, value, scope) {
      var v = toJSONValue(name, value);
      this.unsets.delete(name);
      this.sets.set(name, v);
      this.setScopes.set(name, scope || 'local');
    }

    unsetVar(name) {
      this.sets.delete(name);
      this.setScopes.delete(name);
      this.unsets.add(name);
    }

    scope(name) {
      return this.once('scope:' + name, function (run) { return new VariableScope(run, name); });
    }

    // pm pieces ------------------------------------------------------------------------
    info() {
      var self = this;
      return this.once('info', function () {
        var i = self.input.info || {};
        return {
          eventName: self.input.event === 'prerequest' ? 'prerequest' : 'test',
          iteration: i.iteration === undefined ? 0 : i.iteration,
          iterationCount: i.iterationCount === undefined ? 1 : i.iterationCount,
          requestName: i.requestName === undefined ? '' : i.requestName,
          requestId: i.requestId === undefined ? '' : i.requestId,
        };
      });
    }

    request() {
      if (!this.req) {
        this.req = new Request(this.input.request);
        this.reqBefore = JSON.stringify(this.req.output());
      }
      return this.req;
    }

    response() {
      var self = this;
      return this.once('response', function () {
        return self.input.response ? new Response(self, self.input.response) : undefined;
      });
    }

    json() {
      if (this.jsonState === 0) {
        var text = this.input.response && this.input.response.body;
        text = text === undefined || text === null ? '' : String(text);
        try {
          if (!text.trim()) throw new SyntaxError('No data, empty input at 1:1');
          this.jsonValue = JSON.parse(text);
          this.jsonState = 1;
        } catch (e) {
          this.jsonErr = e.message;
          this.jsonState = 2;
        }
      }
      if (this.jsonState === 2) throw new JSONError(this.jsonErr);
      return this.jsonValue;
    }

    cookies() {
      var self = this;
      return this.once('cookies', function () {
        var r = self.response();
        return new CookieList(self, r ? parseCookies(r.headers) : []);
      });
    }

    setNext(name) {
      this.nextReq = { name: name === null || name === undefined ? null : String(name) };
    }

    record(name, passed, error, skipped) {
      this.results.push({ name: String(name), passed: passed, error: error, skipped: skipped });
    }

    testFn() {
      var run = this;
      return this.once('test', function () {
        var test = function (name, fn) {
          if (typeof fn !== 'function') {
            run.record(name, true, null, true);
            return run.pm();
          }
          var failure = null;
          try {
            if (fn.length > 0) {
              fn.call(run.globalView(), function (err) {
                if (err && failure === null) failure = testErrorText(err);
              });
            } else {
              fn.call(run.globalView());
            }
          } catch (e) {
            failure = testErrorText(e);
          }
          run.record(name, failure === null, failure, false);
          return run.pm();
        };
        Object.defineProperty(test, 'skip', {
          value: function (name) { run.record(name, true, null, true); return run.pm(); },
          enumerable: true,
        });
        return test;
      });
    }

    pm() {
      return this.once('pm', function (run) { return new Pm(run); });
    }

    legacyTests() {
      var run = this;
      return this.once('tests', function () {
        return new Proxy(Object.create(null), {
          set: function (target, key, value) {
            key = String(key);
            var entry = run.legacy.get(key);
            if (entry) entry.passed = !!value;
            else {
              entry = { name: key, passed: !!value, error: null, skipped: false };
              run.legacy.set(key, entry);
              run.results.push(entry);
            }
            put(target, key, value);
            return true;
          },
        });
      });
    }

    legacyRequest() {
      var r = this.input.request || {};
      var headers = {};
      (r.headers || []).forEach(function (h) { put(headers, String(h[0]), h[1]); });
      var b = r.body || {};
      var data = {};
      if (b.mode === 'raw') data = b.raw === undefined ? '' : b.raw;
      else if (b.mode === 'urlencoded' || b.mode === 'formdata') {
        (b[b.mode] || []).forEach(function (p) { put(data, String(p[0]), p[1]); });
      }
      var info = this.input.info || {};
      return { url: r.url, method: r.method, headers: headers, data: data, name: info.requestName, id: info.requestId };
    }

    // The script's own names, then the runtime's globals, then the real built-ins.
    provided(name) {
      var run = this;
      var resp;
      switch (name) {
        case 'pm': return this.pm();
        case 'postman': return this.once('postman', function () { return new LegacyPostman(run); });
        case 'console': return this.once('console', function () { return new Console(run); });
        case 'tests': return this.legacyTests();
        case 'require': return this.once('require', function () { return makeRequire(run); });
        case 'responseBody':
          resp = this.response();
          return resp ? resp._text : undefined;
        case 'responseCode':
          resp = this.response();
          return resp ? this.once('responseCode', function () {
            return { code: resp.code, name: resp.status, detail: resp.status };
          }) : undefined;
        case 'responseTime':
          resp = this.response();
          return resp ? resp.responseTime : undefined;
        case 'responseHeaders':
          resp = this.response();
          return resp ? this.once('responseHeaders', function () {
            var o = {};
            resp.headers._items.forEach(function (h) { put(o, String(h.key), h.value); });
            return o;
          }) : undefined;
        case 'responseCookies':
          return this.cookies().all();
        case 'environment': return this.once('legacyEnv', function () { return run.scopeObject('environment', true); });
        case 'globals': return this.once('legacyGlobals', function () { return run.scopeObject('globals', true); });
        case 'data': return this.once('legacyData', function () { return run.scopeObject('iterationData', true); });
        case 'iteration': return this.info().iteration;
        case 'request': return this.once('legacyRequest', function () { return run.legacyRequest(); });
        case 'xml2Json': return function () { throw notSupported(run, 'xml2Json'); };
        case 'setTimeout': return function () { throw notSupported(run, 'setTimeout'); };
        case 'setInterval': return function () { throw notSupported(run, 'setInterval'); };
        case 'setImmediate': return function () { throw notSupported(run, 'setImmediate'); };
        case 'fetch': return function () { throw notSupported(run, 'fetch'); };
        case 'XMLHttpRequest': return function () { throw notSupported(run, 'XMLHttpRequest'); };
        case 'clearTimeout':
        case 'clearInterval':
          return function () {};
        case 'cheerio': return this.once('cheerio', function () { return unsupportedLibrary(run, 'cheerio'); });
        case '_': return LODASH_VIEW || this.once('lodash', function () { return unsupportedLibrary(run, 'lodash'); });
        case 'CryptoJS': return G.CryptoJS;
        case 'tv4': return G.tv4;
        case 'moment': return G.moment;
        case 'btoa': return G.btoa;
        case 'atob': return G.atob;
      }
      return undefined;
    }

    // The object a script sees as `globalThis` / `window` / `this`.
    globalView() {
      var run = this;
      return this.once('globalView', function () {
        return new Proxy({}, {
          has: function (t, k) { return typeof k === 'string' && run.visible(k); },
          get: function (t, k) { return typeof k === 'string' ? run.read(k) : undefined; },
          set: function (t, k, v) { if (typeof k === 'string') run.bindings.set(k, v); return true; },
          deleteProperty: function (t, k) { run.bindings.delete(k); return true; },
          defineProperty: function (t, k, d) { if (typeof k === 'string') run.bindings.set(k, d.value); return true; },
          ownKeys: function () { return Array.from(run.bindings.keys()); },
          getOwnPropertyDescriptor: function (t, k) {
            if (!run.bindings.has(k)) return undefined;
            return { value: run.bindings.get(k), writable: true, enumerable: true, configurable: true };
          },
        });
      });
    }

    visible(name) {
      if (this.bindings.has(name)) return true;
      if (name.indexOf('__exile') === 0) return false;
      return this.provided(name) !== undefined || name in G || own(SCOPE_NAMES, name);
    }

    read(name) {
      if (this.bindings.has(name)) return this.bindings.get(name);
      if (own(SCOPE_NAMES, name)) return this.globalView();
      var v = this.provided(name);
      if (v !== undefined) return v;
      if (name.indexOf('__exile') === 0) return undefined;
      return G[name];
    }

    // The object behind `with`: every name resolves here so that assignments stay in this run.
    withScope() {
      var run = this;
      return new Proxy({}, {
        has: function (t, k) {
          return typeof k === 'string' && k !== 'undefined' && k !== 'NaN' && k !== 'Infinity';
        },
        get: function (t, k) { return typeof k === 'string' ? run.read(k) : undefined; },
        set: function (t, k, v) { run.bindings.set(k, v); return true; },
        deleteProperty: function (t, k) { run.bindings.delete(k); return true; },
      });
    }

    output(error) {
      var err = error;
      if (this.unsupported) err = { name: 'Error', message: 'not supported by Exile: ' + this.unsupported };
      var set = {};
      this.sets.forEach(function (v, k) { put(set, k, v); });
      var request = null;
      if (this.req && this.input.event === 'prerequest') {
        var now;
        try {
          now = this.req.output();
        } catch (e) {
          now = null;
        }
        if (now && JSON.stringify(now) !== this.reqBefore) request = now;
      }
      return {
        tests: this.results.map(function (t) {
          return { name: t.name, passed: !!t.passed, error: t.error === null ? null : String(t.error), skipped: !!t.skipped };
        }),
        set: set,
        setScopes: Object.fromEntries(this.setScopes),
        unset: Array.from(this.unsets),
        request: request,
        next: this.nextReq,
        error: err,
        unsupported: this.unsupported,
        logs: this.logs.slice(),
        secretRead: this.secretRead,
      };
    }
  }
  harden.push(Run);

  var SUPPORTED_MODULES = {
    'crypto-js': 'CryptoJS',
    moment: 'moment',
    tv4: 'tv4',
    atob: 'atob',
    btoa: 'btoa',
    lodash: '__exile_lodash',
  };

  function makeRequire(run) {
    return function require(name) {
      name = String(name);
      if (name === 'lodash' && LODASH_VIEW) return LODASH_VIEW;
      if (own(SUPPORTED_MODULES, name)) {
        var v = G[SUPPORTED_MODULES[name]];
        if (v === undefined) throw notSupported(run, "require('" + name + "')");
        return v;
      }
      if (name === 'chai') {
        return {
          expect: expect,
          get assert() { throw notSupported(run, 'chai.assert'); },
          get should() { throw notSupported(run, 'chai.should'); },
        };
      }
      if (name === 'uuid') return { v4: uuid4 };
      throw notSupported(run, "require('" + name + "')");
    };
  }

  // ---- static scan for unsupported APIs ---------------------------------------------------------

  var SCAN = [
    [/\bpm\s*\.\s*sendRequest\b/, 'pm.sendRequest'],
    [/\bpm\s*\.\s*vault\b/, 'pm.vault'],
    [/\bpm\s*\.\s*visualizer\b/, 'pm.visualizer'],
    [/\bpm\s*\.\s*require\b/, 'pm.require'],
    [/\bpm\s*\.\s*execution\s*\.\s*skipRequest\b/, 'pm.execution.skipRequest'],
    [/\bpm\s*\.\s*cookies\s*\.\s*jar\b/, 'pm.cookies.jar'],
    [/\bsetTimeout\b/, 'setTimeout'],
    [/\bsetInterval\b/, 'setInterval'],
    [/\bsetImmediate\b/, 'setImmediate'],
    [/\bxml2Json\b/, 'xml2Json'],
    [/\bfetch\s*\(/, 'fetch'],
    [/\bXMLHttpRequest\b/, 'XMLHttpRequest'],
    [/\bcheerio\s*[.(]/, 'cheerio'],
  ];
  if (!LODASH) SCAN.push([/(^|[^\w$.])_\s*\.\s*[A-Za-z]\w*\s*\(/, 'lodash']);

  // `_.name`, `require('lodash').name` and `x.name` after `var x = require('lodash')`, for names the subset
  // lacks, in the order they appear.
  function scanLodash(source, found) {
    if (!LODASH) return;
    var seen = [];
    var note = function (name, at) {
      if (!(name in LODASH)) seen.push({ name: '_.' + name, at: at });
    };
    var aliases = ['_'];
    var m;
    var decl = /\b(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*require\s*\(\s*(['"`])lodash\2\s*\)/g;
    while ((m = decl.exec(source)) !== null) if (aliases.indexOf(m[1]) === -1) aliases.push(m[1]);
    var direct = /\brequire\s*\(\s*(['"`])lodash\1\s*\)\s*\.\s*([A-Za-z_$][\w$]*)/g;
    while ((m = direct.exec(source)) !== null) note(m[2], m.index);
    aliases.forEach(function (alias) {
      var use = new RegExp('(^|[^\\w$.])' + alias.replace(/\$/g, '\\$') + '\\s*\\.\\s*([A-Za-z_$][\\w$]*)', 'g');
      while ((m = use.exec(source)) !== null) note(m[2], m.index);
    });
    seen.sort(function (a, b) { return a.at - b.at; }).forEach(function (s) {
      if (found.indexOf(s.name) === -1) found.push(s.name);
    });
  }

  function scanUnsupported(source) {
    var found = [];
    SCAN.forEach(function (s) {
      if (s[0].test(source)) found.push(s[1]);
    });
    scanLodash(source, found);
    var re = /\brequire\s*\(\s*(['"`])([^'"`]+)\1\s*\)/g;
    var m;
    while ((m = re.exec(source)) !== null) {
      var name = m[2];
      var ok = own(SUPPORTED_MODULES, name) ? G[SUPPORTED_MODULES[name]] !== undefined : name === 'chai' || name === 'uuid';
      var label = "require('" + name + "')";
      if (!ok && found.indexOf(label) === -1) found.push(label);
    }
    if (/\bchai\s*\.\s*assert\b|\brequire\s*\(\s*['"]chai['"]\s*\)\s*\.\s*assert\b/.test(source)) found.push('chai.assert');
    return found;
  }

  // ---- entry points ----------------------------------------------------------------------------------

  // Only the host calls these: below the entry point's own frame, every frame must be the host's
  // top-level call (`<anonymous>:1:N`). A call made from script code (directly, through a callback,
  // or from a promise job after the run) shows other frames, or none.
  function calledByHost() {
    var lines = String(new Error().stack).split('\n');
    // lines[0] = 'Error', [1] = calledByHost, [2] = the entry point, [3..] = its callers
    var callers = lines.slice(3);
    if (callers.length === 0 || lines.length - 1 >= Error.stackTraceLimit) return false;
    return callers.every(function (l) { return /^\s*at <anonymous>:1:\d+$/.test(l); });
  }

  // RegExp.$1 / RegExp.lastMatch survive a run: an empty match before and after each run resets them.
  var RESET_REGEXP_STATICS = /(?:)/;
  // tv4 keeps the last error and the schemas added with tv4.addSchema; each run starts without them.
  var TV4_RESET = G.tv4 && typeof G.tv4.reset === 'function' ? G.tv4.reset.bind(G.tv4) : function () {};

  function resetSharedState() {
    RESET_REGEXP_STATICS.exec('');
    TV4_RESET();
    LODASH_RESET();
  }

  function compile(id, source) {
    if (!calledByHost()) throw new Error('__exile_compile: not callable from scripts');
    id = String(id);
    source = String(source);
    var unsupported = scanUnsupported(source);
    var existing = registry.get(id);
    if (existing && existing.source === source) {
      return JSON.stringify({ error: null, unsupported: unsupported });
    }
    try {
      // The source must parse as a function body on its own, so that it cannot close the wrapper.
      Function(source);
      var factory = Function('__exile_scope',
        'with (__exile_scope) { return function () {\n' + source + '\n}; }');
      registry.set(id, { source: source, factory: factory });
    } catch (e) {
      return JSON.stringify({ error: String(e && e.name) + ': ' + String(e && e.message), unsupported: unsupported });
    }
    return JSON.stringify({ error: null, unsupported: unsupported });
  }

  function execute(id, inputText) {
    if (!calledByHost()) throw new Error('__exile_execute: not callable from scripts');
    var entry = registry.get(String(id));
    var input = typeof inputText === 'string' ? JSON.parse(inputText) : inputText;
    var run = new Run(input || {});
    if (!entry) {
      return JSON.stringify(run.output({ name: 'Error', message: 'script ' + String(id) + ' is not compiled' }));
    }
    var error = null;
    resetSharedState();
    lodashRun = run;
    try {
      entry.factory(run.withScope()).call(run.globalView());
    } catch (e) {
      error = safeDescribe(e);
    }
    lodashRun = null;
    resetSharedState();
    var out;
    try {
      out = JSON.stringify(run.output(error));
    } catch (e) {
      out = JSON.stringify({
        tests: [], set: {}, unset: [], request: null, next: null,
        error: { name: 'Error', message: 'output is not JSON: ' + String(e && e.message) },
        unsupported: null, logs: [], secretRead: run.secretRead,
      });
    }
    return out;
  }

  G.__exile_compile = compile;
  G.__exile_execute = execute;
  G.__exile_harden = harden;
})(globalThis);
