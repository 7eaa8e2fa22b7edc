// Exile script runtime: a chai-style BDD `expect` (the subset Postman scripts use).
// Defines the globals `AssertionError`, `__exile_expect(value, message?)` and `__exile_inspect(value)`.
// Written for Exile; messages follow chai's wording so Postman users recognise them.
// Everything here is frozen by lockdown.js afterwards, so this file never assigns a property that a
// frozen prototype already has (no `err.name = ...`, no `obj.toString = ...` on instances).
(function (G) {
  'use strict';

  var TRUNCATE = 40;
  var hasOwn = Object.prototype.hasOwnProperty;
  var objToString = Object.prototype.toString;

  class AssertionError extends Error {
    constructor(message, actual, expected) {
      super(message);
      Object.defineProperty(this, 'actual', { value: actual, writable: true, configurable: true });
      Object.defineProperty(this, 'expected', { value: expected, writable: true, configurable: true });
    }
  }
  Object.defineProperty(AssertionError.prototype, 'name', {
    value: 'AssertionError', writable: true, configurable: true,
  });

  // ---- chai-like value formatting ----------------------------------------------------------

  function quote(s) {
    return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
  }

  function keyText(k) {
    return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
  }

  function inspectValue(v, depth, seen) {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'undefined': return 'undefined';
      case 'string': return quote(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'boolean': return String(v);
      case 'bigint': return String(v) + 'n';
      case 'symbol': return v.toString();
      case 'function': return v.name ? '[Function ' + v.name + ']' : '[Function]';
    }
    if (seen.indexOf(v) !== -1) return '[Circular]';
    var tag = objToString.call(v);
    if (tag === '[object Date]') return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (tag === '[object RegExp]') return String(v);
    if (v instanceof Error) return v.name + ': ' + v.message;
    if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.push(v);
    var parts = [];
    var out;
    if (Array.isArray(v)) {
      for (var i = 0; i < v.length && i < 50; i++) parts.push(inspectValue(v[i], depth + 1, seen));
      if (v.length > 50) parts.push('… ' + (v.length - 50) + ' more');
      out = parts.length ? '[ ' + parts.join(', ') + ' ]' : '[]';
    } else if (tag === '[object Map]' || tag === '[object Set]') {
      v.forEach(function (val, key) {
        parts.push(tag === '[object Map]'
          ? inspectValue(key, depth + 1, seen) + ' => ' + inspectValue(val, depth + 1, seen)
          : inspectValue(val, depth + 1, seen));
      });
      out = (tag === '[object Map]' ? 'Map' : 'Set') + '{ ' + parts.join(', ') + ' }';
    } else {
      var keys = Object.keys(v);
      for (var j = 0; j < keys.length && j < 50; j++) {
        parts.push(keyText(keys[j]) + ': ' + inspectValue(v[keys[j]], depth + 1, seen));
      }
      if (keys.length > 50) parts.push('… ' + (keys.length - 50) + ' more');
      out = parts.length ? '{ ' + parts.join(', ') + ' }' : '{}';
    }
    seen.pop();
    return out;
  }

  function inspect(v) {
    try {
      return inspectValue(v, 0, []);
    } catch (e) {
      return '[uninspectable]';
    }
  }

  // chai's objDisplay: long objects, arrays and functions are summarised, long strings cut.
  function display(v) {
    var s = inspect(v);
    if (s.length < TRUNCATE) return s;
    if (typeof v === 'function') return v.name ? '[Function: ' + v.name + ']' : '[Function]';
    if (Array.isArray(v)) return '[ Array(' + v.length + ') ]';
    if (typeof v === 'string') {
      return v.length > 200 ? quote(v.slice(0, 200)) + '…' : s;
    }
    if (v !== null && typeof v === 'object' && objToString.call(v) === '[object Object]') {
      var keys = Object.keys(v);
      var ks = keys.length > 2 ? keys.slice(0, 2).join(', ') + ', ...' : keys.join(', ');
      return '{ Object (' + ks + ') }';
    }
    return s;
  }

  // ---- type and deep equality --------------------------------------------------------------

  function typeOf(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    var t = typeof v;
    if (t !== 'object') return t;
    return objToString.call(v).slice(8, -1).toLowerCase();
  }

  function deepEqual(a, b, memo) {
    if (a === b) return a !== 0 || 1 / a === 1 / b;
    if (a !== a && b !== b) return true; // NaN
    if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
    var ta = objToString.call(a);
    if (ta !== objToString.call(b)) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b) &&
        !(isPlain(a) && isPlain(b))) return false;
    if (ta === '[object Date]') return a.getTime() === b.getTime() || (a.getTime() !== a.getTime() && b.getTime() !== b.getTime());
    if (ta === '[object RegExp]' || ta === '[object String]' || ta === '[object Number]' || ta === '[object Boolean]') {
      return String(a) === String(b);
    }
    memo = memo || [];
    for (var m = 0; m < memo.length; m++) {
      if (memo[m][0] === a && memo[m][1] === b) return true;
    }
    memo.push([a, b]);
    var i;
    if (Array.isArray(a)) {
      if (a.length !== b.length) return false;
      for (i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i], memo)) return false;
      return true;
    }
    if (ta === '[object Map]' || ta === '[object Set]') {
      if (a.size !== b.size) return false;
      var ea = Array.from(a.entries()), eb = Array.from(b.entries());
      return ea.every(function (x) {
        return eb.some(function (y) { return deepEqual(x, y, memo); });
      });
    }
    var ka = enumKeys(a), kb = enumKeys(b);
    if (ka.length !== kb.length) return false;
    ka.sort(); kb.sort();
    for (i = 0; i < ka.length; i++) {
      if (ka[i] !== kb[i]) return false;
      if (!deepEqual(a[ka[i]], b[ka[i]], memo)) return false;
    }
    return true;
  }

  function isPlain(o) {
    var p = Object.getPrototypeOf(o);
    return p === null || p === Object.prototype;
  }

  function enumKeys(o) {
    var out = [];
    for (var k in o) out.push(k);
    return out;
  }

  function hasProperty(obj, name) {
    if (obj === null || obj === undefined) return false;
    if (typeof obj === 'object' || typeof obj === 'function') return name in obj;
    return name in Object(obj);
  }

  // 'a.b[0].c' -> ['a', 'b', '0', 'c']; '\.' escapes a dot as chai does.
  function parsePath(path) {
    var parts = [];
    String(path).replace(/\\([.\[\]])|([^.\[\]]+)|\[(\d+)\]/g, function (m, esc, name, idx) {
      if (esc) {
        if (parts.length) parts[parts.length - 1] += esc; else parts.push(esc);
      } else parts.push(idx !== undefined ? idx : name);
      return m;
    });
    return parts;
  }

  function nestedLookup(obj, path) {
    var parts = parsePath(path);
    var cur = obj;
    for (var i = 0; i < parts.length; i++) {
      if (cur === null || cur === undefined || !hasProperty(cur, parts[i])) return { exists: false };
      cur = cur[parts[i]];
    }
    return { exists: true, value: cur };
  }

  // ---- the Assertion -------------------------------------------------------------------------

  function Assertion(obj, message) {
    Object.defineProperty(this, '__flags', {
      value: { object: obj, message: message, negate: false },
      writable: true,
      configurable: true,
    });
  }

  var P = Assertion.prototype;

  function flags(a) {
    return a.__flags;
  }

  // Throws when `ok` disagrees with the negation flag.
  function check(a, ok, msg, negMsg, expected, actual, showActual) {
    var f = flags(a);
    var pass = f.negate ? !ok : !!ok;
    if (pass) return;
    var text = (f.negate ? negMsg : msg);
    text = text.replace(/#\{this\}/g, function () { return display(f.object); })
      .replace(/#\{exp\}/g, function () { return display(expected); })
      .replace(/#\{act\}/g, function () { return display(showActual ? actual : f.object); });
    if (f.message) text = f.message + ': ' + text;
    throw new AssertionError(text, showActual ? actual : f.object, expected);
  }

  function fail(a, text) {
    var f = flags(a);
    throw new AssertionError(f.message ? f.message + ': ' + text : text, f.object, undefined);
  }

  function chainGetter(name) {
    Object.defineProperty(P, name, {
      get: function () { return this; },
      configurable: true,
    });
  }

  ['to', 'be', 'been', 'is', 'that', 'which', 'and', 'has', 'have', 'with', 'at', 'of', 'same',
    'does', 'still', 'also', 'but', 'itself'].forEach(chainGetter);

  function flagGetter(name, set) {
    Object.defineProperty(P, name, {
      get: function () { set(flags(this)); return this; },
      configurable: true,
    });
  }

  flagGetter('not', function (f) { f.negate = !f.negate; });
  flagGetter('deep', function (f) { f.deep = true; });
  flagGetter('own', function (f) { f.own = true; });
  flagGetter('nested', function (f) { f.nested = true; });
  flagGetter('any', function (f) { f.any = true; f.all = false; });
  flagGetter('all', function (f) { f.all = true; f.any = false; });
  flagGetter('ordered', function (f) { f.ordered = true; });

  function propAssert(name, fn) {
    Object.defineProperty(P, name, {
      get: function () { fn(this, flags(this).object); return this; },
      configurable: true,
    });
  }

  function method(names, fn) {
    names.forEach(function (n) {
      Object.defineProperty(P, n, { value: fn, writable: true, configurable: true });
    });
  }

  // A chainable method is both callable (`.include('x')`) and a chain (`.include.members([...])`):
  // the getter returns a function whose prototype is this assertion, so later links find the flags.
  function chainable(names, call, chain) {
    names.forEach(function (n) {
      Object.defineProperty(P, n, {
        get: function () {
          var self = this;
          if (chain) chain(flags(self));
          var fn = function () { return call.apply(self, arguments); };
          delete fn.length;
          delete fn.name;
          Object.setPrototypeOf(fn, self);
          return fn;
        },
        configurable: true,
      });
    });
  }

  propAssert('ok', function (a, v) {
    check(a, v, 'expected #{this} to be truthy', 'expected #{this} to be falsy');
  });
  propAssert('true', function (a, v) {
    check(a, v === true, 'expected #{this} to be true', 'expected #{this} to be false');
  });
  propAssert('false', function (a, v) {
    check(a, v === false, 'expected #{this} to be false', 'expected #{this} to be true');
  });
  propAssert('null', function (a, v) {
    check(a, v === null, 'expected #{this} to be null', 'expected #{this} not to be null');
  });
  propAssert('undefined', function (a, v) {
    check(a, v === undefined, 'expected #{this} to be undefined', 'expected #{this} not to be undefined');
  });
  propAssert('NaN', function (a, v) {
    check(a, typeof v === 'number' && v !== v, 'expected #{this} to be NaN', 'expected #{this} not to be NaN');
  });
  propAssert('finite', function (a, v) {
    check(a, typeof v === 'number' && isFinite(v), 'expected #{this} to be a finite number',
      'expected #{this} to not be a finite number');
  });
  ['exist', 'exists'].forEach(function (n) {
    propAssert(n, function (a, v) {
      check(a, v !== null && v !== undefined, 'expected #{this} to exist', 'expected #{this} to not exist');
    });
  });
  propAssert('empty', function (a, v) {
    var size;
    var t = typeOf(v);
    if (t === 'string' || t === 'array') size = v.length;
    else if (t === 'map' || t === 'set') size = v.size;
    else if (v !== null && typeof v === 'object') size = Object.keys(v).length;
    else fail(a, '.empty was passed non-string primitive ' + display(v));
    check(a, size === 0, 'expected #{this} to be empty', 'expected #{this} not to be empty');
  });

  function article(t) {
    return /^[aeiou]/i.test(t) ? 'an ' : 'a ';
  }

  chainable(['a', 'an'], function (type, msg) {
    if (msg) flags(this).message = msg;
    var want = String(type).toLowerCase();
    check(this, typeOf(flags(this).object) === want,
      'expected #{this} to be ' + article(want) + want,
      'expected #{this} not to be ' + article(want) + want);
    return this;
  });

  function assertEqual(val, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    if (f.deep) {
      check(this, deepEqual(f.object, val), 'expected #{this} to deeply equal #{exp}',
        'expected #{this} to not deeply equal #{exp}', val);
    } else {
      check(this, f.object === val, 'expected #{this} to equal #{exp}',
        'expected #{this} to not equal #{exp}', val);
    }
    return this;
  }
  method(['equal', 'equals', 'eq'], assertEqual);

  method(['eql', 'eqls'], function (val, msg) {
    if (msg) flags(this).message = msg;
    check(this, deepEqual(flags(this).object, val), 'expected #{this} to deeply equal #{exp}',
      'expected #{this} to not deeply equal #{exp}', val);
    return this;
  });

  function includeImpl(val, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var obj = f.object;
    var t = typeOf(obj);
    var deepWord = f.deep ? 'deep ' : '';
    var found;
    switch (t) {
      case 'string':
        found = obj.indexOf(val) !== -1;
        break;
      case 'array':
        found = f.deep
          ? obj.some(function (x) { return deepEqual(x, val); })
          : obj.indexOf(val) !== -1 || (val !== val && obj.some(function (x) { return x !== x; }));
        break;
      case 'set':
        found = f.deep
          ? Array.from(obj).some(function (x) { return deepEqual(x, val); })
          : obj.has(val);
        break;
      case 'map':
        found = Array.from(obj.values()).some(function (x) {
          return f.deep ? deepEqual(x, val) : x === val;
        });
        break;
      default:
        if (obj === null || typeof obj !== 'object' || val === null || typeof val !== 'object') {
          fail(this, 'object tested must be an array, a map, an object, a set, a string, or a weakset, but ' +
            t + ' given');
        }
        var props = Object.keys(val);
        var firstBad = null;
        var allOk = true;
        props.forEach(function (k) {
          var has = f.own ? hasOwn.call(obj, k) : hasProperty(obj, k);
          var same = has && (f.deep ? deepEqual(obj[k], val[k]) : obj[k] === val[k]);
          if (!same) {
            allOk = false;
            if (!firstBad) firstBad = { key: k, has: has };
          }
        });
        if (!f.negate && !allOk) {
          var k = firstBad.key;
          if (!firstBad.has) {
            fail(this, 'expected ' + display(obj) + ' to have ' + deepWord + 'property ' + quote(k));
          }
          fail(this, 'expected ' + display(obj) + ' to have ' + deepWord + 'property ' + quote(k) + ' of ' +
            display(val[k]) + ', but got ' + display(obj[k]));
        }
        check(this, allOk, 'expected #{this} to ' + deepWord + 'include #{exp}',
          'expected #{this} to not ' + deepWord + 'include #{exp}', val);
        return this;
    }
    check(this, found, 'expected #{this} to ' + deepWord + 'include #{exp}',
      'expected #{this} to not ' + deepWord + 'include #{exp}', val);
    return this;
  }
  chainable(['include', 'includes', 'contain', 'contains'], includeImpl, function (f) { f.contains = true; });

  method(['members'], function (list, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var obj = f.object;
    if (!Array.isArray(obj)) fail(this, 'expected ' + display(obj) + ' to be an array');
    if (!Array.isArray(list)) fail(this, 'expected ' + display(list) + ' to be an array');
    var cmp = f.deep ? deepEqual : function (x, y) { return x === y || (x !== x && y !== y); };
    var ok;
    if (f.ordered) {
      ok = (f.contains || list.length === obj.length) && list.every(function (x, i) { return cmp(x, obj[i]); });
    } else if (f.contains) {
      ok = list.every(function (x) { return obj.some(function (y) { return cmp(x, y); }); });
    } else {
      ok = list.length === obj.length &&
        list.every(function (x) { return obj.some(function (y) { return cmp(x, y); }); }) &&
        obj.every(function (x) { return list.some(function (y) { return cmp(x, y); }); });
    }
    var what = f.contains ? 'be a superset of' : 'have the same ' + (f.ordered ? 'ordered ' : '') + 'members as';
    var dw = f.deep ? ' deep' : '';
    check(this, ok, 'expected #{this} to ' + what.replace('same', 'same' + dw) + ' #{exp}',
      'expected #{this} to not ' + what.replace('same', 'same' + dw) + ' #{exp}', list);
    return this;
  });

  function propertyImpl(name, val) {
    var f = flags(this);
    var hasVal = arguments.length > 1;
    var obj = f.object;
    var descr = (f.deep ? 'deep ' : '') + (f.own ? 'own ' : '') + (f.nested ? 'nested ' : '');
    if (f.nested && f.own) fail(this, 'The "nested" and "own" flags cannot be combined.');
    if (obj === null || obj === undefined) {
      fail(this, 'Target cannot be null or undefined.');
    }
    var exists, value;
    if (f.nested) {
      var r = nestedLookup(obj, name);
      exists = r.exists; value = r.value;
    } else {
      exists = f.own ? hasOwn.call(Object(obj), name) : hasProperty(obj, name);
      value = exists ? obj[name] : undefined;
    }
    if (!f.negate || !hasVal) {
      check(this, exists, 'expected #{this} to have ' + descr + 'property ' + display(name),
        'expected #{this} to not have ' + descr + 'property ' + display(name));
    }
    if (hasVal) {
      var same = exists && (f.deep ? deepEqual(value, val) : value === val || (value !== value && val !== val));
      check(this, same,
        'expected #{this} to have ' + descr + 'property ' + display(name) + ' of #{exp}, but got #{act}',
        'expected #{this} to not have ' + descr + 'property ' + display(name) + ' of #{act}', val, value, true);
    }
    f.object = value;
    return this;
  }
  method(['property'], propertyImpl);
  method(['ownProperty', 'haveOwnProperty'], function () {
    flags(this).own = true;
    return propertyImpl.apply(this, arguments);
  });
  method(['nestedProperty'], function () {
    flags(this).nested = true;
    return propertyImpl.apply(this, arguments);
  });

  function sizeOf(a, obj) {
    var t = typeOf(obj);
    if (t === 'map' || t === 'set') return obj.size;
    if (obj === null || obj === undefined || obj.length === undefined) {
      fail(a, 'expected ' + display(obj) + ' to have property \'length\'');
    }
    return obj.length;
  }

  chainable(['length', 'lengthOf'], function (n, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var len = sizeOf(this, f.object);
    check(this, len === n, 'expected #{this} to have a length of #{exp} but got #{act}',
      'expected #{this} to not have a length of #{act}', n, len, true);
    return this;
  }, function (f) { f.doLength = true; });

  function compare(names, op, word, negWord) {
    method(names, function (n, msg) {
      var f = flags(this);
      if (msg) f.message = msg;
      var obj = f.object;
      if (f.doLength) {
        var len = sizeOf(this, obj);
        check(this, op(len, n), 'expected #{this} to have a length ' + word + ' #{exp} but got #{act}',
          'expected #{this} to not have a length ' + word + ' #{exp}', n, len, true);
        return this;
      }
      var isDate = typeOf(obj) === 'date';
      if (typeof obj !== 'number' && !isDate) {
        fail(this, 'expected ' + display(obj) + ' to be a number or a date');
      }
      if (typeof n !== 'number' && typeOf(n) !== 'date') {
        fail(this, 'the argument to ' + names[0] + ' must be a number');
      }
      check(this, op(obj, n), 'expected #{this} to be ' + word + ' #{exp}',
        'expected #{this} to be ' + negWord + ' #{exp}', n);
      return this;
    });
  }
  compare(['above', 'gt', 'greaterThan'], function (x, y) { return x > y; }, 'above', 'at most');
  compare(['least', 'gte', 'greaterThanOrEqual'], function (x, y) { return x >= y; }, 'at least', 'below');
  compare(['below', 'lt', 'lessThan'], function (x, y) { return x < y; }, 'below', 'at least');
  compare(['most', 'lte', 'lessThanOrEqual'], function (x, y) { return x <= y; }, 'at most', 'above');

  method(['within'], function (lo, hi, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var range = display(lo) + '..' + display(hi);
    var v = f.object;
    if (f.doLength) {
      v = sizeOf(this, v);
      check(this, v >= lo && v <= hi, 'expected #{this} to have a length within ' + range,
        'expected #{this} to not have a length within ' + range);
      return this;
    }
    if (typeof v !== 'number' && typeOf(v) !== 'date') fail(this, 'expected ' + display(v) + ' to be a number or a date');
    check(this, v >= lo && v <= hi, 'expected #{this} to be within ' + range,
      'expected #{this} to not be within ' + range);
    return this;
  });

  method(['oneOf'], function (list, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var obj = f.object;
    var ok = list.some(function (x) { return f.deep ? deepEqual(x, obj) : x === obj; });
    check(this, ok, 'expected #{this} to be one of #{exp}', 'expected #{this} to not be one of #{exp}', list);
    return this;
  });

  method(['match', 'matches'], function (re, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var ok = re instanceof RegExp ? (re.lastIndex = 0, re.test(String(f.object))) : false;
    check(this, ok, 'expected #{this} to match ' + String(re), 'expected #{this} not to match ' + String(re));
    return this;
  });

  method(['string'], function (s, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    if (typeof f.object !== 'string') fail(this, 'expected ' + display(f.object) + ' to be a string');
    check(this, f.object.indexOf(s) !== -1, 'expected #{this} to contain #{exp}',
      'expected #{this} to not contain #{exp}', s);
    return this;
  });

  method(['keys', 'key'], function (keys) {
    var f = flags(this);
    var obj = f.object;
    var t = typeOf(obj);
    if (t === 'array' && arguments.length === 1) keys = keys.slice();
    else if (t !== 'array' && keys !== null && typeof keys === 'object' && arguments.length === 1) {
      keys = Array.isArray(keys) ? keys : Object.keys(keys);
    } else keys = Array.prototype.slice.call(arguments);
    if (!keys.length) fail(this, 'keys required');
    var actual = t === 'map' || t === 'set' ? Array.from(obj.keys()) : Object.keys(Object(obj));
    var any = f.any;
    var all = !any;
    var ok;
    var cmp = function (x, y) { return f.deep ? deepEqual(x, y) : x === y; };
    var present = function (k) { return actual.some(function (x) { return cmp(x, k); }); };
    if (any) ok = keys.some(present);
    else {
      ok = keys.every(present);
      if (!f.contains) ok = ok && keys.length === actual.length;
    }
    var shown = keys.map(function (k) { return display(k); });
    var str;
    if (keys.length > 1) {
      var last = shown.pop();
      str = (all ? shown.join(', ') + ', and ' : shown.join(', ') + ', or ') + last;
    } else str = shown[0];
    str = (f.deep ? 'deep ' : '') + (keys.length > 1 ? 'keys ' : 'key ') + str;
    str = (f.contains ? 'contain ' : 'have ') + str;
    check(this, ok, 'expected #{this} to ' + str, 'expected #{this} to not ' + str, keys);
    return this;
  });

  method(['instanceOf', 'instanceof'], function (ctor, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    var name = ctor && ctor.name ? ctor.name : display(ctor);
    var ok;
    try { ok = f.object instanceof ctor; } catch (e) {
      fail(this, 'The instanceof assertion needs a constructor but ' + typeOf(ctor) + ' was given.');
    }
    check(this, ok, 'expected #{this} to be an instance of ' + name,
      'expected #{this} to not be an instance of ' + name);
    return this;
  });

  method(['satisfy', 'satisfies'], function (fn, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    check(this, fn(f.object), 'expected #{this} to satisfy ' + display(fn),
      'expected #{this} to not satisfy ' + display(fn));
    return this;
  });

  method(['closeTo', 'approximately'], function (x, delta, msg) {
    var f = flags(this);
    if (msg) f.message = msg;
    if (typeof f.object !== 'number') fail(this, 'expected ' + display(f.object) + ' to be a number');
    check(this, Math.abs(f.object - x) <= delta,
      'expected #{this} to be close to ' + display(x) + ' +/- ' + display(delta),
      'expected #{this} not to be close to ' + display(x) + ' +/- ' + display(delta));
    return this;
  });

  method(['throw', 'throws', 'Throw'], function (what, msgMatch) {
    var f = flags(this);
    var fn = f.object;
    if (typeof fn !== 'function') fail(this, 'expected ' + display(fn) + ' to be a function');
    var thrown = false, err;
    try { fn(); } catch (e) { thrown = true; err = e; }
    if (what === undefined) {
      check(this, thrown, 'expected #{this} to throw an error', 'expected #{this} to not throw an error but ' +
        display(err) + ' was thrown');
    } else if (typeof what === 'function') {
      var name = what.name || 'the given constructor';
      check(this, thrown && err instanceof what, 'expected #{this} to throw ' + name,
        'expected #{this} to not throw ' + name);
      if (msgMatch !== undefined && !f.negate) {
        var m = err && err.message !== undefined ? String(err.message) : String(err);
        var good = msgMatch instanceof RegExp ? msgMatch.test(m) : m.indexOf(msgMatch) !== -1;
        if (!good) {
          fail(this, 'expected ' + display(fn) + ' to throw error including ' + display(msgMatch) +
            ' but got ' + display(m));
        }
      }
    } else {
      var text = thrown ? (err && err.message !== undefined ? String(err.message) : String(err)) : '';
      var ok = thrown && (what instanceof RegExp ? what.test(text) : text.indexOf(String(what)) !== -1);
      var word = what instanceof RegExp ? 'matching ' : 'including ';
      check(this, ok, 'expected #{this} to throw error ' + word + display(what) +
        (thrown ? ' but got ' + display(text) : ''),
        'expected #{this} to throw error not ' + word + display(what), what);
    }
    if (thrown) f.object = err;
    return this;
  });

  method(['fail'], function (msg) {
    fail(this, msg === undefined ? 'assert.fail()' : String(msg));
  });

  function expect(value, message) {
    return new Assertion(value, message);
  }
  Object.defineProperty(expect, 'Assertion', { value: Assertion, enumerable: true });
  Object.defineProperty(expect, 'AssertionError', { value: AssertionError, enumerable: true });
  Object.defineProperty(expect, 'fail', {
    value: function (msg) { throw new AssertionError(msg === undefined ? 'expect.fail()' : String(msg)); },
    enumerable: true,
  });

  G.AssertionError = AssertionError;
  G.__exile_expect = expect;
  G.__exile_inspect = display;
  G.__exile_deep_equal = deepEqual;
})(globalThis);
