/*
 * Exile script runtime: JSON Schema validation (draft-4 to draft-7 keywords) behind a tv4-shaped API.
 *
 *   tv4.validate(data, schema) -> bool            (tv4.error: {message, code, params, dataPath, schemaPath} | null)
 *   tv4.validateResult(data, schema) -> {valid, error, missing: []}
 *   tv4.validateMultiple(data, schema) -> {valid, errors: [...], missing: []}
 *   tv4.addSchema(uri, schema) / tv4.getSchema(uri) / tv4.reset() / tv4.errorCodes
 *   __exile_schema_errors(data, schema) -> ["data.items[0].id: expected integer, got string", ...]
 *
 * Keywords: type (incl. arrays, "integer"), enum, const, required, properties, additionalProperties,
 * patternProperties, propertyNames, dependencies, dependentRequired, dependentSchemas, items (schema or tuple),
 * additionalItems, contains, minItems, maxItems, uniqueItems, minLength, maxLength (code points), pattern, minimum,
 * maximum, exclusiveMinimum/exclusiveMaximum (draft-4 booleans and draft-6 numbers), multipleOf (with a small
 * tolerance for decimal fractions), minProperties, maxProperties, allOf, anyOf, oneOf, not, if/then/else,
 * format (date-time, date, time, email, uri, uri-reference, uuid, ipv4, ipv6, hostname: loose checks; others
 * pass), boolean schemas, $ref to "#", "#/..." JSON pointers, ids added with tv4.addSchema. Unknown keywords are
 * ignored. An unresolvable $ref is an error (and listed in `missing`). Nesting deeper than 200 levels of
 * schema/data is an error result, never a stack overflow.
 *
 * State kept between calls: the last error (read through the `tv4.error` getter, since tv4 itself is frozen by
 * the lockdown) and schemas added with tv4.addSchema; tv4.reset() clears both.
 */
var tv4 = (function () {
  "use strict";

  var MAX_DEPTH = 200;
  var CODES = {
    INVALID_TYPE: 0,
    ENUM_MISMATCH: 1,
    ANY_OF_MISSING: 10,
    ONE_OF_MISSING: 11,
    ONE_OF_MULTIPLE: 12,
    NOT_PASSED: 13,
    NUMBER_MULTIPLE_OF: 100,
    NUMBER_MINIMUM: 101,
    NUMBER_MINIMUM_EXCLUSIVE: 102,
    NUMBER_MAXIMUM: 103,
    NUMBER_MAXIMUM_EXCLUSIVE: 104,
    NUMBER_NOT_A_NUMBER: 105,
    STRING_LENGTH_SHORT: 200,
    STRING_LENGTH_LONG: 201,
    STRING_PATTERN: 202,
    OBJECT_PROPERTIES_MINIMUM: 300,
    OBJECT_PROPERTIES_MAXIMUM: 301,
    OBJECT_REQUIRED: 302,
    OBJECT_ADDITIONAL_PROPERTIES: 303,
    OBJECT_DEPENDENCY_KEY: 304,
    ARRAY_LENGTH_SHORT: 400,
    ARRAY_LENGTH_LONG: 401,
    ARRAY_UNIQUE: 402,
    ARRAY_ADDITIONAL_ITEMS: 403,
    FORMAT_CUSTOM: 500,
    KEYWORD_CUSTOM: 501,
    CIRCULAR_REFERENCE: 600,
    SCHEMA_INVALID: 700,
    UNKNOWN_PROPERTY: 1000,
  };

  var lastError = null;
  var registry = new Map(); // uri -> schema, from tv4.addSchema

  // ---- helpers -------------------------------------------------------------------------------------------------
  var hasOwn = Object.prototype.hasOwnProperty;

  function typeOf(v) {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    return typeof v; // "object" | "string" | "number" | "boolean" | "undefined" | ...
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function matchesType(v, t) {
    switch (t) {
      case "integer": return typeof v === "number" && Number.isInteger(v);
      case "number": return typeof v === "number" && isFinite(v);
      case "array": return Array.isArray(v);
      case "object": return isObject(v);
      case "null": return v === null;
      case "any": return true;
      default: return typeof v === t;
    }
  }

  function describeType(v) {
    var t = typeOf(v);
    return t === "number" && Number.isInteger(v) ? "integer" : t;
  }

  function equal(a, b) {
    if (a === b) return true;
    var ta = typeOf(a);
    if (ta !== typeOf(b)) return false;
    if (ta === "array") {
      if (a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
      return true;
    }
    if (ta === "object") {
      var ka = Object.keys(a);
      if (ka.length !== Object.keys(b).length) return false;
      for (var j = 0; j < ka.length; j++) {
        if (!hasOwn.call(b, ka[j]) || !equal(a[ka[j]], b[ka[j]])) return false;
      }
      return true;
    }
    return false;
  }

  function codePointLength(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
      n++;
    }
    return n;
  }

  var regexCache = new Map();
  function compile(pattern) {
    var hit = regexCache.get(pattern);
    if (hit !== undefined) return hit;
    var re;
    try {
      re = new RegExp(pattern, "u");
    } catch (e) {
      try {
        re = new RegExp(pattern);
      } catch (e2) {
        re = null;
      }
    }
    if (regexCache.size > 500) regexCache.clear();
    regexCache.set(pattern, re);
    return re;
  }

  function escapePointer(key) {
    return String(key).replace(/~/g, "~0").replace(/\//g, "~1");
  }

  var FORMATS = {
    "date-time": /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:?\d\d)$/,
    date: /^\d{4}-\d\d-\d\d$/,
    time: /^\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:?\d\d)?$/,
    email: /^[^\s@]+@[^\s@]+$/,
    uri: /^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$/,
    "uri-reference": /^[^\s]*$/,
    uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
    ipv4: /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/,
    ipv6: /^(?=.*:)[0-9A-Fa-f:.]{2,45}$/,
    hostname: /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
  };

  function checkFormat(name, v) {
    var re = FORMATS[name];
    if (!re) return true;
    if (!re.test(v)) return false;
    if (name === "date-time" || name === "date") {
      var m = /^(\d{4})-(\d\d)-(\d\d)/.exec(v);
      var y = +m[1], mo = +m[2], d = +m[3];
      var dim = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
      if (mo < 1 || mo > 12 || d < 1 || d > dim[mo - 1]) return false;
    }
    return true;
  }

  // ---- $ref resolution -----------------------------------------------------------------------------------------
  function resolvePointer(root, pointer) {
    var target = root;
    if (pointer === "" || pointer === "/") return pointer === "" ? root : target && target[""];
    var parts = pointer.split("/").slice(1);
    for (var i = 0; i < parts.length; i++) {
      var key = parts[i].replace(/~1/g, "/").replace(/~0/g, "~");
      try {
        key = decodeURIComponent(key);
      } catch (e) {
        /* keep as is */
      }
      if (target === null || typeof target !== "object" || !hasOwn.call(target, key)) return undefined;
      target = target[key];
    }
    return target;
  }

  function resolveRef(ref, root) {
    var hash = ref.indexOf("#");
    var base = hash < 0 ? ref : ref.slice(0, hash);
    var fragment = hash < 0 ? "" : ref.slice(hash + 1);
    var doc = root;
    if (base !== "") {
      doc = registry.get(base);
      if (doc === undefined) doc = registry.get(base + "#");
      if (doc === undefined) return { missing: base };
    }
    var found = resolvePointer(doc, fragment);
    return found === undefined ? { missing: ref } : { schema: found, root: doc };
  }

  // ---- the validator -------------------------------------------------------------------------------------------
  // ctx: {root, all (collect every error or stop at the first), missing: [], depth}
  function fail(errors, code, message, params, dataPath, schemaPath, sub) {
    var e = { message: message, code: code, params: params || {}, dataPath: dataPath, schemaPath: schemaPath };
    if (sub && sub.length) e.subErrors = sub;
    errors.push(e);
  }

  function validate(data, schema, ctx, dataPath, schemaPath, errors) {
    if (schema === true || schema === undefined) return;
    if (schema === false) {
      fail(errors, CODES.NOT_PASSED, "Data is not allowed here (schema is false)", {}, dataPath, schemaPath);
      return;
    }
    if (!isObject(schema)) {
      fail(errors, CODES.SCHEMA_INVALID, "Schema must be an object or a boolean", {}, dataPath, schemaPath);
      return;
    }
    if (ctx.depth >= MAX_DEPTH) {
      fail(errors, CODES.CIRCULAR_REFERENCE, "Schema or data nested too deeply (limit " + MAX_DEPTH + ")", {},
        dataPath, schemaPath);
      return;
    }
    ctx.depth++;
    try {
      validateKeywords(data, schema, ctx, dataPath, schemaPath, errors);
    } finally {
      ctx.depth--;
    }
  }

  function stop(ctx, errors) {
    return !ctx.all && errors.length > 0;
  }

  // Runs a subschema into a fresh error list (for anyOf/oneOf/not/if/contains); returns the list.
  function trial(data, schema, ctx, dataPath, schemaPath) {
    var sub = [];
    var saved = ctx.all;
    ctx.all = false;
    try {
      validate(data, schema, ctx, dataPath, schemaPath, sub);
    } finally {
      ctx.all = saved;
    }
    return sub;
  }

  function validateKeywords(data, schema, ctx, dataPath, schemaPath, errors) {
    if (typeof schema.$ref === "string") {
      var r = resolveRef(schema.$ref, ctx.root);
      if (r.missing !== undefined) {
        if (ctx.missing.indexOf(r.missing) < 0) ctx.missing.push(r.missing);
        fail(errors, CODES.SCHEMA_INVALID, "Cannot resolve $ref: " + schema.$ref, { ref: schema.$ref }, dataPath,
          schemaPath + "/$ref");
        return;
      }
      var savedRoot = ctx.root;
      ctx.root = r.root;
      try {
        validate(data, r.schema, ctx, dataPath, schemaPath + "/$ref", errors);
      } finally {
        ctx.root = savedRoot;
      }
      return; // draft-4..7: siblings of $ref are ignored
    }

    var t = typeOf(data);

    if (schema.type !== undefined) {
      var types = Array.isArray(schema.type) ? schema.type : [schema.type];
      var ok = false;
      for (var i = 0; i < types.length && !ok; i++) ok = matchesType(data, types[i]);
      if (!ok) {
        fail(errors, CODES.INVALID_TYPE, "Invalid type: " + describeType(data) + " (expected " + types.join("/") + ")",
          { type: describeType(data), expected: types.join("/") }, dataPath, schemaPath + "/type");
        if (stop(ctx, errors)) return;
      }
    }

    if (Array.isArray(schema.enum)) {
      var inEnum = false;
      for (var e = 0; e < schema.enum.length && !inEnum; e++) inEnum = equal(data, schema.enum[e]);
      if (!inEnum) {
        fail(errors, CODES.ENUM_MISMATCH, "No enum match for: " + JSON.stringify(data), { value: data }, dataPath,
          schemaPath + "/enum");
        if (stop(ctx, errors)) return;
      }
    }

    if (hasOwn.call(schema, "const") && !equal(data, schema.const)) {
      fail(errors, CODES.ENUM_MISMATCH, "Value does not match const: " + JSON.stringify(schema.const),
        { value: data }, dataPath, schemaPath + "/const");
      if (stop(ctx, errors)) return;
    }

    if (t === "number") {
      validateNumber(data, schema, ctx, dataPath, schemaPath, errors);
      if (stop(ctx, errors)) return;
    } else if (t === "string") {
      validateString(data, schema, ctx, dataPath, schemaPath, errors);
      if (stop(ctx, errors)) return;
    } else if (t === "array") {
      validateArray(data, schema, ctx, dataPath, schemaPath, errors);
      if (stop(ctx, errors)) return;
    } else if (t === "object") {
      validateObject(data, schema, ctx, dataPath, schemaPath, errors);
      if (stop(ctx, errors)) return;
    }

    validateCombinators(data, schema, ctx, dataPath, schemaPath, errors);
  }

  function validateNumber(v, s, ctx, dp, sp, errors) {
    if (typeof s.multipleOf === "number" && s.multipleOf > 0) {
      var q = v / s.multipleOf;
      var good = Number.isInteger(q) || Math.abs(q - Math.round(q)) < 1e-9 * Math.max(1, Math.abs(q));
      if (!isFinite(q)) good = false;
      if (!good) {
        fail(errors, CODES.NUMBER_MULTIPLE_OF, "Value " + v + " is not a multiple of " + s.multipleOf,
          { value: v, multipleOf: s.multipleOf }, dp, sp + "/multipleOf");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.minimum === "number") {
      if (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum) {
        var exMin = s.exclusiveMinimum === true;
        fail(errors, exMin ? CODES.NUMBER_MINIMUM_EXCLUSIVE : CODES.NUMBER_MINIMUM,
          "Value " + v + " is less than " + (exMin ? "or equal to " : "") + "minimum " + s.minimum,
          { value: v, minimum: s.minimum }, dp, sp + "/minimum");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.exclusiveMinimum === "number" && v <= s.exclusiveMinimum) {
      fail(errors, CODES.NUMBER_MINIMUM_EXCLUSIVE, "Value " + v + " is less than or equal to exclusive minimum " +
        s.exclusiveMinimum, { value: v, minimum: s.exclusiveMinimum }, dp, sp + "/exclusiveMinimum");
      if (stop(ctx, errors)) return;
    }
    if (typeof s.maximum === "number") {
      if (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum) {
        var exMax = s.exclusiveMaximum === true;
        fail(errors, exMax ? CODES.NUMBER_MAXIMUM_EXCLUSIVE : CODES.NUMBER_MAXIMUM,
          "Value " + v + " is greater than " + (exMax ? "or equal to " : "") + "maximum " + s.maximum,
          { value: v, maximum: s.maximum }, dp, sp + "/maximum");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.exclusiveMaximum === "number" && v >= s.exclusiveMaximum) {
      fail(errors, CODES.NUMBER_MAXIMUM_EXCLUSIVE, "Value " + v + " is greater than or equal to exclusive maximum " +
        s.exclusiveMaximum, { value: v, maximum: s.exclusiveMaximum }, dp, sp + "/exclusiveMaximum");
    }
  }

  function validateString(v, s, ctx, dp, sp, errors) {
    var len = -1;
    if (typeof s.minLength === "number") {
      len = codePointLength(v);
      if (len < s.minLength) {
        fail(errors, CODES.STRING_LENGTH_SHORT, "String is too short (" + len + " chars), minimum " + s.minLength,
          { length: len, minimum: s.minLength }, dp, sp + "/minLength");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.maxLength === "number") {
      if (len < 0) len = codePointLength(v);
      if (len > s.maxLength) {
        fail(errors, CODES.STRING_LENGTH_LONG, "String is too long (" + len + " chars), maximum " + s.maxLength,
          { length: len, maximum: s.maxLength }, dp, sp + "/maxLength");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.pattern === "string") {
      var re = compile(s.pattern);
      if (re === null) {
        fail(errors, CODES.SCHEMA_INVALID, "Invalid pattern in schema: " + s.pattern, { pattern: s.pattern }, dp,
          sp + "/pattern");
        if (stop(ctx, errors)) return;
      } else if (!re.test(v)) {
        fail(errors, CODES.STRING_PATTERN, "String does not match pattern: " + s.pattern, { pattern: s.pattern }, dp,
          sp + "/pattern");
        if (stop(ctx, errors)) return;
      }
    }
    if (typeof s.format === "string" && !checkFormat(s.format, v)) {
      fail(errors, CODES.FORMAT_CUSTOM, "Format validation failed (not a valid " + s.format + ")",
        { format: s.format }, dp, sp + "/format");
    }
  }

  function validateArray(v, s, ctx, dp, sp, errors) {
    if (typeof s.minItems === "number" && v.length < s.minItems) {
      fail(errors, CODES.ARRAY_LENGTH_SHORT, "Array is too short (" + v.length + "), minimum " + s.minItems,
        { length: v.length, minimum: s.minItems }, dp, sp + "/minItems");
      if (stop(ctx, errors)) return;
    }
    if (typeof s.maxItems === "number" && v.length > s.maxItems) {
      fail(errors, CODES.ARRAY_LENGTH_LONG, "Array is too long (" + v.length + "), maximum " + s.maxItems,
        { length: v.length, maximum: s.maxItems }, dp, sp + "/maxItems");
      if (stop(ctx, errors)) return;
    }
    if (s.uniqueItems === true) {
      outer: for (var i = 0; i < v.length; i++) {
        for (var j = i + 1; j < v.length; j++) {
          if (equal(v[i], v[j])) {
            fail(errors, CODES.ARRAY_UNIQUE, "Array items are not unique (indices " + i + " and " + j + ")",
              { match1: i, match2: j }, dp, sp + "/uniqueItems");
            break outer;
          }
        }
      }
      if (stop(ctx, errors)) return;
    }
    if (Array.isArray(s.items)) {
      for (var k = 0; k < v.length; k++) {
        if (k < s.items.length) {
          validate(v[k], s.items[k], ctx, dp + "/" + k, sp + "/items/" + k, errors);
        } else if (s.additionalItems === false) {
          fail(errors, CODES.ARRAY_ADDITIONAL_ITEMS, "Additional items not allowed", {}, dp + "/" + k,
            sp + "/additionalItems");
        } else if (s.additionalItems !== undefined && s.additionalItems !== true) {
          validate(v[k], s.additionalItems, ctx, dp + "/" + k, sp + "/additionalItems", errors);
        }
        if (stop(ctx, errors)) return;
      }
    } else if (s.items !== undefined) {
      for (var n = 0; n < v.length; n++) {
        validate(v[n], s.items, ctx, dp + "/" + n, sp + "/items", errors);
        if (stop(ctx, errors)) return;
      }
    }
    if (s.contains !== undefined) {
      var found = false;
      for (var c = 0; c < v.length && !found; c++) found = trial(v[c], s.contains, ctx, dp + "/" + c, sp).length === 0;
      if (!found) {
        fail(errors, CODES.KEYWORD_CUSTOM, "No array item matches the contains schema", {}, dp, sp + "/contains");
      }
    }
  }

  function validateObject(v, s, ctx, dp, sp, errors) {
    var keys = Object.keys(v);
    if (typeof s.minProperties === "number" && keys.length < s.minProperties) {
      fail(errors, CODES.OBJECT_PROPERTIES_MINIMUM, "Too few properties defined (" + keys.length + "), minimum " +
        s.minProperties, { propertyCount: keys.length, minimum: s.minProperties }, dp, sp + "/minProperties");
      if (stop(ctx, errors)) return;
    }
    if (typeof s.maxProperties === "number" && keys.length > s.maxProperties) {
      fail(errors, CODES.OBJECT_PROPERTIES_MAXIMUM, "Too many properties defined (" + keys.length + "), maximum " +
        s.maxProperties, { propertyCount: keys.length, maximum: s.maxProperties }, dp, sp + "/maxProperties");
      if (stop(ctx, errors)) return;
    }
    if (Array.isArray(s.required)) {
      for (var r = 0; r < s.required.length; r++) {
        var name = s.required[r];
        if (!hasOwn.call(v, name)) {
          fail(errors, CODES.OBJECT_REQUIRED, "Missing required property: " + name, { key: name }, dp,
            sp + "/required/" + r);
          if (stop(ctx, errors)) return;
        }
      }
    }
    var props = isObject(s.properties) ? s.properties : null;
    var patterns = isObject(s.patternProperties) ? Object.keys(s.patternProperties) : [];
    for (var k = 0; k < keys.length; k++) {
      var key = keys[k];
      var childPath = dp + "/" + escapePointer(key);
      var matched = false;
      if (props && hasOwn.call(props, key)) {
        matched = true;
        validate(v[key], props[key], ctx, childPath, sp + "/properties/" + escapePointer(key), errors);
        if (stop(ctx, errors)) return;
      }
      for (var p = 0; p < patterns.length; p++) {
        var re = compile(patterns[p]);
        if (re !== null && re.test(key)) {
          matched = true;
          validate(v[key], s.patternProperties[patterns[p]], ctx, childPath,
            sp + "/patternProperties/" + escapePointer(patterns[p]), errors);
          if (stop(ctx, errors)) return;
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false) {
          fail(errors, CODES.OBJECT_ADDITIONAL_PROPERTIES, "Additional properties not allowed: " + key, { key: key },
            childPath, sp + "/additionalProperties");
        } else {
          validate(v[key], s.additionalProperties, ctx, childPath, sp + "/additionalProperties", errors);
        }
        if (stop(ctx, errors)) return;
      }
      if (s.propertyNames !== undefined) {
        var sub = trial(key, s.propertyNames, ctx, childPath, sp + "/propertyNames");
        if (sub.length) {
          fail(errors, CODES.KEYWORD_CUSTOM, "Property name does not match propertyNames: " + key, { key: key },
            childPath, sp + "/propertyNames", sub);
          if (stop(ctx, errors)) return;
        }
      }
    }
    var deps = [];
    if (isObject(s.dependencies)) deps.push(["dependencies", s.dependencies]);
    if (isObject(s.dependentRequired)) deps.push(["dependentRequired", s.dependentRequired]);
    if (isObject(s.dependentSchemas)) deps.push(["dependentSchemas", s.dependentSchemas]);
    for (var d = 0; d < deps.length; d++) {
      var table = deps[d][1];
      var dkeys = Object.keys(table);
      for (var q = 0; q < dkeys.length; q++) {
        var dk = dkeys[q];
        if (!hasOwn.call(v, dk)) continue;
        var dep = table[dk];
        var depPath = sp + "/" + deps[d][0] + "/" + escapePointer(dk);
        if (Array.isArray(dep)) {
          for (var z = 0; z < dep.length; z++) {
            if (!hasOwn.call(v, dep[z])) {
              fail(errors, CODES.OBJECT_DEPENDENCY_KEY, "Dependency failed - key must exist: " + dep[z] +
                " (because of " + dk + ")", { key: dk, missing: dep[z] }, dp, depPath);
              if (stop(ctx, errors)) return;
            }
          }
        } else {
          validate(v, dep, ctx, dp, depPath, errors);
          if (stop(ctx, errors)) return;
        }
      }
    }
  }

  function validateCombinators(v, s, ctx, dp, sp, errors) {
    if (Array.isArray(s.allOf)) {
      for (var a = 0; a < s.allOf.length; a++) {
        validate(v, s.allOf[a], ctx, dp, sp + "/allOf/" + a, errors);
        if (stop(ctx, errors)) return;
      }
    }
    if (Array.isArray(s.anyOf)) {
      var anyErrors = [];
      var anyOk = false;
      for (var b = 0; b < s.anyOf.length && !anyOk; b++) {
        var sub = trial(v, s.anyOf[b], ctx, dp, sp + "/anyOf/" + b);
        if (sub.length === 0) anyOk = true;
        else anyErrors = anyErrors.concat(sub);
      }
      if (!anyOk) {
        fail(errors, CODES.ANY_OF_MISSING, "Data does not match any schemas from anyOf", {}, dp, sp + "/anyOf",
          anyErrors);
        if (stop(ctx, errors)) return;
      }
    }
    if (Array.isArray(s.oneOf)) {
      var passed = [];
      var oneErrors = [];
      for (var c = 0; c < s.oneOf.length; c++) {
        var res = trial(v, s.oneOf[c], ctx, dp, sp + "/oneOf/" + c);
        if (res.length === 0) passed.push(c);
        else oneErrors = oneErrors.concat(res);
        if (passed.length > 1) break;
      }
      if (passed.length === 0) {
        fail(errors, CODES.ONE_OF_MISSING, "Data does not match any schemas from oneOf", {}, dp, sp + "/oneOf",
          oneErrors);
      } else if (passed.length > 1) {
        fail(errors, CODES.ONE_OF_MULTIPLE, "Data is valid against more than one schema from oneOf (indices " +
          passed.join(", ") + ")", { index1: passed[0], index2: passed[1] }, dp, sp + "/oneOf");
      }
      if (stop(ctx, errors)) return;
    }
    if (s.not !== undefined) {
      var notRes = trial(v, s.not, ctx, dp, sp + "/not");
      var deep = notRes.some(function (e) { return e.code === CODES.CIRCULAR_REFERENCE; });
      if (deep) {
        errors.push(notRes[0]);
      } else if (notRes.length === 0) {
        fail(errors, CODES.NOT_PASSED, "Data matches schema from not", {}, dp, sp + "/not");
      }
      if (stop(ctx, errors)) return;
    }
    if (s.if !== undefined && (s.then !== undefined || s.else !== undefined)) {
      var cond = trial(v, s.if, ctx, dp, sp + "/if");
      if (cond.length === 0 && s.then !== undefined) validate(v, s.then, ctx, dp, sp + "/then", errors);
      else if (cond.length > 0 && s.else !== undefined) validate(v, s.else, ctx, dp, sp + "/else", errors);
    }
  }

  function run(data, schema, all) {
    var ctx = { root: schema, all: all, missing: [], depth: 0 };
    var errors = [];
    try {
      validate(data, schema, ctx, "", "", errors);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      errors.push({ message: "Schema or data nested too deeply (" + e.message + ")", code: CODES.CIRCULAR_REFERENCE,
        params: {}, dataPath: "", schemaPath: "" });
    }
    return { errors: errors, missing: ctx.missing };
  }

  // ---- public API ----------------------------------------------------------------------------------------------
  var api = {
    validate: function (data, schema) {
      var res = run(data, schema, false);
      lastError = res.errors.length ? res.errors[0] : null;
      return res.errors.length === 0;
    },
    validateResult: function (data, schema) {
      var res = run(data, schema, false);
      lastError = res.errors.length ? res.errors[0] : null;
      return { valid: res.errors.length === 0, error: lastError, missing: res.missing };
    },
    validateMultiple: function (data, schema) {
      var res = run(data, schema, true);
      lastError = res.errors.length ? res.errors[0] : null;
      return { valid: res.errors.length === 0, errors: res.errors, missing: res.missing };
    },
    addSchema: function (uri, schema) {
      if (typeof uri !== "string") {
        schema = uri;
        uri = schema && (schema.$id || schema.id);
      }
      if (typeof uri !== "string" || !isObject(schema)) return false;
      registry.set(uri.replace(/#$/, ""), schema);
      return true;
    },
    getSchema: function (uri) {
      var r = resolveRef(String(uri), undefined);
      return r.missing !== undefined ? undefined : r.schema;
    },
    getMissingUris: function () {
      return [];
    },
    dropSchemas: function () {
      registry.clear();
    },
    reset: function () {
      registry.clear();
      lastError = null;
    },
    normSchema: function (schema) {
      return schema;
    },
    errorCodes: CODES,
    _run: run,
  };
  Object.defineProperty(api, "error", {
    enumerable: true,
    get: function () {
      return lastError;
    },
    set: function (value) {
      lastError = value === undefined ? null : value; // scripts that clear it by hand (tv4.error = null)
    },
  });
  ["addFormat", "defineKeyword", "freshApi", "language", "addLanguage", "setErrorReporter"].forEach(function (n) {
    api[n] = function () {
      throw new Error("not supported by Exile: tv4." + n);
    };
  });
  return api;
})();

// Readable error lines for pm.response.to.have.jsonSchema: "data.items[0].id: expected integer, got string".
var __exile_schema_errors = (function () {
  "use strict";
  var codes = tv4.errorCodes;
  var IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

  function readablePath(pointer) {
    var out = "data";
    if (!pointer) return out;
    var parts = pointer.split("/").slice(1);
    for (var i = 0; i < parts.length; i++) {
      var key = parts[i].replace(/~1/g, "/").replace(/~0/g, "~");
      if (/^(0|[1-9]\d*)$/.test(key)) out += "[" + key + "]";
      else if (IDENT.test(key)) out += "." + key;
      else out += "[" + JSON.stringify(key) + "]";
    }
    return out;
  }

  function describe(e) {
    var p = e.params || {};
    switch (e.code) {
      case codes.INVALID_TYPE: return "expected " + p.expected.replace(/\//g, " or ") + ", got " + p.type;
      case codes.OBJECT_REQUIRED: return "missing required property " + JSON.stringify(p.key);
      case codes.OBJECT_ADDITIONAL_PROPERTIES: return "property not allowed (additionalProperties)";
      case codes.ENUM_MISMATCH: return e.message.indexOf("const") >= 0 ? e.message.charAt(0).toLowerCase() +
        e.message.slice(1) : "value " + JSON.stringify(p.value) + " is not one of the allowed values";
      default: return e.message.charAt(0).toLowerCase() + e.message.slice(1);
    }
  }

  return function __exile_schema_errors(data, schema) {
    var res = tv4._run(data, schema, true);
    return res.errors.map(function (e) {
      return readablePath(e.dataPath) + ": " + describe(e);
    });
  };
})();
