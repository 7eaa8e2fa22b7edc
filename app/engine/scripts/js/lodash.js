/*
 * Exile script runtime: a lodash 4 subset, written for Exile (not lodash's source), with lodash 4's results for
 * the functions it has. pm.js hands it to scripts as `_` and `require('lodash')`; a name it lacks (`_.template`,
 * `_.debounce`, ...) is "not supported by Exile: _.<name>" (pm.js reports it when compiling and when called).
 *
 * Collections: each/forEach, map, flatMap, filter, reject, partition, find, findLast, findIndex, findLastIndex,
 *   findKey, some, every, reduce, includes, size, sortBy, orderBy, groupBy, countBy, keyBy, shuffle, sample,
 *   sampleSize, toArray
 * Arrays: first/head, last, nth, tail, initial, take, takeRight, drop, dropRight, uniq, uniqBy, flatten,
 *   flattenDeep, compact, concat, chunk, difference, intersection, union, without, xor, zip, unzip, zipObject,
 *   fromPairs, indexOf, join, reverse, castArray
 * Objects: get, set, unset, has, hasIn, keys, keysIn, values, entries/toPairs, invert, pick, pickBy, omit, omitBy,
 *   clone, cloneDeep, merge, assign/extend, assignIn, defaults, mapValues, mapKeys, forOwn, isMatch
 * Predicates: isEqual (deep), isEmpty, isArray, isArrayLike, isObject, isObjectLike, isPlainObject, isString,
 *   isNumber, isInteger, isFinite, isNaN, isBoolean, isNull, isUndefined, isNil, isFunction, isDate, isRegExp,
 *   isError, isMap, isSet
 * Numbers/math: range, times, sum, sumBy, mean, meanBy, min, max, minBy, maxBy, round, floor, ceil, clamp,
 *   inRange, random (Math.random), toNumber, toInteger, toFinite, toString, now
 * Strings: startsWith, endsWith, trim, trimStart, trimEnd, pad, padStart, padEnd, repeat, camelCase, kebabCase,
 *   snakeCase, startCase, lowerCase, upperCase, capitalize, upperFirst, lowerFirst, toUpper, toLower, words,
 *   deburr, escape, unescape, escapeRegExp, split, replace
 * Functions/util: identity, noop, constant, negate, iteratee, property, matches, matchesProperty, uniqueId,
 *   defaultTo, tap, thru, chain; `_(value)` wraps for chaining as lodash does (implicit chaining ends at a
 *   method that returns a single value, `_.chain` keeps wrapping until `.value()`).
 *
 * Iteratee shorthands as in lodash: a function, a property path ('id', 'a.b'), a [path, value] pair, an object
 * (partial deep match). Known differences: string lengths and padding count code points (lodash counts some
 * grapheme clusters as one); words() treats letters outside Latin-1 as lodash treats them ("misc" letters) but
 * emoji and other symbols as separators. State kept between calls: the uniqueId counter (pm.js resets it each run
 * through `__exile_lodash_reset`). Nothing here writes to its own objects after load (lockdown.js freezes them).
 */
(function (G) {
  'use strict';

  var hasOwn = Object.prototype.hasOwnProperty;
  var objToString = Object.prototype.toString;
  var fnToString = Function.prototype.toString;
  var OBJECT_CTOR_TEXT = fnToString.call(Object);
  var MAX_SAFE = 9007199254740991;
  var MAX_INT = 1.7976931348623157e308;
  var MAX_ARRAY_LENGTH = 4294967295;
  var idCounter = 0;

  // ---- basic checks ------------------------------------------------------------------------------------

  function tagOf(v) {
    return objToString.call(v);
  }

  function isObject(v) {
    var t = typeof v;
    return v !== null && (t === 'object' || t === 'function');
  }

  function isObjectLike(v) {
    return v !== null && typeof v === 'object';
  }

  function isLength(n) {
    return typeof n === 'number' && n > -1 && n % 1 === 0 && n <= MAX_SAFE;
  }

  function isArrayLike(v) {
    return v !== null && v !== undefined && typeof v !== 'function' && isLength(v.length);
  }

  function isArrayLikeObject(v) {
    return isObjectLike(v) && isArrayLike(v);
  }

  function isArguments(v) {
    return isObjectLike(v) && tagOf(v) === '[object Arguments]';
  }

  function isTypedArray(v) {
    return isObjectLike(v) && ArrayBuffer.isView(v) && !(v instanceof DataView);
  }

  function isIndexed(v) {
    return Array.isArray(v) || isArguments(v) || isTypedArray(v);
  }

  function isIndex(v, length) {
    var t = typeof v;
    if (length === undefined) length = MAX_SAFE;
    if (length === 0) return false;
    if (t !== 'number' && !(t !== 'symbol' && /^(?:0|[1-9]\d*)$/.test(v))) return false;
    return v > -1 && v % 1 === 0 && v < length;
  }

  function isPrototypeObject(v) {
    var C = v && v.constructor;
    return v === ((typeof C === 'function' && C.prototype) || Object.prototype);
  }

  function isPlainObject(v) {
    if (!isObjectLike(v) || tagOf(v) !== '[object Object]') return false;
    var proto = Object.getPrototypeOf(v);
    if (proto === null) return true;
    var C = hasOwn.call(proto, 'constructor') && proto.constructor;
    return typeof C === 'function' && C instanceof C && fnToString.call(C) === OBJECT_CTOR_TEXT;
  }

  function isString(v) {
    return typeof v === 'string' || (isObjectLike(v) && !Array.isArray(v) && tagOf(v) === '[object String]');
  }

  function isNumber(v) {
    return typeof v === 'number' || (isObjectLike(v) && tagOf(v) === '[object Number]');
  }

  function isBoolean(v) {
    return v === true || v === false || (isObjectLike(v) && tagOf(v) === '[object Boolean]');
  }

  function isSymbol(v) {
    return typeof v === 'symbol' || (isObjectLike(v) && tagOf(v) === '[object Symbol]');
  }

  function isMap(v) { return isObjectLike(v) && tagOf(v) === '[object Map]'; }
  function isSet(v) { return isObjectLike(v) && tagOf(v) === '[object Set]'; }

  // SameValueZero
  function eq(a, b) {
    return a === b || (a !== a && b !== b);
  }

  // ---- writing (never throws on a frozen target, as lodash's sloppy-mode writes do not) --------------------

  // `o[k] = v` as lodash does it, except that a key the frozen intrinsics hold read-only (`toString`,
  // `constructor`, ... on Object.prototype) still becomes the object's own property, as it would without the
  // lockdown; `__proto__` is an own property too (lodash defines it), never the prototype.
  function putValue(o, k, v) {
    if (k !== '__proto__' && Reflect.set(o, k, v)) return;
    if (hasOwn.call(o, k) || !Object.isExtensible(o)) return;
    Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  }

  function assignValue(o, k, v) {
    var cur = o[k];
    if (!(hasOwn.call(o, k) && eq(cur, v)) || (v === undefined && !(k in o))) putValue(o, k, v);
  }

  // ---- conversions -------------------------------------------------------------------------------------------

  function baseToString(v) {
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) return v.map(baseToString) + '';
    if (isSymbol(v)) return Symbol.prototype.toString.call(v);
    var s = v + '';
    return s === '0' && 1 / v === -Infinity ? '-0' : s;
  }

  function toStr(v) {
    return v === null || v === undefined ? '' : baseToString(v);
  }

  function toNumber(v) {
    if (typeof v === 'number') return v;
    if (isSymbol(v)) return NaN;
    if (isObject(v)) {
      var prim = typeof v.valueOf === 'function' ? v.valueOf() : v;
      v = isObject(prim) ? prim + '' : prim;
    }
    if (typeof v !== 'string') return v === 0 ? v : +v;
    v = v.trim();
    if (/^0b[01]+$/i.test(v)) return parseInt(v.slice(2), 2);
    if (/^0o[0-7]+$/i.test(v)) return parseInt(v.slice(2), 8);
    if (/^[-+]0x[0-9a-f]+$/i.test(v)) return NaN;
    return +v;
  }

  function toFinite(v) {
    if (!v) return v === 0 ? v : 0;
    v = toNumber(v);
    if (v === Infinity || v === -Infinity) return (v < 0 ? -1 : 1) * MAX_INT;
    return v === v ? v : 0;
  }

  function toInteger(v) {
    var n = toFinite(v);
    var r = n % 1;
    return n === n ? (r ? n - r : n) : 0;
  }

  function clampNumber(n, lo, hi) {
    if (n === n) {
      if (hi !== undefined) n = n <= hi ? n : hi;
      if (lo !== undefined) n = n >= lo ? n : lo;
    }
    return n;
  }

  function chars(s) {
    return Array.from(s);
  }

  // ---- keys --------------------------------------------------------------------------------------------------

  function ownEnumSymbols(o) {
    if (!isObject(o)) return [];
    return Object.getOwnPropertySymbols(o).filter(function (s) { return Object.prototype.propertyIsEnumerable.call(o, s); });
  }

  function keys(o) {
    if (o === null || o === undefined) return [];
    if (isArrayLike(o) && isIndexed(o)) {
      var out = [];
      for (var i = 0; i < o.length; i++) out.push(String(i));
      Object.keys(o).forEach(function (k) {
        if (k !== 'length' && !isIndex(k, o.length)) out.push(k);
      });
      return out;
    }
    var ks = Object.keys(Object(o));
    if (isPrototypeObject(o)) ks = ks.filter(function (k) { return k !== 'constructor'; });
    return ks;
  }

  function keysIn(o) {
    if (o === null || o === undefined) return [];
    var out = [];
    var seen = new Set();
    if (isArrayLike(o) && isIndexed(o)) {
      for (var i = 0; i < o.length; i++) { out.push(String(i)); seen.add(String(i)); }
    }
    var proto = isObject(o) && isPrototypeObject(o);
    for (var k in Object(o)) {
      if (seen.has(k) || (k === 'length' && isIndexed(o))) continue;
      if (proto && k === 'constructor') continue;
      out.push(k);
    }
    return out;
  }

  function allKeys(o) {
    return keys(o).concat(ownEnumSymbols(o));
  }

  function values(o) {
    if (o === null || o === undefined) return [];
    var obj = Object(o);
    return keys(o).map(function (k) { return obj[k]; });
  }

  function toPairs(o) {
    if (isMap(o)) return Array.from(o.entries());
    if (isSet(o)) return Array.from(o.values()).map(function (v) { return [v, v]; });
    var obj = Object(o);
    return keys(o).map(function (k) { return [k, obj[k]]; });
  }

  // ---- paths ---------------------------------------------------------------------------------------------

  function isKey(v, obj) {
    if (Array.isArray(v)) return false;
    var t = typeof v;
    if (t === 'number' || t === 'symbol' || t === 'boolean' || v === null || v === undefined || isSymbol(v)) return true;
    if (!/\.|\[[^\]]*\]/.test(v)) return true; // neither a dot nor a [...]
    if (/^\w*$/.test(v)) return true;
    return obj !== null && obj !== undefined && v in Object(obj);
  }

  // 'a.b[0]["c.d"]' -> ['a', 'b', '0', 'c.d']: dots separate, [x] is a key as written, ["x"] / ['x'] quoted
  // (backslash escapes), a leading '.' or an empty segment is the key ''.
  function stringToPath(s) {
    var out = [];
    var i = 0;
    var n = s.length;
    if (s.charCodeAt(0) === 46) out.push('');
    while (i < n) {
      var c = s[i];
      if (c === '.') {
        // empty segment when '.' or '[]' follows, or at the end
        var after = s.slice(i + 1);
        if (after === '' || after[0] === '.' || after.indexOf('[]') === 0) out.push('');
        i++;
        continue;
      }
      if (c === '[') {
        var q = s[i + 1];
        if (q === '"' || q === "'") {
          var j = i + 2;
          var key = '';
          var closed = false;
          while (j < n) {
            if (s[j] === '\\' && j + 1 < n) { key += s[j + 1]; j += 2; continue; }
            if (s[j] === q && s[j + 1] === ']') { closed = true; break; }
            key += s[j];
            j++;
          }
          if (closed) { out.push(key); i = j + 2; continue; }
        } else if (q !== undefined && q !== ']') {
          var close = s.indexOf(']', i + 1);
          var open = s.indexOf('[', i + 1);
          if (close > 0 && (open < 0 || open > close)) {
            out.push(s.slice(i + 1, close));
            i = close + 1;
            continue;
          }
        } else if (q === ']') {
          var rest = s.slice(i + 2);
          if (rest === '' || rest[0] === '.' || rest.indexOf('[]') === 0) out.push('');
          i += 2;
          continue;
        }
      }
      // a plain segment: up to the next '.', '[' or ']'
      var k = i;
      while (k < n && s[k] !== '.' && s[k] !== '[' && s[k] !== ']') k++;
      if (k === i) { i++; continue; }
      out.push(s.slice(i, k));
      i = k;
    }
    return out;
  }

  function castPath(v, obj) {
    if (Array.isArray(v)) return v;
    return isKey(v, obj) ? [v] : stringToPath(toStr(v));
  }

  function toKey(v) {
    if (typeof v === 'string' || isSymbol(v)) return v;
    var s = v + '';
    return s === '0' && 1 / v === -Infinity ? '-0' : s;
  }

  function baseGet(obj, path) {
    path = castPath(path, obj);
    var i = 0;
    var n = path.length;
    while (obj !== null && obj !== undefined && i < n) obj = obj[toKey(path[i++])];
    return i && i === n ? obj : undefined;
  }

  function get(obj, path, dflt) {
    var v = obj === null || obj === undefined ? undefined : baseGet(obj, path);
    return v === undefined ? dflt : v;
  }

  function hasPath(obj, path, test) {
    path = castPath(path, obj);
    var n = path.length;
    var ok = false;
    var key;
    var i = 0;
    for (; i < n; i++) {
      key = toKey(path[i]);
      ok = obj !== null && obj !== undefined && test(obj, key);
      if (!ok) break;
      obj = obj[key];
    }
    if (ok || i !== n - 1) return ok;
    // stopped at the last key: an index inside an array's length counts (a hole), as in lodash
    var l = obj === null || obj === undefined ? 0 : obj.length;
    return !!l && isLength(l) && isIndex(key, l) && (Array.isArray(obj) || isArguments(obj));
  }

  function has(obj, path) {
    return obj !== null && obj !== undefined && hasPath(obj, path, function (o, k) { return hasOwn.call(o, k); });
  }

  function hasIn(obj, path) {
    return obj !== null && obj !== undefined && hasPath(obj, path, function (o, k) { return k in Object(o); });
  }

  function baseSet(obj, path, value) {
    if (!isObject(obj)) return obj;
    path = castPath(path, obj);
    var n = path.length;
    var nested = obj;
    for (var i = 0; nested !== null && nested !== undefined && i < n; i++) {
      var key = toKey(path[i]);
      var next = value;
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') return obj;
      if (i !== n - 1) {
        var cur = nested[key];
        next = isObject(cur) ? cur : (isIndex(path[i + 1]) ? [] : {});
      }
      assignValue(nested, key, next);
      nested = nested[key];
    }
    return obj;
  }

  function unset(obj, path) {
    if (obj === null || obj === undefined) return true;
    path = castPath(path, obj);
    var parent = path.length < 2 ? obj : baseGet(obj, path.slice(0, -1));
    if (parent === null || parent === undefined) return true;
    var key = toKey(path[path.length - 1]);
    if (typeof parent !== 'object' && typeof parent !== 'function') return true;
    return Reflect.deleteProperty(parent, key);
  }

  // ---- deep equality ------------------------------------------------------------------------------------------

  var PARTIAL = 1;
  var UNORDERED = 2;

  function baseIsEqual(a, b, flags, stack) {
    if (a === b) return true;
    if (a === null || a === undefined || b === null || b === undefined || (!isObjectLike(a) && !isObjectLike(b))) {
      return a !== a && b !== b;
    }
    return equalDeep(a, b, flags, stack || new Map());
  }

  function equalTag(v) {
    if (Array.isArray(v)) return '[object Array]';
    var t = tagOf(v);
    return t === '[object Arguments]' ? '[object Object]' : t;
  }

  // A pair already being compared (a cycle) is equal when both sides loop back to each other.
  function withStack(stack, a, b, fn) {
    var sa = stack.get(a);
    var sb = stack.get(b);
    if (sa && sb) return sa === b && sb === a;
    stack.set(a, b);
    stack.set(b, a);
    try {
      return fn();
    } finally {
      stack.delete(a);
      stack.delete(b);
    }
  }

  function equalArrays(a, b, flags, stack) {
    var partial = flags & PARTIAL;
    if (a.length !== b.length && !(partial && b.length > a.length)) return false;
    return withStack(stack, a, b, function () {
      var seen = flags & UNORDERED ? new Set() : null;
      for (var i = 0; i < a.length; i++) {
        var x = a[i];
        if (seen) {
          var found = false;
          for (var j = 0; j < b.length; j++) {
            if (!seen.has(j) && (x === b[j] || baseIsEqual(x, b[j], flags, stack))) {
              seen.add(j);
              found = true;
              break;
            }
          }
          if (!found) return false;
        } else if (!(x === b[i] || baseIsEqual(x, b[i], flags, stack))) {
          return false;
        }
      }
      return true;
    });
  }

  function equalObjects(a, b, flags, stack) {
    var partial = flags & PARTIAL;
    var ak = allKeys(a);
    var bk = allKeys(b);
    if (ak.length !== bk.length && !partial) return false;
    var i;
    for (i = 0; i < ak.length; i++) {
      if (!(partial ? ak[i] in b : hasOwn.call(b, ak[i]))) return false;
    }
    return withStack(stack, a, b, function () {
      var skipCtor = partial;
      for (var j = 0; j < ak.length; j++) {
        var k = ak[j];
        if (!(a[k] === b[k] || baseIsEqual(a[k], b[k], flags, stack))) return false;
        if (k === 'constructor') skipCtor = true;
      }
      if (!skipCtor) {
        var ca = a.constructor;
        var cb = b.constructor;
        if (ca !== cb && 'constructor' in a && 'constructor' in b &&
            !(typeof ca === 'function' && ca instanceof ca && typeof cb === 'function' && cb instanceof cb)) {
          return false;
        }
      }
      return true;
    });
  }

  function equalDeep(a, b, flags, stack) {
    var ta = equalTag(a);
    var tb = equalTag(b);
    if (ta !== tb) return false;
    if (ta === '[object Array]' || isTypedArray(a)) {
      if (isTypedArray(a) && (!isTypedArray(b) || a.constructor !== b.constructor)) return false;
      return equalArrays(a, b, flags, stack);
    }
    switch (ta) {
      case '[object Object]':
        return equalObjects(a, b, flags, stack);
      case '[object Boolean]':
      case '[object Date]':
      case '[object Number]':
        return eq(+a, +b);
      case '[object RegExp]':
      case '[object String]':
        return a == b + ''; // eslint-disable-line eqeqeq
      case '[object Error]':
        return a.name === b.name && a.message === b.message;
      case '[object Symbol]':
        return Symbol.prototype.valueOf.call(a) === Symbol.prototype.valueOf.call(b);
      case '[object Map]':
      case '[object Set]':
        if (a.size !== b.size && !(flags & PARTIAL)) return false;
        return withStack(stack, a, b, function () {
          var conv = ta === '[object Map]'
            ? function (m) { return Array.from(m.entries()); }
            : function (s) { return Array.from(s.values()); };
          return equalArrays(conv(a), conv(b), flags | UNORDERED, stack);
        });
      case '[object ArrayBuffer]':
        return a.byteLength === b.byteLength && equalArrays(new Uint8Array(a), new Uint8Array(b), 0, stack);
      case '[object DataView]':
        return a.byteLength === b.byteLength && a.byteOffset === b.byteOffset &&
          equalArrays(new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
            new Uint8Array(b.buffer, b.byteOffset, b.byteLength), 0, stack);
    }
    return false;
  }

  function isEqual(a, b) {
    return baseIsEqual(a, b, 0);
  }

  function isStrictComparable(v) {
    return v === v && !isObject(v);
  }

  function isMatchData(obj, data) {
    if (obj === null || obj === undefined) return !data.length;
    obj = Object(obj);
    var i;
    for (i = 0; i < data.length; i++) {
      if (data[i][2] ? data[i][1] !== obj[data[i][0]] : !(data[i][0] in obj)) return false;
    }
    for (i = 0; i < data.length; i++) {
      var k = data[i][0];
      if (data[i][2]) {
        if (obj[k] === undefined && !(k in obj)) return false;
      } else if (!baseIsEqual(data[i][1], obj[k], PARTIAL | UNORDERED)) {
        return false;
      }
    }
    return true;
  }

  function matchData(source) {
    return keys(source).map(function (k) { return [k, source[k], isStrictComparable(source[k])]; });
  }

  function matches(source) {
    var data = matchData(cloneDeep(source));
    if (data.length === 1 && data[0][2]) {
      var k = data[0][0];
      var v = data[0][1];
      return function (obj) {
        return obj !== null && obj !== undefined && obj[k] === v && (v !== undefined || k in Object(obj));
      };
    }
    return function (obj) { return isMatchData(obj, data); };
  }

  function isMatch(obj, source) {
    return obj === source || isMatchData(obj, matchData(source));
  }

  function matchesProperty(path, src) {
    src = cloneDeep(src);
    if (isKey(path) && isStrictComparable(src)) {
      var key = toKey(path);
      return function (obj) {
        return obj !== null && obj !== undefined && obj[key] === src && (src !== undefined || key in Object(obj));
      };
    }
    return function (obj) {
      var v = get(obj, path);
      return v === undefined && v === src ? hasIn(obj, path) : baseIsEqual(src, v, PARTIAL | UNORDERED);
    };
  }

  function property(path) {
    if (isKey(path)) {
      var key = toKey(path);
      return function (obj) { return obj === null || obj === undefined ? undefined : obj[key]; };
    }
    return function (obj) { return obj === null || obj === undefined ? undefined : baseGet(obj, path); };
  }

  function identity(v) {
    return v;
  }

  function iteratee(f) {
    if (typeof f === 'function') return f;
    if (f === null || f === undefined) return identity;
    if (typeof f === 'object') return Array.isArray(f) ? matchesProperty(f[0], f[1]) : matches(f);
    return property(f);
  }

  function castFunction(f) {
    return typeof f === 'function' ? f : identity;
  }

  function isIterateeCall(value, index, obj) {
    if (!isObject(obj)) return false;
    var t = typeof index;
    var ok = t === 'number' ? isArrayLike(obj) && isIndex(index, obj.length) : t === 'string' && index in obj;
    return ok && eq(obj[index], value);
  }

  // ---- iteration -------------------------------------------------------------------------------------------

  // fn(value, key, collection) for each element; stops when fn returns false.
  function baseEach(coll, fn) {
    if (coll === null || coll === undefined) return coll;
    var i;
    if (isArrayLike(coll)) {
      var it = Object(coll);
      var n = coll.length;
      for (i = 0; i < n; i++) if (fn(it[i], i, it) === false) break;
      return coll;
    }
    var obj = Object(coll);
    var ks = keys(coll);
    for (i = 0; i < ks.length; i++) if (fn(obj[ks[i]], ks[i], obj) === false) break;
    return coll;
  }

  function forEach(coll, fn) {
    return baseEach(coll, castFunction(fn));
  }

  function forOwn(obj, fn) {
    if (obj === null || obj === undefined) return obj;
    var f = castFunction(fn);
    var o = Object(obj);
    var ks = keys(obj);
    for (var i = 0; i < ks.length; i++) if (f(o[ks[i]], ks[i], o) === false) break;
    return obj;
  }

  function map(coll, fn) {
    var f = iteratee(fn);
    var out = [];
    baseEach(coll, function (v, k, c) { out.push(f(v, k, c)); });
    return out;
  }

  function filter(coll, fn) {
    var f = iteratee(fn);
    var out = [];
    baseEach(coll, function (v, k, c) { if (f(v, k, c)) out.push(v); });
    return out;
  }

  function reject(coll, fn) {
    var f = iteratee(fn);
    var out = [];
    baseEach(coll, function (v, k, c) { if (!f(v, k, c)) out.push(v); });
    return out;
  }

  function partition(coll, fn) {
    var f = iteratee(fn);
    var out = [[], []];
    baseEach(coll, function (v) { out[f(v) ? 0 : 1].push(v); });
    return out;
  }

  function flatMap(coll, fn) {
    return baseFlatten(map(coll, fn), 1);
  }

  function findIndex(arr, fn, from) {
    var n = arr === null || arr === undefined ? 0 : arr.length;
    if (!n) return -1;
    var i = from === undefined || from === null ? 0 : toInteger(from);
    if (i < 0) i = Math.max(n + i, 0);
    var f = iteratee(fn);
    for (; i < n; i++) if (f(arr[i], i, arr)) return i;
    return -1;
  }

  function findLastIndex(arr, fn, from) {
    var n = arr === null || arr === undefined ? 0 : arr.length;
    if (!n) return -1;
    var i = n - 1;
    if (from !== undefined) {
      i = toInteger(from);
      i = from < 0 ? Math.max(n + i, 0) : Math.min(i, n - 1);
    }
    var f = iteratee(fn);
    for (; i >= 0; i--) if (f(arr[i], i, arr)) return i;
    return -1;
  }

  function makeFind(indexFn) {
    return function (coll, fn, from) {
      var obj = Object(coll);
      var list = coll;
      var pred = fn;
      if (!isArrayLike(coll)) {
        var f = iteratee(fn);
        list = keys(coll);
        pred = function (k) { return f(obj[k], k, obj); };
        var i = indexFn(list, pred, from);
        return i > -1 ? obj[list[i]] : undefined;
      }
      var j = indexFn(list, pred, from);
      return j > -1 ? obj[j] : undefined;
    };
  }

  var find = makeFind(findIndex);
  var findLast = makeFind(findLastIndex);

  function findKey(obj, fn) {
    var f = iteratee(fn);
    var found;
    forOwn(obj, function (v, k, o) {
      if (f(v, k, o)) { found = k; return false; }
      return undefined;
    });
    return found;
  }

  function some(coll, fn, guard) {
    var f = iteratee(guard && isIterateeCall(coll, fn, guard) ? undefined : fn);
    var res = false;
    baseEach(coll, function (v, k, c) { res = !!f(v, k, c); return !res; });
    return res;
  }

  function every(coll, fn, guard) {
    var f = iteratee(guard && isIterateeCall(coll, fn, guard) ? undefined : fn);
    var res = true;
    baseEach(coll, function (v, k, c) { res = !!f(v, k, c); return res; });
    return res;
  }

  function reduce(coll, fn, acc) {
    var f = iteratee(fn);
    var init = arguments.length < 3;
    baseEach(coll, function (v, k, c) {
      if (init) { acc = v; init = false; } else acc = f(acc, v, k, c);
    });
    return acc;
  }

  function baseIndexOf(arr, v, from) {
    for (var i = from; i < arr.length; i++) if (eq(arr[i], v)) return i;
    return -1;
  }

  function includes(coll, v, from, guard) {
    coll = isArrayLike(coll) ? coll : values(coll);
    from = from && !guard ? toInteger(from) : 0;
    var n = coll.length;
    if (from < 0) from = Math.max(n + from, 0);
    if (isString(coll)) return from <= n && String(coll).indexOf(v, from) > -1;
    return !!n && baseIndexOf(coll, v, from) > -1;
  }

  function indexOf(arr, v, from) {
    var n = arr === null || arr === undefined ? 0 : arr.length;
    if (!n) return -1;
    var i = from === null || from === undefined ? 0 : toInteger(from);
    if (i < 0) i = Math.max(n + i, 0);
    return baseIndexOf(arr, v, i);
  }

  function size(coll) {
    if (coll === null || coll === undefined) return 0;
    if (isArrayLike(coll)) return isString(coll) ? chars(String(coll)).length : coll.length;
    if (isMap(coll) || isSet(coll)) return coll.size;
    return keys(coll).length;
  }

  // Sort order of lodash's sortBy/orderBy: ordinary values by > and <, then symbols, null, undefined and NaN
  // (two NaNs compare as 1, two symbols as equal).
  function sortRank(v) {
    if (isSymbol(v)) return 1;
    if (v === null) return 2;
    if (v === undefined) return 3;
    return v !== v ? 4 : 0;
  }

  function compareAscending(a, b) {
    if (a === b) return 0;
    var ra = sortRank(a);
    var rb = sortRank(b);
    if (ra !== rb) return ra > rb ? 1 : -1;
    if (ra === 4) return 1;
    if (ra !== 0) return 0;
    return a > b ? 1 : a < b ? -1 : 0;
  }

  function baseOrderBy(coll, its, orders) {
    var fns = its.length ? its.map(function (it) {
      if (Array.isArray(it)) {
        var path = it.length === 1 ? it[0] : it;
        return function (v) { return baseGet(v, path); };
      }
      return iteratee(it);
    }) : [identity];
    var rows = [];
    var idx = 0;
    baseEach(coll, function (v) {
      rows.push({ c: fns.map(function (f) { return f(v); }), i: idx++, v: v });
    });
    rows.sort(function (x, y) {
      for (var i = 0; i < x.c.length; i++) {
        var r = compareAscending(x.c[i], y.c[i]);
        if (r) return i >= orders.length ? r : r * (orders[i] === 'desc' ? -1 : 1);
      }
      return x.i - y.i;
    });
    return rows.map(function (r) { return r.v; });
  }

  function sortBy(coll) {
    if (coll === null || coll === undefined) return [];
    var its = Array.prototype.slice.call(arguments, 1);
    if (its.length > 1 && isIterateeCall(coll, its[0], its[1])) its = [];
    else if (its.length > 2 && isIterateeCall(its[0], its[1], its[2])) its = [its[0]];
    return baseOrderBy(coll, baseFlatten(its, 1), []);
  }

  function orderBy(coll, its, orders, guard) {
    if (coll === null || coll === undefined) return [];
    if (!Array.isArray(its)) its = its === null || its === undefined ? [] : [its];
    orders = guard ? undefined : orders;
    if (!Array.isArray(orders)) orders = orders === null || orders === undefined ? [] : [orders];
    return baseOrderBy(coll, its, orders);
  }

  function aggregator(setter) {
    return function (coll, fn) {
      var f = iteratee(fn);
      var out = {};
      baseEach(coll, function (v) { setter(out, v, f(v)); });
      return out;
    };
  }

  var groupBy = aggregator(function (out, v, k) {
    if (hasOwn.call(out, k)) out[k].push(v);
    else putValue(out, k, [v]);
  });
  var countBy = aggregator(function (out, v, k) {
    if (hasOwn.call(out, k)) out[k]++;
    else putValue(out, k, 1);
  });
  var keyBy = aggregator(function (out, v, k) { putValue(out, k, v); });

  function toArray(v) {
    if (!v) return [];
    if (isArrayLike(v)) return isString(v) ? chars(String(v)) : Array.prototype.slice.call(v);
    if (isMap(v)) return Array.from(v.entries());
    if (isSet(v)) return Array.from(v.values());
    if (typeof v[Symbol.iterator] === 'function' && !isObjectLike(v)) return Array.from(v);
    return values(v);
  }

  function shuffle(coll) {
    var arr = isArrayLike(coll) ? Array.prototype.slice.call(Object(coll)) : values(coll);
    for (var i = arr.length - 1; i > 0; i--) {
      var j = Math.floor(Math.random() * (i + 1));
      var t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  function sample(coll) {
    var arr = isArrayLike(coll) ? coll : values(coll);
    var n = arr.length;
    return n ? arr[Math.floor(Math.random() * n)] : undefined;
  }

  function sampleSize(coll, n, guard) {
    n = (guard ? isIterateeCall(coll, n, guard) : n === undefined) ? 1 : toInteger(n);
    var arr = shuffle(coll);
    return arr.slice(0, clampNumber(n, 0, arr.length));
  }

  // ---- arrays ----------------------------------------------------------------------------------------------

  function isFlattenable(v) {
    return Array.isArray(v) || isArguments(v) || !!(v && v[Symbol.isConcatSpreadable]);
  }

  function baseFlatten(arr, depth, pred, strict, out) {
    out = out || [];
    pred = pred || isFlattenable;
    for (var i = 0; i < arr.length; i++) {
      var v = arr[i];
      if (depth > 0 && pred(v)) {
        if (depth > 1) baseFlatten(v, depth - 1, pred, strict, out);
        else for (var j = 0; j < v.length; j++) out.push(v[j]);
      } else if (!strict) {
        out.push(v);
      }
    }
    return out;
  }

  function len(arr) {
    return arr === null || arr === undefined ? 0 : arr.length;
  }

  function slice(arr, start, end) {
    var n = len(arr);
    if (!n) return [];
    var out = [];
    start = start < 0 ? Math.max(n + start, 0) : Math.min(start, n);
    end = end === undefined ? n : end < 0 ? n + end : Math.min(end, n);
    for (var i = start; i < end; i++) out.push(arr[i]);
    return out;
  }

  function countArg(n, guard) {
    return guard || n === undefined ? 1 : toInteger(n);
  }

  function first(arr) {
    return len(arr) ? arr[0] : undefined;
  }

  function last(arr) {
    var n = len(arr);
    return n ? arr[n - 1] : undefined;
  }

  function nth(arr, n) {
    var l = len(arr);
    if (!l) return undefined;
    n = toInteger(n);
    n += n < 0 ? l : 0;
    return isIndex(n, l) ? arr[n] : undefined;
  }

  function tail(arr) {
    return len(arr) ? slice(arr, 1) : [];
  }

  function initial(arr) {
    return len(arr) ? slice(arr, 0, -1) : [];
  }

  function take(arr, n, guard) {
    if (!len(arr)) return [];
    n = countArg(n, guard);
    return slice(arr, 0, n < 0 ? 0 : n);
  }

  function takeRight(arr, n, guard) {
    var l = len(arr);
    if (!l) return [];
    n = l - countArg(n, guard);
    return slice(arr, n < 0 ? 0 : n, l);
  }

  function drop(arr, n, guard) {
    var l = len(arr);
    if (!l) return [];
    n = countArg(n, guard);
    return slice(arr, n < 0 ? 0 : n, l);
  }

  function dropRight(arr, n, guard) {
    var l = len(arr);
    if (!l) return [];
    n = l - countArg(n, guard);
    return slice(arr, 0, n < 0 ? 0 : n);
  }

  // (A Set compares as lodash does: SameValueZero.)
  function baseUniq(arr, f) {
    var seen = new Set();
    var out = [];
    for (var i = 0; i < arr.length; i++) {
      var v = arr[i];
      var c = f ? f(v) : v;
      if (!seen.has(c)) {
        seen.add(c);
        out.push(v);
      }
    }
    return out;
  }

  function uniq(arr) {
    return len(arr) ? baseUniq(arr) : [];
  }

  function uniqBy(arr, fn) {
    return len(arr) ? baseUniq(arr, iteratee(fn)) : [];
  }

  function flatten(arr) {
    return len(arr) ? baseFlatten(arr, 1) : [];
  }

  function flattenDeep(arr) {
    return len(arr) ? baseFlatten(arr, Infinity) : [];
  }

  function compact(arr) {
    var out = [];
    for (var i = 0; i < len(arr); i++) if (arr[i]) out.push(arr[i]);
    return out;
  }

  function concat() {
    var n = arguments.length;
    if (!n) return [];
    var head = arguments[0];
    var out = Array.isArray(head) ? head.slice() : [head];
    for (var i = 1; i < n; i++) {
      var v = arguments[i];
      if (Array.isArray(v)) for (var j = 0; j < v.length; j++) out.push(v[j]);
      else out.push(v);
    }
    return out;
  }

  function chunk(arr, n, guard) {
    n = (guard ? isIterateeCall(arr, n, guard) : n === undefined) ? 1 : Math.max(toInteger(n), 0);
    var l = len(arr);
    if (!l || n < 1) return [];
    var out = [];
    for (var i = 0; i < l; i += n) out.push(slice(arr, i, i + n));
    return out;
  }

  function baseDifference(arr, vals) {
    var drop = new Set(vals);
    var out = [];
    for (var i = 0; i < arr.length; i++) {
      if (!drop.has(arr[i])) out.push(arr[i]);
    }
    return out;
  }

  function difference(arr) {
    if (!isArrayLikeObject(arr)) return [];
    return baseDifference(arr, baseFlatten(Array.prototype.slice.call(arguments, 1), 1, isArrayLikeObject, true));
  }

  function without(arr) {
    return isArrayLikeObject(arr) ? baseDifference(arr, Array.prototype.slice.call(arguments, 1)) : [];
  }

  function intersection() {
    var arrays = Array.prototype.slice.call(arguments);
    if (!arrays.length || !isArrayLikeObject(arrays[0])) return [];
    var others = arrays.slice(1).map(function (a) { return new Set(isArrayLikeObject(a) ? Array.from(a) : []); });
    var out = [];
    var taken = new Set();
    var arr0 = arrays[0];
    for (var i = 0; i < arr0.length; i++) {
      var v = arr0[i];
      if (taken.has(v)) continue;
      if (others.every(function (o) { return o.has(v); })) {
        taken.add(v);
        out.push(v === 0 ? 0 : v);
      }
    }
    return out;
  }

  function union() {
    return baseUniq(baseFlatten(Array.prototype.slice.call(arguments), 1, isArrayLikeObject, true));
  }

  function xor() {
    var arrays = Array.prototype.slice.call(arguments).filter(isArrayLikeObject);
    var sets = arrays.map(function (a) { return new Set(Array.from(a)); });
    var out = [];
    arrays.forEach(function (a, i) {
      uniq(a).forEach(function (v) {
        var elsewhere = sets.some(function (b, j) { return j !== i && b.has(v); });
        if (!elsewhere) out.push(v);
      });
    });
    return out;
  }

  function unzip(arr) {
    if (!len(arr)) return [];
    var n = 0;
    var groups = Array.prototype.filter.call(arr, function (g) {
      if (isArrayLikeObject(g)) { n = Math.max(g.length, n); return true; }
      return false;
    });
    var out = [];
    for (var i = 0; i < n; i++) out.push(groups.map(function (g) { return g[i]; }));
    return out;
  }

  function zip() {
    return unzip(Array.prototype.slice.call(arguments));
  }

  function zipObject(props, vals) {
    var out = {};
    props = props || [];
    vals = vals || [];
    for (var i = 0; i < props.length; i++) assignValue(out, props[i], i < vals.length ? vals[i] : undefined);
    return out;
  }

  function fromPairs(pairs) {
    var out = {};
    for (var i = 0; i < len(pairs); i++) putValue(out, pairs[i][0], pairs[i][1]);
    return out;
  }

  function join(arr, sep) {
    return arr === null || arr === undefined ? '' : Array.prototype.join.call(arr, sep);
  }

  function reverse(arr) {
    return arr === null || arr === undefined ? arr : Array.prototype.reverse.call(arr);
  }

  function castArray() {
    if (!arguments.length) return [];
    var v = arguments[0];
    return Array.isArray(v) ? v : [v];
  }

  // ---- objects --------------------------------------------------------------------------------------------

  function invert(obj) {
    var out = {};
    forOwn(obj, function (v, k) {
      if (v !== null && typeof v.toString !== 'function') v = objToString.call(v);
      putValue(out, v, k);
    });
    return out;
  }

  function allKeysIn(o) {
    var ks = keysIn(o);
    var cur = o;
    while (isObject(cur)) {
      ownEnumSymbols(cur).forEach(function (s) { if (ks.indexOf(s) < 0) ks.push(s); });
      cur = Object.getPrototypeOf(cur);
    }
    return ks;
  }

  function pickBy(obj, fn) {
    if (obj === null || obj === undefined) return {};
    var f = iteratee(fn);
    var out = {};
    allKeysIn(obj).forEach(function (k) {
      var v = obj[k];
      if (f(v, k)) baseSet(out, [k], v);
    });
    return out;
  }

  function omitBy(obj, fn) {
    var f = iteratee(fn);
    return pickBy(obj, function (v, k) { return !f(v, k); });
  }

  function pick(obj) {
    if (obj === null || obj === undefined) return {};
    var paths = baseFlatten(Array.prototype.slice.call(arguments, 1), 1);
    var out = {};
    paths.forEach(function (p) {
      var v = baseGet(obj, p);
      if (hasIn(obj, p)) baseSet(out, castPath(p, obj), v);
    });
    return out;
  }

  function omit(obj) {
    var out = {};
    if (obj === null || obj === undefined) return out;
    var deep = false;
    var paths = baseFlatten(Array.prototype.slice.call(arguments, 1), 1).map(function (p) {
      p = castPath(p, obj);
      if (p.length > 1) deep = true;
      return p;
    });
    allKeysIn(obj).forEach(function (k) { assignValue(out, k, obj[k]); });
    if (deep) out = baseClone(out, true, null, true, new Map(), true);
    for (var i = paths.length - 1; i >= 0; i--) unset(out, paths[i]);
    return out;
  }

  function assigner(each) {
    return function (obj) {
      obj = Object(obj);
      var sources = Array.prototype.slice.call(arguments, 1);
      var n = sources.length;
      if (n > 2 && sources[2] && isIterateeCall(sources[0], sources[1], sources[2])) n = 1;
      for (var i = 0; i < n; i++) if (sources[i]) each(obj, sources[i]);
      return obj;
    };
  }

  var assign = assigner(function (obj, src) {
    keys(src).forEach(function (k) { assignValue(obj, k, Object(src)[k]); });
  });

  var assignIn = assigner(function (obj, src) {
    keysIn(src).forEach(function (k) { assignValue(obj, k, Object(src)[k]); });
  });

  function defaults(obj) {
    obj = Object(obj);
    var sources = Array.prototype.slice.call(arguments, 1);
    var n = sources.length;
    var guard = n > 2 ? sources[2] : undefined;
    if (guard && isIterateeCall(sources[0], sources[1], guard)) n = 1;
    for (var i = 0; i < n; i++) {
      var src = sources[i];
      keysIn(src).forEach(function (k) {
        var v = obj[k];
        if (v === undefined || (eq(v, Object.prototype[k]) && !hasOwn.call(obj, k))) putValue(obj, k, src[k]);
      });
    }
    return obj;
  }

  function assignMergeValue(obj, k, v) {
    if ((v !== undefined && !eq(obj[k], v)) || (v === undefined && !(k in obj))) putValue(obj, k, v);
  }

  function safeGet(obj, k) {
    if (k === 'constructor' && typeof obj[k] === 'function') return undefined;
    if (k === '__proto__') return undefined;
    return obj[k];
  }

  function initCloneObject(v) {
    return typeof v.constructor === 'function' && !isPrototypeObject(v) ? Object.create(Object.getPrototypeOf(v)) : {};
  }

  function baseMerge(obj, src, stack) {
    if (obj === src) return;
    keysIn(src).forEach(function (k) {
      var sv = src[k];
      if (isObject(sv)) mergeDeep(obj, src, k, stack);
      else assignMergeValue(obj, k, sv);
    });
  }

  function mergeDeep(obj, src, k, stack) {
    var ov = safeGet(obj, k);
    var sv = safeGet(src, k);
    if (stack.has(sv)) {
      assignMergeValue(obj, k, stack.get(sv));
      return;
    }
    var nv = sv;
    var recurse = true;
    if (Array.isArray(sv) || isTypedArray(sv)) {
      if (Array.isArray(ov)) nv = ov;
      else if (isArrayLikeObject(ov)) nv = Array.prototype.slice.call(ov);
      else if (isTypedArray(sv)) { recurse = false; nv = sv.slice(); }
      else nv = [];
    } else if (isPlainObject(sv) || isArguments(sv)) {
      nv = ov;
      if (isArguments(ov)) nv = assignIn({}, ov);
      else if (!isObject(ov) || typeof ov === 'function') nv = initCloneObject(sv);
    } else {
      recurse = false;
    }
    if (recurse) {
      stack.set(sv, nv);
      baseMerge(nv, sv, stack);
      stack.delete(sv);
    }
    assignMergeValue(obj, k, nv);
  }

  var merge = assigner(function (obj, src) { baseMerge(obj, src, new Map()); });

  function mapValues(obj, fn) {
    var f = iteratee(fn);
    var out = {};
    forOwn(obj, function (v, k, o) { putValue(out, k, f(v, k, o)); });
    return out;
  }

  function mapKeys(obj, fn) {
    var f = iteratee(fn);
    var out = {};
    forOwn(obj, function (v, k, o) { putValue(out, f(v, k, o), v); });
    return out;
  }

  // ---- cloning ----------------------------------------------------------------------------------------------

  var CLONEABLE = {
    '[object Arguments]': 1, '[object Array]': 1, '[object ArrayBuffer]': 1, '[object DataView]': 1,
    '[object Boolean]': 1, '[object Date]': 1, '[object Map]': 1, '[object Number]': 1, '[object Object]': 1,
    '[object RegExp]': 1, '[object Set]': 1, '[object String]': 1, '[object Symbol]': 1,
  };

  // deep: clone nested values too; hasParent: v sits inside an object being cloned (an uncloneable value is
  // then kept as it is, while at the top it becomes {}); flat: copy inherited keys (omit's deep copy).
  function baseClone(v, deep, parent, hasParent, stack, flat) {
    if (!isObject(v)) return v;
    var tag = tagOf(v);
    var isArr = Array.isArray(v);
    var out;
    if (isArr) {
      out = new Array(v.length);
      if (v.length && typeof v[0] === 'string' && hasOwn.call(v, 'index')) {
        out.index = v.index;
        out.input = v.input;
      }
      if (!deep) {
        for (var i = 0; i < v.length; i++) out[i] = v[i];
        return out;
      }
    } else {
      var isFunc = typeof v === 'function';
      if (tag === '[object Object]' || tag === '[object Arguments]' || (isFunc && !hasParent)) {
        out = flat || isFunc ? {} : initCloneObject(v);
        if (!deep) {
          var ks = flat ? allKeysIn(v) : allKeys(v);
          ks.forEach(function (k) { assignValue(out, k, v[k]); });
          return out;
        }
      } else if (isTypedArray(v)) {
        out = deep ? v.slice() : new v.constructor(v.buffer, v.byteOffset, v.length);
        return out;
      } else {
        if (!CLONEABLE[tag]) return hasParent ? v : {};
        switch (tag) {
          case '[object ArrayBuffer]': return v.slice(0);
          case '[object DataView]':
            return new DataView(deep ? v.buffer.slice(0) : v.buffer, v.byteOffset, v.byteLength);
          case '[object Boolean]':
          case '[object Date]': out = new v.constructor(+v); break;
          case '[object Number]':
          case '[object String]': out = new v.constructor(v.valueOf()); break;
          case '[object RegExp]': out = new v.constructor(v.source, /\w*$/.exec(v)[0]); out.lastIndex = v.lastIndex; break;
          case '[object Symbol]': out = Object(Symbol.prototype.valueOf.call(v)); break;
          case '[object Map]': out = new Map(); break;
          case '[object Set]': out = new Set(); break;
        }
      }
    }
    if (stack.has(v)) return stack.get(v);
    stack.set(v, out);
    if (tag === '[object Set]') {
      v.forEach(function (x) { out.add(baseClone(x, deep, v, true, stack, flat)); });
    } else if (tag === '[object Map]') {
      v.forEach(function (x, k) { out.set(k, baseClone(x, deep, v, true, stack, flat)); });
    }
    if (isArr) {
      for (var j = 0; j < v.length; j++) assignValue(out, j, baseClone(v[j], deep, v, true, stack, flat));
    } else {
      var props = flat ? allKeysIn(v) : allKeys(v);
      props.forEach(function (k) { assignValue(out, k, baseClone(v[k], deep, v, true, stack, flat)); });
    }
    return out;
  }

  function clone(v) {
    return baseClone(v, false, null, false, new Map(), false);
  }

  function cloneDeep(v) {
    return baseClone(v, true, null, false, new Map(), false);
  }

  // ---- predicates --------------------------------------------------------------------------------------------

  function isEmpty(v) {
    if (v === null || v === undefined) return true;
    if (isArrayLike(v) && (Array.isArray(v) || typeof v === 'string' || typeof v.splice === 'function' ||
        isTypedArray(v) || isArguments(v))) {
      return !v.length;
    }
    if (isMap(v) || isSet(v)) return !v.size;
    if (isPrototypeObject(v)) return !keys(v).length;
    for (var k in v) if (hasOwn.call(v, k)) return false;
    return true;
  }

  // ---- numbers ----------------------------------------------------------------------------------------------

  function range(start, end, step) {
    if (step && typeof step !== 'number' && isIterateeCall(start, end, step)) end = step = undefined;
    start = toFinite(start);
    if (end === undefined) {
      end = start;
      start = 0;
    } else {
      end = toFinite(end);
    }
    step = step === undefined ? (start < end ? 1 : -1) : toFinite(step);
    var n = Math.max(Math.ceil((end - start) / (step || 1)), 0);
    var out = new Array(n);
    for (var i = 0; i < n; i++) {
      out[i] = start;
      start += step;
    }
    return out;
  }

  function times(n, fn) {
    n = toInteger(n);
    if (n < 1 || n > MAX_SAFE) return [];
    var f = iteratee(fn);
    var m = Math.min(n, MAX_ARRAY_LENGTH);
    var out = new Array(m);
    for (var i = 0; i < m; i++) out[i] = f(i);
    for (i = m; i < n; i++) f(i);
    return out;
  }

  function baseSum(arr, f) {
    var res;
    for (var i = 0; i < arr.length; i++) {
      var c = f(arr[i]);
      if (c !== undefined) res = res === undefined ? c : res + c;
    }
    return res;
  }

  function sum(arr) {
    return len(arr) ? baseSum(arr, identity) : 0;
  }

  function sumBy(arr, fn) {
    return len(arr) ? baseSum(arr, iteratee(fn)) : 0;
  }

  function meanBy(arr, fn) {
    var n = len(arr);
    return n ? baseSum(arr, iteratee(fn)) / n : NaN;
  }

  function mean(arr) {
    return meanBy(arr, identity);
  }

  function extremum(arr, f, better) {
    var res;
    var best;
    for (var i = 0; i < arr.length; i++) {
      var v = arr[i];
      var c = f(v);
      if (c !== null && c !== undefined && (best === undefined ? c === c && !isSymbol(c) : better(c, best))) {
        best = c;
        res = v;
      }
    }
    return res;
  }

  function lt(a, b) { return a < b; }
  function gt(a, b) { return a > b; }

  function min(arr) { return len(arr) ? extremum(arr, identity, lt) : undefined; }
  function max(arr) { return len(arr) ? extremum(arr, identity, gt) : undefined; }
  function minBy(arr, fn) { return len(arr) ? extremum(arr, iteratee(fn), lt) : undefined; }
  function maxBy(arr, fn) { return len(arr) ? extremum(arr, iteratee(fn), gt) : undefined; }

  // Rounds at a decimal position by shifting the exponent in the number's text, not by multiplying.
  function rounder(fn) {
    return function (num, precision) {
      num = toNumber(num);
      precision = precision === null || precision === undefined ? 0 : Math.min(toInteger(precision), 292);
      if (precision && isFinite(num)) {
        var parts = (toStr(num) + 'e').split('e');
        var shifted = fn(+(parts[0] + 'e' + (+parts[1] + precision)));
        parts = (toStr(shifted) + 'e').split('e');
        return +(parts[0] + 'e' + (+parts[1] - precision));
      }
      return fn(num);
    };
  }

  function clamp(n, lo, hi) {
    if (hi === undefined) {
      hi = lo;
      lo = undefined;
    }
    if (hi !== undefined) {
      hi = toNumber(hi);
      hi = hi === hi ? hi : 0;
    }
    if (lo !== undefined) {
      lo = toNumber(lo);
      lo = lo === lo ? lo : 0;
    }
    return clampNumber(toNumber(n), lo, hi);
  }

  function inRange(n, start, end) {
    start = toFinite(start);
    if (end === undefined) {
      end = start;
      start = 0;
    } else {
      end = toFinite(end);
    }
    n = toNumber(n);
    return n >= Math.min(start, end) && n < Math.max(start, end);
  }

  function random(lower, upper, floating) {
    if (floating && typeof floating !== 'boolean' && isIterateeCall(lower, upper, floating)) upper = floating = undefined;
    if (floating === undefined) {
      if (typeof upper === 'boolean') {
        floating = upper;
        upper = undefined;
      } else if (typeof lower === 'boolean') {
        floating = lower;
        lower = undefined;
      }
    }
    if (lower === undefined && upper === undefined) {
      lower = 0;
      upper = 1;
    } else {
      lower = toFinite(lower);
      if (upper === undefined) {
        upper = lower;
        lower = 0;
      } else {
        upper = toFinite(upper);
      }
    }
    if (lower > upper) {
      var t = lower;
      lower = upper;
      upper = t;
    }
    var r = Math.random();
    if (floating || lower % 1 || upper % 1) {
      return Math.min(lower + r * (upper - lower + parseFloat('1e-' + ((r + '').length - 1))), upper);
    }
    return lower + Math.floor(r * (upper - lower + 1));
  }

  // ---- strings --------------------------------------------------------------------------------------------

  // Latin-1 Supplement (U+00C0..U+00FF) and Latin Extended-A (U+0100..U+017F) letters to basic Latin.
  var DEBURR = {};
  (function () {
    var latin1 = 'A A A A A A Ae C E E E E I I I I D N O O O O O - O U U U U Y Th ss ' +
      'a a a a a a ae c e e e e i i i i d n o o o o o - o u u u u y th y';
    latin1.split(' ').forEach(function (s, i) { if (s !== '-') DEBURR[String.fromCharCode(0xc0 + i)] = s; });
    var extA = 'A a A a A a C c C c C c C c D d D d E e E e E e E e E e G g G g G g G g H h H h I i I i I i I i ' +
      'I i IJ ij J j K k k L l L l L l L l L l N n N n N n \'n N n O o O o O o Oe oe R r R r R r S s S s S s S s ' +
      'T t T t T t U u U u U u U u U u U u W w Y y Y Z z Z z Z z s';
    extA.split(' ').forEach(function (s, i) { DEBURR[String.fromCharCode(0x100 + i)] = s; });
  })();

  function deburr(s) {
    s = toStr(s);
    return s.replace(/[\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u017f]/g, function (c) { return DEBURR[c]; })
      .replace(/[\u0300-\u036f\ufe20-\ufe2f\u20d0-\u20ff]/g, '');
  }

  // Character classes for words(), by lodash's ranges: U upper and L lower case (Latin-1 only), D digit,
  // S a separator (ASCII punctuation and controls, U+0080..U+00BF, the Latin-1 math signs, U+2000..U+206F and
  // the other Unicode spaces), E an emoji (a dingbat or any character outside the BMP), M any other character
  // (lodash's "misc" letters: Greek, Cyrillic, CJK, arrows, ...).
  function charClass(c) {
    if (c === undefined) return 'S';
    var cp = c.codePointAt(0);
    if ((cp >= 65 && cp <= 90) || (cp >= 0xc0 && cp <= 0xde && cp !== 0xd7)) return 'U';
    if ((cp >= 97 && cp <= 122) || (cp >= 0xdf && cp <= 0xff && cp !== 0xf7)) return 'L';
    if (cp >= 48 && cp <= 57) return 'D';
    if (cp <= 0xbf || cp === 0xd7 || cp === 0xf7 || (cp >= 0x2000 && cp <= 0x206f) ||
        cp === 0x1680 || cp === 0x180e || cp === 0x3000 || cp === 0xfeff) {
      return 'S';
    }
    if (cp > 0xffff || (cp >= 0x2700 && cp <= 0x27bf)) return 'E';
    return 'M';
  }

  // An emoji word: the character, then optional variation selector and modifier, then any zero-width-joined
  // characters (each with its own selector/modifier); two regional indicators make one flag.
  function emojiLength(cs, i) {
    var n = cs.length;
    var cp = cs[i].codePointAt(0);
    var j = i + 1;
    var regional = function (x) { return x >= 0x1f1e6 && x <= 0x1f1ff; };
    if (regional(cp) && j < n && regional(cs[j].codePointAt(0))) j++;
    function decorations() {
      if (j < n && (cs[j] === '\ufe0e' || cs[j] === '\ufe0f')) j++;
      if (j < n) {
        var x = cs[j].codePointAt(0);
        if ((x >= 0x1f3fb && x <= 0x1f3ff) || (x >= 0x300 && x <= 0x36f) || (x >= 0xfe20 && x <= 0xfe2f) ||
            (x >= 0x20d0 && x <= 0x20ff)) {
          j++;
        }
      }
    }
    decorations();
    while (j + 1 < n && cs[j] === '\u200d') {
      j += 2;
      decorations();
    }
    return j - i;
  }

  function words(s, pattern, guard) {
    s = toStr(s);
    if (guard) pattern = undefined;
    if (pattern !== undefined) return s.match(pattern) || [];
    var cs = chars(s);
    var cls = cs.map(charClass);
    var out = [];
    var i = 0;
    var n = cs.length;
    function run(at, set) {
      var j = at;
      while (j < n && set.indexOf(cls[j]) >= 0) j++;
      return j - at;
    }
    function text(a, b) { return cs.slice(a, b).join(''); }
    function ordinal(at, upper) {
      var m = (upper ? /^\d*(?:1ST|2ND|3RD|(?![123])\dTH)(?=\b|[a-z_])/ : /^\d*(?:1st|2nd|3rd|(?![123])\dth)(?=\b|[A-Z_])/)
        .exec(text(at, at + run(at, 'D') + 3)); // the digits, two letters and the character after them
      return m ? chars(m[0]).length : 0;
    }
    while (i < n) {
      var c = cls[i];
      if (c === 'S') { i++; continue; }
      if (c === 'E') {
        m = emojiLength(cs, i);
        out.push(text(i, i + m));
        i += m;
        continue;
      }
      var up = c === 'U' ? 1 : 0;
      var lows = run(i + up, 'L');
      var m;
      // 1. an optional capital and lower-case letters, not followed by a lower-case-or-misc letter
      if (lows && cls[i + up + lows] !== 'M') {
        m = up + lows;
      } else {
        m = 0;
        // 2. capitals/misc letters followed by a separator, a capital and lower/misc letter, or the end
        var um = run(i, 'UM');
        for (var k = um; k >= 1 && !m; k--) {
          var nx = cls[i + k];
          if (i + k >= n || nx === 'S' || (nx === 'U' && (cls[i + k + 1] === 'L' || cls[i + k + 1] === 'M'))) m = k;
        }
        // 3. an optional capital and lower-case/misc letters
        if (!m) m = (lows || cls[i + up] === 'M') ? up + run(i + up, 'LM') : 0;
        // 4. capitals
        if (!m) m = run(i, 'U');
        // 5./6. ordinals, 7. digits
        if (!m && c === 'D') m = ordinal(i, true) || ordinal(i, false) || run(i, 'D');
        if (!m) { i++; continue; }
      }
      out.push(text(i, i + m));
      i += m;
    }
    return out;
  }

  function upperFirst(s) {
    s = toStr(s);
    var cs = chars(s);
    return cs.length ? cs[0].toUpperCase() + cs.slice(1).join('') : '';
  }

  function lowerFirst(s) {
    s = toStr(s);
    var cs = chars(s);
    return cs.length ? cs[0].toLowerCase() + cs.slice(1).join('') : '';
  }

  function capitalize(s) {
    return upperFirst(toStr(s).toLowerCase());
  }

  function compounder(fn) {
    return function (s) {
      return words(deburr(s).replace(/['\u2019]/g, '')).reduce(function (acc, w, i) { return fn(acc, w, i); }, '');
    };
  }

  var camelCase = compounder(function (acc, w, i) { w = w.toLowerCase(); return acc + (i ? capitalize(w) : w); });
  var kebabCase = compounder(function (acc, w, i) { return acc + (i ? '-' : '') + w.toLowerCase(); });
  var snakeCase = compounder(function (acc, w, i) { return acc + (i ? '_' : '') + w.toLowerCase(); });
  var lowerCase = compounder(function (acc, w, i) { return acc + (i ? ' ' : '') + w.toLowerCase(); });
  var upperCase = compounder(function (acc, w, i) { return acc + (i ? ' ' : '') + w.toUpperCase(); });
  var startCase = compounder(function (acc, w, i) { return acc + (i ? ' ' : '') + upperFirst(w); });

  function startsWith(s, target, pos) {
    s = toStr(s);
    pos = pos === null || pos === undefined ? 0 : clampNumber(toInteger(pos), 0, s.length);
    target = baseToString(target);
    return s.slice(pos, pos + target.length) === target;
  }

  function endsWith(s, target, pos) {
    s = toStr(s);
    target = baseToString(target);
    var n = s.length;
    pos = pos === undefined ? n : clampNumber(toInteger(pos), 0, n);
    var end = pos;
    pos -= target.length;
    return pos >= 0 && s.slice(pos, end) === target;
  }

  function trimmer(atStart, atEnd, builtin) {
    return function (s, set, guard) {
      s = toStr(s);
      if (s && (guard || set === undefined)) return builtin.call(s);
      if (!s || !(set = baseToString(set))) return s;
      var cs = chars(s);
      var drop = chars(set);
      var a = 0;
      var b = cs.length;
      if (atStart) while (a < b && drop.indexOf(cs[a]) >= 0) a++;
      if (atEnd) while (b > a && drop.indexOf(cs[b - 1]) >= 0) b--;
      return cs.slice(a, b).join('');
    };
  }

  var trim = trimmer(true, true, String.prototype.trim);
  var trimStart = trimmer(true, false, String.prototype.trimStart);
  var trimEnd = trimmer(false, true, String.prototype.trimEnd);

  function padding(n, fill) {
    fill = fill === undefined ? ' ' : baseToString(fill);
    if (!fill) return '';
    var fc = chars(fill);
    var out = [];
    while (out.length < n) out.push(fc[out.length % fc.length]);
    return out.join('');
  }

  function padStart(s, length, fill) {
    s = toStr(s);
    length = toInteger(length);
    var n = length ? chars(s).length : 0;
    return length && n < length ? padding(length - n, fill) + s : s;
  }

  function padEnd(s, length, fill) {
    s = toStr(s);
    length = toInteger(length);
    var n = length ? chars(s).length : 0;
    return length && n < length ? s + padding(length - n, fill) : s;
  }

  function pad(s, length, fill) {
    s = toStr(s);
    length = toInteger(length);
    var n = length ? chars(s).length : 0;
    if (!length || n >= length) return s;
    var mid = (length - n) / 2;
    return padding(Math.floor(mid), fill) + s + padding(Math.ceil(mid), fill);
  }

  function repeat(s, n, guard) {
    n = (guard ? isIterateeCall(s, n, guard) : n === undefined) ? 1 : toInteger(n);
    s = toStr(s);
    if (!s || n < 1 || n > MAX_SAFE) return '';
    return s.repeat(n);
  }

  var HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  var HTML_UNESCAPES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

  function escape(s) {
    return toStr(s).replace(/[&<>"']/g, function (c) { return HTML_ESCAPES[c]; });
  }

  function unescape(s) {
    return toStr(s).replace(/&(?:amp|lt|gt|quot|#39);/g, function (c) { return HTML_UNESCAPES[c]; });
  }

  function escapeRegExp(s) {
    return toStr(s).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }

  function split(s, sep, limit) {
    if (limit && typeof limit !== 'number' && isIterateeCall(s, sep, limit)) sep = limit = undefined;
    limit = limit === undefined ? MAX_ARRAY_LENGTH : limit >>> 0;
    if (!limit) return [];
    s = toStr(s);
    if (s && (typeof sep === 'string' || (sep !== null && sep !== undefined && !(sep instanceof RegExp)))) {
      sep = baseToString(sep);
      if (!sep) return chars(s).slice(0, limit);
    }
    return s.split(sep, limit);
  }

  function replace() {
    var s = toStr(arguments[0]);
    return arguments.length < 3 ? s : s.replace(arguments[1], arguments[2]);
  }

  // ---- functions/util -----------------------------------------------------------------------------------------

  function noop() {}

  function constant(v) {
    return function () { return v; };
  }

  function negate(fn) {
    if (typeof fn !== 'function') throw new TypeError('Expected a function');
    return function () { return !fn.apply(this, arguments); };
  }

  function uniqueId(prefix) {
    idCounter += 1;
    return toStr(prefix) + idCounter;
  }

  function defaultTo(v, d) {
    return v === null || v === undefined || v !== v ? d : v;
  }

  function tap(v, fn) {
    fn(v);
    return v;
  }

  function thru(v, fn) {
    return fn(v);
  }

  // ---- the `_` function and chaining ------------------------------------------------------------------------

  // Functions that end an implicit chain (`_(x).sum()` is a number, `_(x).map(f)` is still wrapped).
  var ENDS_CHAIN = ('camelCase capitalize ceil clamp clone cloneDeep deburr defaultTo endsWith escape escapeRegExp ' +
    'every find findIndex findKey findLast findLastIndex first floor forEach forOwn each get has hasIn head ' +
    'identity includes indexOf inRange isArguments isArray isArrayLike isBoolean isDate isEmpty isEqual ' +
    'isError isFinite isFunction isInteger isMap isMatch isNaN isNil isNull isNumber isObject isObjectLike ' +
    'isPlainObject isRegExp isSet isString isUndefined join kebabCase last lowerCase lowerFirst max maxBy mean ' +
    'meanBy min minBy noop now nth pad padEnd padStart random reduce repeat replace round sample size snakeCase ' +
    'some startCase startsWith sum sumBy times toFinite toInteger toLower toNumber toString toUpper trim trimEnd ' +
    'trimStart uniqueId upperCase upperFirst unescape').split(' ');

  function Wrapper(value, explicit) {
    this.__value = value;
    this.__chain = explicit;
  }

  function lodash(value) {
    if (value instanceof Wrapper) return value;
    return new Wrapper(value, false);
  }

  function chain(value) {
    return new Wrapper(value instanceof Wrapper ? value.__value : value, true);
  }

  var API = {
    each: forEach, forEach: forEach, forOwn: forOwn, map: map, flatMap: flatMap, filter: filter, reject: reject,
    partition: partition, find: find, findLast: findLast, findIndex: findIndex, findLastIndex: findLastIndex,
    findKey: findKey, some: some, every: every, reduce: reduce, includes: includes, size: size, sortBy: sortBy,
    orderBy: orderBy, groupBy: groupBy, countBy: countBy, keyBy: keyBy, shuffle: shuffle, sample: sample,
    sampleSize: sampleSize, toArray: toArray,
    first: first, head: first, last: last, nth: nth, tail: tail, initial: initial, take: take, takeRight: takeRight,
    drop: drop, dropRight: dropRight, uniq: uniq, uniqBy: uniqBy, flatten: flatten, flattenDeep: flattenDeep,
    compact: compact, concat: concat, chunk: chunk, difference: difference, intersection: intersection,
    union: union, without: without, xor: xor, zip: zip, unzip: unzip, zipObject: zipObject, fromPairs: fromPairs,
    indexOf: indexOf, join: join, reverse: reverse, castArray: castArray,
    get: get, set: baseSet, unset: unset, has: has, hasIn: hasIn, keys: keys, keysIn: keysIn, values: values,
    entries: toPairs, toPairs: toPairs, invert: invert, pick: pick, pickBy: pickBy, omit: omit, omitBy: omitBy,
    clone: clone, cloneDeep: cloneDeep, merge: merge, assign: assign, extend: assignIn, assignIn: assignIn,
    defaults: defaults, mapValues: mapValues, mapKeys: mapKeys, isMatch: isMatch,
    isEqual: isEqual, isEmpty: isEmpty, isArray: Array.isArray, isArrayLike: isArrayLike, isObject: isObject,
    isObjectLike: isObjectLike, isPlainObject: isPlainObject, isString: isString, isNumber: isNumber,
    isInteger: function (v) { return typeof v === 'number' && v === toInteger(v); },
    isFinite: function (v) { return typeof v === 'number' && isFinite(v); },
    isNaN: function (v) { return isNumber(v) && +v !== +v; },
    isBoolean: isBoolean, isNull: function (v) { return v === null; },
    isUndefined: function (v) { return v === undefined; },
    isNil: function (v) { return v === null || v === undefined; },
    isFunction: function (v) { return typeof v === 'function'; },
    isDate: function (v) { return isObjectLike(v) && tagOf(v) === '[object Date]'; },
    isRegExp: function (v) { return isObjectLike(v) && tagOf(v) === '[object RegExp]'; },
    isError: function (v) {
      if (!isObjectLike(v)) return false;
      var t = tagOf(v);
      return t === '[object Error]' || t === '[object DOMException]' ||
        (typeof v.message === 'string' && typeof v.name === 'string' && !isPlainObject(v));
    },
    isArguments: isArguments, isMap: isMap, isSet: isSet,
    range: range, times: times, sum: sum, sumBy: sumBy, mean: mean, meanBy: meanBy, min: min, max: max,
    minBy: minBy, maxBy: maxBy, round: rounder(Math.round), floor: rounder(Math.floor), ceil: rounder(Math.ceil),
    clamp: clamp, inRange: inRange, random: random, toNumber: toNumber, toInteger: toInteger, toFinite: toFinite,
    toString: toStr, now: function () { return Date.now(); },
    startsWith: startsWith, endsWith: endsWith, trim: trim, trimStart: trimStart, trimEnd: trimEnd, pad: pad,
    padStart: padStart, padEnd: padEnd, repeat: repeat, camelCase: camelCase, kebabCase: kebabCase,
    snakeCase: snakeCase, startCase: startCase, lowerCase: lowerCase, upperCase: upperCase, capitalize: capitalize,
    upperFirst: upperFirst, lowerFirst: lowerFirst,
    toUpper: function (s) { return toStr(s).toUpperCase(); },
    toLower: function (s) { return toStr(s).toLowerCase(); },
    words: words, deburr: deburr, escape: escape, unescape: unescape, escapeRegExp: escapeRegExp, split: split,
    replace: replace,
    identity: identity, noop: noop, constant: constant, negate: negate, iteratee: iteratee, property: property,
    matches: matches, matchesProperty: matchesProperty, uniqueId: uniqueId, defaultTo: defaultTo, tap: tap,
    thru: thru, chain: chain,
  };

  var CHAIN_SKIP = { chain: 1 };
  Object.keys(API).forEach(function (name) {
    Object.defineProperty(lodash, name, { value: API[name], enumerable: true, writable: true, configurable: true });
    if (CHAIN_SKIP[name]) return;
    var fn = API[name];
    var ends = ENDS_CHAIN.indexOf(name) >= 0;
    Object.defineProperty(Wrapper.prototype, name, {
      value: function () {
        var args = [this.__value];
        for (var i = 0; i < arguments.length; i++) args.push(arguments[i]);
        var out = fn.apply(undefined, args);
        return this.__chain || !ends ? new Wrapper(out, this.__chain) : out;
      },
      writable: true,
      configurable: true,
    });
  });
  Object.defineProperty(lodash, 'VERSION', { value: '4.17.21', enumerable: true });
  Wrapper.prototype.value = function () { return this.__value; };
  Wrapper.prototype.valueOf = Wrapper.prototype.value;
  Wrapper.prototype.toJSON = Wrapper.prototype.value;
  Wrapper.prototype.toString = function () { return toStr(this.__value); };
  Wrapper.prototype.chain = function () { return new Wrapper(this.__value, true); };
  Wrapper.prototype.commit = function () { return new Wrapper(this.__value, this.__chain); };
  lodash.prototype = Wrapper.prototype;

  G.__exile_lodash = lodash;
  G.__exile_lodash_reset = function () { idCounter = 0; };
})(globalThis);
