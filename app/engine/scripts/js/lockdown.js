// Exile script runtime: loaded last. Freezes, deeply, the JavaScript intrinsics, every global the
// earlier files defined (CryptoJS, moment, tv4, __exile_expect, ...), the runtime's own classes
// (listed by pm.js in `__exile_harden`) and finally the global object itself. After this, a script
// that writes `Object.prototype.x = 1`, `Array.prototype.push = ...`, `JSON.parse = ...` or
// `String.prototype.trim = ...` changes nothing (silently in sloppy code, a TypeError in strict code),
// so no run can influence another through shared objects.
(function (G) {
  'use strict';

  var seen = new Set();
  var queue = [];

  function add(v) {
    if ((typeof v === 'object' && v !== null) || typeof v === 'function') {
      if (!seen.has(v)) {
        seen.add(v);
        queue.push(v);
      }
    }
  }

  // Intrinsics that no global property leads to.
  function intrinsicsOffTheGlobal() {
    var list = [];
    var pushProto = function (x) { list.push(Object.getPrototypeOf(x)); };
    /* eslint-disable no-empty-function */
    pushProto(function* () {});
    pushProto(async function () {});
    pushProto(async function* () {});
    pushProto((function* () {})());
    pushProto(Object.getPrototypeOf((function* () {})()));
    pushProto((async function* () {})());
    pushProto(Object.getPrototypeOf((async function* () {})()));
    pushProto([][Symbol.iterator]());
    pushProto(Object.getPrototypeOf([][Symbol.iterator]()));
    pushProto(new Map()[Symbol.iterator]());
    pushProto(new Set()[Symbol.iterator]());
    pushProto(''[Symbol.iterator]());
    pushProto(/x/[Symbol.matchAll]('x'));
    pushProto(Int8Array);
    pushProto(Int8Array.prototype);
    list.push(Object.getOwnPropertyDescriptor(Function.prototype, 'caller') &&
      Object.getOwnPropertyDescriptor(Function.prototype, 'caller').get);
    (function () {
      list.push(Object.getOwnPropertyDescriptor(arguments, 'callee') &&
        Object.getOwnPropertyDescriptor(arguments, 'callee').get);
    })();
    return list;
  }

  add(G);
  intrinsicsOffTheGlobal().forEach(add);
  (G.__exile_harden || []).forEach(add);

  // The hardening list itself stays out of reach: drop it before the global object is frozen.
  var deleted = delete G.__exile_harden;
  if (!deleted) G.__exile_harden = undefined;

  while (queue.length) {
    var obj = queue.pop();
    add(Object.getPrototypeOf(obj));
    var keys = Reflect.ownKeys(obj);
    for (var i = 0; i < keys.length; i++) {
      var d;
      try {
        d = Object.getOwnPropertyDescriptor(obj, keys[i]);
      } catch (e) {
        continue;
      }
      if (!d) continue;
      if ('value' in d) add(d.value);
      else {
        add(d.get);
        add(d.set);
      }
    }
  }

  seen.forEach(function (o) {
    try {
      Object.freeze(o);
    } catch (e) {
      // Some host objects refuse; the global object is checked below.
    }
  });

  if (!Object.isFrozen(G) || !Object.isFrozen(Object.prototype) || !Object.isFrozen(Array.prototype)) {
    throw new Error('lockdown: the intrinsics could not be frozen');
  }
})(globalThis);
